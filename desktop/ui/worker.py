"""Background work for the window: a QRunnable plus a QObject of signals, cancelled between items.

Modelled on superqt's ``WorkerBase``: :class:`Worker` runs a function on a thread pool
and reports through :class:`WorkerSignals`; :class:`BatchWorker` runs the engine's
``run_batch`` generator and hands results to the window in groups (every
``interval_s``) as ResultBatch columns, never one signal per row, so the event loop stays
free while a long batch runs. ``quit()`` only sets a flag: onnxruntime cannot be interrupted inside a run.
"""

from __future__ import annotations

import threading
import time
from typing import Callable

from PySide6.QtCore import QObject, QRunnable, QThreadPool, Signal

_active: set = set()  # workers started and not yet finished (keeps Python wrappers alive)
_active_lock = threading.Lock()


def active_workers() -> list:
    """Workers that have been started and whose ``finished`` has not been emitted."""
    with _active_lock:
        return list(_active)


class WorkerSignals(QObject):
    """Signals of one worker; they are delivered on the thread that owns this object (the GUI thread)."""

    started = Signal()  # no payload: the work began on a pool thread
    returned = Signal(object)  # the function's return value (Worker only)
    yielded = Signal(object)  # what was produced since the last emit, in order (each worker's docstring says)
    progress = Signal(int, int)  # done, total
    errored = Signal(object)  # the Exception raised by the work
    finished = Signal()  # no payload: always last, after returned/errored


class Worker(QRunnable):
    """Run ``fn(*args, **kwargs)`` on a thread pool.

    If ``fn`` accepts a ``worker`` keyword it is given this worker, so it can check
    :meth:`should_stop` and call :meth:`emit_progress`.
    """

    def __init__(self, fn: Callable | None = None, *args, name: str = "", **kwargs):
        super().__init__()
        self.setAutoDelete(False)  # Python owns the wrapper; _active keeps it until finished
        self.signals = WorkerSignals()
        self.name = name or getattr(fn, "__name__", type(self).__name__)
        self._fn, self._args, self._kwargs = fn, args, kwargs
        self._stop = threading.Event()
        self._done = threading.Event()

    # ------------------------------------------------------------------ control
    def quit(self) -> None:
        """Ask the work to stop at the next check between items."""
        self._stop.set()

    def should_stop(self) -> bool:
        return self._stop.is_set()

    @property
    def is_running(self) -> bool:
        return not self._done.is_set()

    def wait(self, timeout: float | None = None) -> bool:
        """Block until the work has returned (not until signals are delivered)."""
        return self._done.wait(timeout)

    def start(self, pool: QThreadPool) -> "Worker":
        with _active_lock:
            _active.add(self)
        self.signals.finished.connect(self._forget)
        pool.start(self)
        return self

    def _forget(self):
        with _active_lock:
            _active.discard(self)

    # ------------------------------------------------------------------ thread side
    def work(self):
        return self._fn(*self._args, **self._kwargs)

    def run(self) -> None:  # called by QThreadPool on a pool thread
        self.signals.started.emit()
        try:
            value = self.work()
        except BaseException as exc:  # noqa: BLE001 - everything reaches report_error
            self._done.set()
            self.signals.errored.emit(exc)
        else:
            self._done.set()
            self.signals.returned.emit(value)
        finally:
            self._done.set()
            self.signals.finished.emit()


