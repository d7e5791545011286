"""The window's Export offers COCO and YOLO for a detector's results, written at the slider's threshold."""

from __future__ import annotations

import json

from PIL import Image
from PySide6.QtWidgets import QFileDialog
from uihelpers import DIGITS_MODEL, DIGITS_DIR, load, run

from tests.engine.test_detection import FAMILIES
from tests.engine.test_detection_export import COCO_BOXES, YOLO_LINES


def _dialog(monkeypatch, answer):
    seen = []

    def save(parent, title, start, filters):
        seen.append(filters.split(";;"))
        return answer(filters)

    monkeypatch.setattr(QFileDialog, "getSaveFileName", staticmethod(save))
    return seen


def test_export_dialog_writes_coco_and_yolo_for_detections(qtbot, window, tmp_path, monkeypatch):
    model = FAMILIES["yolov8"](tmp_path / "det.onnx")
    photo = tmp_path / "photo.png"
    Image.new("RGB", (1000, 563)).save(photo)
    load(qtbot, window, model, [photo])
    run(qtbot, window)
    out = tmp_path / "results.json"
    seen = _dialog(monkeypatch, lambda filters: (str(out), "COCO detections (*.json)"))
    window.export_dialog()
    assert seen[0] == ["CSV (*.csv)", "JSON (*.json)", "JSON lines, like the command line (*.jsonl)",
                       "COCO detections (*.json)", "YOLO labels (folder)"]
    assert [(r["category_id"], r["bbox"]) for r in json.loads(out.read_text())] == [(c, b) for c, b, _ in COCO_BOXES]
    window.select_result(0)
    window.detail.conf.setValue(50)  # the export follows the threshold shown
    labels = tmp_path / "labels"
    _dialog(monkeypatch, lambda filters: (str(labels), "YOLO labels (folder)"))
    window.export_dialog()
    assert (labels / "photo.txt").read_text().splitlines() == YOLO_LINES[:2]


def test_export_dialog_keeps_its_filters_for_a_classifier(qtbot, window, tmp_path, monkeypatch):
    load(qtbot, window, DIGITS_MODEL, [DIGITS_DIR])
    run(qtbot, window)
    seen = _dialog(monkeypatch, lambda filters: ("", ""))
    window.export_dialog()
    assert seen[0] == ["CSV (*.csv)", "JSON (*.json)", "JSON lines, like the command line (*.jsonl)"]
