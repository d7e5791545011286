"""The History tab and the resume banner: past runs from the results store, opened, exported, renamed,
deleted, resumed and checked against the audit trail, every database access on a worker."""

from __future__ import annotations

import os
import threading
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

from PySide6.QtCore import QAbstractTableModel, QModelIndex, Qt, QThreadPool, Signal
from PySide6.QtGui import QAction, QColor, QFontMetrics, QGuiApplication, QKeySequence, QPalette
from PySide6.QtWidgets import (QFileDialog, QFrame, QHBoxLayout, QHeaderView, QInputDialog,
                               QLabel, QLineEdit, QMessageBox, QPushButton, QStackedWidget, QTableView,
                               QVBoxLayout, QWidget)

from desktop.engine.errors import EngineError

from desktop.runs import fmt
from ..models import TitledColumns, error_color
from ..worker import Worker
from .panels import InlineMessage, _esc
from .tables import empty_state, setup_table

RUN_LIMIT = 1000  # runs listed; older ones stay in the database and in `inferdesk history`
COLUMNS = ("Started", "Run", "Inputs", "Status", "OK", "Failed")
COL_STARTED, COL_RUN, COL_INPUTS, COL_STATUS, COL_OK, COL_FAILED = range(len(COLUMNS))
COLUMN_TIPS = (
    "When the run started (this computer's local time)",
    "The run's name, or the model it scored with",
    "What was scored",
    "finished, cancelled, interrupted (InferDesk stopped before the end: it can be resumed) or running",
    "Items scored",
    "Items that could not be scored",
)
STATUS_TEXT = {"finished": "✔ finished", "cancelled": "cancelled", "interrupted": "⚠ interrupted",
               "running": "● running"}


# ====================================================================== words for a run (no Qt)
def default_store_path() -> Path:
    """Where ``ResultStore()`` keeps its database (``$INFERDESK_DATA_DIR`` honoured)."""
    from desktop.engine.store import default_data_dir

    return default_data_dir() / "results.sqlite3"


def local_time(iso: str | None) -> datetime | None:
    """A stored UTC timestamp as an aware datetime in this computer's time zone."""
    if not iso:
        return None
    try:
        return datetime.fromisoformat(iso).astimezone()
    except ValueError:
        return None


def when_text(iso: str | None, now: datetime | None = None) -> str:
    """'Today 14:22', 'Yesterday 09:05', '3 May 14:22', '3 May 2023 14:22' (local time)."""
    dt = local_time(iso)
    if dt is None:
        return iso or ""
    now = now or datetime.now().astimezone()
    hm = dt.strftime("%H:%M")
    if dt.date() == now.date():
        return f"Today {hm}"
    if dt.date() == (now - timedelta(days=1)).date():
        return f"Yesterday {hm}"
    if dt.year == now.year:
        return f"{dt.day} {dt:%b} {hm}"
    return f"{dt.day} {dt:%b %Y} {hm}"


def inputs_text(inputs) -> str:
    """What was scored, short: 'scan.png', 'digits/ · 10 files', 'a.csv, b.csv', 'a.png + 3 more'."""
    inputs = [str(p) for p in inputs]
    if not inputs:
        return "—"
    if len(inputs) == 1:
        p = Path(inputs[0])
        return f"{p.name}/" if p.is_dir() else p.name
    parents = {str(Path(p).parent) for p in inputs}
    if len(parents) == 1:
        folder = Path(next(iter(parents))).name or next(iter(parents))
        return f"{folder}/ · {fmt.plural(len(inputs), 'file')}"
    if len(inputs) == 2:
        return ", ".join(Path(p).name for p in inputs)
    return f"{Path(inputs[0]).name} + {fmt.count(len(inputs) - 1)} more"


def progress_text(run) -> str:
    """'4 of 10 items' (or '4 items' when the run did not know its total)."""
    done = run.ok + run.failed
    if run.total:
        return f"{fmt.count(done)} of {fmt.plural(run.total, 'item')}"
    return fmt.plural(done, "item")


def run_title(run) -> str:
    """The run's name, or its model and start time."""
    return run.name or f"{run.model_name} · {when_text(run.started_at)}"


