"""image.resize.library opencv is cv2.resize itself; each library takes its own interpolation names only."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from desktop.engine.errors import ProfileError
from desktop.engine.model import model_warnings
from desktop.engine.preprocess import image_to_array
from desktop.engine.profile import profile_from_dict

cv2 = pytest.importorskip("cv2")

CV2_FLAGS = {"nearest": cv2.INTER_NEAREST, "linear": cv2.INTER_LINEAR, "cubic": cv2.INTER_CUBIC,
             "area": cv2.INTER_AREA, "lanczos4": cv2.INTER_LANCZOS4}
# (source w, h) -> (target w, h): down, up, odd, both ways at once, to a few pixels
SIZES = [((1000, 563), (224, 224)), ((37, 23), (224, 96)), ((640, 480), (3, 5)), ((641, 479), (160, 120)),
         ((50, 300), (200, 75))]


def _photo(w, h, color="RGB", seed=0):
    """A sharp, noisy image (edges and noise are where the kernels differ)."""
    rng = np.random.default_rng(seed)
    a = rng.integers(0, 256, size=(h, w, 3), dtype=np.uint8)
    a[h // 3: h // 2, :, :] = 255  # a hard edge
    img = Image.fromarray(a, "RGB")
    return img.convert("L") if color == "L" else img


def _spec(size, interpolation, library="opencv", color="RGB", **extra):
    resize = {"mode": "stretch", "size": list(size), "interpolation": interpolation, **extra}
    if library is not None:
        resize["library"] = library
    return profile_from_dict({"image": {"color": color, "resize": resize}}).image


def _cv2_input(img, color):
    """The decoded image as cv2 would be given it: uint8 (H, W, C) in the profile's colour order, or (H, W) grey."""
    a = np.asarray(img)
    return np.ascontiguousarray(a[:, :, ::-1]) if color == "BGR" else a


@pytest.mark.parametrize("interp", list(CV2_FLAGS))
@pytest.mark.parametrize("src,dst", SIZES)
@pytest.mark.parametrize("color", ["RGB", "BGR", "L"])
def test_opencv_library_is_cv2_resize_bit_for_bit(interp, src, dst, color):
    img = _photo(*src, color=color)
    got = image_to_array(img, _spec(dst, interp, color=color))
    want = cv2.resize(_cv2_input(img, color), dst, interpolation=CV2_FLAGS[interp])
    if want.ndim == 2:
        want = want[:, :, None]
    assert got.shape == want.shape
    np.testing.assert_array_equal(got, want.astype(np.float32))


def test_opencv_is_not_pillow_at_a_4x_downscale():
    """What the library changes: Pillow antialiases a 4× shrink, OpenCV's linear samples 2×2 pixels."""
    img = _photo(896, 896)
    cv = image_to_array(img, _spec((224, 224), "linear"))
    pil = image_to_array(img, _spec((224, 224), "bilinear", library="pillow"))
    diff = np.abs(cv - pil)
    assert diff.mean() > 4 and diff.max() > 100


@pytest.mark.parametrize("library,name,words", [
    ("pillow", "area", "'area' is OpenCV's INTER_AREA: set image.resize.library to opencv, or use Pillow's 'box', "
                       "which equals it only at integer factors"),
    ("pillow", "linear", "OpenCV's INTER_LINEAR"),
    ("pillow", "cubic", "OpenCV's INTER_CUBIC"),
    ("pillow", "lanczos4", "OpenCV's INTER_LANCZOS4"),
    (None, "lanczos4", "OpenCV's INTER_LANCZOS4"),  # never a Pillow name, so refused without a library too
    ("opencv", "bilinear", "OpenCV's is 'linear'"),
    ("opencv", "bicubic", "OpenCV's is 'cubic'"),
    ("opencv", "lanczos", "OpenCV's is 'lanczos4'"),
    ("opencv", "box", "OpenCV's 'area' (INTER_AREA) equals it only at integer factors"),
    ("opencv", "fancy", "must be one of nearest, linear, cubic, area, lanczos4 under library opencv"),
])
def test_the_other_librarys_names_are_refused_saying_which_does_what(library, name, words):
    with pytest.raises(ProfileError) as exc:
        _spec((224, 224), name, library=library)
    assert words in str(exc.value)


@pytest.mark.parametrize("old,new", [("linear", "bilinear"), ("cubic", "bicubic"), ("area", "box")])
def test_old_aliases_load_as_before_with_a_note(old, new):
    raw = lambda name: {"task": "classification", "image": {  # noqa: E731
        "resize": {"mode": "stretch", "size": [224, 96], "interpolation": name}}}
    old_p, new_p = profile_from_dict(raw(old)), profile_from_dict(raw(new))
    assert old_p.image == new_p.image and old_p.sha256() == new_p.sha256()
    img = _photo(1000, 563)
    np.testing.assert_array_equal(image_to_array(img, old_p.image), image_to_array(img, new_p.image))
    assert not new_p.notes
    (note,) = old_p.notes
    assert f"'{old}' is read as Pillow's '{new}'" in note and "deprecated" in note

    class Info:  # what model_warnings reads of a ModelInfo
        warnings = ()
    assert note in model_warnings(Info(), old_p)


def test_the_default_library_leaves_the_profile_and_its_hash_as_they_were():
    raw = {"image": {"resize": {"mode": "fit", "size": [640, 640], "interpolation": "bilinear"}}}
    p = profile_from_dict(raw)
    assert p.image.resize.library == "pillow"
    assert set(p.to_dict()["image"]["resize"]) == {"mode", "size", "interpolation", "pad"}
    cv = profile_from_dict({"image": {"resize": {**raw["image"]["resize"], "library": "opencv",
                                                 "interpolation": "linear"}}})
    assert cv.to_dict()["image"]["resize"]["library"] == "opencv"
    assert profile_from_dict(cv.to_dict()) == cv


def test_opencv_float_output_is_cv2_on_float_pixels():
    img = _photo(1000, 563)
    got = image_to_array(img, _spec((224, 224), "cubic", output="float"))
    want = cv2.resize(np.asarray(img).astype(np.float32), (224, 224), interpolation=cv2.INTER_CUBIC)
    np.testing.assert_array_equal(got, want)
    assert not np.array_equal(got, np.rint(got))  # not rounded to 8 bits


def test_pillow_float_output_is_each_band_resized_in_floats():
    img = _photo(1000, 563)
    got = image_to_array(img, _spec((224, 224), "bicubic", library="pillow", output="float"))
    want = np.stack([np.asarray(b.convert("F").resize((224, 224), Image.Resampling.BICUBIC)) for b in img.split()], 2)
    np.testing.assert_array_equal(got, want)
    assert not np.array_equal(got, np.rint(got))
    eight_bit = image_to_array(img, _spec((224, 224), "bicubic", library="pillow"))
    # the 8-bit resize is the float one clipped (bicubic overshoots at the edge) and rounded after each of
    # Pillow's two passes, so within one grey level
    assert np.array_equal(eight_bit, np.rint(eight_bit))
    assert 0.5 < np.abs(np.clip(got, 0, 255) - eight_bit).max() < 1.0
