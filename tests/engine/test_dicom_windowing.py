"""DICOM windowing checked against pydicom (modality LUT, VOI per PS3.3 C.11.2.1.2, MONOCHROME1), and compressed files."""

from __future__ import annotations

import copy
import warnings

import numpy as np
import pytest

pydicom = pytest.importorskip("pydicom")
from pydicom.data import get_testdata_files  # noqa: E402
from pydicom.pixels import apply_modality_lut, apply_voi_lut, pixel_array  # noqa: E402

from desktop.engine.errors import InputError  # noqa: E402
from desktop.engine.inputs.images import decode_dicom  # noqa: E402
from desktop.engine.inputs.windowing import WINDOW_PRESETS, Window, voi_window  # noqa: E402
from desktop.engine.profile import ProfileError, profile_from_dict  # noqa: E402


def local(name: str) -> str:
    found = [p for p in get_testdata_files() if p.replace("\\", "/").rsplit("/", 1)[-1] == name]
    if not found:
        pytest.skip(f"{name} is not among pydicom's installed test files")
    return found[0]


def output_range(ds) -> tuple:
    """The output range pydicom's apply_windowing maps onto (its y_min, y_max)."""
    if ds.get("ModalityLUTSequence"):
        return 0.0, 2.0 ** ds.ModalityLUTSequence[0].LUTDescriptor[2] - 1
    if ds.PixelRepresentation == 0:
        lo, hi = 0.0, 2.0 ** ds.BitsStored - 1
    else:
        lo, hi = -(2.0 ** (ds.BitsStored - 1)), 2.0 ** (ds.BitsStored - 1) - 1
    if "RescaleSlope" in ds and "RescaleIntercept" in ds:
        lo, hi = lo * float(ds.RescaleSlope) + float(ds.RescaleIntercept), hi * float(ds.RescaleSlope) + float(
            ds.RescaleIntercept)
    return lo, hi


def pydicoms_grey(ds, center=None, width=None, function=None) -> np.ndarray:
    """What pydicom gives for the first frame, on 0-255: apply_modality_lut, then apply_voi_lut with the
    window given (else the file's own), then MONOCHROME1 inverted."""
    ds = copy.deepcopy(ds)
    if center is not None:
        ds.WindowCenter, ds.WindowWidth = center, width
    if function is not None:
        ds.VOILUTFunction = function
    arr = pixel_array(ds, index=0)
    values = apply_voi_lut(apply_modality_lut(arr, ds), ds, index=0)
    lo, hi = output_range(ds)
    grey = (np.asarray(values, dtype=np.float64) - lo) / (hi - lo) * 255.0
    if ds.PhotometricInterpretation == "MONOCHROME1":
        grey = 255.0 - grey
    return grey


def _windowed_files() -> list:
    """(name, path) of the grey files pydicom ships that carry their own window and decode here."""
    out = []
    for path in get_testdata_files():
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                ds = pydicom.dcmread(path)
                if ds.get("SamplesPerPixel", 1) != 1 or "WindowCenter" not in ds or "VOILUTSequence" in ds:
                    continue
                if int(ds.get("NumberOfFrames", 1) or 1) != 1:
                    continue
                pixel_array(ds, index=0)
        except Exception:  # noqa: BLE001 - a file broken on purpose, or a codec not here
            continue
        out.append((path.replace("\\", "/").rsplit("/", 1)[-1], path))
    return out


WINDOWED = _windowed_files()


def test_enough_windowed_files():
    names = {n for n, _ in WINDOWED}
    assert {"MR_small.dcm", "6278"} <= names, names  # 6278: a MONOCHROME1 CR
    assert len(WINDOWED) >= 20


@pytest.mark.parametrize("name,path", WINDOWED, ids=[f"{n}-{i}" for i, (n, _) in enumerate(WINDOWED)])
def test_file_window_is_pydicoms(name, path):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ds = pydicom.dcmread(path)
        got = np.asarray(decode_dicom(path), dtype=np.float64)
        expected = pydicoms_grey(ds)
    np.testing.assert_allclose(got, expected, atol=2e-3)


def test_monochrome1_is_inverted_after_the_window():
    path = local("6278")
    ds = pydicom.dcmread(path)
    assert ds.PhotometricInterpretation == "MONOCHROME1"
    got = np.asarray(decode_dicom(path), dtype=np.float64)
    flipped = copy.deepcopy(ds)
    flipped.PhotometricInterpretation = "MONOCHROME2"
    np.testing.assert_allclose(got, 255.0 - pydicoms_grey(flipped), atol=2e-3)