def _short_path(path) -> str:
    """The path with the home folder as ~ (readable in a status line)."""
    home = str(Path.home())
    text = str(path)
    return "~" + text[len(home):] if home not in ("", "/") and text.startswith(home + os.sep) else text


def warning_color(palette: QPalette | None = None) -> QColor:
    """An amber that reads on light and dark backgrounds (interrupted runs, the resume banner)."""
    from PySide6.QtWidgets import QApplication

    palette = palette or QApplication.palette()
    dark = palette.color(QPalette.Base).lightness() < 128
    return QColor("#ffb74d") if dark else QColor("#a15c00")


# ====================================================================== work done off the GUI thread
def _with_store(path, op, *args):
    """Open the database (a connection of this thread's own), run ``op(store, *args)``, close it."""
    from desktop.engine.store import ResultStore

    store = ResultStore(path)
    try:
        return op(store, *args)
    finally:
        store.close()


def unfinished_runs(path) -> list:
    """The interrupted runs, newest first (``ResultStore.unfinished``), read with a connection of its own."""
    return _with_store(path, lambda store: store.unfinished())


def _list_runs(store, limit):
    return store.runs(limit)


def _rename(store, run_id, name):
    store.rename(run_id, name)
    return run_id


def _delete(store, run_id):
    store.delete(run_id)
    return run_id


def _verify(store):
    return store.verify()


def export_batches(batches, path, provenance: dict | None = None) -> int:
    """Write ResultBatches (in their order) to ``path``, the format from its extension; returns the item count.

    The one call site of the export module for the window and the History tab.
    """
    from desktop.runs.export import export

    return export(list(batches), path, provenance=provenance)


def run_provenance(store, run_id: str, exported_by: str = "InferDesk window") -> dict:
    """Where a recorded run's export comes from: run id and start, model file and SHA-256, profile hash, app version."""
    from desktop.engine.writers import run_provenance as from_metadata

    return from_metadata(store.run_metadata(run_id), exported_by)


def _export(store, run_id, target):
    n = export_batches(store.batches(run_id), target, run_provenance(store, run_id))
    ext = os.path.splitext(str(target))[1].lower().lstrip(".") or "json"
    store.note_export(run_id, str(target), "csv" if ext in ("csv", "tsv") else ext)
    return n


@dataclass
class ResumePlan:
    """What resuming an interrupted run needs, prepared on a worker."""

    run: object  # RunSummary
    meta: dict  # store.run_metadata()
    engine: object  # the run's model with its recorded profile and settings
    items: list  # the run's recorded inputs, expanded


def prepare_resume(path, run_id) -> ResumePlan:
    """Load an interrupted run's model as it was recorded; refuse when the model file changed.

    Raises
    ------
    EngineError
        The run finished already, its model file is gone, or its SHA-256 differs from the recorded one.
    """
    from desktop.engine import Engine, SessionSettings, expand_inputs
    from desktop.engine.model import sha256_file
    from desktop.engine.profile import profile_from_dict

    def read(store):
        return store.run(run_id), store.run_metadata(run_id)

    run, meta = _with_store(path, read)
    if run.status == "finished":
        raise EngineError(f"The run {run_title(run)} has finished already; there is nothing left to score.")
    model = meta["model"]
    model_path = model["path"]
    name = os.path.basename(model_path)
    if not os.path.isfile(model_path):
        raise EngineError(f"Cannot resume: the model file {model_path} is no longer there. Put it back, "
                          "or score the inputs again as a new run.")
    try:
        sha = sha256_file(model_path)
    except OSError as exc:
        raise EngineError(f"Cannot resume: the model file {model_path} cannot be read "
                          f"({exc.strerror or exc}).") from exc
    if sha != model["sha256"]:
        raise EngineError(f"Cannot resume: {name} has changed since this run scored with it (SHA-256 was "
                          f"{model['sha256'][:12]}…, is now {sha[:12]}…). Resuming would mix two models' results "
                          "in one run; score the inputs again as a new run instead.")
    engine = Engine(model_path, profile=profile_from_dict(meta["profile"]),
                    settings=SessionSettings(**meta["settings"]))
    engine.profile_source = f"as recorded with run {run.id}"
    items = expand_inputs([str(p) for p in meta.get("inputs") or []])
    return ResumePlan(run, meta, engine, items)


