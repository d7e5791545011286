"""Item geometry: the letterbox and its inverse are Ultralytics' arithmetic, for every size; other modes invert exactly."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from PIL import Image

from desktop.engine.geometry import letterbox, placement, scale_boxes
from desktop.engine.preprocess import image_to_array
from desktop.engine.profile import ImageSpec, Resize

SIZES = sorted({1, 2, 3, 7, 31, 320, 321, 563, 640, 1000, 1001, 4000} )
DESTS = [(320, 320), (640, 640), (640, 384), (224, 320)]


def ultralytics_letterbox(w, h, dst_w, dst_h):
    """ultralytics/data/augment.py LetterBox.__call__ (auto=False, scale_fill=False, scaleup=True, center=True)."""
    r = min(dst_h / h, dst_w / w)
    new_unpad = int(round(w * r)), int(round(h * r))
    dw, dh = (dst_w - new_unpad[0]) / 2, (dst_h - new_unpad[1]) / 2
    top, bottom = int(round(dh - 0.1)), int(round(dh + 0.1))
    left, right = int(round(dw - 0.1)), int(round(dw + 0.1))
    return new_unpad, (left, top, right, bottom)


def ultralytics_scale_boxes(boxes, w0, h0, dst_w, dst_h):
    """ultralytics/utils/ops.py scale_boxes (ratio_pad None, padding True) then clip_boxes."""
    gain = min(dst_h / h0, dst_w / w0)
    pad = round((dst_w - round(w0 * gain)) / 2 - 0.1), round((dst_h - round(h0 * gain)) / 2 - 0.1)
    b = np.array(boxes, dtype=np.float64)
    b[..., [0, 2]] -= pad[0]
    b[..., [1, 3]] -= pad[1]
    b[..., :4] /= gain
    b[..., [0, 2]] = b[..., [0, 2]].clip(0, w0)
    b[..., [1, 3]] = b[..., [1, 3]].clip(0, h0)
    return b


def _fit(dst, anchor="center"):
    return ImageSpec(resize=Resize(mode="fit", size=dst, interpolation="nearest", pad_anchor=anchor,
                                   pad_value=(114.0,)))


@pytest.mark.parametrize("dst", DESTS)
def test_letterbox_is_ultralytics_arithmetic_for_every_size(dst):
    for w, h in itertools.product(SIZES, repeat=2):
        (nw, nh), pads = ultralytics_letterbox(w, h, *dst)
        if nw < 1 or nh < 1:  # Ultralytics cannot resize to 0 pixels; we keep 1 (tested below)
            continue
        box = letterbox(w, h, *dst)
        assert (box.new_w, box.new_h) == (nw, nh), (w, h, dst)
        assert (box.left, box.top, box.right, box.bottom) == pads, (w, h, dst)
        assert box.left + box.new_w + box.right == dst[0] and box.top + box.new_h + box.bottom == dst[1]


@pytest.mark.parametrize("size", [(1000, 563), (563, 1000), (1, 1), (3, 7), (321, 320), (1001, 1)])
def test_preprocess_fit_pads_where_ultralytics_does(size):
    """The pixels preprocess makes: the image (255) sits exactly inside Ultralytics' padding (114)."""
    w, h = size
    dst = (320, 320)
    arr = image_to_array(Image.new("RGB", (w, h), (255, 255, 255)), _fit(dst))
    (nw, nh), (left, top, right, bottom) = ultralytics_letterbox(w, h, *dst)
    if nw >= 1 and nh >= 1:
        rows = np.flatnonzero(arr[:, :, 0].max(axis=1) == 255)
        cols = np.flatnonzero(arr[:, :, 0].max(axis=0) == 255)
        assert (rows[0], rows[-1] + 1, cols[0], cols[-1] + 1) == (top, dst[1] - bottom, left, dst[0] - right)
        assert arr[0, 0, 0] == 114 or (top == 0 and left == 0)


@pytest.mark.parametrize("dst", DESTS)
def test_fit_inverse_is_ultralytics_scale_boxes(dst):
    rng = np.random.default_rng(1)
    for w, h in itertools.product(SIZES + [563], repeat=2):
        if min(ultralytics_letterbox(w, h, *dst)[0]) < 1:
            continue
        boxes = np.sort(rng.uniform(-20, max(dst) + 20, size=(5, 2, 2)), axis=1).transpose(0, 2, 1).reshape(5, 4)
        boxes = boxes[:, [0, 2, 1, 3]]  # x1, y1, x2, y2 with x1 <= x2, y1 <= y2
        want = ultralytics_scale_boxes(boxes, w, h, *dst)
        np.testing.assert_allclose(placement(w, h, _fit(dst)).to_original(boxes), want, rtol=0, atol=1e-9)
        np.testing.assert_allclose(scale_boxes(boxes, w, h, *dst), want, rtol=0, atol=1e-9)


