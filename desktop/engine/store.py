"""The results store: every result written to SQLite as it is produced, with a hash-chained audit trail.

One database per user (``results.sqlite3`` in the platform's user data folder, or
``$INFERDESK_DATA_DIR``), in WAL mode so a killed process loses nothing that was committed.

Tables
------
runs     one row per run: model, profile, settings, who, where, when, status, counts.
results  one row per image or CSV row: the command line's JSON record, the input's SHA-256.
ledger   the audit trail: every run start, result, finish, resume, rename, export and deletion,
         in order. Each entry's ``hash`` is SHA-256 of the previous entry's hash, its kind and the
         SHA-256 of its content (the run's metadata, or the stored result row), so editing or
         deleting any record breaks the chain at that point: ``verify()`` finds the first break.
"""

from __future__ import annotations

import getpass
import hashlib
import json
import os
import platform
import socket
import sqlite3
import threading
import uuid
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

from .. import __version__
from .errors import EngineError

SCHEMA_VERSION = 1
GENESIS = "0" * 64

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT);
CREATE TABLE IF NOT EXISTS runs (
    id TEXT PRIMARY KEY,
    name TEXT,
    started_at TEXT NOT NULL,
    finished_at TEXT,
    status TEXT NOT NULL,
    model_name TEXT, model_path TEXT, model_sha256 TEXT, profile_sha256 TEXT, provider TEXT,
    inputs TEXT, total INTEGER, ok INTEGER NOT NULL DEFAULT 0, failed INTEGER NOT NULL DEFAULT 0,
    pid INTEGER, host TEXT, deleted INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE IF NOT EXISTS results (
    run_id TEXT NOT NULL, idx INTEGER NOT NULL, input TEXT NOT NULL, row INTEGER, ok INTEGER NOT NULL,
    error TEXT, top_label TEXT, top_score REAL, latency_ms REAL, input_sha256 TEXT, record TEXT NOT NULL,
    PRIMARY KEY (run_id, idx)
);
CREATE TABLE IF NOT EXISTS ledger (
    seq INTEGER PRIMARY KEY, kind TEXT NOT NULL, run_id TEXT NOT NULL, ref INTEGER, at TEXT NOT NULL,
    payload TEXT, content_hash TEXT NOT NULL, prev_hash TEXT NOT NULL, hash TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS ledger_run ON ledger (run_id, kind);
"""


class StoreError(EngineError):
    """The results database cannot be opened or written."""


def default_data_dir() -> Path:
    """``$INFERDESK_DATA_DIR``, else the platform's user data folder for InferDesk."""
    env = os.environ.get("INFERDESK_DATA_DIR")
    if env:
        return Path(env)
    from platformdirs import user_data_dir

    return Path(user_data_dir("InferDesk", appauthor=False))


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="milliseconds")


def _canonical(obj) -> str:
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False)


def _sha(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def _chain(prev: str, kind: str, content_hash: str) -> str:
    return _sha(f"{prev}|{kind}|{content_hash}")


def _result_content(row) -> str:
    """The canonical text of a stored result row, as hashed into the ledger."""
    run_id, idx, inp, r, ok, error, top_label, top_score, latency, sha, record = row
    return _canonical([run_id, idx, inp, r, bool(ok), error, top_label, top_score, latency, sha, record])


def _pid_alive(pid: int | None) -> bool:
    if not pid:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OSError):
        return True
    return True


@dataclass(frozen=True)
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


@dataclass(frozen=True)
class VerifyReport:
    ok: bool
    checked: int
    head: str  # the last hash: write it down to anchor the trail
    broken_seq: int | None = None
    reason: str | None = None

    def text(self) -> str:
        if self.ok:
            return f"audit trail intact: {self.checked:,} records, head {self.head[:16]}"
        return f"audit trail BROKEN at record {self.broken_seq}: {self.reason}"


