"""The main window: model panel and input queue on the left, results / latency / benchmark / history in the
centre, the selected item's detail on the right.

It only displays and dispatches: :class:`~desktop.ui.controller.WindowController` holds what is
loaded, running and shown and starts the work; this class builds the widgets, turns the user's
gestures into controller calls and the controller's signals into what the widgets show.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

from PySide6.QtCore import QTimer, Qt, Signal
from PySide6.QtWidgets import QFileDialog, QMainWindow, QMessageBox

from desktop.engine import InputKind, SessionSettings, available_providers
from desktop.engine.profile import Task
from desktop.runs import fmt
from desktop.runs.history import export_results, run_title, when_text
from desktop.settings import Settings, save_settings, settings_path

from . import actions
from .continuous import ContinuousMixin
from .about import AboutMixin, versions  # noqa: F401 - versions is part of this module's interface
from .controller import WindowController
from .errors import attach_window, refuse, report_error
from .inputs import InputsMixin
from .layout import build_layout
from .review import ReviewFlow
from .widgets.detail import set_detail_origin
from .widgets.dicom_export import FILTERS as DICOM_EXPORTS
from .widgets.panels import use_notice
from .window_state import restore_window_state, save_window_state


#: the Export dialog's file types; a detector's results add COCO and YOLO (the dialog's filter -> format)
EXPORT_FILTERS = ("CSV (*.csv)", "JSON (*.json)", "JSON lines, like the command line (*.jsonl)")
DETECTION_FILTERS = {"COCO detections (*.json)": "coco", "YOLO labels (folder)": "yolo"}
#: a segmenter's results add these (YOLO labels stay a detector's)
SEGMENTATION_FILTERS = {"COCO segmentation (*.json)": "coco", "Segmentation masks (PNG label maps, folder)": "masks"}


#: a recorded run of DICOM inputs adds these (a folder of objects; desktop.runs.dicom_export); a segmenter's adds SEG
DICOM_FILTERS = {k: v for k, v in DICOM_EXPORTS.items() if v != "dicom-seg"}
DICOM_SEG_FILTER = {k: v for k, v in DICOM_EXPORTS.items() if v == "dicom-seg"}


def dicom_filters(batch, run_id) -> dict:
    """The DICOM exports the Export dialog offers for ``batch``: none unless its run is recorded and has DICOM inputs."""
    if batch is None or not run_id or not any(str(k) == "dicom" for k in batch.source_kinds):
        return {}
    return {**(DICOM_SEG_FILTER if _is_masks(batch) else {}), **DICOM_FILTERS}


def phi_note(left_out) -> str:
    """What an export's status line adds when it withheld DICOM fields."""
    if not left_out:
        return ""
    names = ", ".join(list(left_out)[:4]) + (", …" if len(left_out) > 4 else "")
    return (f" · left out patient-identifying DICOM fields ({names}); File ▸ Export with Patient Details… "
            "keeps them")


def _is_masks(batch) -> bool:
    return batch is not None and str(batch.task) == Task.SEGMENTATION.value and "rle_offsets" in batch.answer


def _is_detections(batch) -> bool:
    return batch is not None and str(batch.task) == Task.DETECTION.value and "det_offsets" in batch.answer


