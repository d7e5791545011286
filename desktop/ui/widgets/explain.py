"""The detail pane's Explain section: why did the model give this result?

The user picks a method (occlusion, RISE, D-RISE for a detector's box, KernelSHAP for a CSV row)
and the class to explain; the window computes it on a worker with progress and Cancel. An
image's map is laid over the image as a heat map (the detail pane's overlay); a row's
attributions are a signed bar chart, largest first. "Check this explanation" re-runs the method
on copies of the model with their weights randomised from the output end, and says whether the
map depends on the model at all (rank correlation), with the deletion and insertion AUC.
"""

from __future__ import annotations

import html

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QColor, QPalette
from PySide6.QtWidgets import (QComboBox, QDoubleSpinBox, QFormLayout, QHBoxLayout, QLabel, QPushButton, QSpinBox,
                               QToolButton, QVBoxLayout, QWidget)

from .progress import ProgressStrip

#: (method, what the menu says, for which results)
METHODS = (("rise", "RISE (random masks)", "image"), ("drise", "D-RISE (one box of a detector)", "detection"),
           ("occlusion", "Occlusion (a patch slid over the image)", "image"),
           ("kernelshap", "KernelSHAP (each feature of a CSV row)", "table"))
POSITIVE, NEGATIVE = "#4e79a7", "#e15759"


