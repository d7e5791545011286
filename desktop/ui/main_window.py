"""The main window: model panel and input queue on the left, results / latency / benchmark in the centre,
the selected item's detail on the right. It only displays and dispatches; the engine does the scoring."""

from __future__ import annotations

import copy
import gc
import os
import time
from pathlib import Path

from PySide6.QtCore import (QByteArray, QItemSelectionModel, QModelIndex, QSettings, Qt, QThreadPool, QTimer, QUrl,
                            Signal, Slot)
from PySide6.QtGui import QAction, QDesktopServices, QGuiApplication, QIcon, QKeySequence
from PySide6.QtWidgets import (QComboBox, QFileDialog, QHBoxLayout, QLabel,
                               QLineEdit, QMainWindow, QMessageBox, QPushButton, QSplitter,
                               QStackedWidget, QTableView, QTabWidget, QVBoxLayout, QWidget)

from desktop import __version__
from desktop.engine import Engine, SessionSettings, available_providers, expand_inputs
from desktop.settings import Settings, save_settings, settings_path

from desktop.runs import fmt
from .errors import report_error, reporter
from .models import COL_INPUT, COL_LABEL, COL_LATENCY, COL_MESSAGE, COL_SCORE, COL_STATUS, ResultsModel
from desktop.runs.queue_check import check_items
from .widgets.detail import DetailPane
from .widgets.history import (HistoryView, RecordsWorker, ResumeBanner, export_batches, prepare_resume,
                              run_provenance, run_title, unfinished_runs, when_text)
from .widgets.latency import BenchmarkView, LatencyView
from .widgets.progress import ProgressStrip
from .widgets.panels import InlineMessage, ModelPanel, QueuePanel
from desktop.engine.service import ScoringProcess

from .widgets.tables import empty_state, setup_table
from .worker import BatchWorker, BenchWorker, Worker

MODEL_EXTENSIONS = (".onnx", ".ort")
STATUS_CHOICES = (("All results", "all"), ("Scored", "ok"), ("Failed", "failed"))


def versions() -> dict:
    """Versions shown in the About box and the status bar."""
    import platform

    import onnxruntime
    import pyqtgraph
    import PySide6
    from PySide6.QtCore import qVersion

    return {"InferDesk": __version__, "onnxruntime": onnxruntime.__version__, "Qt": qVersion(),
            "PySide6": PySide6.__version__, "pyqtgraph": pyqtgraph.__version__,
            "Python": platform.python_version()}


def window_state_store(settings_file: Path | None = None) -> QSettings:
    """Window geometry and pane sizes, kept apart from preferences in an INI beside the settings file."""
    path = (settings_file or settings_path()).with_name("window-state.ini")
    return QSettings(str(path), QSettings.IniFormat)


