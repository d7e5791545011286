"""Writers: ResultBatches to jsonl, json and csv, streamed; the one projection every export uses.

``inferdesk score``, ``inferdesk resume``, ``inferdesk history export``, the window's Export
and the self-test all write through this module, so the three ways of exporting a run give
the same columns and values. A writer is opened on a text file, given batches as they come
(``write(batch)``) and closed; :func:`export` does all three for a list or an iterator.

- ``jsonl``: one line per item, its :meth:`ResultBatch.record` (the fields the README
  documents), plus ``input_sha256`` when the input was hashed for the history, and what the
  :data:`RECORD_FIELDS` hooks add: a DICOM input's ``dicom`` header facts, without the
  patient-identifying fields and dates unless :class:`RecordOptions` ``include_phi``; a reviewed
  result's current review ``decision`` (``{"decision", "label"/"value", "reason", "reviewer",
  "reviewed_at"}``) when :class:`RecordOptions` ``decisions`` is given.
- ``json``: ``{"provenance": {...}, "results": [record, ...]}``.
- ``csv``: one row per item. Columns: ``input, row, ok, error``; the task decoder's answer
  (``label, score, label_2, score_2 ...``, at most one pair per class; ``value`` or
  ``value_1 ...``); each model output flattened (``name``, ``name[i,j]``, ``name[label]`` for a
  probability map, ``<float32 84x8400>`` for an output of more than 32 values); the CSV's
  pass-through columns; ``decode_ms, preprocess_ms, infer_ms, postprocess_ms, total_ms,
  saved_input, input_sha256`` (and ``worker``, the host that scored the item, for a cluster run's);
  then what the :data:`CSV_COLUMNS` hooks add (a run with review
  decisions: ``decision, decision_label, decision_reason, reviewer, reviewed_at``, empty for a
  result not reviewed). An output column whose name is taken by one of those gets
  ``output.`` in front (``output.label``), a pass-through column whose name is taken
  ``input.`` (``input.row``); no other column is renamed. Booleans are ``true``/``false``,
  floats their shortest round-trip text (Python's ``repr``), timings rounded to 0.1 µs as in
  the jsonl record. A failed item leaves its answer and output cells empty. The columns are
  decided once, from the first batch that holds a scored item, so a run whose first item
  failed still gets the model's columns.

Provenance (run id and start, model file and SHA-256, profile hash, app version, export time)
is the ``json`` header block; for ``csv`` and ``jsonl`` written to a file it is a sidecar,
``<file>.provenance.json``, next to it (none for standard output).

Safety of what is written:

- A file is written under a temporary name in its folder and renamed over the file asked for
  only once it is complete (:class:`AtomicFile`), the sidecar too: a kill or a full disk never
  leaves half a file where a good one was. A failed write removes the temporary file.
- :func:`check_output` refuses a path that is, or is a link to, a file the run reads (an
  input, the model and its external data) or the results database (its ``-wal``, ``-shm`` and
  ``blobs/``); :func:`export` always checks, the command line checks before it scores.
- CSV text cells that a spreadsheet would run as a formula (beginning with ``=``, ``+``,
  ``-``, ``@``, a tab or a carriage return, and not a number) get a ``'`` in front, as OWASP
  advises against CSV injection; ``formula_guard=False`` writes them as they are. Numbers are
  never changed.
- JSON text escapes DEL and the C1 control characters (``\\u0085``) as well as C0, so a record
  printed to a terminal cannot drive it; the values read back the same.
- An I/O error raised while writing names the file (``OSError.filename``).

CSV cells are made a column at a time: numbers are formatted from numpy columns, a column
that repeats one value along a batch (a CSV chunk's shared timings, the input's path) is
formatted once per run of equal values, a float column equal in places to one already
formatted (the top score and the probability it came from) reuses that text, and rows are
joined once per batch.
"""

from __future__ import annotations

import json
import os
import queue
import re
import secrets
import shutil
import stat
import threading
import weakref
from dataclasses import dataclass, field
from datetime import datetime, timezone

import numpy as np

from .. import __version__
from .errors import EngineError
from .profile import Task

FORMATS = ("jsonl", "json", "csv")
DETECTION_FORMATS = ("coco", "yolo")  # a detector's results only: desktop.engine.detwriters
HEAD_COLUMNS = ("input", "row", "ok", "error")
TIMING_COLUMNS = ("decode_ms", "preprocess_ms", "infer_ms", "postprocess_ms", "total_ms")
TAIL_COLUMNS = TIMING_COLUMNS + ("saved_input", "input_sha256")
OUTPUT_PREFIX = "output."  # an output column whose name another column has
INPUT_PREFIX = "input."  # a pass-through column whose name another column has
MAX_FLAT = 32  # outputs of more values per item are summarised as '<dtype shape>'
SIDECAR_SUFFIX = ".provenance.json"
_PENDING_LIMIT = 65536  # failed items held back while waiting for a scored one to set the columns
_NO_ROW = -1


class OutputRefused(EngineError):
    """An output path that would be written over something the run reads or the history keeps."""


# ---------------------------------------------------------------------------------------- safe files
def _named(exc, name):
    """``exc`` with ``name`` as its file name when it is an OSError that names none (a write's ENOSPC)."""
    if name and isinstance(exc, OSError) and not exc.filename:
        try:
            exc.filename = os.fspath(name)
        except (AttributeError, TypeError):
            pass
    return exc


def store_files(db_path) -> list:
    """(path, what, is_folder) of the results database ``db_path``: the file, its journals, its blobs folder."""
    db = os.fspath(db_path)
    what = "the results database"
    return ([(db, what, False)] + [(db + suffix, f"{what}'s {suffix[1:]} file", False)
                                   for suffix in ("-wal", "-shm", "-journal")]
            + [(os.path.join(os.path.dirname(db), "blobs"), f"{what}'s output files folder", True)])


def _default_store():
    from .store import default_path  # the store imports nothing of this module

    try:
        return default_path()
    except Exception:  # noqa: BLE001 - no platform folder known: nothing more to protect
        return None


def _key(path) -> str:
    return os.path.normcase(os.path.realpath(os.fspath(path)))


def protected_files(*, model=None, store=None) -> list:
    """(path, what, is_folder) of everything :func:`check_output` never writes over, but the run's inputs."""
    protected = []
    for db in {_key(p): p for p in (store, _default_store()) if p is not None}.values():
        protected += store_files(db)
    if model is not None:
        from .profile import sidecar_paths

        protected.append((model.path, "the model", False))
        folder = os.path.dirname(os.path.realpath(model.path))
        protected += [(os.path.join(folder, rel), "the model's external data", False) for rel in model.external_data]
        protected += [(str(p), "the model's profile", False) for p in sidecar_paths(model.path)]
    return protected