class ExplainPanel(QWidget):
    """See the module docstring; the window connects the requests and hands back the results."""

    explain_requested = Signal(str, object, object)  # method, target (a class or box index; None: the top class),
    # and the method's settings (n, grid, p, seed; patch, stride, baseline; n_samples)
    check_requested = Signal()
    cancel_requested = Signal()

    def __init__(self, parent=None):
        super().__init__(parent)
        self.explanation = None
        lay = QVBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.setSpacing(2)
        row = QHBoxLayout()
        self.method = QComboBox()
        self.method.setToolTip("How the explanation is computed: from the model's answers on changed copies of "
                               "the input (onnxruntime has no gradients)")
        self.method.setSizeAdjustPolicy(QComboBox.AdjustToMinimumContentsLengthWithIcon)
        self.method.setMinimumContentsLength(10)
        row.addWidget(self.method, 1)
        lay.addLayout(row)
        row = QHBoxLayout()  # rows of their own: side by side they made the detail pane scroll sideways at 1024 px
        self.target = QComboBox()
        self.target.setToolTip("The class whose score is explained")
        self.target.setSizeAdjustPolicy(QComboBox.AdjustToMinimumContentsLengthWithIcon)
        self.target.setMinimumContentsLength(6)
        row.addWidget(self.target, 1)
        buttons = row
        self.explain_button = QPushButton("Explain")
        self.explain_button.setToolTip("Compute the explanation of this result in the background (seeded: the same "
                                       "settings give the same map)")
        self.explain_button.clicked.connect(lambda: self.explain_requested.emit(
            self.method.currentData(), self.target.currentData(), self.params()))
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.setToolTip("Stop: what was computed so far is shown, marked as partial")
        self.cancel_button.clicked.connect(self.cancel_requested)
        self.check_button = QPushButton("Check this explanation")
        self.check_button.setToolTip("Run the method again on copies of the model with its weights randomised, "
                                     "layer by layer from the output end: a map that does not change is unreliable")
        self.check_button.clicked.connect(self.check_requested)
        self.settings_button = QToolButton()
        self.settings_button.setText("Settings")
        self.settings_button.setCheckable(True)
        self.settings_button.setToolTip("The method's settings: masks, grid, keep probability and seed (RISE); patch, "
                                        "stride and baseline (occlusion); samples and seed (KernelSHAP)")
        for b in (self.explain_button, self.cancel_button):
            buttons.addWidget(b)
        lay.addLayout(buttons)
        checks = QHBoxLayout()
        for b in (self.check_button, self.settings_button):
            checks.addWidget(b)
        checks.addStretch(1)
        lay.addLayout(checks)
        self._build_settings(lay)
        self.settings_button.toggled.connect(self._show_settings)
        self.method.currentIndexChanged.connect(lambda *_: self._show_settings(self.settings_button.isChecked()))
        self.progress = ProgressStrip()
        self.progress.setToolTip("Masks, patches or samples scored")
        lay.addWidget(self.progress)
        self.info = QLabel()
        self.info.setWordWrap(True)
        self.info.setTextInteractionFlags(Qt.TextSelectableByMouse)
        lay.addWidget(self.info)
        self.verdict = QLabel()
        self.verdict.setWordWrap(True)
        self.verdict.setTextInteractionFlags(Qt.TextSelectableByMouse)
        lay.addWidget(self.verdict)
        self.bars = pg.PlotWidget()
        self.bars.setBackground(self.palette().color(QPalette.Base))
        self.bars.setMinimumHeight(160)
        self.bars.setToolTip("Each feature's share of the score: right pushes it up, left down (KernelSHAP)")
        self.bars.setMouseEnabled(False, False)
        self.bars.hideButtons()
        lay.addWidget(self.bars)
        self.set_result(None)

    def _build_settings(self, lay) -> None:
        """One spin box per setting; those of the chosen method are shown (the defaults are the methods')."""
        self.settings = QWidget()
        form = QFormLayout(self.settings)
        form.setContentsMargins(0, 0, 0, 0)

        def spin(lo, hi, value, tip, decimals=None, step=None):
            box = QDoubleSpinBox() if decimals is not None else QSpinBox()
            if decimals is not None:
                box.setDecimals(decimals)
            box.setRange(lo, hi)
            box.setValue(value)
            if step is not None:
                box.setSingleStep(step)
            box.setToolTip(tip)
            return box

        self.fields = {
            "n": spin(10, 100000, 4000, "Random masks (RISE, D-RISE)", step=500),
            "grid": spin(2, 64, 7, "Mask grid cells per side (RISE: 7, D-RISE: 16)"),
            "p": spin(0.05, 0.95, 0.5, "Each cell's chance of being kept", decimals=2, step=0.05),
            "patch": spin(0, 4096, 0, "Occlusion patch side in the model's input pixels (0: an eighth of the "
                                      "shorter side)"),
            "stride": spin(0, 4096, 0, "Occlusion stride (0: half the patch)"),
            "baseline": QComboBox(),
            "n_samples": spin(64, 100000, 2048, "Coalitions sampled (KernelSHAP; small models are exact)", step=256),
            "seed": spin(0, 2 ** 31 - 1, 0, "The random seed: the same settings and seed give the same map"),
        }
        for text, data in (("the image's mean", "mean"), ("a blur", "blur"), ("black (0)", 0.0)):
            self.fields["baseline"].addItem(text, data)
        self.fields["baseline"].setToolTip("What covers an occluded patch")
        titles = {"n": "Masks", "grid": "Grid", "p": "Keep", "patch": "Patch", "stride": "Stride",
                  "baseline": "Baseline", "n_samples": "Samples", "seed": "Seed"}
        for key, widget in self.fields.items():
            form.addRow(titles[key], widget)
        self._form = form
        lay.addWidget(self.settings)
        self.settings.setVisible(False)

    #: the settings each method takes
    METHOD_FIELDS = {"rise": ("n", "grid", "p", "seed"), "drise": ("n", "grid", "p", "seed"),
                     "occlusion": ("patch", "stride", "baseline"), "kernelshap": ("n_samples", "seed")}

    def _show_settings(self, shown: bool) -> None:
        keys = self.METHOD_FIELDS.get(self.method.currentData(), ())
        self.settings.setVisible(shown and bool(keys))
        for key, widget in self.fields.items():
            self._form.setRowVisible(widget, key in keys)
        if self.method.currentData() == "drise" and self.fields["grid"].value() == 7:
            self.fields["grid"].setValue(16)  # D-RISE's own default
        elif self.method.currentData() == "rise" and self.fields["grid"].value() == 16:
            self.fields["grid"].setValue(7)

    def params(self) -> dict:
        """The chosen method's settings, as its keyword arguments (a 0 patch or stride: the method's default)."""
        out = {}
        for key in self.METHOD_FIELDS.get(self.method.currentData(), ()):
            widget = self.fields[key]
            value = widget.currentData() if isinstance(widget, QComboBox) else widget.value()
            if key in ("patch", "stride") and not value:
                continue
            out[key] = int(value) if isinstance(value, int) or key in ("n", "grid", "seed", "n_samples", "patch",
                                                                       "stride") else value
        return out

    # ------------------------------------------------------------------ the result to explain
    def set_result(self, result, labels=(), kind: str | None = None, boxes=()) -> None:
        """Offer the methods that fit ``result`` (``kind``: image, detection or table) and its classes, or for a
        detector the boxes to explain (``boxes``: (label, score) each, best first)."""
        self.explanation = None
        self.method.clear()
        for method, text, fits in METHODS:
            if kind == fits or (kind == "detection" and method == "occlusion"):
                self.method.addItem(text, method)
        self.target.clear()
        if kind == "detection":  # D-RISE explains one box: which
            for i, (label, score) in enumerate(boxes):
                self.target.addItem(f"Box {i + 1}: {label} {float(score):.2f}", i)
            self.target.setToolTip("The detected box whose score is explained")
        else:
            self.target.addItem("Top class", None)
            for i, label in enumerate(labels):
                self.target.addItem(str(label), i)
            self.target.setToolTip("The class whose score is explained")
        self.target.setVisible((kind in ("image", "table") and bool(labels)) or (kind == "detection" and bool(boxes)))
        usable = result is not None and getattr(result, "ok", False) and self.method.count() > 0
        self.setVisible(usable)
        self.set_busy(False)
        self.progress.setValue(0)
        self.info.setText("")
        self.verdict.setText("")
        self.bars.clear()
        self.bars.setVisible(False)
        self.check_button.setEnabled(False)

    def set_busy(self, busy: bool, what: str = "explain") -> None:
        self.explain_button.setEnabled(not busy)
        self.explain_button.setText("Explaining…" if busy and what == "explain" else "Explain")
        self.cancel_button.setVisible(busy)
        self.check_button.setEnabled(not busy and self.explanation is not None)
        self.check_button.setText("Checking…" if busy and what == "check" else "Check this explanation")

    def set_progress(self, done: int, total: int) -> None:
        self.progress.setRange(0, max(1, int(total)))
        self.progress.setValue(int(done))

    # ------------------------------------------------------------------ what came back
    def show_explanation(self, explanation) -> None:
        """Say what was computed; draw a row's attributions (an image's map goes over the image, by the pane)."""
        self.explanation = explanation
        self.set_busy(False)
        target = explanation.target or {}
        params = ", ".join(f"{k} {v}" for k, v in sorted((explanation.params or {}).items())
                           if not isinstance(v, (list, tuple, dict)) and k not in ("reference_rows",))
        partial = (f" · <b>partial</b>: stopped after {explanation.done:,} of {explanation.total:,}"
                   if explanation.cancelled else "")
        self.info.setText(f"<b>{html.escape(explanation.method)}</b> for <b>{html.escape(str(target.get('label')))}"
                          f"</b> in {explanation.elapsed_s:.1f} s{partial}<br><span style='font-size:small'>"
                          f"{html.escape(params)}</span>")
        self.verdict.setText("")
        features = getattr(explanation, "features", None)
        self.bars.setVisible(features is not None)
        if features is not None:
            self._draw_bars(features)

    def _draw_bars(self, features, most: int = 12) -> None:
        """Signed horizontal bars, the largest attribution on top."""
        self.bars.clear()
        shown = list(features)[:most]
        values = np.asarray([float(a) for _, _, a in shown], dtype=np.float64)
        y = np.arange(len(shown))[::-1].astype(np.float64)
        brushes = [POSITIVE if v >= 0 else NEGATIVE for v in values]
        self.bars.addItem(pg.BarGraphItem(x0=np.minimum(values, 0), width=np.abs(values), y=y, height=0.7,
                                          brushes=brushes, pens=[pg.mkPen(b) for b in brushes]))
        axis = self.bars.getAxis("left")
        axis.setTicks([[(float(yy), f"{name} = {value}"[:28]) for yy, (name, value, _a) in zip(y, shown)]])
        self.bars.addItem(pg.InfiniteLine(pos=0, angle=90, pen=pg.mkPen(QColor(128, 128, 128))))
        self.bars.setFixedHeight(max(160, 22 * len(shown) + 40))

    def show_check(self, check: dict) -> None:
        """The sanity check's verdict: the rank correlation as the model is destroyed, the AUCs."""
        self.set_busy(False)
        steps = check.get("steps") or check.get("cascade") or check.get("rank_correlation") or []
        rhos = " → ".join(f"{float(s.get('rho', 0)):.2f}" for s in steps if isinstance(s, dict)) if isinstance(
            steps, list) else ""
        reliable = check.get("reliable")
        colour = "#2e7d32" if reliable else "#c62828"
        word = "reliable" if reliable else "unreliable"
        aucs = ""
        if check.get("deletion_auc") is not None and check.get("insertion_auc") is not None:
            aucs = (f" · deletion AUC {float(check['deletion_auc']):.3f}, insertion AUC "
                    f"{float(check['insertion_auc']):.3f} (a useful map deletes low and inserts high)")
        self.verdict.setText(f"<b style='color:{colour}'>{word}</b>: {html.escape(str(check.get('verdict', '')))}"
                             + (f"<br>rank correlation as layers are randomised: {rhos}" if rhos else "") + aucs)
