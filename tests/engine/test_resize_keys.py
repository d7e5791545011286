"""The rounding and geometry keys reproduce each library's arithmetic, written out here from its source, on odd sizes."""

from __future__ import annotations

import io
import math

import numpy as np
import pytest
from PIL import Image

from desktop.engine.errors import ProfileError
from desktop.engine.geometry import placement
from desktop.engine.inputs.images import decode_image
from desktop.engine.preprocess import canvas_size, image_to_array, resized_geometry
from desktop.engine.profile import profile_from_dict

ODD = [(1000, 563), (563, 1000), (37, 23), (23, 37), (641, 479), (333, 999), (1, 7), (4000, 3), (225, 225),
       (1919, 1081)]


def spec(resize=None, **image):
    return profile_from_dict({"image": {**({"resize": resize} if resize else {}), **image}}).image


# ---------------------------------------------------------------- shorter side


def torchvision_shorter(w, h, size):
    """torchvision/transforms/functional.py _compute_resized_output_size (max_size None)."""
    short, long = (w, h) if w <= h else (h, w)
    new_short, new_long = size, int(size * long / short)
    return (new_short, new_long) if w <= h else (new_long, new_short)


def paddleclas_resize_short(w, h, resize_short):
    """PaddleClas ppcls/data/preprocess/ops/operators.py ResizeImage.__call__ (resize_short)."""
    percent = float(resize_short) / min(w, h)
    return int(round(w * percent)), int(round(h * percent))


@pytest.mark.parametrize("w,h", ODD)
@pytest.mark.parametrize("shorter", [224, 256, 257])
def test_shorter_side_rounding(w, h, shorter):
    r = {"mode": "shorter-side", "shorter": shorter}
    want_tv = tuple(max(1, v) for v in torchvision_shorter(w, h, shorter))
    assert resized_geometry(w, h, spec(r)) == want_tv  # the default is torchvision's
    assert resized_geometry(w, h, spec({**r, "rounding": "floor"})) == want_tv
    assert resized_geometry(w, h, spec({**r, "rounding": "round"})) == tuple(
        max(1, v) for v in paddleclas_resize_short(w, h, shorter))
    short, long = min(w, h), max(w, h)
    n = math.ceil(shorter * long / short)
    assert resized_geometry(w, h, spec({**r, "rounding": "ceil"})) == ((shorter, n) if w <= h else (n, shorter))


def test_the_roundings_differ_where_they_should():
    r = {"mode": "shorter-side", "shorter": 224}
    sizes = {k: resized_geometry(1000, 563, spec({**r, "rounding": k})) for k in ("floor", "round", "ceil")}
    assert sizes == {"floor": (397, 224), "round": (398, 224), "ceil": (398, 224)}
    assert resized_geometry(1001, 563, spec({**r, "rounding": "round"})) == (398, 224)  # 398.27


# ---------------------------------------------------------------- centre crop


