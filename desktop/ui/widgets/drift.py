"""The Drift tab: does the data scored now look like the data the model was checked on?

It shows a drift report (the dict of :meth:`desktop.engine.drift.DriftReport.to_dict`): the
verdict for the dataset, one row per feature (and for the model's predictions) with its state
(stable, watch, drifted), the test, statistic, threshold, p-value, PSI and sample sizes, sorted
by severity; the selected feature's reference and current distributions overlaid; the rows or
images outside the reference's range; and the share of drifted features across the model's past
runs. The report is computed on a worker (the window asks; this view only displays).
"""

from __future__ import annotations

import html
import os

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QColor, QPalette
from PySide6.QtWidgets import (QFileDialog, QHBoxLayout, QHeaderView, QLabel, QPushButton, QTableWidget,
                               QTableWidgetItem, QVBoxLayout, QWidget)

from desktop.runs import fmt

from .latency import add_plot, theme_plot
from .tables import analysis_area, setup_table

#: each state's badge and colour (light, dark)
STATES = {"drifted": ("✖ drifted", "#c62828", "#ff8a80"), "watch": ("▲ watch", "#a15c00", "#ffb74d"),
          "stable": ("● stable", "#2e7d32", "#81c784")}
REFERENCE_COLOR, CURRENT_COLOR = "#4e79a7", "#e15759"
COLUMNS = ("State", "Feature", "Test", "Statistic", "Threshold", "p", "PSI", "Reference n", "Current n", "Outside")


_num = fmt.stat


