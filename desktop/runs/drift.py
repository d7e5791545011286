"""Drift checks, written once for the command line and the window (no Qt).

:func:`drift_of_inputs` scores inputs and compares them with a model's reference;
:func:`drift_of_run` checks a run already in the history (its stored answers, and its
features: a table run's as the run read them, an image run's inputs decoded again; inputs
that are gone are named in the report's ``missing``) and records the check in the audit trail
with the reference's SHA-256; :func:`drift_history` gives each past run's verdict for the
chart over time (recorded checks with the same reference are reused, not computed again).
A reference that cannot be read, or is another model's, raises
:class:`~desktop.engine.drift.DriftError` (an EngineError: the command line exits 2).
"""

from __future__ import annotations

import os
from contextlib import closing

import numpy as np

from desktop.engine.drift import (DriftError, DriftReport, Frame, Reference, build_reference, detect_drift,
                                  load_reference, read_frame)


def is_reference_file(path) -> bool:
    """Whether ``path`` names a saved reference (a .json file) rather than a reference set to build one from."""
    return os.path.isfile(path) and str(path).lower().endswith(".json")


def resolve_reference(engine, reference, *, seed: int = 0) -> Reference:
    """A :class:`Reference` for ``engine``: one given, a saved reference file (checked to be this model's),
    or one built now from a reference set (a CSV file or an image folder)."""
    if isinstance(reference, Reference):
        reference.check_model(engine)
        return reference
    if is_reference_file(reference):
        return load_reference(reference, engine)
    if not os.path.exists(reference):
        raise DriftError(f"{os.path.basename(str(reference))}: no such reference file or reference set")
    return build_reference(engine, [reference], seed=seed)


def drift_of_inputs(engine, reference, inputs, *, batches=None, seed: int = 0) -> DriftReport:
    """Score ``inputs`` with ``engine`` and compare them with ``reference`` (see :func:`resolve_reference`).

    ``batches``: results already scored for ``inputs`` (then nothing is scored again).
    """
    from desktop.engine.drift.reference import score

    ref = resolve_reference(engine, reference, seed=seed)
    if batches is None:
        batches = score(engine, inputs)
    exif = engine.profile.image is None or engine.profile.image.exif == "apply"
    frame = read_frame(engine, inputs, batches=batches, dicom=ref.has_dicom if ref.kind == "image" else None,
                       exif=exif)
    return detect_drift(ref, frame)


class _RecordedTable:
    """Reads a table run's CSV files with the feature columns its recorded profile names (no model needed)."""

    def __init__(self, profile: dict):
        self.columns = list((profile.get("table") or {}).get("columns") or [])

    def table_reader(self, path):
        from desktop.engine.errors import InputError
        from desktop.engine.inputs.tabular import TableReader

        if not self.columns:
            raise InputError(f"{os.path.basename(path)}: the run's profile names no feature columns to read again")
        return TableReader(path, self.columns, len(self.columns), passthrough=False)


def _run_frame(meta: dict, batches) -> Frame:
    """A recorded run's features (its inputs read again: those gone are listed as missing) and answers."""
    from desktop.engine.drift.reference import prediction_columns
    from desktop.engine.inputs import InputKind, expand_inputs

    profile = meta.get("profile") or {}
    exif = (profile.get("image") or {}).get("exif", "apply") == "apply"
    scored = {b.input_of(i) for b in batches for i in np.flatnonzero(b.ok).tolist()}
    items = [i for i in expand_inputs([str(p) for p in (meta.get("inputs") or [])])
             if i.kind in (InputKind.INVALID, InputKind.TABLE) or i.path in scored]
    tables = any(i.kind == InputKind.TABLE for i in items)
    frame = read_frame(_RecordedTable(profile) if tables else None, items, exif=exif)
    frame.prediction = prediction_columns(batches)
    return frame


def drift_of_run(run_id: str, reference, store_path=None, *, record: bool = True) -> DriftReport:
    """Check a run recorded in the history against ``reference`` (a saved reference file, or a Reference).

    The run's stored answers are its predictions; its features are a table run's stored ones or
    an image run's inputs decoded again (those gone are listed in the report's ``missing``).
    ``record``: note the check, with the reference's SHA-256, in the run's audit trail (a
    read-only history records nothing).
    """
    from desktop.engine.store import ResultStore

    with ResultStore(store_path, readonly=not record) as store:
        run = store.run(run_id)
        meta = store.run_metadata(run.id)
        ref = reference if isinstance(reference, Reference) else load_reference(reference)
        model = meta.get("model") or {}
        ref.check_model(sha256=model.get("sha256"), file_name=model.get("file_name"),
                        profile_sha256=meta.get("profile_sha256"))
        with closing(store.batches(run.id)) as chunks:
            batches = [b for b in chunks if len(b)]
        report = detect_drift(ref, _run_frame(meta, batches))
        if record:
            store.note_drift(run.id, ref.path or ", ".join(ref.source.get("paths", [])), ref.sha256,
                             report.summary())
    return report


