"""Run ▸ Watch Folder…: which folder to watch, where scored files go, and when a file counts as written."""

from __future__ import annotations

import os

from PySide6.QtWidgets import (QCheckBox, QDoubleSpinBox, QFileDialog, QFormLayout, QHBoxLayout, QLineEdit,
                               QPushButton, QRadioButton, QWidget)

from .option_dialog import OptionDialog


class WatchDialog(OptionDialog):
    """Asks for a watch's folder and options; :meth:`options` gives them (see ``desktop.runs.watch.watch``)."""

    def __init__(self, settings, model_name: str, parent=None):
        super().__init__("Watch a Folder", f"<b>{model_name}</b> scores each new file in the folder once it is "
                         "completely written, until you stop the watch. The files already there are scored first, "
                         "except those an earlier watch of this model scored. The results are one run in History.",
                         parent)
        form = self.form
        self.folder = self._path_row(form, "Folder to watch", settings.watch_folder,
                                     "The folder an instrument, a scanner or an export job writes into")
        self.done = self._path_row(form, "Scored files go to", settings.watch_done,
                                   "Leave empty to leave them where they are")
        self.failed = self._path_row(form, "Files that fail go to", settings.watch_failed,
                                     "Leave empty to leave them where they are")
        how = QWidget()
        hl = QHBoxLayout(how)
        hl.setContentsMargins(0, 0, 0, 0)
        self.move_files = QRadioButton("Move them")
        self.copy_files = QRadioButton("Copy them")
        (self.move_files if settings.watch_move else self.copy_files).setChecked(True)
        hl.addWidget(self.move_files)
        hl.addWidget(self.copy_files)
        hl.addStretch(1)
        form.addRow("", how)
        self.settle = QDoubleSpinBox()
        self.settle.setRange(0.0, 3600.0)
        self.settle.setDecimals(1)
        self.settle.setSingleStep(0.5)
        self.settle.setSuffix(" s")
        self.settle.setValue(settings.watch_settle_s)
        self.settle.setToolTip("A file is scored once its size and modification time have not changed for this "
                               "long and it can be opened: never while it is still being copied")
        form.addRow("A file is written when unchanged for", self.settle)
        self.poll = QCheckBox("List the folder regularly instead of waiting for the system's notices (for a network share)")
        self.poll.setChecked(settings.watch_poll)
        form.addRow("", self.poll)
        self.start_button = self.finish("Start Watching", width=620)

    def _path_row(self, form: QFormLayout, label: str, value: str, tip: str) -> QLineEdit:
        row = QWidget()
        rl = QHBoxLayout(row)
        rl.setContentsMargins(0, 0, 0, 0)
        edit = QLineEdit(value)
        edit.setToolTip(tip)
        edit.setPlaceholderText(tip if "empty" in tip else "")
        rl.addWidget(edit, 1)
        browse = QPushButton("Browse…")
        browse.clicked.connect(lambda: self._browse(edit, label))
        rl.addWidget(browse)
        form.addRow(label, row)
        return edit

    def _browse(self, edit: QLineEdit, label: str) -> None:
        chosen = QFileDialog.getExistingDirectory(self, label, edit.text() or os.path.expanduser("~"))
        if chosen:
            edit.setText(chosen)

    def problem(self) -> str | None:
        """Why the choices cannot start a watch (None: they can)."""
        folder = self.folder.text().strip()
        if not folder:
            return "Choose the folder to watch."
        if not os.path.isdir(folder):
            return f"{folder} is not a folder."
        for edit, what in ((self.done, "scored files"), (self.failed, "files that fail")):
            target = edit.text().strip()
            if target and os.path.abspath(target) == os.path.abspath(folder):
                return f"The folder for {what} cannot be the watched folder itself: they would be scored again."
        return None

    def options(self) -> dict:
        """``{"folder", "done_dir", "failed_dir", "move", "settle_s", "poll"}``; empty folders are None."""
        return {"folder": self.folder.text().strip(), "done_dir": self.done.text().strip() or None,
                "failed_dir": self.failed.text().strip() or None, "move": self.move_files.isChecked(),
                "settle_s": float(self.settle.value()), "poll": self.poll.isChecked()}

    def remember(self, settings) -> None:
        """Keep the choices for the next watch."""
        o = self.options()
        settings.watch_folder, settings.watch_done, settings.watch_failed = (o["folder"], o["done_dir"] or "",
                                                                             o["failed_dir"] or "")
        settings.watch_move, settings.watch_settle_s, settings.watch_poll = o["move"], o["settle_s"], o["poll"]
