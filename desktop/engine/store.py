"""The results store: results kept in columnar chunks as they are produced, with a hash-chained audit trail.

One database per user (``results.sqlite3`` in the platform's user data folder, or
``$INFERDESK_DATA_DIR``), in WAL mode so a killed process loses nothing that was committed.
The file is created readable by its owner only (0600).

Tables (schema 4)
-----------------
meta     schema_version; store_id (random, made with the store); v2_from_seq (the first trail
         record written by schema 2 or later: older ones are checked by the schema 1 rules);
         ledger_next and ledger_head (the next sequence number and the newest hash).
runs     one row per run: model, profile, settings, who, where, when, status, counts, and the
         run's lock: the process scoring it (``pid``, ``host``, and ``pid_start``, when that
         process started, so that a process given the same id later is not taken for it).
         Every column is also in the trail, and ``verify`` recomputes each row from it.
profiles each preprocessing profile once, as canonical JSON, keyed by its SHA-256 (which the
         run's start record holds): a profile of a million labels is stored once, not per run.
         Schema 3; runs recorded before keep theirs inside their start record.
chunks   the results, one row per chunk of up to 65,536 items: the run, the chunk's number, its
         first position and size, how many items succeeded, the ResultBatch as an ``.npz`` blob
         (without the CSV rows' feature values), each item's 64-bit checksum
         (``ResultBatch.item_digests``, as little-endian uint64 bytes), the chunk's SHA-256
         content digest, and ``files``: the outputs kept outside the blob.
results  schema 1's results, one JSON record per row; kept for runs a schema 1 release wrote.
reviews  a reviewer's decisions on results (schema 4): one row per decision, keyed by the trail
         record that holds it (``seq``): the run, the result's position (``idx``), ``accept``,
         ``override`` (with the correct ``label`` or ``value``) or ``flag``, the reason, the
         reviewer (the OS user) and the time. Every decision is kept; a result's latest is its
         current one. ``verify`` compares each row with its trail record.
ledger   the audit trail: the store's creation or upgrade, every run start, chunk, finish,
         resume, rename, review decision, export and deletion, in order.

A run is locked while its status is ``running`` and the process that holds it is alive (the
same id and, on Linux, the same start time; a process on another computer cannot be checked
and counts as alive): it cannot then be resumed or deleted, and a process whose run was
deleted or taken over cannot add to it. Each check is made inside the write that depends on it.

Dense outputs, whose per-item size exceeds ``DENSE_ELEMENTS`` elements (masks, detector
grids), are written as one ``.npy`` file per item, named by the SHA-256 of its bytes, under
``<data folder>/blobs/ab/<sha256>.npy`` (written atomically, 0600); the chunk keeps the hashes.

Chain rule
----------
Each ledger entry has ``content_hash`` and ``hash = SHA-256(prev_hash | kind | content_hash)``.
For schema 2 entries, ``content_hash`` is the SHA-256 of the canonical JSON of
``{seq, kind, run_id, ref, at, payload}``, so an entry's number, run, time and payload are
all covered; a chunk's payload holds its first position, size, ok count, content digest and
the SHA-256 of its item checksums. Schema 1 entries keep schema 1's rule: the payload alone,
or, for a result, its stored row. Sequence numbers are never reused (``meta.ledger_next``),
and a known head (store id, sequence number, hash) is kept outside the database too, in
``audit-anchors.json`` in the user's config folder (``$INFERDESK_CONFIG_DIR``): written when a
run finishes or is deleted (only if the head recorded before is still in the trail unchanged)
and after each intact ``verify``, so cutting off the newest records, rewriting the whole
chain, or replacing the file is noticed.

``verify`` reads everything inside one read transaction of its own connection, so a run
being scored meanwhile is seen as of one instant; it streams the trail and the chunks.
A store opened for writing runs ``PRAGMA quick_check`` first (the whole file up to
``FULL_CHECK_MAX_BYTES``, else its meta, runs and ledger tables) and is read-only when
damaged, made by a newer schema, or in a folder that cannot be written.
"""

from __future__ import annotations

import getpass
import hashlib
import io
import json
import os
import platform
import socket
import sqlite3
import sys
import threading
import urllib.parse
import uuid
from contextlib import contextmanager
from dataclasses import dataclass, replace
from datetime import datetime, timezone
from functools import lru_cache
from pathlib import Path

import numpy as np

from .. import __version__
from .errors import EngineError
from .model import sha256_file
from .profile import Task, atomic_write
from .resultbatch import ResultBatch, row_checksums
from .results import result_from_record

SCHEMA_VERSION = 4
GENESIS = "0" * 64
CHUNK_ITEMS = 65536  # items per chunk row at most
DENSE_ELEMENTS = 4096  # outputs with more elements per item than this go to files
FULL_CHECK_MAX_BYTES = 64 << 20  # opening for writing: a full quick_check up to this size, else meta, runs, ledger
#: how long a write waits for another program's lock on the database before it fails (StoreError)
BUSY_TIMEOUT_S = 30.0
ANCHOR_FILE = "audit-anchors.json"
_MAX_PROBLEMS = 50
_HEX = "0123456789abcdef"  # the digits of a run's id (uuid4().hex)

