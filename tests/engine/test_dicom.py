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


# --------------------------------------------------------------------------- the header's facts
from desktop.engine.inputs.dicomfacts import dicom_facts  # noqa: E402


def test_facts_of_a_ct_keep_the_patient_apart():
    facts = dicom_facts(get_testdata_file("CT_small.dcm"))
    assert facts.facts["Modality"] == "CT"
    assert facts.facts["StudyDate"] == "2004-01-19"
    assert (facts.facts["Rows"], facts.facts["Columns"]) == (128, 128)
    assert facts.facts["PixelSpacing"] == [0.661468, 0.661468]
    assert facts.facts["PhotometricInterpretation"] == "MONOCHROME2"
    assert facts.identifying["PatientName"] == "CompressedSamples CT1"
    assert facts.identifying["PatientID"] == "1CT1"
    assert not set(facts.facts) & set(facts.identifying)
    rows = dict(facts.rows())
    assert rows["Rows × columns"] == "128 × 128"
    assert rows["Pixel spacing"] == "0.661468 × 0.661468 mm"
    assert "Patient name" not in rows
    assert dict(facts.rows(include_identifying=True))["Patient name"] == "CompressedSamples CT1"


def test_facts_give_the_window_and_frames():
    mr = dicom_facts(get_testdata_file("MR_small.dcm"))
    assert (mr.facts["WindowCenter"], mr.facts["WindowWidth"]) == (600.0, 1600.0)
    us = dicom_facts(get_testdata_file("examples_ybr_color.dcm"))
    assert us.facts["Modality"] == "US" and us.facts["NumberOfFrames"] == 30


def test_export_record_leaves_out_identifying_fields_and_dates():
    facts = dicom_facts(get_testdata_file("CT_small.dcm"))
    kept, left_out = facts.record()
    assert kept["Modality"] == "CT"
    assert "StudyDate" not in kept and "PatientName" not in kept and "PatientID" not in kept
    assert {"StudyDate", "PatientName", "PatientID"} <= set(left_out)
    everything, none = facts.record(include_phi=True)
    assert everything["PatientName"] == "CompressedSamples CT1" and everything["StudyDate"] == "2004-01-19"
    assert none == []


def test_malformed_fields_are_left_out(tmp_path):
    raw = open(get_testdata_file("CT_small.dcm"), "rb").read()
    assert raw.count(b"0.661468\\0.661468") == 1 and raw.count(b"20040119") >= 1
    broken = raw.replace(b"0.661468\\0.661468", b"0.66146X\\0.661468").replace(b"20040119", b"2004XX19")
    path = tmp_path / "broken.dcm"
    path.write_bytes(broken)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        facts = dicom_facts(path)
    assert facts is not None
    assert "PixelSpacing" not in facts.facts and "StudyDate" not in facts.facts
    assert facts.facts["Modality"] == "CT"


def test_facts_read_the_header_only(tmp_path):
    """A file cut short inside its pixel data still gives its facts: the pixels are never read."""
    raw = open(get_testdata_file("CT_small.dcm"), "rb").read()
    path = tmp_path / "cut.dcm"
    path.write_bytes(raw[: raw.rindex(b"\xe0\x7f\x10\x00") + 64])
    assert dicom_facts(path).facts["Modality"] == "CT"


def test_a_frames_facts_are_that_frames(tmp_path):
    """A frame's item of an Enhanced CT: its number, its position and spacing from the functional groups, the
    window used; none of it in an export's record."""
    from tests.cli.test_dicom_multiframe_results import enhanced_ct

    path = enhanced_ct(tmp_path / "enhanced.dcm")
    facts = dicom_facts(f"{path}#frame=3", window="lung")
    assert facts.item["Frame"] == "3 of 4"
    assert facts.item["ImagePositionPatient"] == [0.0, 0.0, 20.0]  # the third frame's PlanePositionSequence
    assert facts.facts["PixelSpacing"] == pytest.approx([0.661468, 0.661468])  # the shared PixelMeasuresSequence
    assert facts.item["Window"] == "lung: level -600, width 1500"
    assert "SliceLocation" not in facts.item  # the file's, not the frame's
    rows = dict(facts.rows())
    assert rows["Frame"] == "3 of 4" and rows["Position (patient)"] == "x 0, y 0, z 20 mm"
    assert rows["Slice thickness"] == "5 mm" and rows["Instance"] == "1" and "Frames" not in rows
    labels = [label for label, _ in facts.rows()]
    assert labels[:3] == ["Modality", "Series number", "Instance"]  # what a clinician checks first
    kept, _ = facts.record(include_phi=True)
    assert not {"Frame", "ImagePositionPatient", "Window", "SeriesDescription"} & set(kept)