@pytest.mark.parametrize("w,h", [(257, 301), (300, 225), (225, 225), (231, 229)])
def test_crop_rounding_floor_cuts_as_a_floor_slice(w, h):
    a = np.arange(w * h, dtype=np.float32).reshape(h, w)
    img = Image.fromarray(a, "F")
    floor = image_to_array(img, spec(crop=[224, 224], crop_rounding="floor", color="L"))[:, :, 0]
    top, left = (h - 224) // 2, (w - 224) // 2
    np.testing.assert_array_equal(floor, a[top:top + 224, left:left + 224])
    tv = image_to_array(img, spec(crop=[224, 224], color="L"))[:, :, 0]
    top, left = int(round((h - 224) / 2.0)), int(round((w - 224) / 2.0))  # torchvision center_crop
    np.testing.assert_array_equal(tv, a[top:top + 224, left:left + 224])
    p = placement(w, h, spec(crop=[224, 224], crop_rounding="floor"))
    assert (p.offset_x, p.offset_y) == (-((w - 224) // 2), -((h - 224) // 2))


# ---------------------------------------------------------------- Ultralytics letterbox


def ultralytics_letterbox(w, h, new_shape, auto=False, scaleup=True, stride=32, center=True):
    """ultralytics/data/augment.py LetterBox.__call__: (new_unpad, (left, top, right, bottom))."""
    r = min(new_shape[0] / h, new_shape[1] / w)
    if not scaleup:
        r = min(r, 1.0)
    new_unpad = int(round(w * r)), int(round(h * r))
    dw, dh = new_shape[1] - new_unpad[0], new_shape[0] - new_unpad[1]
    if auto:
        dw, dh = np.mod(dw, stride), np.mod(dh, stride)
    if center:
        dw /= 2
        dh /= 2
    top, bottom = int(round(dh - 0.1)) if center else 0, int(round(dh + 0.1))
    left, right = int(round(dw - 0.1)) if center else 0, int(round(dw + 0.1))
    return new_unpad, (left, top, right, bottom)


@pytest.mark.parametrize("w,h", ODD + [(320, 200), (100, 60)])
@pytest.mark.parametrize("auto,scaleup", [(True, True), (False, False), (True, False)])
def test_letterbox_auto_and_scaleup_are_ultralytics(w, h, auto, scaleup):
    if min(w, h) < 4:
        pytest.skip("Ultralytics itself cannot resize a side to 0 pixels")
    r = {"mode": "fit", "size": [640, 480], "interpolation": "nearest", "pad": {"value": 114},
         "auto": auto, "scaleup": scaleup, "stride": 32}
    s = spec(r)
    (nw, nh), (left, top, right, bottom) = ultralytics_letterbox(w, h, (480, 640), auto=auto, scaleup=scaleup)
    assert resized_geometry(w, h, s) == (nw, nh)
    assert canvas_size(w, h, s) == (nw + left + right, nh + top + bottom)
    img = Image.new("RGB", (w, h), (200, 10, 30))
    arr = image_to_array(img, s)
    assert arr.shape == (nh + top + bottom, nw + left + right, 3)
    rows, cols = np.nonzero(arr[:, :, 1] == 10)
    assert (cols.min(), rows.min(), cols.max() + 1, rows.max() + 1) == (left, top, left + nw, top + nh)
    p = placement(w, h, s)
    assert (p.input_w, p.input_h, p.offset_x, p.offset_y) == (arr.shape[1], arr.shape[0], left, top)
    if auto:
        assert (arr.shape[1] - nw) < 32 and (arr.shape[0] - nh) < 32


def test_scaleup_false_keeps_a_small_image_at_its_size():
    s = spec({"mode": "fit", "size": [640, 640], "scaleup": False})
    assert resized_geometry(100, 60, s) == (100, 60) and canvas_size(100, 60, s) == (640, 640)
    assert placement(100, 60, s).gain_x == 1.0
    assert spec({"mode": "fit", "size": [640, 640]}).output_size() == (640, 640)
    assert spec({"mode": "fit", "size": [640, 640], "auto": True}).output_size() is None


# ---------------------------------------------------------------- PaddleOCR


def paddleocr_det_resize(w, h, limit_side_len, limit_type):
    """PaddleOCR ppocr/data/imaug/operators.py DetResizeForTest.resize_image_type0: (resize_w, resize_h)."""
    if limit_type == "max":
        if max(h, w) > limit_side_len:
            ratio = float(limit_side_len) / h if h > w else float(limit_side_len) / w
        else:
            ratio = 1.0
    elif limit_type == "min":
        if min(h, w) < limit_side_len:
            ratio = float(limit_side_len) / h if h < w else float(limit_side_len) / w
        else:
            ratio = 1.0
    else:  # resize_long
        ratio = float(limit_side_len) / max(h, w)
    resize_h, resize_w = int(h * ratio), int(w * ratio)
    resize_h = max(int(round(resize_h / 32) * 32), 32)
    resize_w = max(int(round(resize_w / 32) * 32), 32)
    return resize_w, resize_h


@pytest.mark.parametrize("w,h", ODD)
@pytest.mark.parametrize("limit,limit_type", [(960, "max"), (736, "min"), (960, "long"), (64, "max")])
def test_limit_side_is_paddleocr_det_resize(w, h, limit, limit_type):
    s = spec({"mode": "limit-side", "limit": limit, "limit_type": limit_type, "library": "opencv",
              "interpolation": "linear"})
    want = paddleocr_det_resize(w, h, limit, limit_type)
    assert resized_geometry(w, h, s) == want == canvas_size(w, h, s)
    p = placement(w, h, s)
    assert (p.input_w, p.input_h) == want and (p.gain_x, p.gain_y) == (want[0] / w, want[1] / h)


def test_limit_side_keys_are_checked():
    with pytest.raises(ProfileError, match="limit is required"):
        spec({"mode": "limit-side"})
    with pytest.raises(ProfileError, match="are for resize mode 'limit-side'"):
        spec({"mode": "stretch", "size": [8, 8], "limit": 960})


def paddleocr_rec_resize(w, h, imgH, imgW):
    """PaddleOCR tools/infer/predict_rec.py, one image: max_wh_ratio, then resize_norm_img: (content w, tensor w)."""
    max_wh_ratio = max(imgW / imgH, w * 1.0 / h)
    imgW = int(imgH * max_wh_ratio)
    ratio = w / float(h)
    resized_w = imgW if math.ceil(imgH * ratio) > imgW else int(math.ceil(imgH * ratio))
    return resized_w, imgW


@pytest.mark.parametrize("w,h", ODD + [(1200, 40), (100, 48), (320, 48), (317, 49)])
def test_height_grow_is_paddleocr_rec(w, h):
    s = spec({"mode": "height", "size": [320, 48], "grow": True, "library": "opencv", "interpolation": "linear"})
    content, width = paddleocr_rec_resize(w, h, 48, 320)
    assert resized_geometry(w, h, s) == (max(1, content), 48)
    assert canvas_size(w, h, s) == (width, 48)


def test_a_long_line_keeps_its_aspect_with_grow():
    """A 1200×40 line of text: the capped height mode squashes it into 320 px, grow keeps it 1440 wide."""
    line = Image.new("L", (1200, 40), 255)
    for x in range(0, 1200, 24):  # "characters": 12 px strokes every 24 px
        line.paste(0, (x, 8, x + 12, 32))
    capped = image_to_array(line, spec({"mode": "height", "size": [320, 48]}, color="L"))
    grown = image_to_array(line, spec({"mode": "height", "size": [320, 48], "grow": True}, color="L"))
    assert capped.shape == (48, 320, 1)
    assert grown.shape == (48, 1440, 1)  # int(48 × 1200 / 40)
    # the strokes keep their pitch: 24 px × 1.2 = 28.8 px per character, where the capped one has 6.4
    dark = (grown[24, :, 0] < 128).astype(int)
    starts = np.flatnonzero(np.diff(dark) == 1)
    assert 28 <= np.median(np.diff(starts)) <= 29
    limited = image_to_array(line, spec({"mode": "height", "size": [320, 48], "grow": True, "max_width": 800},
                                        color="L"))
    assert limited.shape == (48, 800, 1)
    p = placement(1200, 40, spec({"mode": "height", "size": [320, 48], "grow": True}))
    assert (p.input_w, p.input_h, p.gain_x, p.gain_y) == (1440, 48, 1440 / 1200, 48 / 40)


# ---------------------------------------------------------------- EXIF, defaults


def _rotated_jpeg(tmp_path):
    img = Image.new("RGB", (60, 20), (255, 0, 0))
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90° clockwise to view
    path = tmp_path / "rot.jpg"
    img.save(path, exif=exif.tobytes())
    return path


def test_exif_ignore_keeps_the_stored_pixels(tmp_path):
    path = _rotated_jpeg(tmp_path)
    assert decode_image(path).size == (20, 60)
    assert decode_image(path, exif=False).size == (60, 20)
    assert spec(exif="ignore").exif == "ignore"
    assert spec(exif="ignore").to_dict()["exif"] == "ignore"


def test_the_engine_decodes_as_the_profile_says(tmp_path):
    from desktop.engine.core import Engine

    path = _rotated_jpeg(tmp_path)

    class Fake:  # only what load_image reads
        def __init__(self, exif):
            self.profile = profile_from_dict({"image": {"exif": exif}})
    assert Engine.load_image(Fake("ignore"), str(path))[0].size == (60, 20)
    assert Engine.load_image(Fake("apply"), str(path))[0].size == (20, 60)


def test_every_new_key_is_left_out_at_its_default():
    raw = {"task": "classification", "image": {"resize": {"mode": "shorter-side", "shorter": 256}, "crop": [224, 224]}}
    plain = profile_from_dict(raw)
    defaults = profile_from_dict({**raw, "image": {**raw["image"], "crop_rounding": "round", "exif": "apply",
                                                   "resize": {**raw["image"]["resize"], "library": "pillow",
                                                              "output": "uint8"}}})
    assert plain.to_dict() == defaults.to_dict() and plain.sha256() == defaults.sha256()
    assert set(plain.to_dict()["image"]) == {"color", "layout", "dtype", "resize", "crop", "scale", "mean", "std"}
    assert set(plain.to_dict()["image"]["resize"]) == {"mode", "shorter", "interpolation", "pad"}
    full = profile_from_dict({"image": {"crop_rounding": "floor", "exif": "ignore", "resize": {
        "mode": "height", "size": [320, 48], "grow": True, "max_width": 960, "rounding": "floor", "output": "float",
        "library": "opencv", "interpolation": "area"}}})
    assert profile_from_dict(full.to_dict()) == full


@pytest.mark.parametrize("resize,words", [
    ({"mode": "stretch", "size": [8, 8], "rounding": "floor"}, "computes none it would round"),
    ({"mode": "fit", "size": [8, 8], "grow": True}, "are for resize mode 'height'"),
    ({"mode": "height", "size": [320, 48], "max_width": 900}, "needs grow: true"),
    ({"mode": "height", "size": [320, 48], "grow": True, "max_width": 100}, "narrower than size[0]"),
    ({"mode": "height", "size": [320, 48], "auto": True}, "are for resize mode 'fit'"),
    ({"mode": "fit", "size": [8, 8], "auto": "yes"}, "auto must be true or false"),
    ({"mode": "fit", "size": [8, 8], "rounding": "up"}, "rounding must be one of floor, round, ceil"),
    ({"mode": "fit", "size": [8, 8], "output": "double"}, "output must be one of uint8, float"),
])
def test_new_key_mistakes_are_named(resize, words):
    with pytest.raises(ProfileError, match=words.replace("[", r"\[").replace("]", r"\]")):
        spec(resize)


def test_describe_names_the_new_modes_and_the_library():
    p = profile_from_dict({"image": {"resize": {"mode": "limit-side", "limit": 960, "library": "opencv",
                                                "interpolation": "linear"}}})
    assert p.describe().startswith("RGB, longer side at most 960, sides multiples of 32 (OpenCV linear)")
    p = profile_from_dict({"image": {"resize": {"mode": "height", "size": [320, 48], "grow": True, "max_width": 960}}})
    assert "height 48, width growing from 320, at most 960, padded right (bilinear)" in p.describe()