def test_one_pixel_side_is_kept_and_inverted_consistently():
    p = placement(4000, 1, _fit((320, 320)))
    box = letterbox(4000, 1, 320, 320)
    assert box.new_h == 1 and box.top == 159
    np.testing.assert_allclose(p.to_original([[0, 159, 320, 160]]), [[0, 0, 4000, 1]], atol=1e-9)


def test_top_left_fit_has_no_offset():
    p = placement(1000, 563, _fit((320, 320), "top-left"))
    assert (p.offset_x, p.offset_y) == (0.0, 0.0)
    np.testing.assert_allclose(p.to_original([[0, 0, 320, 180.16]]), [[0, 0, 1000, 563]], atol=1e-9)


@pytest.mark.parametrize("spec", [
    ImageSpec(resize=Resize(mode="stretch", size=(320, 320))),
    ImageSpec(resize=Resize(mode="shorter-side", shorter=256)),
    ImageSpec(resize=Resize(mode="shorter-side", shorter=256), crop=(224, 224)),
    ImageSpec(resize=Resize(mode="height", size=(320, 48))),
    ImageSpec(crop=(2000, 100)),
    ImageSpec(),
    ImageSpec(resize=Resize(mode="shorter-side", shorter=256, rounding="round"), crop=(224, 224), crop_rounding="floor"),
    ImageSpec(resize=Resize(mode="height", size=(320, 48), grow=True, max_width=960, library="opencv",
                            interpolation="linear")),
    ImageSpec(resize=Resize(mode="limit-side", limit=960, limit_type="min")),
    ImageSpec(resize=Resize(mode="fit", size=(640, 640), auto=True, scaleup=False)),
])
def test_other_modes_invert_exactly(spec):
    """A box in original pixels mapped into the input and back is the same box (inside the image)."""
    w, h = 1000, 563
    p = placement(w, h, spec)
    box = np.array([[10.0, 20.0, 900.5, 500.25]])
    np.testing.assert_allclose(p.to_original(p.to_input(box)), box, atol=1e-9)


def test_stretch_and_crop_transforms_are_the_preprocessed_pixels():
    """Stretch scales by input/original; a centre crop shifts by its cut, as the pixels show."""
    p = placement(1000, 563, ImageSpec(resize=Resize(mode="stretch", size=(320, 320))))
    assert (p.gain_x, p.gain_y, p.offset_x, p.offset_y) == (320 / 1000, 320 / 563, 0.0, 0.0)
    img = Image.new("RGB", (10, 6))
    img.putpixel((5, 3), (255, 255, 255))
    spec = ImageSpec(crop=(4, 4))
    arr = image_to_array(img, spec)
    y, x = np.argwhere(arr[:, :, 0] == 255)[0]
    p = placement(10, 6, spec)
    np.testing.assert_allclose(p.to_original([[x, y, x + 1, y + 1]]), [[5, 3, 6, 4]])


@pytest.mark.parametrize("spec", [
    ImageSpec(resize=Resize(mode="shorter-side", shorter=97, rounding="ceil"), crop=(90, 90), crop_rounding="floor"),
    ImageSpec(resize=Resize(mode="height", size=(32, 16), grow=True, interpolation="nearest")),
    ImageSpec(resize=Resize(mode="limit-side", limit=64, multiple=8, min_size=8, interpolation="nearest")),
    ImageSpec(resize=Resize(mode="fit", size=(64, 64), auto=True, stride=8, interpolation="nearest",
                            rounding="floor")),
    ImageSpec(resize=Resize(mode="fit", size=(256, 256), scaleup=False, interpolation="nearest")),
])
@pytest.mark.parametrize("w,h", [(101, 37), (37, 101), (63, 63)])
def test_new_options_place_the_image_where_its_pixels_land(spec, w, h):
    """The original's corners mapped by placement are where the content sits in the array (pads are 0)."""
    arr = image_to_array(Image.new("RGB", (w, h), (9, 9, 9)), spec)
    p = placement(w, h, spec)
    assert (p.input_w, p.input_h) == (arr.shape[1], arr.shape[0])
    rows, cols = np.nonzero(arr[:, :, 0] == 9)
    (x1, y1, x2, y2), = p.to_input([[0, 0, w, h]])
    # a crop may cut the content: compare what stays inside the input
    x1, y1, x2, y2 = max(x1, 0), max(y1, 0), min(x2, p.input_w), min(y2, p.input_h)
    assert (cols.min(), rows.min()) == (x1, y1)
    # the letterbox's gain is Ultralytics' ratio, so its far corner is within the rounding of the resized
    # size (half a pixel with round, under one with floor); the others' gains are exact
    tol = (0.5 if (spec.resize.rounding or "round") == "round" else 1.0) if spec.resize.mode == "fit" else 1e-9
    np.testing.assert_allclose((cols.max() + 1, rows.max() + 1), (x2, y2), atol=tol)