def check_output(path, *, model=None, inputs=(), store=None) -> None:
    """Refuse to write ``path`` (or its provenance sidecar) over what a run reads or the history keeps.

    The protected files are the results database ``store`` and the default one
    (``ResultStore()``'s, under ``$INFERDESK_DATA_DIR``) with their ``-wal``, ``-shm`` and
    ``-journal`` files and anything under their ``blobs/`` folder; the model (``model``, a
    ModelInfo), its external-data files and its profile sidecars; and ``inputs`` (the files a
    run reads, folders expanded, and a profile given). A path is refused when it resolves to
    one of them (``os.path.realpath``, symbolic links followed) or is the same file (the same
    device and inode: a hard link). A folder, or a file in a folder that does not exist, is
    refused too. Nothing is written here.

    Raises
    ------
    OutputRefused
        With one line naming the path and what it is.
    """
    out = os.fspath(path)
    targets = [out, sidecar_path(out)]
    protected = protected_files(model=model, store=store)
    if os.path.isdir(out):
        raise OutputRefused(f"Will not write results to {out}: it is a folder; name a file")
    for target in targets:
        real = _key(target)
        try:
            st = os.stat(target)
        except OSError:
            st = None
        for p, what, is_folder in protected:
            pk = _key(p)
            if real == pk or (is_folder and real.startswith(pk.rstrip(os.sep) + os.sep)) or (
                    st is not None and not is_folder and _same_file(st, p)):
                inside = " (a file inside it)" if is_folder and real != pk else ""
                raise OutputRefused(f"Will not write results to {target}: it is {what}, {p}{inside}; "
                                    "choose another file")
        if st is None:
            continue  # a file that does not exist yet is none of the inputs
        for p in inputs:
            if _same_file(st, p):
                raise OutputRefused(f"Will not write results to {target}: it is a file this run reads, "
                                    f"{os.fspath(p)}; choose another file")
    folder = os.path.dirname(os.path.abspath(out))
    if not os.path.isdir(folder):
        raise OutputRefused(f"Cannot write results to {out}: there is no folder {folder}")


def check_output_folder(path, what: str, *, model=None, inputs=(), store=None) -> str:
    """Refuse a folder output (YOLO labels, mask PNGs) that is a file, or that is, holds or lies in what a run
    reads or the history keeps (:func:`protected_files`, ``inputs``); its sidecar as :func:`check_output`.

    ``what`` names the output in the message ("YOLO labels", "masks"). Whether an existing folder's
    contents may be replaced is the caller's rule. Returns the path as given.
    """
    out = os.fspath(path)
    check_output(sidecar_path(out), model=model, inputs=inputs, store=store)
    if os.path.exists(out) and not os.path.isdir(out):
        raise OutputRefused(f"Will not write {what} to {out}: it is a file; name a folder")
    real = _key(out)
    below = real.rstrip(os.sep) + os.sep
    for p, kind, is_folder in protected_files(model=model, store=store):
        pk = _key(p)
        if real == pk or pk.startswith(below) or (is_folder and real.startswith(pk.rstrip(os.sep) + os.sep)):
            raise OutputRefused(f"Will not write {what} to {out}: it is or holds {kind}, {p}; choose another folder")
    for p in inputs:
        pk = _key(p)
        if pk == real or pk.startswith(below):
            raise OutputRefused(f"Will not write {what} to {out}: it holds a file this run reads, {os.fspath(p)}; "
                                "choose another folder")
    return out


def _same_file(st, path) -> bool:
    try:
        other = os.stat(path)
    except (OSError, ValueError):
        return False
    return (other.st_dev, other.st_ino) == (st.st_dev, st.st_ino)


class AtomicFile:
    """A file made under a temporary name beside ``path`` and renamed over it when complete.

    ``temp`` is created at once (empty, with the mode the file has, else the usual one);
    write it, then :meth:`commit` (flushed to disk, then ``os.replace``) or :meth:`discard`
    (removed). Until the commit, ``path`` keeps what it held: a killed process leaves only
    the temporary file, ``.<name>.<random>.tmp``. A symbolic link is written through (its
    target is replaced); a path that is not a regular file (``/dev/null``, a pipe) is written
    directly, and ``regular`` is False.
    """

    def __init__(self, path):
        self.path = os.fspath(path)
        target = os.path.realpath(self.path) if os.path.islink(self.path) else self.path
        try:
            st = os.stat(target)
        except FileNotFoundError:
            st = None
        except OSError as exc:
            raise _named(exc, self.path)
        self.regular = st is None or stat.S_ISREG(st.st_mode)
        self.target = target
        self.done = False
        if not self.regular:
            self.temp = target
            return
        folder, name = os.path.split(target)
        self.temp = os.path.join(folder, f".{name}.{secrets.token_hex(4)}.tmp")
        try:
            fd = os.open(self.temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0), 0o666)
        except OSError as exc:
            exc.filename = self.path  # the folder is missing or cannot be written: say the file asked for
            raise
        try:
            if st is not None:
                os.chmod(self.temp, stat.S_IMODE(st.st_mode))
        except OSError:
            pass
        finally:
            os.close(fd)

    def open(self):
        """The temporary file as text (UTF-8, line ends as written)."""
        try:
            return open(self.temp, "w", encoding="utf-8", newline="")
        except OSError as exc:
            raise _named(exc, self.path)

    def commit(self) -> None:
        """Put the temporary file on disk and in place of ``path``."""
        if self.done:
            return
        try:
            if self.regular:
                fd = os.open(self.temp, os.O_RDWR | getattr(os, "O_BINARY", 0))
                try:
                    os.fsync(fd)  # a full disk that only shows on flushing shows here, before the rename
                finally:
                    os.close(fd)
                os.replace(self.temp, self.target)
        except OSError as exc:
            exc.filename, exc.filename2 = self.path, None
            self.discard()
            raise
        self.done = True

    def discard(self) -> None:
        """Remove the temporary file; ``path`` is left as it was."""
        self.done = True
        if self.regular:
            try:
                os.unlink(self.temp)
            except OSError:
                pass

    def __enter__(self):
        return self

    def __exit__(self, kind, exc, tb):
        if kind is None:
            self.commit()
        else:
            self.discard()


_JSON_CONTROLS = re.compile(r"[\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069]")


def _json_safe(text: str) -> str:
    """JSON text with DEL, the C1 controls, the line separators and the bidirectional overrides escaped.

    ``json.dumps`` escapes only C0 (ESC included) unless it escapes everything beyond ASCII.
    """
    if _JSON_CONTROLS.search(text) is None:
        return text
    return _JSON_CONTROLS.sub(lambda m: f"\\u{ord(m.group()):04x}", text)


def dumps(obj, **options) -> str:
    """``json.dumps`` with ``ensure_ascii=False``, and DEL and the C1 controls escaped as well."""
    return _json_safe(json.dumps(obj, ensure_ascii=False, **options))


