"""The Validation tab: how the model does on the user's own labelled cases.

It shows an evaluation (the dict of :meth:`desktop.engine.validation.Evaluation.to_dict`): the
confusion matrix as a heat map with counts (a click on a cell filters the results to those
cases), the ROC and precision-recall curves with the operating point as a draggable marker, the
calibration curve (a regression's Bland–Altman plot instead), the metrics with their 95%
intervals, and the subgroup tables, whose groups too small to say anything are greyed out.
The evaluation itself is computed on a worker (the window asks; this view only displays).
"""

from __future__ import annotations

import html

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QColor, QPalette
from PySide6.QtWidgets import (QCheckBox, QComboBox, QDoubleSpinBox, QHBoxLayout, QHeaderView, QLabel, QPushButton,
                               QSplitter, QTableWidget, QTableWidgetItem, QVBoxLayout, QWidget)

from desktop.engine.validation.metrics import metric_title
from desktop.runs import fmt

from .latency import add_plot, theme_plot
from .tables import analysis_area, setup_table

#: the operating-point choices of a binary classifier: (text, method, default target)
OPERATING_POINTS = (("Youden's J (best sensitivity + specificity)", "youden", None),
                    ("A fixed threshold", "threshold", 0.5),
                    ("A target sensitivity", "sensitivity", 0.9),
                    ("A target specificity", "specificity", 0.9))
CURVE_COLOR = "#4e79a7"
POINT_COLOR = "#e15759"


_number = fmt.stat


def _ci(ci) -> str:
    if not ci or len(ci) != 2 or ci[0] is None:
        return ""
    return f"{_number(ci[0])} – {_number(ci[1])}"