_TABLES = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT);
CREATE TABLE IF NOT EXISTS runs (
    id TEXT PRIMARY KEY,
    name TEXT,
    started_at TEXT NOT NULL,
    finished_at TEXT,
    status TEXT NOT NULL,
    model_name TEXT, model_path TEXT, model_sha256 TEXT, profile_sha256 TEXT, provider TEXT,
    inputs TEXT, total INTEGER, ok INTEGER NOT NULL DEFAULT 0, failed INTEGER NOT NULL DEFAULT 0,
    pid INTEGER, host TEXT, deleted INTEGER NOT NULL DEFAULT 0, pid_start TEXT
);
CREATE TABLE IF NOT EXISTS profiles (sha256 TEXT PRIMARY KEY, profile TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS ledger (
    seq INTEGER PRIMARY KEY, kind TEXT NOT NULL, run_id TEXT NOT NULL, ref INTEGER, at TEXT NOT NULL,
    payload TEXT, content_hash TEXT NOT NULL, prev_hash TEXT NOT NULL, hash TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS ledger_run ON ledger (run_id, kind);
CREATE TABLE IF NOT EXISTS chunks (
    run_id TEXT NOT NULL, chunk INTEGER NOT NULL, first_position INTEGER NOT NULL, n_items INTEGER NOT NULL,
    n_ok INTEGER NOT NULL, data BLOB NOT NULL, items BLOB NOT NULL, digest TEXT NOT NULL, files TEXT,
    PRIMARY KEY (run_id, chunk)
);
CREATE TABLE IF NOT EXISTS reviews (
    seq INTEGER PRIMARY KEY, run_id TEXT NOT NULL, idx INTEGER NOT NULL, decision TEXT NOT NULL,
    label TEXT, value REAL, reason TEXT NOT NULL, reviewer TEXT NOT NULL, at TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS reviews_run ON reviews (run_id, idx);
"""

#: what a reviewer can decide about a result
DECISIONS = ("accept", "override", "flag")
_REVIEW_COLS = ("decision", "label", "value", "reason", "reviewer", "at")

_RUN_COLS = ("id", "name", "started_at", "finished_at", "status", "model_name", "model_path", "model_sha256",
             "profile_sha256", "provider", "inputs", "total", "ok", "failed", "pid", "host", "deleted", "pid_start")


class StoreError(EngineError):
    """The results database cannot be opened or written."""


class StoreDamaged(StoreError):
    """The database file is damaged (SQLite's own checks fail); nothing is written into it."""


class StoreMissing(StoreError):
    """There is no results database where one was expected."""


class RunBusy(StoreError):
    """The run is still being scored by a live process: it cannot be resumed or deleted now."""


def default_data_dir() -> Path:
    """``$INFERDESK_DATA_DIR``, else the platform's user data folder for InferDesk."""
    env = os.environ.get("INFERDESK_DATA_DIR")
    if env:
        return Path(env)
    from platformdirs import user_data_dir

    return Path(user_data_dir("InferDesk", appauthor=False))


def default_config_dir() -> Path:
    """``$INFERDESK_CONFIG_DIR``, else the platform's user config folder: where the audit anchors live."""
    env = os.environ.get("INFERDESK_CONFIG_DIR")
    if env:
        return Path(env)
    from platformdirs import user_config_dir

    return Path(user_config_dir("InferDesk", appauthor=False))


def default_path() -> Path:
    return default_data_dir() / "results.sqlite3"


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="milliseconds")


def _canonical(obj) -> str:
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False)


def _sha(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def _chain(prev: str, kind: str, content_hash: str) -> str:
    return _sha(f"{prev}|{kind}|{content_hash}")


def _v2_content(seq: int, kind: str, run_id: str, ref, at: str, payload: str | None) -> str:
    """The text a schema 2 ledger entry's ``content_hash`` is the SHA-256 of."""
    return _canonical({"seq": seq, "kind": kind, "run_id": run_id, "ref": ref, "at": at, "payload": payload})


def _result_content(row) -> str:
    """The canonical text of a schema 1 result row, as hashed into the ledger."""
    run_id, idx, inp, r, ok, error, top_label, top_score, latency, sha, record = row
    return _canonical([run_id, idx, inp, r, bool(ok), error, top_label, top_score, latency, sha, record])


def _damaged_message(path, detail: str) -> str:
    detail = " ".join(part.strip() for part in str(detail).replace("*** in database main ***", "").split() if part)
    detail = detail if len(detail) <= 160 else detail[:157] + "..."
    return (f"The results database {path} is damaged ({detail}); InferDesk will not write into it. "
            f"Keep a copy, then recover what can be read with: sqlite3 {path} .recover | sqlite3 recovered.sqlite3 "
            "(and point INFERDESK_DATA_DIR at its folder), or move the file aside to start a new history")


def _is_damage(exc: sqlite3.Error) -> bool:
    text = str(exc).lower()
    return isinstance(exc, sqlite3.DatabaseError) and ("malformed" in text or "not a database" in text
                                                       or "corrupt" in text)


def _pid_alive(pid: int | None) -> bool:
    """Whether a process with this id runs on this computer (the writer of a run still 'running')."""
    if not pid:
        return False
    if os.name == "nt":  # pragma: no cover - Windows: os.kill(pid, 0) would send it CTRL_C_EVENT
        return _pid_alive_windows(pid)
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # PermissionError: it runs, as another user
        pass
    return True


@lru_cache(maxsize=1)
def _boot_id() -> str:
    try:
        return Path("/proc/sys/kernel/random/boot_id").read_text(encoding="ascii").strip()
    except OSError:
        return ""


def _process_start(pid: int) -> str | None:
    """When process ``pid`` started, as text that differs for a later process given the same id; None where unknown.

    On Linux: the boot's id and field 22 of ``/proc/<pid>/stat`` (the start time, in clock ticks
    after boot). Elsewhere None: liveness is then the process id alone.
    """
    if not sys.platform.startswith("linux"):
        return None
    try:
        stat = Path(f"/proc/{int(pid)}/stat").read_bytes()
        ticks = stat[stat.rindex(b")") + 2:].split()[19]  # the fields after the name begin at field 3
        return f"linux:{_boot_id()}:{int(ticks)}"
    except (OSError, ValueError, IndexError):
        return None


@lru_cache(maxsize=4)
def _own_start(pid: int) -> str | None:
    """This process's start (cached by its id, which a fork changes)."""
    return _process_start(pid)


def _owner_alive(pid: int | None, host: str | None, started: str | None) -> bool:
    """Whether the process that holds a run still runs: the same id alive and, where both are known, the same start.

    A process on another computer cannot be checked; it counts as alive.
    """
    if not pid:
        return False
    if host != socket.gethostname():
        return True
    if not _pid_alive(pid):
        return False
    if started:
        now = _own_start(pid) if pid == os.getpid() else _process_start(pid)
        if now is not None and now != started:
            return False  # the id was given to another process since
    return True


def _owner_text(run_id: str, pid, host) -> str:
    where = ("this computer" if host == socket.gethostname()
             else f"{host or 'another computer'} (InferDesk cannot tell from here whether it still runs)")
    return f"The run {run_id} is still being scored, by process {pid} on {where}"


def _pid_alive_windows(pid: int) -> bool:  # pragma: no cover - Windows only
    import ctypes

    PROCESS_QUERY_LIMITED_INFORMATION, STILL_ACTIVE, ERROR_ACCESS_DENIED = 0x1000, 259, 5
    kernel32 = ctypes.windll.kernel32
    handle = kernel32.OpenProcess(PROCESS_QUERY_LIMITED_INFORMATION, False, pid)
    if not handle:
        return kernel32.GetLastError() == ERROR_ACCESS_DENIED  # it runs, as another user
    try:
        code = ctypes.c_ulong()
        if not kernel32.GetExitCodeProcess(handle, ctypes.byref(code)):
            return True
        return code.value == STILL_ACTIVE
    finally:
        kernel32.CloseHandle(handle)


def open_ended(meta: dict) -> str | None:
    """``"watch"`` or ``"served"`` for a run that scored what came (a watched folder, a server's requests), else None."""
    output = meta.get("output") or {}
    return "watch" if output.get("watch") else "served" if output.get("served") else None


@dataclass(frozen=True, kw_only=True)
class RunSummary:
    """One run as the History view and ``inferdesk history`` list it."""

    id: str
    name: str | None
    started_at: str
    finished_at: str | None
    status: str  # running | finished | cancelled | interrupted
    model_name: str
    model_path: str
    model_sha256: str
    provider: str
    inputs: tuple
    total: int
    ok: int
    failed: int

    @property
    def title(self) -> str:
        return self.name or f"{self.model_name} · {self.started_at[:19].replace('T', ' ')}"

    def to_dict(self) -> dict:
        d = dict(self.__dict__)
        d["inputs"] = list(self.inputs)
        return d


@dataclass(frozen=True, kw_only=True)
class ReviewDecision:
    """A reviewer's decision on one result of a run, as the reviews table and its trail record hold it.

    ``decision`` is ``accept``, ``override`` (``label``, a class name, or ``value``, a number:
    what the result should have been) or ``flag``; ``reviewer`` is the OS user who decided and
    ``at`` when (ISO 8601, UTC). ``seq`` is the trail record that holds it.
    """

    run_id: str
    index: int
    decision: str
    label: str | None = None
    value: float | None = None
    reason: str = ""
    reviewer: str = ""
    at: str = ""
    seq: int = 0

    @property
    def truth(self):
        """What an override says the result should have been (its label, else its value); None otherwise."""
        if self.decision != "override":
            return None
        return self.label if self.label is not None else self.value

    def to_dict(self) -> dict:
        """The decision as an export's ``"decision"`` object (label or value only where given)."""
        d = {"decision": self.decision}
        if self.label is not None:
            d["label"] = self.label
        if self.value is not None:
            d["value"] = self.value
        d.update(reason=self.reason, reviewer=self.reviewer, reviewed_at=self.at)
        return d


@dataclass(frozen=True, kw_only=True)
class VerifyReport:
    """What ``verify`` found.

    ``state`` is ``intact``, ``broken`` (the trail and the data disagree: ``broken_seq`` and
    ``reason`` name the first place), ``damaged`` (SQLite's integrity check fails) or
    ``missing`` (no database where one was). ``problems`` lists every (seq, reason) found,
    in trail order (at most 50); ``warnings`` are notes that do not break the trail.
    """

    ok: bool
    checked: int
    head: str  # the last hash: write it down to anchor the trail
    broken_seq: int | None = None
    reason: str | None = None
    state: str = "intact"
    warnings: tuple = ()
    problems: tuple = ()
    n_problems: int = 0

    def text(self) -> str:
        if self.ok:
            return f"audit trail intact: {self.checked:,} records, head {self.head[:16]}"
        if self.state == "damaged":
            return f"results database DAMAGED: {self.reason}"
        if self.state == "missing":
            return f"audit trail MISSING: {self.reason}"
        where = f" at record {self.broken_seq}" if self.broken_seq is not None else ""
        more = self.n_problems - 1
        return (f"audit trail BROKEN{where}: {self.reason}"
                + (f" (and {more:,} more problem{'s' if more != 1 else ''})" if more > 0 else ""))


class _Problems:
    """The problems a verification finds; the first in trail order is the one reported."""

    def __init__(self):
        self.items: list = []
        self.count = 0

    def add(self, seq, reason: str) -> None:
        """A problem with the data (results, files, runs rows) that the trail describes."""
        self._add(seq, reason, 1)

    def trail(self, seq, reason: str) -> None:
        """A problem with the trail itself: it comes first, since what the data is checked against is then in doubt."""
        self._add(seq, reason, 0)

    def _add(self, seq, reason: str, rank: int) -> None:
        self.count += 1
        if len(self.items) < _MAX_PROBLEMS * 4:
            self.items.append((rank, seq, reason))

    def ordered(self) -> list:
        ranked = sorted(self.items, key=lambda p: (p[0], p[1] is None, p[1] or 0))
        return [(seq, reason) for _, seq, reason in ranked[:_MAX_PROBLEMS]]


# ---------------------------------------------------------------------- anchors (outside the database)
def _anchor_key(path: Path) -> str:
    return str(Path(path).resolve())


def _load_anchors() -> dict:
    try:
        data = json.loads((default_config_dir() / ANCHOR_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data.get("stores", {}) if isinstance(data, dict) and isinstance(data.get("stores"), dict) else {}


def read_anchor(path) -> dict | None:
    """The last head known for the database at ``path``: {store_id, seq, head, at}, or None."""
    entry = _load_anchors().get(_anchor_key(path))
    if isinstance(entry, dict) and isinstance(entry.get("seq"), int) and isinstance(entry.get("head"), str):
        return entry
    return None


def _save_anchor(path, entry: dict) -> str | None:
    """Record ``entry`` as the anchor of ``path`` (never moving it back); a warning text if it cannot be."""
    folder = default_config_dir()
    target = folder / ANCHOR_FILE
    try:
        folder.mkdir(parents=True, exist_ok=True, mode=0o700)
        stores = _load_anchors()
        key = _anchor_key(path)
        old = stores.get(key)
        if (isinstance(old, dict) and old.get("store_id") == entry.get("store_id")
                and isinstance(old.get("seq"), int) and old["seq"] > entry["seq"]):
            return None  # another process already recorded a later head
        stores[key] = entry
        _write_private(target, json.dumps({"version": 1, "stores": stores}, indent=1).encode("utf-8"))
    except OSError as exc:
        return f"the audit anchor could not be written to {target} ({exc.strerror or exc})"
    return None


def _write_private(path: Path, data: bytes, sync: bool = False) -> None:
    """Write ``data`` to ``path`` atomically (a temporary file renamed over it), readable by the owner only."""
    atomic_write(path, data, private=True, sync=sync)


# ---------------------------------------------------------------------- chunks: digests and dense files
def chunk_digests(batch, files: dict | None = None) -> tuple[np.ndarray, str]:
    """(item checksums, content digest) of a stored chunk: what the trail records for it.

    Without dense files these are ``batch.item_digests()`` and ``batch.content_digest()``;
    with them, each item's file hashes join its row, and the files' names, types and
    shapes join the header.
    """
    items, content = batch.digests()
    if not files:
        return items, content
    n = len(batch)
    hexes = b"".join(bytes.fromhex("".join(h or GENESIS for h in files[name]["sha256"])) for name in sorted(files))
    file_bytes = np.frombuffer(hexes, dtype=np.uint8).reshape(len(files), n, 32).transpose(1, 0, 2).reshape(n, -1)
    with np.errstate(over="ignore"):
        items = items ^ (row_checksums(np.ascontiguousarray(file_bytes)) * np.uint64(0x9E3779B97F4A7C15))
    spec = {name: {k: v for k, v in f.items() if k != "sha256"} for name, f in files.items()}
    h = hashlib.sha256(content.encode("ascii"))
    h.update(_canonical(spec).encode("utf-8"))
    h.update(np.ascontiguousarray(file_bytes).data)
    return items, h.hexdigest()


def _dense(a: np.ndarray) -> bool:
    if a.dtype == object:
        return any(np.size(x) > DENSE_ELEMENTS for x in a)
    return a.ndim >= 2 and int(np.prod(a.shape[1:])) > DENSE_ELEMENTS


@dataclass(frozen=True)
class _Chunk:
    batch: object  # the stored ResultBatch (dense outputs taken out)
    files: dict | None
    data: bytes
    items: bytes
    digest: str


class ResultStore:
    """The results database. Safe to share between threads; each write is its own transaction.

    Parameters
    ----------
    path
        The SQLite file; default ``default_data_dir() / "results.sqlite3"``.
    readonly
        Open for reading only: the file must exist (else :class:`StoreMissing`), nothing is
        created or upgraded. A store opened for writing also falls back to reading only, and
        says why in ``notice``, when its folder or file cannot be written, when it was made by
        a newer InferDesk, or when it is damaged; writing to it then raises StoreError with
        that reason.
    """

    def __init__(self, path: str | os.PathLike | None = None, readonly: bool = False):
        self.path = Path(path) if path else default_path()
        self.blob_dir = self.path.parent / "blobs"
        self.readonly = bool(readonly)
        self.notice: str | None = None  # why a store asked for writing was opened read-only
        self.damaged = False
        self._lock = threading.RLock()
        self._db = None
        try:
            if self.readonly:
                self._db = self._connect_reader()
            else:
                self._open_for_writing()
            self._tables = {r[0] for r in self._db.execute("SELECT name FROM sqlite_master WHERE type='table'")}
            self._meta = dict(self._db.execute("SELECT key, value FROM meta")) if "meta" in self._tables else {}
            self._run_columns = {r[1] for r in self._db.execute("PRAGMA table_info(runs)")}
        except sqlite3.Error as exc:
            self._close_quietly()
            if _is_damage(exc):
                raise StoreDamaged(_damaged_message(self.path, str(exc))) from exc
            raise StoreError(f"Cannot open the results database {self.path}: {exc}") from exc
        except OSError as exc:
            self._close_quietly()
            raise StoreError(f"Cannot open the results database {self.path}: {exc.strerror or exc}") from exc
        if "runs" not in self._tables and self.readonly:
            self._close_quietly()
            raise StoreError(f"{self.path} is not an InferDesk results database (it has no runs table)")
        version = self._meta.get("schema_version", "1")
        if self.notice is None and (not version.isdigit() or int(version) > SCHEMA_VERSION):
            self.notice = (f"{self.path} was made by a newer InferDesk (store schema {version}; this version "
                           f"writes schema {SCHEMA_VERSION}): it is open for reading only")

    # ------------------------------------------------------------------ opening
    def _connect_reader(self) -> sqlite3.Connection:
        """A read-only connection; in a folder that cannot be written, an immutable one."""
        if not self.path.is_file():
            raise StoreMissing(f"No results database at {self.path}")
        uri = "file:" + urllib.parse.quote(str(self.path.resolve())) + "?mode=ro"
        db = sqlite3.connect(uri, uri=True, check_same_thread=False, isolation_level=None,
                             timeout=BUSY_TIMEOUT_S)
        try:
            db.execute("SELECT count(*) FROM sqlite_master").fetchone()
            return db
        except sqlite3.OperationalError as exc:
            db.close()
            if "unable to open" not in str(exc):
                raise
        # WAL needs a -shm file beside the database: where none can be made, read the file as it is
        db = sqlite3.connect(uri + "&immutable=1", uri=True, check_same_thread=False, isolation_level=None)
        db.execute("SELECT count(*) FROM sqlite_master").fetchone()
        return db

    def _fall_back_to_reading(self, why: str) -> None:
        if self._db is not None:
            self._db.close()
        self._db = self._connect_reader()
        self.readonly = True
        self.notice = why

    def _open_for_writing(self) -> None:
        folder = self.path.parent
        if not folder.exists():
            folder.mkdir(parents=True, exist_ok=True, mode=0o700)
        exists = self.path.exists()
        if exists and not (os.access(self.path, os.W_OK) and os.access(folder, os.W_OK)):
            self._fall_back_to_reading(f"{self.path if os.access(folder, os.W_OK) else folder} cannot be written: "
                                       "the history is open for reading only")
            return
        if not exists:
            try:
                os.close(os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
            except FileExistsError:
                pass
        self._db = sqlite3.connect(str(self.path), check_same_thread=False, isolation_level=None,
                                   timeout=BUSY_TIMEOUT_S)
        version = self._schema_version()
        if version > SCHEMA_VERSION:
            self._fall_back_to_reading(
                f"{self.path} was made by a newer InferDesk (store schema {version}; this version writes "
                f"schema {SCHEMA_VERSION}): it is open for reading only, and nothing is written into it")
            return
        problem = self._integrity_problem(quick=True)
        if problem:
            self.damaged = True
            message = _damaged_message(self.path, problem)
            try:
                self._fall_back_to_reading(message)
            except sqlite3.Error:
                raise StoreDamaged(message) from None
            return
        if version == 0:
            # a new file: large pages, so a chunk's blob is a few page writes rather than
            # thousands (the page size of a WAL database is fixed once it exists)
            self._db.execute("PRAGMA page_size=65536")
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")  # with WAL: a killed process loses nothing committed
        if version < SCHEMA_VERSION:
            self._create_or_upgrade(version)

    def _schema_version(self) -> int:
        tables = {r[0] for r in self._db.execute("SELECT name FROM sqlite_master WHERE type='table'")}
        if "meta" not in tables:
            return 1 if "runs" in tables else 0
        row = self._db.execute("SELECT value FROM meta WHERE key='schema_version'").fetchone()
        try:
            return int(row[0]) if row else 1
        except ValueError:
            return SCHEMA_VERSION + 1  # not a number this version knows

    def _integrity_problem(self, quick: bool) -> str | None:
        """SQLite's own check of the file: None when sound, else its first complaint."""
        try:
            if quick and self.path.stat().st_size > FULL_CHECK_MAX_BYTES:
                tables = {r[0] for r in self._db.execute("SELECT name FROM sqlite_master WHERE type='table'")}
                rows = []
                for table in ("meta", "runs", "ledger"):
                    if table in tables:
                        rows += self._db.execute(f"PRAGMA quick_check({table})").fetchall()
            else:
                rows = self._db.execute("PRAGMA quick_check").fetchall()
        except sqlite3.DatabaseError as exc:
            return str(exc)
        bad = [r[0] for r in rows if r[0] != "ok"]
        return bad[0] if bad else None

    def _create_or_upgrade(self, version: int) -> None:
        """Make a new store (version 0), or bring a schema 1 or 2 store to this schema, in one transaction.

        From schema 1: the chunks table, the store's identity and the trail's bookkeeping. From
        schema 1 or 2: the profiles table and the runs table's ``pid_start`` column (NULL for the
        runs already there, as their trail records have none). From schema 1, 2 or 3: the
        reviews table (empty). The trail records the upgrade;
        nothing recorded before is rewritten, so every older record still verifies.
        """
        def write(cur):
            now = self._schema_version()
            if now >= SCHEMA_VERSION:  # another process did it first
                return
            for statement in _TABLES.strip().split(";"):
                if statement.strip():
                    cur.execute(statement)  # IF NOT EXISTS: the tables an older store has stay as they are
            if "pid_start" not in {r[1] for r in cur.execute("PRAGMA table_info(runs)")}:
                cur.execute("ALTER TABLE runs ADD COLUMN pid_start TEXT")
            if now >= 2:
                store_id = cur.execute("SELECT value FROM meta WHERE key='store_id'").fetchone()[0]
                cur.execute("INSERT OR REPLACE INTO meta VALUES ('schema_version', ?)", (str(SCHEMA_VERSION),))
            else:
                last = cur.execute("SELECT seq, hash FROM ledger ORDER BY seq DESC LIMIT 1").fetchone()
                next_seq = (last[0] + 1) if last else 1
                store_id = uuid.uuid4().hex
                for key, value in (("schema_version", str(SCHEMA_VERSION)), ("store_id", store_id),
                                   ("v2_from_seq", str(next_seq)), ("ledger_next", str(next_seq)),
                                   ("ledger_head", last[1] if last else GENESIS)):
                    cur.execute("INSERT OR REPLACE INTO meta VALUES (?, ?)", (key, value))
            payload = {"store_id": store_id, "schema_version": SCHEMA_VERSION, "by": _user(),
                       "inferdesk": __version__}
            payload["upgraded_from" if now else "created"] = now if now else _now()
            self._append_many(cur, [("store", "", None, _canonical(payload))])

        self._write(write)

    def close(self) -> None:
        with self._lock:
            self._close_quietly()

    def _close_quietly(self) -> None:
        if self._db is not None:
            try:
                self._db.close()
            except sqlite3.Error:
                pass

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    @contextmanager
    def _errors(self):
        """sqlite3 errors as StoreError; a damaged file says so, with the remedy."""
        try:
            yield
        except sqlite3.Error as exc:
            if _is_damage(exc):
                self.damaged = True
                raise StoreDamaged(_damaged_message(self.path, str(exc))) from exc
            raise StoreError(f"The results database {self.path} could not be used: {exc}") from exc

    # ------------------------------------------------------------------ writing
    def _write(self, fn):
        if self.readonly:
            raise (StoreDamaged if self.damaged else StoreError)(
                self.notice or f"The results database {self.path} is open for reading only")
        with self._lock, self._errors():
            cur = self._db.cursor()
            try:
                cur.execute("BEGIN IMMEDIATE")  # one writer at a time, across processes too
                out = fn(cur)
                cur.execute("COMMIT")
                return out
            except BaseException:
                if self._db.in_transaction:
                    cur.execute("ROLLBACK")
                raise

    def _append_many(self, cur, entries: list) -> None:
        """Chain entries (kind, run_id, ref, payload) onto the ledger, inside a transaction (schema 2 rule)."""
        meta = dict(cur.execute("SELECT key, value FROM meta WHERE key IN ('ledger_next', 'ledger_head')"))
        last = cur.execute("SELECT seq, hash FROM ledger ORDER BY seq DESC LIMIT 1").fetchone()
        seq = max(int(meta.get("ledger_next", 1)), (last[0] + 1) if last else 1)
        prev = meta.get("ledger_head") or (last[1] if last else GENESIS)
        at = _now()
        rows = []
        first = seq
        for kind, run_id, ref, payload in entries:
            content_hash = _sha(_v2_content(seq, kind, run_id, ref, at, payload))
            h = _chain(prev, kind, content_hash)
            rows.append((seq, kind, run_id, ref, at, payload, content_hash, prev, h))
            prev = h
            seq += 1
        cur.executemany("INSERT INTO ledger (seq, kind, run_id, ref, at, payload, content_hash, prev_hash, hash) "
                        "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)", rows)
        cur.executemany("INSERT OR REPLACE INTO meta VALUES (?, ?)",
                        [("ledger_next", str(seq)), ("ledger_head", prev)])
        return list(range(first, seq))

    def _advance_anchor(self) -> None:
        """Move the outside anchor to the newest record, if the anchored one is still in the trail unchanged."""
        try:
            with self._lock:
                tail = self._db.execute("SELECT seq, hash FROM ledger ORDER BY seq DESC LIMIT 1").fetchone()
                store_id = self._db.execute("SELECT value FROM meta WHERE key='store_id'").fetchone()
                anchor = read_anchor(self.path)
                if anchor is not None:
                    at = self._db.execute("SELECT hash FROM ledger WHERE seq=?", (anchor["seq"],)).fetchone()
                    if anchor.get("store_id") != (store_id[0] if store_id else None) or at is None \
                            or at[0] != anchor["head"]:
                        return  # leave it for verify to report
        except sqlite3.Error:
            return
        if tail:
            _save_anchor(self.path, {"store_id": store_id[0] if store_id else None, "seq": tail[0], "head": tail[1],
                                     "at": _now(), "by": "write"})

    def start_run(self, engine, inputs, name: str | None = None, total: int | None = None,
                  output: dict | None = None) -> "RunRecorder":
        """Record a new run of ``engine`` over ``inputs`` and return its recorder.

        The inputs and the model are recorded by absolute path (as are the results' inputs), so
        the run can be resumed and read from any folder. ``output`` is how the results are
        written (``format``, ``top_k``, ``out``, ``workers``, ``save_inputs``: what the command line
        or the window was given), recorded as the start record's ``output`` so that a resume
        writes the rest the same way; ``out`` and ``save_inputs`` are made absolute.
        """
        import onnxruntime  # once a run starts: the history commands that only read never import it

        run_id = uuid.uuid4().hex[:12]
        model_path = os.path.abspath(engine.info.path)
        meta = {
            "id": run_id, "name": name, "started_at": _now(),
            "model": {"file_name": engine.info.file_name, "path": model_path,
                      "sha256": engine.info.sha256, "size_bytes": engine.info.size_bytes,
                      "weights_sha256": engine.info.weights_sha256 or engine.info.sha256,
                      "external_data": list(engine.info.external_data)},
            "profile": engine.profile.to_dict(), "profile_sha256": engine.profile.sha256(),
            "profile_source": engine.profile_source, "provider": engine.provider,
            "settings": engine.settings.to_dict(),
            "versions": {"inferdesk": __version__, "onnxruntime": onnxruntime.__version__,
                         "python": platform.python_version()},
            "os_user": _user(), "host": socket.gethostname(), "platform": platform.platform(),
            "inputs": [os.path.abspath(p) for p in inputs], "pid": os.getpid(), "total": total,
            "pid_start": _own_start(os.getpid()),
        }
        if output is not None:
            meta["output"] = {k: (os.path.abspath(v) if k in ("out", "save_inputs", "save_masks") and v else v)
                              for k, v in output.items()}
        # the profile is kept once in the profiles table, by its hash, which the start record holds
        # (a profile of a million labels would otherwise be copied into every run's record)
        profile_text = _canonical(meta["profile"])
        stored_apart = _sha(profile_text) == meta["profile_sha256"]
        text = _canonical({k: v for k, v in meta.items() if k != "profile"} if stored_apart else meta)

        def write(cur):
            if stored_apart:
                cur.execute("INSERT OR IGNORE INTO profiles (sha256, profile) VALUES (?, ?)",
                            (meta["profile_sha256"], profile_text))
            cur.execute("INSERT INTO runs (id, name, started_at, status, model_name, model_path, model_sha256, "
                        "profile_sha256, provider, inputs, total, pid, host, pid_start) "
                        "VALUES (?, ?, ?, 'running', ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                        (run_id, name, meta["started_at"], engine.info.file_name, model_path,
                         engine.info.sha256, meta["profile_sha256"], engine.provider,
                         json.dumps(meta["inputs"]), total, meta["pid"], meta["host"], meta["pid_start"]))
            self._append_many(cur, [("run", run_id, None, text)])

        self._write(write)
        return RunRecorder(self, run_id, task=engine.profile.task)

    def resume_run(self, run_id: str) -> "RunRecorder":
        """Take up an interrupted run again: later results join it, and this process holds its lock.

        Raises RunBusy when the process that holds the run still runs, and StoreError when the
        run finished; both are checked inside the write that takes the lock.
        """
        run_id = self._find(run_id)
        pid, host, started = os.getpid(), socket.gethostname(), _own_start(os.getpid())
        payload = _canonical({"resumed_at": _now(), "pid": pid, "host": host, "pid_start": started})

        def write(cur):
            status, owner, owner_host, owner_start, deleted = cur.execute(
                "SELECT status, pid, host, pid_start, deleted FROM runs WHERE id=?", (run_id,)).fetchone()
            if deleted:
                raise StoreError(f"No run '{run_id}' in the history")
            if status == "finished":
                raise StoreError(f"Run {run_id} already finished; nothing to resume")
            if status == "running" and _owner_alive(owner, owner_host, owner_start):
                raise RunBusy(f"{_owner_text(run_id, owner, owner_host)}; wait until it has finished, or stop it, "
                              "before resuming it")
            cur.execute("UPDATE runs SET status='running', pid=?, host=?, pid_start=? WHERE id=?",
                        (pid, host, started, run_id))
            self._append_many(cur, [("resume", run_id, None, payload)])

        self._write(write)
        return RunRecorder(self, run_id, self._next_position(run_id), task=self._task(run_id))

    def _next_position(self, run_id: str) -> int:
        with self._lock, self._errors():
            n = self._db.execute("SELECT COALESCE(MAX(first_position + n_items), 0) FROM chunks WHERE run_id=?",
                                 (run_id,)).fetchone()[0]
            if "results" in self._tables:
                v1 = self._db.execute("SELECT COALESCE(MAX(idx) + 1, 0) FROM results WHERE run_id=?",
                                      (run_id,)).fetchone()[0]
                n = max(n, v1)
        return n

    def _prepare_chunk(self, batch) -> _Chunk:
        """Take dense outputs out to files, encode the batch, and compute what the trail records.

        Inputs are kept by absolute path (from the folder this process runs in), as the run's
        inputs are: a run started with relative paths resumes, and its results read, from anywhere.
        A URL (a served request's, ``http://host:port/v2/models/NAME/score#request=3``) is kept as it is.
        """
        sources = tuple(os.path.abspath(p) if p and "://" not in p else p for p in batch.sources)
        if sources != tuple(batch.sources):
            batch = batch.replace(sources=sources)
        files = None
        dense = [name for name, a in batch.outputs.items() if len(batch) and _dense(a)]
        if dense:
            files = {}
            outputs = dict(batch.outputs)
            for name in sorted(dense):
                a = outputs.pop(name)
                shas = [self._write_blob(np.asarray(a[i])) if batch.ok[i] else None for i in range(len(batch))]
                files[name] = {"dtype": str(a.dtype), "shape": list(a.shape[1:]), "ragged": a.dtype == object,
                               "sha256": shas}
            batch = batch.replace(outputs=outputs)
        items, digest = chunk_digests(batch, files)
        return _Chunk(batch, files, batch.to_bytes(), items.astype("<u8").tobytes(), digest)

    def _write_blob(self, array: np.ndarray) -> str:
        buf = io.BytesIO()
        np.save(buf, np.ascontiguousarray(array), allow_pickle=False)
        data = buf.getvalue()
        sha = hashlib.sha256(data).hexdigest()
        path = self._blob_path(sha)
        try:
            if path.is_file() and path.stat().st_size == len(data):
                return sha
            path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
            _write_private(path, data, sync=True)
        except OSError as exc:
            raise StoreError(f"Cannot write an output file into {self.blob_dir}: {exc.strerror or exc}") from exc
        return sha

    def _blob_path(self, sha: str) -> Path:
        return self.blob_dir / sha[:2] / f"{sha}.npy"

    def _check_holder(self, cur, run_id: str) -> None:
        """Inside a write: refuse to record for a run that was deleted, or that another process now holds."""
        row = cur.execute("SELECT deleted, pid, host, pid_start FROM runs WHERE id=?", (run_id,)).fetchone()
        if row is None or row[0]:
            raise StoreError(f"The run {run_id} was deleted while it was being scored; nothing more is recorded "
                             "for it (score the inputs again as a new run to keep their results)")
        _, pid, host, started = row
        mine = _own_start(os.getpid())
        if pid != os.getpid() or host != socket.gethostname() or (started and mine and started != mine):
            raise StoreError(f"The run {run_id} was taken up by process {pid} on {host}; this process records "
                             "nothing more for it")

    def _add_chunks(self, run_id: str, chunks: list) -> None:
        def write(cur):
            self._check_holder(cur, run_id)
            k = cur.execute("SELECT COALESCE(MAX(chunk) + 1, 0) FROM chunks WHERE run_id=?", (run_id,)).fetchone()[0]
            rows, entries = [], []
            ok = n = 0
            for c in chunks:
                b = c.batch
                first, count, n_ok = int(b.position[0]), len(b), b.n_ok
                files = _canonical(c.files) if c.files else None
                rows.append((run_id, k, first, count, n_ok, c.data, c.items, c.digest, files))
                entries.append(("chunk", run_id, k, _canonical({
                    "chunk": k, "first": first, "count": count, "ok": n_ok, "digest": c.digest,
                    "items": hashlib.sha256(c.items).hexdigest()})))
                ok, n, k = ok + n_ok, n + count, k + 1
            cur.executemany("INSERT INTO chunks VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)", rows)
            self._append_many(cur, entries)
            cur.execute("UPDATE runs SET ok = ok + ?, failed = failed + ? WHERE id=?", (ok, n - ok, run_id))

        self._write(write)

    def _finish(self, run_id: str, status: str) -> None:
        def write(cur):
            self._check_holder(cur, run_id)
            ok, n = cur.execute("SELECT COALESCE(SUM(n_ok), 0), COALESCE(SUM(n_items), 0) FROM chunks "
                                "WHERE run_id=?", (run_id,)).fetchone()
            if "results" in self._tables:
                v1_ok, v1_n = cur.execute("SELECT COALESCE(SUM(ok), 0), COUNT(*) FROM results WHERE run_id=?",
                                          (run_id,)).fetchone()
                ok, n = ok + v1_ok, n + v1_n
            at = _now()
            payload = _canonical({"finished_at": at, "status": status, "ok": ok, "failed": n - ok})
            cur.execute("UPDATE runs SET status=?, finished_at=?, ok=?, failed=? WHERE id=?",
                        (status, at, ok, n - ok, run_id))
            self._append_many(cur, [("finish", run_id, None, payload)])

        self._write(write)
        self._advance_anchor()

    def rename(self, run_id: str, name: str) -> None:
        run_id = self._find(run_id)
        payload = _canonical({"name": name})

        def write(cur):
            cur.execute("UPDATE runs SET name=? WHERE id=?", (name, run_id))
            self._append_many(cur, [("rename", run_id, None, payload)])

        self._write(write)

    def delete(self, run_id: str) -> None:
        """Delete a run's results and unshared output files; the trail keeps its metadata and the deletion.

        Raises RunBusy, checked inside the deleting write, while a live process scores the run.
        """
        run_id = self._find(run_id)
        payload = _canonical({"deleted_at": _now(), "by": _user()})
        shas: set = set()

        def write(cur):
            status, pid, host, started = cur.execute("SELECT status, pid, host, pid_start FROM runs WHERE id=?",
                                                     (run_id,)).fetchone()
            if status == "running" and _owner_alive(pid, host, started):
                raise RunBusy(f"{_owner_text(run_id, pid, host)}; wait until it has finished, or stop it, "
                              "before deleting it")
            for (files,) in cur.execute("SELECT files FROM chunks WHERE run_id=? AND files IS NOT NULL", (run_id,)):
                for f in json.loads(files).values():
                    shas.update(h for h in f["sha256"] if h)
            cur.execute("DELETE FROM chunks WHERE run_id=?", (run_id,))
            if "results" in self._tables:
                cur.execute("DELETE FROM results WHERE run_id=?", (run_id,))
            cur.execute("DELETE FROM reviews WHERE run_id=?", (run_id,))
            cur.execute("UPDATE runs SET deleted=1 WHERE id=?", (run_id,))
            self._append_many(cur, [("delete", run_id, None, payload)])
            if shas:
                for (files,) in cur.execute("SELECT files FROM chunks WHERE files IS NOT NULL"):
                    for f in json.loads(files).values():
                        shas.difference_update(f["sha256"])

        self._write(write)
        for sha in shas:
            try:
                self._blob_path(sha).unlink()
            except OSError:
                pass
        self._advance_anchor()

    def review(self, run_id: str, index: int, decision: str, *, label: str | None = None,
               value: float | None = None, reason: str = "") -> ReviewDecision:
        """Record a reviewer's decision on result ``index`` of a run, in the reviews table and the trail.

        The reviewer is the OS user; earlier decisions on the result are kept (the latest is the
        current one). Raises StoreError for a run not in the history, a result it does not have,
        an unknown decision, or an override that gives neither the correct label nor value.
        """
        run_id = self._find(run_id)
        if decision not in DECISIONS:
            raise StoreError(f"'{decision}' is not a review decision: it is one of {', '.join(DECISIONS)}")
        if isinstance(index, bool) or not isinstance(index, (int, np.integer)):
            raise StoreError(f"A result of run {run_id} is named by its position (a whole number), not {index!r}")
        index = int(index)
        label = None if label is None else str(label)
        if value is not None:
            try:
                value = float(value)
            except (TypeError, ValueError):
                raise StoreError(f"The value of an override must be a number, not {value!r}") from None
            if value != value or value in (float("inf"), float("-inf")):
                raise StoreError(f"The value of an override must be a finite number, not {value}")
        if decision == "override":
            if label is None and value is None:
                raise StoreError(f"Overriding result {index} of run {run_id} needs the correct label or value")
        else:
            label = value = None  # only an override says what the result should have been
        reason = str(reason or "").strip()
        n = self._next_position(run_id)
        if not 0 <= index < n:
            raise StoreError(f"Run {run_id} has no result {index} (it has {n:,} result{'s' if n != 1 else ''}, "
                             f"0 to {n - 1})" if n else f"Run {run_id} has no results to review")
        at, reviewer = _now(), _user()
        payload = _canonical({"index": index, "decision": decision, "label": label, "value": value,
                              "reason": reason, "reviewer": reviewer, "at": at})

        def write(cur):
            if cur.execute("SELECT deleted FROM runs WHERE id=?", (run_id,)).fetchone()[0]:
                raise StoreError(f"No run '{run_id}' in the history")
            (seq,) = self._append_many(cur, [("review", run_id, index, payload)])
            cur.execute("INSERT INTO reviews (seq, run_id, idx, decision, label, value, reason, reviewer, at) "
                        "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                        (seq, run_id, index, decision, label, value, reason, reviewer, at))
            return seq

        seq = self._write(write)
        self._tables.add("reviews")
        return ReviewDecision(run_id=run_id, index=index, decision=decision, label=label, value=value,
                              reason=reason, reviewer=reviewer, at=at, seq=seq)

    def reviews(self, run_id: str, history: bool = False):
        """The run's review decisions: {result index: its latest ReviewDecision}, or with ``history`` all of
        them in the order they were made (a list). A store older than schema 4 has none."""
        rid = self._find(run_id)
        if "reviews" not in self._tables:
            return [] if history else {}
        with self._lock, self._errors():
            rows = self._db.execute("SELECT seq, idx, decision, label, value, reason, reviewer, at FROM reviews "
                                    "WHERE run_id=? ORDER BY seq", (rid,)).fetchall()
        found = [ReviewDecision(run_id=rid, index=idx, decision=decision, label=label, value=value,
                                reason=reason or "", reviewer=reviewer, at=at, seq=seq)
                 for seq, idx, decision, label, value, reason, reviewer, at in rows]
        if history:
            return found
        return {d.index: d for d in found}

    def note_export(self, run_id: str, target: str, fmt: str) -> bool:
        """Record an export in the trail; False when the store is open for reading only (nothing recorded)."""
        if self.readonly and not self.damaged:
            return False
        payload = _canonical({"exported_to": str(target), "format": fmt, "by": _user()})
        self._write(lambda cur: self._append_many(cur, [("export", run_id, None, payload)]))
        return True

    def note_drift(self, run_id: str, reference_path, reference_sha256: str | None, summary: dict) -> bool:
        """Record a drift check of a run in the trail: the reference used (its path and SHA-256) and the
        check's summary (``DriftReport.summary()``); False when the store is open for reading only."""
        if self.readonly and not self.damaged:
            return False
        rid = self._find(run_id)
        payload = _canonical({"reference": str(reference_path), "reference_sha256": reference_sha256,
                              "summary": summary, "by": _user()})
        self._write(lambda cur: self._append_many(cur, [("drift", rid, None, payload)]))
        return True

    def drift_notes(self, run_id: str) -> list[dict]:
        """The drift checks recorded for a run, oldest first: each note's payload with its ``at``."""
        rid = self._find(run_id)
        if "ledger" not in self._tables:  # a schema 1 store: no trail to have recorded one
            return []
        with self._lock, self._errors():
            rows = self._db.execute("SELECT payload, at FROM ledger WHERE run_id=? AND kind='drift' ORDER BY seq",
                                    (rid,)).fetchall()
        notes = []
        for payload, at in rows:
            try:
                notes.append({**json.loads(payload), "at": at})
            except ValueError:
                continue
        return notes

    # ------------------------------------------------------------------ reading
    def _find(self, run_id: str) -> str:
        """The full id of the one run whose id is, or begins with, ``run_id`` (hexadecimal, any case)."""
        ref = str(run_id or "").strip().lower()
        if not ref or any(c not in _HEX for c in ref):
            raise StoreError(f"No run '{run_id}' in the history: a run's id is hexadecimal (0-9 and a-f), "
                             "as 'inferdesk history' lists it")
        # only hexadecimal digits get here; the LIKE wildcards are escaped all the same
        pattern = ref.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
        with self._lock, self._errors():
            rows = self._db.execute("SELECT id FROM runs WHERE (id=? OR id LIKE ? ESCAPE '\\') AND deleted=0",
                                    (ref, pattern)).fetchall()
        if not rows:
            raise StoreError(f"No run '{run_id}' in the history")
        if len(rows) > 1:
            raise StoreError(f"'{run_id}' matches {len(rows)} runs; give more of the run's id")
        return rows[0][0]

    def _summary(self, row) -> RunSummary:
        (rid, name, started, finished, status, model_name, model_path, model_sha, provider, inputs, total,
         ok, failed, pid, host, pid_start) = row
        if status == "running" and not _owner_alive(pid, host, pid_start):
            status = "interrupted"
        return RunSummary(id=rid, name=name, started_at=started, finished_at=finished, status=status,
                          model_name=model_name, model_path=model_path, model_sha256=model_sha, provider=provider,
                          inputs=tuple(json.loads(inputs or "[]")), total=total or 0, ok=ok, failed=failed)

    @property
    def _summary_cols(self) -> str:
        return ("id, name, started_at, finished_at, status, model_name, model_path, model_sha256, provider, "
                "inputs, total, ok, failed, pid, host, "
                + ("pid_start" if "pid_start" in self._run_columns else "NULL"))  # NULL: a store older than schema 3

    def runs(self, limit: int = 200) -> list[RunSummary]:
        """Past runs, newest first (deleted ones left out)."""
        with self._lock, self._errors():
            rows = self._db.execute(f"SELECT {self._summary_cols} FROM runs WHERE deleted=0 "
                                    "ORDER BY started_at DESC LIMIT ?", (limit,)).fetchall()
        return [self._summary(r) for r in rows]

    def run(self, run_id: str) -> RunSummary:
        rid = self._find(run_id)
        with self._lock, self._errors():
            row = self._db.execute(f"SELECT {self._summary_cols} FROM runs WHERE id=?", (rid,)).fetchone()
        return self._summary(row)

    def run_metadata(self, run_id: str) -> dict:
        """Everything recorded when the run started (model, profile, versions, user, host...).

        The profile comes from the profiles table when the start record holds only its hash
        (schema 3), and is placed where it always was, just before ``profile_sha256``.
        """
        rid = self._find(run_id)
        with self._lock, self._errors():
            row = self._db.execute("SELECT payload FROM ledger WHERE run_id=? AND kind='run'", (rid,)).fetchone()
            if row is None:
                raise StoreError(f"Run {rid} has no start record in the audit trail ('inferdesk audit verify' "
                                 "checks it)")
            meta = json.loads(row[0])
            if "profile" in meta or "profile_sha256" not in meta:
                return meta
            found = self._db.execute("SELECT profile FROM profiles WHERE sha256=?",
                                     (meta["profile_sha256"],)).fetchone() if "profiles" in self._tables else None
        if found is None:
            raise StoreError(f"The profile of run {rid} is missing from the database ('inferdesk audit verify' "
                             "checks it)")
        profile = json.loads(found[0])
        out = {}
        for key, value in meta.items():
            if key == "profile_sha256":
                out["profile"] = profile
            out[key] = value
        return out

    def trail_head(self) -> str:
        """The audit trail's newest hash as the database holds it now (not verified: ``verify`` checks it)."""
        with self._lock, self._errors():
            if "ledger" not in self._tables:
                return GENESIS
            if "meta" in self._tables:
                row = self._db.execute("SELECT value FROM meta WHERE key='ledger_head'").fetchone()
                if row and row[0]:
                    return row[0]
            last = self._db.execute("SELECT hash FROM ledger ORDER BY seq DESC LIMIT 1").fetchone()
        return last[0] if last else GENESIS

    def unfinished(self) -> list[RunSummary]:
        """Runs whose process ended without finishing them: they can be resumed.

        A watch (``inferdesk watch``) or a server's run of served requests that was killed is
        interrupted too, but has no inputs left to score: it is not among them.
        """
        return [r for r in self.runs(1000) if r.status == "interrupted" and not open_ended(self.run_metadata(r.id))]

    @contextmanager
    def _snapshot(self):
        """A connection of its own inside one read transaction: a consistent view while others write."""
        with self._errors():
            db = self._connect_reader()
        try:
            with self._errors():
                db.execute("BEGIN")
                db.execute("SELECT count(*) FROM sqlite_master").fetchone()  # the snapshot starts here
            yield db
        finally:
            try:
                if db.in_transaction:
                    db.execute("ROLLBACK")
                db.close()
            except sqlite3.Error:
                pass

    def batches(self, run_id: str, chunk: int = 4096):
        """The run's results as ResultBatch columns, in order: one stored chunk at a time.

        Schema 1 runs' results come in batches of ``chunk`` items rebuilt from their records.
        Positions are each item's place in the run's history (in the order results were recorded).
        """
        rid = self._find(run_id)
        task = None
        with self._snapshot() as db:
            tables = {r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type='table'")}
            if "results" in tables:
                group: list = []
                with self._errors():
                    for idx, record, sha in db.execute("SELECT idx, record, input_sha256 FROM results "
                                                       "WHERE run_id=? ORDER BY idx", (rid,)):
                        d = json.loads(record)
                        d["input_sha256"] = sha
                        group.append(result_from_record(d, idx))
                        if len(group) >= chunk:
                            task = task or self._task(rid)
                            yield ResultBatch.from_results(group, task)
                            group = []
                if group:
                    yield ResultBatch.from_results(group, task or self._task(rid))
            if "chunks" in tables:
                with self._errors():
                    rows = db.execute("SELECT chunk, first_position, data, files FROM chunks WHERE run_id=? "
                                      "ORDER BY chunk", (rid,))
                    for k, first, data, files in rows:
                        yield self._load_chunk(rid, k, first, data, files)

    def _task(self, run_id: str) -> Task | str:
        """The run's task as its start record has it (text, as the profile's JSON does)."""
        return self.run_metadata(run_id).get("profile", {}).get("task", Task.RAW)

    def _load_chunk(self, run_id: str, k: int, first: int, data: bytes, files: str | None):
        try:
            batch = ResultBatch.from_bytes(data)
        except Exception as exc:  # noqa: BLE001 - any decoding failure means the same thing to a user
            raise StoreError(f"Chunk {k} of run {run_id} (results from {first}) cannot be read: it was edited "
                             "or damaged ('inferdesk audit verify' checks the store)") from exc
        if files:
            outputs = dict(batch.outputs)
            for name, spec in json.loads(files).items():
                outputs[name] = self._load_dense(run_id, batch, name, spec)
            batch = batch.replace(outputs=outputs)
        return batch

    def _load_dense(self, run_id: str, batch, name: str, spec: dict) -> np.ndarray:
        n = len(batch)
        arrays = []
        for i, sha in enumerate(spec["sha256"]):
            if sha is None:
                arrays.append(None)
                continue
            path = self._blob_path(sha)
            try:
                arrays.append(np.load(path, allow_pickle=False))
            except FileNotFoundError:
                raise StoreError(f"Result {int(batch.position[i])} of run {run_id}: its output '{name}' was kept "
                                 f"in {path}, which is missing ('inferdesk audit verify' lists what is missing)"
                                 ) from None
            except (OSError, ValueError) as exc:
                raise StoreError(f"Result {int(batch.position[i])} of run {run_id}: its output '{name}' in {path} "
                                 f"cannot be read ({exc})") from exc
        if spec.get("ragged"):
            col = np.empty(n, dtype=object)
            for i, a in enumerate(arrays):
                col[i] = a if a is not None else np.zeros(0, dtype=spec["dtype"])
            return col
        col = np.zeros((n,) + tuple(spec["shape"]), dtype=spec["dtype"])
        for i, a in enumerate(arrays):
            if a is not None:
                col[i] = a
        return col

    def records(self, run_id: str):
        """The run's results as the command line's JSON records, in order (with ``input_sha256``)."""
        rid = self._find(run_id)
        with self._snapshot() as db:
            tables = {r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type='table'")}
            if "results" in tables:
                with self._errors():
                    for record, sha in db.execute("SELECT record, input_sha256 FROM results WHERE run_id=? "
                                                  "ORDER BY idx", (rid,)):
                        d = json.loads(record)
                        d["input_sha256"] = sha
                        yield d
            if "chunks" in tables:
                with self._errors():
                    rows = db.execute("SELECT chunk, first_position, data, files FROM chunks WHERE run_id=? "
                                      "ORDER BY chunk", (rid,))
                    for k, first, data, files in rows:
                        batch = self._load_chunk(rid, k, first, data, files)
                        for i in range(len(batch)):
                            d = batch.record(i)
                            d["input_sha256"] = batch.sha256_of(i)
                            yield d

    def input_hashes(self, run_id: str) -> dict:
        """{input: the SHA-256s its results recorded}, for each input of the run with a hash (a CSV: the file's)."""
        rid = self._find(run_id)
        hashes: dict = {}
        with self._snapshot() as db:
            tables = {r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type='table'")}
            with self._errors():
                if "results" in tables:
                    for path, sha in db.execute("SELECT DISTINCT input, input_sha256 FROM results WHERE run_id=? "
                                                "AND input_sha256 IS NOT NULL", (rid,)):
                        hashes.setdefault(path, set()).add(sha)
                if "chunks" in tables:
                    for header, _ in _chunk_headers(db, rid):
                        for path, sha in zip(header["sources"], header["source_sha256"]):
                            if sha:
                                hashes.setdefault(path, set()).add(sha)
        return hashes

    def done_keys(self, run_id: str) -> set:
        """(input, row) of every input that already has a result in this run (row None for images)."""
        rid = self._find(run_id)
        keys: set = set()
        with self._snapshot() as db:
            tables = {r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type='table'")}
            with self._errors():
                if "results" in tables:
                    keys.update(db.execute("SELECT input, row FROM results WHERE run_id=?", (rid,)))
                if "chunks" in tables:
                    for header, (source, row) in _chunk_headers(db, rid, ("source", "row")):
                        sources = header["sources"]
                        for s in np.unique(source).tolist():
                            rows = row[source == s].tolist()
                            keys.update((sources[s], None if r < 0 else r) for r in rows)
        return keys

    def scored_inputs(self, model_sha256: str, inputs: list | None = None) -> set:
        """(input, SHA-256) of every input that a run of this model has a result for, with its hash.

        ``inputs``: only the runs started on exactly these inputs (absolute paths), such as the
        runs of ``inferdesk watch`` on one folder. Deleted runs do not count. A watch run uses
        this so that a restart scores no file it already scored, known by its path and content.
        """
        want = None if inputs is None else [os.path.abspath(p) for p in inputs]
        with self._lock, self._errors():
            rows = self._db.execute("SELECT id, inputs FROM runs WHERE model_sha256=? AND deleted=0",
                                    (model_sha256,)).fetchall()
        keys: set = set()
        for rid, recorded in rows:
            if want is not None:
                try:
                    if json.loads(recorded or "null") != want:
                        continue
                except ValueError:
                    continue
            for path, shas in self.input_hashes(rid).items():
                keys.update((path, sha) for sha in shas)
        return keys

    # ------------------------------------------------------------------ audit
    def verify(self, update_anchor: bool = True) -> VerifyReport:
        """Check the whole store against its audit trail, inside one read snapshot.

        Reports the first record whose content, link or hash is wrong, every result that was
        edited, deleted or inserted (named by run and position), output files that were edited,
        swapped or deleted, runs rows that differ from what the trail recorded, newest records
        cut off (against ``meta`` and the anchor outside the database), and a damaged file.
        When intact, the newest head is recorded as the anchor (unless ``update_anchor`` is False).
        """
        anchor = read_anchor(self.path)  # read before the snapshot: it never claims more than the snapshot has
        with self._snapshot() as db:
            problem = _quick_check(db)
            if problem:
                return VerifyReport(ok=False, checked=0, head=GENESIS, reason=_damaged_message(self.path, problem),
                                    state="damaged")
            try:
                report, tail = _Verifier(self, db, anchor).run()
            except sqlite3.DatabaseError as exc:
                if _is_damage(exc):
                    return VerifyReport(ok=False, checked=0, head=GENESIS, state="damaged",
                                        reason=_damaged_message(self.path, str(exc)))
                raise StoreError(f"The results database {self.path} could not be read: {exc}") from exc
        if report.ok and update_anchor and tail is not None:
            warning = _save_anchor(self.path, tail)
            if warning:
                report = replace(report, warnings=report.warnings + (warning,))
        return report


def _quick_check(db) -> str | None:
    try:
        bad = [r[0] for r in db.execute("PRAGMA quick_check").fetchall() if r[0] != "ok"]
    except sqlite3.DatabaseError as exc:
        return str(exc)
    return bad[0] if bad else None


def verify_store(path=None, update_anchor: bool = True) -> VerifyReport:
    """Verify the results database at ``path`` (default: the user's), opened read-only.

    A missing database is a failed verification (state ``missing``), naming what the anchor
    last saw there; a damaged one is state ``damaged``. A store made by a newer InferDesk
    raises StoreError.
    """
    path = Path(path) if path else default_path()
    anchor = read_anchor(path)
    if not path.is_file():
        seen = (f"; the last check, on {anchor.get('at', '?')[:19].replace('T', ' ')}, saw {anchor['seq']:,} "
                "records there: it was deleted or moved") if anchor else ""
        return VerifyReport(ok=False, checked=0, head=GENESIS, reason=f"no results database at {path}{seen}",
                            state="missing")
    try:
        store = ResultStore(path, readonly=True)
    except StoreDamaged as exc:
        return VerifyReport(ok=False, checked=0, head=GENESIS, reason=str(exc), state="damaged")
    with store:
        version = store._meta.get("schema_version", "1")
        if not version.isdigit() or int(version) > SCHEMA_VERSION:
            raise StoreError(f"{path} was made by a newer InferDesk (store schema {version}); this version can "
                             f"verify schema {SCHEMA_VERSION} and older")
        return store.verify(update_anchor)


class _RunState:
    """A run as the trail says it should be in the runs table, with the record that set each column."""

    def __init__(self, seq: int, data: dict):
        model = data.get("model") or {}
        self.values = {"id": data.get("id"), "name": data.get("name"), "started_at": data.get("started_at"),
                       "finished_at": None, "status": "running", "model_name": model.get("file_name"),
                       "model_path": model.get("path"), "model_sha256": model.get("sha256"),
                       "profile_sha256": data.get("profile_sha256"), "provider": data.get("provider"),
                       "inputs": data.get("inputs"), "pid": data.get("pid"), "host": data.get("host"), "deleted": 0,
                       "pid_start": data.get("pid_start")}
        if "total" in data:  # schema 1 did not record it in the trail
            self.values["total"] = data["total"]
        self.where = {k: seq for k in self.values}
        self.start_seq = seq
        # schema 3 keeps the profile in the profiles table, by the hash the start record holds
        self.profile_ref = data.get("profile_sha256") if "profile" not in data else None
        self.ok = self.n = 0  # from chunk records
        self.v1_entries = 0
        self.v1_ok = self.v1_n = 0  # from schema 1 result rows that match the trail
        self.finish = None  # (seq, ok, failed) of the last finish
        self.last_result_seq = 0
        self.delete_seq = None

    def set(self, seq: int, **values) -> None:
        for k, v in values.items():
            self.values[k] = v
            self.where[k] = seq


class _Verifier:
    """One pass over the trail in one snapshot, then the runs table, schema 1 results and stray chunks."""

    def __init__(self, store: ResultStore, db, anchor: dict | None):
        self.store, self.db, self.anchor = store, db, anchor
        self.problems = _Problems()
        self.tables = {r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type='table'")}
        self.meta = dict(db.execute("SELECT key, value FROM meta")) if "meta" in self.tables else {}
        self.v2_from = int(self.meta.get("v2_from_seq", 2**62))
        self.runs: dict = {}
        self.chunks_seen: set = set()
        self.reviews_seen: dict = {}  # seq -> (run_id, result index, the decision its trail record holds)
        self.deleted_at = {r: s for r, s in db.execute("SELECT run_id, MIN(seq) FROM ledger WHERE kind='delete' "
                                                        "GROUP BY run_id")}

    def run(self) -> tuple[VerifyReport, dict | None]:
        add = self.problems.trail
        prev = GENESIS
        expected = 1
        n = 0
        anchor_hash = None
        last_seq = 0
        rows = self.db.execute("SELECT seq, kind, run_id, ref, at, payload, content_hash, prev_hash, hash "
                               "FROM ledger ORDER BY seq")
        for seq, kind, run_id, ref, at, payload, content_hash, prev_hash, h in rows:
            n += 1
            if seq != expected:
                add(expected, f"records {expected}–{seq - 1} of the trail are missing (deleted)")
            expected = seq + 1
            if prev_hash != prev:
                add(seq, "its link to the previous record does not match (a record before it was deleted or changed)")
            of = f" of run {run_id}" if run_id else ""
            if kind == "review":
                of = f" of result {ref}{of} (a review decision)"
            if seq < self.v2_from:
                if kind != "result" and (payload is None or _sha(payload) != content_hash):
                    add(seq, f"the '{kind}' record{of} was edited")
            elif _sha(_v2_content(seq, kind, run_id, ref, at, payload)) != content_hash:
                add(seq, f"the '{kind}' record{of} was edited (its content, run, number or time)")
            if _chain(prev_hash, kind, content_hash) != h:
                add(seq, "its hash does not match its content (the trail was rewritten)")
            prev = h
            last_seq = seq
            if self.anchor is not None and seq == self.anchor["seq"]:
                anchor_hash = h
            self._apply(seq, kind, run_id, ref, payload)
        self._check_tail(last_seq, prev)
        self._check_v1_results()
        self._check_runs()
        self._check_profiles()
        self._check_stray_chunks()
        self._check_reviews()
        warnings = self._check_anchor(last_seq, anchor_hash)
        ordered = self.problems.ordered()
        tail = {"store_id": self.meta.get("store_id"), "seq": last_seq, "head": prev, "at": _now(), "by": "verify"}
        if not ordered:
            return VerifyReport(ok=True, checked=n, head=prev, warnings=tuple(warnings)), (tail if last_seq else None)
        (seq, reason) = ordered[0]
        return VerifyReport(ok=False, checked=n, head=prev, broken_seq=seq, reason=reason, state="broken",
                            warnings=tuple(warnings), problems=tuple(ordered), n_problems=self.problems.count), None

    # ------------------------------------------------------------------ the trail's records
    def _apply(self, seq, kind, run_id, ref, payload) -> None:
        add = self.problems.add
        if kind == "result":
            state = self.runs.get(run_id)
            if seq >= self.v2_from:
                self.problems.trail(seq, f"a schema 1 result record of run {run_id} was added after the upgrade")
            elif state is not None:
                state.v1_entries += 1
                state.last_result_seq = seq
            return
        try:
            data = json.loads(payload) if payload else {}
        except ValueError:
            self.problems.trail(seq, f"the '{kind}' record of run {run_id} cannot be read")
            return
        if kind == "store":
            if data.get("store_id") != self.meta.get("store_id"):
                self.problems.trail(seq, "the store's identity in the database does not match its first record")
            return
        if kind == "run":
            if run_id in self.runs:
                self.problems.trail(seq, f"run {run_id} is started twice in the trail")
            elif data.get("id") != run_id:
                self.problems.trail(seq, f"the start record of run {run_id} was moved from run {data.get('id')}")
            self.runs[run_id] = _RunState(seq, data)
            return
        state = self.runs.get(run_id)
        if state is None:
            self.problems.trail(seq, f"a '{kind}' record names run {run_id}, which the trail never started")
            return
        if kind == "chunk":
            state.ok += int(data.get("ok", 0))
            state.n += int(data.get("count", 0))
            state.last_result_seq = seq
            self.chunks_seen.add((run_id, ref))
            self._check_chunk(seq, run_id, ref, data)
        elif kind == "finish":
            state.set(seq, status=data.get("status"), finished_at=data.get("finished_at"))
            state.finish = (seq, data.get("ok"), data.get("failed"))
            if state.v1_entries == 0 and (data.get("ok"), data.get("failed")) != (state.ok, state.n - state.ok):
                add(seq, f"the counts recorded when run {run_id} finished ({data.get('ok')} ok, {data.get('failed')} "
                         f"failed) disagree with its results ({state.ok} ok, {state.n - state.ok} failed)")
        elif kind == "resume":
            state.set(seq, status="running", pid=data.get("pid"), host=data.get("host"),
                      pid_start=data.get("pid_start"))
        elif kind == "rename":
            state.set(seq, name=data.get("name"))
        elif kind == "review":
            self.reviews_seen[seq] = (run_id, ref, data)
        elif kind == "delete":
            state.set(seq, deleted=1)
            state.delete_seq = seq

    def _check_chunk(self, seq: int, run_id: str, k: int, data: dict) -> None:
        add = self.problems.add
        first, count = int(data.get("first", 0)), int(data.get("count", 0))
        span = f"results {first}–{first + count - 1} of run {run_id} (chunk {k})"
        row = self.db.execute("SELECT first_position, n_items, n_ok, data, items, digest, files FROM chunks "
                              "WHERE run_id=? AND chunk=?", (run_id, k)).fetchone() if "chunks" in self.tables else None
        if row is None:
            if self.deleted_at.get(run_id, 2**62) < seq:
                add(seq, f"a chunk of run {run_id} was recorded after the run was deleted")
            elif run_id not in self.deleted_at:
                add(seq, f"{span} are missing from the database")
            return
        r_first, r_count, r_ok, blob, items, digest, files = row
        if (r_first, r_count, r_ok, digest) != (first, count, data.get("ok"), data.get("digest")):
            add(seq, f"the chunk row of {span} was edited (its position, size, counts or digest differ from the trail)")
        items_ok = hashlib.sha256(items or b"").hexdigest() == data.get("items")
        try:
            batch = self.store._load_chunk(run_id, k, first, blob, None)
            spec = json.loads(files) if files else None
        except (StoreError, ValueError):
            add(seq, f"{span} cannot be read: the chunk was edited or damaged")
            return
        if spec:
            try:
                self._check_files(seq, run_id, batch, spec)
            except (KeyError, TypeError, ValueError, AttributeError):
                add(seq, f"the list of output files of {span} was edited")
                return
        if len(batch) == 0:
            for p in range(first, first + count):
                add(seq, f"result {p} of run {run_id} is missing from the database")
            return
        try:
            got_items, got_digest = chunk_digests(batch, spec)
        except (KeyError, TypeError, ValueError, AttributeError):
            add(seq, f"{span} cannot be checked: its columns or its list of output files were edited")
            return
        if got_digest == data.get("digest") and items_ok:
            return
        if not items_ok:
            add(seq, f"the item checksums stored with {span} were edited; "
                     + ("its results are as recorded" if got_digest == data.get("digest")
                        else "its results were changed too"))
            return
        stored = np.frombuffer(items, dtype="<u8")
        self._name_items(seq, run_id, span, first, count, batch, stored, got_items)

    def _name_items(self, seq, run_id, span, first, count, batch, stored, got) -> None:
        """Say which results of a chunk whose digest no longer matches were edited, deleted or inserted."""
        add = self.problems.add
        expected = first + np.arange(count, dtype=np.int64)
        if len(stored) != count:
            add(seq, f"the item checksums stored with {span} were edited")
            return
        named = 0
        if len(batch) == count and np.array_equal(batch.position, expected):
            bad = np.nonzero(stored != got)[0]
            for i in bad[:_MAX_PROBLEMS].tolist():
                add(seq, f"result {first + i} of run {run_id} ({batch.input_of(i)}) was edited after it was recorded")
            named = len(bad)
        else:
            where = {p: i for i, p in enumerate(batch.position.tolist())}
            for j, p in enumerate(expected.tolist()):
                i = where.pop(p, None)
                if i is None:
                    add(seq, f"result {p} of run {run_id} is missing from the database")
                    named += 1
                elif stored[j] != got[i]:
                    add(seq, f"result {p} of run {run_id} ({batch.input_of(i)}) was edited after it was recorded")
                    named += 1
            for p, i in sorted(where.items()):
                add(seq, f"result {p} of run {run_id} ({batch.input_of(i)}) is not in the audit trail "
                         "(inserted by hand)")
                named += 1
        if not named:
            add(seq, f"{span} was edited: the part its results share (inputs, labels, output names or shapes)")

    def _check_files(self, seq, run_id, batch, spec: dict) -> None:
        for name in sorted(spec):
            for i, sha in enumerate(spec[name]["sha256"]):
                if sha is None:
                    continue
                path = self.store._blob_path(sha)
                what = f"the output '{name}' of result {int(batch.position[i])} of run {run_id}"
                try:
                    h = hashlib.sha256()
                    with open(path, "rb") as fh:
                        for block in iter(lambda: fh.read(1 << 20), b""):
                            h.update(block)
                except FileNotFoundError:
                    if not self._deleted_since(run_id):
                        self.problems.add(seq, f"{what} is missing: its file {path} was deleted")
                    continue
                except OSError as exc:
                    self.problems.add(seq, f"{what} cannot be read from {path} ({exc.strerror or exc})")
                    continue
                if h.hexdigest() != sha:
                    self.problems.add(seq, f"{what} was edited or swapped: its file {path} no longer matches its hash")

    def _deleted_since(self, run_id: str) -> bool:
        """Whether the run was deleted after this snapshot began (its files go once the deletion commits)."""
        try:
            with self.store._lock:
                row = self.store._db.execute("SELECT deleted FROM runs WHERE id=?", (run_id,)).fetchone()
        except sqlite3.Error:
            return False
        return bool(row and row[0])

    # ------------------------------------------------------------------ after the walk
    def _check_tail(self, last_seq: int, head: str) -> None:
        nxt, meta_head = self.meta.get("ledger_next"), self.meta.get("ledger_head")
        if nxt is None or not nxt.isdigit():
            if "store_id" in self.meta:
                self.problems.trail(None, "the trail's bookkeeping in the meta table was removed or edited")
            return
        nxt = int(nxt)
        if nxt > last_seq + 1:
            self.problems.trail(last_seq + 1, f"records {last_seq + 1}–{nxt - 1} of the trail are missing "
                                            "(the newest records were deleted)")
        elif nxt < last_seq + 1:
            self.problems.trail(nxt, f"records {nxt}–{last_seq} were added to the trail outside InferDesk")
        elif meta_head != head:
            self.problems.trail(last_seq, "the newest record of the trail is not the one last written "
                                        "(the trail was cut and rewritten)")

    def _check_v1_results(self) -> None:
        """Schema 1 results: each run's trail records against its rows, both in order (one merge, streamed)."""
        if "results" not in self.tables:
            return
        add = self.problems.add
        run_ids = {r for (r,) in self.db.execute("SELECT DISTINCT run_id FROM results")}
        run_ids |= {r for r, s in self.runs.items() if s.v1_entries}
        for run_id in sorted(run_ids):
            state = self.runs.get(run_id)
            entries = self.db.execute("SELECT seq, ref, content_hash FROM ledger WHERE run_id=? AND kind='result' "
                                      "AND seq < ? ORDER BY seq", (run_id, self.v2_from))
            rows = self.db.execute("SELECT * FROM results WHERE run_id=? ORDER BY idx", (run_id,))
            row = next(rows, None)
            deleted = self.deleted_at.get(run_id, 2**62)
            for seq, ref, content_hash in entries:
                while row is not None and row[1] < ref:
                    add(None, f"result {row[1]} of run {run_id} is not in the audit trail (inserted by hand)")
                    row = next(rows, None)
                if row is not None and row[1] == ref:
                    if _sha(_result_content(row)) != content_hash:
                        add(seq, f"result {ref} of run {run_id} ({row[2]}) was edited after it was recorded")
                    if state is not None:
                        state.v1_n += 1
                        state.v1_ok += 1 if row[4] else 0
                    row = next(rows, None)
                elif deleted < seq or run_id not in self.deleted_at:
                    add(seq, f"result {ref} of run {run_id} is missing from the database")
            while row is not None:
                add(None, f"result {row[1]} of run {run_id} is not in the audit trail (inserted by hand)")
                row = next(rows, None)

    def _check_runs(self) -> None:
        add = self.problems.add
        present = {r[1] for r in self.db.execute("PRAGMA table_info(runs)")}
        cols = [c for c in _RUN_COLS if c in present]  # a store older than schema 3 has no pid_start
        table = {r[0]: dict(zip(cols, r)) for r in self.db.execute(f"SELECT {', '.join(cols)} FROM runs")}
        for run_id, state in self.runs.items():
            row = table.pop(run_id, None)
            if row is None:
                add(state.start_seq, f"run {run_id} was removed from the runs table")
                continue
            expected = dict(state.values)
            counts_seq = None
            if state.v1_entries == 0:
                expected["ok"], expected["failed"] = state.ok, state.n - state.ok
                counts_seq = state.finish[0] if state.finish else state.last_result_seq or state.start_seq
            elif state.finish and state.finish[0] > state.last_result_seq:
                expected["ok"], expected["failed"] = state.finish[1], state.finish[2]
                counts_seq = state.finish[0]
            elif state.delete_seq is None:
                ok, n = state.ok + state.v1_ok, state.n + state.v1_n
                expected["ok"], expected["failed"] = ok, n - ok
                counts_seq = state.last_result_seq
            for col, want in expected.items():
                if col not in row:
                    continue
                got = row[col]
                if col == "inputs":
                    try:
                        got = json.loads(got) if got is not None else None
                    except ValueError:
                        pass
                if got != want:
                    seq = counts_seq if col in ("ok", "failed") else state.where.get(col, state.start_seq)
                    add(seq, f"the {_COLUMN_NAMES.get(col, col)} of run {run_id} was changed in the runs table "
                             f"(the trail says {want!r}, the table {got!r})")
        for run_id in sorted(table):
            add(None, f"run {run_id} is not in the audit trail (inserted by hand)")

    def _check_profiles(self) -> None:
        """Each stored profile against its hash, and each run's profile present (schema 3)."""
        users: dict = {}
        for run_id, state in self.runs.items():
            if state.profile_ref:
                users.setdefault(state.profile_ref, []).append((state.start_seq, run_id))
        stored = set()
        if "profiles" in self.tables:
            for sha, text in self.db.execute("SELECT sha256, profile FROM profiles"):
                stored.add(sha)
                if sha not in users:
                    self.problems.add(None, f"the profile {sha[:12]}… is not in the audit trail (inserted by hand)")
                elif not isinstance(text, str) or _sha(text) != sha:
                    for seq, run_id in users[sha]:
                        self.problems.add(seq, f"the profile of run {run_id} was edited in the profiles table")
        for sha in sorted(set(users) - stored):
            for seq, run_id in users[sha]:
                self.problems.add(seq, f"the profile of run {run_id} is missing from the database")

    def _check_stray_chunks(self) -> None:
        if "chunks" not in self.tables:
            return
        for run_id, k, first, count in self.db.execute("SELECT run_id, chunk, first_position, n_items FROM chunks"):
            if (run_id, k) not in self.chunks_seen:
                self.problems.add(None, f"results {first}–{first + count - 1} of run {run_id} (chunk {k}) are not "
                                        "in the audit trail (inserted by hand)")

    def _check_reviews(self) -> None:
        """Each review decision in the reviews table against its trail record (schema 4)."""
        add = self.problems.add
        rows = {}
        if "reviews" in self.tables:
            rows = {r[0]: r[1:] for r in self.db.execute("SELECT seq, run_id, idx, decision, label, value, reason, "
                                                         "reviewer, at FROM reviews")}
        for seq, (run_id, ref, data) in self.reviews_seen.items():
            what = (f"the review decision on result {ref} of run {run_id} ({data.get('decision')} by "
                    f"{data.get('reviewer')} at {str(data.get('at'))[:19].replace('T', ' ')})")
            row = rows.pop(seq, None)
            if row is None:
                if self.deleted_at.get(run_id, 2**62) < seq:
                    add(seq, f"{what} was recorded after the run was deleted")
                elif run_id not in self.deleted_at:
                    add(seq, f"{what} is missing from the reviews table (deleted by hand)")
                continue
            got = dict(zip(("run_id", "index") + _REVIEW_COLS, row))
            want = {"run_id": run_id, "index": ref, **{k: data.get(k) for k in _REVIEW_COLS}}
            changed = [k for k in want if got[k] != want[k]]
            if changed:
                detail = ", ".join(f"{k}: the trail says {want[k]!r}, the table {got[k]!r}" for k in changed)
                add(seq, f"{what} was edited in the reviews table ({detail})")
        for seq, (run_id, idx, decision, *_rest) in sorted(rows.items()):
            add(None, f"a review decision ({decision}) on result {idx} of run {run_id} is not in the audit trail "
                      "(inserted by hand)")

    def _check_anchor(self, last_seq: int, anchor_hash: str | None) -> list:
        """Compare with the head recorded outside the database; returns warnings (problems go to the list)."""
        anchor = self.anchor
        where = default_config_dir() / ANCHOR_FILE
        if anchor is None:
            return [f"no earlier check of this database is on record in {where}: records cut off the end of the "
                    "trail before now cannot be noticed; its head is recorded from now on"]
        when = str(anchor.get("at", "?"))[:19].replace("T", " ")
        remedy = f" (if the database was restored from a backup on purpose, remove its entry from {where})"
        if anchor.get("store_id") != self.meta.get("store_id"):
            self.problems.trail(None, f"this is not the database seen here on {when}: that one had {anchor['seq']:,} "
                                    f"records (the file was replaced or re-created){remedy}")
        elif anchor["seq"] > last_seq:
            self.problems.trail(last_seq + 1, f"the trail ends at record {last_seq}, but record {anchor['seq']} was "
                                            f"seen on {when}: the newest records were deleted{remedy}")
        elif anchor_hash != anchor["head"]:
            self.problems.trail(anchor["seq"], f"record {anchor['seq']} is not the one seen on {when}: the trail "
                                             f"was rewritten{remedy}")
        return []


_COLUMN_NAMES = {"model_path": "model path", "model_name": "model name", "model_sha256": "model SHA-256",
                 "profile_sha256": "profile hash", "started_at": "start time", "finished_at": "end time",
                 "ok": "ok count", "failed": "failed count", "pid": "process id", "deleted": "deleted flag",
                 "pid_start": "process start time"}


def _chunk_headers(db, rid: str, arrays: tuple = ()):
    """Each stored chunk of run ``rid``: its JSON header and the named columns, read without building a batch.

    Raises
    ------
    StoreError
        A chunk that cannot be read (edited or damaged), named by its number and first result.
    """
    for k, first, data in db.execute("SELECT chunk, first_position, data FROM chunks WHERE run_id=?", (rid,)):
        try:
            with np.load(io.BytesIO(data), allow_pickle=False) as z:
                header = json.loads(z["__header__"].tobytes().decode("utf-8"))
                columns = tuple(z[name] for name in arrays)
        except Exception as exc:  # noqa: BLE001 - any damage reads as one message
            raise StoreError(f"Chunk {k} of run {rid} (results from {first}) cannot be read: it was edited or "
                             "damaged ('inferdesk audit verify' checks the store)") from exc
        yield header, columns


def _same_header(a, b) -> bool:
    """Whether two batches can share a chunk: the same task, and the same decoder facts (class names...)
    where both have them (a batch of one failed item has none)."""
    try:
        return a.task == b.task and (not a.meta or not b.meta or bool(a.meta == b.meta))
    except (ValueError, TypeError):  # arrays inside: compare no further
        return False


def _user() -> str:
    try:
        return getpass.getuser()
    except Exception:  # noqa: BLE001 - no user name in some containers
        return str(os.getuid()) if hasattr(os, "getuid") else "unknown"


class RunRecorder:
    """Writes one run's results as they come: ``add_batch`` (or ``add``), then ``commit``; ``finish`` at the end.

    A commit writes what was added since the last one as one chunk (several when it holds
    more than ``CHUNK_ITEMS`` items). Items are numbered in the order they are recorded, from
    ``next_index``, so a resumed run continues its numbering.
    """

    def __init__(self, store: ResultStore, run_id: str, next_index: int = 0, task: Task | str = Task.RAW):
        self.store = store
        self.run_id = run_id
        self.next_index = next_index
        self.task = task
        self._pending: list = []  # ResultBatch objects, in order
        self._results: list = []  # Result objects from ``add``, not yet made into a batch
        self._hashes: dict = {}
        self.finished = False

    def _input_hash(self, path: str) -> str | None:
        try:
            st = os.stat(path)
        except OSError:
            return None
        key = (path, st.st_size, st.st_mtime_ns)
        if key not in self._hashes:
            try:
                self._hashes = {k: v for k, v in self._hashes.items() if k[0] != path}
                self._hashes[key] = sha256_file(path)
            except OSError:
                return None
        return self._hashes[key]

    def add(self, result) -> None:
        """Add one Result (kept with the next ``commit``)."""
        self._results.append(result)

    def add_batch(self, batch) -> None:
        """Add a ResultBatch (kept with the next ``commit``)."""
        self._take_results()
        if len(batch):
            self._pending.append(batch)

    def _take_results(self) -> None:
        if self._results:
            results, self._results = self._results, []
            self._pending.append(ResultBatch.from_results(results, self.task))

    def _pieces(self, batches: list) -> list:
        """The batches grouped into chunks of at most CHUNK_ITEMS items, numbered from ``next_index``."""
        groups: list = [[]]
        size = 0
        header = None  # the task and class names of the group being filled
        for b in batches:
            if groups[-1] and not _same_header(header, b):
                groups.append([])  # concat keeps one set of class names: batches that differ get chunks of their own
                size = 0
                header = None
            if header is None or not header.meta:
                header = b
            start = 0
            while start < len(b):
                room = CHUNK_ITEMS - size
                if room == 0:
                    groups.append([])
                    size, room = 0, CHUNK_ITEMS
                part = b if start == 0 and len(b) <= room else b.take(np.arange(start, min(len(b), start + room)))
                groups[-1].append(part)
                size += len(part)
                start += len(part)
        pieces = []
        for group in groups:
            if not group:
                continue
            b = ResultBatch.concat(group) if len(group) > 1 else group[0]
            shas = tuple(sha or self._input_hash(path) for path, sha in zip(b.sources, b.source_sha256))
            n = len(b)
            pieces.append(b.replace(position=np.arange(self.next_index, self.next_index + n, dtype=np.int64),
                                    source_sha256=shas, features=None, feature_names=()))
            self.next_index += n
        return pieces

    def commit(self) -> None:
        """Write what was added; after this returns, a killed process keeps those results.

        The results stay pending until their write has succeeded: when it fails (a full disk,
        the database locked by another program for longer than its busy timeout) they are
        still pending, with their numbering, and the error (StoreError) is raised. A caller
        that shows results only after ``commit`` returns has then shown none of them.
        """
        self._take_results()
        if not self._pending:
            return
        start = self.next_index
        try:
            chunks = [self.store._prepare_chunk(b) for b in self._pieces(self._pending)]
            self.store._add_chunks(self.run_id, chunks)
        except BaseException:
            self.next_index = start
            raise
        self._pending = []

    @property
    def pending(self) -> int:
        """The items added and not yet committed."""
        return sum(len(b) for b in self._pending) + len(self._results)

    def finish(self, status: str = "finished") -> None:
        self.commit()
        if not self.finished:
            self.store._finish(self.run_id, status)
            self.finished = True