# ---------------------------------------------------------------------------------------- records
def record(batch, i: int) -> dict:
    """Item ``i``'s jsonl record: :meth:`ResultBatch.record`, plus ``input_sha256`` when known."""
    rec = batch.record(i)
    sha = batch.sha256_of(i)
    if sha is not None:
        rec["input_sha256"] = sha
    return rec


def records(batch, options: "RecordOptions | None" = None):
    """Every item's record, in order, with what the :data:`RECORD_FIELDS` hooks add to it."""
    options = options if options is not None else RecordOptions()
    added = [got for hook in RECORD_FIELDS if (got := hook(batch, options))]
    for i in range(len(batch)):
        rec = record(batch, i)
        for got in added:
            rec.update(got.get(i, ()))
        yield rec


@dataclass
class RecordOptions:
    """What a jsonl or json export's records carry beyond :meth:`ResultBatch.record`, and what they left out.

    ``include_phi``: a DICOM input's patient-identifying fields and dates are written (the
    command line's ``--include-phi``); by default they are left out, and ``left_out`` names
    them (keys in the order met), for the export to say so.
    """

    include_phi: bool = False
    left_out: dict = field(default_factory=dict)
    #: a run's current review decisions, {result position: ReviewDecision.to_dict()}; None: no columns for them
    decisions: dict | None = None


#: hooks adding keys to each jsonl and json record (not CSV): f(batch, options) -> {item index: {key: value}},
#: or None when the batch has nothing for them; a hook notes in ``options.left_out`` what it withheld
RECORD_FIELDS: list = []


def dicom_fields(batch, options: RecordOptions):
    """A :data:`RECORD_FIELDS` hook: ``"dicom": {...}``, the header facts of each DICOM input, read now.

    The file is read as it is at export time (its header only); one that is gone or is not
    DICOM any more gets no ``dicom`` key. Without ``include_phi`` the identifying fields and
    the study date are left out (:meth:`~desktop.engine.inputs.dicomfacts.DicomFacts.record`).
    """
    dicom = [k for k, kind in enumerate(batch.source_kinds) if str(getattr(kind, "value", kind)) == "dicom"]
    if not dicom:
        return None
    from .inputs.dicomfacts import dicom_facts

    by_source = {}
    salt = None
    for k in dicom:
        facts = dicom_facts(batch.sources[k])
        if facts is None:
            continue
        kept, left_out = facts.record(options.include_phi)
        options.left_out.update(dict.fromkeys(left_out))
        if not options.include_phi:
            salt = _replaced_uids(kept, facts.identifying, salt)
        by_source[k] = {"dicom": kept}
    if not by_source:
        return None
    return {i: by_source[k] for i, k in enumerate(batch.source.tolist()) if k in by_source}


RECORD_FIELDS.append(dicom_fields)


def _replaced_uids(kept: dict, identifying: dict, salt):
    """``kept["replaced_uids"]``: the study, series and instance UIDs as the DICOM objects' de-identification
    replaces them (:func:`desktop.engine.dicom_deid.replace_uid`), so a record can be matched with its SEG, SR
    or Secondary Capture; left out when the salt cannot be read or made. Returns the salt (False: none)."""
    from .dicom_deid import installation_salt, replace_uid

    if salt is None:
        try:
            salt = installation_salt()
        except OSError:
            salt = False
    uids = {key: identifying[key] for key in ("StudyInstanceUID", "SeriesInstanceUID", "SOPInstanceUID")
            if key in identifying}
    if salt and uids:
        kept["replaced_uids"] = {key: replace_uid(uid, salt) for key, uid in uids.items()}
    return salt


def decision_fields(batch, options: RecordOptions):
    """A :data:`RECORD_FIELDS` hook: ``"decision": {...}``, the current review decision of each reviewed result."""
    if not options.decisions:
        return None
    got = options.decisions
    found = {i: {"decision": got[p]} for i, p in enumerate(batch.position.tolist()) if p in got}
    return found or None


RECORD_FIELDS.append(decision_fields)


class DecisionColumns:
    """A :data:`CSV_COLUMNS` hook: a run's review decisions as five columns (when the export has decisions)."""

    names = ("decision", "decision_label", "decision_reason", "reviewer", "reviewed_at")

    def columns(self, options: RecordOptions) -> tuple:
        return self.names if options.decisions is not None else ()

    def cells(self, batch, options: RecordOptions) -> list:
        got = options.decisions or {}
        cols = [[""] * len(batch) for _ in self.names]
        for i, p in enumerate(batch.position.tolist()):
            d = got.get(p)
            if d is None:
                continue
            truth = d.get("label", d.get("value"))
            for col, v in zip(cols, (d["decision"], "" if truth is None else truth, d.get("reason", ""),
                                     d.get("reviewer", ""), d.get("reviewed_at", ""))):
                col[i] = v
        return cols


#: hooks adding CSV columns after the last of the fixed ones: each has ``columns(options)``, the names it adds
#: (none: an empty tuple), and ``cells(batch, options)``, one list of values per name, one value per item
CSV_COLUMNS: list = [DecisionColumns()]


# ---------------------------------------------------------------------------------------- provenance
def utc_now() -> str:
    """The time now, as the history records times (ISO 8601, UTC, milliseconds)."""
    return datetime.now(timezone.utc).isoformat(timespec="milliseconds")


def provenance(*, run_id: str | None, started_at: str | None, model_file: str | None, model_sha256: str | None,
               profile_sha256: str | None, exported_by: str) -> dict:
    """Where an export came from: the run, its model and profile, this app, and when."""
    return {"app": "InferDesk", "app_version": __version__, "exported_at": utc_now(), "exported_by": exported_by,
            "run_id": run_id, "run_started_at": started_at,
            "model": {"file_name": model_file, "sha256": model_sha256}, "profile_sha256": profile_sha256}


def run_provenance(meta: dict, exported_by: str) -> dict:
    """Provenance of a run in the history, from what it recorded when it started (``store.run_metadata``)."""
    model = meta.get("model") or {}
    return provenance(run_id=meta.get("id"), started_at=meta.get("started_at"), model_file=model.get("file_name"),
                      model_sha256=model.get("sha256"), profile_sha256=meta.get("profile_sha256"),
                      exported_by=exported_by)


def engine_provenance(engine, started_at: str | None, exported_by: str, run_id: str | None = None) -> dict:
    """Provenance of a run scored by ``engine`` that the history does not keep (``--no-history``)."""
    return provenance(run_id=run_id, started_at=started_at, model_file=engine.info.file_name,
                      model_sha256=engine.info.sha256, profile_sha256=engine.profile.sha256(),
                      exported_by=exported_by)


def sidecar_path(path) -> str:
    return f"{os.fspath(path)}{SIDECAR_SUFFIX}"


