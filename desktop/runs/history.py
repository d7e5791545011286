"""What a user does with recorded runs, written once for the command line and the window (no Qt).

List, show, open, resume, export, rename, delete and verify the runs kept in the results
store (:mod:`desktop.engine.store`), and the words the window and ``inferdesk history`` use
for a run. Every function opens a ResultStore connection of its own and closes it before it
returns, so each may run on any thread (the window calls them on its workers); ``store_path``
None is the default database, ``ResultStore()``'s. A refusal raises :class:`RunRefused` (an
EngineError): one message, which the command line prints after ``inferdesk:`` (exit code 2)
and the window shows where the action was asked for.
"""

from __future__ import annotations

import os
from contextlib import closing
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

from desktop.engine.errors import EngineError

from . import fmt


class RunRefused(EngineError):
    """What was asked of a recorded run cannot be done; the message says why and what to do instead."""


# ====================================================================== words for a run
def default_store_path() -> Path:
    """Where ``ResultStore()`` keeps its database (``$INFERDESK_DATA_DIR`` honoured)."""
    from desktop.engine.store import default_data_dir

    return default_data_dir() / "results.sqlite3"


def local_time(iso: str | None) -> datetime | None:
    """A stored UTC timestamp as an aware datetime in this computer's time zone."""
    if not iso:
        return None
    try:
        return datetime.fromisoformat(iso).astimezone()
    except ValueError:
        return None


def when_text(iso: str | None, now: datetime | None = None) -> str:
    """'Today 14:22', 'Yesterday 09:05', '3 May 14:22', '3 May 2023 14:22' (local time)."""
    dt = local_time(iso)
    if dt is None:
        return iso or ""
    now = now or datetime.now().astimezone()
    hm = dt.strftime("%H:%M")
    if dt.date() == now.date():
        return f"Today {hm}"
    if dt.date() == (now - timedelta(days=1)).date():
        return f"Yesterday {hm}"
    if dt.year == now.year:
        return f"{dt.day} {dt:%b} {hm}"
    return f"{dt.day} {dt:%b %Y} {hm}"


def inputs_text(inputs) -> str:
    """What was scored, short: 'scan.png', 'digits/ · 10 files', 'a.csv, b.csv', 'a.png + 3 more'."""
    inputs = [str(p) for p in inputs]
    if not inputs:
        return "—"
    if len(inputs) == 1:
        p = Path(inputs[0])
        return f"{p.name}/" if p.is_dir() else p.name
    parents = {str(Path(p).parent) for p in inputs}
    if len(parents) == 1:
        folder = Path(next(iter(parents))).name or next(iter(parents))
        return f"{folder}/ · {fmt.plural(len(inputs), 'file')}"
    if len(inputs) == 2:
        return ", ".join(Path(p).name for p in inputs)
    return f"{Path(inputs[0]).name} + {fmt.count(len(inputs) - 1)} more"


def progress_text(run) -> str:
    """'4 of 10 items' (or '4 items' when the run did not know its total)."""
    done = run.ok + run.failed
    if run.total:
        return f"{fmt.count(done)} of {fmt.plural(run.total, 'item')}"
    return fmt.plural(done, "item")


def run_title(run) -> str:
    """The run's name, or its model and start time."""
    return run.name or f"{run.model_name} · {when_text(run.started_at)}"


# ====================================================================== the store, one connection per call
def _store(store_path=None, readonly: bool = False):
    from desktop.engine.store import ResultStore

    return ResultStore(store_path, readonly=readonly)


def list_runs(limit: int = 50, *, store_path=None) -> list:
    """Past runs (RunSummary), newest first, at most ``limit`` (deleted ones left out)."""
    with _store(store_path) as store:
        return store.runs(limit)


def unfinished_runs(*, store_path=None) -> list:
    """The interrupted runs (RunSummary), newest first: they can be resumed."""
    with _store(store_path) as store:
        return store.unfinished()


def show_run(run_ref: str, *, store_path=None) -> dict:
    """Everything the run recorded when it started, with its current ``summary`` (``inferdesk history show``)."""
    with _store(store_path) as store:
        run = store.run(run_ref)
        meta = store.run_metadata(run.id)
        meta["summary"] = run.to_dict()
        return meta