class BatchWorker(Worker):
    """Score items with ``run_batches`` and emit the results as ResultBatch columns.

    ``yielded`` carries ``(ResultBatch, produced)``: the batches made since the last emit,
    concatenated, and a float64 array with the ``time.perf_counter()`` at which the engine
    produced each item. ``progress`` carries (done, total) with each group. ``returned``
    carries a summary dict with ``cancelled``, ``done``, ``total`` and ``seconds``.
    """

    def __init__(self, engine, items, top_k: int = 5, interval_s: float = 0.025, workers: int | None = None,
                 wait_for_ack: bool = False, ack_timeout_s: float = 0.25, service=None, record: bool = True,
                 resume_run: str | None = None):
        super().__init__(name="score")
        # With a service (desktop.engine.service.ScoringProcess) the scoring runs in a child process
        # that also records every result in the history database before sending it; this thread only
        # relays the groups, so the window's process keeps its interpreter lock for painting.
        self.service, self.record, self.resume_run = service, record, resume_run
        self.run_id: str | None = resume_run
        # With wait_for_ack the worker pauses after each group until the window calls acknowledge()
        # (once it has shown the group), at most ack_timeout_s. Scoring small inputs is mostly Python,
        # and without the pause the worker threads hold the GIL while the window paints, so every call
        # from Qt into Python waits; with it the window paints uncontended, at a few % of throughput.
        self.wait_for_ack, self.ack_timeout_s = wait_for_ack, ack_timeout_s
        self._ack = threading.Event()
        self.engine, self.items, self.top_k = engine, list(items), top_k
        self.interval_s = interval_s
        self.decode_workers = workers
        self.done = 0
        self.total = sum(i.rows for i in self.items)
        self.t_start = None

    def _on_progress(self, done: int, total: int) -> None:
        self.done, self.total = done, total

    def acknowledge(self) -> None:
        """Called by the window once it has shown a group: the worker may go on."""
        self._ack.set()

    def quit(self) -> None:
        super().quit()
        self._ack.set()
        if self.service is not None and self.is_running:
            self.service.cancel()

    def work(self):
        if self.service is not None:
            return self._work_in_child()
        import numpy as np

        from desktop.engine.batch import run_batches
        from desktop.engine.resultbatch import ResultBatch

        self.t_start = time.perf_counter()
        group: list = []
        last = time.perf_counter()

        def emit():
            batch = ResultBatch.concat([b for b, _ in group])
            produced = np.concatenate([np.full(len(b), t) for b, t in group])
            group.clear()
            self.signals.yielded.emit((batch, produced))

        for batch in run_batches(self.engine, self.items, top_k=self.top_k, should_stop=self.should_stop,
                                 progress=self._on_progress, workers=self.decode_workers):
            now = time.perf_counter()
            if len(batch):
                group.append((batch, now))
            if self.wait_for_ack:
                time.sleep(0)  # release the GIL between batches so the window's timers get a turn
            if group and now - last >= self.interval_s:
                self._ack.clear()
                emit()
                self.signals.progress.emit(self.done, self.total)
                if self.wait_for_ack and not self.should_stop():
                    self._ack.wait(self.ack_timeout_s)
                last = time.perf_counter()
        if group:
            emit()
        self.signals.progress.emit(self.done, self.total)
        return {"cancelled": self.should_stop() and self.done < self.total, "done": self.done,
                "total": self.total, "seconds": time.perf_counter() - self.t_start}

    def _work_in_child(self):
        from desktop.engine.service import Job

        engine = self.engine
        job = Job(engine.model_path, engine.profile.to_dict(), engine.settings.to_dict(), self.items,
                  top_k=self.top_k, workers=self.decode_workers, record=self.record, resume_run=self.resume_run)
        self.t_start = self.t_start or time.perf_counter()
        summary = None
        for msg in self.service.run(job):
            kind = msg[0]
            if kind == "started":
                self.run_id, self.total = msg[1], msg[2]
            elif kind == "batch":
                _, batch, produced, self.done, self.total = msg
                self._ack.clear()
                self.signals.yielded.emit((batch, produced))
                self.signals.progress.emit(self.done, self.total)
                if self.wait_for_ack and not self.should_stop():
                    # the next message is read once the window has shown this one: unpickling a chunk
                    # while the window appends the last makes both wait for the interpreter lock
                    self._ack.wait(self.ack_timeout_s)
            elif kind == "finished":
                summary = dict(msg[1])
            elif kind == "error":
                raise msg[1]
        if summary is None:
            summary = {"cancelled": True, "done": self.done, "total": self.total}
        summary["seconds"] = time.perf_counter() - self.t_start
        summary["run_id"] = self.run_id
        return summary


class BenchWorker(Worker):
    """Benchmark one or more session settings with the engine's ``bench``.

    For each entry of ``configs`` (``(label, SessionSettings)``) a session is opened
    with those settings; ``yielded`` carries ``[(config_index, run_index, ms), ...]``
    groups while it runs, and ``returned`` the list of ``(label, BenchReport)``.
    """

    def __init__(self, engine, configs, runs: int = 100, warmup: int = 10, interval_s: float = 0.05):
        super().__init__(name="bench")
        self.engine, self.configs, self.runs, self.warmup = engine, list(configs), runs, warmup
        self.interval_s = interval_s

    def work(self):
        from desktop.engine import Engine
        from desktop.engine.bench import bench

        reports = []
        for ci, (label, settings) in enumerate(self.configs):
            if self.should_stop():
                break
            engine = Engine(self.engine.model_path, profile=self.engine.profile, settings=settings,
                            info=self.engine.info)
            group: list = []
            last = [time.perf_counter()]

            def on_run(i, ms, ci=ci, group=group):
                group.append((ci, i, ms))
                now = time.perf_counter()
                if now - last[0] >= self.interval_s:
                    self.signals.yielded.emit(list(group))
                    group.clear()
                    last[0] = now

            report = bench(engine, runs=self.runs, warmup=self.warmup, on_run=on_run, should_stop=self.should_stop)
            if group:
                self.signals.yielded.emit(list(group))
            reports.append((label, report))
        return reports
