"""The detail pane's DICOM section: the header's facts, read on a worker, the patient's hidden until asked."""

from __future__ import annotations

import threading

import pytest

pydicom = pytest.importorskip("pydicom")
from pydicom.data import get_testdata_file  # noqa: E402

import desktop.runs.preview as preview_module  # noqa: E402
from desktop.engine.inputs import InputKind  # noqa: E402
from desktop.engine.results import Result  # noqa: E402


def _texts(table) -> dict:
    return {table.item(r, 0).text(): table.item(r, 1).text() for r in range(table.rowCount())}


@pytest.fixture
def pane(qtbot):
    from desktop.ui.jobs import Jobs
    from desktop.ui.widgets.detail import DetailPane

    jobs = Jobs()
    pane = DetailPane(jobs=jobs)
    qtbot.addWidget(pane)
    pane.resize(400, 900)
    pane.show()
    yield pane
    jobs.cancel("preview")
    jobs.pool.waitForDone(5000)


def test_dicom_section_shows_facts_and_hides_the_patient(qtbot, pane, monkeypatch):
    read_on = []
    real = preview_module.dicom_facts
    monkeypatch.setattr(preview_module, "dicom_facts",
                        lambda path, **kw: read_on.append(threading.current_thread()) or real(path, **kw))
    ct = get_testdata_file("CT_small.dcm")
    pane.show_result(Result(index=0, input=ct, row=None, ok=True, kind=InputKind.DICOM))
    qtbot.waitUntil(lambda: pane.dicom_table.isVisible(), timeout=10000)
    assert read_on and read_on[0] is not threading.main_thread()  # the header is read on the worker
    shown = _texts(pane.dicom_table)
    assert shown["Modality"] == "CT"
    assert shown["Study date"] == "2004-01-19"
    assert shown["Rows × columns"] == "128 × 128"
    assert shown["Pixel spacing"] == "0.661468 × 0.661468 mm"
    assert shown["Photometric"] == "MONOCHROME2"
    assert "Patient name" not in shown and "CompressedSamples CT1" not in shown.values()
    assert pane.show_patient.isVisible() and not pane.show_patient.isChecked()

    pane.show_patient.setChecked(True)
    assert _texts(pane.dicom_table)["Patient name"] == "CompressedSamples CT1"
    assert _texts(pane.dicom_table)["Patient ID"] == "1CT1"

    # the next file's patient stays hidden: the check box is not remembered
    mr = get_testdata_file("MR_small.dcm")
    pane.show_result(Result(index=1, input=mr, row=None, ok=True, kind=InputKind.DICOM))
    qtbot.waitUntil(lambda: _texts(pane.dicom_table).get("Modality") == "MR", timeout=10000)
    assert not pane.show_patient.isChecked()
    assert "Patient name" not in _texts(pane.dicom_table)


def test_no_dicom_section_for_an_image(qtbot, pane, tmp_path):
    from PIL import Image

    png = tmp_path / "a.png"
    Image.new("RGB", (8, 8), (10, 20, 30)).save(png)
    pane.show_result(Result(index=0, input=get_testdata_file("CT_small.dcm"), row=None, ok=True,
                            kind=InputKind.DICOM))
    qtbot.waitUntil(lambda: pane.dicom_table.isVisible(), timeout=10000)
    pane.show_result(Result(index=1, input=str(png), row=None, ok=True, kind=InputKind.IMAGE))
    qtbot.waitUntil(pane.image.has_image, timeout=10000)
    assert not pane.dicom_table.isVisible() and not pane.show_patient.isVisible()
    assert not pane.dicom_title.isVisible()


def test_a_frame_shows_its_own_number_position_and_the_window_used(qtbot, pane, tmp_path):
    """Frames of an Enhanced CT: each its number and position (per-frame functional groups), the window the
    loaded profile decodes through; the patient's details stay shown from frame to frame of one file."""
    from tests.cli.test_dicom_multiframe_results import enhanced_ct
    from uihelpers import DIGITS_MODEL

    from desktop.engine import Engine
    from desktop.engine.profile import load_profile, profile_from_dict

    path = enhanced_ct(tmp_path / "enhanced.dcm")
    raw = load_profile(DIGITS_MODEL.with_name("digits.profile.json")).to_dict()
    engine = Engine(DIGITS_MODEL, profile=profile_from_dict({**raw, "dicom": {"window": "lung"}}))
    pane.show_result(Result(index=0, input=f"{path}#frame=2", row=None, ok=True, kind=InputKind.DICOM), engine)
    qtbot.waitUntil(lambda: _texts(pane.dicom_table).get("Frame") == "2 of 4", timeout=10000)
    shown = _texts(pane.dicom_table)
    assert shown["Modality"] == "CT" and shown["Instance"] == "1"
    assert shown["Position (patient)"] == "x 0, y 0, z 10 mm"
    assert shown["Pixel spacing"] == "0.661468 × 0.661468 mm" and shown["Slice thickness"] == "5 mm"
    assert shown["Window used"] == "lung: level -600, width 1500"
    assert "Frames" not in shown and "Slice location" not in shown
    pane.show_patient.setChecked(True)
    pane.show_result(Result(index=1, input=f"{path}#frame=4", row=None, ok=True, kind=InputKind.DICOM), engine)
    qtbot.waitUntil(lambda: _texts(pane.dicom_table).get("Frame") == "4 of 4", timeout=10000)
    assert _texts(pane.dicom_table)["Position (patient)"] == "x 0, y 0, z 30 mm"
    assert pane.show_patient.isChecked() and "Patient name" in _texts(pane.dicom_table)  # the same file


def test_a_single_file_shows_its_slice_location_and_the_files_window(qtbot, pane):
    mr = get_testdata_file("MR_small.dcm")
    pane.show_result(Result(index=0, input=mr, row=None, ok=True, kind=InputKind.DICOM))
    qtbot.waitUntil(lambda: "Window used" in _texts(pane.dicom_table), timeout=10000)
    shown = _texts(pane.dicom_table)
    assert shown["Window used"] == "the file's: level 600, width 1600"
    assert "Slice location" in shown and "Frame" not in shown
