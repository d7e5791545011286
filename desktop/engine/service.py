"""Scoring in a child process, for the window: the window's process keeps its interpreter lock free.

Scoring small inputs is mostly Python (decoding wrappers, postprocessing, building results).
Run in a thread of the window's process, it competes with painting for the interpreter lock
and the window stutters. A :class:`ScoringProcess` runs ``run_batches`` in a separate process
(started with ``spawn``, so it never inherits Qt's threads), records every batch in the
history database *before* sending it, and streams the batches back as columns: no per-item
object crosses the pipe.

Messages from the child, as tuples:
    ("started", run_id | None, total)
    ("batch", ResultBatch, produced, done, total)
        one batch of the run, in order, already committed to the history; consecutive small
        batches (1-item batches of a slow folder) are concatenated into one message at most
        every GROUP_INTERVAL_S. ``produced`` is a float64 array, one ``perf_counter()`` per item:
        when the engine produced the item's batch (CLOCK_MONOTONIC / QPC, comparable across
        processes).
    ("finished", {"cancelled": bool, "done": int, "total": int, "seconds": float, "run_id": ...})
    ("error", exception)        the job ended; EngineError for what the user can act on, else a
        RuntimeError("Type: message") carrying the child's traceback as a note and ``child_traceback``
"""

from __future__ import annotations

import multiprocessing as mp
import threading
import time
from dataclasses import dataclass, field

GROUP_INTERVAL_S = 0.025


@dataclass
class Job:
    """What to score and how; everything plain so it crosses the process boundary."""

    model: str
    profile: dict
    settings: dict
    items: list  # InputItem or paths
    top_k: int = 5
    workers: int | None = None
    record: bool = True  # write results to the history database
    resume_run: str | None = None  # take up this interrupted run (skipping what it already has)
    store_path: str | None = None  # the database; default ResultStore()'s
    extra: dict = field(default_factory=dict)
    #: score on this Dask scheduler (its address) instead of in the scoring process; ``cluster_label``
    #: is what the run records (``local:2`` for the window's own local cluster)
    cluster: str | None = None
    cluster_label: str | None = None


class ScoringProcess:
    """A long-lived child process that scores jobs one at a time. Thread-safe; one job at a time."""

    def __init__(self):
        self._ctx = mp.get_context("spawn")
        self._conn = None
        self._proc = None
        self._stop = self._ctx.Event()
        self._closing = self._ctx.Event()  # the window is closing: a job stopped now was interrupted, not cancelled
        self._lock = threading.Lock()  # held for a whole job: the pipe carries one job's messages

    @property
    def alive(self) -> bool:
        return self._proc is not None and self._proc.is_alive()

    def start(self) -> None:
        """Start the child now (it takes a second to import numpy and onnxruntime)."""
        if self.alive:
            return
        parent, child = self._ctx.Pipe()
        self._conn = parent
        self._proc = self._ctx.Process(target=_serve, args=(child, self._stop, self._closing), daemon=True,
                                       name="inferdesk-scoring")
        self._proc.start()
        child.close()

    def cancel(self) -> None:
        """Ask the running job to stop between items; its run is recorded as cancelled."""
        self._stop.set()

    def interrupt(self) -> None:
        """Stop the running job because the app is closing: its run is left unfinished, to be resumed.

        The user did not cancel it, so it is not recorded as cancelled: the run keeps its
        "running" status, which reads as interrupted once this process has gone, and the next
        start offers to resume it.
        """
        self._closing.set()
        self._stop.set()

    def run(self, job: Job, poll_s: float = 0.1, stopped=None):
        """Send a job and yield the child's messages until the job ends.

        ``stopped`` (a callable): whether the job was cancelled before it got here, for a cancel
        that came while it waited for a thread; it is not lost when the stop flag is cleared.
        """
        with self._lock:
            self._stop.clear()
            self._closing.clear()
            if stopped is not None and stopped():
                self._stop.set()
            self.start()
            try:
                self._conn.send(job)
            except (BrokenPipeError, OSError):
                self._restart()
                self._conn.send(job)
            while True:
                if not self._conn.poll(poll_s):
                    if not self.alive:
                        from .errors import EngineError

                        code = self._proc.exitcode if self._proc else None
                        self._proc = None
                        yield ("error", EngineError(f"the scoring process ended unexpectedly (exit code {code}); "
                                                    "results recorded so far are kept in the history"))
                        return
                    continue
                try:
                    msg = self._conn.recv()
                except (EOFError, OSError):
                    continue  # the next poll sees the dead process
                yield msg
                if msg[0] in ("finished", "error"):
                    return

    def _restart(self):
        self.close(timeout=1)
        self.start()

    def close(self, timeout: float = 5.0) -> None:
        """Stop the child: cancel any job, ask it to exit, and terminate it if it does not."""
        self._stop.set()
        proc, conn = self._proc, self._conn
        self._proc = self._conn = None
        if proc is None:
            return
        try:
            conn.send(None)
        except (BrokenPipeError, OSError):
            pass
        proc.join(timeout)
        if proc.is_alive():
            proc.terminate()
            proc.join(timeout)
        try:
            conn.close()
        except OSError:
            pass


def _lower_priority() -> None:
    """Make the scoring process yield the CPU to the window: on a 2-core machine the child's decode
    and inference threads would otherwise keep both cores busy and the window's thread would wait
    its turn behind them. The scheduler still gives the child every cycle the window does not use."""
    import os

    try:
        if hasattr(os, "nice"):
            os.nice(10)
        elif os.name == "nt":  # pragma: no cover - Windows
            import ctypes

            BELOW_NORMAL_PRIORITY_CLASS = 0x00004000
            ctypes.windll.kernel32.SetPriorityClass(ctypes.windll.kernel32.GetCurrentProcess(),
                                                    BELOW_NORMAL_PRIORITY_CLASS)
    except (OSError, AttributeError):
        pass


