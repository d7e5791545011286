"""The preprocessing editor's DICOM group: the profile's ``dicom`` section (window, series rule, frames) as fields."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
from uihelpers import DIGITS_MODEL, load

from desktop.engine import Engine
from desktop.engine.profile import load_profile

pydicom = pytest.importorskip("pydicom")
from pydicom.data import get_testdata_file  # noqa: E402


@pytest.fixture
def digits(tmp_path):
    model = tmp_path / "digits.onnx"
    shutil.copyfile(DIGITS_MODEL, model)
    shutil.copyfile(DIGITS_MODEL.with_name("digits.profile.json"), tmp_path / "digits.profile.json")
    return model


def _sidecar(model):
    return model.with_name("digits.profile.json")


def _raw(model) -> dict:
    return json.loads(_sidecar(model).read_text(encoding="utf-8"))


def _open(qtbot, window, model, inputs=()):
    load(qtbot, window, model, inputs)
    editor = window.edit_profile()
    qtbot.waitExposed(editor)
    return editor


def _choose(combo, data):
    i = combo.findData(data)
    assert i >= 0, data
    combo.setCurrentIndex(i)


def test_fields_are_saved_as_the_dicom_section(qtbot, window, digits):
    editor = _open(qtbot, window, digits)
    assert editor.dicom_box.isVisible()  # an image model
    assert editor.dicom_window.currentData() == "file" and editor.dicom_series.text() == ""
    _choose(editor.dicom_window, "lung")
    editor.dicom_series.setText("Modality CT, ImageType ORIGINAL or DERIVED, SeriesDescription \"CHEST, 1.25mm\"")
    editor.dicom_frames.setText("1-10")
    assert editor.save_button.isEnabled(), editor.message.text()
    assert "window lung (level -600, width 1500)" in editor.words.text()
    editor.save_button.click()
    assert _raw(digits)["dicom"] == {"series": {"Modality": "CT", "ImageType": ["ORIGINAL", "DERIVED"],
                                                "SeriesDescription": "CHEST, 1.25mm"},
                                     "frames": "1-10", "window": "lung"}
    saved = load_profile(_sidecar(digits))
    assert saved.dicom.window == "lung" and saved.dicom.frames == "1-10"
    # opened again, the form shows what was saved, and a second save changes nothing
    editor = window.edit_profile()
    assert editor.dicom_window.currentData() == "lung" and editor.dicom_frames.text() == "1-10"
    assert editor.dicom_series.text() == 'Modality CT, ImageType ORIGINAL or DERIVED, SeriesDescription "CHEST, 1.25mm"'
    editor.save_button.click()
    assert load_profile(_sidecar(digits)).sha256() == saved.sha256()


def test_a_custom_window_and_none(qtbot, window, digits):
    editor = _open(qtbot, window, digits)
    assert not editor.window_custom.isVisible()
    _choose(editor.dicom_window, "custom")
    assert editor.window_custom.isVisible()
    editor.window_center.setValue(50)
    editor.window_width.setValue(350)
    _choose(editor.window_function, "SIGMOID")
    editor.save_button.click()
    assert _raw(digits)["dicom"] == {"window": {"center": 50.0, "width": 350.0, "function": "SIGMOID"}}
    editor = window.edit_profile()
    assert editor.dicom_window.currentData() == "custom" and editor.window_width.value() == 350
    _choose(editor.dicom_window, "none")
    editor.save_button.click()
    assert _raw(digits)["dicom"] == {"window": "none"}


def test_an_old_profile_without_the_section_saves_without_it(qtbot, window, digits):
    before = load_profile(_sidecar(digits))
    assert before.dicom is None
    editor = _open(qtbot, window, digits)
    editor.save_button.click()
    assert "dicom" not in _raw(digits)
    assert load_profile(_sidecar(digits)).sha256() == before.sha256()


def test_a_section_emptied_in_the_form_is_kept_empty(qtbot, window, digits):
    """Every series, every frame, the file's window: the profile says so with an empty section, as it did."""
    raw = _raw(digits)
    raw["dicom"] = {"frames": "2-"}
    _sidecar(digits).write_text(json.dumps(raw), encoding="utf-8")
    editor = _open(qtbot, window, digits)
    assert editor.dicom_frames.text() == "2-" and "DICOM: every series · frames 2-" in editor.words.text()
    editor.dicom_frames.setText("")
    editor.save_button.click()
    assert _raw(digits)["dicom"] == {}