# ====================================================================== open a past run
@dataclass
class OpenStep:
    """One stored chunk of the run being opened: its results (positions in run order) and the count so far."""

    batch: object  # ResultBatch
    done: int
    total: int


@dataclass
class RunOpened:
    """The end of opening a run (``open_run``'s return value)."""

    run: object  # RunSummary
    done: int
    total: int
    cancelled: bool


def open_run(run_ref: str, *, store_path=None, should_stop=None, pace=None):
    """Read a recorded run's results, one stored chunk at a time: a generator of :class:`OpenStep`.

    Each non-empty chunk is one step, a ResultBatch decoded from its columns (SQLite,
    ``np.load``, one JSON header) without a Python object per row. The generator returns
    (``StopIteration.value``) a :class:`RunOpened`.

    Parameters
    ----------
    run_ref
        The run's id, or its first characters.
    should_stop
        Checked before each chunk; once it returns True no more are read (``cancelled``).
    pace
        An object with ``wait()`` (a :class:`desktop.runs.pacing.Pacer`), called right after
        each step is yielded: the window reads the next chunk only once it has shown the last.
    """
    stop = should_stop or (lambda: False)
    store = _store(store_path)
    chunks = None
    try:
        run = store.run(run_ref)
        total = run.ok + run.failed
        done = 0
        chunks = store.batches(run.id)
        while not stop():
            batch = next(chunks, None)
            if batch is None:
                break
            if not len(batch):
                continue
            done += len(batch)
            yield OpenStep(batch, done, max(total, done))
            if pace is not None:
                pace.wait()
        return RunOpened(run, done, max(total, done), cancelled=bool(stop()))
    finally:
        if chunks is not None:
            chunks.close()
        store.close()


# ====================================================================== resume an interrupted run
@dataclass
class ResumePlan:
    """What resuming an interrupted run needs; score ``items`` with ``engine``, skipping ``done``."""

    run: object  # RunSummary
    meta: dict  # store.run_metadata()
    engine: object  # the run's model with its recorded profile and settings
    items: list  # the run's recorded inputs, expanded
    done: set  # (input, row) of what already has a result (store.done_keys)
    warnings: tuple = ()  # what may be wrong though it can resume (labels that do not fit the model's output)


def _changed(name: str, recorded: str, now: str, what: str = "") -> RunRefused:
    return RunRefused(f"Cannot resume: {name}{what} has changed since this run scored with it (SHA-256 was "
                      f"{recorded[:12]}…, is now {now[:12]}…). Resuming would mix two models' results "
                      "in one run; score the inputs again as a new run instead.")


def _input_changed(path: str, recorded: str, now: str) -> RunRefused:
    return RunRefused(f"Cannot resume: the input {path} has changed since this run scored it (SHA-256 was "
                      f"{recorded[:12]}…, is now {now[:12]}…). Resuming would mix two versions of it in one run; "
                      "score it again as a new run instead.")


#: threads that hash the inputs a run has results for, before it is resumed (hashlib releases the GIL)
HASH_THREADS = 8