def write_sidecar(path, prov: dict, fmt: str, rows: int, columns=None, appended: bool = False) -> str:
    """Write ``<path>.provenance.json`` for an export to ``path`` (atomically); return the sidecar's path.

    When rows were appended to an earlier export of the same run (``export(..., append=True)``),
    the row count adds to the one the sidecar already gave.
    """
    side = sidecar_path(path)
    doc = dict(prov)
    doc.update(format=fmt, file=os.path.basename(os.fspath(path)), rows=rows)
    if columns is not None:
        doc["columns"] = list(columns)
    if appended:
        try:
            with open(side, encoding="utf-8") as fh:
                before = json.load(fh)
            if before.get("run_id") == prov.get("run_id") and isinstance(before.get("rows"), int):
                doc["rows"] = before["rows"] + rows
                doc["first_exported_at"] = before.get("first_exported_at", before.get("exported_at"))
        except (OSError, ValueError):
            pass
    with AtomicFile(side) as target:
        try:
            with open(target.temp, "w", encoding="utf-8", newline="\n") as fh:
                fh.write(dumps(doc, indent=1) + "\n")
        except OSError as exc:
            raise _named(exc, side)
    return side


# ---------------------------------------------------------------------------------------- writers
class JsonlWriter:
    """One JSON record per line."""

    format = "jsonl"

    def __init__(self, fh, options: RecordOptions | None = None):
        self.fh = fh
        self.rows = 0
        self.options = options if options is not None else RecordOptions()

    def write(self, batch) -> None:
        to_json = json.dumps
        self.fh.write(_json_safe("".join([to_json(rec, ensure_ascii=False) + "\n"
                                          for rec in records(batch, self.options)])))
        self.rows += len(batch)

    def close(self) -> None:
        pass


class JsonWriter:
    """``{"provenance": {...}, "results": [...]}``, one record per line inside the list."""

    format = "json"

    def __init__(self, fh, provenance: dict | None = None, options: RecordOptions | None = None):
        self.fh = fh
        self.rows = 0
        self.closed = False
        self.options = options if options is not None else RecordOptions()
        fh.write('{"provenance": ' + dumps(provenance or {}) + ',\n "results": [')

    def write(self, batch) -> None:
        to_json = json.dumps
        parts = [(",\n  " if self.rows + k else "\n  ") + to_json(rec, ensure_ascii=False)
                 for k, rec in enumerate(records(batch, self.options))]
        self.fh.write(_json_safe("".join(parts)))
        self.rows += len(batch)

    def close(self) -> None:
        if not self.closed:
            self.fh.write("\n ]}\n" if self.rows else "]}\n")
            self.closed = True


class CsvWriter:
    """CSV (or TSV with ``delimiter='\\t'``), columns decided by the first batch with a scored item.

    ``formula_guard`` (the default) puts a ``'`` before each text cell, header names included,
    that a spreadsheet would take for a formula (see :func:`guard_formulas`); numbers are
    never changed.
    """

    format = "csv"

    def __init__(self, fh, delimiter: str = ",", header: bool = True, line_end: str = "\r\n",
                 formula_guard: bool = True, options: RecordOptions | None = None):
        self.fh = fh
        self.options = options if options is not None else RecordOptions()
        self.delimiter = delimiter
        self.line_end = line_end
        self.header = header
        self.formula_guard = formula_guard
        self.layout: _Layout | None = None
        self.rows = 0
        self._pending: list = []
        self._pending_rows = 0

    @property
    def columns(self) -> list[str] | None:
        return None if self.layout is None else list(self.layout.names)

    def write(self, batch) -> None:
        if not len(batch):
            return
        if self.layout is None:
            if not batch.n_ok and self._pending_rows < _PENDING_LIMIT:
                self._pending.append(batch)
                self._pending_rows += len(batch)
                return
            self._start(batch)
        self._emit(batch)

    def close(self) -> None:
        if self.layout is None:
            self._start(self._pending[0] if self._pending else None)

    def _start(self, batch) -> None:
        self.layout = _Layout(batch, self.options)
        if self.header:
            names = list(self.layout.names)
            if self.formula_guard:
                names = guard_formulas(names)
            self.fh.write(self.delimiter.join(_quoted(names, self.delimiter)) + self.line_end)
        pending, self._pending = self._pending, []
        for b in pending:
            self._emit(b)

    def _emit(self, batch) -> None:
        self.fh.write(_BatchCells(batch, self.layout, self.delimiter, self.formula_guard,
                                  self.options).text(self.line_end))
        self.rows += len(batch)


class BackgroundWriter:
    """Runs a writer on its own thread: a batch is formatted and written while the next one is made.

    ``write`` hands the batch over (waiting while ``depth`` batches are queued) and returns;
    the thread writes it and flushes the file. The file belongs to the thread until
    :meth:`close`, which waits for everything queued and closes the inner writer. What the
    thread met (a full disk, a closed pipe) is raised by every later ``write``, or by
    ``close`` when no ``write`` has raised it yet; an OSError that names no file is given
    ``name`` (the file the user asked for, or "standard output").
    """

    def __init__(self, writer, fh, depth: int = 2, name: str | None = None):
        self.writer = writer
        self.fh = fh
        self.name = name
        self._queue = queue.Queue(maxsize=depth)
        self._error: BaseException | None = None
        self._raised = False
        self._thread = threading.Thread(target=self._run, name="inferdesk-writer", daemon=True)
        self._thread.start()

    @property
    def format(self) -> str:
        return self.writer.format

    @property
    def rows(self) -> int:
        return self.writer.rows

    @property
    def columns(self):
        return getattr(self.writer, "columns", None)

    def write(self, batch) -> None:
        if self._error is not None:
            self._raised = True
            raise self._error
        if not self._thread.is_alive():
            raise ValueError("write to a closed writer")
        self._queue.put(batch)

    def _run(self) -> None:
        while True:
            batch = self._queue.get()
            if batch is None:
                return
            if self._error is not None:
                continue  # keep taking batches so that write() never waits on a full queue
            try:
                self.writer.write(batch)
                self.fh.flush()
            except BaseException as exc:  # noqa: BLE001 - handed to the caller by write() and close()
                self._error = _named(exc, self.name)

    def close(self) -> None:
        if self._thread.is_alive():
            self._queue.put(None)
            self._thread.join()
        if self._error is not None:
            if not self._raised:
                self._raised = True
                raise self._error
            return
        try:
            self.writer.close()
            self.fh.flush()
        except OSError as exc:
            self._raised = True
            self._error = _named(exc, self.name)
            raise


