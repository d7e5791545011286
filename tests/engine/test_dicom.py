"""DICOM: colour files decode to the RGB pydicom gives, once converted; the header's facts."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

pydicom = pytest.importorskip("pydicom")
from pydicom.data import get_testdata_file, get_testdata_files  # noqa: E402
from pydicom.pixels import pixel_array  # noqa: E402

from desktop.engine.inputs.images import decode_dicom  # noqa: E402
from desktop.engine.preprocess import preprocess_image  # noqa: E402
from desktop.engine.profile import ImageSpec  # noqa: E402

#: the model sees the pixels as they are: RGB, channels last, no resize, no scaling
AS_IS = ImageSpec(color="RGB", layout="NHWC", dtype="float32", scale=1.0)


def _colour_files() -> list:
    """(name, path, pydicom's first frame in RGB) of every colour file shipped with pydicom that decodes here."""
    found = []
    for path in get_testdata_files():  # the wheel's own files: a pattern would look online too
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                ds = pydicom.dcmread(path, stop_before_pixels=True)
                if ds.get("SamplesPerPixel") != 3:
                    continue
                expected = pixel_array(path, index=0, as_rgb=True)
        except Exception:  # noqa: BLE001 - a codec this environment lacks, or a file broken on purpose
            continue
        found.append((path.replace("\\", "/").rsplit("/", 1)[-1], path, expected))
    return found


COLOUR = _colour_files()


def test_enough_colour_files_decode_here():
    names = {name for name, _, _ in COLOUR}
    assert "examples_ybr_color.dcm" in names
    assert len(names) >= 8, names


@pytest.mark.parametrize("name,path,expected", [c for c in COLOUR if c[2].dtype == np.uint8],
                         ids=[c[0] for c in COLOUR if c[2].dtype == np.uint8])
def test_colour_dicom_is_pydicoms_rgb(name, path, expected):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        img = decode_dicom(path)
    assert img.mode == "RGB"
    np.testing.assert_array_equal(np.asarray(img), expected)
    tensor = preprocess_image(img, AS_IS)  # what the model is fed
    np.testing.assert_array_equal(tensor, expected.astype(np.float32))


def test_ybr_ultrasound_is_not_green():
    """examples_ybr_color.dcm is a dark ultrasound: converting it to RGB twice made it bright green."""
    img = np.asarray(decode_dicom(get_testdata_file("examples_ybr_color.dcm")), dtype=np.float64)
    r, g, b = img.reshape(-1, 3).mean(axis=0)
    assert abs(g - r) < 5 and abs(g - b) < 5, (r, g, b)


@pytest.mark.parametrize("name", ["SC_rgb_rle_16bit.dcm", "SC_rgb_rle_32bit.dcm"])
def test_deep_colour_dicom_scaled_to_8_bits(name):
    """16- and 32-bit RGB are scaled to 0-255 over BitsStored, where their low byte was kept."""
    path = get_testdata_file(name)
    expected = pixel_array(path, index=0, as_rgb=True).astype(np.float64)
    top = 2.0 ** pydicom.dcmread(path, stop_before_pixels=True).BitsStored - 1
    got = np.asarray(decode_dicom(path))
    assert got.dtype == np.uint8
    np.testing.assert_array_equal(got, np.rint(expected / top * 255).astype(np.uint8))
