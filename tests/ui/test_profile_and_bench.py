"""The preprocessing editor (live preview, save to the sidecar), settings, benchmark, the app's start."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys

import numpy as np
from uihelpers import DIGITS_DIR, DIGITS_MODEL, ROOT, load

from desktop.engine import Engine
from desktop.engine.profile import load_profile


def test_profile_editor_previews_and_saves_the_sidecar(qtbot, window, tmp_path):
    model = tmp_path / "digits.onnx"
    shutil.copyfile(DIGITS_MODEL, model)
    shutil.copyfile(DIGITS_MODEL.with_name("digits.profile.json"), tmp_path / "digits.profile.json")
    load(qtbot, window, model, [DIGITS_DIR])
    editor = window.edit_profile()
    qtbot.waitExposed(editor)
    assert editor.preview.has_image()
    # the preview is the engine's own preprocessing
    img = DIGITS_DIR / "digit_0_386.png"
    engine = window.engine
    expected, _ = engine.preprocess(engine.load_image(str(img))[0])
    np.testing.assert_array_equal(editor.preview_tensor(), expected)
    # edit: nearest-neighbour resize to 20×20, a 16×16 centre crop, values from −1 to 1
    editor.interp.setCurrentIndex(editor.interp.findData("nearest"))
    editor.width_spin.setValue(20)
    editor.height_spin.setValue(20)
    editor.crop.setChecked(True)
    editor.crop_w.setValue(16)
    editor.crop_h.setValue(16)
    editor.preset.setCurrentIndex(editor.preset.findData("−1–1 (pixel / 127.5 − 1)"))
    assert editor.save_button.isEnabled(), editor.message.text()
    profile = editor.build_profile()
    new_engine = engine.with_profile(profile)
    np.testing.assert_array_equal(editor.preview_tensor(), new_engine.preprocess(engine.load_image(str(img))[0])[0])
    assert "centre crop 16×16" in editor.words.text() and "−1–1 range" in editor.words.text()
    # a wrong size is refused inline, naming the problem
    editor.crop_w.setValue(15)
    assert not editor.save_button.isEnabled()
    editor._update_preview()
    editor.crop_w.setValue(16)
    editor.save_button.click()
    saved = load_profile(tmp_path / "digits.profile.json")
    assert saved.image.resize.interpolation == "nearest" and saved.image.crop == (16, 16)
    card = window.model_panel.card_text()
    assert "nearest" in card and "centre crop 16×16" in card and "sidecar digits.profile.json" in card
    assert Engine(model).profile == saved


def test_profile_editor_refuses_bad_values_inline(qtbot, window):
    load(qtbot, window, DIGITS_MODEL)
    editor = window.edit_profile()
    editor.mean.setText("0.5, 0.5")  # 2 values for a 1-channel image
    assert not editor.save_button.isEnabled()
    assert "image.mean has 2 values" in editor.message.toolTip()
    editor.mean.setText("zero")
    assert "Mean" in editor.message.toolTip()
    editor.reject()


def test_table_profile_column_mapping(qtbot, window):
    from uihelpers import CANCER_CSV, CANCER_MODEL

    load(qtbot, window, CANCER_MODEL, [CANCER_CSV])
    editor = window.edit_profile()
    assert editor.table_box.isVisibleTo(editor) and not editor.image_box.isVisibleTo(editor)
    assert editor.columns.rowCount() == 30
    first = editor.columns.cellWidget(0, 0)
    assert first.currentText() == "mean radius" and first.count() >= 30
    first.setCurrentText("")
    assert not editor.save_button.isEnabled() and "feature 1" in editor.message.toolTip()
    editor.reject()


def test_settings_dialog_lists_available_providers_only(qtbot, window):
    from desktop.engine import available_providers
    from desktop.ui.widgets.settings_dialog import SettingsDialog

    dialog = SettingsDialog(window.settings, window.providers, window)
    listed = [dialog.provider.itemData(i) for i in range(1, dialog.provider.count())]
    assert listed == available_providers()
    dialog.threads.setValue(1)
    dialog.top_k.setValue(3)
    assert dialog.formula_guard.isChecked() and dialog.formula_guard.toolTip()
    dialog.formula_guard.setChecked(False)
    new = dialog.result_settings()
    assert new.threads == 1 and new.top_k == 3 and new.formula_guard is False
    load(qtbot, window, DIGITS_MODEL)
    with qtbot.waitSignal(window.model_loaded, timeout=20000):
        window.apply_settings(new)  # threads changed: the model reloads with them
    assert window.engine.settings.threads == 1
    assert "threads 1" in window.status_info.text()
    from desktop.settings import load_settings

    assert load_settings(window.settings_file).top_k == 3


def test_benchmark_compares_two_settings(qtbot, window):
    from desktop.engine import SessionSettings

    load(qtbot, window, DIGITS_MODEL)
    configs = [("A", SessionSettings(None, 0, "all")), ("B", SessionSettings(None, 1, "disable"))]
    with qtbot.waitSignal(window.bench_finished, timeout=30000) as blocker:
        window.start_bench(configs, 20, 2)
    reports = blocker.args[0]
    assert [label for label, _ in reports] == ["A", "B"]
    assert all(len(r.latencies_ms) == 20 for _, r in reports)
    assert reports[1][1].settings["opt_level"] == "disable"
    view = window.bench_view
    assert view.table.rowCount() == 2
    assert view.table.item(0, 2).text() != ""
    assert len(view.curves[1].getOriginalDataset()[1]) == 20


def test_app_starts_with_the_sample_and_quits(tmp_path):
    code = (
        "from PySide6.QtCore import QTimer\n"
        "from desktop.ui.app import create_app, run_app\n"
        "from PySide6.QtWidgets import QApplication\n"
        "app = create_app()\n"
        "def check():\n"
        "    w = [w for w in QApplication.topLevelWidgets() if type(w).__name__ == 'MainWindow'][0]\n"
        "    assert w.engine is not None and w.engine.info.file_name == 'digits.onnx', w.engine\n"
        "    assert len(w.queue.model.items) == 10\n"
        "    print('SAMPLE-OK', flush=True)\n"
        "    app.quit()\n"
        "QTimer.singleShot(2500, check)\n"
        "QTimer.singleShot(20000, app.quit)\n"
        "raise SystemExit(run_app())\n"
    )
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen", INFERDESK_SETTINGS=str(tmp_path / "s.json"))
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert "SAMPLE-OK" in out.stdout


def test_profile_editor_sets_a_detectors_thresholds_and_keeps_what_it_does_not_edit(qtbot, window, tmp_path):
    """The detection thresholds are settable in the window; a save never drops a section the form lacks."""
    import json

    from tests.engine.test_detection import FAMILIES

    model = FAMILIES["yolov8"](tmp_path / "det.onnx")
    sidecar = tmp_path / "det.profile.json"
    profile = Engine(model).profile.to_dict()
    profile["detection"] = {"floor": 0.02}
    profile["x-site"] = {"ward": 3}  # a site's own key
    sidecar.write_text(json.dumps(profile), encoding="utf-8")
    load(qtbot, window, model)
    editor = window.edit_profile()
    qtbot.waitExposed(editor)
    assert editor.detection_box.isVisible() and editor.det_conf.specialValueText() == "family default"
    editor.det_conf.setValue(0.5)
    editor.det_iou.setValue(0.45)
    editor.det_agnostic.setChecked(True)
    assert editor.save_button.isEnabled(), editor.message.text()
    editor.save_button.click()
    saved = json.loads(sidecar.read_text(encoding="utf-8"))
    assert saved["detection"] == {"conf": 0.5, "iou": 0.45, "class_agnostic": True, "floor": 0.02}
    assert saved["x-site"] == {"ward": 3}
    assert window.engine.profile.detection.conf == 0.5
    editor = window.edit_profile()
    assert editor.det_conf.value() == 0.5 and editor.det_agnostic.isChecked()
    editor.task.setCurrentIndex(editor.task.findData("classification"))
    assert not editor.detection_box.isVisible()
    editor.reject()


def test_profile_editor_keeps_a_presets_values_it_does_not_edit(qtbot, window, tmp_path):
    """A preset's EXIF mode and the library given beside it survive a save from the form (which writes the values out)."""
    import json

    from desktop.engine.profile import profile_from_dict
    from tests.engine.test_detection import FAMILIES

    model = FAMILIES["yolov8"](tmp_path / "det.onnx")
    sidecar = tmp_path / "det.profile.json"
    sidecar.write_text(json.dumps({"task": "detection", "image": {
        "preset": "torchvision-imagenet", "crop": [320, 320], "resize": {"library": "opencv",
                                                                        "interpolation": "linear"}}}),
        encoding="utf-8")
    load(qtbot, window, model)
    editor = window.edit_profile()
    qtbot.waitExposed(editor)
    assert editor.save_button.isEnabled(), editor.message.text()
    editor.save_button.click()
    image = profile_from_dict(json.loads(sidecar.read_text(encoding="utf-8"))).image
    assert (image.exif, image.resize.library, image.resize.interpolation, image.crop) == \
        ("ignore", "opencv", "linear", (320, 320))  # the preset's EXIF mode, not the form's default


def test_benchmark_labels_say_1_thread_and_the_status_bar_separates_its_facts(qtbot, window):
    from PySide6.QtWidgets import QFrame

    boxes = window.bench_view.config_boxes
    boxes[0][2].setValue(1)
    assert ", 1 thread, " in window.bench_view.configs()[0][0]
    boxes[0][2].setValue(4)
    assert ", 4 threads, " in window.bench_view.configs()[0][0]
    rules = [f for f in window.statusBar().findChildren(QFrame) if f.frameShape() == QFrame.VLine]
    assert rules  # "run fe9f5f7ec4f7" and "onnxruntime 1.32 · CPU" no longer run together
