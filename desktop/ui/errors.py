"""One error path: expected errors become an inline message where they happened; anything else a dialog.

``report_error(exc, inline=...)`` is the single entry; ``refuse(text, inline)`` is the same for
a refusal the window words itself. Both dispatch to the Qt-free
:data:`desktop.runs.notifications.notifications`, as the jobs' ``errored``, ``sys.excepthook``
and ``threading.excepthook`` do. The :class:`ErrorReporter` subscribes and shows each one on
the GUI thread (superqt's ``ensure_main_thread``), as napari's Qt side subscribes to its
``NotificationManager``. A window attaches itself (:func:`attach_window`) to receive the
expected errors that have no panel of their own, and to parent the dialogs.

Expected errors are EngineError (written for the user) and OSError (a file that cannot be read
or written: the message names it). A traceback is only ever in a dialog's details.
"""

from __future__ import annotations

import traceback
from typing import Callable

from PySide6.QtCore import QObject, Qt, Signal
from PySide6.QtGui import QGuiApplication
from PySide6.QtWidgets import (QApplication, QDialog, QDialogButtonBox, QLabel, QPlainTextEdit, QPushButton,
                               QVBoxLayout, QWidget)

from superqt.utils import ensure_main_thread

from desktop.engine.errors import EngineError
from desktop.runs.notifications import Notification, notifications, user_message

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
            f"<b>InferDesk hit an unexpected problem:</b> {_escape(type(exc).__name__)}: "
            f"{_escape(user_message(exc))}"
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
    """Shows the dispatched notifications: inline when expected and there is a target, else a dialog."""

    reported = Signal(object, bool)  # (exception, shown inline): for tests and the status bar

    def __init__(self, parent: QObject | None = None):
        super().__init__(parent)
        self.hosts: list[tuple[QWidget, InlineTarget]] = []  # attached windows, the newest last
        self.dialogs: list[ErrorDialog] = []
        self._unsubscribe = notifications.subscribe(self._receive)
        self.destroyed.connect(self._unsubscribe)

    def _receive(self, note: Notification) -> None:  # any thread
        self._show(note)

    @ensure_main_thread
    def _show(self, note: Notification) -> None:
        host, fallback = self.hosts[-1] if self.hosts else (None, None)
        if note.expected:
            target = note.inline or fallback
            if target is not None:
                target(note.message)
                self.reported.emit(note.exc, True)
                return
        dialog = ErrorDialog(note.exc, host)
        dialog.setAttribute(Qt.WA_DeleteOnClose)
        self.dialogs.append(dialog)
        dialog.finished.connect(lambda _=0, d=dialog: self.dialogs.remove(d) if d in self.dialogs else None)
        dialog.show()  # not exec(): the event loop keeps running and the app stays usable
        self.reported.emit(note.exc, False)


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


def attach_window(window: QWidget, fallback: InlineTarget):
    """Let ``window`` take expected errors that have no panel of their own (and parent dialogs).

    Returns the function that detaches it (the window calls it when it closes).
    """
    rep = reporter()
    host = (window, fallback)
    rep.hosts.append(host)

    def detach():
        if host in rep.hosts:
            rep.hosts.remove(host)

    return detach


def report_error(exc: BaseException, inline: InlineTarget | None = None) -> None:
    """The one way to show an error. See the module docstring."""
    reporter()  # subscribed before the first dispatch
    notifications.dispatch(exc, inline)


def refuse(text: str, inline: InlineTarget | None = None) -> None:
    """Tell the user why something cannot be done now, where they asked (an expected error of the window's)."""
    report_error(EngineError(text), inline)


def install_hooks() -> None:
    """Send uncaught exceptions (main thread and other threads) to the notifications, so to a dialog."""
    reporter()
    notifications.install_hooks(on_interrupt=QApplication.quit)


def uninstall_hooks() -> None:
    notifications.uninstall_hooks()