class ResultStore:
    """The results database. Safe to share between threads; each write is its own transaction.

    Parameters
    ----------
    path
        The SQLite file; default ``default_data_dir() / "results.sqlite3"``.
    """

    def __init__(self, path: str | os.PathLike | None = None):
        self.path = Path(path) if path else default_data_dir() / "results.sqlite3"
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._db = sqlite3.connect(str(self.path), check_same_thread=False, isolation_level=None,
                                       timeout=30)
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=NORMAL")  # with WAL: a killed process loses nothing committed
            self._db.executescript(_SCHEMA)
            self._db.execute("INSERT OR IGNORE INTO meta VALUES ('schema_version', ?)", (str(SCHEMA_VERSION),))
        except (sqlite3.Error, OSError) as exc:
            raise StoreError(f"Cannot open the results database {self.path}: {exc}") from exc
        self._lock = threading.RLock()

    def close(self) -> None:
        with self._lock:
            self._db.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    # ------------------------------------------------------------------ writing
    def _append(self, cur, kind: str, run_id: str, content: str, payload: str | None, ref=None) -> None:
        self._append_many(cur, [(kind, run_id, ref, content, payload)])

    def _append_many(self, cur, entries: list) -> None:
        """Chain entries (kind, run_id, ref, content, payload) onto the ledger, inside a transaction."""
        last = cur.execute("SELECT hash FROM ledger ORDER BY seq DESC LIMIT 1").fetchone()
        prev = last[0] if last else GENESIS
        at = _now()
        rows = []
        for kind, run_id, ref, content, payload in entries:
            content_hash = _sha(content)
            h = _chain(prev, kind, content_hash)
            rows.append((kind, run_id, ref, at, payload, content_hash, prev, h))
            prev = h
        cur.executemany("INSERT INTO ledger (kind, run_id, ref, at, payload, content_hash, prev_hash, hash) "
                        "VALUES (?, ?, ?, ?, ?, ?, ?, ?)", rows)

    def _write(self, fn):
        with self._lock:
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

    def start_run(self, engine, inputs, name: str | None = None, total: int | None = None) -> "RunRecorder":
        """Record a new run of ``engine`` over ``inputs`` and return its recorder."""
        import onnxruntime

        run_id = uuid.uuid4().hex[:12]
        meta = {
            "id": run_id, "name": name, "started_at": _now(),
            "model": {"file_name": engine.info.file_name, "path": engine.info.path,
                      "sha256": engine.info.sha256, "size_bytes": engine.info.size_bytes},
            "profile": engine.profile.to_dict(), "profile_sha256": engine.profile.sha256(),
            "profile_source": engine.profile_source, "provider": engine.provider,
            "settings": engine.settings.to_dict(),
            "versions": {"inferdesk": __version__, "onnxruntime": onnxruntime.__version__,
                         "python": platform.python_version()},
            "os_user": _user(), "host": socket.gethostname(), "platform": platform.platform(),
            "inputs": [str(p) for p in inputs], "pid": os.getpid(),
        }
        text = _canonical(meta)

        def write(cur):
            cur.execute("INSERT INTO runs (id, name, started_at, status, model_name, model_path, model_sha256, "
                        "profile_sha256, provider, inputs, total, pid, host) "
                        "VALUES (?, ?, ?, 'running', ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                        (run_id, name, meta["started_at"], engine.info.file_name, engine.info.path,
                         engine.info.sha256, meta["profile_sha256"], engine.provider,
                         json.dumps(meta["inputs"]), total, os.getpid(), meta["host"]))
            self._append(cur, "run", run_id, text, text)

        self._write(write)
        return RunRecorder(self, run_id)

    def resume_run(self, run_id: str) -> "RunRecorder":
        """Take up an interrupted run again: later results join it."""
        summary = self.run(run_id)
        if summary.status == "finished":
            raise StoreError(f"Run {run_id} already finished; nothing to resume")
        payload = _canonical({"resumed_at": _now(), "pid": os.getpid(), "host": socket.gethostname()})

        def write(cur):
            cur.execute("UPDATE runs SET status='running', pid=?, host=? WHERE id=?",
                        (os.getpid(), socket.gethostname(), run_id))
            self._append(cur, "resume", run_id, payload, payload)

        self._write(write)
        next_index = self._db.execute("SELECT COALESCE(MAX(idx) + 1, 0) FROM results WHERE run_id=?",
                                      (run_id,)).fetchone()[0]
        return RunRecorder(self, run_id, next_index)

    def _add_results(self, run_id: str, rows: list) -> None:
        def write(cur):
            ok = sum(1 for r in rows if r[4])
            cur.executemany("INSERT INTO results VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", rows)
            self._append_many(cur, [("result", run_id, r[1], _result_content(r), None) for r in rows])
            cur.execute("UPDATE runs SET ok = ok + ?, failed = failed + ? WHERE id=?", (ok, len(rows) - ok, run_id))

        self._write(write)

    def _finish(self, run_id: str, status: str) -> None:
        def write(cur):
            ok, failed = cur.execute("SELECT ok, failed FROM runs WHERE id=?", (run_id,)).fetchone()
            at = _now()
            payload = _canonical({"finished_at": at, "status": status, "ok": ok, "failed": failed})
            cur.execute("UPDATE runs SET status=?, finished_at=? WHERE id=?", (status, at, run_id))
            self._append(cur, "finish", run_id, payload, payload)

        self._write(write)

    def rename(self, run_id: str, name: str) -> None:
        self._find(run_id)
        payload = _canonical({"name": name})

        def write(cur):
            cur.execute("UPDATE runs SET name=? WHERE id=?", (name, run_id))
            self._append(cur, "rename", run_id, payload, payload)

        self._write(write)

    def delete(self, run_id: str) -> None:
        """Delete a run's results; the trail keeps the run's metadata and records the deletion."""
        self._find(run_id)
        payload = _canonical({"deleted_at": _now(), "by": _user()})

        def write(cur):
            cur.execute("DELETE FROM results WHERE run_id=?", (run_id,))
            cur.execute("UPDATE runs SET deleted=1 WHERE id=?", (run_id,))
            self._append(cur, "delete", run_id, payload, payload)

        self._write(write)

    def note_export(self, run_id: str, target: str, fmt: str) -> None:
        payload = _canonical({"exported_to": str(target), "format": fmt, "by": _user()})
        self._write(lambda cur: self._append(cur, "export", run_id, payload, payload))

    # ------------------------------------------------------------------ reading
    def _find(self, run_id: str) -> str:
        rows = self._db.execute("SELECT id FROM runs WHERE (id=? OR id LIKE ?) AND deleted=0",
                                (run_id, f"{run_id}%")).fetchall()
        if not rows:
            raise StoreError(f"No run '{run_id}' in the history")
        if len(rows) > 1:
            raise StoreError(f"'{run_id}' matches {len(rows)} runs; give more of the run's id")
        return rows[0][0]

    def _summary(self, row) -> RunSummary:
        (rid, name, started, finished, status, model_name, model_path, model_sha, provider, inputs, total,
         ok, failed, pid, host) = row
        if status == "running" and host == socket.gethostname() and not _pid_alive(pid):
            status = "interrupted"
        elif status == "running" and host == socket.gethostname() and pid == os.getpid():
            status = "running"
        return RunSummary(rid, name, started, finished, status, model_name, model_path, model_sha, provider,
                          tuple(json.loads(inputs or "[]")), total or 0, ok, failed)

    _COLS = ("id, name, started_at, finished_at, status, model_name, model_path, model_sha256, provider, "
             "inputs, total, ok, failed, pid, host")

    def runs(self, limit: int = 200) -> list[RunSummary]:
        """Past runs, newest first (deleted ones left out)."""
        with self._lock:
            rows = self._db.execute(f"SELECT {self._COLS} FROM runs WHERE deleted=0 "
                                    "ORDER BY started_at DESC LIMIT ?", (limit,)).fetchall()
        return [self._summary(r) for r in rows]

    def run(self, run_id: str) -> RunSummary:
        rid = self._find(run_id)
        with self._lock:
            row = self._db.execute(f"SELECT {self._COLS} FROM runs WHERE id=?", (rid,)).fetchone()
        return self._summary(row)

    def run_metadata(self, run_id: str) -> dict:
        """Everything recorded when the run started (model, profile, versions, user, host...)."""
        rid = self._find(run_id)
        row = self._db.execute("SELECT payload FROM ledger WHERE run_id=? AND kind='run'", (rid,)).fetchone()
        return json.loads(row[0])

    def unfinished(self) -> list[RunSummary]:
        """Runs whose process ended without finishing them: they can be resumed."""
        return [r for r in self.runs(1000) if r.status == "interrupted"]

    def records(self, run_id: str):
        """The run's results as the command line's JSON records, in order (with ``input_sha256``)."""
        rid = self._find(run_id)
        with self._lock:
            rows = self._db.execute("SELECT record, input_sha256 FROM results WHERE run_id=? ORDER BY idx",
                                    (rid,)).fetchall()
        for record, sha in rows:
            d = json.loads(record)
            d["input_sha256"] = sha
            yield d

    def batches(self, run_id: str, chunk: int = 4096):
        """The run's results as ResultBatch columns, in order, ``chunk`` items at a time."""
        from .resultbatch import ResultBatch
        from .results import result_from_record

        task = self.run_metadata(run_id).get("profile", {}).get("task", "raw")
        group: list = []
        for i, record in enumerate(self.records(run_id)):
            group.append(result_from_record(record, i))
            if len(group) >= chunk:
                yield ResultBatch.from_results(group, task)
                group = []
        if group:
            yield ResultBatch.from_results(group, task)

    def done_keys(self, run_id: str) -> set:
        """(input, row) of every input that already has a result in this run."""
        rid = self._find(run_id)
        with self._lock:
            return {(i, r) for i, r in self._db.execute("SELECT input, row FROM results WHERE run_id=?", (rid,))}

    # ------------------------------------------------------------------ audit
    def verify(self) -> VerifyReport:
        """Walk the ledger; report the first record that was edited, deleted or reordered."""
        with self._lock:
            deleted = {r[0]: r[1] for r in self._db.execute("SELECT run_id, seq FROM ledger WHERE kind='delete'")}
            ledger = self._db.execute("SELECT seq, kind, run_id, ref, payload, content_hash, prev_hash, hash "
                                      "FROM ledger ORDER BY seq").fetchall()
            results = {}
            for row in self._db.execute("SELECT * FROM results"):
                results[(row[0], row[1])] = row
            runs = {r[0]: r for r in self._db.execute("SELECT id, name, status, model_sha256, profile_sha256, "
                                                      "ok, failed, deleted FROM runs")}
        prev = GENESIS
        expected_seq = None
        seen_results = set()
        for n, (seq, kind, run_id, ref, payload, content_hash, prev_hash, h) in enumerate(ledger):
            def broken(reason):
                return VerifyReport(False, n, prev, seq, reason)

            if expected_seq is not None and seq != expected_seq:
                return VerifyReport(False, n, prev, expected_seq,
                                    f"records {expected_seq}–{seq - 1} of the trail are missing (deleted)")
            expected_seq = seq + 1
            if prev_hash != prev:
                return broken("its link to the previous record does not match (a record before it was "
                              "deleted or changed)")
            if kind == "result":
                row = results.get((run_id, ref))
                if row is None:
                    if run_id not in deleted or deleted[run_id] < seq:
                        return broken(f"result {ref} of run {run_id} is missing from the database")
                elif _sha(_result_content(row)) != content_hash:
                    return broken(f"result {ref} of run {run_id} ({row[2]}) was edited after it was recorded")
                seen_results.add((run_id, ref))
            else:
                if payload is None or _sha(payload) != content_hash:
                    return broken(f"the '{kind}' record of run {run_id} was edited")
                data = json.loads(payload)
                run = runs.get(run_id)
                if kind == "run":
                    if run is None:
                        return broken(f"run {run_id} was removed from the runs table")
                    if run[3] != data["model"]["sha256"] or run[4] != data["profile_sha256"]:
                        return broken(f"the model or profile recorded for run {run_id} was changed")
            if _chain(prev_hash, kind, content_hash) != h:
                return broken("its hash does not match its content (the trail was rewritten)")
            prev = h
        extra = set(results) - seen_results
        if extra:
            run_id, idx = sorted(extra)[0]
            return VerifyReport(False, len(ledger), prev, None,
                                f"result {idx} of run {run_id} is not in the audit trail (inserted by hand)")
        return VerifyReport(True, len(ledger), prev)


