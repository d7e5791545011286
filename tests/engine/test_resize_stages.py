"""Resize stages and pad-first: each tensor and placement is checked against the arithmetic written out here."""

from __future__ import annotations

import copy

import cv2
import numpy as np
import pytest
from PIL import Image

from desktop.engine.errors import ProfileError
from desktop.engine.geometry import placement
from desktop.engine.preprocess import image_to_array
from desktop.engine.profile import profile_from_dict


def _profile(resize, **image):
    return profile_from_dict({"task": "raw", "image": {"color": "RGB", "resize": resize, **image}})


def _image(w, h, seed=0):
    rng = np.random.default_rng(seed)
    return Image.fromarray(rng.integers(0, 256, (h, w, 3), dtype=np.uint8))


SHORTER = {"mode": "shorter-side", "shorter": 256, "interpolation": "bilinear"}


def test_a_single_resize_object_keeps_its_dict_and_hash_and_a_list_of_one_is_the_same_profile():
    one = _profile(SHORTER)
    listed = _profile([SHORTER])
    assert isinstance(one.to_dict()["image"]["resize"], dict)
    assert one.image.resize_before == () and listed.image.resize_before == ()
    assert listed.sha256() == one.sha256()
    assert one.to_dict() == profile_from_dict(one.to_dict()).to_dict()


def test_two_stages_round_trip_as_a_list_and_hash_differently_from_the_last_alone():
    stages = [SHORTER, {"mode": "stretch", "size": [224, 224], "library": "opencv", "interpolation": "area"}]
    p = _profile(copy.deepcopy(stages))
    saved = p.to_dict()["image"]["resize"]
    assert isinstance(saved, list) and [s["mode"] for s in saved] == ["shorter-side", "stretch"]
    assert profile_from_dict(p.to_dict()) == p
    assert p.sha256() != _profile(stages[1]).sha256()
    assert "shorter side 256 (bilinear) then 224×224 stretch (OpenCV area)" in p.describe()


@pytest.mark.parametrize("size", [(500, 333), (333, 500), (257, 256), (1001, 7)])
def test_two_stages_are_each_librarys_resize_in_order(size):
    w, h = size
    img = _image(w, h)
    p = _profile([SHORTER, {"mode": "stretch", "size": [224, 224], "library": "opencv", "interpolation": "area"}])
    # stage 1, torchvision's Resize(256): the shorter side 256, the longer int(256 * long / short), with Pillow
    n = int(256 * max(w, h) / min(w, h))
    first = (256, n) if w <= h else (n, 256)
    want = np.asarray(img.resize(first, Image.Resampling.BILINEAR))
    # stage 2: cv2.resize(..., INTER_AREA) of those uint8 pixels
    want = cv2.resize(want, (224, 224), interpolation=cv2.INTER_AREA).astype(np.float32)
    np.testing.assert_array_equal(image_to_array(img, p.image), want)
    pl = placement(w, h, p.image)
    assert (pl.input_w, pl.input_h) == (224, 224)
    assert pl.gain_x == pytest.approx(first[0] / w * 224 / first[0], rel=1e-12)
    assert pl.gain_y == pytest.approx(first[1] / h * 224 / first[1], rel=1e-12)
    assert (pl.offset_x, pl.offset_y) == (0.0, 0.0)


@pytest.mark.parametrize("size", [(1000, 563), (563, 1000), (301, 300)])
def test_placement_composes_a_shorter_side_stage_with_a_letterbox(size):
    w, h = size
    p = _profile([{"mode": "shorter-side", "shorter": 480, "interpolation": "nearest"},
                  {"mode": "fit", "size": [320, 320], "interpolation": "nearest", "pad": {"value": 114}}])
    n = int(480 * max(w, h) / min(w, h))
    w1, h1 = (480, n) if w <= h else (n, 480)
    r = min(320 / h1, 320 / w1)  # Ultralytics' letterbox of the first stage's output
    nw, nh = int(round(w1 * r)), int(round(h1 * r))
    left, top = int(round((320 - nw) / 2 - 0.1)), int(round((320 - nh) / 2 - 0.1))
    pl = placement(w, h, p.image)
    assert pl.gain_x == pytest.approx(w1 / w * r, rel=1e-12) and pl.gain_y == pytest.approx(h1 / h * r, rel=1e-12)
    assert (pl.offset_x, pl.offset_y) == (left, top)
    arr = image_to_array(Image.new("RGB", (w, h), (255, 255, 255)), p.image)
    ys, xs = np.nonzero(arr[:, :, 0] == 255)
    assert (xs.min(), ys.min(), xs.max() + 1, ys.max() + 1) == (left, top, left + nw, top + nh)
    back = pl.to_original(np.array([[left, top, left + nw, top + nh]]))[0]
    # the content's edges go back through both gains; the letterbox's rounding to whole pixels is all that is lost
    np.testing.assert_allclose(back, [0, 0, min(w, nw / pl.gain_x), min(h, nh / pl.gain_y)], rtol=1e-12)
    assert np.abs(back - [0, 0, w, h]).max() < 1 / r * w / w1