class ProcessWriter:
    """Runs a writer in a child process that owns the output file: formatting never waits for the GIL.

    The CLI's main thread scores and records while a reader thread parses the next CSV chunk;
    formatting a million rows of text in a third thread of the same process made all three
    take turns on one interpreter lock. Batches cross a pipe as numpy columns (pickled whole,
    not item by item); the pipe's buffer bounds how far scoring runs ahead. Same
    interface as :class:`BackgroundWriter`: what the child met (a full disk) is raised by
    a later ``write`` or by ``close``.

    The child can be started (:meth:`start`) before the output's details are known, so that
    its start-up overlaps the parent's loading of the model; :meth:`open` then names the file.

    Parameters
    ----------
    fmt, path, mode
        The format, and the file the child opens (``"w"``, or ``"a"`` to append).
    provenance, delimiter, header, formula_guard, options
        As for :func:`open_writer`; ``options.left_out`` is filled in when the writer closes.
    name
        The file named by an OSError that names none (the child may write a temporary file
        for it); default ``path``.
    """

    def __init__(self, fmt: str | None = None, path=None, mode: str = "w", provenance: dict | None = None, *,
                 delimiter: str = ",", header: bool = True, formula_guard: bool = True, name=None,
                 options: RecordOptions | None = None):
        self.format = fmt
        self.rows = 0
        self.columns = None
        self._error: BaseException | None = None
        self._raised = False
        self._proc = None
        self.name = None
        self.options = None
        if fmt is not None:
            self.open(fmt, path, mode, provenance, delimiter=delimiter, header=header, formula_guard=formula_guard,
                      name=name, options=options)

    @classmethod
    def start(cls) -> "ProcessWriter":
        """Start the child now; :meth:`open` later tells it what to write."""
        self = cls()
        self._spawn()
        return self

    def _spawn(self) -> None:
        import multiprocessing as mp

        ctx = mp.get_context("spawn")  # never fork a process that runs onnxruntime's and the reader's threads
        self._conn, child = ctx.Pipe()
        self._proc = ctx.Process(target=_write_in_child, args=(child,), name="inferdesk-writer", daemon=True)
        self._proc.start()
        child.close()
        _live_process_writers.add(self)
        _end_writers_at_exit()

    def _end(self) -> None:
        """At exit, a writer never closed: its pipe is closed, so its process ends (it ignores SIGTERM)."""
        proc, self._proc = self._proc, None
        if proc is None:
            return
        self._conn.close()
        proc.join(5)
        if proc.is_alive():
            proc.kill()
            proc.join(5)

    def open(self, fmt: str, path, mode: str = "w", provenance: dict | None = None, *, delimiter: str = ",",
             header: bool = True, formula_guard: bool = True, name=None,
             options: RecordOptions | None = None) -> "ProcessWriter":
        if self._proc is None:
            self._spawn()
        self.format = fmt
        self.name = os.fspath(name if name is not None else path)
        self.options = options if options is not None else RecordOptions()
        self._send(("open", fmt, os.fspath(path), mode, provenance, delimiter, header, formula_guard, self.name,
                    self.options.include_phi))
        return self

    def _check(self) -> None:
        if self._error is None and self._conn.poll():
            self._take(self._conn.recv())
        if self._error is not None:
            self._raised = True
            raise self._error

    def _take(self, msg) -> None:
        kind, *rest = msg
        if kind == "error":
            self._error = _named(rest[0], self.name)
        elif kind == "done":
            self.rows, self.columns, left_out = rest
            if self.options is not None:
                self.options.left_out.update(dict.fromkeys(left_out))  # what the child's records withheld

    def _send(self, msg) -> None:
        try:
            self._conn.send(msg)
        except (BrokenPipeError, OSError):
            self._error = self._error or OSError(f"the writing process ended unexpectedly "
                                                 f"(exit code {self._proc.exitcode})")
            self._raised = True
            raise self._error from None

    def write(self, batch) -> None:
        self._check()
        self._send(batch.without_features())  # a CSV's values are not written, so they are not sent

    def close(self) -> None:
        if self._proc is None:
            return
        try:
            self._conn.send(None)
            while True:  # everything queued is written, then the child says how many rows
                msg = self._conn.recv()
                self._take(msg)
                if msg[0] == "done":
                    break
        except (EOFError, BrokenPipeError, OSError):
            if self._error is None and self.format is not None:
                self._error = OSError(f"the writing process ended unexpectedly (exit code {self._proc.exitcode})")
        finally:
            self._proc.join(10)
            if self._proc.is_alive():
                self._proc.kill()  # it ignores SIGTERM (see _write_in_child)
                self._proc.join(5)
            self._proc = None
            self._conn.close()
            _live_process_writers.discard(self)
        if self._error is not None and not self._raised:
            self._raised = True
            raise self._error


_live_process_writers: "weakref.WeakSet[ProcessWriter]" = weakref.WeakSet()
_exit_hook = []


def _end_writers_at_exit() -> None:
    """Register, once, the exit hook that ends the processes of writers left open.

    Registered after ``multiprocessing`` is imported, it runs before multiprocessing's own
    exit hook (atexit runs last-registered first), which would SIGTERM each daemonic child and
    then wait for it: ours ignore SIGTERM, and wait for their pipe to close.
    """
    if not _exit_hook:
        import atexit

        atexit.register(lambda: [w._end() for w in list(_live_process_writers)])
        _exit_hook.append(True)


def _write_in_child(conn) -> None:
    """The writing process: open the file it is told, write each batch received, report rows and columns.

    Ctrl+C and SIGTERM, which a terminal or a service manager sends to the whole process
    group, are left to the parent: it finishes the run and closes the pipe, which ends this.
    """
    import signal

    for sig in (signal.SIGINT, getattr(signal, "SIGTERM", None)):
        if sig is not None:
            try:
                signal.signal(sig, signal.SIG_IGN)
            except (OSError, ValueError):
                pass
    error = None
    writer = fh = None
    name = None
    options = RecordOptions()
    while True:
        try:
            msg = conn.recv()
        except (EOFError, OSError):
            return  # the parent is gone
        if msg is None:
            break
        if isinstance(msg, tuple) and msg and msg[0] == "open":
            _, fmt, path, mode, provenance, delimiter, header, formula_guard, name, include_phi = msg
            options = RecordOptions(include_phi)
            try:
                fh = open(path, mode, encoding="utf-8", newline="")
                writer = open_writer(fmt, fh, provenance, delimiter=delimiter, header=header,
                                     formula_guard=formula_guard, options=options)
            except BaseException as exc:  # noqa: BLE001 - reported to the parent
                error = _named(exc, name)
                conn.send(("error", error))
            continue
        if error is not None or writer is None:
            continue  # keep draining, so the parent never blocks on a full pipe
        try:
            writer.write(msg)
        except BaseException as exc:  # noqa: BLE001 - reported to the parent
            error = _named(exc, name)
            conn.send(("error", error))
    try:
        if writer is not None and error is None:
            writer.close()
        if fh is not None:
            fh.close()
    except BaseException as exc:  # noqa: BLE001 - reported to the parent
        if error is None:
            conn.send(("error", _named(exc, name)))
    conn.send(("done", writer.rows if writer is not None else 0, getattr(writer, "columns", None),
               list(options.left_out)))


