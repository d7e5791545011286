"""Preprocessing against hand-computed tensors.

Every expected tensor here is written out by hand (numpy literals and np.repeat of the tiny
source image), never produced by the code under test. Interpolation is "nearest" with integer
upscale factors, so each output pixel is an exact copy of one source pixel.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays
from PIL import Image

from desktop.engine.errors import InputError, ProfileError
from desktop.engine.preprocess import preprocess_image
from desktop.engine.profile import profile_from_dict


def spec_of(image_section: dict):
    """The ImageSpec of a profile written exactly as a user would write it in JSON."""
    return profile_from_dict({"task": "raw", "image": image_section}).image


def raw(**extra) -> dict:
    """A profile section that leaves pixel values untouched (scale 1, mean 0, std 1, NCHW float32)."""
    d = {"color": "RGB", "layout": "NCHW", "dtype": "float32", "scale": 1, "mean": [0, 0, 0], "std": [1, 1, 1]}
    d.update(extra)
    return d


def rgb(pixels) -> Image.Image:
    return Image.fromarray(np.asarray(pixels, dtype=np.uint8), mode="RGB")


def up(a: np.ndarray, fy: int, fx: int) -> np.ndarray:
    """Integer nearest-neighbour upscale of an (H, W, C) array, by hand."""
    return np.repeat(np.repeat(a, fy, axis=0), fx, axis=1)


def chw(a: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(np.asarray(a, dtype=np.float32).transpose(2, 0, 1))


# 2 wide × 2 high, every channel value distinct
P22 = np.array(
    [[[10, 20, 30], [40, 50, 60]],
     [[70, 80, 90], [100, 110, 120]]], dtype=np.uint8)

# 3 wide × 2 high (landscape)
P32 = np.array(
    [[[1, 2, 3], [4, 5, 6], [7, 8, 9]],
     [[11, 12, 13], [14, 15, 16], [17, 18, 19]]], dtype=np.uint8)

# 2 wide × 4 high (portrait)
P24 = np.array(
    [[[1, 2, 3], [4, 5, 6]],
     [[7, 8, 9], [10, 11, 12]],
     [[13, 14, 15], [16, 17, 18]],
     [[19, 20, 21], [22, 23, 24]]], dtype=np.uint8)


# --------------------------------------------------------------------------- stretch

def test_stretch_square_upscale_nearest():
    spec = spec_of(raw(resize={"mode": "stretch", "size": [4, 4], "interpolation": "nearest"}))
    x = preprocess_image(rgb(P22), spec)
    # channel R, written out by hand
    expected_r = np.array([[10, 10, 40, 40],
                           [10, 10, 40, 40],
                           [70, 70, 100, 100],
                           [70, 70, 100, 100]], dtype=np.float32)
    assert x.shape == (3, 4, 4)
    assert x.dtype == np.float32
    np.testing.assert_array_equal(x[0], expected_r)
    np.testing.assert_array_equal(x[1], expected_r + 10)
    np.testing.assert_array_equal(x[2], expected_r + 20)
    np.testing.assert_array_equal(x, chw(up(P22, 2, 2)))


def test_stretch_non_uniform_size_is_width_then_height():
    # size is [width, height]: 2×2 → 6 wide × 4 high is ×3 across, ×2 down
    spec = spec_of(raw(resize={"mode": "stretch", "size": [6, 4], "interpolation": "nearest"}))
    x = preprocess_image(rgb(P22), spec)
    assert x.shape == (3, 4, 6)
    np.testing.assert_array_equal(x[0], np.array([[10, 10, 10, 40, 40, 40],
                                                  [10, 10, 10, 40, 40, 40],
                                                  [70, 70, 70, 100, 100, 100],
                                                  [70, 70, 70, 100, 100, 100]], dtype=np.float32))
    np.testing.assert_array_equal(x, chw(up(P22, 2, 3)))


def test_default_normalisation_scale_and_imagenet_mean_std():
    spec = spec_of({"color": "RGB", "resize": {"mode": "stretch", "size": [2, 2], "interpolation": "nearest"},
                    "scale": 0.00392156862745098, "mean": [0.485, 0.456, 0.406], "std": [0.229, 0.224, 0.225]})
    x = preprocess_image(rgb(P22), spec)
    mean = np.array([0.485, 0.456, 0.406]).reshape(3, 1, 1)
    std = np.array([0.229, 0.224, 0.225]).reshape(3, 1, 1)
    expected = (P22.transpose(2, 0, 1) / 255.0 - mean) / std
    np.testing.assert_allclose(x, expected, rtol=1e-5, atol=1e-5)


# --------------------------------------------------------------------------- shorter side

@pytest.mark.parametrize("w, h, shorter, out_w, out_h", [
    (3, 5, 4, 4, 6),    # portrait: 4*5/3 = 6.67 → int 6 (round would give 7)
    (5, 3, 4, 6, 4),    # landscape: the same, transposed
    (2, 3, 3, 3, 4),    # 3*3/2 = 4.5 → 4
    (4, 4, 3, 3, 3),    # square
    (7, 2, 5, 17, 5),   # 5*7/2 = 17.5 → 17
])
def test_shorter_side_torchvision_rounding(w, h, shorter, out_w, out_h):
    img = Image.new("RGB", (w, h), (5, 6, 7))
    spec = spec_of(raw(resize={"mode": "shorter-side", "shorter": shorter, "interpolation": "bilinear"}))
    x = preprocess_image(img, spec)
    assert x.shape == (3, out_h, out_w)
    np.testing.assert_allclose(x[:, 0, 0], [5, 6, 7], atol=1e-4)


def test_shorter_side_portrait_then_centre_crop():
    # 2×4 portrait, shorter 4 → 4 wide × int(4*4/2) = 8 high (×2), then centre crop 2×2:
    # top = round((8-2)/2) = 3, left = round((4-2)/2) = 1 → upscaled rows 3,4 and cols 1,2,
    # i.e. source rows 1,2 and cols 0,1
    spec = spec_of(raw(resize={"mode": "shorter-side", "shorter": 4, "interpolation": "nearest"}, crop=[2, 2]))
    x = preprocess_image(rgb(P24), spec)
    expected = np.array([[[7, 8, 9], [10, 11, 12]],
                         [[13, 14, 15], [16, 17, 18]]], dtype=np.float32)
    assert x.shape == (3, 2, 2)
    np.testing.assert_array_equal(x, chw(expected))


def test_shorter_side_portrait_without_crop():
    spec = spec_of(raw(resize={"mode": "shorter-side", "shorter": 4, "interpolation": "nearest"}))
    x = preprocess_image(rgb(P24), spec)
    assert x.shape == (3, 8, 4)
    np.testing.assert_array_equal(x, chw(up(P24, 2, 2)))


def test_shorter_side_landscape_then_centre_crop():
    # 3×2 landscape, shorter 4 → int(4*3/2) = 6 wide × 4 high (×2), crop 4 wide × 2 high:
    # top = round((4-2)/2) = 1, left = round((6-4)/2) = 1 → upscaled rows 1,2 (source 0,1),
    # cols 1..4 (source 0,1,1,2)
    spec = spec_of(raw(resize={"mode": "shorter-side", "shorter": 4, "interpolation": "nearest"}, crop=[4, 2]))
    x = preprocess_image(rgb(P32), spec)
    expected = np.array([[[1, 2, 3], [4, 5, 6], [4, 5, 6], [7, 8, 9]],
                         [[11, 12, 13], [14, 15, 16], [14, 15, 16], [17, 18, 19]]], dtype=np.float32)
    assert x.shape == (3, 2, 4)
    np.testing.assert_array_equal(x, chw(expected))


def test_shorter_side_alias_and_crop_as_single_number():
    spec = spec_of(raw(resize={"mode": "shorter", "shorter": 4, "interpolation": "nearest"}, crop=2))
    assert spec.resize.mode == "shorter-side"
    assert spec.crop == (2, 2)
    x = preprocess_image(rgb(P24), spec)
    assert x.shape == (3, 2, 2)


# --------------------------------------------------------------------------- fit

FIT_NORM = {"scale": 0.1, "mean": [1, 1, 1], "std": [2, 2, 2]}  # pad 10 → (10*0.1 - 1) / 2 = 0


def fit_norm(a) -> np.ndarray:
    return (np.asarray(a, dtype=np.float64) * 0.1 - 1.0) / 2.0


def test_fit_center_pads_top_and_bottom():
    # 2×2 into 4 wide × 6 high: ratio min(4/2, 6/2) = 2 → 4×4 content, 2 spare rows:
    # top = (6-4)//2 = 1, one pad row above and one below
    spec = spec_of({**raw(), **FIT_NORM, "resize": {"mode": "fit", "size": [4, 6], "interpolation": "nearest",
                                                     "pad": {"anchor": "center", "value": 10}}})
    x = preprocess_image(rgb(P22), spec)
    assert x.shape == (3, 6, 4)
    pixels = np.full((6, 4, 3), 10, dtype=np.float64)
    pixels[1:5, :, :] = up(P22, 2, 2)
    np.testing.assert_allclose(x, fit_norm(pixels).transpose(2, 0, 1), rtol=1e-6, atol=1e-6)
    # the pad value is a pixel value: 10 → (10*0.1 - 1) / 2 = 0 exactly
    np.testing.assert_allclose(x[:, 0, :], 0.0, atol=1e-7)
    np.testing.assert_allclose(x[:, 5, :], 0.0, atol=1e-7)
    # R channel, content rows, by hand: (10*0.1-1)/2 = 0, (40*.1-1)/2 = 1.5, (70*.1-1)/2 = 3, (100*.1-1)/2 = 4.5
    np.testing.assert_allclose(x[0, 1:5], [[0, 0, 1.5, 1.5], [0, 0, 1.5, 1.5], [3, 3, 4.5, 4.5], [3, 3, 4.5, 4.5]],
                               atol=1e-6)


def test_fit_center_pads_left_and_right():
    # 1 wide × 2 high into 4×4: ratio min(4/1, 4/2) = 2 → 2 wide × 4 high; left = (4-2)//2 = 1
    img = rgb([[[10, 20, 30]], [[50, 60, 70]]])
    spec = spec_of({**raw(), **FIT_NORM, "resize": {"mode": "fit", "size": [4, 4], "interpolation": "nearest",
                                                     "pad": {"anchor": "center", "value": 10}}})
    x = preprocess_image(img, spec)
    pixels = np.array([[[10] * 3, [10, 20, 30], [10, 20, 30], [10] * 3],
                       [[10] * 3, [10, 20, 30], [10, 20, 30], [10] * 3],
                       [[10] * 3, [50, 60, 70], [50, 60, 70], [10] * 3],
                       [[10] * 3, [50, 60, 70], [50, 60, 70], [10] * 3]])
    assert x.shape == (3, 4, 4)
    np.testing.assert_allclose(x, fit_norm(pixels).transpose(2, 0, 1), rtol=1e-6, atol=1e-6)


def test_fit_top_left_pads_bottom_and_right_only():
    spec = spec_of({**raw(), **FIT_NORM, "resize": {"mode": "fit", "size": [4, 6], "interpolation": "nearest",
                                                     "pad": {"anchor": "top-left", "value": 10}}})
    x = preprocess_image(rgb(P22), spec)
    pixels = np.full((6, 4, 3), 10, dtype=np.float64)
    pixels[0:4, :, :] = up(P22, 2, 2)
    assert x.shape == (3, 6, 4)
    np.testing.assert_allclose(x, fit_norm(pixels).transpose(2, 0, 1), rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(x[:, 4:, :], 0.0, atol=1e-7)


def test_fit_top_left_landscape_pads_right():
    # 3×2 into 9 wide × 4 high: ratio min(3, 2) = 2 → 6×4, three pad columns on the right
    spec = spec_of({**raw(), "resize": {"mode": "fit", "size": [9, 4], "interpolation": "nearest",
                                         "pad": {"anchor": "top-left", "value": 255}}})
    x = preprocess_image(rgb(P32), spec)
    pixels = np.full((4, 9, 3), 255, dtype=np.float32)
    pixels[:, 0:6] = up(P32, 2, 2)
    np.testing.assert_array_equal(x, chw(pixels))


def test_fit_exact_aspect_needs_no_pad():
    spec = spec_of({**raw(), "resize": {"mode": "letterbox", "size": [4, 4], "interpolation": "nearest",
                                         "pad": {"anchor": "centre", "value": 99}}})
    x = preprocess_image(rgb(P22), spec)
    np.testing.assert_array_equal(x, chw(up(P22, 2, 2)))


def test_fit_per_channel_pad_value():
    spec = spec_of({**raw(), "resize": {"mode": "fit", "size": [2, 3], "interpolation": "nearest",
                                         "pad": {"anchor": "top-left", "value": [114, 115, 116]}}})
    x = preprocess_image(rgb(P22), spec)
    expected = np.array([[[10, 20, 30], [40, 50, 60]],
                         [[70, 80, 90], [100, 110, 120]],
                         [[114, 115, 116], [114, 115, 116]]], dtype=np.float32)
    np.testing.assert_array_equal(x, chw(expected))


# --------------------------------------------------------------------------- height

def test_height_mode_scales_to_height_and_pads_right():
    # 3×2 into height 4, width up to 8: width ceil(4*3/2) = 6 (×2), two pad columns on the right
    spec = spec_of({**raw(), "resize": {"mode": "height", "size": [8, 4], "interpolation": "nearest",
                                         "pad": {"value": 0}}})
    x = preprocess_image(rgb(P32), spec)
    pixels = np.zeros((4, 8, 3), dtype=np.float32)
    pixels[:, :6] = up(P32, 2, 2)
    assert x.shape == (3, 4, 8)
    np.testing.assert_array_equal(x, chw(pixels))
    np.testing.assert_array_equal(x[0, 0], [1, 1, 4, 4, 7, 7, 0, 0])


def test_height_mode_pads_right_even_with_center_anchor():
    spec = spec_of({**raw(), "resize": {"mode": "height", "size": [8, 4], "interpolation": "nearest",
                                         "pad": {"anchor": "center", "value": 200}}})
    x = preprocess_image(rgb(P32), spec)
    pixels = np.full((4, 8, 3), 200, dtype=np.float32)
    pixels[:, :6] = up(P32, 2, 2)
    np.testing.assert_array_equal(x, chw(pixels))


def test_height_mode_width_rounds_up():
    # 3 wide × 4 high into height 6: width 6*3/4 = 4.5 → ceil 5 (round or int would give 4)
    img = Image.new("RGB", (3, 4), (50, 60, 70))
    spec = spec_of({**raw(), "resize": {"mode": "height", "size": [8, 6], "interpolation": "nearest",
                                         "pad": {"value": 0}}})
    x = preprocess_image(img, spec)
    assert x.shape == (3, 6, 8)
    np.testing.assert_array_equal(x[:, :, :5], np.broadcast_to(np.array([50, 60, 70.0]).reshape(3, 1, 1), (3, 6, 5)))
    np.testing.assert_array_equal(x[:, :, 5:], 0.0)


def test_height_mode_width_capped():
    # 8 wide × 2 high into height 4 would be 16 wide; capped at 8 → 8×4, only rows doubled, no pad
    src = np.arange(8 * 2 * 3, dtype=np.uint8).reshape(2, 8, 3)
    spec = spec_of({**raw(), "resize": {"mode": "height", "size": [8, 4], "interpolation": "nearest",
                                         "pad": {"value": 255}}})
    x = preprocess_image(rgb(src), spec)
    assert x.shape == (3, 4, 8)
    np.testing.assert_array_equal(x, chw(up(src, 2, 1)))
    assert not np.any(x == 255)


# --------------------------------------------------------------------------- crop

def test_crop_larger_than_image_pads_evenly():
    # no resize; crop 4×4 of a 2×2 image: one pad pixel (value 0 before normalisation) on each side
    spec = spec_of({**raw(), "mean": [1, 2, 3], "crop": [4, 4]})
    x = preprocess_image(rgb(P22), spec)
    pixels = np.zeros((4, 4, 3), dtype=np.float32)
    pixels[1:3, 1:3] = P22
    assert x.shape == (3, 4, 4)
    expected = chw(pixels) - np.array([1, 2, 3], dtype=np.float32).reshape(3, 1, 1)
    np.testing.assert_array_equal(x, expected)
    np.testing.assert_array_equal(x[:, 0, 0], [-1, -2, -3])


def test_crop_larger_than_image_odd_padding_as_torchvision():
    # torchvision pads (diff // 2) left/top and (diff + 1) // 2 right/bottom: 2→3 puts the image top-left
    spec = spec_of({**raw(), "crop": [3, 3]})
    x = preprocess_image(rgb(P22), spec)
    pixels = np.zeros((3, 3, 3), dtype=np.float32)
    pixels[0:2, 0:2] = P22
    np.testing.assert_array_equal(x, chw(pixels))


def test_crop_wider_but_shorter_than_image():
    # 2 wide × 4 high, crop 4 wide × 2 high: pad one column each side, take rows 1,2
    spec = spec_of({**raw(), "crop": [4, 2]})
    x = preprocess_image(rgb(P24), spec)
    expected = np.array([[[0, 0, 0], [7, 8, 9], [10, 11, 12], [0, 0, 0]],
                         [[0, 0, 0], [13, 14, 15], [16, 17, 18], [0, 0, 0]]], dtype=np.float32)
    np.testing.assert_array_equal(x, chw(expected))


# --------------------------------------------------------------------------- colour order, layout, dtype

def test_bgr_channel_order_and_mean_std_in_bgr_order():
    spec = spec_of({"color": "BGR", "layout": "NCHW", "scale": 1, "mean": [10, 20, 30], "std": [1, 2, 4]})
    x = preprocess_image(rgb(P22), spec)
    # channel 0 is blue: (B - 10) / 1; channel 1 green: (G - 20) / 2; channel 2 red: (R - 30) / 4
    expected = np.array([
        [[(30 - 10) / 1, (60 - 10) / 1], [(90 - 10) / 1, (120 - 10) / 1]],
        [[(20 - 20) / 2, (50 - 20) / 2], [(80 - 20) / 2, (110 - 20) / 2]],
        [[(10 - 30) / 4, (40 - 30) / 4], [(70 - 30) / 4, (100 - 30) / 4]],
    ], dtype=np.float32)
    assert x.shape == (3, 2, 2)
    np.testing.assert_array_equal(x, expected)


def test_bgr_with_resize_and_nhwc():
    spec = spec_of({"color": "bgr", "layout": "NHWC", "scale": 1, "mean": 0, "std": 1,
                    "resize": {"mode": "stretch", "size": [4, 2], "interpolation": "nearest"}})
    x = preprocess_image(rgb(P22), spec)
    assert x.shape == (2, 4, 3)
    np.testing.assert_array_equal(x[0], [[30, 20, 10], [30, 20, 10], [60, 50, 40], [60, 50, 40]])
    np.testing.assert_array_equal(x[1], [[90, 80, 70], [90, 80, 70], [120, 110, 100], [120, 110, 100]])


def test_nhwc_versus_nchw():
    base = {"scale": 1, "mean": [1, 2, 3], "std": [1, 1, 1],
            "resize": {"mode": "stretch", "size": [3, 2], "interpolation": "nearest"}}
    nchw = preprocess_image(rgb(P32), spec_of({**base, "layout": "NCHW"}))
    nhwc = preprocess_image(rgb(P32), spec_of({**base, "layout": "NHWC"}))
    assert nchw.shape == (3, 2, 3)
    assert nhwc.shape == (2, 3, 3)
    expected_hwc = P32.astype(np.float32) - np.array([1, 2, 3], dtype=np.float32)
    np.testing.assert_array_equal(nhwc, expected_hwc)
    np.testing.assert_array_equal(nchw, expected_hwc.transpose(2, 0, 1))
    assert nhwc.flags["C_CONTIGUOUS"] and nchw.flags["C_CONTIGUOUS"]
    np.testing.assert_array_equal(nhwc[1, 2], [16, 16, 16])  # pixel (x=2, y=1) = (17,18,19) - (1,2,3)


def test_float16_output():
    spec = spec_of({"dtype": "float16", "scale": 0.00392156862745098, "mean": 0, "std": 1})
    x = preprocess_image(rgb(P22), spec)
    assert x.dtype == np.float16
    assert x.shape == (3, 2, 2)
    expected = (P22.astype(np.float64) / 255.0).transpose(2, 0, 1).astype(np.float16)
    np.testing.assert_array_equal(x, expected)


def test_uint8_output_rounded_and_clipped():
    # scale 0.3 with per-channel mean: R = 0.3p, G = 0.3p + 200, B = 0.3p - 30
    src = np.array([[[10, 0, 0], [11, 100, 50]],
                    [[12, 200, 200], [13, 254, 250]]], dtype=np.uint8)
    spec = spec_of({"dtype": "uint8", "scale": 0.3, "mean": [0, -200, 30], "std": 1})
    x = preprocess_image(rgb(src), spec)
    assert x.dtype == np.uint8
    expected = np.array([
        [[3, 3], [4, 4]],            # 3.0, 3.3, 3.6, 3.9 → rounded
        [[200, 230], [255, 255]],    # 200, 230, 260 → 255, 276.2 → 255 (clipped)
        [[0, 0], [30, 45]],          # -30 → 0, -15 → 0 (clipped), 30, 45
    ], dtype=np.uint8)
    np.testing.assert_array_equal(x, expected)


# --------------------------------------------------------------------------- greyscale and F images

def test_greyscale_from_rgb_uses_itu_601_luma():
    src = np.array([[[255, 0, 0], [0, 255, 0]],
                    [[0, 0, 255], [200, 100, 50]]], dtype=np.uint8)
    img = rgb(src)
    spec = spec_of({"color": "L", "scale": 1, "mean": 0, "std": 1})
    x = preprocess_image(img, spec)
    assert x.shape == (1, 2, 2)
    reference = np.asarray(img.convert("L"), dtype=np.float32)
    np.testing.assert_array_equal(x[0], reference)
    # and within rounding of L = R*299/1000 + G*587/1000 + B*114/1000
    luma = src[..., 0] * 0.299 + src[..., 1] * 0.587 + src[..., 2] * 0.114
    np.testing.assert_allclose(x[0], luma, atol=1.0)
    np.testing.assert_allclose(x[0], [[76, 150], [29, 124]], atol=1.0)


def test_greyscale_nhwc_with_single_mean_std():
    spec = spec_of({"color": "grey", "layout": "NHWC", "scale": 1, "mean": [100], "std": [2],
                    "resize": {"mode": "stretch", "size": [4, 4], "interpolation": "nearest"}})
    img = Image.fromarray(np.array([[100, 102], [104, 106]], dtype=np.uint8), mode="L")
    x = preprocess_image(img, spec)
    assert x.shape == (4, 4, 1)
    np.testing.assert_array_equal(x[..., 0], [[0, 0, 1, 1], [0, 0, 1, 1], [2, 2, 3, 3], [2, 2, 3, 3]])


def test_f_mode_image_into_rgb_profile_replicates_grey():
    grey = np.array([[0.5, 1.25], [128.75, 255.0]], dtype=np.float32)
    img = Image.fromarray(grey, mode="F")
    spec = spec_of(raw(resize={"mode": "stretch", "size": [4, 4], "interpolation": "nearest"}))
    x = preprocess_image(img, spec)
    assert x.shape == (3, 4, 4)
    expected = np.repeat(np.repeat(grey, 2, axis=0), 2, axis=1)
    for c in range(3):
        np.testing.assert_array_equal(x[c], expected)


def test_f_mode_image_into_bgr_profile_with_per_channel_mean():
    grey = np.array([[10.5, 20.5]], dtype=np.float32)
    spec = spec_of({"color": "BGR", "scale": 1, "mean": [1, 2, 3], "std": [1, 1, 1]})
    x = preprocess_image(Image.fromarray(grey, mode="F"), spec)
    np.testing.assert_array_equal(x, [[[9.5, 19.5]], [[8.5, 18.5]], [[7.5, 17.5]]])


def test_f_mode_image_into_l_profile_keeps_precision():
    grey = np.array([[0.25, 1.5], [100.125, 254.75]], dtype=np.float32)
    spec = spec_of({"color": "L", "scale": 1, "mean": 0, "std": 1})
    x = preprocess_image(Image.fromarray(grey, mode="F"), spec)
    assert x.shape == (1, 2, 2)
    np.testing.assert_array_equal(x[0], grey)


def test_rgba_and_palette_images_are_converted():
    rgba = Image.fromarray(np.array([[[10, 20, 30, 0], [40, 50, 60, 255]]], dtype=np.uint8), mode="RGBA")
    x = preprocess_image(rgba, spec_of(raw()))
    np.testing.assert_array_equal(x, chw(np.array([[[10, 20, 30], [40, 50, 60]]])))


# --------------------------------------------------------------------------- shape check and profile errors

def test_expected_shape_mismatch_is_a_clear_input_error():
    spec = spec_of(raw(resize={"mode": "stretch", "size": [4, 4], "interpolation": "nearest"}))
    with pytest.raises(InputError) as err:
        preprocess_image(rgb(P22), spec, expected=(3, 224, 224))
    msg = str(err.value)
    assert "3×4×4" in msg
    assert "3×224×224" in msg
    assert "NCHW" in msg
    assert "resize or crop" in msg


def test_expected_shape_channel_mismatch_and_symbolic_dims():
    spec = spec_of(raw(resize={"mode": "stretch", "size": [4, 4], "interpolation": "nearest"}))
    with pytest.raises(InputError, match=r"1×\?×\?"):
        preprocess_image(rgb(P22), spec, expected=(1, "height", "width"))
    # symbolic and unknown dimensions accept anything; matching fixed ones pass
    x = preprocess_image(rgb(P22), spec, expected=(3, "h", "w"))
    assert x.shape == (3, 4, 4)
    x = preprocess_image(rgb(P22), spec, expected=(3, 4, 4))
    assert x.shape == (3, 4, 4)
    x = preprocess_image(rgb(P22), spec, expected=(3, -1, None))
    assert x.shape == (3, 4, 4)


def test_expected_shape_nhwc():
    spec = spec_of(raw(layout="NHWC", resize={"mode": "stretch", "size": [6, 4], "interpolation": "nearest"}))
    assert preprocess_image(rgb(P22), spec, expected=(4, 6, 3)).shape == (4, 6, 3)
    with pytest.raises(InputError, match="4×6×3"):
        preprocess_image(rgb(P22), spec, expected=(6, 4, 3))


def test_example_profile_from_the_contract_parses_and_runs():
    spec = spec_of({"color": "RGB", "layout": "NCHW", "dtype": "float32",
                    "resize": {"mode": "shorter-side", "size": [224, 224], "shorter": 256,
                               "interpolation": "bilinear", "pad": {"anchor": "center", "value": 0}},
                    "crop": [224, 224], "scale": 0.00392156862745098,
                    "mean": [0.485, 0.456, 0.406], "std": [0.229, 0.224, 0.225]})
    img = Image.new("RGB", (320, 240), (124, 116, 104))
    x = preprocess_image(img, spec, expected=(3, 224, 224))
    assert x.shape == (3, 224, 224)
    expected = (np.array([124, 116, 104]) / 255.0 - np.array([0.485, 0.456, 0.406])) / np.array([0.229, 0.224, 0.225])
    np.testing.assert_allclose(x[:, 100, 100], expected, atol=1e-4)


@pytest.mark.parametrize("interp", ["nearest", "bilinear", "bicubic", "lanczos"])
def test_every_interpolation_keeps_a_flat_image_flat(interp):
    img = Image.new("RGB", (5, 3), (40, 80, 120))
    spec = spec_of(raw(resize={"mode": "stretch", "size": [7, 9], "interpolation": interp}))
    x = preprocess_image(img, spec)
    assert x.shape == (3, 9, 7)
    np.testing.assert_allclose(x, np.broadcast_to(np.array([40, 80, 120.0]).reshape(3, 1, 1), x.shape), atol=0.5)


@pytest.mark.parametrize("section, words", [
    ({"color": "RGB", "mean": [1, 2]}, "mean has 2 values"),
    ({"color": "L", "std": [1, 1, 1]}, "std has 3 values"),
    ({"resize": {"mode": "fit", "interpolation": "nearest"}}, "size"),
    ({"resize": {"mode": "shorter-side"}}, "shorter"),
    ({"resize": {"mode": "stretch", "size": [4, 4], "pad": {"anchor": "middle"}}}, "anchor"),
    ({"std": [0]}, "greater than 0"),
    ({"colour": "RGB"}, "did you mean 'color'"),
])
def test_bad_profiles_are_refused_by_name(section, words):
    with pytest.raises(ProfileError, match=words):
        spec_of(section)


# --------------------------------------------------------------------------- properties

@settings(max_examples=60, deadline=None)
@given(src=arrays(np.uint8, st.tuples(st.integers(1, 4), st.integers(1, 4), st.just(3))),
       fy=st.integers(1, 4), fx=st.integers(1, 4), layout=st.sampled_from(["NCHW", "NHWC"]))
def test_property_integer_nearest_stretch_is_np_repeat(src, fy, fx, layout):
    h, w = src.shape[:2]
    spec = spec_of(raw(layout=layout, resize={"mode": "stretch", "size": [w * fx, h * fy], "interpolation": "nearest"}))
    x = preprocess_image(rgb(src), spec)
    expected = up(src, fy, fx).astype(np.float32)
    np.testing.assert_array_equal(x, expected if layout == "NHWC" else chw(expected))


@settings(max_examples=80, deadline=None)
@given(w=st.integers(1, 40), h=st.integers(1, 40), tw=st.integers(1, 24), th=st.integers(1, 24),
       mode=st.sampled_from(["stretch", "fit", "height"]), anchor=st.sampled_from(["center", "top-left"]),
       crop=st.one_of(st.none(), st.tuples(st.integers(1, 30), st.integers(1, 30))))
def test_property_fixed_size_modes_always_give_the_profile_size(w, h, tw, th, mode, anchor, crop):
    section = raw(resize={"mode": mode, "size": [tw, th], "interpolation": "bilinear",
                          "pad": {"anchor": anchor, "value": 7}})
    if crop:
        section["crop"] = list(crop)
    spec = spec_of(section)
    x = preprocess_image(Image.new("RGB", (w, h), (100, 150, 200)), spec)
    ow, oh = crop if crop else (tw, th)
    assert spec.output_size() == (ow, oh)
    assert x.shape == (3, oh, ow)
    # every value is either image content or the pad value
    assert set(np.unique(np.rint(x))) <= {7.0, 100.0, 150.0, 200.0}


@pytest.mark.parametrize("layout", ["NCHW", "NHWC"])
@pytest.mark.parametrize("color,mean,std", [("RGB", [0.485, 0.456, 0.406], [0.229, 0.224, 0.225]),
                                            ("L", [0.5], [0.25]), ("RGB", [0.1], [0.3])])
def test_float32_normalisation_is_bitwise_the_documented_formula(layout, color, mean, std):
    """The in-place float32 path must give exactly (pixel * scale - mean) / std, then the layout."""
    from desktop.engine.preprocess import image_to_array, normalise

    rng = np.random.default_rng(3)
    img = Image.fromarray((rng.random((37, 53, 3)) * 255).astype(np.uint8), "RGB")
    spec = profile_from_dict({"input": "x", "image": {"color": color, "mean": mean, "std": std, "layout": layout,
                                                     "scale": 1 / 255}}).image
    arr = image_to_array(img, spec)
    want = (arr * np.float32(spec.scale) - np.asarray(mean, np.float32)) / np.asarray(std, np.float32)
    if layout == "NCHW":
        want = want.transpose(2, 0, 1)
    got = normalise(arr, spec)
    assert got.dtype == np.float32 and got.flags.c_contiguous
    np.testing.assert_array_equal(got, want)