@pytest.mark.parametrize("function", ["LINEAR", "LINEAR_EXACT", "SIGMOID"])
def test_voi_functions_follow_the_standard(tmp_path, function):
    ds = pydicom.dcmread(local("CT_small.dcm"))
    ds.WindowCenter, ds.WindowWidth, ds.VOILUTFunction = 40, 400, function
    path = tmp_path / "ct.dcm"
    ds.save_as(path)
    got = np.asarray(decode_dicom(path), dtype=np.float64)
    np.testing.assert_allclose(got, pydicoms_grey(ds), atol=2e-3)


@pytest.mark.parametrize("preset", sorted(WINDOW_PRESETS))
def test_presets_are_pydicoms_window(preset):
    path = local("CT_small.dcm")
    ds = pydicom.dcmread(path)
    center, width = WINDOW_PRESETS[preset]
    got = np.asarray(decode_dicom(path, window=preset), dtype=np.float64)
    np.testing.assert_allclose(got, pydicoms_grey(ds, center, width), atol=2e-3)


def test_preset_values():
    assert WINDOW_PRESETS == {"lung": (-600.0, 1500.0), "soft-tissue": (40.0, 400.0), "bone": (480.0, 2500.0),
                              "brain": (40.0, 80.0)}


def test_explicit_window_and_none():
    path = local("MR_small.dcm")
    ds = pydicom.dcmread(path)
    got = np.asarray(decode_dicom(path, window=Window(300, 500, "SIGMOID")), dtype=np.float64)
    np.testing.assert_allclose(got, pydicoms_grey(ds, 300, 500, "SIGMOID"), atol=2e-3)
    full = np.asarray(decode_dicom(path, window="none"), dtype=np.float64)
    values = apply_modality_lut(pixel_array(ds), ds).astype(np.float64)
    np.testing.assert_allclose(full, (values - values.min()) / (values.max() - values.min()) * 255, atol=2e-3)


def test_voi_window_edges():
    x = np.array([-1000.0, 39.0, 39.5, 40.0, 1000.0])
    linear = voi_window(x, Window(40, 1))  # width 1: a threshold at center - 0.5
    np.testing.assert_array_equal(linear, [0, 0, 0, 255, 255])
    with pytest.raises(ValueError, match="at least 1"):
        voi_window(x, Window(40, 0.5))
    with pytest.raises(ValueError, match="over 0"):
        voi_window(x, Window(40, 0, "SIGMOID"))


def test_profile_dicom_section():
    p = profile_from_dict({"task": "classification", "dicom": {
        "series": {"Modality": "CT", "ImageType": ["ORIGINAL", "PRIMARY"]}, "frames": "1-10", "window": "Lung"}})
    assert p.dicom.window == "lung" and p.dicom.frames == "1-10"
    assert p.dicom.rule == {"Modality": ["CT"], "ImageType": ["ORIGINAL", "PRIMARY"]}
    assert p.to_dict()["dicom"] == {"series": {"Modality": "CT", "ImageType": ["ORIGINAL", "PRIMARY"]},
                                    "frames": "1-10", "window": "lung"}
    assert profile_from_dict(p.to_dict()) == p
    custom = profile_from_dict({"dicom": {"window": {"center": 40, "width": 400, "function": "sigmoid"}}})
    assert custom.dicom.window == Window(40.0, 400.0, "SIGMOID")
    assert custom.to_dict()["dicom"] == {"window": {"center": 40.0, "width": 400.0, "function": "SIGMOID"}}
    # "file" is the default, written as nothing
    assert profile_from_dict({"dicom": {"window": "file"}}).to_dict()["dicom"] == {}


def test_profile_without_dicom_keeps_its_hash():
    raw = {"input": "x", "task": "classification", "labels": ["a", "b"]}
    assert "dicom" not in profile_from_dict(raw).to_dict()
    assert profile_from_dict(raw).sha256() == profile_from_dict(dict(raw)).sha256()
    assert profile_from_dict({**raw, "dicom": {"window": "lung"}}).sha256() != profile_from_dict(raw).sha256()


