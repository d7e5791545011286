"""The optimisation lab's use cases for the window and the command line: make a variant, compare two models (no Qt).

Each is a generator: it yields ``("progress", done, total)`` while it works and returns the
Variant or Comparison (``StopIteration.value``); ``should_stop`` ends it with ``Cancelled``
between items. onnxruntime's quantisation calls back into our calibration reader, so the work
runs in a thread of its own and its progress is handed over through a queue.
"""

from __future__ import annotations

import queue
import threading
from typing import Callable


def _stepwise(work: Callable, should_stop: Callable[[], bool] | None, poll_s: float = 0.05):
    """Run ``work(progress, should_stop)`` in a thread; yield its progress; return its result or raise its error."""
    events: queue.Queue = queue.Queue()
    stop = threading.Event()

    def stopped() -> bool:
        return stop.is_set() or bool(should_stop and should_stop())

    def target() -> None:
        try:
            events.put(("done", work(lambda done, total: events.put(("progress", done, total)), stopped)))
        except BaseException as exc:  # noqa: BLE001 - handed to the caller's thread
            events.put(("error", exc))

    thread = threading.Thread(target=target, name="inferdesk-optimise", daemon=True)
    thread.start()
    try:
        while True:
            try:
                event = events.get(timeout=poll_s)
            except queue.Empty:
                continue
            if event[0] == "progress":
                yield event
            elif event[0] == "done":
                return event[1]
            else:
                raise event[1]
    finally:
        stop.set()  # a caller that closes the generator stops the work at its next item
        thread.join()


def make_variant_steps(engine, method: str, *, should_stop: Callable[[], bool] | None = None, **options):
    """:func:`desktop.engine.optimise.make_variant` as steps: yields progress, returns the Variant."""
    from desktop.engine.optimise import make_variant

    return (yield from _stepwise(
        lambda progress, stopped: make_variant(engine, method, progress=progress, should_stop=stopped, **options),
        should_stop))


def compare_steps(engine_a, engine_b, inputs, *, should_stop: Callable[[], bool] | None = None, **options):
    """:func:`desktop.engine.optimise.compare` as steps: yields progress, returns the Comparison."""
    from desktop.engine.optimise import compare

    return (yield from _stepwise(
        lambda progress, stopped: compare(engine_a, engine_b, inputs, progress=progress, should_stop=stopped,
                                          **options),
        should_stop))


def run_steps(steps):
    """Drive a steps generator to its end (the command line's way): its result."""
    while True:
        try:
            next(steps)
        except StopIteration as done:
            return done.value


def compare_with(engine_a, model_b, inputs, *, should_stop: Callable[[], bool] | None = None, **options):
    """Compare the loaded model with another model file (a variant, with its own profile beside it), opened
    here with the loaded model's session settings: yields progress, returns the Comparison."""
    from desktop.engine import Engine

    engine_b = model_b if isinstance(model_b, Engine) else Engine(str(model_b), settings=engine_a.settings)
    return (yield from compare_steps(engine_a, engine_b, inputs, should_stop=should_stop, **options))


def variants_of(model_path) -> list[str]:
    """The variants the lab made of a model that sit beside it (``<stem>.<method>.onnx``)."""
    from pathlib import Path

    p = Path(model_path)
    return [str(q) for q in (p.with_name(f"{p.stem}.{m}.onnx") for m in ("static", "dynamic", "fp16", "graph"))
            if q.is_file()]