def drift_history(model_sha256: str, reference, store_path=None, limit: int = 20, *,
                  record: bool = True) -> list[dict]:
    """Each of the model's last ``limit`` runs checked against ``reference``, oldest first, for the chart over time.

    Each entry: ``run_id``, ``started_at``, ``share_drifted``, ``dataset_drift``, ``cached`` (True:
    a check recorded with this reference's SHA-256 was reused), and ``error`` (a run that could
    not be checked, its inputs gone: the other fields None). New checks are recorded in the trail
    when ``record``.
    """
    from desktop.engine.errors import EngineError
    from desktop.engine.store import ResultStore

    ref = reference if isinstance(reference, Reference) else load_reference(reference)
    if ref.model.get("sha256") and ref.model["sha256"] != model_sha256:
        raise DriftError(f"the reference was built for {ref.model.get('file_name') or 'another model'}, not the "
                         f"model of SHA-256 {model_sha256[:12]}…")
    with ResultStore(store_path, readonly=True) as store:
        runs = [r for r in store.runs(limit=100000) if r.model_sha256 == model_sha256][:limit]
        notes = {r.id: store.drift_notes(r.id) for r in runs}
    out = []
    for run in reversed(runs):
        entry = {"run_id": run.id, "started_at": run.started_at, "share_drifted": None, "dataset_drift": None,
                 "cached": False}
        cached = next((n for n in reversed(notes[run.id]) if n.get("reference_sha256") == ref.sha256), None)
        if cached is not None:
            s = cached.get("summary") or {}
            entry.update(share_drifted=s.get("share_drifted"), dataset_drift=s.get("dataset_drift"), cached=True)
        else:
            try:
                report = drift_of_run(run.id, ref, store_path, record=record)
                entry.update(share_drifted=report.share_drifted, dataset_drift=report.dataset_drift)
            except EngineError as exc:
                entry["error"] = str(exc)
        out.append(entry)
    return out


def latest_drift(store, run_id: str) -> dict | None:
    """The last drift check recorded for a run (reference, its SHA-256, summary, when), for an export's provenance."""
    notes = store.drift_notes(run_id)
    if not notes:
        return None
    n = notes[-1]
    return {"checked_at": n.get("at"), "reference": n.get("reference"), "reference_sha256": n.get("reference_sha256"),
            **(n.get("summary") or {})}


def check_run(run_id: str, reference, engine=None, store_path=None, *, history: int = 20) -> dict:
    """What the window's Drift tab shows for a recorded run: its drift against ``reference`` and the model's
    runs over time.

    ``reference`` is a saved reference file, or a reference set (a CSV file, an image folder) that
    ``engine`` (the run's model) builds one from; a reference built so is saved beside the model
    (``<model>.reference.json``) when that folder can be written, so the next check reuses it.
    Returns ``{"report": DriftReport.to_dict(), "history": [...], "reference": path, "saved": path|None,
    "save_error": str|None}``.
    """
    from desktop.engine.drift.reference import default_reference_path

    saved = save_error = None
    if is_reference_file(reference):
        ref = load_reference(reference)
    else:
        if engine is None:
            raise DriftError("load the run's model first: a reference set is scored with it to build the reference")
        ref = resolve_reference(engine, reference)
        target = default_reference_path(engine.model_path)
        try:
            ref.save(target)
            saved = str(target)
        except OSError as exc:
            save_error = f"the reference was not saved beside the model ({exc.strerror or exc})"
    report = drift_of_run(run_id, ref, store_path)
    model = report.reference.get("model_sha256") if isinstance(report.reference, dict) else None
    sha = model or ref.model.get("sha256")
    over_time = drift_history(sha, ref, store_path, limit=history) if sha else []
    return {"report": report.to_dict(), "history": over_time, "reference": saved or str(reference),
            "saved": saved, "save_error": save_error}
