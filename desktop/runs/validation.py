"""Check a model on labelled cases, written once for the command line and the window (no Qt).

:func:`evaluate_inputs` scores inputs (keeping every class's score, which the curves need)
and measures them against their truth; :func:`evaluate_run` measures a run already in the
history. Both return an :class:`~desktop.engine.validation.Evaluation`; a truth that cannot be
read, or that does not fit, raises :class:`~desktop.engine.validation.TruthError` (an
EngineError: the command line prints it and exits 2).
"""

from __future__ import annotations

import os
import platform
from contextlib import closing

from desktop.engine.validation import Evaluation, evaluate, load_truth


def _labels(profile_labels, batches) -> list:
    for b in batches:
        labels = b.meta.get("labels")
        if labels:
            return [str(x) for x in labels]
    return [str(x) for x in profile_labels]


def score_for_evaluation(engine, inputs, *, recorder=None, should_stop=None) -> list:
    """Score ``inputs`` with every class's score kept (top-k = the number of classes); record them when given one."""
    from desktop.engine import run_batches

    k = max(len(engine.profile.labels), 1)
    batches = []
    for batch in run_batches(engine, inputs, top_k=max(k, 5), should_stop=should_stop,
                             hash_inputs=recorder is not None):
        if recorder is not None:
            recorder.add_batch(batch)
            recorder.commit()
        batches.append(batch)
    return batches


def evaluate_inputs(engine, inputs, truth_spec, *, operating_point=None, subgroups=(), n_boot: int = 1000,
                    seed: int = 0, positive: str | None = None, recorder=None, should_stop=None,
                    batches=None) -> Evaluation:
    """Score ``inputs`` with ``engine`` and evaluate them against ``truth_spec`` (--truth's COLUMN, FOLDER or FILE).

    The truth is read before anything is scored, so a bad ``--truth`` costs no scoring.
    ``batches``: results already scored (then nothing is scored again).
    """
    task = str(getattr(engine.profile.task, "value", engine.profile.task))
    truth = load_truth(truth_spec, inputs, task=task)
    if batches is None:
        batches = score_for_evaluation(engine, inputs, recorder=recorder, should_stop=should_stop)
    return evaluate(batches, truth, task=task, labels=_labels(engine.profile.labels, batches),
                    operating_point=operating_point, subgroups=subgroups, n_boot=n_boot, seed=seed, positive=positive)


def evaluate_run(run_id: str, truth_spec, *, operating_point=None, subgroups=(), n_boot: int = 1000, seed: int = 0,
                 positive: str | None = None, store_path=None, overrides: bool = False) -> Evaluation:
    """Evaluate a run recorded in the history against ``truth_spec``; its inputs are the run's own.

    ``overrides``: a reviewer's override of a result (``desktop.runs.review``) is its truth, in place
    of what ``truth_spec`` says; the evaluation's ``truth_source`` says how many there were.

    A run scored with fewer classes' scores than the model has (``top_k`` under the number of
    classes, for three classes or more) has no curves: each such case is counted in
    ``without_scores``.
    """
    from desktop.engine.store import ResultStore

    with ResultStore(store_path, readonly=True) as store:
        run = store.run(run_id)
        meta = store.run_metadata(run.id)
        with closing(store.batches(run.id)) as chunks:
            batches = [b for b in chunks if len(b)]
    profile = meta.get("profile") or {}
    task = str(profile.get("task") or (batches[0].task if batches else "classification"))
    task = str(getattr(task, "value", task))
    truth = load_truth(truth_spec, meta.get("inputs") or [], task=task)
    if overrides:
        from desktop.engine.validation.truth import norm

        from .review import as_truth

        corrected = as_truth(run.id, store_path=store_path)
        if corrected:
            for b in batches:
                for r in b.results():
                    if r.index in corrected:
                        truth.overrides[(norm(r.input), r.row)] = corrected[r.index]
            truth.source += f", with {len(truth.overrides):,} reviewer override{'s' if len(truth.overrides) != 1 else ''}"
    ev = evaluate(batches, truth, task=task, labels=_labels(profile.get("labels") or (), batches),
                  operating_point=operating_point, subgroups=subgroups, n_boot=n_boot, seed=seed, positive=positive)
    ev.extra["run_id"] = run.id
    return ev


def report_context(evaluation: Evaluation, engine, run_id: str | None = None) -> dict:
    """What ``desktop.report.write_report`` is given: the evaluation, the model, its profile, where it ran."""
    from desktop import __version__

    try:
        import onnxruntime

        ort = onnxruntime.__version__
    except ImportError:  # pragma: no cover
        ort = "missing"
    model = engine.info.to_dict()
    model.update(sha256=engine.info.sha256, name=engine.info.file_name)
    return {"evaluation": evaluation.to_dict(), "model": model, "profile": engine.profile.describe(),
            "environment": {"inferdesk": __version__, "onnxruntime": ort, "python": platform.python_version(),
                            "platform": platform.platform(), "provider": engine.provider,
                            "host": platform.node(), "cwd": os.getcwd()},
            "run_id": run_id}