def open_writer(fmt: str, fh, provenance: dict | None = None, *, delimiter: str = ",", header: bool = True,
                formula_guard: bool = True, options: RecordOptions | None = None):
    """A writer of format ``fmt`` ('jsonl', 'json' or 'csv') on the open text file ``fh``.

    ``formula_guard`` (csv): a ``'`` before text cells a spreadsheet would run as formulas.
    ``options`` (jsonl, json): what the records carry (:class:`RecordOptions`), and what they left out.
    """
    if fmt == "jsonl":
        return JsonlWriter(fh, options)
    if fmt == "json":
        return JsonWriter(fh, provenance, options)
    if fmt == "csv":
        return CsvWriter(fh, delimiter=delimiter, header=header, formula_guard=formula_guard, options=options)
    raise ValueError(f"unknown format '{fmt}' (one of {', '.join(FORMATS)})")


def format_for(path) -> str:
    """The format a file name asks for: .csv/.tsv csv, .jsonl/.ndjson jsonl, anything else json."""
    ext = os.path.splitext(os.fspath(path))[1].lower()
    if ext in (".csv", ".tsv"):
        return "csv"
    if ext in (".jsonl", ".ndjson"):
        return "jsonl"
    return "json"


def delimiter_for(path) -> str:
    return "\t" if os.fspath(path).lower().endswith(".tsv") else ","


def export(batches, target, fmt: str | None = None, provenance: dict | None = None, append: bool = False, *,
           protect=None, formula_guard: bool = True, conf: float | None = None, with_conf: bool = True,
           options: RecordOptions | None = None) -> int:
    """Write ``batches`` (any iterable of ResultBatch) to a path or an open text file; return the items written.

    A path gets its format from ``fmt`` or its extension, and for csv and jsonl a provenance
    sidecar (``<path>.provenance.json``); an open file (standard output) gets no sidecar.
    ``append`` adds to an existing csv or jsonl file (a csv header is written only to an empty file).

    A path is checked first (:func:`check_output`: never the results database, the default one
    or ``protect``, a database path), then written through a temporary file renamed over it
    once complete (:class:`AtomicFile`); an error leaves what was there. ``formula_guard``:
    see :class:`CsvWriter`.

    ``coco`` (a file and its ``.images.json``) and ``yolo`` (a folder) are a detector's
    (:mod:`~desktop.engine.detwriters`): ``conf`` the threshold (default: the run's),
    ``with_conf`` YOLO's score column; neither can be appended to or go to a stream.
    ``masks`` (a new folder of label map PNGs and ``legend.json``) is a segmenter's
    (:mod:`~desktop.engine.maskwriters`). ``options`` (jsonl, json): :class:`RecordOptions`; after
    the export its ``left_out`` names the DICOM fields withheld.
    """
    prov = provenance if provenance is not None else provenance_unknown()
    if fmt == "masks":  # a segmenter's label map PNGs and legend, into a new folder
        from . import maskwriters

        if append:
            raise ValueError("a masks export cannot be appended to")
        return maskwriters.export(batches, target, prov, protect=protect, conf=conf)
    if fmt in DETECTION_FORMATS:
        from . import detwriters

        if append:
            raise ValueError(f"a {fmt} export cannot be appended to")
        return detwriters.export(batches, target, fmt, prov, protect=protect, conf=conf, with_conf=with_conf)
    if hasattr(target, "write"):
        fmt = fmt or "jsonl"
        writer = open_writer(fmt, target, prov, formula_guard=formula_guard, options=options)
        try:
            for batch in batches:
                writer.write(batch)
        finally:
            writer.close()
        return writer.rows
    path = os.fspath(target)
    fmt = fmt or format_for(path)
    if append and fmt == "json":
        raise ValueError("a JSON document cannot be appended to; use jsonl or csv")
    check_output(path, store=protect)
    had_rows = append and os.path.isfile(path) and os.path.getsize(path) > 0
    with AtomicFile(path) as out:
        try:
            if had_rows and out.regular:
                shutil.copyfile(path, out.temp)  # appended to a copy: the file is whole until the rename
            with open(out.temp, "a" if had_rows else "w", encoding="utf-8", newline="") as fh:
                writer = open_writer(fmt, fh, prov, delimiter=delimiter_for(path), header=not had_rows,
                                     formula_guard=formula_guard, options=options)
                try:
                    for batch in batches:
                        writer.write(batch)
                finally:
                    writer.close()
        except OSError as exc:
            raise _named(exc, path)
    if fmt != "json" and out.regular:
        write_sidecar(path, prov, fmt, writer.rows, getattr(writer, "columns", None), appended=had_rows)
    return writer.rows


def provenance_unknown(exported_by: str = "inferdesk") -> dict:
    """Provenance when the caller knows no run (results made in memory): this app and the time only."""
    return provenance(run_id=None, started_at=None, model_file=None, model_sha256=None, profile_sha256=None,
                      exported_by=exported_by)


# ---------------------------------------------------------------------------------------- CSV layout
class _Layout:
    """The CSV columns of one export: names in order, and what fills each (decided from one batch)."""

    def __init__(self, batch, options: RecordOptions | None = None):
        self.answer: list[str] = []
        self.outputs: list[tuple] = []  # (kind, output name, detail, [column index in names]) per output
        self.passthrough: list[str] = []
        names = list(HEAD_COLUMNS)
        if batch is not None:
            self.answer = [name for name, _ in batch.answer_columns()]
            self.passthrough = list(batch.passthrough)
        names += self.answer
        taken = set(names) | set(TAIL_COLUMNS)
        output_names = []
        if batch is not None:
            for name in _output_order(batch):
                spec = _output_spec(batch, name)
                if spec is None:
                    continue
                kind, detail, cols = spec
                where = []
                for col in cols:
                    col = _free(col, OUTPUT_PREFIX, taken)
                    taken.add(col)
                    where.append(len(names) + len(output_names))
                    output_names.append(col)
                self.outputs.append((kind, name, detail, where))
        names += output_names
        self.passthrough_names = []
        for col in self.passthrough:
            col = _free(col, INPUT_PREFIX, taken)
            taken.add(col)
            self.passthrough_names.append(col)
        names += self.passthrough_names
        # a segmenter's CSV gets mask_file (--save-masks' PNG) after saved_input
        self.mask_file = batch is not None and str(batch.task) == Task.SEGMENTATION.value
        tail = list(TAIL_COLUMNS)
        if self.mask_file:
            tail.insert(tail.index("saved_input") + 1, "mask_file")
        # a cluster run's: the host of the worker that scored each item, last of the tail
        self.worker = batch is not None and batch.host is not None
        if self.worker:
            tail.append(_free("worker", "extra.", set(names)))
        names += tail
        # what the CSV_COLUMNS hooks add, after everything else (a name taken gets "extra." in front)
        self.extra = []
        taken = set(names)
        for hook in CSV_COLUMNS:
            added = tuple(hook.columns(options)) if options is not None else ()
            if added:
                added = tuple(_free(col, "extra.", taken) for col in added)
                taken.update(added)
                self.extra.append(hook)
                names += added
        self.names = tuple(names)


def _free(name: str, prefix: str, taken: set) -> str:
    while name in taken:
        name = prefix + name
    return name