@pytest.mark.parametrize("dicom,message", [
    ({"window": "lungs2"}, "dicom.window must be one of file, none, lung, soft-tissue, bone, brain"),
    ({"window": {"center": 40}}, 'dicom.window needs both "center" and "width"'),
    ({"window": {"center": 40, "width": 0.5}}, "dicom.window.width must be at least 1 for a LINEAR window"),
    ({"frames": "10-2"}, "dicom.frames the range ends before it starts"),
    ({"frames": True}, 'dicom.frames must be a range such as "1-10"'),
    ({"series": {"Modaliti": "CT"}}, "unknown key 'dicom.series.Modaliti' (did you mean 'Modality'?)"),
    ({"series": {"Modality": ""}}, "dicom.series.Modality must be a text or a list of texts"),
    ({"series": "CT"}, "dicom.series must be an object of DICOM keywords"),
    ({"windows": "lung"}, "unknown key 'dicom.windows' (did you mean 'window'?)"),
    ("lung", "dicom must be an object like"),
])
def test_profile_dicom_errors(dicom, message):
    with pytest.raises(ProfileError) as info:
        profile_from_dict({"dicom": dicom})
    assert message in str(info.value)


# --------------------------------------------------------------------------- compressed transfer syntaxes
@pytest.mark.parametrize("name", ["MR_small_jpeg_ls_lossless.dcm", "MR_small_jp2klossless.dcm", "MR_small_RLE.dcm"])
def test_lossless_compressed_is_the_uncompressed_image(name):
    """JPEG-LS, JPEG 2000 (lossless) and RLE copies of MR_small decode to MR_small itself."""
    np.testing.assert_array_equal(np.asarray(decode_dicom(local(name))), np.asarray(decode_dicom(local("MR_small.dcm"))))


def test_12_bit_jpeg_decodes():
    path = local("JPGExtended.dcm")  # JPEG Extended (Process 2 and 4), 12 bits stored
    ds = pydicom.dcmread(path)
    assert ds.file_meta.TransferSyntaxUID == "1.2.840.10008.1.2.4.51" and ds.BitsStored == 12
    got = np.asarray(decode_dicom(path), dtype=np.float64)
    values = apply_modality_lut(pixel_array(ds), ds).astype(np.float64)
    np.testing.assert_allclose(got, (values - values.min()) / (values.max() - values.min()) * 255, atol=2e-3)


def test_jpeg_2000_lossy_decodes():
    path = local("693_J2KI.dcm")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ds = pydicom.dcmread(path)
        got = np.asarray(decode_dicom(path), dtype=np.float64)
        np.testing.assert_allclose(got, pydicoms_grey(ds), atol=2e-3)


def test_undecodable_syntax_is_named(tmp_path):
    """A file no installed plugin can decode: the message names the transfer syntax and its UID."""
    with pytest.raises(InputError) as info:
        decode_dicom(local("JPEG-lossy.dcm"))  # a broken 12-bit JPEG that neither pylibjpeg nor Pillow reads
    assert str(info.value).startswith("JPEG-lossy.dcm: JPEG Extended (Process 2 and 4) (1.2.840.10008.1.2.4.51) "
                                      "cannot be decoded: ")
    ds = pydicom.dcmread(local("MR_small_jpeg_ls_lossless.dcm"))
    ds.file_meta.TransferSyntaxUID = "1.2.840.10008.1.2.4.100"  # MPEG2: no pixel plugin decodes video
    ds.save_as(tmp_path / "video.dcm")
    with pytest.raises(InputError, match=r"^video\.dcm: MPEG2 Main Profile / Main Level \(1\.2\.840\.10008\.1\.2\.4"
                                         r"\.100\) cannot be decoded: "):
        decode_dicom(tmp_path / "video.dcm")


def test_the_compressed_syntaxes_have_a_plugin():
    """pydicom finds pylibjpeg's decoders (a runtime dependency, collected by build.spec) for each syntax."""
    from pydicom.pixels import decoders

    for decoder in (decoders.JPEGExtended12BitDecoder, decoders.JPEGLosslessSV1Decoder, decoders.JPEGLSLosslessDecoder,
                    decoders.JPEG2000LosslessDecoder, decoders.JPEG2000Decoder, decoders.RLELosslessDecoder):
        assert "pylibjpeg" in decoder.available_plugins, (decoder.UID.name, decoder.available_plugins)