def prepare_resume(run_ref: str, *, store_path=None) -> ResumePlan:
    """Load an interrupted run's model as it was recorded, and what it has done already.

    The run's inputs are taken as recorded: by absolute path (runs recorded before paths were
    made absolute are read from the current folder). ``done`` holds only what belongs to these
    inputs, so what is left is never less than nothing. Every input the run has results for
    is hashed again and compared with the SHA-256 its results recorded (for a CSV, the
    file's), and the model with its external data with the recorded ``weights_sha256``.

    Raises
    ------
    RunRefused
        The run finished already, or is still being scored by a live process; one of its
        inputs is no longer there, cannot be read, or has changed; or its model file is gone,
        cannot be read, or has a SHA-256 other than the recorded one, or its external data
        files have changed.
    EngineError
        The run is not in the history (StoreError), or its model cannot be loaded (ModelError).
    """
    from desktop.engine import Engine, SessionSettings, expand_inputs
    from desktop.engine.inputs.dicomseries import choose_for_profile
    from desktop.engine.model import model_warnings, sha256_file
    from desktop.engine.profile import profile_from_dict
    from desktop.engine.store import open_ended

    with _store(store_path) as store:
        run = store.run(run_ref)
        meta = store.run_metadata(run.id)
        if run.status == "finished":
            raise RunRefused(f"The run {run_title(run)} has finished already; there is nothing left to score.")
        if run.status == "running":  # its process still runs (store.resume_run checks again as it takes the run)
            raise RunRefused(f"The run {run_title(run)} is still being scored, by another process; wait until it "
                             "has finished, or stop it, before resuming it.")
        kind = open_ended(meta)
        if kind == "watch":
            watched = (meta.get("output") or {}).get("watch")
            raise RunRefused(f"The run {run_title(run)} watched {watched}; a watch has no end to resume. Watch the "
                             "folder again (inferdesk watch MODEL FOLDER): the files this run scored are not "
                             "scored again.")
        if kind == "served":
            raise RunRefused(f"The run {run_title(run)} recorded the requests a server answered; there is nothing "
                             "left to score. Serve the model again (inferdesk serve MODEL) for new requests.")
        inputs = [os.path.abspath(p) for p in meta.get("inputs") or []]
        _check_inputs_present(meta.get("inputs") or [])
        model = meta["model"]
        model_path = model["path"]
        name = os.path.basename(model_path)
        if not os.path.isfile(model_path):
            raise RunRefused(f"Cannot resume: the model file {model_path} is no longer there. Put it back, "
                             "or score the inputs again as a new run.")
        try:
            sha = sha256_file(model_path)
        except OSError as exc:
            raise RunRefused(f"Cannot resume: the model file {model_path} cannot be read "
                             f"({exc.strerror or exc}).") from exc
        if sha != model["sha256"]:
            raise _changed(name, model["sha256"], sha)
        engine = Engine(model_path, profile=profile_from_dict(meta["profile"]),
                        settings=SessionSettings(**meta["settings"]))
        if engine.info.sha256 != model["sha256"]:  # replaced while it loaded
            raise _changed(name, model["sha256"], engine.info.sha256)
        recorded = model.get("weights_sha256")  # None for a run recorded before weights were hashed
        if recorded and engine.info.weights_sha256 != recorded:
            files = ", ".join(engine.info.external_data) or "none now"
            raise _changed(name, recorded, engine.info.weights_sha256,
                           f" with its weights (external data: {files})")
        engine.profile_source = f"as recorded with run {run.id}"
        items, _ = choose_for_profile(expand_inputs(inputs), engine.profile.dicom)  # the series the run scored
        paths = {item.path for item in items}
        # keys of the results recorded relative to the folder the run started in (before paths were absolute)
        # are made absolute from this one, where the relative inputs were found
        done = {(p, row) for p, row in ((os.path.abspath(p), row) for p, row in store.done_keys(run.id))
                if p in paths}
        recorded_inputs = store.input_hashes(run.id)
    _check_input_hashes({os.path.abspath(p): shas for p, shas in recorded_inputs.items()})
    warnings = model_warnings(engine.info, engine.profile, "the run's profile")
    return ResumePlan(run, meta, engine, items, done, tuple(warnings))


#: the formats ``inferdesk resume`` can append in (a JSON array cannot be appended to)
RESUME_FORMATS = ("jsonl", "csv")


@dataclass
class ResumeOutput:
    """How a resume writes the rest of a run: the run's recorded settings unless others were given."""

    format: str
    top_k: int
    out: str | None
    workers: int | None
    save_inputs: str | None
    notes: tuple = ()  # where the resume writes otherwise than the run did
    save_masks: str | None = None  # --save-masks' DIR
    cluster: str | None = None  # the Dask cluster the run was scored on (--cluster), None: this machine