def _user() -> str:
    try:
        return getpass.getuser()
    except Exception:  # noqa: BLE001 - no user name in some containers
        return str(os.getuid()) if hasattr(os, "getuid") else "unknown"


class RunRecorder:
    """Writes one run's results as they come. ``add`` then ``commit``; ``finish`` at the end."""

    def __init__(self, store: ResultStore, run_id: str, next_index: int = 0):
        self.store = store
        self.run_id = run_id
        self.next_index = next_index
        self._pending: list = []
        self._hashes: dict = {}
        self.finished = False

    def _input_hash(self, path: str, result) -> str | None:
        if getattr(result, "input_sha256", None):
            return result.input_sha256
        try:
            st = os.stat(path)
        except OSError:
            return None
        key = (path, st.st_size, st.st_mtime_ns)
        if key not in self._hashes:
            from .model import sha256_file

            try:
                self._hashes = {k: v for k, v in self._hashes.items() if k[0] != path}
                self._hashes[key] = sha256_file(path)
            except OSError:
                return None
        return self._hashes[key]

    def add(self, result) -> None:
        record = result.to_json()
        sha = self._input_hash(result.input, result)
        record_text = json.dumps(record, ensure_ascii=False, separators=(",", ":"))
        idx = self.next_index
        self.next_index += 1
        self._pending.append((self.run_id, idx, result.input, result.row, int(result.ok), result.error,
                              result.top_label, result.top_score, round(result.timings.total, 4), sha, record_text))

    def add_batch(self, batch) -> None:
        """Add every item of a ResultBatch (``commit`` writes them)."""
        for result in batch.results():
            self.add(result)

    def commit(self) -> None:
        """Write what was added; after this returns, a killed process keeps those results."""
        if self._pending:
            rows, self._pending = self._pending, []
            self.store._add_results(self.run_id, rows)

    def finish(self, status: str = "finished") -> None:
        self.commit()
        if not self.finished:
            self.store._finish(self.run_id, status)
            self.finished = True


