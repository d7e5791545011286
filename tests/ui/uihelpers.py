"""Helpers for the window tests: simulated drag-and-drop, loading and running."""

from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
DIGITS_MODEL = ROOT / "models" / "digits.onnx"
DIGITS_DIR = ROOT / "resources" / "samples" / "digits"
CANCER_MODEL = ROOT / "models" / "breast_cancer.onnx"
CANCER_CSV = ROOT / "resources" / "samples" / "breast_cancer.csv"
DIABETES_MODEL = ROOT / "models" / "diabetes.onnx"
DIABETES_CSV = ROOT / "resources" / "samples" / "diabetes.csv"


def drop(widget, paths):
    """Simulate dragging files from a file manager and dropping them on ``widget``."""
    from PySide6.QtCore import QMimeData, QPoint, QPointF, Qt, QUrl
    from PySide6.QtGui import QDragEnterEvent, QDragMoveEvent, QDropEvent
    from PySide6.QtWidgets import QApplication

    import warnings

    warnings.filterwarnings("ignore", "Function: 'QDrag", DeprecationWarning)
    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(p)) for p in paths])
    pos = QPoint(widget.width() // 2, widget.height() // 2)
    enter = QDragEnterEvent(pos, Qt.CopyAction, mime, Qt.LeftButton, Qt.NoModifier)
    QApplication.sendEvent(widget, enter)
    assert enter.isAccepted(), "the window refused the drag"
    move = QDragMoveEvent(pos, Qt.CopyAction, mime, Qt.LeftButton, Qt.NoModifier)
    QApplication.sendEvent(widget, move)
    event = QDropEvent(QPointF(pos), Qt.CopyAction, mime, Qt.LeftButton, Qt.NoModifier)
    QApplication.sendEvent(widget, event)
    assert event.isAccepted(), "the window refused the drop"


def load(qtbot, window, model, inputs=()):
    """Drop a model (and inputs) on the window and wait until the model is loaded and the queue checked."""
    with qtbot.waitSignal(window.model_loaded, timeout=20000):
        drop(window, [model, *inputs])
    qtbot.waitUntil(lambda: not window.controller.jobs.busy("check"), timeout=20000)


def run(qtbot, window, timeout=60000):
    with qtbot.waitSignal(window.run_finished, timeout=timeout) as blocker:
        window.act_run.trigger()
    return blocker.args[0]