def resume_output(meta: dict, *, top_k: int | None = None, fmt: str | None = None,
                  out: str | None = None) -> ResumeOutput:
    """The output settings of resuming the run whose metadata is ``meta`` (``store.run_metadata``).

    What is not given is the run's own (``meta["output"]``, recorded at its start; a run
    recorded before that has none: top 5, jsonl; a run written as json, which resume does
    not write, goes on as jsonl). A ``top_k`` other than the run's is refused: the run's
    results would have two shapes. A format other than the run's is noted: a file given as
    ``out`` is written whole (the stored results, then the rest) in the one format. The run's
    ``out`` is not taken by default (the rest goes where it is asked, standard output by default,
    as before); a note says where the run wrote.
    """
    recorded = meta.get("output") or {}
    notes = []
    own_k = recorded.get("top_k")
    if top_k is None:
        top_k = own_k or 5
    elif own_k is not None and top_k != own_k:
        raise RunRefused(f"Cannot resume with --top-k {top_k}: the run was scored with --top-k {own_k}, and its "
                         "results would have two shapes. Leave --top-k out to use the run's own.")
    own_fmt, own_out = recorded.get("format"), recorded.get("out")
    if fmt is None:
        fmt = own_fmt if own_fmt in RESUME_FORMATS else "jsonl"
    if own_fmt and fmt != own_fmt:
        fixed = "" if own_fmt in RESUME_FORMATS else ", which resume does not write"
        notes.append(f"the run wrote {own_fmt}{fixed}; {out or 'the rest'} is written {'whole ' if out else ''}as {fmt}")
    if out is None and own_out:
        notes.append(f"the run wrote its results to {own_out}; add --out {own_out} to write the whole run there")
    return ResumeOutput(fmt, top_k, out, recorded.get("workers"), recorded.get("save_inputs"), tuple(notes),
                        recorded.get("save_masks"), recorded.get("cluster"))


def _check_input_hashes(recorded: dict) -> None:
    """Refuse when an input the run has results for now has another SHA-256 (a CSV replaced, a scan overwritten).

    An input no longer there is left alone: its results are recorded with its hash, and
    nothing of it is scored again.
    """
    from concurrent.futures import ThreadPoolExecutor

    from desktop.engine.model import sha256_file

    paths = sorted(p for p in recorded if os.path.isfile(p))

    def now(path):
        try:
            return sha256_file(path), None
        except OSError as exc:
            return None, exc

    pool = ThreadPoolExecutor(max_workers=HASH_THREADS, thread_name_prefix="inferdesk-resume-hash")
    try:
        for path, (sha, exc) in zip(paths, pool.map(now, paths)):
            if exc is not None:
                raise RunRefused(f"Cannot resume: the input {path} cannot be read ({exc.strerror or exc}).") from exc
            if sha not in recorded[path]:
                raise _input_changed(path, min(recorded[path]), sha)
    finally:
        pool.shutdown(wait=True, cancel_futures=True)  # after a refusal, the files not yet begun are not read


def _check_inputs_present(recorded: list) -> None:
    """Refuse to resume when an input the run was started on is gone (it would be one failure, and the run finished)."""
    missing = [str(p) for p in recorded if not os.path.exists(p)]
    if not missing:
        return
    first = missing[0]
    more = f" (and {fmt.plural(len(missing) - 1, 'other input')})" if len(missing) > 1 else ""
    where = ("" if os.path.isabs(first) else
             f"; the run recorded it relative to the folder it was started in, and this is {os.getcwd()}: "
             "resume it from that folder")
    raise RunRefused(f"Cannot resume: the input {first}{more} that this run was started on is no longer "
                     f"there{where}. Put it back, or score what is there as a new run; the run stays as it "
                     "was, unfinished.")


# ====================================================================== export
@dataclass
class Exported:
    """What an export wrote: ``n`` results to ``path`` ('<stdout>' for a stream); ``left_out``: the DICOM
    fields its records withheld (patient-identifying ones and dates, without ``include_phi``)."""

    n: int
    path: str
    left_out: tuple = ()


def export_run(run_ref: str, target, *, fmt: str | None = None, store_path=None,
               exported_by: str = "InferDesk window", formula_guard: bool = True, with_conf: bool = True,
               include_phi: bool = False) -> Exported:
    """Write all of a run's results, in run order, with the run's provenance, and note the export in the trail.

    ``target`` is a path (a ``<path>.provenance.json`` sidecar beside csv and jsonl) or an
    open text stream (standard output: no sidecar). The format is ``fmt``, else the path's
    extension (:func:`desktop.engine.writers.format_for`; jsonl for a stream). The trail
    records it unless the store is open for reading only (a folder that cannot be written).
    ``coco`` and ``yolo`` (a detector's run only, to a path: a folder for yolo; ``with_conf``
    its score column) are :mod:`desktop.engine.detwriters`'. A run with review decisions gets each
    result's current one (csv: ``decision ... reviewed_at`` columns; jsonl, json: ``"decision"``). A DICOM input's record (jsonl, json) gets its
    header facts, read now, without the patient-identifying fields and dates unless ``include_phi``.
    """
    from desktop.engine import writers

    stream = hasattr(target, "write")
    if not stream:
        target = os.fspath(target)
    fmt = fmt or ("jsonl" if stream else writers.format_for(target))
    where = "<stdout>" if stream else str(target)
    with _store(store_path) as store:
        run = store.run(run_ref)
        prov = _with_drift(store, run.id, writers.run_provenance(store.run_metadata(run.id), exported_by))
        reviewed = store.reviews(run.id)  # the current decisions travel with the results (none: no columns)
        options = writers.RecordOptions(include_phi=include_phi,
                                        decisions={i: d.to_dict() for i, d in reviewed.items()} or None)
        with closing(store.batches(run.id)) as batches:
            n = writers.export(batches, target, fmt, prov, protect=store.path, formula_guard=formula_guard,
                               with_conf=with_conf, options=options)
        store.note_export(run.id, where, fmt)
    return Exported(n, where, tuple(options.left_out))


