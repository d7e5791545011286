"""Scoring a queue for the window: a job for the scoring process, relayed as steps (no Qt).

The window's run goes through :class:`desktop.engine.service.ScoringProcess`, so the window's
process keeps its interpreter lock for painting; the child records every batch in the history
before sending it. :func:`score_in_child` turns the child's messages into what the window shows.
"""

from __future__ import annotations

import time
from dataclasses import dataclass


@dataclass
class RunStarted:
    """The run has begun: its id in the history (None when not recorded) and how many items it will score."""

    run_id: str | None
    total: int


@dataclass
class RunStep:
    """Results that arrived: a ResultBatch, each item's ``perf_counter()`` arrival, and the progress."""

    batch: object
    produced: object
    done: int
    total: int


class LocalClusters:
    """The window's own Dask LocalCluster for Run on Cluster with ``local:N``, started on first use and kept
    for the next run (its workers have the model's imports warm), closed with the window.

    The scoring process cannot start it (a daemon process has no child processes), so it is started
    here and the scoring process connects to its address. Thread-safe.
    """

    def __init__(self):
        import threading

        self._lock = threading.Lock()
        self._cluster = None

    def address(self, text: str) -> tuple[str, str]:
        """(the scheduler's address to connect to, what the run records) for ``--cluster``'s ``text``."""
        from desktop.engine.cluster import Cluster, parse_address

        spec = parse_address(text)
        if not spec.local:
            return spec.address, spec.text
        with self._lock:
            if self._cluster is not None and (self._cluster.spec != spec or not self._alive()):
                self._cluster.close()
                self._cluster = None
            if self._cluster is None:
                self._cluster = Cluster(spec)
            return self._cluster.address, spec.text

    def _alive(self) -> bool:
        try:
            return self._cluster.client.status == "running"
        except Exception:  # noqa: BLE001
            return False

    def close(self) -> None:
        with self._lock:
            if self._cluster is not None:
                self._cluster.close()
                self._cluster = None


def score_in_child(service, engine, items, *, top_k: int = 5, workers: int | None = None, record: bool = True,
                   resume_run: str | None = None, store_path: str | None = None, pace=None, should_stop=None,
                   cluster: str | None = None, clusters: LocalClusters | None = None):
    """Score ``items`` in the scoring process; yields RunStarted then RunSteps, returns the run's summary.

    The summary is ``{"cancelled", "done", "total", "seconds", "run_id"}``. Cancelling is
    ``service.cancel()``: the child stops between items and still sends its summary. With
    ``pace`` (a Pacer) the next message is read once the window has shown the last: unpickling
    a chunk while the window appends the previous one makes both wait for the interpreter lock.

    ``cluster`` (``local:N`` or a scheduler's address): the items are scored there (Run on Cluster);
    ``clusters`` (needed with it) starts and keeps a local one, which its owner closes.

    Raises
    ------
    EngineError
        What the child refused (the model, an input); the results recorded so far are kept.
        ClusterError when the cluster cannot be started or reached, or a worker cannot load the model.
    """
    from desktop.engine.service import Job

    address = label = None
    if cluster:
        if clusters is None:
            raise ValueError("score_in_child scores on a cluster with a LocalClusters to keep its local workers")
        address, label = clusters.address(cluster)
    job = Job(model=engine.model_path, profile=engine.profile.to_dict(), settings=engine.settings.to_dict(),
              items=list(items), top_k=top_k, workers=workers, record=record, resume_run=resume_run,
              store_path=store_path, cluster=address, cluster_label=label)
    t0 = time.perf_counter()
    run_id, done, total = resume_run, 0, sum(i.rows for i in job.items)
    summary = None
    for msg in service.run(job, stopped=should_stop):  # a Cancel pressed before this thread began counts
        kind = msg[0]
        if kind == "started":
            run_id, total = msg[1], msg[2]
            yield RunStarted(run_id, total)
        elif kind == "batch":
            _, batch, produced, done, total = msg
            yield RunStep(batch, produced, done, total)
            if pace is not None:
                pace.wait()
        elif kind == "finished":
            summary = dict(msg[1])
        elif kind == "error":
            raise msg[1]
    if summary is None:
        summary = {"cancelled": True, "done": done, "total": total}
    summary["seconds"] = time.perf_counter() - t0
    summary["run_id"] = run_id
    return summary