def _output_order(batch) -> list:
    seen = dict.fromkeys(batch.output_names)
    for d in (batch.maps, batch.outputs, batch.shared):
        seen.update(dict.fromkeys(d))
    return [n for n in seen if n in batch.maps or n in batch.outputs or n in batch.shared]


def _item_shape(batch, name):
    """(per-item shape, dtype) of output ``name`` in ``batch``; ragged outputs use their first scored item."""
    if name in batch.shared:
        a = np.asarray(batch.shared[name])
        return a.shape, a.dtype
    col = batch.outputs[name]
    if col.dtype == object:
        ok = np.flatnonzero(batch.ok)
        first = np.asarray(col[ok[0]] if len(ok) else col[0])
        return first.shape, first.dtype
    return col.shape[1:], col.dtype


def _output_spec(batch, name):
    """('map', labels, [name[label]...]) | ('flat', shape, [name] or [name[i,j]...]) | ('summary', None, [name])."""
    if name in batch.maps:
        labels = [str(x) for x in batch.maps[name][0]]
        return "map", labels, [f"{name}[{lab}]" for lab in labels]
    shape, _ = _item_shape(batch, name)
    size = int(np.prod(shape, dtype=np.int64))
    if size == 1:
        return "flat", tuple(shape), [name]
    if size <= MAX_FLAT:
        return "flat", tuple(shape), [f"{name}[{','.join(map(str, idx))}]" for idx in np.ndindex(*shape)]
    return "summary", None, [name]


def _summary_text(a) -> str:
    a = np.asarray(a)
    return f"<{a.dtype} {'x'.join(map(str, a.shape))}>"


# ---------------------------------------------------------------------------------------- CSV cells
class _Runs:
    """A column as runs of equal text: ``texts[k]`` fills rows ``starts[k]`` up to the next start."""

    __slots__ = ("starts", "texts", "n")

    def __init__(self, starts, texts, n):
        self.starts, self.texts, self.n = starts, texts, n

    def merge(self, other: "_Runs", sep: str) -> "_Runs":
        """The two columns side by side, as one column of runs (``a<sep>b``)."""
        if len(self.starts) == 1 and len(other.starts) == 1:
            return _Runs(self.starts, [self.texts[0] + sep + other.texts[0]], self.n)
        starts = np.union1d(self.starts, other.starts)
        ia = np.searchsorted(self.starts, starts, side="right") - 1
        ib = np.searchsorted(other.starts, starts, side="right") - 1
        a, b = self.texts, other.texts
        return _Runs(starts, [a[i] + sep + b[j] for i, j in zip(ia.tolist(), ib.tolist())], self.n)

    def expand(self) -> list:
        if len(self.starts) == 1:
            return [self.texts[0]] * self.n
        lengths = np.diff(np.append(self.starts, self.n))
        return np.repeat(np.array(self.texts, dtype=object), lengths).tolist()


def _const(text: str, n: int) -> _Runs:
    return _Runs(np.zeros(1, dtype=np.int64), [text], n)


def _few_runs(keys: np.ndarray, blank=None):
    """The starts of the runs of equal ``keys`` (and ``blank``) when there are few (1 in 8 rows), else None."""
    n = len(keys)
    if n < 2:
        return np.zeros(1, dtype=np.int64)
    change = keys[1:] != keys[:-1]
    if blank is not None:
        change |= blank[1:] != blank[:-1]
    change = np.flatnonzero(change)
    if len(change) > n // 8:
        return None
    return np.concatenate([[0], change + 1]).astype(np.int64)


def _run_texts(texts, starts, blank) -> list:
    """Each run's text, empty for the runs of ``blank`` rows."""
    if blank is None:
        return list(texts)
    return ["" if b else t for t, b in zip(texts, blank[starts].tolist())]


_NEEDS_QUOTES = ('"', "\n", "\r")
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
_FORMULA_ANYWHERE = re.compile("\n[=+\\-@\t\r]")


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def guard_formulas(texts: list) -> list:
    """The cells with a ``'`` in front of each that a spreadsheet would run as a formula (OWASP's advice).

    A cell is guarded when it begins with ``=``, ``+``, ``-``, ``@``, a tab or a carriage
    return and is not a number: ``=HYPERLINK(...)`` becomes ``'=HYPERLINK(...)``, ``-1.5``
    stays ``-1.5``. The list is returned as it is when no cell needs it.
    """
    if _FORMULA_ANYWHERE.search("\n" + "\n".join(texts)) is None:
        return texts
    return [("'" + t) if t[:1] in _FORMULA_START and not _is_number(t) else t for t in texts]


def _quoted(texts: list, delimiter: str) -> list:
    """The cells quoted where they must be (a delimiter, quote or line break inside), as the csv module does."""
    joined = "".join(texts)
    if delimiter not in joined and not any(c in joined for c in _NEEDS_QUOTES):
        return texts
    specials = (delimiter,) + _NEEDS_QUOTES
    return [('"' + t.replace('"', '""') + '"') if any(c in t for c in specials) else t for t in texts]


def _text(value) -> str:
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    if isinstance(value, (bool, np.bool_)):
        return "true" if value else "false"
    if isinstance(value, (float, np.floating)):
        return repr(float(value))
    if isinstance(value, np.integer):
        return str(int(value))
    return str(value)


