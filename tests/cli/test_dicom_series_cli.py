"""inferdesk series lists a folder's DICOM series; score takes them in slice order, as the profile's dicom section chooses."""

from __future__ import annotations

import json

import pytest

pydicom = pytest.importorskip("pydicom")

from desktop.cli import main  # noqa: E402
from tests.conftest import MODELS  # noqa: E402
from tests.engine.test_dicom_series import local, write_multiframe, write_series  # noqa: E402

MODEL = str(MODELS / "digits.onnx")


def study_folder() -> str:
    return local("DICOMDIR").rsplit("/", 1)[0]  # pydicom's dicomdirtests: files named by number, no extension


def _profile(tmp_path, dicom: dict) -> str:
    raw = json.loads((MODELS / "digits.profile.json").read_text())
    raw["dicom"] = dicom
    path = tmp_path / "p.json"
    path.write_text(json.dumps(raw))
    return str(path)


def test_series_lists_a_study_folder(capsys):
    assert main(["series", study_folder()]) == 0
    out = capsys.readouterr().out
    assert "CR · series 1 · Cervical LAT · 1 instance, 1 frame · 16×16 · ordered by instance number" in out
    assert "MR · series 700 · ANGIO Projected from C · 7 instances, 7 frames" in out
    assert "warning: irregular slice spacing" in out
    assert "that cannot be scored (e.g. DICOMDIR: a DICOMDIR" in out


def test_series_json_and_a_profiles_rule(capsys, tmp_path):
    profile = _profile(tmp_path, {"series": {"Modality": "CT", "ImageType": "ORIGINAL"}, "frames": "1-2"})
    assert main(["series", study_folder(), "--profile", profile, "--json"]) == 0
    d = json.loads(capsys.readouterr().out)
    chosen = [s for s in d["series"] if s["chosen"]]
    assert chosen and all(s["modality"] == "CT" and "ORIGINAL" in s["image_type"] for s in chosen)
    assert all(s["chosen_frames"] == min(2, s["frames"]) for s in chosen)
    assert all(not s["chosen"] for s in d["series"] if s["modality"] != "CT")
    assert any(o["problem"] and o["problem"].startswith("DICOMDIR: ") for o in d["other"])
    assert main(["series", study_folder(), "--profile", profile]) == 0
    text = capsys.readouterr().out
    assert "✓" in text and "note: CR series 1 left out: it does not match the profile's series rule" in text


def test_series_of_a_folder_without_dicom(capsys, tmp_path):
    (tmp_path / "a.png").write_bytes(b"x")
    assert main(["series", str(tmp_path)]) == 2
    assert "No DICOM series found." in capsys.readouterr().out


def test_score_takes_slices_in_position_order_and_frames(capsys, tmp_path):
    truth = write_series(tmp_path / "study" / "ct", n=5, gaps=[2.5, 2.5, 5.0, 2.5])
    write_multiframe(tmp_path / "study" / "cine" / "enhanced.dcm", n=3)
    assert main(["score", MODEL, str(tmp_path / "study"), "--no-history"]) == 0
    captured = capsys.readouterr()
    inputs = [json.loads(line)["input"] for line in captured.out.splitlines()]
    frames = [p for p in inputs if "#frame=" in p]
    assert [p.rsplit("/", 1)[-1] for p in frames] == ["enhanced.dcm#frame=3", "enhanced.dcm#frame=2",
                                                      "enhanced.dcm#frame=1"]
    assert [p for p in inputs if "#frame=" not in p] == truth
    assert "note: CT series 1: irregular slice spacing: 2.5–5 mm" in captured.err


def test_score_with_a_rule_and_range(capsys, tmp_path):
    truth = write_series(tmp_path / "study" / "ct", n=5)
    write_multiframe(tmp_path / "study" / "cine" / "enhanced.dcm", n=3)
    for p in (tmp_path / "study" / "cine").iterdir():
        ds = pydicom.dcmread(p)
        ds.Modality, ds.SeriesInstanceUID = "MR", pydicom.uid.generate_uid()
        ds.save_as(p)
    profile = _profile(tmp_path, {"series": {"Modality": "CT"}, "frames": "2-3", "window": "soft-tissue"})
    assert main(["score", MODEL, str(tmp_path / "study"), "--profile", profile, "--no-history"]) == 0
    captured = capsys.readouterr()
    records = [json.loads(line) for line in captured.out.splitlines()]
    assert [r["input"] for r in records] == truth[1:3]
    assert all(r["ok"] for r in records)
    assert "note: MR " in captured.err and "left out: it does not match the profile's series rule" in captured.err
