"""The Lab tab: faster variants of the loaded model, and whether they still agree with it.

Make a variant (static QDQ INT8 calibrated on the user's own inputs, dynamic INT8, float16, or an
offline-optimised graph), then compare any two models on the same inputs: agreement, output
differences, latency measured in the same interleaved run, size and load time, and a verdict in
one sentence. The work runs on a worker (the window asks; this view only displays).
"""

from __future__ import annotations

import html
import os

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QPalette
from PySide6.QtWidgets import (QComboBox, QDoubleSpinBox, QFileDialog, QHBoxLayout, QHeaderView, QLabel, QPushButton,
                               QTableWidget, QTableWidgetItem, QVBoxLayout, QWidget)

from desktop.runs import fmt

from .latency import add_plot, theme_plot
from .progress import ProgressStrip
from .tables import analysis_area, setup_table

#: (method, what the menu says, what to know before choosing it)
METHODS = (("static", "Static INT8 (QDQ, calibrated on your inputs)",
            "Usually the fastest on a CPU for convolutional models, at a quarter of the size; needs calibration "
            "inputs like the data it will score"),
           ("dynamic", "Dynamic INT8", "For MatMul- and transformer-style models; convolutional models get slower "
                                       "(ConvInteger kernels)"),
           ("fp16", "Float16", "Half the size; on a CPU usually slower (it is for GPUs)"),
           ("graph", "Offline graph optimisation", "onnxruntime's optimisations saved into the file: tied to this "
                                                   "machine's provider and CPU features"))
A_COLOR, B_COLOR = "#4e79a7", "#e15759"


