"""Export of result batches (the window's table, a run from History) to a file through desktop.engine.writers (no Qt)."""

from __future__ import annotations

from desktop.engine import writers
from desktop.engine.profile import Task
from desktop.engine.resultbatch import ResultBatch


def export(batches, path, provenance: dict | None = None, *, formula_guard: bool = True, fmt: str | None = None,
           conf: float | None = None, include_phi: bool = False, left_out: list | None = None,
           decisions: dict | None = None) -> int:
    """Write results, in table order, to ``path``; the format is ``fmt``, else follows its extension.

    ``.csv`` and ``.tsv`` give CSV, ``.jsonl`` JSON lines, anything else JSON: the same
    columns and records as ``inferdesk score`` and ``inferdesk history export``, with the
    provenance in the JSON header or in ``<path>.provenance.json``.

    Parameters
    ----------
    batches
        ResultBatch objects in the order the table shows them (Result objects are accepted
        too, and written as one batch).
    path
        The file to write.
    provenance
        Where the results came from (:func:`desktop.engine.writers.run_provenance` for a run
        in the history); None records only this app and the time.
    formula_guard
        CSV: a ``'`` before text cells a spreadsheet would run as formulas (see
        :func:`desktop.engine.writers.guard_formulas`).
    fmt
        ``jsonl``, ``json``, ``csv``, or a detector's ``coco`` (``path`` and its
        ``.images.json``) or ``yolo`` (``path`` a folder), a segmenter's ``coco`` or ``masks`` (a new
        folder of label map PNGs, :mod:`desktop.engine.maskwriters`); None: from the extension.
    conf
        coco and yolo: the detections over this threshold (the window's slider); None: the run's.
    include_phi
        json, jsonl: a DICOM input's patient-identifying header fields and dates are written too.
    left_out
        A list that gets the names of the DICOM fields withheld (for the caller to say so).
    decisions
        The run's current review decisions, {result index: Decision} (:func:`desktop.runs.review.decisions`):
        csv gets the ``decision ... reviewed_at`` columns, jsonl and json a ``"decision"`` per reviewed
        result; None or empty: neither.

    Returns
    -------
    int
        The number of results written.
    """
    batches = list(batches)
    if batches and not isinstance(batches[0], ResultBatch):
        batches = [_batch_of_results(batches)]
    prov = provenance if provenance is not None else writers.provenance_unknown("InferDesk window")
    options = writers.RecordOptions(include_phi=include_phi,
                                    decisions={i: d.to_dict() for i, d in decisions.items()} if decisions else None)
    n = writers.export(batches, path, fmt or writers.format_for(path), prov, formula_guard=formula_guard,
                       conf=conf, options=options)
    if left_out is not None:
        left_out.extend(options.left_out)
    return n


def _batch_of_results(results) -> ResultBatch:
    task = (Task.CLASSIFICATION if any(r.top for r in results) else
            Task.REGRESSION if any(r.values for r in results) else Task.RAW)
    return ResultBatch.from_results(results, task)
