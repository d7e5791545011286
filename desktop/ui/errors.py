"""One error path: engine errors become an inline message where they happened; anything else a dialog.

``report_error(exc, inline=...)`` is the single entry. The worker's ``errored`` signal,
``sys.excepthook`` and ``threading.excepthook`` all lead to it (as napari's
``NotificationManager.install_hooks`` does); exceptions raised on other threads are
carried to the GUI thread by a queued signal before any widget is touched.
"""

from __future__ import annotations

import sys
import threading
import traceback
from typing import Callable

from PySide6.QtCore import QObject, Qt, QThread, Signal
from PySide6.QtGui import QGuiApplication
from PySide6.QtWidgets import (QApplication, QDialog, QDialogButtonBox, QLabel, QPlainTextEdit, QPushButton,
                               QVBoxLayout, QWidget)

from desktop.engine.errors import EngineError

InlineTarget = Callable[[str], None]


def format_exception(exc: BaseException) -> str:
    return "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))


class ErrorDialog(QDialog):
    """The details of an unexpected error, with a Copy button; the app stays usable after closing it."""

    def __init__(self, exc: BaseException, parent: QWidget | None = None):
        super().__init__(parent)
        self.setWindowTitle("Something went wrong")
        self.setObjectName("errorDialog")
        self.details = format_exception(exc)
        layout = QVBoxLayout(self)
        intro = QLabel(
            f"<b>InferDesk hit an unexpected problem:</b> {_escape(type(exc).__name__)}: {_escape(str(exc))}"
            "<br>Your work is still open. Copy the details below if you report this."
        )
        intro.setWordWrap(True)
        intro.setTextInteractionFlags(Qt.TextSelectableByMouse)
        layout.addWidget(intro)
        self.text = QPlainTextEdit(self.details)
        self.text.setReadOnly(True)
        self.text.setLineWrapMode(QPlainTextEdit.NoWrap)
        self.text.setToolTip("The technical details (Python traceback)")
        layout.addWidget(self.text, 1)
        buttons = QDialogButtonBox(QDialogButtonBox.Close)
        self.copy_button = QPushButton("Copy details")
        self.copy_button.setToolTip("Copy the details to the clipboard")
        self.copy_button.clicked.connect(self._on_copy_clicked)
        buttons.addButton(self.copy_button, QDialogButtonBox.ActionRole)
        buttons.rejected.connect(self.reject)
        buttons.button(QDialogButtonBox.Close).setToolTip("Close this message and carry on")
        layout.addWidget(buttons)
        self.resize(720, 420)

    def _on_copy_clicked(self):
        QGuiApplication.clipboard().setText(self.details)
        self.copy_button.setText("Copied")


def _escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


class ErrorReporter(QObject):
    """Routes errors to an inline target or a dialog, always on the GUI thread."""

    _incoming = Signal(object, object)  # (exception, inline target or None), from any thread
    reported = Signal(object, bool)  # (exception, shown inline): for tests and the status bar

    def __init__(self, parent: QObject | None = None):
        super().__init__(parent)
        self.fallback_inline: InlineTarget | None = None  # where engine errors go without a target
        self.dialog_parent: QWidget | None = None
        self.dialogs: list[ErrorDialog] = []
        self._incoming.connect(self._show, Qt.QueuedConnection)

    def report(self, exc: BaseException, inline: InlineTarget | None = None) -> None:
        """Show ``exc``: inline when it is an EngineError, else in a dialog. Safe from any thread."""
        if QThread.currentThread() is self.thread():
            self._show(exc, inline)
        else:
            self._incoming.emit(exc, inline)

    def _show(self, exc, inline):
        if isinstance(exc, EngineError):
            target = inline or self.fallback_inline
            if target is not None:
                target(str(exc))
                self.reported.emit(exc, True)
                return
        dialog = ErrorDialog(exc, self.dialog_parent)
        dialog.setAttribute(Qt.WA_DeleteOnClose)
        self.dialogs.append(dialog)
        dialog.finished.connect(lambda _=0, d=dialog: self.dialogs.remove(d) if d in self.dialogs else None)
        dialog.show()  # not exec(): the event loop keeps running and the app stays usable
        self.reported.emit(exc, False)


_reporter: ErrorReporter | None = None


def reporter() -> ErrorReporter:
    """The application's reporter (created on first use, owned by the QApplication)."""
    global _reporter
    if _reporter is None:
        _reporter = ErrorReporter(QApplication.instance())
        _reporter.destroyed.connect(_clear_reporter)
    return _reporter


def _clear_reporter(*_):
    global _reporter
    _reporter = None


def report_error(exc: BaseException, inline: InlineTarget | None = None) -> None:
    """The one way to show an error. See the module docstring."""
    reporter().report(exc, inline)


class _Hooks:
    previous: tuple | None = None


def install_hooks() -> None:
    """Send uncaught exceptions (main thread and other threads) to :func:`report_error`."""
    if _Hooks.previous is not None:
        return
    _Hooks.previous = (sys.excepthook, threading.excepthook)
    rep = reporter()

    def excepthook(exc_type, exc, tb):
        if issubclass(exc_type, KeyboardInterrupt):
            QApplication.quit()
            return
        if exc.__traceback__ is None:
            exc = exc.with_traceback(tb)
        sys.__stderr__ and sys.__stderr__.write(format_exception(exc))
        rep.report(exc)

    def thread_hook(args):
        if args.exc_value is not None:
            rep.report(args.exc_value.with_traceback(args.exc_traceback))

    sys.excepthook = excepthook
    threading.excepthook = thread_hook


def uninstall_hooks() -> None:
    if _Hooks.previous is None:
        return
    sys.excepthook, threading.excepthook = _Hooks.previous
    _Hooks.previous = None