class LabView(QWidget):
    """See the module docstring."""

    make_requested = Signal(str, object)  # method, {"calibrate": [paths] | None, "calibration": str}
    compare_requested = Signal(str, str, float)  # model A, model B, agreement bound
    cancel_requested = Signal()

    def __init__(self, parent=None):
        super().__init__(parent)
        self.comparison: dict | None = None
        self.model_path = ""
        self.calibration_paths: list = []
        lay = QVBoxLayout(self)
        intro = QLabel("Make a faster variant of the loaded model, then check on your own inputs that it still "
                       "agrees with the original before using it.")
        intro.setWordWrap(True)
        lay.addWidget(intro)
        make = QHBoxLayout()
        lay.addLayout(make)
        self.method = QComboBox()
        for method, text, tip in METHODS:
            self.method.addItem(text, method)
            self.method.setItemData(self.method.count() - 1, tip, Qt.ToolTipRole)
        self.method.setToolTip("How the variant is made (hover an entry for when it helps)")
        self.method.currentIndexChanged.connect(self._on_method_changed)
        make.addWidget(self.method, 1)
        self.calibration = QComboBox()
        self.calibration.addItems(["minmax", "entropy", "percentile"])
        self.calibration.setToolTip("How the INT8 ranges are calibrated (static only)")
        make.addWidget(self.calibration)
        self.make_button = QPushButton("Make variant")
        self.make_button.setToolTip("Make the variant in the background; it is saved beside the model, with its "
                                    "profile and a note of how it was made")
        self.make_button.clicked.connect(self._on_make)
        make.addWidget(self.make_button)
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.setToolTip("Stop making or comparing")
        self.cancel_button.clicked.connect(self.cancel_requested)
        self.cancel_button.setVisible(False)
        make.addWidget(self.cancel_button)
        self.method_note = QLabel()
        self.method_note.setWordWrap(True)
        lay.addWidget(self.method_note)
        self.calibration_label = QLabel()
        self.calibration_label.setWordWrap(True)
        cal = QHBoxLayout()
        cal.addWidget(self.calibration_label, 1)
        self.calibration_button = QPushButton("Calibration inputs…")
        self.calibration_button.setToolTip("A folder or CSV of inputs like those the model will score (100–500 items); "
                                           "default: the queue")
        self.calibration_button.clicked.connect(self.choose_calibration)
        cal.addWidget(self.calibration_button)
        lay.addLayout(cal)
        compare = QHBoxLayout()
        lay.addLayout(compare)
        compare.addWidget(QLabel("Compare"))
        self.model_a = QComboBox()
        self.model_a.setToolTip("The reference model (the loaded one)")
        self.model_b = QComboBox()
        self.model_b.setToolTip("The model to check against it: a variant made here, or any .onnx file")
        for box in (self.model_a, self.model_b):
            box.setSizeAdjustPolicy(QComboBox.AdjustToMinimumContentsLengthWithIcon)
            box.setMinimumContentsLength(12)
        compare.addWidget(self.model_a, 1)
        compare.addWidget(QLabel("with"))
        compare.addWidget(self.model_b, 1)
        self.other_button = QPushButton("Other…")
        self.other_button.setToolTip("Compare with another .onnx file")
        self.other_button.clicked.connect(self.choose_other)
        compare.addWidget(self.other_button)
        self.bound = QDoubleSpinBox()
        self.bound.setRange(0.5, 1.0)
        self.bound.setDecimals(3)
        self.bound.setSingleStep(0.005)
        self.bound.setValue(0.99)
        self.bound.setToolTip("The top-1 agreement a variant needs to be recommended")
        compare.addWidget(QLabel("bound"))
        compare.addWidget(self.bound)
        self.compare_button = QPushButton("Compare")
        self.compare_button.setToolTip("Score both models on the queued inputs, interleaved, and compare them")
        self.compare_button.clicked.connect(self._on_compare)
        compare.addWidget(self.compare_button)
        self.export_button = QPushButton("Export…")
        self.export_button.setToolTip("Save the comparison as JSON (what 'inferdesk compare --json' prints); "
                                      "File ▸ Save Report… puts it in the run's report")
        self.export_button.clicked.connect(self.export_dialog)
        self.export_button.setEnabled(False)
        compare.addWidget(self.export_button)
        self.progress = ProgressStrip()
        lay.addWidget(self.progress)
        self.message, self.verdict, self.stack, body = analysis_area(
            lay, "Make a variant (or pick another model), then <b>Compare</b> it with the loaded model on the "
                 "queued inputs.")
        self.table = QTableWidget(0, 3)
        self.table.setHorizontalHeaderLabels(["", "A", "B"])
        setup_table(self.table, "The two models side by side")
        self.table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeToContents)
        self.table.horizontalHeader().setStretchLastSection(True)
        body.addWidget(self.table)
        self.graphics = pg.GraphicsLayoutWidget()
        self.graphics.setBackground(self.palette().color(QPalette.Base))
        self.graphics.setMinimumHeight(180)
        body.addWidget(self.graphics)
        self.latency_plot = add_plot(self.graphics, self.palette(), row=0, col=0, title="Latency per item (ms)")
        self.diff_plot = add_plot(self.graphics, self.palette(), row=0, col=1, title="Largest output difference")
        for plot in (self.latency_plot, self.diff_plot):
            theme_plot(plot, self.palette())
        self._on_method_changed()
        self.set_calibration([])

    # ------------------------------------------------------------------ choices
    def set_model(self, path: str | None, variants=()) -> None:
        """The loaded model (A) and the variants found beside it (B's choices)."""
        self.model_path = path or ""
        self.model_a.clear()
        self.model_b.clear()
        if path:
            self.model_a.addItem(os.path.basename(path), path)
        for v in variants:
            self.add_variant(v)

    def add_variant(self, path: str) -> None:
        if self.model_b.findData(path) < 0:
            self.model_b.addItem(os.path.basename(path), path)
        self.model_b.setCurrentIndex(self.model_b.findData(path))

    def set_calibration(self, paths) -> None:
        self.calibration_paths = list(paths)
        self.calibration_label.setText(
            "Calibration: " + (", ".join(os.path.basename(p) for p in self.calibration_paths[:3])
                               + (" …" if len(self.calibration_paths) > 3 else "")
                               if self.calibration_paths else "the queued inputs"))

    def choose_calibration(self) -> None:
        path = QFileDialog.getExistingDirectory(self, "A folder of calibration inputs")
        if not path:
            path, _ = QFileDialog.getOpenFileName(self, "Or a CSV of calibration rows", "", "CSV (*.csv *.tsv)")
        if path:
            self.set_calibration([path])

    def choose_other(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "A model to compare", os.path.dirname(self.model_path),
                                              "ONNX models (*.onnx)")
        if path:
            self.add_variant(path)

    def _on_method_changed(self, *_) -> None:
        method = self.method.currentData()
        note = next(tip for m, _t, tip in METHODS if m == method)
        self.method_note.setText(f"<span style='font-size:small'>{html.escape(note)}</span>")
        static = method == "static"
        self.calibration.setVisible(static)
        self.calibration_button.setVisible(static)
        self.calibration_label.setVisible(static)

    def _on_make(self) -> None:
        self.message.clear_message()
        self.make_requested.emit(self.method.currentData(), {"calibrate": self.calibration_paths or None,
                                                             "calibration": self.calibration.currentText()})

    def _on_compare(self) -> None:
        a, b = self.model_a.currentData(), self.model_b.currentData()
        if not a or not b:
            self.message.show_error("Load a model and make a variant (or pick another model with Other…) first.")
            return
        self.message.clear_message()
        self.compare_requested.emit(a, b, float(self.bound.value()))

    def set_busy(self, busy: bool, what: str = "") -> None:
        for b in (self.make_button, self.compare_button):
            b.setEnabled(not busy)
        self.make_button.setText("Making…" if busy and what == "make" else "Make variant")
        self.compare_button.setText("Comparing…" if busy and what == "compare" else "Compare")
        self.cancel_button.setVisible(busy)

    def set_progress(self, done: int, total: int) -> None:
        self.progress.setRange(0, max(1, int(total)))
        self.progress.setValue(int(done))

    # ------------------------------------------------------------------ a comparison
    def export_dialog(self) -> None:
        path, _ = QFileDialog.getSaveFileName(self, "Save the comparison", "comparison.json", "JSON (*.json)")
        if path:
            self.export_to(path)

    def export_to(self, path) -> None:
        """Write the comparison shown as JSON (atomically); the message says where, or why not."""
        import json

        from desktop.engine.profile import atomic_write_text

        try:
            atomic_write_text(path, json.dumps(self.comparison, indent=2, allow_nan=False) + "\n")
        except (OSError, ValueError) as exc:
            self.message.show_error(f"The comparison was not saved to {path}: {exc}")
            return
        self.message.show_info(f"Comparison saved to {path}")

    def set_comparison(self, comparison: dict) -> None:
        self.comparison = comparison
        self.export_button.setEnabled(True)
        self.stack.setCurrentIndex(1)
        verdict = comparison.get("verdict") or {}
        colour = "#2e7d32" if verdict.get("recommended") else "#c62828"
        self.verdict.setText(f"<b style='color:{colour}; font-size:large'>{html.escape(str(verdict.get('text', '')))}"
                             "</b>")
        a, b = comparison.get("a") or {}, comparison.get("b") or {}
        rows = [("Model", a.get("name"), b.get("name")),
                ("File size", fmt.size(int(a.get("size_bytes") or 0)), fmt.size(int(b.get("size_bytes") or 0))),
                ("Load time", f"{fmt.stat(a.get('load_s'))} s", f"{fmt.stat(b.get('load_s'))} s"),
                ("Latency p50", f"{fmt.stat(a.get('p50_ms'))} ms", f"{fmt.stat(b.get('p50_ms'))} ms"),
                ("Latency p95", f"{fmt.stat(a.get('p95_ms'))} ms", f"{fmt.stat(b.get('p95_ms'))} ms"),
                ("Throughput", fmt.rate(a.get("items_per_s") or 0), fmt.rate(b.get("items_per_s") or 0)),
                ("Speed-up of B", "", f"{fmt.stat(comparison.get('speedup'), 2)}×")]
        if comparison.get("top1_agreement") is not None:
            rows.append(("Top-1 agreement", "", f"{100 * float(comparison['top1_agreement']):.1f}% of "
                                                f"{fmt.count(int(comparison.get('n') or 0))}"))
        boxes = comparison.get("boxes")
        if boxes:
            rows.append(("Boxes matched", "", f"{100 * float(boxes.get('agreement') or 0):.1f}% · mean IoU "
                                              f"{fmt.stat(boxes.get('mean_iou'))}"))
        for o in comparison.get("outputs") or []:
            rows.append((f"Output {o.get('name')}", "", f"max |Δ| {fmt.stat(o.get('max_abs_diff'))} · mean |Δ| "
                                                        f"{fmt.stat(o.get('mean_abs_diff'))}"))
        self.table.setRowCount(len(rows))
        for r, row in enumerate(rows):
            for c, text in enumerate(row):
                item = QTableWidgetItem("" if text is None else str(text))
                if c:
                    item.setTextAlignment(Qt.AlignRight | Qt.AlignVCenter)
                self.table.setItem(r, c, item)
        self.latency_plot.clear()
        for x, key, colour in ((0, "p50_ms", A_COLOR), (1, "p50_ms", B_COLOR), (3, "p95_ms", A_COLOR),
                               (4, "p95_ms", B_COLOR)):
            side = a if x in (0, 3) else b
            value = float(side.get(key) or 0.0)
            self.latency_plot.addItem(pg.BarGraphItem(x=[x], height=[value], width=0.8, brush=colour))
        self.latency_plot.getAxis("bottom").setTicks([[(0.5, "p50"), (3.5, "p95")]])
        self.diff_plot.clear()
        outputs = comparison.get("outputs") or []
        if outputs:
            values = np.asarray([float(o.get("max_abs_diff") or 0.0) for o in outputs])
            self.diff_plot.addItem(pg.BarGraphItem(x=np.arange(len(values)), height=values, width=0.6, brush=B_COLOR))
            self.diff_plot.getAxis("bottom").setTicks([[(i, str(o.get("name"))[:12]) for i, o in enumerate(outputs)]])