@pytest.mark.parametrize("size,square,offset", [((300, 200), 300, (0, 50)), ((301, 200), 301, (0, 50)),
                                                ((200, 301), 301, (50, 0)), ((224, 224), 224, (0, 0))])
def test_pad_first_pads_to_a_square_then_stretches(size, square, offset):
    w, h = size
    img = _image(w, h, seed=1)
    p = _profile({"mode": "stretch", "size": [224, 224], "pad_first": True, "pad": {"value": [10, 20, 30]}})
    # LLaVA's expand2square: a square of the longer side, the image pasted at ((side - w) // 2, (side - h) // 2)
    canvas = np.empty((square, square, 3), np.uint8)
    canvas[...] = (10, 20, 30)
    canvas[offset[1]:offset[1] + h, offset[0]:offset[0] + w] = np.asarray(img)
    want = np.asarray(Image.fromarray(canvas).resize((224, 224), Image.Resampling.BILINEAR), dtype=np.float32)
    np.testing.assert_array_equal(image_to_array(img, p.image), want)
    pl = placement(w, h, p.image)
    assert pl.gain_x == pl.gain_y == 224 / square
    assert (pl.offset_x, pl.offset_y) == (offset[0] * 224 / square, offset[1] * 224 / square)
    np.testing.assert_allclose(pl.to_original(pl.to_input(np.array([[0, 0, w, h]]))), [[0, 0, w, h]])


def test_pad_first_to_a_wide_target_rounds_the_grown_side_and_may_anchor_top_left():
    img = _image(200, 200, seed=2)
    centre = _profile({"mode": "stretch", "size": [320, 240], "pad_first": True, "interpolation": "nearest"})
    corner = _profile({"mode": "stretch", "size": [320, 240], "pad_first": True, "interpolation": "nearest",
                       "pad": {"anchor": "top-left", "value": 0}})
    cw = int(round(200 * 320 / 240))  # 266.67 -> 267 wide, 200 high: the 4:3 of the target
    for p, left in ((centre, (cw - 200) // 2), (corner, 0)):
        canvas = np.zeros((200, cw, 3), np.uint8)
        canvas[:, left:left + 200] = np.asarray(img)
        want = np.asarray(Image.fromarray(canvas).resize((320, 240), Image.Resampling.NEAREST), dtype=np.float32)
        np.testing.assert_array_equal(image_to_array(img, p.image), want)
        pl = placement(200, 200, p.image)
        assert (pl.gain_x, pl.gain_y, pl.offset_x, pl.offset_y) == (320 / cw, 240 / 200, left * (320 / cw), 0.0)


def test_pad_first_with_shorter_side_and_a_crop_is_expand2square_then_clip_preprocessing():
    w, h = 500, 300
    img = _image(w, h, seed=3)
    p = _profile({"mode": "shorter-side", "shorter": 336, "pad_first": True, "interpolation": "bicubic",
                  "pad": {"value": [122, 116, 104]}}, crop=[336, 336])
    canvas = np.empty((500, 500, 3), np.uint8)
    canvas[...] = (122, 116, 104)
    canvas[100:400] = np.asarray(img)
    want = np.asarray(Image.fromarray(canvas).resize((336, 336), Image.Resampling.BICUBIC), dtype=np.float32)
    np.testing.assert_array_equal(image_to_array(img, p.image), want)
    pl = placement(w, h, p.image)
    assert (pl.gain_x, pl.offset_x, pl.offset_y) == (336 / 500, 0.0, 100 * 336 / 500)
    assert "padded center to a square first, shorter side 336" in p.describe()


def test_pad_first_is_refused_where_the_mode_pads_after_resizing():
    for mode in ({"mode": "fit", "size": [640, 640]}, {"mode": "height", "size": [320, 48]},
                 {"mode": "limit-side", "limit": 960}):
        with pytest.raises(ProfileError, match="pad_first is for resize modes"):
            _profile({**mode, "pad_first": True})
    with pytest.raises(ProfileError, match=r"image.resize\[1\].size"):
        _profile([SHORTER, {"mode": "stretch"}])
    with pytest.raises(ProfileError, match="at least one"):
        _profile([])
