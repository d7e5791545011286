"""Errors as notifications, without Qt: what went wrong is dispatched to whoever subscribed.

Modelled on napari's ``NotificationManager``: the engine, the command line and the window's
workers all end in :meth:`NotificationManager.dispatch`; the window's error reporter subscribes
and shows each one on the GUI thread. ``install_hooks`` sends uncaught exceptions (of the main
thread and of other threads) the same way.

An *expected* error is one the user can act on: an :class:`~desktop.engine.errors.EngineError`
(its message is written for them) or an ``OSError`` (a file that cannot be read or written;
:func:`user_message` names the file). Anything else is a defect and gets the technical details.
"""

from __future__ import annotations

import sys
import threading
from dataclasses import dataclass
from typing import Callable

from desktop.engine.errors import EngineError

InlineTarget = Callable[[str], None]


def is_expected(exc: BaseException) -> bool:
    """True for errors whose message is for the user (EngineError, OSError), False for defects."""
    return isinstance(exc, (EngineError, OSError))


def user_message(exc: BaseException) -> str:
    """The message to show a user: an OSError names its file and says what the system said."""
    if isinstance(exc, OSError) and not isinstance(exc, EngineError):
        what = exc.strerror or str(exc) or type(exc).__name__
        name = exc.filename
        if name is not None and exc.filename2 is not None:
            return f"{name} → {exc.filename2}: {what}"
        return f"{name}: {what}" if name is not None else what
    return str(exc)


@dataclass
class Notification:
    """One error to show: the exception, and the inline target that belongs to where it happened."""

    exc: BaseException
    inline: InlineTarget | None = None

    @property
    def expected(self) -> bool:
        return is_expected(self.exc)

    @property
    def message(self) -> str:
        return user_message(self.exc)


class NotificationManager:
    """Subscribers receive every dispatched Notification, on the thread that dispatched it."""

    def __init__(self):
        self._subscribers: list[Callable[[Notification], None]] = []
        self._lock = threading.Lock()
        self._previous_hooks: tuple | None = None

    def subscribe(self, callback: Callable[[Notification], None]) -> Callable[[], None]:
        """Receive notifications; returns the function that ends the subscription."""
        with self._lock:
            self._subscribers.append(callback)

        def unsubscribe():
            with self._lock:
                if callback in self._subscribers:
                    self._subscribers.remove(callback)

        return unsubscribe

    def dispatch(self, exc: BaseException, inline: InlineTarget | None = None) -> Notification:
        note = Notification(exc, inline)
        with self._lock:
            subscribers = list(self._subscribers)
        if not subscribers:  # nobody shows it: at least it is not lost
            sys.__stderr__ and sys.__stderr__.write(f"{type(exc).__name__}: {user_message(exc)}\n")
        for callback in subscribers:
            callback(note)
        return note

    # ------------------------------------------------------------------ uncaught exceptions
    def install_hooks(self, on_interrupt: Callable[[], None] | None = None) -> None:
        """Send uncaught exceptions of the main thread and of other threads to :meth:`dispatch`."""
        if self._previous_hooks is not None:
            return
        self._previous_hooks = (sys.excepthook, threading.excepthook)

        def excepthook(exc_type, exc, tb):
            if issubclass(exc_type, KeyboardInterrupt) and on_interrupt is not None:
                on_interrupt()
                return
            if exc.__traceback__ is None:
                exc = exc.with_traceback(tb)
            import traceback

            sys.__stderr__ and sys.__stderr__.write("".join(traceback.format_exception(type(exc), exc, tb)))
            self.dispatch(exc)

        def thread_hook(args):
            if args.exc_value is not None:
                self.dispatch(args.exc_value.with_traceback(args.exc_traceback))

        sys.excepthook = excepthook
        threading.excepthook = thread_hook

    def uninstall_hooks(self) -> None:
        if self._previous_hooks is None:
            return
        sys.excepthook, threading.excepthook = self._previous_hooks
        self._previous_hooks = None


#: the application's manager (as napari's ``notification_manager``)
notifications = NotificationManager()
