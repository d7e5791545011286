"""The History tab and the resume banner: past runs from the results store, opened, exported, renamed,
deleted, resumed and checked against the audit trail.

Every use case is :mod:`desktop.runs.history`'s (the command line calls the same functions), run
as a job on a worker; this module only shows runs and asks for them. It never opens the store.
"""

from __future__ import annotations

import os
from pathlib import Path

from PySide6.QtCore import QAbstractTableModel, QModelIndex, Qt, Signal
from PySide6.QtGui import QAction, QColor, QFontMetrics, QGuiApplication, QKeySequence, QPalette
from PySide6.QtWidgets import (QFileDialog, QFrame, QHBoxLayout, QHeaderView, QInputDialog,
                               QLabel, QLineEdit, QMessageBox, QPushButton, QStackedWidget, QTableView,
                               QVBoxLayout, QWidget)

from desktop.runs import fmt
from desktop.runs import history as runs
from desktop.runs.history import default_store_path, inputs_text, local_time, progress_text, run_title, when_text

from ..errors import report_error
from ..jobs import Jobs
from ..models import TitledColumns, error_color
from .dicom_export import FILTERS as DICOM_EXPORTS
from .panels import InlineMessage, _esc
from .tables import empty_state, setup_table

RUN_LIMIT = 1000  # runs listed; older ones stay in the database and in `inferdesk history`
LIST = "history-list"  # the slot of the job reading the list
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


def strip_style(widget, error: bool = False, margin: str = "0px") -> str:
    """The style sheet of a warning (amber) or error (red) strip, for ``widget`` by its object name:
    the resume banner, the line above the results, the model card's guess notice."""
    palette = widget.palette()
    dark = palette.color(QPalette.Base).lightness() < 128
    edge = (error_color(palette) if error else warning_color(palette)).name()
    bg = ("#3b1a1a" if dark else "#fdecea") if error else ("#3a2a10" if dark else "#fff4e0")
    return (f"#{widget.objectName()} {{ background: {bg}; border: 1px solid {edge}; border-radius: 4px; "
            f"margin: {margin}; }}")


