"""Background work for the window, one way: a generator on superqt's ``GeneratorWorker``, started in a slot.

Every job is a generator function from the Qt-free layers (``desktop.runs``, ``desktop.engine``)
run on a thread pool by :class:`superqt.utils.GeneratorWorker`; a plain function is run as a
one-step generator. What it yields reaches ``on_yielded`` on the GUI thread, its return value
``on_returned``, an exception ``on_errored`` (default: :func:`report_error`), and ``on_finished``
comes last. The slot is free (``busy`` is False) before ``on_returned`` or ``on_errored`` runs,
so what a handler shows does not depend on whether ``finished`` has arrived yet.

A job is started in a named *slot* ("run", "load", "check", ...). As Orange's
``ConcurrentMixin.start`` does, starting a job in a slot cancels the job already there **and
disconnects it**: nothing it emits afterwards reaches a handler, so no handler needs to ask
``sender()`` whether it is still current. The stale job finishes on its own, on its thread,
and is forgotten.

Cancelling sets the job's stop flag, which the generator reads through its ``should_stop``
parameter (passed when the function has one), releases its pacer, and calls ``on_cancel`` (the
scoring job's hook stops the child process). The worker is not aborted: the generator runs to
its end, so its ``finally`` blocks run on its own thread and its summary still arrives.

With ``paced=True`` the function gets a ``pace`` argument (:class:`desktop.runs.pacing.Pacer`)
and waits on it after each yield; the window acknowledges once it has shown what was yielded
(a 0 ms timer: posted paint events run first), so the producer never competes with the window
for the interpreter lock while it paints.
"""

from __future__ import annotations

import inspect
import threading
from dataclasses import dataclass, field
from typing import Any, Callable

from PySide6.QtCore import QObject, QThreadPool, QTimer, Signal, Slot
from superqt.utils import GeneratorWorker

from desktop.runs.pacing import Pacer

from .errors import report_error

_alive: set = set()  # jobs started and not finished, in every Jobs (keeps their wrappers alive)
_alive_lock = threading.Lock()


def active_jobs() -> list["Job"]:
    """Jobs that have been started and have not finished (tests check none is left behind)."""
    with _alive_lock:
        return list(_alive)


def _call(fn, *args, **kwargs):
    """A plain function as a generator that yields nothing and returns the function's value."""
    return fn(*args, **kwargs)
    yield  # noqa: unreachable - makes this a generator function


@dataclass(eq=False)
class Job:
    """One piece of background work in a slot; what the window holds while it runs."""

    slot: str
    worker: GeneratorWorker
    relay: "_Relay"
    on_cancel: Callable[[], Any] | None = None
    pacer: Pacer | None = None
    stop: threading.Event = field(default_factory=threading.Event)
    finished: bool = False

    def should_stop(self) -> bool:
        return self.stop.is_set()

    def cancel(self) -> None:
        """Ask the work to stop at its next check; its summary still arrives (if still connected)."""
        if self.stop.is_set():
            return
        self.stop.set()
        if self.pacer is not None:
            self.pacer.release()
        if self.on_cancel is not None and not self.finished:
            self.on_cancel()


class _Relay(QObject):
    """Lives on the GUI thread: the worker's signals reach the handlers through it (queued)."""

    def __init__(self, handlers: dict, pacer: Pacer | None, ended: Callable[[], None], parent=None):
        super().__init__(parent)
        self.handlers = handlers
        self.pacer = pacer
        self.ended = ended  # the bookkeeping of Jobs: called first when the work ends, connected or not
        self.released: Callable[[], None] = lambda: None  # frees the slot: called before the outcome's handler

    @Slot(object)
    def yielded(self, value):
        handler = self.handlers.get("yielded")
        if handler is not None and value is not None:
            handler(value)
        if self.pacer is not None:
            QTimer.singleShot(0, self.pacer.ack)

    @Slot(object)
    def returned(self, value):
        self.released()  # the work has an outcome: its handler sees the slot free, as the window will
        handler = self.handlers.get("returned")
        if handler is not None:
            handler(value)

    @Slot(object)
    def errored(self, exc):
        self.released()
        handler = self.handlers.get("errored", report_error)
        handler(exc)

    @Slot()
    def finished(self):
        handler = self.handlers.get("finished")
        self.ended()
        if handler is not None:
            handler()