class RecordsWorker(Worker):
    """Read a stored run's chunks on a pool thread and emit them as ResultBatch columns, as scoring does.

    ``yielded`` carries one ``ResultBatch`` (positions in run order), ``progress`` (done, total) and
    ``returned`` ``{"run": RunSummary, "done": int, "total": int, "cancelled": bool}``.

    A chunk is decoded from its columns (SQLite, ``np.load``, one JSON header) without a Python
    object per row. The next chunk is read once the window has called :meth:`acknowledge` (it
    has shown the last one; at most ``ack_timeout_s`` later): reading while the window appended
    made both wait for the interpreter lock, and chained on the GUI thread, one chunk per turn of
    the event loop, the reading starved the window's timers and paints (one tick in about 100 ms
    while a million-row run opened).
    """

    def __init__(self, store_path, run_id: str, ack_timeout_s: float = 0.5):
        super().__init__(name="open-run")
        self.store_path, self.run_id, self.ack_timeout_s = store_path, run_id, ack_timeout_s
        self.resume: ResumePlan | None = None  # set by the window: score the rest once opened
        self._ack = threading.Event()
        self._ack.set()

    def acknowledge(self) -> None:
        """Called by the window once it has shown a chunk: the next one may follow."""
        self._ack.set()

    def quit(self) -> None:
        super().quit()
        self._ack.set()

    def work(self):
        from desktop.engine.store import ResultStore

        store = ResultStore(self.store_path)
        try:
            run = store.run(self.run_id)
            total = run.ok + run.failed
            done = 0
            chunks = store.batches(run.id)
            while not self.should_stop():
                self._ack.wait(self.ack_timeout_s)
                self._ack.clear()
                batch = next(chunks, None)
                if batch is None:
                    break
                if not len(batch):
                    self._ack.set()
                    continue
                done += len(batch)
                self.signals.yielded.emit(batch)
                self.signals.progress.emit(done, max(total, done))
            self.signals.progress.emit(done, max(total, done))
            return {"run": run, "done": done, "total": max(total, done), "cancelled": self.should_stop()}
        finally:
            store.close()


# ====================================================================== the table of runs
class RunsModel(TitledColumns, QAbstractTableModel):
    """One row per RunSummary, newest first."""

    columns, column_tips = COLUMNS, COLUMN_TIPS

    def __init__(self, parent=None):
        super().__init__(parent)
        self.runs: list = []
        self._bold = None

    def set_runs(self, runs) -> None:
        self.beginResetModel()
        self.runs = list(runs)
        self.endResetModel()

    def run_at(self, row: int):
        return self.runs[row] if 0 <= row < len(self.runs) else None

    def row_of(self, run_id: str) -> int | None:
        return next((n for n, r in enumerate(self.runs) if r.id == run_id), None)

    def rowCount(self, parent=QModelIndex()):
        return 0 if parent.isValid() else len(self.runs)

    def data(self, index, role=Qt.DisplayRole):
        run = self.run_at(index.row()) if index.isValid() else None
        if run is None:
            return None
        c = index.column()
        if role == Qt.DisplayRole:
            if c == COL_STARTED:
                return when_text(run.started_at)
            if c == COL_RUN:
                return f"{run.name} · {run.model_name}" if run.name else run.model_name
            if c == COL_INPUTS:
                return inputs_text(run.inputs)
            if c == COL_STATUS:
                text = STATUS_TEXT.get(run.status, run.status)
                if run.status in ("interrupted", "cancelled", "running") and run.total:
                    text += f" · {fmt.count(run.ok + run.failed)} / {fmt.count(run.total)}"
                return text
            if c == COL_OK:
                return fmt.count(run.ok)
            if c == COL_FAILED:
                return fmt.count(run.failed)
        elif role == Qt.ToolTipRole:
            return self._tooltip(run, c)
        elif role == Qt.ForegroundRole:
            if c == COL_STATUS and run.status == "interrupted":
                return warning_color()
            if c == COL_FAILED and run.failed:
                return error_color()
        elif role == Qt.FontRole:
            if c == COL_STATUS and run.status in ("interrupted", "running"):
                from PySide6.QtGui import QFont

                f = QFont()
                f.setBold(True)
                return f
        elif role == Qt.TextAlignmentRole:
            if c in (COL_OK, COL_FAILED):
                return int(Qt.AlignRight | Qt.AlignVCenter)
        elif role == Qt.UserRole:
            return run
        return None

    @staticmethod
    def _tooltip(run, c) -> str:
        if c == COL_STARTED:
            start, end = local_time(run.started_at), local_time(run.finished_at)
            text = f"Started {start:%Y-%m-%d %H:%M:%S}" if start else run.started_at
            if end is not None and start is not None:
                text += f"\nEnded {end:%Y-%m-%d %H:%M:%S} (took {fmt.duration((end - start).total_seconds())})"
            return text + " · local time"
        if c == COL_RUN:
            return (f"{run.name + chr(10) if run.name else ''}Model {run.model_name}\n{run.model_path}\n"
                    f"SHA-256 {run.model_sha256}\nRan on {run.provider.replace('ExecutionProvider', '')}\n"
                    f"Run id {run.id}")
        if c == COL_INPUTS:
            shown = list(run.inputs[:15])
            more = len(run.inputs) - len(shown)
            return "\n".join(shown) + (f"\n… and {fmt.count(more)} more" if more > 0 else "")
        if c == COL_STATUS:
            if run.status == "interrupted":
                return (f"InferDesk stopped before this run finished, after {progress_text(run)}. "
                        "Resume scores only the inputs it has not scored yet.")
            if run.status == "cancelled":
                return f"Cancelled after {progress_text(run)}."
            if run.status == "running":
                return f"Being scored now: {progress_text(run)} so far."
            return f"Finished: {progress_text(run)}."
        if c in (COL_OK, COL_FAILED):
            return f"{fmt.count(run.ok)} scored · {fmt.count(run.failed)} failed"
        return ""