# ====================================================================== the table of runs
#: the DICOM objects the Export dialog offers (a folder each; a run that cannot give them says why)
DICOM_CHOICES = DICOM_EXPORTS


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
    jobs
        Where its work runs (the window passes its own, so closing waits for it); default: its own.
    """

    open_requested = Signal(str)  # run id: show its results in the Results tab
    resume_requested = Signal(str)  # run id: score the inputs it has not scored yet
    runs_loaded = Signal()  # the list is up to date
    task_done = Signal(str, object)  # (what: 'rename' | 'delete' | 'export' | 'verify', its return value)

    def __init__(self, store_path=None, jobs: Jobs | None = None, parent=None):
        super().__init__(parent)
        self.store_path = Path(store_path) if store_path else default_store_path()
        self.jobs = jobs if jobs is not None else Jobs(self)
        self._pending_select: str | None = None
        self._loaded_once = False
        self.formula_guard = True  # the window's setting: CSV exports guard formula-like cells
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
                                     # a running run's "· 9,999 / 9,999" is elided: OK and Failed stay in view
                                     (COL_STATUS, "⚠ interrupted", QFontMetrics(bold)),
                                     (COL_OK, "99,999", self.fontMetrics()),
                                     (COL_FAILED, "Failed", self.fontMetrics())):
            self.table.setColumnWidth(col, metrics.horizontalAdvance(sample) + 2 * em)
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
    def refresh(self):
        """Read the runs again, on a worker (the inputs of a large history take a while to parse)."""
        return self.jobs.start(LIST, runs.list_runs, RUN_LIMIT, store_path=self.store_path,
                               on_returned=self._on_runs_listed, on_errored=self._on_list_failed)

    def _listing(self) -> bool:
        return self.jobs.busy(LIST)

    def _on_runs_listed(self, runs_):
        self._loaded_once = True
        keep = self._pending_select or (self.selected_run().id if self.selected_run() else None)
        self.model.set_runs(runs_)
        self.stack.setCurrentIndex(1 if runs_ else 0)
        self._pending_select = None
        if keep is not None and not self.select_run(keep) and runs_:
            self.select_run(runs_[0].id)
        elif keep is None and runs_:
            self.select_run(runs_[0].id)
        self._update_summary()
        self._update_buttons()
        self.runs_loaded.emit()

    def _on_list_failed(self, exc):
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
        # the database's name here, its whole path in the tooltip: a long path pushed the buttons out
        self.summary.setText(text + "<br><span style='font-size:small'>Kept, with an audit trail, in "
                                    f"{_esc(Path(self.store_path).name)}</span>")

    def showEvent(self, event):
        super().showEvent(event)
        if not self._listing():
            self.refresh()

    def selected_run(self):
        ix = self.table.selectionModel().currentIndex()
        return self.model.run_at(ix.row()) if ix.isValid() else None

    def select_run(self, run_id: str) -> bool:
        """Select a run by id; if the list is still loading, select it once loaded."""
        row = self.model.row_of(run_id)
        if row is None:
            if self._listing() or not self._loaded_once:
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
    def _task(self, what: str, fn, *args, busy: str = "", **kwargs):
        """Run a use case of desktop.runs.history on a worker; its verdict is shown above the list."""
        if busy:
            self.message.show_info(busy)
        return self.jobs.start(f"history-{what}", fn, *args, store_path=self.store_path, **kwargs,
                               on_returned=lambda value: self._on_task_done(what, value),
                               on_errored=lambda exc: self._on_task_failed(what, exc))

    def _on_task_failed(self, what, exc):
        self._report(exc)
        self.task_done.emit(what, exc)

    def _on_task_done(self, what, value):
        if what == "verify":
            if value.ok:
                self.message.show_info("✔ " + value.text())
            else:
                self.message.show_error(value.text())
        elif what == "export":
            withheld = ""
            if value.left_out:
                names = ", ".join(value.left_out[:4]) + (", …" if len(value.left_out) > 4 else "")
                withheld = (f" · left out patient-identifying DICOM fields ({names}); the command line's "
                            "--include-phi keeps them")
            self.message.show_info(f"Exported {fmt.plural(value.n, 'result')} to {value.path}{withheld}")
        elif what == "dicom-export":
            from desktop.runs.dicom_export import status_text

            (self.message.show_info if value.written else self.message.show_error)(status_text(value))
        elif what == "delete":
            self.message.show_info("Run deleted; the audit trail keeps a record that it existed.")
            self.refresh()
        elif what == "rename":
            self.message.clear_message()
            self.refresh()
        self.task_done.emit(what, value)

    def _report(self, exc):
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

    def rename_run(self, run_id: str, name: str):
        self._pending_select = run_id
        return self._task("rename", runs.rename_run, run_id, name)

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

    def delete_run(self, run_id: str):
        return self._task("delete", runs.delete_run, run_id, busy="Deleting…")

    def export_dialog(self):
        run = self.selected_run()
        if run is None:
            return
        stem = "".join(c if c.isalnum() or c in "-_" else "-" for c in (run.name or run.model_name.rsplit(".", 1)[0]))
        start = os.path.join(getattr(self, "last_export_dir", "") or str(Path.home()),
                             f"inferdesk-{stem}-{run.id[:6]}.csv")
        path, chosen = QFileDialog.getSaveFileName(
            self, f"Export the {fmt.plural(run.ok + run.failed, 'result')} of this run", start,
            ";;".join(("CSV (*.csv);;JSON (*.json);;JSON lines, like the command line (*.jsonl)",) + tuple(DICOM_CHOICES)))
        if path:
            self.last_export_dir = os.path.dirname(path)
            if chosen in DICOM_CHOICES:
                self.ask_and_export_dicom(run.id, path, DICOM_CHOICES[chosen])
                return
            self.export_run(run.id, path)

    def ask_and_export_dicom(self, run_id: str, folder, export_format: str):
        """Ask which PS3.15 options the objects keep, then write them (:meth:`export_dicom`)."""
        from desktop.runs.dicom_export import FORMATS

        from .dicom_export import ask_dicom_options

        options = ask_dicom_options(FORMATS[export_format][0], self)
        if options is not None:
            self.export_dicom(run_id, folder, export_format, options)

    def export_dicom(self, run_id: str, folder, export_format: str, options=None):
        """Write a run's results as DICOM objects (``dicom-seg``, ``dicom-sr``, ``dicom-sc``) into ``folder``,
        de-identified with ``options`` (desktop.runs.dicom_export); the verdict is shown above the list."""
        from desktop.engine.dicom_deid import DeidOptions
        from desktop.runs.dicom_export import export_dicom

        return self._task("dicom-export", export_dicom, run_id, str(folder), export_format,
                          options=options or DeidOptions(), busy="Writing DICOM objects…")

    def export_run(self, run_id: str, path):
        """Write a run's results (all, in run order) as the table's export does, and note it in the trail."""
        return self._task("export", runs.export_run, run_id, str(path), formula_guard=self.formula_guard,
                          busy="Exporting…")

    def verify(self):
        """Check the audit trail on a worker; the verdict is shown above the list."""
        return self._task("verify", runs.verify, busy="Checking the audit trail…")


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
        self.setStyleSheet(strip_style(self, error, margin="6px 8px 0px 8px"))

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
