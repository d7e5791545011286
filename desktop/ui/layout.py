"""The window's widgets and where they sit: model and queue left, the tabs centre, the detail right."""

from __future__ import annotations

from PySide6.QtCore import QEvent, QObject, Qt, QTimer
from PySide6.QtWidgets import QFrame, QHBoxLayout, QLabel, QPushButton, QSplitter, QTabWidget, QVBoxLayout, QWidget

from .results_tab import ResultsTab
from .widgets.detail import DetailPane
from .widgets.history import HistoryView, ResumeBanner
from .widgets.latency import BenchmarkView, LatencyView
from .widgets.panels import InlineMessage, ModelPanel, QueuePanel
from .widgets.server import ServerView
from .widgets.progress import ProgressStrip
from .widgets.drift import DriftView
from .widgets.lab import LabView
from .widgets.validation import ValidationView


def build_layout(w) -> None:
    """Create MainWindow ``w``'s widgets, connect their requests to its methods and lay them out."""
    w.model_panel = ModelPanel()
    w.model_panel.open_requested.connect(w.open_model_dialog)
    w.model_panel.sample_requested.connect(w.open_sample)
    w.model_panel.edit_profile_requested.connect(w.edit_profile)
    w.queue = QueuePanel()
    w.queue.add_requested.connect(w.add_inputs_dialog)
    w.queue.changed.connect(w._on_queue_changed)
    w.left_splitter = left = QSplitter(Qt.Vertical)
    left.addWidget(_padded(w.model_panel))
    left.addWidget(_padded(w.queue))
    left.setStretchFactor(0, 3)
    left.setStretchFactor(1, 2)
    left.setChildrenCollapsible(False)

    centre = QWidget()
    cl = QVBoxLayout(centre)
    cl.setContentsMargins(6, 6, 6, 0)
    bar = QHBoxLayout()
    w.run_button = QPushButton("Run  ▶")
    w.run_button.setObjectName("runButton")
    f = w.run_button.font()
    f.setBold(True)
    f.setPointSizeF(f.pointSizeF() * 1.1)
    w.run_button.setFont(f)
    w.run_button.setMinimumWidth(110)
    w.run_button.setDefault(True)
    w.run_button.clicked.connect(w.primary_action)
    w.cancel_button = QPushButton("Cancel")
    w.cancel_button.setToolTip("Stop scoring after the current item (Esc)")
    w.cancel_button.clicked.connect(w.cancel)
    w.progress = ProgressStrip()
    w.progress.setToolTip("Items scored so far")
    w.progress_label = QLabel()
    w.progress_label.setToolTip("Items done · items per second · time left")
    w.progress_label.setMinimumWidth(170)
    w.progress.setMinimumWidth(80)  # never squeezed out of sight by the text beside it
    for widget, stretch in ((w.run_button, 0), (w.cancel_button, 0), (w.progress, 1),
                            (w.progress_label, 0)):
        bar.addWidget(widget, stretch)
    cl.addLayout(bar)

    w.tabs = QTabWidget()
    w.tabs.setDocumentMode(True)
    cl.addWidget(w.tabs, 1)
    w.results_tab = ResultsTab()
    w.results_tab.sample_requested.connect(w.open_sample)
    w.results_tab.current_changed.connect(w._show_detail)
    w.results_tab.clear_requested.connect(w.clear_results)
    w.results, w.table = w.results_tab.model, w.results_tab.table
    w.tabs.addTab(w.results_tab, "Results")
    w.tabs.setTabToolTip(0, "The results table (Ctrl+1)")
    w.latency = LatencyView()
    w.latency.item_clicked.connect(w.select_result)
    w.tabs.addTab(w.latency, "Latency")
    w.tabs.setTabToolTip(1, "Latency per item while scoring (Ctrl+2)")
    w.bench_view = BenchmarkView(w.providers)
    w.bench_view.start_requested.connect(w.start_bench)
    w.bench_view.cancel_requested.connect(w.cancel_bench)
    w.bench_message = InlineMessage()
    w.bench_view.layout().insertWidget(1, w.bench_message)
    w.tabs.addTab(w.bench_view, "Benchmark")
    w.tabs.setTabToolTip(2, "Time the model alone and compare settings (Ctrl+3)")
    w.history = HistoryView(w.controller.store_path, jobs=w.controller.jobs)
    w.history.formula_guard = w.settings.formula_guard
    w.history.open_requested.connect(w.open_run)
    w.history.resume_requested.connect(w.resume_run)
    w.tabs.addTab(w.history, "History")
    w.tabs.setTabToolTip(3, "Past runs: open, export, rename, delete, resume; check the audit trail (Ctrl+4)")
    w.drift = DriftView()
    w.drift.check_requested.connect(w.start_drift)
    w.validation = ValidationView()
    w.validation.evaluate_requested.connect(w.start_validation)
    w.validation.cases_requested.connect(w.show_cases)
    w.tabs.addTab(w.validation, "Validation")
    w.tabs.setTabToolTip(4, "How the model does on your own labelled cases: metrics with intervals, curves, "
                            "subgroups (Ctrl+5)")
    w.tabs.addTab(w.drift, "Drift")
    w.tabs.setTabToolTip(5, "Does the data scored look like the reference the model was checked on? (Ctrl+6)")
    w.lab = LabView()
    w.lab.make_requested.connect(w.make_variant)
    w.lab.compare_requested.connect(w.compare_models)
    w.lab.cancel_requested.connect(lambda: w.controller.jobs.stop("lab"))
    w.tabs.addTab(w.lab, "Lab")
    w.tabs.setTabToolTip(6, "Faster variants of the model (INT8, float16, an optimised graph), checked on your "
                            "inputs against the original (Ctrl+7)")
    w.server_view = ServerView()
    w.tabs.addTab(w.server_view, "Server")
    w.tabs.setTabToolTip(7, "Serve the loaded model to other programs over HTTP (KServe v2), with live request "
                            "latency (Ctrl+8)")

    w.detail = DetailPane(jobs=w.controller.jobs)
    w.detail.conf_changed.connect(w._on_conf_changed)
    w.detail.explain.explain_requested.connect(w.explain_selected)
    w.detail.explain.check_requested.connect(w.check_explanation)
    w.detail.explain.cancel_requested.connect(lambda: w.controller.jobs.stop("explain"))
    w.detail.setMinimumWidth(250)
    centre.setMinimumWidth(420)
    left.setMinimumWidth(236)
    w.splitter = QSplitter(Qt.Horizontal)
    for n, (widget, stretch) in enumerate(((left, 0), (centre, 1), (w.detail, 0))):
        w.splitter.addWidget(widget)
        w.splitter.setStretchFactor(n, stretch)
    w.splitter.setChildrenCollapsible(False)
    w.splitter.setSizes([300, 640, 320])
    w.splitter.installEventFilter(_PaneFitter(w))  # a small window: the side panes give way to the centre
    w.banner = ResumeBanner()
    w.banner.resume_requested.connect(w.resume_run)
    w.banner.show_requested.connect(w.show_in_history)
    host = QWidget()
    hl = QVBoxLayout(host)
    hl.setContentsMargins(0, 0, 0, 0)
    hl.setSpacing(0)
    hl.addWidget(w.banner)  # hidden unless a run can be resumed: then it takes no room
    hl.addWidget(w.splitter, 1)
    w.setCentralWidget(host)

    sb = w.statusBar()
    w.status_error = InlineMessage()
    sb.addWidget(w.status_error, 1)
    w.run_label = QLabel()
    w.run_label.setToolTip("Which run the Results tab shows")
    sb.addPermanentWidget(w.run_label)
    sep = QFrame()  # the run and what runs the model are two facts: a rule between them, not two spaces
    sep.setFrameShape(QFrame.VLine)
    sep.setFrameShadow(QFrame.Sunken)
    sb.addPermanentWidget(sep)
    w.status_info = QLabel()
    w.status_info.setToolTip("What runs the model")
    sb.addPermanentWidget(w.status_info)
    w._update_status_info()


def _padded(widget: QWidget) -> QWidget:
    host = QWidget()
    lay = QVBoxLayout(host)
    lay.setContentsMargins(8, 8, 4, 4)
    lay.addWidget(widget)
    return host


class _PaneFitter(QObject):
    """Calls the window's ``fit_panes`` once the splitter has laid itself out at a new size."""

    def __init__(self, window):
        super().__init__(window)
        self.window = window
        self._pending = False

    def eventFilter(self, obj, event) -> bool:  # noqa: N802 - Qt's name
        if event.type() in (QEvent.Resize, QEvent.Show) and not self._pending:
            self._pending = True
            QTimer.singleShot(0, self, self._fit)  # with self as context: never after the window is gone
        return False

    def _fit(self) -> None:
        self._pending = False
        self.window.fit_panes()