def _serve(conn, stop, closing=None) -> None:
    """The child's loop: one job at a time until it receives None or the pipe closes."""
    from .errors import EngineError

    _lower_priority()

    engines: dict = {}
    while True:
        try:
            job = conn.recv()
        except (EOFError, OSError):
            return
        if job is None:
            return
        try:
            _run_job(conn, stop, job, engines, closing)
        except EngineError as exc:
            _send(conn, ("error", exc))
        except BaseException as exc:  # noqa: BLE001 - reported to the window's error dialog
            _send(conn, ("error", _unexpected(exc)))


def _unexpected(exc: BaseException) -> RuntimeError:
    """What the window is sent for an exception the engine did not expect: one line for the message,
    the child's traceback as a note (``__notes__``, shown by traceback.format_exception, so in an
    error dialog's details) and as ``child_traceback``; both survive pickling."""
    import traceback

    error = RuntimeError(f"{type(exc).__name__}: {exc}")
    tb = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__)).rstrip()
    error.child_traceback = tb
    note = f"In the scoring process:\n{tb}"
    if hasattr(error, "add_note"):  # Python 3.11
        error.add_note(note)
    else:  # pragma: no cover - Python 3.10
        error.__notes__ = [note]
    return error


def _send(conn, msg) -> None:
    try:
        conn.send(msg)
    except (BrokenPipeError, OSError):
        pass


def _engine_for(job: Job, engines: dict):
    import json

    from .core import Engine
    from .profile import profile_from_dict
    from .session import SessionSettings

    key = (job.model, json.dumps(job.profile, sort_keys=True), json.dumps(job.settings, sort_keys=True))
    if key not in engines:
        engines.clear()  # one model at a time
        engines[key] = Engine(job.model, profile=profile_from_dict(job.profile),
                              settings=SessionSettings(**job.settings))
    return engines[key]


def _run_job(conn, stop, job: Job, engines: dict, closing=None) -> None:

    from .inputs import InputItem, expand_inputs

    engine = _engine_for(job, engines)
    items = [i if isinstance(i, InputItem) else None for i in job.items]
    if any(i is None for i in items):
        items = expand_inputs([str(p) for p in job.items])
    cluster = where = None
    if job.cluster:  # connected before the run is recorded: a scheduler that is not there records nothing
        from .cluster import Cluster

        cluster = Cluster(job.cluster)
        where = cluster.describe(job.cluster_label)
    try:
        _score_job(conn, stop, job, engine, items, closing, cluster, where)
    finally:
        if cluster is not None:
            cluster.close()


def _score_job(conn, stop, job: Job, engine, items, closing, cluster, where) -> None:
    import numpy as np

    from .batch import group_batches, run_batches
    from .resultbatch import ResultBatch

    store = recorder = None
    skip = None
    if job.record or job.resume_run:
        from .store import ResultStore

        store = ResultStore(job.store_path) if job.store_path else ResultStore()
        if job.resume_run:
            skip = store.done_keys(job.resume_run)
            recorder = store.resume_run(job.resume_run)
        else:
            output = {"top_k": job.top_k, "workers": job.workers}
            if job.cluster:
                output["cluster"] = job.cluster_label or job.cluster
            recorder = store.start_run(engine, [i.path for i in items], total=sum(i.rows for i in items),
                                       output=output)
    state = {"done": 0, "total": sum(i.rows for i in items) - len(skip or ())}

    def progress(done, total):
        state["done"], state["total"] = done, total

    _send(conn, ("started", recorder.run_id if recorder else None, state["total"]))
    t0 = time.perf_counter()
    status = "cancelled"

    def produced():
        """(batch, when it came) as the engine makes them, each added to the history (committed with its group)."""
        if cluster is not None:
            from .cluster import run_cluster_batches

            scored = run_cluster_batches(cluster, engine, items, top_k=job.top_k, should_stop=stop.is_set,
                                         progress=progress, skip=skip, hash_inputs=recorder is not None,
                                         features=True)
        else:
            scored = run_batches(engine, items, top_k=job.top_k, should_stop=stop.is_set, progress=progress,
                                 workers=job.workers, skip=skip, hash_inputs=recorder is not None)
        for batch in scored:
            if recorder is not None:
                recorder.add_batch(batch)
            yield batch, time.perf_counter()

    def send(group):
        if recorder is not None:
            recorder.commit()  # on disk before the window shows it
        group = [(b, t) for b, t in group if len(b)]
        if not group:
            return
        batch = ResultBatch.concat([b for b, _ in group])
        times = np.concatenate([np.full(len(b), t) for b, t in group])
        _send(conn, ("batch", batch, times, state["done"], state["total"]))

    try:
        # an error in the engine still sends the group in progress (already recorded) before it is reported
        for group in group_batches(produced(), GROUP_INTERVAL_S, size=lambda pair: len(pair[0]),
                                   clock=time.perf_counter):
            send(group)
        if not stop.is_set():
            status = "finished"
        elif closing is not None and closing.is_set():
            status = "interrupted"
    finally:
        if recorder is not None:
            if status == "interrupted":
                recorder.commit()  # kept, and left "running": read as interrupted once this process ends
            else:
                recorder.finish(status)
        if store is not None:
            store.close()
    _send(conn, ("finished", {"cancelled": status != "finished", "interrupted": status == "interrupted", "done": state["done"], "total": state["total"],
                              "seconds": time.perf_counter() - t0,
                              "run_id": recorder.run_id if recorder else None,
                              **({"cluster": where} if where else {})}))