class HistoryView(QWidget):
    """Past runs, newest first, with what can be done with one of them.

    Parameters
    ----------
    store_path
        The results database (default: where ``ResultStore()`` keeps it).
    start
        Starts a Worker (the window passes its own, so closing waits for them); default: the global pool.
    """

    open_requested = Signal(str)  # run id: show its results in the Results tab
    resume_requested = Signal(str)  # run id: score the inputs it has not scored yet
    runs_loaded = Signal()  # the list is up to date
    task_done = Signal(str, object)  # (what: 'rename' | 'delete' | 'export' | 'verify', its return value)

    def __init__(self, store_path=None, start=None, parent=None):
        super().__init__(parent)
        self.store_path = Path(store_path) if store_path else default_store_path()
        self._start = start or (lambda w: w.start(QThreadPool.globalInstance()))
        self._list_worker: Worker | None = None
        self._tasks: list[Worker] = []
        self._pending_select: str | None = None
        self._loaded_once = False
        self.model = RunsModel(self)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(0, 6, 0, 0)

        head = QHBoxLayout()
        self.summary = QLabel()
        self.summary.setTextInteractionFlags(Qt.TextSelectableByMouse)
        self.summary.setToolTip(f"The results database: {self.store_path}")
        head.addWidget(self.summary, 1)
        self.refresh_button = QPushButton("Refresh")
        self.refresh_button.setToolTip("Read the list of runs again (F5)")
        self.refresh_button.clicked.connect(self.refresh)
        self.verify_button = QPushButton("Verify audit trail")
        self.verify_button.setToolTip("Check that no recorded result, run or export entry was changed or "
                                      "removed outside InferDesk")
        self.verify_button.clicked.connect(self.verify)
        head.addWidget(self.refresh_button)
        head.addWidget(self.verify_button)
        lay.addLayout(head)
        self.message = InlineMessage()
        lay.addWidget(self.message)

        self.stack = QStackedWidget()
        lay.addWidget(self.stack, 1)
        empty, self.empty_label = empty_state(1.15)
        self.empty_label.setTextInteractionFlags(Qt.TextSelectableByMouse)
        self.empty_label.setText(
            "Runs you score appear here, newest first.<br><span style='font-size:small'>Every result is kept "
            f"as it is scored, with an audit trail, in<br><tt>{_esc(self.store_path)}</tt></span>")
        self.stack.addWidget(empty)

        self.table = QTableView()
        self.table.setModel(self.model)
        setup_table(self.table, "Past runs, newest first. Double-click (or Enter) opens one; right-click for more.")
        hh = self.table.horizontalHeader()
        hh.setStretchLastSection(False)
        hh.setSectionResizeMode(COL_RUN, QHeaderView.Stretch)
        hh.setSectionResizeMode(COL_INPUTS, QHeaderView.Stretch)
        em = self.fontMetrics().horizontalAdvance("m")
        bold = self.font()
        bold.setBold(True)
        for col, sample, metrics in ((COL_STARTED, "Yesterday 00:00", self.fontMetrics()),
                                     (COL_STATUS, "⚠ interrupted · 9,999 / 9,999", QFontMetrics(bold)),
                                     (COL_OK, "99,999", self.fontMetrics()),
                                     (COL_FAILED, "Failed", self.fontMetrics())):
            self.table.setColumnWidth(col, metrics.horizontalAdvance(sample) + em)
        self.table.doubleClicked.connect(lambda _ix: self.open_selected())
        self.table.selectionModel().currentRowChanged.connect(lambda *_: self._update_buttons())
        self.stack.addWidget(self.table)

        buttons = QHBoxLayout()
        self.open_button = QPushButton("Open")
        self.export_button = QPushButton("Export…")
        self.rename_button = QPushButton("Rename…")
        self.delete_button = QPushButton("Delete…")
        self.resume_button = QPushButton("Resume")
        for b in (self.open_button, self.resume_button, self.export_button, self.rename_button):
            buttons.addWidget(b)
        buttons.addStretch(1)
        buttons.addWidget(self.delete_button)
        lay.addLayout(buttons)
        self.open_button.clicked.connect(self.open_selected)
        self.export_button.clicked.connect(self.export_dialog)
        self.rename_button.clicked.connect(self.rename_dialog)
        self.delete_button.clicked.connect(self.delete_dialog)
        self.resume_button.clicked.connect(self.resume_selected)

        # the same actions on the table's context menu, with keys that work while the table has focus
        self.table.setContextMenuPolicy(Qt.ActionsContextMenu)
        self.act_open = self._table_action("Open", self.open_selected, QKeySequence(Qt.Key_Return))
        self.act_resume = self._table_action("Resume", self.resume_selected)
        self.act_export = self._table_action("Export…", self.export_dialog)
        self.act_rename = self._table_action("Rename…", self.rename_dialog, QKeySequence(Qt.Key_F2))
        self.act_copy = self._table_action("Copy Run ID", self.copy_run_id)
        sep = QAction(self.table)
        sep.setSeparator(True)
        self.table.addAction(sep)
        self.act_delete = self._table_action("Delete…", self.delete_dialog, QKeySequence.Delete)
        refresh = QAction(self)
        refresh.setShortcut(QKeySequence.Refresh)
        refresh.setShortcutContext(Qt.WidgetWithChildrenShortcut)
        refresh.triggered.connect(self.refresh)
        self.addAction(refresh)
        self._update_buttons()
        self._update_summary()

    def _table_action(self, text, slot, shortcut=None) -> QAction:
        act = QAction(text, self.table)
        if shortcut is not None:
            act.setShortcut(shortcut)
            act.setShortcutContext(Qt.WidgetShortcut)
        act.triggered.connect(slot)
        self.table.addAction(act)
        return act

    # ------------------------------------------------------------------ the list
    def refresh(self) -> Worker:
        """Read the runs again, on a worker (the inputs of a large history take a while to parse)."""
        if self._list_worker is not None:
            self._list_worker.quit()
        worker = Worker(_with_store, self.store_path, _list_runs, RUN_LIMIT, name="history")
        worker.signals.returned.connect(self._on_runs_listed)
        worker.signals.errored.connect(self._on_list_failed)
        self._list_worker = worker
        self._start(worker)
        return worker

    def _on_runs_listed(self, runs):
        if self._list_worker is None or self.sender() is not self._list_worker.signals:
            return
        self._list_worker = None
        self._loaded_once = True
        keep = self._pending_select or (self.selected_run().id if self.selected_run() else None)
        self.model.set_runs(runs)
        self.stack.setCurrentIndex(1 if runs else 0)
        self._pending_select = None
        if keep is not None and not self.select_run(keep) and runs:
            self.select_run(runs[0].id)
        elif keep is None and runs:
            self.select_run(runs[0].id)
        self._update_summary()
        self._update_buttons()
        self.runs_loaded.emit()

    def _on_list_failed(self, exc):
        if self._list_worker is None or self.sender() is not self._list_worker.signals:
            return
        self._list_worker = None
        self._report(exc)
        self.runs_loaded.emit()

    def _update_summary(self):
        runs = self.model.runs
        if not runs:
            self.summary.setText("")
            return
        interrupted = sum(1 for r in runs if r.status == "interrupted")
        text = fmt.plural(len(runs), "run") + (" (the newest)" if len(runs) >= RUN_LIMIT else "")
        if interrupted:
            text += f" · <span style='color:{warning_color(self.palette()).name()}'>" \
                    f"{fmt.plural(interrupted, 'interrupted run')} can be resumed</span>"
        self.summary.setText(text + f"<br><span style='font-size:small'>Kept, with an audit trail, in "
                                    f"{_esc(_short_path(self.store_path))}</span>")

    def showEvent(self, event):
        super().showEvent(event)
        if self._list_worker is None:
            self.refresh()

    def selected_run(self):
        ix = self.table.selectionModel().currentIndex()
        return self.model.run_at(ix.row()) if ix.isValid() else None

    def select_run(self, run_id: str) -> bool:
        """Select a run by id; if the list is still loading, select it once loaded."""
        row = self.model.row_of(run_id)
        if row is None:
            if self._list_worker is not None or not self._loaded_once:
                self._pending_select = run_id
            return False
        from PySide6.QtCore import QItemSelectionModel

        ix = self.model.index(row, 0)
        self.table.selectionModel().setCurrentIndex(ix, QItemSelectionModel.ClearAndSelect | QItemSelectionModel.Rows)
        self.table.scrollTo(ix)
        return True

    def _update_buttons(self):
        run = self.selected_run()
        has = run is not None
        running = has and run.status == "running"
        resumable = has and run.status in ("interrupted", "cancelled")
        why = "" if has else " (select a run first)"
        tips = {
            self.open_button: ("Show this run's results in the Results tab (Enter)", has),
            self.export_button: ("Save this run's results as CSV or JSON", has),
            self.rename_button: ("Give this run a name you will recognise (F2)", has),
            self.delete_button: ("Delete this run's results; the audit trail keeps a record that it existed "
                                 "(Delete)" + (" — wait until it has finished" if running else ""),
                                 has and not running),
            self.resume_button: ("Load this run's model and score only the inputs it has not scored yet"
                                 + ("" if resumable or not has else " — only interrupted or cancelled runs"),
                                 resumable),
        }
        for button, (tip, enabled) in tips.items():
            button.setEnabled(enabled)
            button.setToolTip(tip + why)
        for act, button in ((self.act_open, self.open_button), (self.act_export, self.export_button),
                            (self.act_rename, self.rename_button), (self.act_delete, self.delete_button),
                            (self.act_resume, self.resume_button)):
            act.setEnabled(button.isEnabled())
            act.setToolTip(button.toolTip())
        self.act_copy.setEnabled(has)

    # ------------------------------------------------------------------ actions
    def _task(self, what: str, fn, *args, busy: str = "") -> Worker:
        worker = Worker(_with_store, self.store_path, fn, *args, name=f"history-{what}")
        worker.what = what
        # bound methods of this widget: delivered on the GUI thread (queued), unlike a bare lambda
        worker.signals.returned.connect(self._on_task_returned)
        worker.signals.errored.connect(self._on_task_failed)
        worker.signals.finished.connect(self._on_task_finished)
        self._tasks.append(worker)
        if busy:
            self.message.show_info(busy)
        self._start(worker)
        return worker

    def _task_of_sender(self):
        return next((w for w in self._tasks if w.signals is self.sender()), None)

    def _on_task_returned(self, value):
        worker = self._task_of_sender()
        if worker is not None:
            self._on_task_done(worker.what, value)

    def _on_task_failed(self, exc):
        worker = self._task_of_sender()
        self._report(exc)
        if worker is not None:
            self.task_done.emit(worker.what, exc)

    def _on_task_finished(self):
        worker = self._task_of_sender()
        if worker is not None:
            self._tasks.remove(worker)

    def _on_task_done(self, what, value):
        if what == "verify":
            if value.ok:
                self.message.show_info("✔ " + value.text())
            else:
                self.message.show_error(value.text())
        elif what == "export":
            n, path = value
            self.message.show_info(f"Exported {fmt.plural(n, 'result')} to {path}")
        elif what == "delete":
            self.message.show_info("Run deleted; the audit trail keeps a record that it existed.")
            self.refresh()
        elif what == "rename":
            self.message.clear_message()
            self.refresh()
        self.task_done.emit(what, value)

    def _report(self, exc):
        from ..errors import report_error

        report_error(exc, inline=self.message.show_error)

    def open_selected(self):
        run = self.selected_run()
        if run is not None:
            self.open_requested.emit(run.id)

    def resume_selected(self):
        run = self.selected_run()
        if run is not None and run.status in ("interrupted", "cancelled"):
            self.resume_requested.emit(run.id)

    def copy_run_id(self):
        run = self.selected_run()
        if run is not None:
            QGuiApplication.clipboard().setText(run.id)

    def rename_dialog(self) -> QInputDialog | None:
        run = self.selected_run()
        if run is None:
            return None
        dialog = QInputDialog(self)
        dialog.setWindowTitle("Rename run")
        dialog.setLabelText(f"A name for the run of {run.model_name} started {when_text(run.started_at)}:")
        dialog.setTextValue(run.name or "")
        dialog.setAttribute(Qt.WA_DeleteOnClose)
        edit = dialog.findChild(QLineEdit)
        if edit is not None:
            edit.setPlaceholderText("e.g. Ward 3 screening, week 12")
        dialog.textValueSelected.connect(lambda text, rid=run.id: self.rename_run(rid, text))
        dialog.open()
        self.rename_box = dialog
        return dialog

    def rename_run(self, run_id: str, name: str) -> Worker | None:
        name = name.strip()
        if not name:
            self.message.show_error("A run's name cannot be empty.")
            return None
        self._pending_select = run_id
        return self._task("rename", _rename, run_id, name)

    def delete_dialog(self) -> QMessageBox | None:
        run = self.selected_run()
        if run is None or run.status == "running":
            return None
        box = QMessageBox(QMessageBox.Warning, "Delete run",
                          f"Delete the run “{_esc(run_title(run))}”?", QMessageBox.NoButton, self)
        box.setInformativeText(
            f"Its {fmt.plural(run.ok + run.failed, 'result')} are removed from this computer and cannot be "
            "opened or exported again. The audit trail keeps a record that the run existed and was deleted "
            "(when, and by whom).")
        delete = box.addButton("Delete run", QMessageBox.DestructiveRole)
        box.addButton(QMessageBox.Cancel)
        box.setDefaultButton(QMessageBox.Cancel)
        box.setAttribute(Qt.WA_DeleteOnClose)
        box.buttonClicked.connect(lambda b, rid=run.id: self.delete_run(rid) if b is delete else None)
        box.open()
        self.delete_box = box
        return box

    def delete_run(self, run_id: str) -> Worker:
        return self._task("delete", _delete, run_id, busy="Deleting…")

    def export_dialog(self):
        run = self.selected_run()
        if run is None:
            return
        stem = "".join(c if c.isalnum() or c in "-_" else "-" for c in (run.name or run.model_name.rsplit(".", 1)[0]))
        start = os.path.join(getattr(self, "last_export_dir", "") or str(Path.home()),
                             f"inferdesk-{stem}-{run.id[:6]}.csv")
        path, _ = QFileDialog.getSaveFileName(
            self, f"Export the {fmt.plural(run.ok + run.failed, 'result')} of this run", start,
            "CSV (*.csv);;JSON (*.json);;JSON lines, like the command line (*.jsonl)")
        if path:
            self.last_export_dir = os.path.dirname(path)
            self.export_run(run.id, path)

    def export_run(self, run_id: str, path) -> Worker:
        """Write a run's results (all, in run order) as the table's export does, and note it in the trail."""
        return self._task("export", _export_to, run_id, str(path), busy="Exporting…")

    def verify(self) -> Worker:
        """Check the audit trail on a worker; the verdict is shown above the list."""
        return self._task("verify", _verify, busy="Checking the audit trail…")


