"""The explanation use cases the window runs on a worker and the command line runs in place (no Qt).

:func:`explain_result` and :func:`check_explanation` are generators: they yield
``("progress", done, total)`` while the engine works and *return* the Explanation (or the
check's dict), which a generator worker hands over as its return value (superqt's
``GeneratorWorker.returned``). The engine's methods take callbacks, so the work runs on one
helper thread whose progress comes back through a queue; closing the generator (the worker's
``quit()``) asks the engine to stop at its next batch, waits for it, and the partial result is
dropped. ``should_stop`` stops it the same way but still returns the partial result, marked
``cancelled``.
"""

from __future__ import annotations

import queue
import threading
from typing import Callable, Iterator

from desktop.engine import Engine, InputKind, Task
from desktop.engine.errors import InputError

#: method names as the window and ``inferdesk explain --method`` give them
METHODS = ("auto", "occlusion", "rise", "drise", "kernelshap")


def default_method(engine, result=None) -> str:
    """The method for a result when none is chosen: KernelSHAP for a CSV row, D-RISE for a detector, else RISE."""
    if (result is not None and getattr(result, "kind", None) == InputKind.TABLE) or engine.profile.image is None:
        return "kernelshap"
    return "drise" if engine.profile.task == Task.DETECTION else "rise"


def _engine(model) -> Engine:
    return model if isinstance(model, Engine) else Engine(str(model))


def _in_background(work: Callable, should_stop) -> Iterator:
    """Run ``work(should_stop, progress)`` on a thread; yield its progress tuples and return its result."""
    events: queue.Queue = queue.Queue()
    closing = threading.Event()
    outcome: dict = {}

    def stop() -> bool:
        return closing.is_set() or bool(should_stop and should_stop())

    def run():
        try:
            outcome["value"] = work(stop, lambda done, total: events.put((int(done), int(total))))
        except BaseException as exc:  # noqa: BLE001 - handed to the generator's caller
            outcome["error"] = exc
        finally:
            events.put(None)

    thread = threading.Thread(target=run, name="inferdesk-explain", daemon=True)
    thread.start()
    try:
        while True:
            event = events.get()
            if event is None:
                break
            yield ("progress", *event)
    finally:
        closing.set()
        thread.join()
    if "error" in outcome:
        raise outcome["error"]
    return outcome["value"]


def _box_of(result, box):
    """The Detection to explain: ``box`` itself, or the result's detection number ``box`` (best first)."""
    if box is None:
        box = 0
    if not isinstance(box, int):
        return box
    detections = tuple(getattr(result, "detections", ()) or ()) if result is not None else ()
    if result is None or not detections and not getattr(result, "candidates", ()):
        return box  # an index into the image's detections, found again by the engine
    if not 0 <= box < len(detections):
        raise InputError(f"there is no box {box} to explain: the result has {len(detections)}")
    return detections[box]


def explain_result(model, result, method: str = "auto", params: dict | None = None, *,
                   should_stop: Callable[[], bool] | None = None) -> Iterator:
    """Explain one result: yields ``("progress", done, total)``, returns the Explanation or TableExplanation.

    Parameters
    ----------
    model
        An Engine or a model path (opened with its own profile).
    result
        A Result (its ``input``, ``row`` and ``kind`` say what to explain; a detector's detections
        give the box), or an input path for an image.
    method
        "auto" (:func:`default_method`), "occlusion", "rise", "drise" or "kernelshap".
    params
        The method's keyword arguments (``target``, ``n``, ``grid``, ``p``, ``seed``, ``patch``,
        ``stride``, ``baseline``, ``box``; KernelSHAP: ``reference_rows`` (default: the row's own
        CSV file), ``n_samples``, ``baselines``).
    should_stop
        Asked between batches; True stops and returns the partial explanation (``cancelled``).
    """
    from desktop.engine import explain

    engine = _engine(model)
    params = dict(params or {})
    if not isinstance(result, str) and not result.ok:
        raise InputError(f"{result.display_name}: this result failed ({result.error or 'no answer'}), so there is "
                         "nothing to explain")
    path = result if isinstance(result, str) else result.input
    method = default_method(engine, None if isinstance(result, str) else result) if method in (None, "auto") \
        else method
    if method == "rise" and engine.profile.task == Task.DETECTION:
        method = "drise"  # RISE for one box is D-RISE
    if method not in METHODS:
        raise InputError(f"there is no explanation method '{method}'; choose one of {', '.join(METHODS[1:])}")
    if method == "kernelshap":
        row = params.pop("row", None) or getattr(result, "row", None)
        if row is None:
            raise InputError("KernelSHAP explains a CSV row; this result is not one")
        params.setdefault("reference_rows", path)

        def work(stop, progress):
            return explain.kernel_shap(engine, path, int(row), should_stop=stop, progress=progress, **params)
    elif method == "drise":
        box = _box_of(None if isinstance(result, str) else result, params.pop("box", None))

        def work(stop, progress):
            return explain.drise(engine, path, box, should_stop=stop, progress=progress, **params)
    else:
        if engine.profile.task == Task.DETECTION:
            params["box"] = _box_of(None if isinstance(result, str) else result, params.get("box"))
        fn = explain.occlusion if method == "occlusion" else explain.rise

        def work(stop, progress):
            return fn(engine, path, should_stop=stop, progress=progress, **params)

    return (yield from _in_background(work, should_stop))


def check_explanation(model, explanation, params: dict | None = None, *,
                      should_stop: Callable[[], bool] | None = None) -> Iterator:
    """The "check this explanation" action: yields ``("progress", done, total)``, returns the sanity check's
    dict (see :func:`desktop.engine.explain.sanity_check`; ``params``: ``steps``, ``seed``, ``auc``)."""
    from desktop.engine.explain import sanity_check

    engine = _engine(model)
    params = dict(params or {})

    def work(stop, progress):
        return sanity_check(engine, explanation, should_stop=stop, progress=progress, **params)

    return (yield from _in_background(work, should_stop))


def run_to_end(gen: Iterator, progress: Callable | None = None):
    """Drive one of these generators to its end in place (the command line): its return value."""
    while True:
        try:
            event = next(gen)
        except StopIteration as stop:
            return stop.value
        if progress is not None:
            progress(*event[1:])