def test_bad_rules_and_ranges_are_refused_inline(qtbot, window, digits):
    editor = _open(qtbot, window, digits)
    editor.dicom_series.setText("Modalty CT")
    assert not editor.save_button.isEnabled()
    assert "DICOM series: 'Modalty' is not a keyword a series rule tests" in editor.message.toolTip()
    editor.dicom_series.setText("Modality CT")
    assert editor.save_button.isEnabled()
    editor.dicom_frames.setText("0-3")
    assert not editor.save_button.isEnabled() and "frames count from 1" in editor.message.toolTip()
    editor.dicom_frames.setText("3")
    editor.dicom_window.setCurrentIndex(editor.dicom_window.findData("custom"))
    _choose(editor.window_function, "LINEAR")
    editor.window_width.setValue(0.5)
    assert not editor.save_button.isEnabled() and "at least 1 for a LINEAR window" in editor.message.toolTip()


def test_the_preview_of_a_dicom_file_uses_the_chosen_window(qtbot, window, digits, tmp_path):
    ct = tmp_path / "ct.dcm"
    shutil.copyfile(get_testdata_file("CT_small.dcm"), ct)
    editor = _open(qtbot, window, digits, [ct])
    assert editor.preview_pick.currentData() == str(ct)
    file_window = editor.preview_tensor()
    _choose(editor.dicom_window, "bone")
    bone = editor.preview_tensor()
    profile = editor.build_profile()
    engine = Engine(digits, profile=profile)
    np.testing.assert_array_equal(bone, engine.preprocess(engine.load_image(str(ct), "dicom")[0])[0])
    assert not np.array_equal(bone, file_window)


def test_a_table_model_has_no_dicom_group_and_its_section_travels(qtbot, window, tmp_path):
    from uihelpers import CANCER_MODEL

    model = tmp_path / "cancer.onnx"
    shutil.copyfile(CANCER_MODEL, model)
    editor = _open(qtbot, window, model)
    assert not editor.dicom_box.isVisible()


def test_every_dicom_control_has_a_tooltip(qtbot, window, digits):
    from PySide6.QtWidgets import QAbstractButton, QAbstractSpinBox, QComboBox, QLineEdit

    editor = _open(qtbot, window, digits)
    missing = [type(w).__name__ for kind in (QAbstractButton, QComboBox, QAbstractSpinBox, QLineEdit)
               for w in editor.dicom_box.findChildren(kind)
               if not isinstance(w.parent(), (QComboBox, QAbstractSpinBox, QLineEdit)) and not w.toolTip()]
    assert not missing and editor.dicom_box.findChildren(QComboBox)


def test_the_preview_of_a_dicom_file_named_without_dcm(qtbot, window, digits, tmp_path):
    """A scanner's IM0001 (no extension, the DICM preamble) is previewed as DICOM, not refused as an image."""
    scan = tmp_path / "IM0001"
    shutil.copyfile(get_testdata_file("CT_small.dcm"), scan)
    editor = _open(qtbot, window, digits, [scan])
    assert editor.preview_pick.currentData() == str(scan)
    assert editor.preview.has_image() and "not a readable image" not in editor.preview_info.text()
    _choose(editor.dicom_window, "lung")
    engine = Engine(digits, profile=editor.build_profile())
    np.testing.assert_array_equal(editor.preview_tensor(),
                                  engine.preprocess(engine.load_image(str(scan), "dicom")[0])[0])
