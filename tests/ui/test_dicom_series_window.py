"""The window shows a dropped study folder as its DICOM series, each ticked or not, and scores the ticked ones."""

from __future__ import annotations

import json

import pytest
from PySide6.QtCore import Qt
from uihelpers import DIGITS_MODEL, load, run

pydicom = pytest.importorskip("pydicom")

from tests.engine.test_dicom_series import local, write_multiframe, write_series  # noqa: E402


def _rows(window):
    panel = window.queue.series_panel
    return [panel.view.item(i) for i in range(panel.view.count())]


def test_study_folder_shows_its_series_and_scores_the_ticked_ones(qtbot, window, tmp_path):
    truth = write_series(tmp_path / "study" / "ct", n=5, gaps=[2.5, 2.5, 5.0, 2.5])
    write_multiframe(tmp_path / "study" / "cine" / "enhanced.dcm", n=3)
    for p in (tmp_path / "study" / "cine").iterdir():
        ds = pydicom.dcmread(p)
        ds.Modality, ds.SeriesNumber, ds.SeriesDescription = "MR", 9, "CINE"
        ds.SeriesInstanceUID = pydicom.uid.generate_uid()
        ds.save_as(p)
    load(qtbot, window, DIGITS_MODEL, [tmp_path / "study"])
    panel = window.queue.series_panel
    assert panel.isVisible()
    rows = _rows(window)
    texts = [r.text() for r in rows]
    assert texts[0].startswith("CT · #1 · ") and "5 instances, 5 frames · 128×128\n⚠ irregular slice spacing" in texts[0]
    assert texts[1] == "MR · #9 · CINE\n1 instance, 3 frames · 128×128"
    assert all(r.checkState() == Qt.Checked for r in rows)
    assert panel.title.text() == "DICOM SERIES (2 of 2 to score)"
    queued = [i.path for i in window.queue.model.items]
    assert queued[:5] == truth and [p.rsplit("/", 1)[-1] for p in queued[5:]] == [
        "enhanced.dcm#frame=3", "enhanced.dcm#frame=2", "enhanced.dcm#frame=1"]
    first = window.queue.model.index(0).data()
    assert first.endswith("DICOM · CT series 1 · slice 1 of 5")

    rows[1].setCheckState(Qt.Unchecked)  # the user leaves the MR series out
    assert [i.path for i in window.queue.model.items] == truth
    assert panel.title.text() == "DICOM SERIES (1 of 2 to score)"
    qtbot.waitUntil(lambda: not window.controller.jobs.busy("check"), timeout=20000)
    summary = run(qtbot, window)
    assert summary["done"] == 5
    assert [r.input for r in window.results.results] == truth

    rows[1].setCheckState(Qt.Checked)  # and puts it back
    assert len(window.queue.model.items) == 8
    window.queue.clear()
    assert not panel.isVisible() and panel.view.count() == 0


def test_the_profiles_rule_ticks_the_series_it_chooses(qtbot, window, tmp_path):
    write_series(tmp_path / "study" / "ct", n=4)
    write_multiframe(tmp_path / "study" / "cine" / "enhanced.dcm", n=3)
    for p in (tmp_path / "study" / "cine").iterdir():
        ds = pydicom.dcmread(p)
        ds.Modality, ds.SeriesInstanceUID = "MR", pydicom.uid.generate_uid()
        ds.save_as(p)
    model = tmp_path / "digits.onnx"
    model.write_bytes(DIGITS_MODEL.read_bytes())
    raw = json.loads(DIGITS_MODEL.with_suffix(".profile.json").read_text())
    raw["dicom"] = {"series": {"Modality": "MR"}, "frames": "1-2", "window": "brain"}
    model.with_suffix(".profile.json").write_text(json.dumps(raw))
    load(qtbot, window, model)
    window.add_inputs([str(tmp_path / "study")])
    rows = sorted(_rows(window), key=lambda r: not r.text().startswith("CT"))  # the CT series, then the MR one
    assert [r.text()[:2] for r in rows] == ["CT", "MR"]
    assert [r.checkState() for r in rows] == [Qt.Unchecked, Qt.Checked]
    assert [i.path.rsplit("/", 1)[-1] for i in window.queue.model.items] == ["enhanced.dcm#frame=3",
                                                                             "enhanced.dcm#frame=2"]
    assert "the profile's series rule leaves out 1" in window.statusBar().currentMessage()
    rows[0].setCheckState(Qt.Checked)  # ticked by hand: its first two slices (the profile's frame range)
    assert len(window.queue.model.items) == 4


def test_a_shipped_study_folder(qtbot, window):
    """pydicom's dicomdirtests: files without an extension, CR (MONOCHROME1), CT and MR series, DICOMDIRs."""
    folder = local("DICOMDIR").rsplit("/", 1)[0]
    load(qtbot, window, DIGITS_MODEL, [folder])
    texts = [r.text() for r in _rows(window)]
    assert "CR · #1 · Cervical LAT\n1 instance, 1 frame · 16×16" in texts
    assert any(t.startswith("MR · #700 · ANGIO Projected from C\n7 instances, 7 frames") for t in texts)
    problems = [p for _, p in window.queue.model.problem_items()]
    assert any(p.startswith("DICOMDIR: a DICOMDIR") for p in problems)