def test_the_window_used_in_words():
    ct = get_testdata_file("CT_small.dcm")  # no stored window
    mr = get_testdata_file("MR_small.dcm")  # 600/1600
    from desktop.engine.inputs.windowing import Window

    assert dicom_facts(ct, window=None).item["Window"] == "none: the frame's full range"
    assert dicom_facts(mr, window=None).item["Window"] == "the file's: level 600, width 1600"
    assert dicom_facts(mr, window="none").item["Window"] == "none: the frame's full range"
    assert dicom_facts(mr, window=Window(50, 350, "SIGMOID")).item["Window"] == \
        "the profile's: level 50, width 350 (SIGMOID)"
    assert dicom_facts(get_testdata_file("examples_ybr_color.dcm"), window="bone").item["Window"] == \
        "none: a colour image is shown as stored"
    assert "Window" not in dicom_facts(mr).item  # not asked: the export's reading
    rows = [label for label, _ in dicom_facts(mr, window=None).rows()]
    assert rows.index("Window used") == rows.index("Window width") + 1
    single = dicom_facts(ct).item
    assert single["SliceLocation"] == pytest.approx(-77.2040634155) and "Frame" not in single
    assert dict(dicom_facts(ct).rows())["Slice location"] == "-77.2041 mm"


def test_facts_of_what_is_not_dicom_are_none(tmp_path):
    text = tmp_path / "notes.dcm"
    text.write_bytes(b"hello, not a DICOM file\n" * 8)
    empty = tmp_path / "empty.dcm"
    empty.write_bytes(b"")
    assert dicom_facts(text) is None
    assert dicom_facts(empty) is None
    assert dicom_facts(tmp_path / "missing.dcm") is None
    assert dicom_facts(tmp_path) is None  # a folder


# --------------------------------------------------------------------------- the facts in exports
import io  # noqa: E402
import json  # noqa: E402

from desktop.engine import writers  # noqa: E402
from desktop.engine.resultbatch import ResultBatch  # noqa: E402


def _dicom_batch(path):
    return ResultBatch.failed("classification", 0, str(path), "dicom", "not scored: a test")


@pytest.mark.parametrize("fmt", ["jsonl", "json"])
def test_export_records_carry_facts_without_the_patient(fmt):
    options = writers.RecordOptions()
    out = io.StringIO()
    writers.export([_dicom_batch(get_testdata_file("CT_small.dcm"))], out, fmt, options=options)
    text = out.getvalue()
    rec = json.loads(text)["results"][0] if fmt == "json" else json.loads(text)
    assert rec["dicom"]["Modality"] == "CT"
    assert "PatientName" not in rec["dicom"] and "StudyDate" not in rec["dicom"]
    assert "CompressedSamples" not in text
    assert {"PatientName", "PatientID", "StudyDate"} <= set(options.left_out)


def test_export_include_phi_and_csv():
    batch = _dicom_batch(get_testdata_file("CT_small.dcm"))
    options = writers.RecordOptions(include_phi=True)
    out = io.StringIO()
    writers.export([batch], out, "jsonl", options=options)
    assert json.loads(out.getvalue())["dicom"]["PatientName"] == "CompressedSamples CT1"
    assert not options.left_out
    csv_out, image_csv = io.StringIO(), io.StringIO()
    writers.export([batch], csv_out, "csv", options=writers.RecordOptions(include_phi=True))
    writers.export([ResultBatch.failed("classification", 0, "a.png", "image", "x")], image_csv, "csv")
    assert csv_out.getvalue().splitlines()[0] == image_csv.getvalue().splitlines()[0]  # no DICOM columns
    assert "CompressedSamples" not in csv_out.getvalue() and "MONOCHROME2" not in csv_out.getvalue()


def test_export_of_a_dicom_file_gone_has_no_facts(tmp_path):
    gone = tmp_path / "moved.dcm"
    out = io.StringIO()
    options = writers.RecordOptions()
    writers.export([_dicom_batch(gone)], out, "jsonl", options=options)
    assert "dicom" not in json.loads(out.getvalue()) and not options.left_out


def test_process_writer_leaves_out_the_patient_and_says_what(tmp_path):
    path = tmp_path / "out.jsonl"
    options = writers.RecordOptions()
    writer = writers.ProcessWriter("jsonl", path, options=options)
    writer.write(_dicom_batch(get_testdata_file("CT_small.dcm")))
    writer.close()
    rec = json.loads(path.read_text())
    assert rec["dicom"]["Modality"] == "CT" and "PatientID" not in rec["dicom"]
    assert "PatientID" in options.left_out