class DriftView(QWidget):
    """See the module docstring. ``check_requested`` carries the reference's path (a saved reference, or a
    CSV file or folder to build one from)."""

    check_requested = Signal(str)

    def __init__(self, parent=None):
        super().__init__(parent)
        self.report: dict | None = None
        self.reference_path: str = ""
        lay = QVBoxLayout(self)
        intro = QLabel("Compare what was scored with a reference set (the data the model was checked on): each "
                       "feature, and the model's answers, get stable, watch or drifted.")
        intro.setWordWrap(True)
        lay.addWidget(intro)
        row = QHBoxLayout()
        lay.addLayout(row)
        self.reference_label = QLabel("No reference chosen")
        self.reference_label.setTextInteractionFlags(Qt.TextSelectableByMouse)
        self.reference_label.setToolTip("The reference: a saved reference (.reference.json), or the CSV file or "
                                        "image folder to build one from")
        row.addWidget(self.reference_label, 1)
        self.choose_button = QPushButton("Reference…")
        self.choose_button.setToolTip("Choose the reference: a saved .reference.json, a CSV file, or an image folder")
        self.choose_button.clicked.connect(self.choose_reference)
        row.addWidget(self.choose_button)
        self.check_button = QPushButton("Check drift")
        self.check_button.setToolTip("Compare the results shown with the reference")
        self.check_button.clicked.connect(self._on_check)
        row.addWidget(self.check_button)
        self.message, self.verdict, self.stack, body = analysis_area(
            lay, "Score some inputs, choose a <b>Reference…</b> (the data the model was checked on), then "
                 "<b>Check drift</b>.")
        self.table = QTableWidget(0, len(COLUMNS))
        self.table.setHorizontalHeaderLabels(list(COLUMNS))
        setup_table(self.table, "Each feature and the model's answers, most drifted first; select one to see its "
                                "distributions")
        self.table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeToContents)
        self.table.horizontalHeader().setStretchLastSection(True)
        self.table.currentCellChanged.connect(lambda row, *_: self.show_column(row))
        body.addWidget(self.table)
        self.graphics = pg.GraphicsLayoutWidget()
        self.graphics.setBackground(self.palette().color(QPalette.Base))
        self.graphics.setMinimumHeight(200)
        body.addWidget(self.graphics)
        self.dist = add_plot(self.graphics, self.palette(), row=0, col=0, title="Reference and current")
        self.history = add_plot(self.graphics, self.palette(), row=0, col=1, title="Drifted features, run by run")
        self.history.setLabel("left", "share drifted")
        self.history.setLabel("bottom", "run (oldest first)")
        for plot in (self.dist, self.history):
            theme_plot(plot, self.palette())
        self.dist.addLegend(offset=(-5, 5))
        self.outside = QTableWidget(0, 3)
        self.outside.setHorizontalHeaderLabels(["Input", "Row", "Outside the reference's range in"])
        setup_table(self.outside, "Rows or images with a value outside the reference's range")
        self.outside.horizontalHeader().setStretchLastSection(True)
        body.addWidget(self.outside)
        self._rows: list = []

    # ------------------------------------------------------------------ the reference
    def set_reference(self, path: str | None) -> None:
        self.reference_path = path or ""
        self.reference_label.setText(f"Reference: {html.escape(os.path.basename(path))}" if path else
                                     "No reference chosen")
        self.reference_label.setToolTip(path or "No reference chosen")

    def choose_reference(self) -> None:
        start = os.path.dirname(self.reference_path) if self.reference_path else ""
        path, _ = QFileDialog.getOpenFileName(self, "Choose the reference", start,
                                              "References and CSV files (*.reference.json *.json *.csv *.tsv);;"
                                              "All files (*)")
        if not path:
            path = QFileDialog.getExistingDirectory(self, "Or an image folder as the reference", start)
        if path:
            self.set_reference(path)

    def _on_check(self) -> None:
        if not self.reference_path:
            self.message.show_error("Choose a reference first (Reference…): the data the model was checked on.")
            return
        self.message.clear_message()
        self.check_requested.emit(self.reference_path)

    def set_busy(self, busy: bool) -> None:
        self.check_button.setEnabled(not busy)
        self.check_button.setText("Checking…" if busy else "Check drift")

    # ------------------------------------------------------------------ a report
    def clear(self) -> None:
        self.report = None
        self._rows = []
        self.table.setRowCount(0)
        self.outside.setRowCount(0)
        self.dist.clear()
        self.history.clear()
        self.verdict.setText("")
        self.stack.setCurrentIndex(0)

    def set_report(self, report: dict) -> None:
        self.clear()
        self.report = report
        self.stack.setCurrentIndex(1)
        dark = self.palette().color(QPalette.Base).lightness() < 128
        columns = list(report.get("columns") or [])
        share = float(report.get("share_drifted") or 0.0)
        drifted = sum(1 for c in columns if c.get("state") == "drifted")
        verdict = "drifted" if report.get("dataset_drift") else "not drifted"
        colour = STATES["drifted" if report.get("dataset_drift") else "stable"][2 if dark else 1]
        self.verdict.setText(
            f"<b style='color:{colour}'>Dataset {verdict}</b>: {drifted} of {fmt.plural(len(columns), 'feature')} "
            f"drifted ({share:.0%}; the dataset drifts when half do) · {fmt.count(int(report.get('n_current', 0)))} "
            f"current against {fmt.count(int(report.get('n_reference', 0)))} reference rows")
        prediction = report.get("prediction")
        predictions = list(prediction.values()) if isinstance(prediction, dict) and "name" not in prediction else (
            [prediction] if prediction else [])
        self._rows = [dict(c, _is_prediction=True) for c in predictions if isinstance(c, dict)] + columns
        self.table.setRowCount(len(self._rows))
        for r, c in enumerate(self._rows):
            badge, light, dark_colour = STATES.get(c.get("state"), ("?", "#666666", "#aaaaaa"))
            name = ("prediction: " if c.get("_is_prediction") else "") + str(c.get("name", ""))
            cells = (badge, name, str(c.get("test", "")), _num(c.get("statistic")), _num(c.get("threshold")),
                     _num(c.get("p_value")), _num(c.get("psi")), fmt.count(int(c.get("n_reference") or 0)),
                     fmt.count(int(c.get("n_current") or 0)), fmt.count(int(c.get("outside") or 0)))
            for k, text in enumerate(cells):
                item = QTableWidgetItem(text)
                if k == 0:
                    item.setForeground(QColor(dark_colour if dark else light))
                if k >= 3:
                    item.setTextAlignment(Qt.AlignRight | Qt.AlignVCenter)
                self.table.setItem(r, k, item)
        outside = list(report.get("outside_range") or [])
        self.outside.setRowCount(len(outside))
        for r, o in enumerate(outside):
            for k, text in enumerate((os.path.basename(str(o.get("input", ""))),
                                      "" if o.get("row") is None else str(o["row"]),
                                      ", ".join(str(x) for x in o.get("columns") or []))):
                self.outside.setItem(r, k, QTableWidgetItem(text))
        self.outside.setVisible(bool(outside))
        if self._rows:  # the most drifted first: the first drifted row, else the first
            first = next((r for r, c in enumerate(self._rows) if c.get("state") == "drifted"), 0)
            self.table.setCurrentCell(first, 1)
            self.show_column(first)

    def show_column(self, row: int) -> None:
        """Overlay the reference and current distributions of the feature in table row ``row``."""
        self.dist.clear()
        if self.dist.legend is not None:
            self.dist.legend.clear()
        if not 0 <= row < len(self._rows):
            return
        c = self._rows[row]
        self.dist.setTitle(f"{c.get('name', '')}: reference and current")
        hist, cats = c.get("hist"), c.get("categories")
        if hist:
            edges = np.asarray(hist.get("edges") or [], dtype=np.float64)
            for key, colour in (("reference", REFERENCE_COLOR), ("current", CURRENT_COLOR)):
                values = np.asarray(hist.get(key) or [], dtype=np.float64)
                if len(edges) == len(values) + 1 and len(values):
                    fill = QColor(colour)
                    fill.setAlpha(90)
                    self.dist.plot(edges, values, stepMode="center", fillLevel=0, pen=pg.mkPen(colour, width=2),
                                   brush=pg.mkBrush(fill), name=key)
        elif cats:
            values = [str(v) for v in cats.get("values") or []]
            x = np.arange(len(values), dtype=np.float64)
            for key, colour, shift in (("reference", REFERENCE_COLOR, -0.2), ("current", CURRENT_COLOR, 0.2)):
                heights = np.asarray(cats.get(key) or [], dtype=np.float64)
                if len(heights) == len(values):
                    bars = pg.BarGraphItem(x=x + shift, height=heights, width=0.38, brush=colour, pen=pg.mkPen(colour))
                    self.dist.addItem(bars)
                    if self.dist.legend is not None:
                        self.dist.legend.addItem(bars, key)
            self.dist.getAxis("bottom").setTicks([[(i, v[:12]) for i, v in enumerate(values)]])

    def set_history(self, history) -> None:
        """The share of drifted features in each past run of the model (oldest first)."""
        self.history.clear()
        shares = [float(h.get("share_drifted") or 0.0) for h in history or []]
        if not shares:
            return
        x = np.arange(1, len(shares) + 1, dtype=np.float64)
        self.history.plot(x, shares, pen=pg.mkPen(REFERENCE_COLOR, width=2), symbol="o", symbolSize=6,
                          symbolBrush=[CURRENT_COLOR if h.get("dataset_drift") else REFERENCE_COLOR
                                       for h in history])
        self.history.addItem(pg.InfiniteLine(pos=0.5, angle=0, pen=pg.mkPen(QColor(128, 128, 128),
                                                                            style=Qt.DashLine)))
        self.history.getAxis("bottom").setTicks([[(float(i), str(i)) for i in range(1, len(shares) + 1)]])
        self.history.setYRange(0, 1, padding=0.05)