class MainWindow(QMainWindow):
    """The InferDesk window.

    Parameters
    ----------
    settings
        Preferences, loaded once by ``run_app`` and passed in.
    settings_file
        Where preferences are saved (None: the default location / ``$INFERDESK_SETTINGS``).
    """

    model_loaded = Signal(object)  # the Engine, once loaded and shown
    run_finished = Signal(object)  # the run's summary dict (cancelled, done, total, seconds)
    queue_checked = Signal()  # the queue's problems are up to date for the loaded model
    bench_finished = Signal(object)  # list of (label, BenchReport), or None when it failed
    resume_checked = Signal(object)  # list of RunSummary: the interrupted runs found at start (may be empty)
    run_opened = Signal(object)  # {"run": RunSummary, "done", "total", "cancelled"}: a past run is shown

    def __init__(self, settings: Settings | None = None, settings_file: str | os.PathLike | None = None):
        super().__init__()
        self.settings = settings or Settings()
        self.settings_file = Path(settings_file) if settings_file else None
        self.engine: Engine | None = None
        self.pool = QThreadPool(self)
        self.pool.setMaxThreadCount(4)
        self._load_worker: Worker | None = None
        self._run_worker: BatchWorker | None = None
        self.scoring = ScoringProcess()  # runs the batches, so this process keeps its interpreter lock
        # the charts' first paint sets up fonts and pictures (~100 ms): done once while idle, not
        # when the user first opens the Latency tab in the middle of a run
        QTimer.singleShot(400, self._warm_up_charts)
        self._check_worker: Worker | None = None
        self._bench_worker: BenchWorker | None = None
        self._workers: list[Worker] = []
        self._run_summary: dict | None = None
        self._open_worker: RecordsWorker | None = None  # reading a past run into the table
        self._resume_worker: Worker | None = None  # loading an interrupted run's model to resume it
        self._shown_run = None  # the RunSummary of a run opened from History (None: the table holds a live run)
        self._shown_run_id: str | None = None  # the recorded run the table holds, when known
        self._selected_first = False
        self._table_columns: dict = {}  # CSV path -> its columns that are not model features (from the queue check)
        self._run_extra: dict = {}  # the same, for the CSV files of the run the table shows
        self.providers = available_providers()
        self.setWindowTitle("InferDesk")
        self.setAcceptDrops(True)
        self.setMinimumSize(900, 560)
        self._build_ui()
        self._build_actions()
        rep = reporter()
        rep.fallback_inline = self.show_status_error
        rep.dialog_parent = self
        self._restore_state()
        self._update_actions()

    # ================================================================== building
    def _build_ui(self):
        self.model_panel = ModelPanel()
        self.model_panel.open_requested.connect(self.open_model_dialog)
        self.model_panel.sample_requested.connect(self.open_sample)
        self.model_panel.edit_profile_requested.connect(self.edit_profile)
        self.queue = QueuePanel()
        self.queue.add_requested.connect(self.add_inputs_dialog)
        self.queue.changed.connect(self._on_queue_changed)
        left = QSplitter(Qt.Vertical)
        left.addWidget(_padded(self.model_panel))
        left.addWidget(_padded(self.queue))
        left.setStretchFactor(0, 3)
        left.setStretchFactor(1, 2)
        left.setChildrenCollapsible(False)
        self.left_splitter = left

        centre = QWidget()
        cl = QVBoxLayout(centre)
        cl.setContentsMargins(6, 6, 6, 0)
        bar = QHBoxLayout()
        self.run_button = QPushButton("Run  ▶")
        self.run_button.setObjectName("runButton")
        f = self.run_button.font()
        f.setBold(True)
        f.setPointSizeF(f.pointSizeF() * 1.1)
        self.run_button.setFont(f)
        self.run_button.setMinimumWidth(110)
        self.run_button.setDefault(True)
        self.run_button.clicked.connect(self.start_run)
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.setToolTip("Stop scoring after the current item (Esc)")
        self.cancel_button.clicked.connect(self.cancel)
        self.progress = ProgressStrip()
        self.progress.setToolTip("Items scored so far")
        self.progress_label = QLabel()
        self.progress_label.setToolTip("Items done · items per second · time left")
        self.progress_label.setMinimumWidth(230)
        bar.addWidget(self.run_button)
        bar.addWidget(self.cancel_button)
        bar.addWidget(self.progress, 1)
        bar.addWidget(self.progress_label)
        cl.addLayout(bar)

        self.tabs = QTabWidget()
        self.tabs.setDocumentMode(True)
        cl.addWidget(self.tabs, 1)
        # results tab
        results_page = QWidget()
        rl = QVBoxLayout(results_page)
        rl.setContentsMargins(0, 6, 0, 0)
        filt = QHBoxLayout()
        self.filter_edit = QLineEdit()
        self.filter_edit.setPlaceholderText("Filter by file name, label or message (Ctrl+F)")
        self.filter_edit.setClearButtonEnabled(True)
        self.filter_edit.setToolTip("Show only the results whose input, label or message contains this text")
        self.filter_edit.textChanged.connect(self._on_filter_changed)
        self.status_filter = QComboBox()
        for text, key in STATUS_CHOICES:
            self.status_filter.addItem(text, key)
        self.status_filter.setToolTip("Show all results, only the scored ones, or only the failed ones")
        self.status_filter.currentIndexChanged.connect(self._on_filter_changed)
        self.counts_label = QLabel()
        self.counts_label.setToolTip("How many results there are, and how many the filter shows")
        filt.addWidget(self.filter_edit, 1)
        filt.addWidget(self.status_filter)
        filt.addWidget(self.counts_label)
        rl.addLayout(filt)
        self.columns_label = QLabel()
        self.columns_label.setObjectName("columnsLabel")
        self.columns_label.setWordWrap(True)
        self.columns_label.setTextInteractionFlags(Qt.TextSelectableByMouse)
        small = self.columns_label.font()
        small.setPointSizeF(small.pointSizeF() * 0.9)
        self.columns_label.setFont(small)
        self.columns_label.setToolTip("The CSV columns that are not model features: shown beside each row and kept "
                                      "in exports (passed through), or left out (ignored)")
        self.columns_label.setVisible(False)
        rl.addWidget(self.columns_label)
        self.results_stack = QStackedWidget()
        rl.addWidget(self.results_stack, 1)
        self.empty_sample_button = QPushButton("Open the sample model")
        self.empty_sample_button.setToolTip("Load the bundled digit classifier and queue its sample images")
        self.empty_sample_button.clicked.connect(self.open_sample)
        empty, self.empty_label = empty_state(1.25, self.empty_sample_button)
        self.results_stack.addWidget(empty)
        self.results = ResultsModel(self)
        self.table = QTableView()
        self.table.setModel(self.results)
        self.table.setSortingEnabled(True)
        self.table.horizontalHeader().setSortIndicator(-1, Qt.AscendingOrder)
        setup_table(self.table, "One row per image or CSV row; click a column title to sort. ↑/↓ move the detail.")
        self.table.setTextElideMode(Qt.ElideMiddle)  # "screening_w…csv · row 5" keeps the row number in sight
        hh = self.table.horizontalHeader()
        hh.setStretchLastSection(True)
        em = self.fontMetrics().horizontalAdvance("m")
        for col, width in ((0, 4), (COL_INPUT, 14), (COL_LABEL, 8), (COL_SCORE, 6), (COL_STATUS, 6),
                           (COL_LATENCY, 8), (COL_MESSAGE, 16)):
            self.table.setColumnWidth(col, width * em)
        self.table.selectionModel().currentRowChanged.connect(self._on_current_row_changed)
        self.results.columnsInserted.connect(self._on_result_columns_inserted)
        self.results_stack.addWidget(self.table)
        self.tabs.addTab(results_page, "Results")
        self.tabs.setTabToolTip(0, "The results table (Ctrl+1)")
        self.latency = LatencyView()
        self.latency.item_clicked.connect(self.select_result)
        self.tabs.addTab(self.latency, "Latency")
        self.tabs.setTabToolTip(1, "Latency per item while scoring (Ctrl+2)")
        self.bench_view = BenchmarkView(self.providers)
        self.bench_view.start_requested.connect(self.start_bench)
        self.bench_view.cancel_requested.connect(self.cancel_bench)
        self.bench_message = InlineMessage()
        self.bench_view.layout().insertWidget(1, self.bench_message)
        self.tabs.addTab(self.bench_view, "Benchmark")
        self.tabs.setTabToolTip(2, "Time the model alone and compare settings (Ctrl+3)")
        self.history = HistoryView(start=self._start)
        self.history.open_requested.connect(self.open_run)
        self.history.resume_requested.connect(self.resume_run)
        self.tabs.addTab(self.history, "History")
        self.tabs.setTabToolTip(3, "Past runs: open, export, rename, delete, resume; check the audit trail (Ctrl+4)")

        self.detail = DetailPane()
        self.detail.setMinimumWidth(260)
        centre.setMinimumWidth(420)
        left.setMinimumWidth(240)
        self.splitter = QSplitter(Qt.Horizontal)
        self.splitter.addWidget(left)
        self.splitter.addWidget(centre)
        self.splitter.addWidget(self.detail)
        self.splitter.setStretchFactor(0, 0)
        self.splitter.setStretchFactor(1, 1)
        self.splitter.setStretchFactor(2, 0)
        self.splitter.setChildrenCollapsible(False)
        self.splitter.setSizes([300, 640, 320])
        self.banner = ResumeBanner()
        self.banner.resume_requested.connect(self.resume_run)
        self.banner.show_requested.connect(self.show_in_history)
        host = QWidget()
        hl = QVBoxLayout(host)
        hl.setContentsMargins(0, 0, 0, 0)
        hl.setSpacing(0)
        hl.addWidget(self.banner)  # hidden unless a run can be resumed: then it takes no room
        hl.addWidget(self.splitter, 1)
        self.setCentralWidget(host)

        sb = self.statusBar()
        self.status_error = InlineMessage()
        sb.addWidget(self.status_error, 1)
        self.run_label = QLabel()
        self.run_label.setToolTip("Which run the Results tab shows")
        sb.addPermanentWidget(self.run_label)
        self.status_info = QLabel()
        self.status_info.setToolTip("What runs the model")
        sb.addPermanentWidget(self.status_info)
        self._update_status_info()

    def _action(self, text, slot, shortcut=None, tip="", menu=None) -> QAction:
        act = QAction(text, self)
        if shortcut is not None:
            act.setShortcut(QKeySequence(shortcut))
        act.setToolTip(tip or text)
        act.setStatusTip(tip or text)
        act.triggered.connect(slot)
        if menu is not None:
            menu.addAction(act)
        self.addAction(act)
        return act

    def _build_actions(self):
        mb = self.menuBar()
        m = mb.addMenu("&File")
        self.act_open = self._action("&Open Model…", self.open_model_dialog, QKeySequence.Open,
                                     "Open an .onnx model file", m)
        self.recent_menu = m.addMenu("Open &Recent")
        self.recent_menu.setToolTipsVisible(True)
        self._action("Open the &Sample", self.open_sample, None,
                     "Load the bundled digit classifier and queue its sample images", m)
        m.addSeparator()
        self.act_add = self._action("&Add Inputs…", self.add_inputs_dialog, "Ctrl+I",
                                    "Add images, DICOM or CSV files to the queue", m)
        self._action("Add &Folder…", self.add_folder_dialog, "Ctrl+Shift+I", "Add every image in a folder", m)
        m.addSeparator()
        self.act_export = self._action("&Export Results…", self.export_dialog, "Ctrl+E",
                                       "Save the results shown in the table as CSV or JSON", m)
        m.addSeparator()
        self._action("&Quit", self.close, QKeySequence.Quit, "Close InferDesk", m)
        m = mb.addMenu("&Edit")
        self.act_paste = self._action("&Paste File Paths", self.paste_paths, QKeySequence.Paste,
                                      "Add the files whose paths are on the clipboard", m)
        self._action("&Remove Selected Inputs", self.queue.remove_selected, None,
                     "Remove the selected inputs from the queue (Delete in the queue)", m)
        self._action("&Clear Queue", self.queue.clear, None, "Empty the input queue", m)
        m.addSeparator()
        self.act_filter = self._action("&Filter Results", self._focus_filter, QKeySequence.Find,
                                       "Type to filter the results table", m)
        m.addSeparator()
        self.act_profile = self._action("Pre&processing…", self.edit_profile, "Ctrl+P",
                                        "Edit how inputs are turned into the model's input", m)
        self._action("&Settings…", self.settings_dialog, QKeySequence.Preferences if
                     not QKeySequence(QKeySequence.Preferences).isEmpty() else "Ctrl+,",
                     "Execution provider, threads, optimisation, labels per result", m)
        m = mb.addMenu("&Run")
        self.act_run = self._action("&Run", self.start_run, "Ctrl+R", "Score the queue", m)
        self.act_cancel = self._action("&Cancel", self.cancel, "Esc", "Stop after the current item", m)
        m.addSeparator()
        self.act_bench = self._action("&Benchmark", self._on_bench_action, "Ctrl+B",
                                      "Time the model alone with the Benchmark tab's settings", m)
        m = mb.addMenu("&View")
        for n, name in enumerate(("Results", "Latency", "Benchmark", "History")):
            self._action(f"&{name}", lambda _=False, n=n: self.tabs.setCurrentIndex(n), f"Ctrl+{n + 1}",
                         f"Show the {name} tab", m)
        m = mb.addMenu("&Help")
        self._action("&About InferDesk", self.about, None, "Versions of InferDesk, onnxruntime and Qt", m)
        self._action("&Open Settings Folder", self._open_settings_folder, None,
                     "Show where preferences are kept", m)
        for menu in mb.findChildren(type(self.recent_menu)):
            menu.setToolTipsVisible(True)
        self.model_panel.recent_button.setMenu(self.recent_menu)
        self._rebuild_recent()

    # ================================================================== state
    def _settings_file(self) -> Path:
        return self.settings_file or settings_path()

    def _restore_state(self):
        store = window_state_store(self._settings_file())
        geo = store.value("geometry")
        if isinstance(geo, QByteArray) and not geo.isEmpty():
            self.restoreGeometry(geo)
        else:
            screen = QGuiApplication.primaryScreen()
            if screen is not None:
                avail = screen.availableGeometry()
                self.resize(min(1360, int(avail.width() * 0.9)), min(840, int(avail.height() * 0.9)))
            else:
                self.resize(1360, 840)
        state = store.value("windowState")
        if isinstance(state, QByteArray) and not state.isEmpty():
            self.restoreState(state)
        for key, splitter in (("splitter", self.splitter), ("leftSplitter", self.left_splitter)):
            value = store.value(key)
            if isinstance(value, QByteArray) and not value.isEmpty():
                splitter.restoreState(value)
        tab = store.value("tab")
        if tab is not None:
            try:
                self.tabs.setCurrentIndex(int(tab))
            except (TypeError, ValueError):
                pass

    def save_state(self) -> None:
        """Window state to the INI store; preferences to the settings JSON."""
        store = window_state_store(self._settings_file())
        store.setValue("geometry", self.saveGeometry())
        store.setValue("windowState", self.saveState())
        store.setValue("splitter", self.splitter.saveState())
        store.setValue("leftSplitter", self.left_splitter.saveState())
        store.setValue("tab", self.tabs.currentIndex())
        store.sync()
        self._save_settings()

    def _save_settings(self):
        try:
            save_settings(self.settings, self._settings_file())
        except OSError as exc:
            self.show_status_error(f"Cannot save settings to {self._settings_file()}: {exc.strerror or exc}")

    # ================================================================== workers
    def _start(self, worker: Worker) -> Worker:
        self._workers.append(worker)
        worker.signals.finished.connect(self._on_worker_finished)
        worker.start(self.pool)
        return worker

    @Slot()
    def _on_worker_finished(self):
        self._workers = [w for w in self._workers if w.is_running]

    def is_busy(self) -> bool:
        return any(w.is_running for w in self._workers)

    def shutdown(self, timeout_ms: int = 30000) -> bool:
        """Cancel all background work and wait for it; returns False if something is still running."""
        for w in list(self._workers):
            w.quit()
        ok = self.pool.waitForDone(timeout_ms)
        self.scoring.close()
        return ok

    def closeEvent(self, event):
        self.save_state()
        self.shutdown()
        rep = reporter()
        if rep.fallback_inline == self.show_status_error:
            rep.fallback_inline = None
            rep.dialog_parent = None
        super().closeEvent(event)

    # ================================================================== model
    def open_model_dialog(self):
        path, _ = QFileDialog.getOpenFileName(self, "Open a model", self.settings.last_model_dir or "",
                                              "ONNX models (*.onnx *.ort);;All files (*)")
        if path:
            self.settings.last_model_dir = os.path.dirname(path)
            self.load_model(path)

    def open_sample(self):
        from desktop.resources import sample_inputs, sample_model

        model = sample_model()
        if model is None:
            self.model_panel.show_error("The sample model is not included in this installation.")
            return
        self.load_model(model)
        if not self.queue.model.items:
            self.add_inputs(sample_inputs())

    def _session_settings(self) -> SessionSettings:
        s = self.settings
        return SessionSettings(s.provider, s.threads, s.opt_level)

    def load_model(self, path) -> Worker:
        """Load a model off the GUI thread; the card shows it, or the engine's message when refused."""
        path = str(path)
        self.cancel()
        self.model_panel.set_loading(os.path.basename(path))
        worker = Worker(Engine, path, settings=self._session_settings(), name="load")
        worker.signals.returned.connect(self._on_model_loaded)
        worker.signals.errored.connect(self._on_model_failed)
        self._load_worker = worker
        self._update_actions()
        return self._start(worker)

    @Slot(object)
    def _on_model_loaded(self, engine):
        if self.sender() is not getattr(self._load_worker, "signals", None):
            return
        self._load_worker = None
        self.set_engine(engine)
        self.scoring.start()  # warm up the scoring process while the user looks at the model card
        self.settings.add_recent(engine.model_path)
        self._rebuild_recent()
        self._save_settings()
        self.model_loaded.emit(engine)

    @Slot(object)
    def _on_model_failed(self, exc):
        if self.sender() is not getattr(self._load_worker, "signals", None):
            return
        self._load_worker = None
        if self.engine is not None:
            self.model_panel.set_engine(self.engine)
        else:
            self.model_panel.set_empty()
        report_error(exc, inline=self.model_panel.show_error)
        self._update_actions()

    def set_engine(self, engine) -> None:
        """Show a loaded engine (also after its profile changed) and re-check the queue against it."""
        self.engine = engine
        self.model_panel.set_engine(engine)
        self.setWindowTitle(f"{engine.info.file_name} — InferDesk")
        self.bench_view.set_model_loaded(True)
        self._update_status_info()
        self._check_queue()
        self._update_actions()

    def _rebuild_recent(self):
        self.recent_menu.clear()
        recent = self.settings.existing_recent()
        for n, path in enumerate(recent):
            act = self.recent_menu.addAction(f"&{n + 1}  {os.path.basename(path)}")
            act.setToolTip(path)
            act.setStatusTip(path)
            act.triggered.connect(lambda _=False, p=path: self.load_model(p))
        if not recent:
            act = self.recent_menu.addAction("No recent models")
            act.setEnabled(False)
        self.model_panel.recent_button.setEnabled(bool(recent))

    # ================================================================== profile and settings
    def edit_profile(self):
        if self.engine is None:
            self.show_status_error("Load a model first, then edit its preprocessing.")
            return None
        from .widgets.profile_editor import ProfileEditor

        items = self.queue.model.items
        images = [i.path for i in items if i.kind in ("image", "dicom")]
        tables = [i.path for i in items if i.kind == "table"]
        dialog = ProfileEditor(self.engine, images, tables, self)
        dialog.setAttribute(Qt.WA_DeleteOnClose)
        dialog.saved.connect(self._on_profile_saved)
        dialog.applied.connect(self._on_profile_applied)
        dialog.open()
        self.profile_editor = dialog
        return dialog

    def _apply_profile(self, profile, source: str):
        try:
            engine = self.engine.with_profile(profile)
        except Exception as exc:  # noqa: BLE001 - EngineError inline, anything else a dialog
            report_error(exc, inline=self.model_panel.show_error)
            return
        engine.profile_source = source
        self.set_engine(engine)

    @Slot(object, str)
    def _on_profile_saved(self, profile, path):
        self._apply_profile(profile, f"sidecar {os.path.basename(path)}")
        self.statusBar().showMessage(f"Profile saved to {path}", 8000)

    @Slot(object)
    def _on_profile_applied(self, profile):
        self._apply_profile(profile, "edited, not saved")

    def settings_dialog(self):
        from .widgets.settings_dialog import SettingsDialog

        dialog = SettingsDialog(self.settings, self.providers, self)
        if dialog.exec():
            self.apply_settings(dialog.result_settings())

    def apply_settings(self, new: Settings) -> None:
        """Use new preferences; reload the model when the session settings changed."""
        old = self._session_settings()
        self.settings = new
        self._save_settings()
        self._update_status_info()
        if self.engine is not None and self._session_settings() != old:
            self.load_model(self.engine.model_path)

    # ================================================================== inputs
    def add_inputs_dialog(self):
        paths, _ = QFileDialog.getOpenFileNames(
            self, "Add inputs", self.settings.last_input_dir or "",
            "Images, DICOM and CSV (*.png *.jpg *.jpeg *.bmp *.tif *.tiff *.webp *.gif *.dcm *.csv *.tsv);;"
            "All files (*)")
        if paths:
            self.settings.last_input_dir = os.path.dirname(paths[0])
            self.add_inputs(paths)

    def add_folder_dialog(self):
        path = QFileDialog.getExistingDirectory(self, "Add a folder of images", self.settings.last_input_dir or "")
        if path:
            self.settings.last_input_dir = path
            self.add_inputs([path])

    def add_inputs(self, paths) -> None:
        """Add files and folders to the queue (folders expand to their images, CSVs count their rows)."""
        paths = [str(p) for p in paths]
        if not paths:
            return
        self.queue.add_items(expand_inputs(paths))

    def open_paths(self, paths) -> None:
        """What a drop or a paste does: a model is loaded, everything else is queued."""
        paths = [str(p) for p in paths]
        models = [p for p in paths if p.lower().endswith(MODEL_EXTENSIONS) and os.path.isfile(p)]
        others = [p for p in paths if p not in models]
        if models:
            self.load_model(models[0])
            if len(models) > 1:
                self.statusBar().showMessage(f"Loaded {os.path.basename(models[0])}; one model at a time", 8000)
        if others:
            self.add_inputs(others)

    def paste_paths(self):
        mime = QGuiApplication.clipboard().mimeData()
        paths = _paths_from_mime(mime)
        if not paths and mime is not None and mime.hasText():
            paths = [line.strip().strip('"') for line in mime.text().splitlines() if line.strip()]
            paths = [p[7:] if p.startswith("file://") else p for p in paths]
        if paths:
            self.open_paths(paths)
        else:
            self.statusBar().showMessage("The clipboard holds no file paths", 5000)

    def dragEnterEvent(self, event):
        if _paths_from_mime(event.mimeData()):
            event.acceptProposedAction()
        else:
            event.ignore()

    def dragMoveEvent(self, event):
        if _paths_from_mime(event.mimeData()):
            event.acceptProposedAction()

    def dropEvent(self, event):
        paths = _paths_from_mime(event.mimeData())
        if not paths:
            event.ignore()
            return
        event.acceptProposedAction()
        self.open_paths(paths)

    def _on_queue_changed(self):
        self._check_queue()
        self._update_actions()

    def _check_queue(self):
        """Flag the queued inputs the model cannot take (on a worker: CSV headers and image headers are read)."""
        if self._check_worker is not None:
            self._check_worker.quit()
        items = list(self.queue.model.items)
        if self.engine is None or not items:
            self.queue.model.set_problems({})
            self._check_worker = None
            self._update_actions()
            self.queue_checked.emit()
            return
        worker = Worker(check_items, self.engine, items, name="check")
        worker._kwargs["should_stop"] = worker.should_stop
        worker.snapshot = (self.engine, items)
        worker.signals.returned.connect(self._on_queue_checked)
        worker.signals.errored.connect(self._on_queue_check_failed)
        self._check_worker = worker
        self._start(worker)

    @Slot(object)
    def _on_queue_checked(self, checked):
        worker = self._check_worker
        if worker is None or self.sender() is not worker.signals:
            return
        self._check_worker = None
        problems, self._table_columns = checked
        if worker.snapshot == (self.engine, self.queue.model.items):
            self.queue.model.set_problems(problems)
        self._update_actions()
        self.queue_checked.emit()

    @Slot(object)
    def _on_queue_check_failed(self, exc):
        if self._check_worker is not None and self.sender() is self._check_worker.signals:
            self._check_worker = None
        report_error(exc)

    # ================================================================== running
    def start_run(self) -> BatchWorker | None:
        """Score the queue in the background; a run already going is cancelled first."""
        # Objects alive now (Qt wrappers, modules, earlier results) need no more scanning by the
        # cycle collector: frozen, its full collections while results stream in stay short instead
        # of pausing the window for tens of milliseconds.
        gc.freeze()
        if self.engine is None or not self.queue.model.items:
            self._update_actions()
            return None
        if self._run_worker is not None:
            self._run_worker.quit()
        self._stop_opening()
        self.status_error.clear_message()
        self._clear_results()
        t0 = time.perf_counter()
        self.latency.reset(t0)
        worker = BatchWorker(self.engine, self.queue.model.items, top_k=self.settings.top_k,
                             service=self.scoring, record=True, wait_for_ack=True)
        worker.t_start = t0
        self._run_extra = {i.path: self._table_columns[i.path] for i in worker.items if i.path in self._table_columns}
        self._update_columns_label()
        return self._launch_run(worker)

    def _show_batch(self, batch, produced) -> None:
        """Add a batch to the table and the latency charts; select the first row once there is one."""
        had = self.results.passthrough_names, self.results.total
        self.results.append(batch)
        self.latency.add(batch, produced)
        self._update_counts()
        if self.results.passthrough_names != had[0] or not had[1]:
            self._update_columns_label()
        if not self._selected_first and self.results.rowCount() and not self.table.selectionModel().hasSelection():
            self._selected_first = True
            self.table.selectionModel().setCurrentIndex(
                self.results.index(0, 0), QItemSelectionModel.ClearAndSelect | QItemSelectionModel.Rows)

    def _clear_results(self):
        self.results.clear()
        self._run_extra = {}
        self._update_columns_label()
        self.detail.show_result(None)
        self._selected_first = False
        self._run_summary = None
        self._shown_run = None
        self._shown_run_id = None
        self.run_label.setText("")

    def _launch_run(self, worker: BatchWorker, index_offset: int = 0) -> BatchWorker:
        worker.index_offset = index_offset  # a resumed run continues the numbering of the results shown
        worker.signals.yielded.connect(self._on_results)
        worker.signals.progress.connect(self._on_progress)
        worker.signals.returned.connect(self._on_run_returned)
        worker.signals.errored.connect(self._on_run_failed)
        worker.signals.finished.connect(self._on_run_finished)
        self._run_worker = worker
        self.results.reserve(index_offset + worker.total)
        self.latency.reserve(index_offset + worker.total)
        self.progress.setRange(0, max(1, worker.total))
        self.progress.setValue(0)
        self.progress_label.setText(f"0 / {fmt.count(worker.total)} · starting…")
        self.results_stack.setCurrentIndex(1)
        self._start(worker)
        self._update_actions()
        return worker

    def cancel(self):
        """Stop the run (and a benchmark, and the opening of a past run) between items."""
        if self._run_worker is not None and self._run_worker.is_running:
            self._run_worker.quit()
            self.progress_label.setText(self.progress_label.text().split(" · ")[0] + " · cancelling…")
        if self._open_worker is not None:
            self._open_worker.resume = None
            self._open_worker.quit()
        self.cancel_bench()

    def _is_current_run(self) -> bool:
        return self._run_worker is not None and self.sender() is self._run_worker.signals

    @Slot(object)
    def _on_results(self, payload):
        if not self._is_current_run():
            return
        batch, produced = payload
        offset = getattr(self._run_worker, "index_offset", 0)
        if offset:  # a resumed run continues the numbering of the results shown
            batch = copy.copy(batch)
            batch.position = batch.position + offset
        self._show_batch(batch, produced)
        if self._run_worker.wait_for_ack:
            # let the worker go on once this group is painted (posted paint events run before a 0 ms timer)
            QTimer.singleShot(0, self._run_worker.acknowledge)

    @Slot(int, int)
    def _on_progress(self, done, total):
        if not self._is_current_run():
            return
        w = self._run_worker
        self.progress.setRange(0, max(1, total))
        self.progress.setValue(done)
        elapsed = time.perf_counter() - (w.t_start or time.perf_counter())
        rate = done / elapsed if elapsed > 0 and done else 0.0
        left = (total - done) / rate if rate else float("nan")
        self.progress_label.setText(f"{fmt.count(done)} / {fmt.count(total)} · {fmt.rate(rate)} · "
                                    f"{fmt.duration(left)} left")

    @Slot(object)
    def _on_run_returned(self, summary):
        if not self._is_current_run():
            return
        self._run_summary = summary
        ok, failed = self.results.n_ok, self.results.n_failed
        text = (f"{fmt.count(summary['done'])} / {fmt.count(summary['total'])} · "
                f"{'cancelled' if summary['cancelled'] else 'done'} in {summary['seconds']:.1f} s")
        self.progress_label.setText(text)
        msg = (f"Cancelled after {fmt.plural(ok + failed, 'item')}" if summary["cancelled"]
               else f"Scored {fmt.plural(ok + failed, 'item')}") + f": {fmt.count(ok)} OK, {fmt.count(failed)} failed"
        if getattr(self._run_worker, "index_offset", 0):
            msg = (f"Resumed run {'cancelled' if summary['cancelled'] else 'finished'}: "
                   f"{fmt.plural(summary['done'], 'more item')} scored; {fmt.count(ok)} OK, {fmt.count(failed)} failed "
                   "in all")
        self.statusBar().showMessage(msg, 15000)
        if summary.get("run_id"):
            self._shown_run_id = summary["run_id"]
            self.run_label.setText(f"Saved in History · run {summary['run_id']}")
        self.latency.refresh_soon()

    @Slot(object)
    def _on_run_failed(self, exc):
        if not self._is_current_run():
            return
        report_error(exc, inline=self.show_status_error)

    @Slot()
    def _on_run_finished(self):
        if not self._is_current_run():
            return
        summary = self._run_summary or {"cancelled": True, "done": self.results.rowCount(),
                                        "total": self._run_worker.total, "seconds": 0.0, "failed": True}
        self._run_worker = None
        self._update_actions()
        self._update_counts()
        self.history.refresh()
        self.run_finished.emit(summary)

    def _warm_up_charts(self) -> None:
        if not self.latency.isVisible():
            self.latency.resize(self.tabs.currentWidget().size())
            self.latency.grab()

    def is_running(self) -> bool:
        return self._run_worker is not None

    # ================================================================== history: open and resume past runs
    def _stop_opening(self):
        if self._open_worker is not None:
            self._open_worker.resume = None
            self._open_worker.quit()
            self._open_worker = None

    def show_in_history(self, run_id: str | None = None) -> None:
        """Switch to the History tab, with ``run_id`` selected."""
        self.tabs.setCurrentWidget(self.history)
        if run_id:
            self.history.select_run(run_id)

    def open_run(self, run_id: str, resume=None) -> RecordsWorker | None:
        """Show a recorded run's results in the Results tab, read on a worker and added in groups."""
        if self.is_running():
            self.history.message.show_error("Wait for the current run to finish, or cancel it (Esc), "
                                            "before opening another.")
            return None
        self._stop_opening()
        self.status_error.clear_message()
        self._clear_results()
        self.latency.reset(None)
        worker = RecordsWorker(self.history.store_path, run_id)
        worker.resume = resume
        worker.signals.yielded.connect(self._on_opened_results)
        worker.signals.progress.connect(self._on_open_progress)
        worker.signals.returned.connect(self._on_run_opened)
        worker.signals.errored.connect(self._on_open_failed)
        worker.signals.finished.connect(self._on_open_finished)
        self._open_worker = worker
        self.progress.setRange(0, 1)
        self.progress.setValue(0)
        self.progress_label.setText("Opening the run…")
        self.results_stack.setCurrentIndex(1)
        self.tabs.setCurrentIndex(0)
        self._start(worker)
        self._update_actions()
        return worker

    def _is_current_open(self) -> bool:
        return self._open_worker is not None and self.sender() is self._open_worker.signals

    @Slot(object)
    def _on_opened_results(self, batch):
        if self._is_current_open():
            self._show_batch(batch, None)  # no arrival times: items/s stays out of the latency readout
            # the reader sends the next chunk once this one is painted (posted paints run before a 0 ms timer)
            QTimer.singleShot(0, self._open_worker.acknowledge)

    @Slot(int, int)
    def _on_open_progress(self, done, total):
        if self._is_current_open():
            self.results.reserve(total)
            self.latency.reserve(total)
            self.progress.setRange(0, max(1, total))
            self.progress.setValue(done)
            self.progress_label.setText(f"{fmt.count(done)} / {fmt.count(total)} · opening…")

    @Slot(object)
    def _on_run_opened(self, info):
        if not self._is_current_open():
            return
        worker, run = self._open_worker, info["run"]
        self._open_worker = None
        self._shown_run, self._shown_run_id = run, run.id
        self._run_summary = {"cancelled": run.status != "finished", "done": info["done"], "total": info["done"],
                             "seconds": 0.0, "run_id": run.id, "reopened": True}
        self.progress_label.setText(f"{fmt.plural(info['done'], 'result')} · {run.status}, opened from History")
        shown = f"Showing {run_title(run)}"
        if run.name:
            shown += f" ({run.model_name}, {when_text(run.started_at)})"
        self.run_label.setText(shown + " · from History")
        self.run_label.setToolTip(f"Run {run.id}: {fmt.count(run.ok)} OK, {fmt.count(run.failed)} failed, {run.status}")
        self.statusBar().showMessage(f"Opened {run_title(run)}: {fmt.plural(info['done'], 'result')}", 10000)
        self.latency.refresh()
        self._update_actions()
        self._update_counts()
        if self.selected_result() is not None:
            self._on_current_row_changed(self.table.selectionModel().currentIndex())
        self.run_opened.emit(info)
        if worker.resume is not None and not info["cancelled"]:
            self._start_resumed(worker.resume, self.results.total)

    @Slot(object)
    def _on_open_failed(self, exc):
        if not self._is_current_open():
            return
        self._open_worker = None
        self.progress_label.setText("")
        report_error(exc, inline=self._resume_message if self.banner.isVisible() else self.history.message.show_error)
        self._update_actions()

    @Slot()
    def _on_open_finished(self):
        self._update_actions()

    def offer_resume(self) -> Worker:
        """Look for interrupted runs (on a worker) and offer to resume the newest in the banner."""
        worker = Worker(unfinished_runs, self.history.store_path, name="unfinished")
        worker.signals.returned.connect(self._on_unfinished_found)
        worker.signals.errored.connect(self._on_unfinished_failed)
        return self._start(worker)

    @Slot(object)
    def _on_unfinished_found(self, unfinished):
        if unfinished and not self.is_running() and self._resume_worker is None:
            self.banner.offer(unfinished[0], len(unfinished) - 1)
        self.resume_checked.emit(unfinished)

    @Slot(object)
    def _on_unfinished_failed(self, exc):
        report_error(exc, inline=self.show_status_error)
        self.resume_checked.emit([])

    def _resume_message(self, text: str) -> None:
        if self.banner.isVisible():
            self.banner.show_error(text)
        else:
            self.history.message.show_error(text)

    def resume_run(self, run_id: str) -> Worker | None:
        """Take up an interrupted run: its model as recorded, its results so far, then only what is left.

        Refused (inline, where Resume was pressed) when its model file changed or a run is going.
        """
        if self.is_running() or self._resume_worker is not None:
            self._resume_message("Wait for the current run to finish, or cancel it (Esc), before resuming another.")
            return None
        worker = Worker(prepare_resume, self.history.store_path, run_id, name="resume")
        worker.signals.returned.connect(self._on_resume_ready)
        worker.signals.errored.connect(self._on_resume_failed)
        self._resume_worker = worker
        if self.banner.isVisible():
            self.banner.set_busy("Loading the run's model to resume it…")
        self.history.message.show_info("Loading the run's model to resume it…")
        return self._start(worker)

    @Slot(object)
    def _on_resume_ready(self, plan):
        if self._resume_worker is None or self.sender() is not self._resume_worker.signals:
            return
        self._resume_worker = None
        self._load_worker = None  # a model still loading would replace the run's model: ignore it
        self.banner.setVisible(False)
        self.history.message.clear_message()
        self.set_engine(plan.engine)
        self.scoring.start()
        self.queue.clear()
        self.queue.add_items(plan.items)
        self.open_run(plan.run.id, resume=plan)

    @Slot(object)
    def _on_resume_failed(self, exc):
        if self._resume_worker is None or self.sender() is not self._resume_worker.signals:
            return
        self._resume_worker = None
        report_error(exc, inline=self._resume_message)

    def _start_resumed(self, plan, offset: int) -> BatchWorker:
        t0 = time.perf_counter()
        worker = BatchWorker(self.engine, plan.items, top_k=self.settings.top_k, service=self.scoring,
                             record=True, resume_run=plan.run.id, wait_for_ack=True)
        worker.t_start = t0
        self._shown_run = None
        self._run_extra = {i.path: self._table_columns[i.path] for i in worker.items if i.path in self._table_columns}
        self.run_label.setText(f"Resuming run {plan.run.id}")
        worker = self._launch_run(worker, index_offset=offset)
        self.progress_label.setText(f"{fmt.count(offset)} already scored · resuming…")
        return worker

    # ================================================================== benchmark
    def _on_bench_action(self):
        self.tabs.setCurrentWidget(self.bench_view)
        if self.engine is not None:
            self.start_bench(self.bench_view.configs(), self.bench_view.runs.value(), self.bench_view.warmup.value())

    @Slot(object, int, int)
    def start_bench(self, configs, runs, warmup) -> BenchWorker | None:
        if self.engine is None:
            self.bench_message.show_error("Load a model first.")
            return None
        if self._bench_worker is not None:
            self._bench_worker.quit()
        self.bench_message.clear_message()
        worker = BenchWorker(self.engine, configs, runs=runs, warmup=warmup)
        worker.signals.yielded.connect(self._on_bench_points)
        worker.signals.returned.connect(self._on_bench_returned)
        worker.signals.errored.connect(self._on_bench_failed)
        self._bench_worker = worker
        self.bench_view.begin(configs, runs)
        return self._start(worker)

    def cancel_bench(self):
        if self._bench_worker is not None:
            self._bench_worker.quit()

    def _is_current_bench(self):
        return self._bench_worker is not None and self.sender() is self._bench_worker.signals

    @Slot(object)
    def _on_bench_points(self, group):
        if self._is_current_bench():
            self.bench_view.add_points(group)

    @Slot(object)
    def _on_bench_returned(self, reports):
        if not self._is_current_bench():
            return
        self._bench_worker = None
        self.bench_view.finish(reports)
        self.bench_finished.emit(reports)

    @Slot(object)
    def _on_bench_failed(self, exc):
        if not self._is_current_bench():
            return
        self._bench_worker = None
        self.bench_view.finish(None)
        report_error(exc, inline=self.bench_message.show_error)
        self.bench_finished.emit(None)

    # ================================================================== results
    def _on_filter_changed(self, *_):
        self.results.set_filter(self.filter_edit.text(), self.status_filter.currentData())
        self._update_counts()

    @Slot(QModelIndex, int, int)
    def _on_result_columns_inserted(self, _parent, first, last):
        em = self.fontMetrics().horizontalAdvance("m")
        for col in range(first, last + 1):
            self.table.setColumnWidth(col, 10 * em)

    def _update_columns_label(self) -> None:
        """Say which CSV columns travel with their rows and which were left out (as ``inferdesk score`` does)."""
        passed = list(self.results.passthrough_names)
        ignored = []
        if self.results.total:  # what was passed through is known once rows arrived
            ignored = list(dict.fromkeys(c for cols in self._run_extra.values() for c in cols if c not in passed))
        if not passed and not ignored:
            self.columns_label.setVisible(False)
            return

        def names(cols, limit=8):
            shown = ", ".join(cols[:limit])
            return shown + (f" and {fmt.count(len(cols) - limit)} more" if len(cols) > limit else "")

        parts = []
        if passed:
            parts.append(f"CSV columns passed through (in the table and exports): {names(passed)}")
        if ignored:
            parts.append(f"{'ignored' if passed else 'CSV columns ignored (not model features)'}: {names(ignored)}")
        self.columns_label.setText(" · ".join(parts))
        tip = []
        if passed:
            tip.append("Passed through, not model features:\n  " + "\n  ".join(passed))
        if ignored:
            tip.append("Ignored, not model features:\n  " + "\n  ".join(ignored))
        self.columns_label.setToolTip("\n".join(tip))
        self.columns_label.setVisible(True)

    def _focus_filter(self):
        self.tabs.setCurrentIndex(0)
        self.filter_edit.setFocus()
        self.filter_edit.selectAll()

    def _update_counts(self):
        total = self.results.total
        shown = self.results.rowCount()
        if not total:
            self.counts_label.setText("")
            return
        text = f"{fmt.count(self.results.n_ok)} OK · {fmt.count(self.results.n_failed)} failed"
        if shown != total:
            text = f"showing {fmt.count(shown)} of {fmt.count(total)} · " + text
        self.counts_label.setText(text)

    @Slot()
    def _on_current_row_changed(self, current, _previous=None):
        result = self.results.result_at(current.row()) if current.isValid() else None
        engine = self.engine
        if self._shown_run is not None and (engine is None or engine.info.sha256 != self._shown_run.model_sha256):
            engine = None  # a past run of another model: show its images as they are, not through this model
        self.detail.show_result(result, engine)
        self.latency.mark(result.index if result is not None else None)

    @Slot(int)
    def select_result(self, result_index: int) -> bool:
        """Select the table row of the Result with this index (from a click on the latency plot)."""
        row = self.results.row_of_index(result_index)
        if row is None:
            return False
        ix = self.results.index(row, 0)
        self.table.selectionModel().setCurrentIndex(ix, QItemSelectionModel.ClearAndSelect | QItemSelectionModel.Rows)
        self.table.scrollTo(ix)
        return True

    def selected_result(self):
        ix = self.table.selectionModel().currentIndex()
        return self.results.result_at(ix.row()) if ix.isValid() else None

    def export_dialog(self):
        shown = self.results.rowCount()
        if not shown:
            self.show_status_error("Nothing to export yet: run the queue first.")
            return
        start = os.path.join(self.settings.last_export_dir or str(Path.home()), "inferdesk-results.csv")
        path, _ = QFileDialog.getSaveFileName(
            self, f"Export {fmt.plural(shown, 'result')} shown in the table", start,
            "CSV (*.csv);;JSON (*.json);;JSON lines, like the command line (*.jsonl)")
        if path:
            self.settings.last_export_dir = os.path.dirname(path)
            self.export_to(path)

    def export_to(self, path) -> int:
        """Write the results the table shows (in its order) to ``path``: CSV, JSON or JSON lines."""
        batch = self.results.visible_batch()
        try:
            n = export_batches([batch] if batch is not None else [], path, self._provenance())
        except OSError as exc:
            self.show_status_error(f"Cannot write {path}: {exc.strerror or exc}")
            return 0
        self.statusBar().showMessage(f"Exported {fmt.plural(n, 'result')} to {path}", 10000)
        self._note_export(path)
        return n

    def _provenance(self) -> dict | None:
        """Where the table's results come from (run, model, profile, app version), for the export's header."""
        run_id = self._shown_run_id or (self._run_worker.run_id if self._run_worker is not None else None)
        if run_id:
            from desktop.engine.store import ResultStore, StoreError

            try:
                with ResultStore(self.history.store_path, readonly=True) as store:
                    return run_provenance(store, run_id)
            except StoreError:
                pass  # not recorded (or the store cannot be read): say what the window knows
        if self.engine is None:
            return None
        from desktop.engine.writers import engine_provenance

        return engine_provenance(self.engine, None, "InferDesk window", run_id=run_id)

    def _note_export(self, path) -> None:
        if self._shown_run_id and not self.is_running():
            from desktop.engine.store import ResultStore, StoreError

            ext = os.path.splitext(str(path))[1].lower().lstrip(".")
            try:
                with ResultStore(self.history.store_path) as store:
                    store.note_export(self._shown_run_id, str(path), "csv" if ext in ("csv", "tsv") else ext or "json")
            except StoreError as exc:
                self.show_status_error(str(exc))

    # ================================================================== chrome
    def show_status_error(self, text: str) -> None:
        """Inline message in the status bar, for engine errors that belong to no panel."""
        self.status_error.show_error(text)

    def _update_status_info(self):
        import onnxruntime

        s = self.settings
        provider = (self.engine.provider if self.engine else (s.provider or "best available"))
        parts = [f"onnxruntime {onnxruntime.__version__}", provider.replace("ExecutionProvider", ""),
                 f"threads {s.threads or 'automatic'}", f"optimisation {s.opt_level}", f"top-{s.top_k}"]
        if self.engine is not None:
            parts.append(f"profile: {self.engine.profile_source}")
        self.status_info.setText(" · ".join(parts))

    def _update_actions(self):
        loading = self._load_worker is not None
        n = self.queue.model.total_rows
        if loading:
            reason = "Wait for the model to load"
        elif self.engine is None:
            reason = "Load a model first: drop an .onnx file on the window or use File ▸ Open Model (Ctrl+O)"
        elif not self.queue.model.items:
            reason = "Add inputs first: drop images, folders or CSV files, or use Add… (Ctrl+I)"
        else:
            reason = None
        can_run = reason is None
        self.run_button.setEnabled(can_run)
        self.act_run.setEnabled(can_run)
        tip = reason or (f"Score the {fmt.plural(n, 'queued item')} (Ctrl+R)" +
                         ("; the current run is cancelled first" if self.is_running() else ""))
        self.run_button.setToolTip(tip)
        self.act_run.setToolTip(tip)
        running = self.is_running()
        self.run_button.setText("Run again  ▶" if running else "Run  ▶")
        opening = self._open_worker is not None
        self.cancel_button.setEnabled(running or opening)
        self.act_cancel.setEnabled(running or self._bench_worker is not None)
        self.act_profile.setEnabled(self.engine is not None)
        self.model_panel.profile_button.setEnabled(self.engine is not None)
        self.act_export.setEnabled(self.results.total > 0)
        if not self.results.total and not running and not opening:
            self.results_stack.setCurrentIndex(0)
            if self.engine is None:
                self.empty_label.setText("Drop an <b>.onnx</b> model here, or open the sample.")
                self.empty_sample_button.setVisible(True)
            elif not self.queue.model.items:
                self.empty_label.setText("Drop images, folders or CSV files here to score them.")
                self.empty_sample_button.setVisible(False)
            else:
                self.empty_label.setText(f"Press <b>Run</b> (Ctrl+R) to score the "
                                         f"{fmt.plural(n, 'queued item')}.")
                self.empty_sample_button.setVisible(False)

    def about_text(self) -> str:
        v = versions()
        rows = "".join(f"<tr><td>{k}</td><td>&nbsp;&nbsp;{val}</td></tr>" for k, val in v.items())
        return (f"<h3>InferDesk {__version__}</h3><p>Score images and tables with an ONNX model on your own "
                f"workstation. Nothing leaves this computer.</p><table>{rows}</table>")

    def about(self):
        box = QMessageBox(self)
        box.setWindowTitle("About InferDesk")
        box.setTextFormat(Qt.RichText)
        box.setText(self.about_text())
        from desktop.resources import icon_path

        png = icon_path("png")
        if png.is_file():
            box.setIconPixmap(QIcon(str(png)).pixmap(64, 64))
        box.setAttribute(Qt.WA_DeleteOnClose)
        box.open()
        self.about_box = box
        return box

    def _open_settings_folder(self):
        QDesktopServices.openUrl(QUrl.fromLocalFile(str(self._settings_file().parent)))


def _paths_from_mime(mime) -> list[str]:
    if mime is None or not mime.hasUrls():
        return []
    return [u.toLocalFile() for u in mime.urls() if u.isLocalFile()]


def _padded(widget: QWidget) -> QWidget:
    host = QWidget()
    lay = QVBoxLayout(host)
    lay.setContentsMargins(8, 8, 4, 4)
    lay.addWidget(widget)
    return host