class ValidationView(QWidget):
    """See the module docstring. ``evaluate_requested`` carries the user's choices; ``cases_requested`` the
    ``(input, row)`` keys of the cases a click picked (a confusion cell), for the Results tab to show."""

    evaluate_requested = Signal(object)  # {"truth": str, "operating_point": (method, target) | None, "subgroup": str|None}
    cases_requested = Signal(object, str)  # list of (input, row) keys, and what they are in words

    def __init__(self, parent=None):
        super().__init__(parent)
        self.evaluation: dict | None = None
        lay = QVBoxLayout(self)
        intro = QLabel("How the model does on your own labelled cases: choose where the true answers are, then "
                       "Evaluate. Each number has a 95% bootstrap interval.")
        intro.setWordWrap(True)
        lay.addWidget(intro)
        row = QHBoxLayout()
        lay.addLayout(row)
        row.addWidget(QLabel("Truth"))
        self.truth = QComboBox()
        self.truth.setEditable(True)
        self.truth.setMinimumContentsLength(12)
        self.truth.setToolTip("Where the true answers are: a CSV column (offered when one is named like label, "
                              "target, class, diagnosis, y or truth), 'folder names' for image folders named after "
                              "the classes, or the path of a CSV of input,label (COCO JSON or YOLO labels for a "
                              "detector)")
        row.addWidget(self.truth, 1)
        self.subgroup = QComboBox()
        self.subgroup.setToolTip("Split the metrics by a passed-through CSV column or a DICOM tag")
        row.addWidget(QLabel("Subgroups"))
        row.addWidget(self.subgroup)
        self.overrides = QCheckBox("Overrides are the truth")
        self.overrides.setToolTip("Count a reviewer's override of a result (O in the Results tab) as its true answer, "
                                  "in place of what the truth source says")
        row.addWidget(self.overrides)
        self.evaluate_button = QPushButton("Evaluate")
        self.evaluate_button.setToolTip("Compare the results shown with the true answers")
        self.evaluate_button.clicked.connect(self._on_evaluate)
        row.addWidget(self.evaluate_button)
        op = QHBoxLayout()
        lay.addLayout(op)
        self.op_label = QLabel("Operating point")
        op.addWidget(self.op_label)
        self.op_method = QComboBox()
        for text, method, _target in OPERATING_POINTS:
            self.op_method.addItem(text, method)
        self.op_method.setToolTip("How a binary classifier's threshold is chosen; the metrics follow it")
        self.op_method.currentIndexChanged.connect(self._on_method_changed)
        op.addWidget(self.op_method, 1)
        self.op_target = QDoubleSpinBox()
        self.op_target.setRange(0.0, 1.0)
        self.op_target.setDecimals(3)
        self.op_target.setSingleStep(0.01)
        self.op_target.setToolTip("The threshold, or the sensitivity or specificity to reach")
        op.addWidget(self.op_target)
        self.message, self.summary, self.stack, body = analysis_area(
            lay, "Score labelled cases, then choose where the true answers are and press <b>Evaluate</b>.")
        self.graphics = pg.GraphicsLayoutWidget()
        self.graphics.setBackground(self.palette().color(QPalette.Base))
        self.graphics.setMinimumHeight(300)
        body.addWidget(self.graphics)
        tables = QSplitter(Qt.Horizontal)
        body.addWidget(tables)
        self.metrics = QTableWidget(0, 4)
        self.metrics.setHorizontalHeaderLabels(["Metric", "Class", "Value", "95% interval"])
        setup_table(self.metrics, "Each metric with its 95% bootstrap interval")
        self.metrics.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeToContents)
        tables.addWidget(self.metrics)
        self.subgroups = QTableWidget(0, 4)
        self.subgroups.setHorizontalHeaderLabels(["Subgroup", "Cases", "Metric", "Value (95% interval)"])
        setup_table(self.subgroups, "The metrics per subgroup; a group too small to say anything is greyed out")
        self.subgroups.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeToContents)
        tables.addWidget(self.subgroups)
        self._plots: list = []
        self._cells: dict = {}  # (row, column) of the confusion matrix -> keys of its cases
        self._op_marker = None
        self._roc = None
        self._on_method_changed()

    # ------------------------------------------------------------------ the choices
    def set_choices(self, truth_choices, subgroup_choices, default_truth: str | None = None) -> None:
        """What the Truth and Subgroups boxes offer: ``truth_choices`` as (text, --truth value) pairs (a CSV's
        columns, "folder names under scans/"); a path can be typed in too."""
        current = self.truth.currentText()
        self.truth.clear()
        for text, spec in truth_choices:
            self.truth.addItem(text, spec)
        if default_truth is not None:
            self.truth.setCurrentText(default_truth)
        elif current:
            self.truth.setCurrentText(current)
        self.subgroup.clear()
        self.subgroup.addItem("None", None)
        for name in subgroup_choices:
            self.subgroup.addItem(name, name)

    def choices(self) -> dict:
        method = self.op_method.currentData()
        target = None if method == "youden" else self.op_target.value()
        text = self.truth.currentText().strip()
        i = self.truth.findText(text)
        spec = self.truth.itemData(i) if i >= 0 and self.truth.itemData(i) is not None else text
        return {"truth": spec, "operating_point": (method, target), "subgroup": self.subgroup.currentData(),
                "overrides": self.overrides.isChecked()}

    def _on_method_changed(self, *_):
        method = self.op_method.currentData()
        default = next(t for _, m, t in OPERATING_POINTS if m == method)
        self.op_target.setEnabled(default is not None)
        if default is not None:
            self.op_target.setValue(default)

    def _on_evaluate(self):
        choices = self.choices()
        if not choices["truth"]:
            self.message.show_error("Choose where the true answers are first (a CSV column, folder names, or a file).")
            return
        self.message.clear_message()
        self.evaluate_requested.emit(choices)

    def set_busy(self, busy: bool) -> None:
        self.evaluate_button.setEnabled(not busy)
        self.evaluate_button.setText("Evaluating…" if busy else "Evaluate")

    # ------------------------------------------------------------------ showing an evaluation
    def clear(self) -> None:
        self.evaluation = None
        self.graphics.clear()
        self._plots, self._cells, self._op_marker, self._roc = [], {}, None, None
        self.metrics.setRowCount(0)
        self.subgroups.setRowCount(0)
        self.summary.setText("")
        self.stack.setCurrentIndex(0)

    def set_evaluation(self, evaluation: dict) -> None:
        """Show an evaluation dict (see the module docstring)."""
        self.clear()
        self.evaluation = evaluation
        self.stack.setCurrentIndex(1)
        self._show_summary(evaluation)
        self._show_metrics(evaluation)
        self._show_subgroups(evaluation)
        binary = "roc" in evaluation
        for w in (self.op_label, self.op_method, self.op_target):
            w.setVisible(binary)
        col = 0
        if evaluation.get("confusion"):
            self._plot_confusion(evaluation["confusion"], evaluation.get("cases") or [], col)
            col += 1
        if evaluation.get("roc"):
            self._plot_roc(evaluation["roc"], evaluation.get("operating_point"), col)
            col += 1
        if evaluation.get("pr"):
            pr = evaluation["pr"]
            self._curve(col, "Precision–recall", "recall", "precision", pr.get("recall", []), pr.get("precision", []),
                        f"AP {_number(pr.get('ap'))}")
            col += 1
        if evaluation.get("calibration"):
            cal = evaluation["calibration"]
            plot = self._curve(col, "Calibration", "predicted probability", "observed frequency",
                               cal.get("prob_pred", []), cal.get("prob_true", []),
                               f"slope {_number(cal.get('slope'))}", symbol="o")
            plot.setToolTip(f"Calibration intercept {_number(cal.get('intercept'))}, slope "
                            f"{_number(cal.get('slope'))}, Brier score {_number(cal.get('brier'))}. Click a point "
                            "to see the cases of its bin in the Results tab")
            plot.plot([0, 1], [0, 1], pen=pg.mkPen(QColor(128, 128, 128), style=Qt.DashLine))
            for item in plot.listDataItems()[:1]:
                item.sigPointsClicked.connect(lambda _item, points, _ev: points and self.pick_bin(points[0].pos().x()))
            col += 1
        if evaluation.get("bland_altman"):
            self._plot_bland_altman(evaluation["bland_altman"], col)

    def _show_summary(self, e: dict) -> None:
        parts = [f"<b>{fmt.plural(int(e.get('n', 0)), 'case')}</b> compared"]
        if e.get("truth_source"):
            parts.append(f"truth: {html.escape(str(e['truth_source']))}")
        missing = int(e.get("missing_truth") or 0)
        if missing:
            parts.append(f"{fmt.plural(missing, 'result')} with no true answer (left out)")
        unmatched = e.get("unmatched") or {}
        if unmatched.get("count"):
            values = ", ".join(html.escape(str(v)) for v in list(unmatched.get("values") or [])[:6])
            parts.append(f"<span style='color:#c62828'>{fmt.plural(int(unmatched['count']), 'true answer')} "
                         f"matching no class of the model: {values}</span> (not guessed: left out)")
        op = e.get("operating_point")
        if op:
            parts.append(f"operating point: threshold {_number(op.get('threshold'))} on "
                         f"{html.escape(str(op.get('positive', '')))} ({html.escape(str(op.get('method', '')))})")
        self.summary.setText(" · ".join(parts))

    def _show_metrics(self, e: dict) -> None:
        rows = [(m, None) for m in e.get("metrics") or []]
        for pc in e.get("per_class") or []:
            rows += [(m, pc.get("label")) for m in pc.get("metrics") or []]
        self.metrics.setRowCount(len(rows))
        for r, (m, label) in enumerate(rows):
            cls = label if label is not None else m.get("label")
            for c, text in enumerate((metric_title(m.get("name", "")), "" if cls is None else str(cls),
                                      _number(m.get("value")),
                                      _ci(m.get("ci")))):
                item = QTableWidgetItem(text)
                if c >= 2:
                    item.setTextAlignment(Qt.AlignRight | Qt.AlignVCenter)
                self.metrics.setItem(r, c, item)

    def _show_subgroups(self, e: dict) -> None:
        rows = []
        for table in e.get("subgroups") or []:
            for g in table.get("groups") or []:
                name = f"{table.get('column')} = {g.get('value')}"
                if g.get("too_few"):
                    rows.append((name, g.get("n"), "too few cases to say", "", True))
                    continue
                for m in g.get("metrics") or []:
                    value = _number(m.get("value")) + (f" ({_ci(m.get('ci'))})" if _ci(m.get("ci")) else "")
                    rows.append((name, g.get("n"), metric_title(m.get("name", ""), m.get("label")), value, False))
        self.subgroups.setRowCount(len(rows))
        grey = self.palette().color(QPalette.Disabled, QPalette.Text)
        for r, (name, n, metric, value, few) in enumerate(rows):
            for c, text in enumerate((name, fmt.count(int(n or 0)), metric, value)):
                item = QTableWidgetItem(text)
                if few:
                    item.setForeground(grey)
                    item.setToolTip("Too few cases in this group for its metrics to mean anything")
                self.subgroups.setItem(r, c, item)
        self.subgroups.setVisible(bool(rows))

    # ------------------------------------------------------------------ charts
    def _new_plot(self, n: int, title: str, x: str, y: str) -> pg.PlotItem:
        """The ``n``-th chart, two to a row."""
        plot = add_plot(self.graphics, self.palette(), row=n // 2, col=n % 2, title=title)
        plot.setLabel("bottom", x)
        plot.setLabel("left", y)
        theme_plot(plot, self.palette())
        self._plots.append(plot)
        return plot

    def _curve(self, col, title, x, y, xs, ys, note: str, symbol=None) -> pg.PlotItem:
        plot = self._new_plot(col, f"{title} · {note}", x, y)
        plot.plot(list(xs), list(ys), pen=pg.mkPen(CURVE_COLOR, width=2), symbol=symbol, symbolSize=6,
                  symbolBrush=CURVE_COLOR)
        plot.setXRange(0, 1, padding=0.02)
        plot.setYRange(0, 1, padding=0.02)
        return plot

    def _plot_confusion(self, confusion: dict, cases, col: int) -> None:
        labels = [str(x) for x in confusion.get("labels") or []]
        counts = np.asarray(confusion.get("counts") or [[0]], dtype=np.float64)
        plot = self._new_plot(col, "Confusion matrix", "predicted", "true")
        plot.setToolTip("Click a cell to see its cases in the Results tab")
        k = len(labels)
        image = pg.ImageItem(counts.T)  # ImageItem's first axis is x: predicted across, true down
        ramp = np.linspace(0.0, 1.0, 256)[:, None]  # white to the curves' blue
        image.setLookupTable((255 * (1 - ramp) + np.array([[78, 121, 167]]) * ramp).astype(np.uint8))
        image.setLevels((0, max(float(counts.max()) if counts.size else 1.0, 1.0)))
        image.setRect(0, 0, k, k)
        plot.addItem(image)
        peak = counts.max() if counts.size else 0
        for t in range(k):
            for p in range(k):
                n = int(counts[t, p])
                text = pg.TextItem(fmt.count(n), anchor=(0.5, 0.5),
                                   color="white" if peak and n > peak * 0.55 else "black")
                text.setPos(p + 0.5, t + 0.5)
                plot.addItem(text)
        ticks = [(i + 0.5, lab) for i, lab in enumerate(labels)]
        plot.getAxis("bottom").setTicks([ticks])
        plot.getAxis("left").setTicks([ticks])
        widest = max((self.fontMetrics().horizontalAdvance(lab) for lab in labels), default=20)
        plot.getAxis("left").setWidth(widest + 30)  # room for the longest class name
        plot.invertY(True)
        plot.setMouseEnabled(False, False)
        plot.hideButtons()
        plot.showGrid(False, False)
        self._cells = {}
        for case in cases:
            key = tuple(case.get("key") or ())
            t, p = str(case.get("truth")), str(case.get("predicted"))
            if t in labels and p in labels:
                self._cells.setdefault((labels.index(t), labels.index(p)), []).append(key)
        self._confusion_labels = labels
        plot.scene().sigMouseClicked.connect(lambda ev, plot=plot: self._on_confusion_click(plot, ev))

    def _on_confusion_click(self, plot, event) -> None:
        if not plot.sceneBoundingRect().contains(event.scenePos()):
            return
        point = plot.vb.mapSceneToView(event.scenePos())
        self.pick_cell(int(np.floor(point.y())), int(np.floor(point.x())))

    def pick_cell(self, true_index: int, predicted_index: int) -> bool:
        """Ask the Results tab to show the cases of one cell (true row, predicted column)."""
        labels = getattr(self, "_confusion_labels", [])
        if not (0 <= true_index < len(labels) and 0 <= predicted_index < len(labels)):
            return False
        keys = self._cells.get((true_index, predicted_index), [])
        what = f"true {labels[true_index]}, predicted {labels[predicted_index]}"
        self.cases_requested.emit(keys, what)
        return True

    def pick_bin(self, predicted: float) -> bool:
        """Ask the Results tab to show the cases of the calibration bin that holds ``predicted`` (a point's x)."""
        e = self.evaluation or {}
        cal = e.get("calibration") or {}
        bins = int(cal.get("bins") or 10)
        b = min(int(float(predicted) * bins), bins - 1)
        lo, hi = b / bins, (b + 1) / bins
        keys = [tuple(c.get("key") or ()) for c in e.get("cases") or []
                if c.get("score") is not None and (lo <= c["score"] < hi or (b == bins - 1 and c["score"] == 1.0))]
        positive = cal.get("positive", "the positive class")
        self.cases_requested.emit(keys, f"given {lo:.1f}–{hi:.1f} probability of {positive}")
        return True

    def _plot_roc(self, roc: dict, op, col: int) -> None:
        fpr, tpr = list(roc.get("fpr") or []), list(roc.get("tpr") or [])
        plot = self._curve(col, "ROC", "1 − specificity", "sensitivity", fpr, tpr, f"AUC {_number(roc.get('auc'))}")
        plot.plot([0, 1], [0, 1], pen=pg.mkPen(QColor(128, 128, 128), style=Qt.DashLine))
        self._roc = roc
        if op and roc.get("thresholds"):
            i = self._nearest_threshold(float(op.get("threshold", 0.5)))
            marker = pg.TargetItem(pos=(fpr[i], tpr[i]), size=14, pen=pg.mkPen(POINT_COLOR, width=2), movable=True,
                                   label=f"threshold {_number(op.get('threshold'))}",
                                   labelOpts={"color": POINT_COLOR, "offset": (10, 10)})
            marker.setToolTip("The operating point: drag it along the curve to choose another threshold")
            marker.sigPositionChangeFinished.connect(self._on_marker_moved)
            plot.addItem(marker)
            self._op_marker = marker

    def _nearest_threshold(self, threshold: float) -> int:
        thresholds = np.asarray(self._roc.get("thresholds") or [0.5], dtype=np.float64)
        finite = np.where(np.isfinite(thresholds), thresholds, np.inf)
        return int(np.argmin(np.abs(finite - threshold)))

    def _on_marker_moved(self, marker) -> None:
        """Snap the dragged operating point to the nearest point of the curve; evaluate at its threshold."""
        fpr = np.asarray(self._roc.get("fpr") or [], dtype=np.float64)
        tpr = np.asarray(self._roc.get("tpr") or [], dtype=np.float64)
        thresholds = np.asarray(self._roc.get("thresholds") or [], dtype=np.float64)
        if not len(fpr):
            return
        pos = marker.pos()
        i = int(np.argmin((fpr - pos.x()) ** 2 + (tpr - pos.y()) ** 2))
        threshold = float(np.clip(thresholds[i], 0.0, 1.0)) if np.isfinite(thresholds[i]) else 1.0
        self.move_operating_point(threshold)

    def move_operating_point(self, threshold: float) -> None:
        """Evaluate again with a fixed threshold (what dragging the ROC marker does)."""
        self.op_method.setCurrentIndex(self.op_method.findData("threshold"))
        self.op_target.setValue(threshold)
        self._on_evaluate()

    def _plot_bland_altman(self, ba: dict, col: int) -> None:
        plot = self._new_plot(col, "Bland–Altman", "mean of truth and prediction", "prediction − truth")
        plot.plot(list(ba.get("mean") or []), list(ba.get("diff") or []), pen=None, symbol="o", symbolSize=5,
                  symbolBrush=CURVE_COLOR, symbolPen=None)
        for y, style in ((ba.get("bias"), Qt.SolidLine), *((v, Qt.DashLine) for v in (ba.get("loa") or []))):
            if y is not None:
                plot.addItem(pg.InfiniteLine(pos=float(y), angle=0, pen=pg.mkPen(POINT_COLOR, style=style)))
