"""DICOM inputs in exports: records carry the header's facts, the patient-identifying ones only with --include-phi."""

from __future__ import annotations

import csv
import io
import json
import shutil

import pytest

pydicom = pytest.importorskip("pydicom")
from pydicom.data import get_testdata_file  # noqa: E402

from desktop.cli import main  # noqa: E402
from tests.conftest import MODELS, SAMPLES  # noqa: E402

MODEL = str(MODELS / "digits.onnx")
IDENTIFYING = {"PatientName", "PatientID", "StudyDate", "StudyID", "StudyInstanceUID", "InstitutionName"}


@pytest.fixture
def inputs(tmp_path):
    ct = tmp_path / "ct.dcm"
    shutil.copyfile(get_testdata_file("CT_small.dcm"), ct)
    png = tmp_path / "digit.png"
    shutil.copyfile(SAMPLES / "digits" / "digit_7_1496.png", png)
    return str(ct), str(png)


def _jsonl(text):
    return [json.loads(line) for line in text.splitlines() if line.strip()]


def _run_id(capsys):
    assert main(["history", "--json"]) == 0
    return json.loads(capsys.readouterr().out)[0]["id"]


def test_score_leaves_out_patient_fields_and_says_so(capsys, inputs):
    ct, png = inputs
    main(["score", MODEL, ct, png])
    out, err = capsys.readouterr()
    by_input = {r["input"]: r for r in _jsonl(out)}
    dicom = by_input[ct]["dicom"]
    assert dicom["Modality"] == "CT" and dicom["Rows"] == 128 and dicom["PixelSpacing"] == [0.661468, 0.661468]
    assert not IDENTIFYING & set(dicom), dicom
    assert "CompressedSamples" not in out and "1CT1" not in out and "2004-01-19" not in out
    assert "dicom" not in by_input[png]  # an image's record is as it was
    line = next(x for x in err.splitlines() if x.startswith("Left out patient-identifying DICOM fields: "))
    assert "PatientName" in line and "PatientID" in line and "StudyDate" in line
    assert line.endswith("(use --include-phi to keep them)")


def test_score_include_phi_keeps_them(capsys, inputs, tmp_path):
    ct, _ = inputs
    out = tmp_path / "res.json"
    main(["score", MODEL, ct, "--format", "json", "--out", str(out), "--include-phi"])
    err = capsys.readouterr().err
    dicom = json.loads(out.read_text())["results"][0]["dicom"]
    assert dicom["PatientName"] == "CompressedSamples CT1" and dicom["PatientID"] == "1CT1"
    assert dicom["StudyDate"] == "2004-01-19" and dicom["Modality"] == "CT"
    assert "Left out" not in err


def test_history_export_leaves_out_patient_fields_unless_asked(capsys, inputs, tmp_path):
    ct, png = inputs
    main(["score", MODEL, ct, png, "-q"])
    capsys.readouterr()
    run_id = _run_id(capsys)

    plain = tmp_path / "plain.jsonl"
    assert main(["history", "export", run_id, "--out", str(plain)]) == 0
    err = capsys.readouterr().err
    records = {r["input"]: r for r in _jsonl(plain.read_text())}
    assert records[ct]["dicom"]["Modality"] == "CT"
    assert not IDENTIFYING & set(records[ct]["dicom"])
    assert "Left out patient-identifying DICOM fields: " in err and "PatientName" in err
    assert "--include-phi" in err

    full = tmp_path / "full.jsonl"
    assert main(["history", "export", run_id, "--out", str(full), "--include-phi"]) == 0
    err = capsys.readouterr().err
    records = {r["input"]: r for r in _jsonl(full.read_text())}
    assert records[ct]["dicom"]["PatientName"] == "CompressedSamples CT1"
    assert "Left out" not in err


def test_csv_and_image_runs_unchanged(capsys, inputs, tmp_path):
    """A CSV export gets no DICOM columns, and a run without DICOM inputs says nothing of them."""
    ct, png = inputs
    out = tmp_path / "res.csv"
    main(["score", MODEL, ct, png, "--format", "csv", "--out", str(out)])
    err = capsys.readouterr().err
    rows = list(csv.DictReader(io.StringIO(out.read_text())))
    assert not [c for c in rows[0] if "dicom" in c.lower() or c.startswith("Patient")]
    assert "CompressedSamples" not in out.read_text()
    assert "Left out" not in err
    main(["score", MODEL, png])
    out, err = capsys.readouterr()
    assert "dicom" not in _jsonl(out)[0] and "Left out" not in err
