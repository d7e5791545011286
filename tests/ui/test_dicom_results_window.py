"""The window's Export offers DICOM SEG, SR and Secondary Capture for a scored DICOM run, writes them on a
worker into the folder chosen, and says in the status bar what it wrote; the History tab offers the same."""

from __future__ import annotations

import os
import shutil

import pytest
from PySide6.QtWidgets import QFileDialog
from uihelpers import DIGITS_MODEL, load, run

pydicom = pytest.importorskip("pydicom")
hd = pytest.importorskip("highdicom")
from pydicom.data import get_testdata_file  # noqa: E402

from desktop.engine.dicom_deid import DeidOptions, installation_salt, replace_uid  # noqa: E402
from desktop.ui.widgets import dicom_export as options_dialog  # noqa: E402
from tests.engine.test_segmentation import _yolo  # noqa: E402


@pytest.fixture
def dicoms(tmp_path):
    out = []
    for name in ("CT_small.dcm", "MR_small.dcm"):
        path = tmp_path / name.lower()
        shutil.copyfile(get_testdata_file(name), path)
        out.append(path)
    return out


def _choose(monkeypatch, folder, chosen, seen):
    def save(parent, title, start, filters):
        seen.append(filters.split(";;"))
        return str(folder), chosen

    monkeypatch.setattr(QFileDialog, "getSaveFileName", staticmethod(save))
    monkeypatch.setattr(options_dialog, "ask_dicom_options", lambda what, parent=None: DeidOptions())


def test_export_dialog_writes_seg_sr_and_sc_for_a_dicom_segmentation_run(qtbot, window, tmp_path, monkeypatch,
                                                                          dicoms):
    load(qtbot, window, _yolo(tmp_path), dicoms)
    run(qtbot, window)
    salt = installation_salt()
    sources = {pydicom.dcmread(p).SOPInstanceUID for p in dicoms}
    for chosen, name in (("DICOM SEG segmentation (folder)", "seg"), ("DICOM Structured Report (folder)", "sr"),
                         ("DICOM Secondary Capture, the results drawn in (folder)", "sc")):
        seen: list = []
        folder = tmp_path / f"out-{name}"
        _choose(monkeypatch, folder, chosen, seen)
        with qtbot.waitSignal(window.dicom_exported, timeout=30000) as got:
            window.export_dialog()
        assert seen[0][-3:] == ["DICOM SEG segmentation (folder)", "DICOM Structured Report (folder)",
                                "DICOM Secondary Capture, the results drawn in (folder)"]
        done = got.args[0]
        assert not isinstance(done, Exception), done
        assert sorted(os.listdir(folder)) == [f"{name}-ct_small.dcm", f"{name}-mr_small.dcm"]
        message = window.statusBar().currentMessage()
        assert message.startswith("Wrote 2 DICOM ") and str(folder) in message and "de-identified" in message
        for path in done.written:
            ds = pydicom.dcmread(path)
            assert ds.PatientIdentityRemoved == "YES"
            if name == "seg":
                refs = {r.ReferencedSOPInstanceUID for r in ds.ReferencedSeriesSequence[0].ReferencedInstanceSequence}
            elif name == "sr":
                refs = {r.ReferencedSOPInstanceUID for r in ds.CurrentRequestedProcedureEvidenceSequence[0]
                        .ReferencedSeriesSequence[0].ReferencedSOPSequence}
            else:
                refs = {ds.SourceImageSequence[0].ReferencedSOPInstanceUID}
            assert refs <= {replace_uid(uid, salt) for uid in sources}, name


def test_a_classifier_on_dicom_is_offered_sr_and_sc_and_images_none(qtbot, window, tmp_path, monkeypatch, dicoms):
    load(qtbot, window, DIGITS_MODEL, dicoms[:1])
    run(qtbot, window)
    seen: list = []
    _choose(monkeypatch, tmp_path / "x", "", seen)
    window.export_dialog()
    assert seen[0][3:] == ["DICOM Structured Report (folder)", "DICOM Secondary Capture, the results drawn in (folder)"]


def test_the_history_tab_exports_a_run_as_sr(qtbot, window, tmp_path, monkeypatch, dicoms):
    load(qtbot, window, DIGITS_MODEL, dicoms)
    run(qtbot, window)
    run_id = window.controller.shown.run_id
    os.unlink(dicoms[1])
    with qtbot.waitSignal(window.history.task_done, timeout=30000) as got:
        window.history.export_dicom(run_id, tmp_path / "sr", "dicom-sr", DeidOptions(retain_uids=True))
    what, done = got.args
    assert what == "dicom-export" and len(done.written) == 1
    assert pydicom.dcmread(done.written[0]).StudyInstanceUID == pydicom.dcmread(dicoms[0]).StudyInstanceUID
    text = window.history.message.text()
    assert "Wrote 1 DICOM SR object" in text and "skipped mr_small.dcm: the file is no longer there" in text


def test_the_options_dialog_gives_the_options_ticked(qtbot):
    dialog = options_dialog.DicomExportOptions("SR")
    qtbot.addWidget(dialog)
    assert dialog.options() == DeidOptions()
    dialog.boxes["retain_uids"].setChecked(True)
    dialog.boxes["retain_dates"].setChecked(True)
    assert dialog.options() == DeidOptions(retain_uids=True, retain_dates=True)