def _with_drift(store, run_id: str, prov: dict) -> dict:
    """``prov`` with ``"drift"``: the run's last recorded drift check, when it has one."""
    from .drift import latest_drift

    drift = latest_drift(store, run_id)
    if drift is not None:
        prov["drift"] = drift
    return prov


def export_results(batches, path, provenance: dict | None = None, *, formula_guard: bool = True,
                   fmt: str | None = None, conf: float | None = None, include_phi: bool = False,
                   left_out: list | None = None, decisions: dict | None = None) -> int:
    """Write results (the window's table: ResultBatch or Result objects, in its order) to ``path``.

    The format is ``fmt`` (``coco``, ``yolo`` for a detector's), else follows the extension;
    returns the number of results written. See :func:`desktop.runs.export.export`, which this is.
    """
    from .export import export

    return export(batches, path, provenance=provenance, formula_guard=formula_guard, fmt=fmt, conf=conf,
                  include_phi=include_phi, left_out=left_out, decisions=decisions)


def results_provenance(run_id: str | None, engine=None, *, store_path=None,
                       exported_by: str = "InferDesk window") -> dict | None:
    """Where exported results come from: the recorded run's provenance when ``run_id`` is in a readable
    history; else what ``engine`` tells (model, profile; ``run_id`` kept); else None (unknown)."""
    from desktop.engine import writers
    from desktop.engine.store import StoreError

    if run_id:
        try:
            with _store(store_path, readonly=True) as store:
                return _with_drift(store, run_id, writers.run_provenance(store.run_metadata(run_id), exported_by))
        except StoreError:
            pass  # not recorded (or the store cannot be read): say what is known
    if engine is None:
        return None
    return writers.engine_provenance(engine, None, exported_by, run_id=run_id)


def note_export(run_id: str, path, *, store_path=None, fmt: str | None = None) -> bool:
    """Record in the trail that run ``run_id``'s results were exported to ``path`` as ``fmt`` (else from its extension).

    False when the store is open for reading only (nothing recorded); StoreError propagates.
    """
    ext = os.path.splitext(str(path))[1].lower().lstrip(".")
    with _store(store_path) as store:
        return store.note_export(run_id, str(path), fmt or ("csv" if ext in ("csv", "tsv") else ext or "json"))


# ====================================================================== rename, delete, verify
def rename_run(run_ref: str, name: str, *, store_path=None):
    """Give a run a name (stripped); returns its RunSummary. An empty name is refused."""
    name = (name or "").strip()
    if not name:
        raise RunRefused("A run's name cannot be empty.")
    with _store(store_path) as store:
        run_id = store.run(run_ref).id
        store.rename(run_id, name)
        return store.run(run_id)


def delete_run(run_ref: str, *, store_path=None):
    """Delete a run's results and output files; returns the RunSummary it had.

    The audit trail keeps the run's start record and records the deletion (when, by whom).
    A run that is still being scored is refused.
    """
    with _store(store_path) as store:
        run = store.run(run_ref)
        if run.status == "running":
            raise RunRefused(f"The run {run_title(run)} is still running; wait until it has finished, or cancel "
                             "it, before deleting it.")
        store.delete(run.id)
        return run


def verify(*, store_path=None):
    """Check the results database against its audit trail (``verify_store``): a VerifyReport.

    A missing or damaged database is a failed report; one made by a newer InferDesk raises StoreError.
    """
    from desktop.engine.store import verify_store

    return verify_store(store_path)