def _export_to(store, run_id, path):
    return _export(store, run_id, path), path


# ====================================================================== the resume banner
class ResumeBanner(QFrame):
    """A strip across the top of the window offering to resume an interrupted run (never a modal dialog)."""

    resume_requested = Signal(str)  # run id
    show_requested = Signal(str)  # run id: show it in History
    dismissed = Signal()

    def __init__(self, parent=None):
        super().__init__(parent)
        self.setObjectName("resumeBanner")
        self.run = None
        lay = QHBoxLayout(self)
        lay.setContentsMargins(10, 6, 8, 6)
        self.text = QLabel()
        self.text.setWordWrap(True)
        self.text.setTextInteractionFlags(Qt.TextSelectableByMouse)
        lay.addWidget(self.text, 1)
        self.resume_button = QPushButton("Resume")
        self.resume_button.setToolTip("Load the run's model and score only the inputs it has not scored yet; "
                                      "the results recorded so far are kept")
        self.show_button = QPushButton("Show in History")
        self.show_button.setToolTip("See this run in the History tab")
        self.dismiss_button = QPushButton("Dismiss")
        self.dismiss_button.setToolTip("Hide this message; the run stays in History, where it can be resumed later")
        for b in (self.resume_button, self.show_button, self.dismiss_button):
            lay.addWidget(b)
        self.resume_button.clicked.connect(lambda: self.run and self.resume_requested.emit(self.run.id))
        self.show_button.clicked.connect(lambda: self.run and self.show_requested.emit(self.run.id))
        self.dismiss_button.clicked.connect(self.dismiss)
        self.setVisible(False)

    def _style(self, error: bool = False):
        dark = self.palette().color(QPalette.Base).lightness() < 128
        edge = (error_color(self.palette()) if error else warning_color(self.palette())).name()
        bg = ("#3a2a10" if dark else "#fff4e0") if not error else ("#3b1a1a" if dark else "#fdecea")
        self.setStyleSheet(f"#resumeBanner {{ background: {bg}; border: 1px solid {edge}; border-radius: 4px; "
                           "margin: 6px 8px 0px 8px; }")

    def offer(self, run, others: int = 0) -> None:
        """Offer to resume ``run`` (a RunSummary); ``others``: more interrupted runs, listed in History."""
        self.run = run
        self._style()
        done = run.ok + run.failed
        after = (f"{fmt.count(done)} of {fmt.plural(run.total, 'item')}" if run.total
                 else fmt.plural(done, "item"))
        name = f"“{_esc(run.name)}” ({_esc(run.model_name)})" if run.name else _esc(run.model_name)
        text = (f"<b>⚠ A run of {name} was interrupted</b> after {after} "
                f"({_esc(when_text(run.started_at))}). Its results so far are kept.")
        if others:
            text += f" {fmt.plural(others, 'more interrupted run')} in History."
        self.text.setText(text)
        self.text.setToolTip(f"Run {run.id} · {', '.join(run.inputs[:5])}" + (" …" if len(run.inputs) > 5 else ""))
        for b in (self.resume_button, self.show_button):
            b.setEnabled(True)
        self.setVisible(True)

    def set_busy(self, text: str) -> None:
        self._style()
        self.text.setText(_esc(text))
        self.resume_button.setEnabled(False)

    def show_error(self, text: str) -> None:
        """A refusal (the model changed, the file is gone): shown here, where Resume was pressed."""
        self._style(error=True)
        self.text.setText(f"<b>✖</b> {_esc(text)}")
        self.text.setToolTip(text)
        self.resume_button.setEnabled(False)
        self.setVisible(True)

    def dismiss(self) -> None:
        self.setVisible(False)
        self.dismissed.emit()