class _BatchCells:
    """One batch's CSV rows, made column by column."""

    def __init__(self, batch, layout: _Layout, delimiter: str, formula_guard: bool = True,
                 options: RecordOptions | None = None):
        self.b = batch
        self.options = options
        self.n = len(batch)
        self.layout = layout
        self.delim = delimiter
        self.guard = guard_formulas if formula_guard else (lambda texts: texts)
        self.failed = None if batch.ok.all() else ~batch.ok  # rows whose answer and outputs stay empty
        self._floats: list = []  # (bits, texts) of the float columns made so far: equal values share text

    # ------------------------------------------------------------------ typed columns
    def floats(self, a, blank=None):
        a = np.ascontiguousarray(a, dtype=np.float64)
        n = self.n
        bits = a.view(np.int64)  # bit patterns: -0.0 and 0.0 differ, a NaN equals itself
        starts = _few_runs(bits, blank)
        if starts is not None:
            return _Runs(starts, _run_texts(map(float.__repr__, a[starts].tolist()), starts, blank), n)
        texts = None
        todo = None
        for seen_bits, seen_texts in self._floats:
            same = bits == seen_bits
            if todo is not None:
                same &= todo
            if not same.any():
                continue
            if texts is None:
                texts = np.empty(n, dtype=object)
                todo = np.ones(n, dtype=bool)
            texts[same] = seen_texts[same]
            todo &= ~same
            if not todo.any():
                break
        if texts is None:
            texts = np.array(list(map(float.__repr__, a.tolist())), dtype=object)
        elif todo.any():
            idx = np.flatnonzero(todo)
            texts[idx] = list(map(float.__repr__, a[idx].tolist()))
        self._floats.append((bits, texts))
        if blank is not None:
            texts = texts.copy()
            texts[blank] = ""
        return texts.tolist()

    def ints(self, a, blank=None):
        a = np.asarray(a)
        n = self.n
        starts = _few_runs(a, blank)
        if starts is not None:
            return _Runs(starts, _run_texts(map(str, a[starts].tolist()), starts, blank), n)
        lo, hi = int(a.min()), int(a.max())
        if hi - lo < n // 4:  # few distinct values (class ids): each formatted once
            table = np.array([str(v) for v in range(lo, hi + 1)], dtype=object)
            texts = table[(a - lo).astype(np.intp)]
        else:
            texts = np.array(list(map(str, a.tolist())), dtype=object)
        if blank is not None:
            texts[blank] = ""
        return texts.tolist()

    def bools(self, a, blank=None):
        keys = np.asarray(a, dtype=bool).astype(np.int8)
        if blank is not None:
            keys[blank] = 2
        table = ("false", "true", "")
        starts = _few_runs(keys)
        if starts is not None:
            return _Runs(starts, [table[k] for k in keys[starts].tolist()], self.n)
        return np.array(table, dtype=object)[keys].tolist()

    def texts(self, values, blank=None):
        texts = values.tolist() if isinstance(values, np.ndarray) else list(values)
        if set(map(type, texts)) != {str}:  # bytes, numbers, None: converted one by one
            texts = [v if type(v) is str else _text(v) for v in texts]
        texts = _quoted(self.guard(texts), self.delim)
        if blank is not None:
            for i in np.flatnonzero(blank).tolist():
                texts[i] = ""
        return texts

    def cells(self, a, blank=None):
        """A column of any dtype: floats, ints, booleans or text."""
        a = np.asarray(a)
        kind = a.dtype.kind
        if kind == "f":
            return self.floats(a, blank)
        if kind in "iu":
            return self.ints(a, blank)
        if kind == "b":
            return self.bools(a, blank)
        return self.texts(a, blank)

    def blank_column(self):
        return _const("", self.n)

    # ------------------------------------------------------------------ the row
    def by_source(self, texts_by_source: list):
        """A per-source text (the input's path, its hash) for every row."""
        texts = _quoted(self.guard(texts_by_source), self.delim)
        source = self.b.source
        starts = _few_runs(source)
        if starts is not None:
            return _Runs(starts, [texts[k] for k in source[starts].tolist()], self.n)
        return np.array(texts, dtype=object)[source].tolist()

    def sparse(self, d: dict):
        if not d:
            return self.blank_column()
        texts = [""] * self.n
        for i, v in d.items():
            texts[i] = str(v)
        return _quoted(self.guard(texts), self.delim)

    def head(self) -> list:
        b = self.b
        row = b.row
        images = row == _NO_ROW
        if images.all():
            rows = self.blank_column()
        else:
            rows = self.ints(row, images if images.any() else None)
        return [self.by_source(list(b.sources)), rows, self.bools(b.ok), self.sparse(b.errors)]

    def outputs(self) -> list:
        """Output columns, in layout order (a list with one entry per output column)."""
        b, n, blank = self.b, self.n, self.failed
        out = []
        for kind, name, detail, where in self.layout.outputs:
            if kind == "map":
                if name not in b.maps:
                    out += [self.blank_column()] * len(where)
                    continue
                labels, scores = b.maps[name]
                col_of = {str(lab): j for j, lab in enumerate(labels)}
                for lab in detail:
                    j = col_of.get(lab)
                    out.append(self.blank_column() if j is None else self.floats(scores[:, j], blank))
                continue
            if name in b.outputs:
                a = b.outputs[name]
            elif name in b.shared:
                v = np.asarray(b.shared[name])
                a = np.broadcast_to(v, (n,) + v.shape)
            else:
                out += [self.blank_column()] * len(where)
                continue
            if kind == "summary":
                if a.dtype == object:
                    texts = [_summary_text(v) for v in a]
                    out.append(self.texts(texts, blank))
                else:
                    text = _summary_text(a[0]) if n else ""
                    out.append(_const(text, n) if blank is None else self.texts([text] * n, blank))
                continue
            size = len(where)
            if a.dtype == object or a.shape[1:] != detail:
                out += self._ragged_flat(a, detail, size)
                continue
            flat = a.reshape(n, -1) if size else a.reshape(n, 0)
            for j in range(size):
                out.append(self.cells(flat[:, j], blank))
        return out

    def _ragged_flat(self, a, shape, size) -> list:
        """Outputs whose items differ in shape from the layout's: cells by item (a rare, slow path)."""
        cols = [[""] * self.n for _ in range(size)]
        for i in range(self.n):
            if not self.b.ok[i]:
                continue
            item = np.asarray(a[i])
            if item.shape != shape:
                if size == 1 and item.size == 1:
                    cols[0][i] = _text(item.reshape(-1)[0])
                continue
            for j, v in enumerate(item.reshape(-1).tolist()):
                cols[j][i] = _text(v)
        return [_quoted(self.guard(c), self.delim) for c in cols]

    def answer(self) -> list:
        have = dict(self.b.answer_columns()) if self.b.answer else {}
        return [self.cells(have[name], self.failed) if name in have else self.blank_column()
                for name in self.layout.answer]

    def passthrough(self) -> list:
        pt = self.b.passthrough
        return [self.texts(pt[name]) if name in pt else self.blank_column() for name in self.layout.passthrough]

    def tail(self) -> list:
        b = self.b
        t = np.round(b.timings, 4)
        cols = [self.floats(t[:, k]) for k in range(t.shape[1])]
        cols.append(self.floats(np.round(t.sum(axis=1), 4)))
        cols.append(self.sparse(b.saved_input))
        if self.layout.mask_file:
            cols.append(self.sparse(b.mask_file))
        cols.append(self.by_source(["" if s is None else s for s in b.source_sha256]))
        if self.layout.worker:
            hosts = np.asarray(list(b.hosts) + [""], dtype=object)
            cols.append(self.texts(hosts[b.host].tolist() if b.host is not None else [""] * self.n))
        return cols

    def text(self, line_end: str) -> str:
        outputs = self.outputs()  # before the answer, whose scores reuse the outputs' text
        cols = self.head() + self.answer() + outputs + self.passthrough() + self.tail()
        for hook in self.layout.extra:
            cols += [self.texts(values) for values in hook.cells(self.b, self.options)]
        merged: list = []
        for c in cols:
            if isinstance(c, _Runs) and merged and isinstance(merged[-1], _Runs):
                merged[-1] = merged[-1].merge(c, self.delim)
            else:
                merged.append(c)
        lists = [c.expand() if isinstance(c, _Runs) else c for c in merged]
        if len(lists) == 1:
            return line_end.join(lists[0]) + line_end
        return line_end.join(map(self.delim.join, zip(*lists))) + line_end
