"""torch's F.interpolate and TensorFlow's tf.image.resize (no antialias), written out from their formulas, against
the profile combinations the README names as their equivalents (neither library is installed)."""

from __future__ import annotations

import math

import numpy as np
import pytest
from PIL import Image

from desktop.engine.preprocess import image_to_array
from desktop.engine.profile import profile_from_dict


def _weights(n_in, n_out, taps):
    """The (n_out, n_in) matrix of one axis: ``taps(d, scale)`` gives (index, weight) pairs for output pixel d."""
    w = np.zeros((n_out, n_in))
    for d in range(n_out):
        for i, v in taps(d, n_in / n_out):
            w[d, i] += v
    return w


def torch_bilinear(n_in, n_out):
    """aten/src/ATen/native/UpSample.h, align_corners=False: ``area_pixel_compute_source_index`` clamps a
    negative source to 0, then ``guard_index_and_lambda``: i0 = floor(src), i1 = i0 + (i0 < in - 1)."""
    def taps(d, s):
        src = max((d + 0.5) * s - 0.5, 0.0)
        i0 = int(math.floor(src))
        i1 = i0 + (1 if i0 < n_in - 1 else 0)
        return [(i0, 1 - (src - i0)), (i1, src - i0)]
    return _weights(n_in, n_out, taps)


def tf_bilinear(n_in, n_out):
    """tensorflow/core/kernels/image/resize_bilinear_op.cc, half_pixel_centers=True (tf.image.resize's
    default without antialias): in = (d + 0.5) * s - 0.5, lower = max(floor(in), 0),
    upper = min(ceil(in), in_size - 1), lerp = in - floor(in)."""
    def taps(d, s):
        x = (d + 0.5) * s - 0.5
        lerp = x - math.floor(x)
        return [(max(int(math.floor(x)), 0), 1 - lerp), (min(int(math.ceil(x)), n_in - 1), lerp)]
    return _weights(n_in, n_out, taps)


def _cubic(x, a):
    x = abs(x)
    if x <= 1:
        return ((a + 2) * x - (a + 3)) * x * x + 1
    return (((x - 5) * x + 8) * x - 4) * a if x < 2 else 0.0


def torch_bicubic(n_in, n_out):
    """UpSampleBicubic2d, align_corners=False: the source is not clamped, A = -0.75, the four taps'
    indices clamped to the border (``upsample_get_value_bounded``)."""
    def taps(d, s):
        src = (d + 0.5) * s - 0.5
        i = int(math.floor(src))
        return [(min(max(i + k, 0), n_in - 1), _cubic(k - (src - i), -0.75)) for k in range(-1, 3)]
    return _weights(n_in, n_out, taps)


def tf_bicubic(n_in, n_out):
    """resize_bicubic_op.cc with half_pixel_centers: Keys' kernel with a = -0.5; taps outside the image get
    no weight and the rest are renormalised to sum to 1."""
    def taps(d, s):
        src = (d + 0.5) * s - 0.5
        i = int(math.floor(src))
        ws = [(i + k, _cubic(k - (src - i), -0.5)) for k in range(-1, 3) if 0 <= i + k < n_in]
        total = sum(v for _, v in ws)
        return [(j, v / total) for j, v in ws]
    return _weights(n_in, n_out, taps)


def torch_nearest(n_in, n_out):
    """UpSampleNearest2d ('nearest', not 'nearest-exact'): src = min(floor(d * scale), in - 1), scale a float32."""
    def taps(d, s):
        return [(min(int(math.floor(np.float32(d) * np.float32(s))), n_in - 1), 1.0)]
    return _weights(n_in, n_out, taps)


def _reference(img, formula, size):
    a = np.asarray(img, dtype=np.float64)
    wy, wx = formula(a.shape[0], size[1]), formula(a.shape[1], size[0])
    return np.stack([wy @ a[:, :, c] @ wx.T for c in range(a.shape[2])], axis=2)


@pytest.fixture(scope="module")
def img():
    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[0:121, 0:161]
    base = 127 + 60 * np.sin(xx / 9.0) + 50 * np.cos(yy / 6.0)
    return Image.fromarray(np.clip(base[..., None] + rng.normal(0, 20, (121, 161, 3)), 0, 255).astype(np.uint8))


def _ours(img, size, interpolation, library="opencv", output="float"):
    p = profile_from_dict({"image": {"resize": {"mode": "stretch", "size": list(size), "library": library,
                                                "interpolation": interpolation, "output": output}}})
    return image_to_array(img, p.image).astype(np.float64)


SIZES = [(40, 30), (57, 44), (322, 243)]  # 4x and odd downscales, a 2x upscale


@pytest.mark.parametrize("size", SIZES)
@pytest.mark.parametrize("formula,interpolation", [(torch_bilinear, "linear"), (tf_bilinear, "linear"),
                                                   (torch_bicubic, "cubic"), (torch_nearest, "nearest")])
def test_opencv_with_float_output_is_torch_and_tf_without_antialias(img, size, formula, interpolation):
    diff = np.abs(_ours(img, size, interpolation) - _reference(img, formula, size))
    assert diff.max() < 1e-3  # float32 arithmetic only (measured: at most 6e-5 of a grey level)
    # rounding to 8 bits, as a uint8 output does, is what sets them apart
    assert np.abs(_ours(img, size, interpolation, output="uint8") - _reference(img, formula, size)).max() < 32


@pytest.mark.parametrize("size", SIZES)
def test_tf_bicubic_is_pillow_bicubic_in_floats_only_when_enlarging(img, size):
    want = _reference(img, tf_bicubic, size)
    pillow = np.abs(_ours(img, size, "bicubic", library="pillow") - want)
    opencv = np.abs(_ours(img, size, "cubic") - want)
    if size[0] > img.size[0]:  # Pillow's bicubic is Keys' a = -0.5 with renormalised edges: TF's, when enlarging
        assert pillow.max() < 1e-3
    else:  # shrinking, Pillow antialiases and TF does not; OpenCV's a = -0.75 is the nearer, and still differs
        assert pillow.mean() > 1 and opencv.mean() < pillow.mean()
    assert opencv.max() > 1  # no combination is TF's bicubic in every case