class MainWindow(ContinuousMixin, InputsMixin, AboutMixin, QMainWindow):
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
    validation_done = Signal(object)  # the evaluation dict, or None when it failed
    report_written = Signal(str)  # the report's path ("" when it failed)
    dicom_exported = Signal(object)  # the DicomExported of a DICOM export, or the exception it failed with
    drift_done = Signal(object)  # the drift report's dict, or None when the check failed
    explained = Signal(object)  # the Explanation (or TableExplanation), or None when it failed
    variant_made = Signal(object)  # the lab's Variant, or None when making it failed
    models_compared = Signal(object)  # the lab's comparison dict, or None
    explanation_checked = Signal(object)  # the sanity check's dict, or None

    def __init__(self, settings: Settings | None = None, settings_file: str | os.PathLike | None = None):
        super().__init__()
        self.settings = settings or Settings()
        self.settings_file = Path(settings_file) if settings_file else settings_path()
        self.controller = c = WindowController(self.settings, parent=self)
        self.providers = available_providers()
        self.setWindowTitle("InferDesk")
        self.setAcceptDrops(True)
        self.setMinimumSize(900, 560)
        build_layout(self)
        actions.build_actions(self)
        actions.rebuild_recent(self)
        c.model_loading.connect(self._on_model_loading)
        c.engine_changed.connect(self._on_engine_changed)
        c.model_refused.connect(self._on_model_refused)
        c.queue_checked.connect(self._on_queue_checked)
        c.shown_changed.connect(self._on_shown_changed)
        c.results_arrived.connect(self._on_results)
        c.progress.connect(self._on_progress)
        c.resume_ready.connect(self._on_resume_ready)
        c.run_ended.connect(self._on_run_ended)
        c.run_failed.connect(lambda exc: report_error(exc, inline=self.show_status_error))
        c.run_opened.connect(self._on_run_opened)
        c.open_failed.connect(self._on_open_failed)
        c.resume_refused.connect(lambda exc: report_error(exc, inline=self._resume_message))
        c.unfinished_found.connect(self._on_unfinished_found)
        c.bench_points.connect(self.bench_view.add_points)
        c.bench_ended.connect(self._on_bench_ended)
        c.bench_failed.connect(lambda exc: report_error(exc, inline=self.bench_message.show_error))
        c.busy_changed.connect(self._update_actions)
        c.validated.connect(self._on_validated)
        c.validation_failed.connect(self._on_validation_failed)
        self.tabs.currentChanged.connect(lambda _i: self.tabs.currentWidget() is self.validation
                                         and self.update_validation_choices())
        self.review = ReviewFlow(self)  # A / O / F and the detail's review bar (desktop/ui/review.py)
        self._init_continuous()  # Run ▸ Watch Folder… and the Server tab (desktop/ui/continuous.py)
        # the charts' first paint sets up fonts and pictures: done once while idle, not when the
        # user first opens the Latency tab in the middle of a run
        QTimer.singleShot(400, self._warm_up_charts)
        self._detach_errors = attach_window(self, self.show_status_error)
        restore_window_state(self, self.settings_file)
        self._update_actions()

    # ================================================================== state
    @property
    def engine(self):
        return self.controller.engine

    @property
    def pool(self):
        return self.controller.jobs.pool

    def is_running(self) -> bool:
        return self.controller.is_running()

    def save_state(self) -> None:
        """Window state to the INI store; preferences to the settings JSON."""
        save_window_state(self, self.settings_file)
        self._save_settings()

    def _save_settings(self):
        try:
            save_settings(self.settings, self.settings_file)
        except OSError as exc:
            report_error(exc, inline=self.show_status_error)

    def shutdown(self, timeout_ms: int = 30000) -> bool:
        """Cancel all background work and wait for it; returns False if something is still running."""
        return self.controller.shutdown(timeout_ms)

    def confirm(self, title: str, text: str, accept: str, reject: str = "Keep Running") -> bool:
        """Ask before something that stops the run going now; True when the user chose ``accept``.

        The safe choice (``reject``) is the default, so Enter or Esc never stops a run by accident.
        """
        box = QMessageBox(QMessageBox.Question, title, text, QMessageBox.NoButton, self)
        box.setObjectName("confirmDialog")
        yes = box.addButton(accept, QMessageBox.DestructiveRole)
        no = box.addButton(reject, QMessageBox.RejectRole)
        box.setDefaultButton(no)
        box.setEscapeButton(no)
        box.exec()
        return box.clickedButton() is yes

    def _run_progress_text(self) -> str:
        if self.controller.is_watching():
            return (f"{self.controller.shown.watching} is being watched, "
                    f"{fmt.plural(self.results.total, 'result')} so far")
        done, total = self.progress.value(), self.progress.maximum()
        return f"{fmt.count(done)} of {fmt.plural(total, 'item')} are scored"

    def _stop_run_first(self, what: str, accept: str) -> bool:
        """True when no run is going, or the user agreed to stop it for ``what``."""
        if not self.is_running():
            return True
        return self.confirm(
            "Stop the current run?",
            f"A run is going: {self._run_progress_text()}. {what} stops it. Its results so far are kept "
            "in History.", accept)

    #: the centre's width below which the side panes give up room (down to their minimums)
    CENTRE_COMFORT = 520

    def fit_panes(self) -> None:
        """Keep the centre (the run bar, the table's Status and Latency columns) wide enough: when the window
        is small, the model panel and the detail pane shrink first, the wider of them first."""
        sizes = self.splitter.sizes()
        if len(sizes) != 3 or not sum(sizes):
            return
        left, centre, right = sizes
        need = self.CENTRE_COMFORT - centre
        if need <= 0:
            return
        spare = {0: left - self.splitter.widget(0).minimumWidth(), 2: right - self.splitter.widget(2).minimumWidth()}
        sizes = [left, centre, right]
        while need > 0 and any(v > 0 for v in spare.values()):
            n = max(spare, key=spare.get)
            step = min(need, spare[n], 8)
            sizes[n] -= step
            sizes[1] += step
            spare[n] -= step
            need -= step
        if sizes != [left, centre, right]:
            self.splitter.setSizes(sizes)

    def closeEvent(self, event):
        if self.is_running() and not self.confirm(
                "Quit while scoring?",
                f"A run is going: {self._run_progress_text()}. Quitting stops it; its results so far are kept "
                "in History, and InferDesk offers to resume it when you next open it.", "Stop and Quit"):
            event.ignore()
            return
        self.save_state()
        self.shutdown()
        self._detach_errors()
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
            refuse("The sample model is not included in this installation.", self.model_panel.show_error)
            return
        self.load_model(model)
        if not self.queue.model.items:
            self.add_inputs(sample_inputs())

    def _session_settings(self) -> SessionSettings:
        s = self.settings
        return SessionSettings(s.provider, s.threads, s.opt_level, no_fallback=s.no_fallback)

    def load_model(self, path):
        """Load a model off the GUI thread; the card shows it, or the engine's message when refused.

        A run going now is stopped first, once the user agrees (None when they keep it running).
        """
        if not self._stop_run_first(f"Opening {os.path.basename(str(path))}", "Stop and Open"):
            return None
        return self.controller.load_model(str(path), self._session_settings())

    def _on_model_loading(self, name: str) -> None:
        self.model_panel.set_loading(name)
        self._update_actions()

    def _on_engine_changed(self, engine, how: str) -> None:
        self.model_panel.set_engine(engine)
        from desktop.runs.optimise import variants_of

        self.lab.set_model(engine.model_path, variants_of(engine.model_path))
        if not self.drift.reference_path:  # the model's own reference, when it has one beside it
            from desktop.engine.drift.reference import default_reference_path

            saved = default_reference_path(engine.model_path)
            if saved.is_file():
                self.drift.set_reference(str(saved))
        self.setWindowTitle(f"{engine.info.file_name} — InferDesk")
        self.bench_view.set_model_loaded(True)
        self._update_server_model(engine)
        self._update_status_info()
        self.controller.check_queue(self.queue.model.items)
        self._update_actions()
        self.results_tab.refresh_current()  # the selected result, through this model only if it produced it
        self._update_origin()
        if how == "loaded":
            self.settings.add_recent(engine.model_path)
            actions.rebuild_recent(self)
            self._save_settings()
            self.model_loaded.emit(engine)

    def _on_model_refused(self, exc) -> None:
        if self.engine is not None:
            self.model_panel.set_engine(self.engine)
        else:
            self.model_panel.set_empty()
        report_error(exc, inline=self.model_panel.show_error)
        self._update_actions()

    # ================================================================== profile and settings
    def edit_profile(self):
        if self.engine is None:
            refuse("Load a model first, then edit its preprocessing.", self.show_status_error)
            return None
        from .widgets.profile_editor import ProfileEditor

        items = self.queue.model.items
        images = [i.path for i in items if i.kind in (InputKind.IMAGE, InputKind.DICOM)]
        tables = [i.path for i in items if i.kind == InputKind.TABLE]
        dialog = ProfileEditor(self.engine, images, tables, self)
        dialog.setAttribute(Qt.WA_DeleteOnClose)
        dialog.saved.connect(lambda profile, path: self._apply_profile(profile, f"sidecar {os.path.basename(path)}",
                                                                       f"Profile saved to {path}"))
        dialog.applied.connect(lambda profile: self._apply_profile(profile, "edited, not saved"))
        dialog.finished.connect(lambda _result: self._focus_results())
        dialog.open()
        self.profile_editor = dialog
        return dialog

    def _apply_profile(self, profile, source: str, message: str = ""):
        try:
            engine = self.engine.with_profile(profile)
        except Exception as exc:  # noqa: BLE001 - EngineError inline, anything else a dialog
            report_error(exc, inline=self.model_panel.show_error)
            return
        engine.profile_source = source
        self.controller.set_engine(engine, "profile")
        if message:
            self.statusBar().showMessage(message, 8000)

    def settings_dialog(self):
        from .widgets.settings_dialog import SettingsDialog

        dialog = SettingsDialog(self.settings, self.providers, self)
        if dialog.exec():
            self.apply_settings(dialog.result_settings())

    def apply_settings(self, new: Settings) -> None:
        """Use new preferences; reload the model when the session settings changed."""
        old = self._session_settings()
        self.settings = self.controller.settings = new
        self.history.formula_guard = new.formula_guard
        self._save_settings()
        self._update_status_info()
        if self.engine is not None and self._session_settings() != old:
            self.load_model(self.engine.model_path)

    def _on_queue_changed(self):
        self.controller.check_queue(self.queue.model.items)
        self._update_actions()

    def _on_queue_checked(self, problems) -> None:
        self.queue.model.set_problems(problems)
        self._update_actions()
        self.queue_checked.emit()

    # ================================================================== running
    def primary_action(self):
        """The one prominent button: Run, or Cancel while a run is going."""
        if self.is_running():
            self.cancel()
            return None
        return self.start_run()

    def start_run(self, cluster: str | None = None):
        """Score the queue in the background; a run already going is cancelled first, once the user agrees.

        ``cluster``: on a Dask cluster (``local:N`` or a scheduler's address) instead of this computer.
        """
        if self.engine is None or not self.queue.model.items:
            self._update_actions()
            return None
        if not self._stop_run_first("Starting a new run", "Stop It and Run Again"):
            return None
        self.status_error.clear_message()
        self.latency.reset(time.perf_counter())
        if cluster:
            self.statusBar().showMessage(f"Scoring on {cluster}: starting the workers or connecting…", 8000)
        return self.controller.start_run(self.queue.model.items, self.settings.top_k,
                                         expected=self.queue.model.expected_results, cluster=cluster)

    def run_on_cluster_dialog(self):
        """Run ▸ Run on Cluster…: ask where, then score the queue there (a run like any other, in History)."""
        from .widgets.cluster_dialog import ClusterDialog

        if self.engine is None or not self.queue.model.items:
            refuse("Load a model and queue its inputs first: the cluster scores the queue.", self.show_status_error)
            return None
        dialog = ClusterDialog(self.settings, self.engine.info.file_name, self.queue.model.expected_results, self)
        if dialog.exec() != dialog.DialogCode.Accepted:
            return None
        dialog.remember(self.settings)
        self._save_settings()
        return self.start_run(cluster=dialog.address())

    def cancel(self):
        """Stop the run (and a benchmark, and the opening of a past run) between items."""
        if self.is_running():
            self.progress_label.setText(self.progress_label.text().split(" · ")[0] + " · cancelling…")
        self.controller.cancel()
        self._update_actions()

    def clear_results(self) -> None:
        """Empty the Results tab (the run stays in History); refused while a run or an opening is going."""
        if self.is_running() or self.controller.is_opening():
            refuse("Cancel the run first (Esc): its results are still coming in.", self.show_status_error)
            return
        self.controller.clear_shown()

    def _update_origin(self) -> None:
        """Say above the table (and above the detail) whose results are shown: run, model, profile; and the
        model maker's intended use or disclaimer, when its metadata has one."""
        origin = self.controller.origin()
        self.results_tab.origin.set_origin(origin)
        set_detail_origin(self.detail, origin)
        shown = self.controller.shown
        if shown.source == "empty":
            engine = self.engine
            metadata, name = (engine.info.metadata, engine.info.file_name) if engine is not None else ({}, "")
        else:  # the results' own model: recorded with a live run, else the loaded one when it produced them
            engine = self.controller.shown_engine()
            metadata = shown.metadata if shown.metadata is not None else (
                engine.info.metadata if engine is not None else {})
            name = shown.model_name or ""
        self.results_tab.set_use_notice(use_notice(metadata), name)

    def _on_shown_changed(self, shown) -> None:
        """The table now belongs to another run: empty it and say whose results will come."""
        self._update_origin()
        if not shown.offset:
            self.validation.clear()  # an evaluation (a drift check) is of the run it was made on
            self.drift.clear()
        if shown.offset:  # a resumed run: the results recorded so far stay, the rest follows them
            self.results_tab.extra_columns = shown.extra_columns
            self.results.reserve(shown.total)
            self.latency.reserve(shown.total)
            self.run_label.setText(f"Resuming run {shown.run_id}")
            self._set_progress(0, shown.total - shown.offset, f"{fmt.count(shown.offset)} already scored · resuming…")
            self._update_actions()
            return
        self.results_tab.clear(shown.extra_columns)
        self.detail.show_result(None)
        self.run_label.setText("")
        self.run_label.setToolTip("Which run the Results tab shows")
        if shown.source == "live" and shown.watching:
            self.progress.setRange(0, 0)  # no total: the bar moves while the watch waits for files
            self.progress_label.setText(self._watch_text())
            self.run_label.setText(f"Watching {shown.watching}")
        elif shown.source == "live":
            self.results.reserve(shown.total)
            self.latency.reserve(shown.total)
            self._set_progress(0, shown.total, f"0 / {fmt.count(shown.total)} · starting…")
        elif shown.source == "empty":
            self.latency.reset(None)
            self._set_progress(0, 1, "")
        else:
            self.latency.reset(None)
            self._set_progress(0, 1, "Opening the run…")
            self.tabs.setCurrentIndex(0)
        self.results_tab.show_table()
        self._update_actions()

    def _on_results(self, batch, produced) -> None:
        self.results_tab.add(batch)
        self.latency.add(batch, produced)

    def _set_progress(self, done: int, total: int, text: str) -> None:
        self.progress.setRange(0, max(1, total))
        self.progress.setValue(done)
        self.progress_label.setText(text)

    def _on_progress(self, done, total) -> None:
        if not self.is_running():  # opening a past run
            self.results.reserve(total)
            self.latency.reserve(total)
            self._set_progress(done, total, f"{fmt.count(done)} / {fmt.count(total)} · opening…")
            return
        # the rows shown, against the rows the run will show: the queue's count, and the summary's
        # (the engine's own count takes a refused CSV as all its rows)
        shown = self.controller.shown
        done = self.results.total - shown.offset
        total = max(shown.total - shown.offset, done)
        elapsed = time.perf_counter() - (self.controller.t_start or time.perf_counter())
        rate = done / elapsed if elapsed > 0 and done else 0.0
        left = (total - done) / rate if rate else float("nan")
        self._set_progress(done, total, f"{fmt.count(done)} / {fmt.count(total)} · {fmt.rate(rate)} · "
                                        f"{fmt.duration(left)} left")

    def _on_run_ended(self, summary) -> None:
        ok, failed = self.results.n_ok, self.results.n_failed
        if summary.get("watch") and not summary.get("failed"):
            done = self.results.total
            self._set_progress(done, done, f"Watch stopped · {fmt.plural(summary.get('files', 0), 'file')} scored")
            self.progress_label.setToolTip("")
            self.statusBar().showMessage(self._watch_ended_message(summary), 15000)
        elif summary.get("failed") and self.controller.shown.watching:
            self._set_progress(0, 1, "Watch stopped")
        elif not summary.get("failed"):
            state = "cancelled" if summary["cancelled"] else "done"
            offset = self.controller.shown.offset
            done = self.results.total - offset  # rows shown: the same count as the queue's and the summary's
            total = max(self.controller.shown.total - offset, done) if summary["cancelled"] else done
            self._set_progress(done, total, f"{fmt.count(done)} / {fmt.count(total)} · "
                                            f"{state} in {summary['seconds']:.1f} s")
            msg = (f"Cancelled after {fmt.plural(ok + failed, 'item')}" if summary["cancelled"]
                   else f"Scored {fmt.plural(ok + failed, 'item')}") + \
                f": {fmt.count(ok)} OK, {fmt.count(failed)} failed"
            if summary.get("resumed"):
                msg = (f"Resumed run {'cancelled' if summary['cancelled'] else 'finished'}: "
                       f"{fmt.plural(done, 'more item')} scored; {fmt.count(ok)} OK, "
                       f"{fmt.count(failed)} failed in all")
            if summary.get("cluster"):  # Run on Cluster: where it ran (the detail pane names each item's worker)
                msg += f" · on the cluster {summary['cluster']}"
            self.statusBar().showMessage(msg, 15000)
        if summary.get("run_id"):
            self.run_label.setText(f"Saved in History · run {summary['run_id']}")
        self._update_origin()
        self.latency.refresh_soon()
        self.results_tab.update_counts()
        self._update_actions()
        self._focus_results()
        self.history.refresh()
        self.run_finished.emit(summary)

    def _focus_results(self) -> None:
        """Give the keyboard to the results table (↑/↓ move the detail) after a run or a dialog, unless the
        user is typing somewhere: the focus never lands in the Filter box by itself."""
        focus = self.focusWidget()
        typing = focus is self.results_tab.filter_edit and focus.text()
        if self.results.rowCount() and self.results_tab.stack.currentIndex() == 1 and not typing and (
                focus is None or focus in (self.run_button, self.cancel_button, self.results_tab.filter_edit)
                or not focus.isVisible() or not focus.isEnabled()):
            self.table.setFocus(Qt.OtherFocusReason)

    def _warm_up_charts(self) -> None:
        if not self.latency.isVisible():
            self.latency.resize(self.tabs.currentWidget().size())
            self.latency.grab()

    # ================================================================== history: open and resume past runs
    def show_in_history(self, run_id: str | None = None) -> None:
        """Switch to the History tab, with ``run_id`` selected."""
        self.tabs.setCurrentWidget(self.history)
        if run_id:
            self.history.select_run(run_id)

    def open_run(self, run_id: str):
        """Show a recorded run's results in the Results tab, read on a worker and added in chunks."""
        if self.is_running():
            refuse("Wait for the current run to finish, or cancel it (Esc), before opening another.",
                   self.history.message.show_error)
            return None
        self.status_error.clear_message()
        return self.controller.open_run(run_id)

    def _on_run_opened(self, info) -> None:
        run = info["run"]
        if info["cancelled"]:
            self.progress_label.setText(f"{fmt.count(info['done'])} of {fmt.plural(info['total'], 'result')} shown · "
                                        "opening cancelled")
        else:
            self.progress_label.setText(f"{fmt.plural(info['done'], 'result')} · {run.status}, opened from History")
        shown = f"Showing {run_title(run)}"
        if run.name:
            shown += f" ({run.model_name}, {when_text(run.started_at)})"
        self.run_label.setText(shown + " · from History")
        self.run_label.setToolTip(f"Run {run.id}: {fmt.count(run.ok)} OK, {fmt.count(run.failed)} failed, {run.status}")
        self.statusBar().showMessage(f"Opened {run_title(run)}: {fmt.plural(info['done'], 'result')}", 10000)
        self.latency.refresh()
        self.results_tab.update_counts()
        self.results_tab.refresh_current()  # shown through this model only if it scored them
        self._update_origin()
        self._update_actions()
        self.run_opened.emit(info)

    def _on_open_failed(self, exc) -> None:
        self.progress_label.setText("")
        report_error(exc, inline=self._resume_message if self.banner.isVisible() else self.history.message.show_error)
        self._update_actions()

    def resume_run(self, run_id: str):
        """Take up an interrupted run: its model as recorded, its results so far, then only what is left.

        Refused (inline, where Resume was pressed) when its model file changed or a run is going.
        """
        if self.is_running() or self.controller.jobs.busy("resume"):
            refuse("Wait for the current run to finish, or cancel it (Esc), before resuming another.",
                   self._resume_message)
            return None
        if self.banner.isVisible():
            self.banner.set_busy("Loading the run's model to resume it…")
        self.history.message.show_info("Loading the run's model to resume it…")
        return self.controller.resume_run(run_id)

    def _on_resume_ready(self, plan) -> None:
        """The run's model is loaded: its inputs replace the queue, and its results so far are being opened."""
        self.banner.setVisible(False)
        self.history.message.clear_message()
        self.queue.clear()
        self.queue.add_items(plan.items)

    def offer_resume(self):
        """Look for interrupted runs (on a worker) and offer to resume the newest in the banner."""
        return self.controller.offer_resume()

    def _on_unfinished_found(self, unfinished) -> None:
        if unfinished and not self.is_running() and not self.controller.jobs.busy("resume"):
            self.banner.offer(unfinished[0], len(unfinished) - 1)
        self.resume_checked.emit(unfinished)

    def _resume_message(self, text: str) -> None:
        if self.banner.isVisible():
            self.banner.show_error(text)
        else:
            self.history.message.show_error(text)

    # ================================================================== benchmark
    def bench_from_menu(self):
        self.tabs.setCurrentWidget(self.bench_view)
        if self.engine is not None:
            self.start_bench(self.bench_view.configs(), self.bench_view.runs.value(), self.bench_view.warmup.value())

    def start_bench(self, configs, runs, warmup):
        if self.engine is None:
            refuse("Load a model first.", self.bench_message.show_error)
            return None
        self.bench_message.clear_message()
        self.bench_view.begin(configs, runs)
        return self.controller.start_bench(configs, runs, warmup)

    def cancel_bench(self):
        self.controller.jobs.stop("bench")

    def _on_bench_ended(self, reports) -> None:
        self.bench_view.finish(reports)
        self.bench_finished.emit(reports)

    # ================================================================== validation
    def update_validation_choices(self) -> None:
        """Offer, as the truth, the shown run's CSV columns (one named like a truth column first) and the class
        folders its images sit in; as subgroups, its passed-through columns."""
        from desktop.engine.validation import guess_truth_column

        columns = list(dict.fromkeys(c for cols in self.controller.shown.extra_columns.values() for c in cols))
        choices = [(c, c) for c in columns]
        images = [r.input for r in self.results.results[:5000] if r.row is None]
        if images:
            try:
                root = os.path.commonpath([os.path.dirname(p) for p in images])
            except ValueError:  # different drives
                root = None
            if root and len({os.path.dirname(p) for p in images}) > 1:
                choices.append((f"folder names under {os.path.basename(root) or root}/", root))
        self.validation.set_choices(choices, columns, default_truth=guess_truth_column(columns))

    def start_validation(self, choices: dict):
        """Evaluate the shown run against the truth the Validation tab names (on a worker)."""
        shown = self.controller.shown
        if self.is_running():
            refuse("Wait for the run to finish (or cancel it): its results are still coming in.",
                   self.validation.message.show_error)
            return None
        if not shown.run_id or not self.results.total:
            refuse("Score labelled cases first (or open a run from History): the Validation tab compares the "
                   "results shown with their true answers.", self.validation.message.show_error)
            return None
        self.validation.set_busy(True)
        subgroups = (choices["subgroup"],) if choices.get("subgroup") else ()
        return self.controller.start_validation(choices["truth"], choices.get("operating_point"), subgroups,
                                                overrides=bool(choices.get("overrides")))

    def _on_validated(self, evaluation: dict) -> None:
        self.validation.set_busy(False)
        self.validation.message.clear_message()
        self.validation.set_evaluation(evaluation)
        self.validation_done.emit(evaluation)

    def _on_validation_failed(self, exc) -> None:
        self.validation.set_busy(False)
        report_error(exc, inline=self.validation.message.show_error)
        self.validation_done.emit(None)

    def show_cases(self, keys, what: str) -> None:
        """Show only these cases ((input, row) keys, from a confusion matrix cell) in the Results tab."""
        from desktop.engine.validation.truth import norm

        wanted = {(norm(k[0]), k[1]) for k in keys if len(k) == 2}
        indices = [r.index for r in self.results.results if (norm(r.input), r.row) in wanted]
        self.results_tab.filter_to(indices)
        self.tabs.setCurrentIndex(0)
        self.statusBar().showMessage(f"Showing the {fmt.plural(len(indices), 'case')} {what}; Show all (beside "
                                     "the counts) brings back every result", 10000)

    # ================================================================== explanations
    def explain_selected(self, method: str = "auto", target=None, settings: dict | None = None):
        """Explain the selected result (the detail pane's Explain), on a worker with progress and Cancel;
        ``settings``: the method's own (n, grid, p, seed, patch, stride, baseline, n_samples)."""
        result = self.selected_result()
        panel = self.detail.explain
        if result is None or self.controller.shown_engine() is None:
            refuse("Select a result scored by the loaded model first.", self.show_status_error)
            return None
        params = dict(settings or {})
        if result.conf is not None:  # a detector's result: the target is the box
            params["box"] = int(target or 0)
        elif target is not None:
            params["target"] = int(target)
        reference = self.drift.reference_path
        if result.row is not None and reference.lower().endswith((".csv", ".tsv")) and os.path.isfile(reference):
            params.setdefault("reference_rows", reference)  # KernelSHAP's baseline rows: the reference set
        panel.set_busy(True)
        panel.set_progress(0, 1)

        def done(explanation):
            if self.detail.result is not None and self.detail.result.index == result.index:
                self.detail.show_explanation(explanation)
            else:
                panel.set_busy(False)
            self.explained.emit(explanation)

        def failed(exc):
            panel.set_busy(False)
            report_error(exc, inline=self.show_status_error)
            self.explained.emit(None)

        return self.controller.start_explain(result, method or "auto", params, panel.set_progress, done, failed)

    def check_explanation(self):
        """Check the shown explanation against randomised copies of the model (on a worker)."""
        panel = self.detail.explain
        if panel.explanation is None:
            return None
        panel.set_busy(True, "check")

        def done(check):
            panel.show_check(check)
            self.explanation_checked.emit(check)

        def failed(exc):
            panel.set_busy(False)
            report_error(exc, inline=self.show_status_error)
            self.explanation_checked.emit(None)

        return self.controller.check_explanation(panel.explanation, panel.set_progress, done, failed)

    # ================================================================== the optimisation lab
    def _lab_inputs(self) -> list:
        return [i.path for i in self.queue.model.items if i.kind.value != "invalid"]

    def make_variant(self, method: str, options: dict | None = None):
        """Make a variant of the loaded model (the Lab tab): calibrated on the chosen inputs, else the queue's."""
        options = dict(options or {})
        lab = self.lab
        if self.engine is None:
            refuse("Load a model first: the lab makes variants of it.", lab.message.show_error)
            return None
        calibrate = options.pop("calibrate", None) or self._lab_inputs()
        if method == "static":
            if not calibrate:
                refuse("Static INT8 is calibrated on inputs like those the model will score: queue some, or choose "
                       "Calibration inputs…", lab.message.show_error)
                return None
            options["calibrate"] = calibrate
        else:
            options.pop("calibration", None)
        lab.set_busy(True, "make")

        def done(variant):
            lab.set_busy(False)
            lab.add_variant(variant.path)
            notes = "; ".join(variant.warnings)
            lab.message.show_info(f"Saved {variant.path}" + (f" · {notes}" if notes else "") +
                                  " · Compare it with the original before using it")
            self.variant_made.emit(variant)

        def failed(exc):
            lab.set_busy(False)
            report_error(exc, inline=lab.message.show_error)
            self.variant_made.emit(None)

        return self.controller.make_variant(method, options, lab.set_progress, done, failed)

    def compare_models(self, model_a: str, model_b: str, bound: float = 0.99):
        """Compare the loaded model with another on the queued inputs (the Lab tab)."""
        lab = self.lab
        inputs = self._lab_inputs()
        if self.engine is None or not inputs:
            refuse("Load a model and queue the inputs to compare the two models on.", lab.message.show_error)
            return None
        if os.path.abspath(model_a) != os.path.abspath(self.engine.model_path):
            refuse("Model A is the loaded model: load the model to compare against first.", lab.message.show_error)
            return None
        lab.set_busy(True, "compare")

        def done(comparison):
            lab.set_busy(False)
            lab.set_comparison(comparison.to_dict())
            if comparison.skipped:
                lab.message.show_error(f"Left out {len(comparison.skipped):,} input(s) that could not be read: "
                                       + "; ".join(comparison.skipped[:3]))
            self.models_compared.emit(comparison.to_dict())

        def failed(exc):
            lab.set_busy(False)
            report_error(exc, inline=lab.message.show_error)
            self.models_compared.emit(None)

        return self.controller.compare_models(model_b, inputs, bound, lab.set_progress, done, failed)

    # ================================================================== drift
    def start_drift(self, reference: str):
        """Check the shown run against a reference (a saved one, or a CSV or folder to build one from)."""
        if self.is_running():
            refuse("Wait for the run to finish (or cancel it): its results are still coming in.",
                   self.drift.message.show_error)
            return None
        if not self.controller.shown.run_id or not self.results.total:
            refuse("Score some inputs first (or open a run from History): the Drift tab compares them with the "
                   "reference.", self.drift.message.show_error)
            return None
        self.drift.set_busy(True)
        return self.controller.start_drift(reference, self._on_drift_checked, self._on_drift_failed)

    def _on_drift_checked(self, checked: dict) -> None:
        self.drift.set_busy(False)
        self.drift.set_reference(checked["reference"])
        self.drift.set_report(checked["report"])
        self.drift.set_history(checked["history"])
        if checked.get("saved"):
            self.drift.message.show_info(f"Reference built and saved beside the model: {checked['saved']}")
        elif checked.get("save_error"):
            self.drift.message.show_info(f"Reference built; {checked['save_error']}")
        self.drift_done.emit(checked["report"])

    def _on_drift_failed(self, exc) -> None:
        self.drift.set_busy(False)
        report_error(exc, inline=self.drift.message.show_error)
        self.drift_done.emit(None)

    def report_dialog(self):
        """Save the shown run's report (PDF or HTML): its model, profile, environment, the Validation tab's
        evaluation when there is one, a page for each of the first 20 results the table shows, the latency
        and the audit trail's head."""
        if not self.controller.shown.run_id or self.is_running():
            refuse("Score something first (or open a run from History), and let the run finish: the report is "
                   "of a recorded run.", self.show_status_error)
            return
        start = os.path.join(self.settings.last_export_dir or str(Path.home()), "inferdesk-report.pdf")
        path, _ = QFileDialog.getSaveFileName(self, "Save the run's report", start,
                                              "PDF (*.pdf);;One HTML file (*.html)")
        if path:
            self.settings.last_export_dir = os.path.dirname(path)
            self.save_report(path)

    def save_report(self, path):
        """Write the report to ``path`` on a worker; the status bar says where, or why not."""
        if not os.path.splitext(str(path))[1]:
            path = str(path) + ".pdf"
        evaluation = self.validation.evaluation
        if evaluation is not None and evaluation.get("run_id") not in (None, self.controller.shown.run_id):
            evaluation = None  # another run's evaluation
        visible = [self.results.result_at(r) for r in range(min(self.results.rowCount(), 20))]  # as the table shows

        def written(p):
            self.statusBar().showMessage(f"Report saved to {p}", 15000)
            self.report_written.emit(str(p))

        def failed(exc):
            report_error(exc, inline=self.show_status_error)
            self.report_written.emit("")

        comparison = self.lab.comparison  # the lab's, when it compared the model these results are of
        engine = self.controller.shown_engine()
        if comparison and (engine is None or comparison.get("a", {}).get("sha256") != engine.info.sha256):
            comparison = None
        self.statusBar().showMessage("Writing the report…")
        return self.controller.write_report(str(path), evaluation, visible, written, failed, comparison)

    # ================================================================== results
    def focus_filter(self):
        self.tabs.setCurrentIndex(0)
        self.results_tab.focus_filter()

    def _on_conf_changed(self, conf) -> None:
        self.results.set_detection_conf(conf)

    def _show_detail(self, result) -> None:
        self.detail.show_result(result, self.controller.shown_engine())
        set_detail_origin(self.detail, self.controller.origin())
        self.latency.mark(result.index if result is not None else None)

    def select_result(self, result_index: int) -> bool:
        """Select the table row of the Result with this index (from a click on the latency plot)."""
        return self.results_tab.select_result(result_index)

    def selected_result(self):
        return self.results_tab.selected_result()

    def review_selected(self, decision: str):
        """Accept, override or flag the selected result (A / O / F): see :class:`~desktop.ui.review.ReviewFlow`."""
        return self.review.review_selected(decision)

    def export_with_patient_details(self):
        """Export as the Export dialog does, keeping the DICOM inputs' patient-identifying fields (asked first)."""
        if not self.results.rowCount():
            refuse("Nothing to export yet: run the queue first.", self.show_status_error)
            return
        if self.confirm("Export patient details?",
                        "The export will hold the DICOM inputs' patient-identifying fields (name, ID, birth date, "
                        "accession number, dates…). Only do this where the file may hold patient data.",
                        "Include Patient Details", "Cancel"):
            self.export_dialog(include_phi=True)

    def export_dialog(self, include_phi: bool = False):
        shown = self.results.rowCount()
        if not shown:
            refuse("Nothing to export yet: run the queue first.", self.show_status_error)
            return
        batch = self.results.visible_batch()
        extra = DETECTION_FILTERS if _is_detections(batch) else SEGMENTATION_FILTERS if _is_masks(batch) else {}
        extra = {**extra, **dicom_filters(batch, self.controller.shown.run_id)}
        filters = EXPORT_FILTERS + tuple(extra)
        start = os.path.join(self.settings.last_export_dir or str(Path.home()), "inferdesk-results.csv")
        title = f"Export {fmt.plural(shown, 'result')} shown in the table" + (
            ", with patient details" if include_phi else "")
        path, chosen = QFileDialog.getSaveFileName(self, title, start, ";;".join(filters))
        if path:
            self.settings.last_export_dir = os.path.dirname(path)
            if str(extra.get(chosen)).startswith("dicom-"):
                self.ask_and_export_dicom(path, extra[chosen], include_phi=include_phi)
                return
            self.export_to(path, extra.get(chosen), batch=batch, include_phi=include_phi)

    def ask_and_export_dicom(self, folder, export_format: str, include_phi: bool = False):
        """Ask which PS3.15 options the objects keep (nothing to ask with patient details), then export."""
        from desktop.runs.dicom_export import FORMATS

        from .widgets.dicom_export import ask_dicom_options

        options = None
        if not include_phi:
            options = ask_dicom_options(FORMATS[export_format][0], self)
            if options is None:
                return None
        return self.export_dicom_to(folder, export_format, include_phi=include_phi, options=options)

    def export_dicom_to(self, folder, export_format: str, *, include_phi: bool = False, options=None):
        """Write the shown run's results as DICOM objects into ``folder`` on a worker; the status bar says what
        was written and skipped, and :attr:`dicom_exported` carries it."""
        from desktop.runs.dicom_export import FORMATS, status_text

        if not self.controller.shown.run_id or self.is_running():
            refuse("DICOM objects are made from a recorded run: score DICOM files (or open a run from History) "
                   "and let the run finish.", self.show_status_error)
            return None

        def done(value):
            self.statusBar().showMessage(status_text(value), 30000)
            if not value.written:
                self.show_status_error(status_text(value))
            self.dicom_exported.emit(value)

        def failed(exc):
            report_error(exc, inline=self.show_status_error)
            self.dicom_exported.emit(exc)

        self.statusBar().showMessage(f"Writing DICOM {FORMATS[export_format][0]} objects to {folder}…")
        return self.controller.export_dicom(folder, export_format, done, failed, include_phi=include_phi,
                                            options=options)

    def export_to(self, path, export_format: str | None = None, *, batch=None, include_phi: bool = False) -> int:
        """Write the results the table shows (in its order) to ``path``: CSV, JSON or JSON lines by its extension.

        ``export_format`` ``coco`` or ``yolo`` (a folder): a detector's boxes, at the threshold
        the window shows (the detail's slider); ``coco`` or ``masks`` (a folder of label map PNGs)
        for a segmenter's masks. A DICOM input's patient-identifying header fields are left out
        (and the status bar names them) unless ``include_phi``.
        """
        batch = batch if batch is not None else self.results.visible_batch()
        detections = export_format in ("coco", "yolo", "masks")
        left_out: list = []
        try:
            n = export_results([batch] if batch is not None else [], path, self.controller.provenance(),
                               formula_guard=self.settings.formula_guard, fmt=export_format,
                               conf=self.results.detection_conf if detections else None,
                               include_phi=include_phi, left_out=left_out, decisions=self.results.decisions)
            self.controller.note_export(path, export_format)
        except Exception as exc:  # noqa: BLE001 - OSError and StoreError inline, anything else a dialog
            report_error(exc, inline=self.show_status_error)
            return 0
        what = fmt.plural(n, "image") if detections else fmt.plural(n, "result")
        self.statusBar().showMessage(f"Exported {what} to {path}" + phi_note(left_out), 15000)
        return n

    # ================================================================== chrome
    def show_status_error(self, text: str) -> None:
        """Inline message in the status bar, for engine errors that belong to no panel."""
        self.status_error.show_error(text)

    def _update_actions(self):
        c = self.controller
        n = self.queue.model.expected_results
        if c.is_loading():
            reason = "Wait for the model to load"
        elif self.engine is None:
            reason = "Load a model first: drop an .onnx file on the window or use File ▸ Open Model (Ctrl+O)"
        elif not self.queue.model.items:
            reason = "Add inputs first: drop images, folders or CSV files, or use Add… (Ctrl+I)"
        else:
            reason = None
        running, opening = c.is_running(), c.is_opening()
        tip = reason or (f"Score the {fmt.plural(n, 'queued item')} (Ctrl+R)" +
                         ("; asks first, as the current run is stopped" if running else ""))
        self.act_run.setEnabled(reason is None)
        self.act_run.setToolTip(tip)
        self.act_cluster.setEnabled(reason is None)
        self.act_cluster.setToolTip(reason or f"Score the {fmt.plural(n, 'queued item')} on Dask workers: processes "
                                              "on this computer, or a cluster's machines (Ctrl+Shift+R)")
        # while a run goes, the primary action is to stop it: one Cancel, in the prominent place
        self.run_button.setEnabled(running or reason is None)
        self.run_button.setToolTip("Stop scoring after the current item (Esc); the results so far are kept"
                                   if running else tip)
        job = c.jobs.current("run")
        stopping = running and job is not None and job.should_stop()
        watching = c.is_watching()
        self.run_button.setText("Stopping…" if stopping and watching else "Cancelling…" if stopping else
                                "Stop  ■" if watching else "Cancel  ■" if running else "Run  ▶")
        if watching:
            self.run_button.setToolTip("Stop the watch (Esc): the files scored so far stay in History")
        if stopping:
            self.run_button.setEnabled(False)
        self.cancel_button.setVisible(not running)
        self.cancel_button.setEnabled(opening)
        self.act_cancel.setEnabled(running or c.is_benching())
        self.act_profile.setEnabled(self.engine is not None)
        self.model_panel.profile_button.setEnabled(self.engine is not None)
        self.act_export.setEnabled(self.results.total > 0)
        self.act_export_phi.setEnabled(self.results.total > 0)
        if not self.results.total and not running and not opening:
            if self.engine is None:
                self.results_tab.show_empty("Drop an <b>.onnx</b> model here, or open the sample.", True)
            elif not self.queue.model.items:
                self.results_tab.show_empty("Drop images, folders or CSV files here to score them.", False)
            else:
                self.results_tab.show_empty(f"Press <b>Run</b> (Ctrl+R) to score the "
                                            f"{fmt.plural(n, 'queued item')}.", False)
        else:
            self.results_tab.show_table()
