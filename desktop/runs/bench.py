"""The Benchmark tab's comparison: the model timed alone under several session settings (no Qt)."""

from __future__ import annotations


def bench_settings(engine, configs, *, runs: int = 100, warmup: int = 10, interval_s: float = 0.05,
                   should_stop=None):
    """Time ``engine``'s model under each ``(label, SessionSettings)`` of ``configs``, one after another.

    Yields lists of ``(config index, run index, ms)`` as they are measured, grouped as results
    are (:func:`desktop.engine.batch.group_batches`, a list at most every ``interval_s``), and
    returns the list of ``(label, BenchReport)`` of the settings it reached.
    """
    from desktop.engine import Engine
    from desktop.engine.batch import group_batches
    from desktop.engine.bench import iter_bench

    reports: list = []
    for ci, (label, settings) in enumerate(configs):
        if should_stop and should_stop():
            break
        timed = Engine(engine.model_path, profile=engine.profile, settings=settings, info=engine.info)
        steps = iter_bench(timed, runs=runs, warmup=warmup, should_stop=should_stop)
        yield from group_batches(_points(ci, label, steps, reports), interval_s, size=lambda _point: 1)
    return reports


def _points(ci: int, label: str, steps, reports: list):
    """``(ci, run index, ms)`` for each timed run of ``steps``; its BenchReport goes to ``reports`` at the end."""
    while True:
        try:
            i, ms = next(steps)
        except StopIteration as done:
            reports.append((label, done.value))
            return
        yield ci, i, ms
