"""The Latency and Benchmark tabs: pyqtgraph charts that update while scoring, with a readable readout."""

from __future__ import annotations

import html
import math
import time

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtGui import QColor, QPalette
from PySide6.QtWidgets import (QAbstractItemView, QComboBox, QFormLayout, QGroupBox, QHBoxLayout,
                               QHeaderView, QLabel, QPushButton, QSpinBox, QTableWidget,
                               QTableWidgetItem, QVBoxLayout, QWidget)

from desktop.engine.results import STAGES

from desktop.runs import fmt
from .progress import ProgressStrip

STAGE_NAMES = {"decode": "decode", "preprocess": "preprocess", "infer": "inference", "postprocess": "postprocess"}
STAGE_COLORS = ("#4e79a7", "#f28e2b", "#59a14f", "#b07aa1")
CONFIG_COLORS = ("#4e79a7", "#e15759")


WARMUP_MAX = 5


def warmup_count(n_ok: int) -> int:
    """Items treated as warm-up at the start of a run: 1 in 10, at most 5 (0 for fewer than 10)."""
    return min(WARMUP_MAX, n_ok // 10)


def sorted_percentiles(values: np.ndarray, qs) -> list[float]:
    """``np.percentile(values, qs)`` (its linear method, step for step) of values already sorted: no pass over them."""
    n = len(values)
    virtual = (n - 1) * np.true_divide(np.asarray(qs, dtype=np.float64), 100)
    below = np.floor(virtual)
    gamma = virtual - below
    below = below.astype(np.intp)
    a, b = values[below], values[np.minimum(below + 1, n - 1)]
    diff = b - a
    return np.where(gamma >= 0.5, b - diff * (1 - gamma), a + diff * gamma).tolist()


def latency_stats(totals, arrivals=None, t_start=None, qs=(50, 95, 99), kept_sorted=None) -> dict:
    """The readout's numbers from per-item totals (ms) in run order, warm-up excluded.

    ``arrivals`` (perf_counter seconds per item) and ``t_start`` give items per second by wall clock;
    ``qs`` are the percentiles, keyed ``p50``, ``p99.5``...; ``kept_sorted``, the totals after the warm-up
    in ascending order when the caller keeps them so, spares the partition of a million values.
    """
    totals = np.asarray(totals, dtype=np.float64)
    warm = warmup_count(totals.size)
    kept = totals[warm:]
    if not kept.size:
        values = [math.nan] * len(qs)
    elif kept_sorted is not None and len(kept_sorted) == kept.size:
        values = sorted_percentiles(kept_sorted, qs)
    else:
        values = np.percentile(kept, qs).tolist()
    stats = {"n": int(kept.size), "warmup": warm, **{f"p{q:g}": v for q, v in zip(qs, values)},
             "mean": float(kept.mean()) if kept.size else math.nan, "items_per_s": math.nan}
    if arrivals is not None and len(arrivals) > warm:
        arrivals = np.asarray(arrivals, dtype=np.float64)
        live = np.isfinite(arrivals)
        if live.all():
            ref = arrivals[warm - 1] if warm else t_start
            if ref is not None:
                span = arrivals[-1] - ref
                if span > 0:
                    stats["items_per_s"] = (len(arrivals) - warm) / span
        elif live.sum() >= 2:
            # a resumed run: the results recorded before it have no arrival time; the rate is that of
            # the items scored since, from the first of them to the last
            times = arrivals[live]
            span = times[-1] - times[0]
            if span > 0:
                stats["items_per_s"] = (len(times) - 1) / span
    return stats


class _SolidGridAxis(pg.AxisItem):
    """An axis whose grid lines are drawn in solid colours, blended with the background beforehand.

    pyqtgraph draws the grid as translucent tick lines, and Qt's raster engine draws a
    translucent line far slower than an opaque one: the grid was most of the Latency tab's
    repaint, long enough to stall the window when it was resized during a run. The lines keep
    their colour on the background and are drawn behind the data.
    """

    def __init__(self, orientation: str, background: QColor):
        super().__init__(orientation)
        self._background = QColor(background)
        self._pens: dict = {}

    def _solid(self, pen):
        color = pen.color()
        alpha = color.alphaF()
        if alpha >= 1.0:
            return pen
        key = (color.rgba(), pen.widthF())
        solid = self._pens.get(key)
        if solid is None:
            bg = self._background
            mixed = QColor.fromRgbF(color.redF() * alpha + bg.redF() * (1 - alpha),
                                    color.greenF() * alpha + bg.greenF() * (1 - alpha),
                                    color.blueF() * alpha + bg.blueF() * (1 - alpha))
            solid = self._pens[key] = pg.mkPen(mixed, width=pen.widthF())
        return solid

    def updateAutoSIPrefix(self):
        # pyqtgraph 0.14 scales an axis whose range lies within 0..1 by 1000 even with the
        # prefix turned off (enableAutoSIPrefix(False)): 0.5 ms per item was labelled 500
        if not self.autoSIPrefix:
            self.autoSIPrefixScale, self.labelUnitPrefix = 1.0, ""
            self._updateLabel()
            return
        super().updateAutoSIPrefix()

    def generateDrawSpecs(self, p):
        specs = super().generateDrawSpecs(p)
        if specs is None:
            return None
        axis, ticks, texts = specs
        return axis, [(self._solid(pen), a, b) for pen, a, b in ticks], texts


def add_plot(graphics: pg.GraphicsLayoutWidget, palette: QPalette, **kwargs) -> pg.PlotItem:
    """A plot in ``graphics`` with solid-grid axes, on the palette's base colour."""
    bg = palette.color(QPalette.Base)
    plot = graphics.addPlot(axisItems={"left": _SolidGridAxis("left", bg), "bottom": _SolidGridAxis("bottom", bg)},
                            **kwargs)
    for name in ("left", "bottom"):
        plot.getAxis(name).setZValue(plot.vb.zValue() - 1)  # solid grid lines go behind the data, not over it
    return plot


def theme_plot(plot: pg.PlotItem, palette: QPalette) -> None:
    fg = palette.color(QPalette.WindowText)
    for name in ("left", "bottom"):
        ax = plot.getAxis(name)
        ax.setPen(pg.mkPen(fg))
        ax.setTextPen(pg.mkPen(fg))
        ax.enableAutoSIPrefix(False)
    plot.titleLabel.item.setDefaultTextColor(fg)
    plot.showGrid(x=True, y=True, alpha=0.2)


class _Growing:
    """An append-only float array with amortised growth (avoids rebuilding arrays per point)."""

    def __init__(self, width: int = 1):
        self.data = np.zeros((1024, width))
        self.n = 0

    def extend(self, rows) -> None:
        rows = np.asarray(rows, dtype=np.float64).reshape(-1, self.data.shape[1])
        need = self.n + len(rows)
        if need > len(self.data):
            self.reserve(max(need, 2 * len(self.data)))
        self.data[self.n:need] = rows
        self.n = need

    def reserve(self, capacity: int) -> None:
        if capacity > len(self.data):
            grown = np.empty((capacity, self.data.shape[1]))
            grown[: self.n] = self.data[: self.n]
            self.data = grown

    def view(self) -> np.ndarray:
        return self.data[: self.n]


def peak_envelope(x: np.ndarray, y: np.ndarray, bins: int) -> tuple[np.ndarray, np.ndarray]:
    """At most ``2 * bins`` points that draw as ``(x, y)`` does at a fraction of the size: each bin's lowest
    and highest y (pyqtgraph's "peak" downsampling, done once per refresh instead of at every paint)."""
    k = -(-len(x) // bins)
    if k <= 1:
        return x, y
    m = len(y) // k * k
    lows, highs = y[:m].reshape(-1, k).min(axis=1), y[:m].reshape(-1, k).max(axis=1)
    xs = x[:m:k]
    if m < len(y):
        lows, highs = np.append(lows, y[m:].min()), np.append(highs, y[m:].max())
        xs = np.append(xs, x[m])
    return np.repeat(xs, 2), np.column_stack([lows, highs]).ravel()


class LatencyView(QWidget):
    """Per-item latency over the run, a histogram, time per stage, and p50/p95/p99 · mean · items/s."""

    item_clicked = Signal(int)  # Result.index of the point nearest the click

    REFRESH_MS = 250
    MAX_SYMBOLS = 300  # points drawn as dots up to this many items
    ENVELOPE_BINS = 4096  # more points than this many pairs in view are drawn as their peak envelope
    RESIZE_QUIET_S = 0.3  # charts take new data only this long after the last resize

    def __init__(self, parent=None):
        super().__init__(parent)
        lay = QVBoxLayout(self)
        self.readout = QLabel()
        self.readout.setObjectName("latencyReadout")
        self.readout.setWordWrap(True)
        self.readout.setTextInteractionFlags(Qt.TextSelectableByMouse)
        self.readout.setToolTip("Latency per item (decode + preprocess + inference + postprocess), "
                                "warm-up items at the start of the run excluded")
        f = self.readout.font()
        f.setPointSizeF(f.pointSizeF() * 1.15)
        self.readout.setFont(f)
        lay.addWidget(self.readout)
        self.server_readout = QLabel()  # the server's request latency while the Server tab serves
        self.server_readout.setObjectName("serverLatency")
        self.server_readout.setWordWrap(True)
        self.server_readout.setTextInteractionFlags(Qt.TextSelectableByMouse)
        self.server_readout.setToolTip("Latency of each request the server answered, from the request read to "
                                       "the answer written (the Server tab has its chart)")
        self.server_readout.setVisible(False)
        lay.addWidget(self.server_readout)
        pg.setConfigOptions(antialias=False)
        self.graphics = pg.GraphicsLayoutWidget()
        self.graphics.setToolTip("Click a point to select that item in the results")
        lay.addWidget(self.graphics, 1)
        self.series = add_plot(self.graphics, self.palette(), row=0, col=0, colspan=2, title="Latency per item")
        self.series.setLabel("left", "ms")
        self.series.setLabel("bottom", "item #")
        self.curve = self.series.plot([], [], pen=pg.mkPen(STAGE_COLORS[0], width=1), symbol="o", symbolSize=4,
                                      symbolPen=None, symbolBrush=STAGE_COLORS[0])
        self._symbols = True
        self._last_resize = 0.0
        self.curve.setDownsampling(auto=True, method="peak")
        self.curve.setClipToView(True)
        self.warm_curve = self.series.plot([], [], pen=None, symbol="o", symbolSize=4, symbolPen=None,
                                           symbolBrush=pg.mkBrush(150, 150, 150, 160))
        self.marker = pg.InfiniteLine(angle=90, movable=False, pen=pg.mkPen("#e15759", width=1.5))
        self.marker.setVisible(False)
        self.series.addItem(self.marker, ignoreBounds=True)
        self.hist = add_plot(self.graphics, self.palette(), row=1, col=0, title="How often each latency occurs")
        self.hist.setLabel("bottom", "ms")
        self.hist.setLabel("left", "items")
        self.hist_curve = self.hist.plot([], [], stepMode="center", fillLevel=0, pen=pg.mkPen(STAGE_COLORS[0]),
                                         brush=pg.mkBrush(78, 121, 167, 120))
        self.stages = add_plot(self.graphics, self.palette(), row=1, col=1, title="Mean time per stage (stacked)")
        self.stages.setLabel("bottom", "ms per item")
        self.stages.hideAxis("left")
        self.stages.setMouseEnabled(False, False)
        self.stage_legend = self.stages.addLegend(offset=(5, 5), labelTextSize="9pt",
                                                  labelTextColor=self.palette().color(QPalette.WindowText))
        self.stage_bars = []
        for name, color in zip(STAGES, STAGE_COLORS):
            bar = pg.BarGraphItem(x0=[0], y=[0], height=[0.5], width=[0], brush=color, pen=None)
            self.stages.addItem(bar)
            self.stage_bars.append(bar)
            self.stage_legend.addItem(bar, STAGE_NAMES[name])
        self.stages.setYRange(-0.6, 1.6)
        for plot in (self.series, self.hist, self.stages):
            theme_plot(plot, self.palette())
        self.graphics.setBackground(self.palette().color(QPalette.Base))
        self.graphics.scene().sigMouseClicked.connect(self._on_scene_clicked)
        self.series.vb.sigXRangeChanged.connect(self._on_x_range_changed)
        self._timer = QTimer(self)
        self._timer.setInterval(self.REFRESH_MS)
        self._timer.timeout.connect(self._on_timer)
        self._timer.start()
        self.reset()

    # ------------------------------------------------------------------ data
    def reset(self, t_start: float | None = None) -> None:
        self._idx = _Growing(1)  # Result.index of OK items
        self._tot = _Growing(1)
        self._stage = _Growing(len(STAGES))
        self._stage_sum = np.zeros(len(STAGES))  # per stage, over every OK item (the means need no pass over them)
        self._sorted = np.empty(0)  # totals of the OK items after the warm-up's most, ascending: see _kept_sorted
        self._ok_arrivals = _Growing(1)
        self.t_start = t_start
        self._dirty = True
        self.marker.setVisible(False)
        self.refresh()

    def add(self, batch, produced=None) -> None:
        """Add a ResultBatch's timings; ``produced`` holds each item's ``perf_counter()`` arrival (None: unknown,
        as for a run reopened from History, which keeps items/s out of the readout). Redrawn on the timer."""
        arrivals = np.full(len(batch), np.nan) if produced is None else np.asarray(produced, dtype=np.float64)
        ok = batch.ok
        if ok.any():
            self._idx.extend(batch.position[ok])
            self._tot.extend(batch.total_ms[ok])
            stages = batch.timings[ok]
            self._stage.extend(stages)
            self._stage_sum += stages.sum(axis=0)
            self._ok_arrivals.extend(arrivals[ok])
        self._dirty = True

    def set_server_line(self, text: str) -> None:
        """The server's request latency (HTML), under the run's readout; empty hides it."""
        self.server_readout.setText(text)
        self.server_readout.setVisible(bool(text))

    def reserve(self, items: int) -> None:
        """Make room for a run of ``items`` (see ResultsModel.reserve)."""
        for column in (self._idx, self._tot, self._stage, self._ok_arrivals):
            column.reserve(items)

    def stats(self, qs=(50, 95, 99)) -> dict:
        """The numbers in the readout (warm-up excluded); see :func:`latency_stats`."""
        return latency_stats(self._tot.view()[:, 0], self._ok_arrivals.view()[:, 0], self.t_start, qs,
                             self._kept_sorted())

    def _kept_sorted(self) -> np.ndarray:
        """The totals after the first WARMUP_MAX OK items, ascending; the items that came since the last call
        are merged in (a stable sort of a sorted run and a short one is about one merge)."""
        start = WARMUP_MAX + len(self._sorted)
        if self._tot.n > start:
            merged = np.concatenate([self._sorted, self._tot.view()[start:, 0]])
            merged.sort(kind="stable")
            self._sorted = merged
        return self._sorted

    def mark(self, result_index: int | None) -> None:
        """Show where the selected item lies on the latency plot."""
        self.marker.setVisible(result_index is not None)
        if result_index is not None:
            self.marker.setValue(result_index + 1)

    # ------------------------------------------------------------------ drawing
    def _on_timer(self):
        # while the window is being resized every paint of the charts is already a full one:
        # new data waits until the resizing pauses, so the two never land in the same turn
        if self._dirty and self.isVisible() and time.monotonic() - self._last_resize >= self.RESIZE_QUIET_S:
            self.refresh()

    def refresh_soon(self) -> None:
        """Draw the final numbers in a turn of their own (now if shown, else when next shown)."""
        self._dirty = True
        if self.isVisible():
            QTimer.singleShot(0, self.refresh)

    def resizeEvent(self, event):
        super().resizeEvent(event)
        self._last_resize = time.monotonic()

    def showEvent(self, event):
        super().showEvent(event)
        if self._dirty:
            # after the tab has been painted once: switching tabs then costs one paint, and the
            # new data follows in its own turn of the event loop instead of doubling the pause
            QTimer.singleShot(0, self._on_timer)

    def refresh(self) -> None:
        self._dirty = False
        x = self._idx.view()[:, 0] + 1
        y = self._tot.view()[:, 0]
        warm = warmup_count(len(y))
        # dots help read a short run; for long runs they cost far more to paint than they tell
        # (a scatter of thousands of symbols repaints in tens of ms), so the line stays alone
        few = len(x) <= self.MAX_SYMBOLS
        if few != self._symbols:
            self._symbols = few
            self.curve.setSymbol("o" if few else None)
        self.curve.setData(*self._line_points(x[warm:], y[warm:]))
        self.warm_curve.setData(x[:warm], y[:warm])
        kept = y[warm:]
        s = self.stats((50, 95, 99, 99.5))
        if kept.size:
            bins = int(min(60, max(8, math.sqrt(kept.size))))
            lo, hi = float(kept.min()), s["p99.5"]
            if hi <= lo:
                hi = lo + 1e-3
            if len(self._sorted) == kept.size:  # bins counted by binary search in the sorted totals (stats made it)
                edges = np.linspace(lo, hi, bins + 1)
                at = np.searchsorted(self._sorted, edges)
                at[-1] = kept.size  # the last bin holds its right edge, and what lies beyond (clipped to it)
                counts = np.diff(at)
            else:
                counts, edges = np.histogram(np.clip(kept, lo, hi), bins=bins, range=(lo, hi))
            self.hist_curve.setData(edges, counts)
            means = (self._stage_sum - self._stage.view()[:warm].sum(axis=0)) / kept.size
        else:
            self.hist_curve.setData([], [])
            means = np.zeros(len(STAGES))
        left = 0.0
        for bar, m in zip(self.stage_bars, means):
            bar.setOpts(x0=[left], width=[float(m)], y=[0.5], height=[0.6])
            left += float(m)
        self.stages.setXRange(0, max(left, 1e-3) * 1.05, padding=0)
        for item, name, m in zip(self.stage_legend.items, STAGES, means):
            item[1].setText(f"{STAGE_NAMES[name]} {fmt.ms(m)} ms")
        if s["n"] == 0:
            self.readout.setText("Latency appears here while the queue is scored (Run, Ctrl+R).")
        else:
            rate = s["items_per_s"]
            throughput = (f" · <b>{fmt.rate(rate).removesuffix('/s')} items/s</b>" if math.isfinite(rate) else "")
            untimed = ("" if math.isfinite(rate) else
                       "; items per second not measured: these results were opened from History")
            self.readout.setText(
                f"<b>p50 {fmt.ms(s['p50'])} ms</b> · p95 {fmt.ms(s['p95'])} ms · p99 {fmt.ms(s['p99'])} ms · "
                f"mean {fmt.ms(s['mean'])} ms{throughput}"
                f"<br><span style='font-size:small'>{fmt.plural(s['n'], 'scored item')}; "
                f"the first {fmt.plural(s['warmup'], 'item')} excluded as warm-up (grey points){untimed}</span>")

    def _line_points(self, x: np.ndarray, y: np.ndarray):
        """The curve's points: all of them, or their peak envelope when there are many in view (zoomed in, the
        envelope is made of the items in view only, so they show one by one again)."""
        if len(x) <= 2 * self.ENVELOPE_BINS:
            return x, y
        vb = self.series.vb
        if not vb.autoRangeEnabled()[0]:
            x0, x1 = vb.viewRange()[0]
            lo = max(0, int(np.searchsorted(x, x0)) - 1)
            hi = min(len(x), int(np.searchsorted(x, x1)) + 1)
            if hi - lo <= 2 * self.ENVELOPE_BINS:
                return x[lo:hi], y[lo:hi]
            x, y = x[lo:hi], y[lo:hi]
        return peak_envelope(x, y, self.ENVELOPE_BINS)

    def _on_x_range_changed(self, *_):
        if not self.series.vb.autoRangeEnabled()[0] and len(self._tot.view()) > 2 * self.ENVELOPE_BINS:
            self._dirty = True  # zoomed or panned by the user: the envelope of what is now in view

    def _on_scene_clicked(self, event):
        vb = self.series.vb
        if not vb.sceneBoundingRect().contains(event.scenePos()):
            return
        point = vb.mapSceneToView(event.scenePos())
        index = self.pick(point.x(), point.y())
        if index is not None:
            self.item_clicked.emit(index)

    def pick(self, x: float, y: float | None = None) -> int | None:
        """The Result.index of the plotted point nearest to (x, y) in data coordinates."""
        xs = self._idx.view()[:, 0] + 1
        if not xs.size:
            return None
        ys = self._tot.view()[:, 0]
        (x0, x1), (y0, y1) = self.series.vb.viewRange()
        dx = (xs - x) / max(x1 - x0, 1e-9)
        dy = (ys - y) / max(y1 - y0, 1e-9) if y is not None else 0.0
        n = int(np.argmin(dx * dx + dy * dy))
        return int(xs[n]) - 1


class BenchmarkView(QWidget):
    """Time the model alone (the engine's bench) with one or two settings side by side."""

    start_requested = Signal(object, int, int)  # [(label, SessionSettings)], runs, warm-up
    cancel_requested = Signal()

    def __init__(self, providers, parent=None):
        super().__init__(parent)
        lay = QVBoxLayout(self)
        intro = QLabel("Times the model alone on a generated input, repeated many times: useful to compare "
                       "execution providers, thread counts or optimisation levels. Warm-up runs are excluded.")
        intro.setWordWrap(True)
        lay.addWidget(intro)
        row = QHBoxLayout()
        lay.addLayout(row)
        self.config_boxes = []
        for n, title in enumerate(("Settings A", "Settings B")):
            box = QGroupBox(title)
            form = QFormLayout(box)
            provider = QComboBox()
            provider.addItem("Best available", None)
            for p in providers:
                provider.addItem(p.replace("ExecutionProvider", ""), p)
            provider.setToolTip("Execution provider for this benchmark")
            threads = QSpinBox()
            threads.setRange(0, 256)
            threads.setSpecialValueText("automatic")
            threads.setValue(0 if n == 0 else 1)
            threads.setToolTip("Threads used inside one inference (0: onnxruntime decides)")
            opt = QComboBox()
            opt.addItems(["all", "extended", "basic", "disable"])
            opt.setToolTip("Graph optimisation level")
            form.addRow("Provider", provider)
            form.addRow("Threads", threads)
            form.addRow("Optimisation", opt)
            if n == 1:
                box.setCheckable(True)
                box.setChecked(True)
                box.setTitle("Compare with settings B")
                box.setToolTip("Also benchmark these settings and show both side by side")
            row.addWidget(box)
            self.config_boxes.append((box, provider, threads, opt))
        # the runs and the buttons on a row of their own under the two settings: side by side with
        # them they left no room for any label at 1024 px ("n benchm")
        side = QHBoxLayout()
        lay.addLayout(side)
        self.runs = QSpinBox()
        self.runs.setRange(5, 100000)
        self.runs.setValue(200)
        self.runs.setToolTip("Timed runs per setting")
        self.warmup = QSpinBox()
        self.warmup.setRange(0, 1000)
        self.warmup.setValue(10)
        self.warmup.setToolTip("Runs before timing starts (not counted)")
        for text, spin in (("Timed runs", self.runs), ("Warm-up runs", self.warmup)):
            label = QLabel(text)
            label.setBuddy(spin)
            side.addWidget(label)
            side.addWidget(spin)
            side.addSpacing(6)
        side.addStretch(1)
        buttons = QHBoxLayout()  # a row of its own: beside the spin boxes, 1024 px cut its text
        lay.addLayout(buttons)
        self.start_button = QPushButton("Run benchmark")
        self.start_button.setToolTip("Benchmark the loaded model with the settings above")
        self.start_button.clicked.connect(self._on_start_clicked)
        self.cancel_button = QPushButton("Stop")
        self.cancel_button.setToolTip("Stop the benchmark after the current run")
        self.cancel_button.setEnabled(False)
        self.cancel_button.clicked.connect(self.cancel_requested)
        buttons.addWidget(self.start_button)
        buttons.addWidget(self.cancel_button)
        self.progress = ProgressStrip()
        self.progress.setToolTip("Timed runs done")
        self.progress.setMinimumWidth(60)
        buttons.addWidget(self.progress, 1)
        self.table = QTableWidget(0, 8)
        self.table.setHorizontalHeaderLabels(["Settings", "Provider", "p50 ms", "p90 ms", "p95 ms", "p99 ms",
                                              "mean ms", "items/s"])
        self.table.verticalHeader().setVisible(False)
        self.table.setEditTriggers(QAbstractItemView.NoEditTriggers)
        self.table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeToContents)
        self.table.horizontalHeader().setStretchLastSection(True)
        self.table.setToolTip("The benchmark's results, one row per setting")
        self.table.setMaximumHeight(110)
        lay.addWidget(self.table)
        # the legend: a line of its own above both charts, each setting with its colour. Inside the
        # plot it was wider than the plot at 1024 px, and its colour samples were cut off
        self.legend = QLabel()
        self.legend.setObjectName("benchLegend")
        self.legend.setWordWrap(True)
        self.legend.setToolTip("The colour of each setting in both charts")
        lay.addWidget(self.legend)
        self.graphics = pg.GraphicsLayoutWidget()
        self.graphics.setBackground(self.palette().color(QPalette.Base))
        self.graphics.setToolTip("Each timed run, and how often each latency occurs")
        lay.addWidget(self.graphics, 1)
        self.series = add_plot(self.graphics, self.palette(), row=0, col=0, title="Latency per run")
        self.series.setLabel("left", "ms")
        self.series.setLabel("bottom", "run #")
        self.hist = add_plot(self.graphics, self.palette(), row=0, col=1, title="How often each latency occurs")
        self.hist.setLabel("bottom", "ms")
        for plot in (self.series, self.hist):
            theme_plot(plot, self.palette())
        self.curves, self.hist_curves = [], []
        self.points: list[_Growing] = []
        self.labels: list[str] = []
        self.reports: list = []
        self.set_model_loaded(False)

    def set_model_loaded(self, loaded: bool) -> None:
        self.start_button.setEnabled(loaded)
        self.start_button.setToolTip("Benchmark the loaded model with the settings above" if loaded
                                     else "Load a model first")

    def configs(self):
        from desktop.engine import SessionSettings

        out = []
        for n, (box, provider, threads, opt) in enumerate(self.config_boxes):
            if n == 1 and not box.isChecked():
                continue
            s = SessionSettings(provider.currentData(), threads.value(), opt.currentText())
            count = threads.text()  # "automatic", or a number: "1 thread", "4 threads"
            label = (f"{'AB'[n]}: {provider.currentText()}, "
                     f"{count + ' threads' if not count.isdigit() else fmt.plural(int(count), 'thread')}, "
                     f"opt {opt.currentText()}")
            out.append((label, s))
        return out

    def _on_start_clicked(self):
        self.start_requested.emit(self.configs(), self.runs.value(), self.warmup.value())

    def begin(self, configs, runs: int) -> None:
        for c in self.curves + self.hist_curves:
            c.getViewBox() and c.getViewBox().removeItem(c)
        self.series.clear()
        self.hist.clear()
        self.curves, self.hist_curves, self.points = [], [], []
        self.labels = [label for label, _ in configs]
        self.reports = []
        self.table.setRowCount(0)
        for n, label in enumerate(self.labels):
            color = CONFIG_COLORS[n % 2]
            curve = self.series.plot([], [], pen=pg.mkPen(color, width=1), name=label)
            curve.setDownsampling(auto=True, method="peak")
            curve.setClipToView(True)
            self.curves.append(curve)
            c = QColor(color)
            c.setAlpha(110)
            self.hist_curves.append(self.hist.plot([], [], stepMode="center", fillLevel=0, pen=pg.mkPen(color),
                                                   brush=pg.mkBrush(c)))
            self.points.append(_Growing(1))
        self.legend.setText(" &nbsp; ".join(
            f"<span style='color:{CONFIG_COLORS[n % 2]}; font-size:large'>■</span> {html.escape(label)}"
            for n, label in enumerate(self.labels)))
        self.progress.setRange(0, runs * len(configs))
        self.progress.setValue(0)
        self.start_button.setEnabled(False)
        self.cancel_button.setEnabled(True)

    def add_points(self, group) -> None:
        """``[(config_index, run_index, ms), ...]`` from the worker."""
        for ci, _i, ms in group:
            self.points[ci].extend([ms])
        for ci, curve in enumerate(self.curves):
            ys = self.points[ci].view()[:, 0]
            curve.setData(np.arange(1, len(ys) + 1), ys)
        self.progress.setValue(sum(p.n for p in self.points))

    def finish(self, reports) -> None:
        """Show the final reports (list of ``(label, BenchReport)``); None when it failed or stopped early."""
        self.start_button.setEnabled(True)
        self.cancel_button.setEnabled(False)
        self.reports = list(reports or [])
        self.table.setRowCount(len(self.reports))
        all_ms = [np.asarray(r.latencies_ms) for _, r in self.reports if r.latencies_ms]
        if all_ms:
            lo = min(float(a.min()) for a in all_ms)
            hi = max(float(np.percentile(a, 99.5)) for a in all_ms)
            hi = hi if hi > lo else lo + 1e-3
        for n, (label, report) in enumerate(self.reports):
            d = report.to_dict()
            cells = [label, report.provider.replace("ExecutionProvider", "")] + \
                    [fmt.ms(d[k]) for k in ("p50", "p90", "p95", "p99", "mean")] + [fmt.rate(d["throughput"])]
            for c, text in enumerate(cells):
                item = QTableWidgetItem(text)
                if c >= 2:
                    item.setTextAlignment(Qt.AlignRight | Qt.AlignVCenter)
                item.setToolTip(repr(d[("p50", "p90", "p95", "p99", "mean", "throughput")[c - 2]]) if c >= 2 else text)
                self.table.setItem(n, c, item)
            if report.latencies_ms and n < len(self.hist_curves):
                counts, edges = np.histogram(np.clip(report.latencies_ms, lo, hi), bins=40, range=(lo, hi))
                self.hist_curves[n].setData(edges, counts)
                self.curves[n].setData(np.arange(1, len(report.latencies_ms) + 1), report.latencies_ms)