class Jobs(QObject):
    """The window's background jobs, one per slot, on a pool of its own (closing waits for it)."""

    changed = Signal()  # a job started or ended: what is busy has changed

    def __init__(self, parent: QObject | None = None, threads: int = 4):
        super().__init__(parent)
        self.pool = QThreadPool(self)
        self.pool.setMaxThreadCount(threads)
        self._slots: dict[str, Job] = {}
        self._mine: set[Job] = set()

    # ------------------------------------------------------------------ starting
    def start(self, slot: str, fn: Callable, *args, on_yielded=None, on_returned=None, on_errored=None,
              on_finished=None, on_cancel=None, paced: bool = False, pace_timeout_s: float = 0.5,
              **kwargs) -> Job:
        """Run ``fn(*args, **kwargs)`` in ``slot``, cancelling and disconnecting the job there first.

        ``fn`` gets ``should_stop`` (a callable) when it has that parameter, and ``pace`` (a
        Pacer) when ``paced``. Handlers are called on the GUI thread; ``on_errored`` defaults to
        :func:`report_error`.
        """
        self.cancel(slot)
        params = _parameters(fn)
        pacer = Pacer(pace_timeout_s) if paced else None
        job_stop = threading.Event()
        if "should_stop" in params:
            kwargs["should_stop"] = job_stop.is_set
        if pacer is not None:
            kwargs["pace"] = pacer
        if inspect.isgeneratorfunction(fn):
            worker = GeneratorWorker(fn, *args, **kwargs)
        else:
            worker = GeneratorWorker(_call, fn, *args, **kwargs)
        handlers = {k: v for k, v in (("yielded", on_yielded), ("returned", on_returned),
                                      ("errored", on_errored), ("finished", on_finished)) if v is not None}
        relay = _Relay(handlers, pacer, lambda: None, self)
        job = Job(slot, worker, relay, on_cancel=on_cancel, pacer=pacer, stop=job_stop)
        relay.ended = lambda: self._forget(job)
        relay.released = lambda: self._release(job)
        s = worker.signals
        s.yielded.connect(relay.yielded)
        s.returned.connect(relay.returned)
        s.errored.connect(relay.errored)
        s.finished.connect(relay.finished)  # stays connected: the bookkeeping needs it; the handler goes
        self._slots[slot] = job
        self._mine.add(job)
        with _alive_lock:
            _alive.add(job)
        self.pool.start(worker)
        self.changed.emit()
        return job

    # ------------------------------------------------------------------ stopping
    def cancel(self, slot: str) -> Job | None:
        """Cancel the job in ``slot`` and disconnect it: nothing it emits from now on is handled."""
        job = self._slots.pop(slot, None)
        if job is None:
            return None
        self._disconnect(job)
        job.cancel()
        self.changed.emit()
        return job

    def stop(self, slot: str) -> Job | None:
        """Ask the job in ``slot`` to stop, keeping it connected: its summary is still handled."""
        job = self._slots.get(slot)
        if job is not None:
            job.cancel()
        return job

    def cancel_all(self) -> None:
        for slot in list(self._slots):
            self.cancel(slot)

    def shutdown(self, timeout_ms: int = 30000) -> bool:
        """Cancel every job and wait for the threads; False if something is still running."""
        self.cancel_all()
        for job in list(self._mine):
            job.cancel()
        return self.pool.waitForDone(timeout_ms)

    # ------------------------------------------------------------------ state
    def current(self, slot: str) -> Job | None:
        """The connected job in ``slot`` (None once it has finished)."""
        return self._slots.get(slot)

    def busy(self, slot: str) -> bool:
        return slot in self._slots


    # ------------------------------------------------------------------ inside
    @staticmethod
    def _disconnect(job: Job) -> None:
        s, relay = job.worker.signals, job.relay
        relay.handlers = {"errored": lambda exc: None}  # a queued signal already posted finds no handler
        relay.pacer = None
        for signal, slot in ((s.yielded, relay.yielded), (s.returned, relay.returned), (s.errored, relay.errored)):
            try:
                signal.disconnect(slot)
            except (RuntimeError, TypeError):  # already disconnected
                pass

    def _release(self, job: Job) -> None:
        """The job has returned or raised: its slot is free (its thread may still be ending)."""
        if self._slots.get(job.slot) is job:
            del self._slots[job.slot]
            self.changed.emit()

    def _forget(self, job: Job) -> None:
        job.finished = True
        self._mine.discard(job)
        with _alive_lock:
            _alive.discard(job)
        job.relay.deleteLater()
        if self._slots.get(job.slot) is job:
            del self._slots[job.slot]
        self.changed.emit()


def _parameters(fn) -> set:
    try:
        return set(inspect.signature(fn).parameters)
    except (TypeError, ValueError):
        return set()
