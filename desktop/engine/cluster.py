"""Scoring on a Dask distributed cluster with the same engine, profile and audit trail (no Qt).

``inferdesk score ... --cluster ADDRESS`` and the window's Run on Cluster send a run's inputs to a
Dask scheduler as partitions; each worker scores its partitions with :func:`~desktop.engine.batch.run_batches`,
the very code a local run uses, and the results come back here, where they are numbered, recorded
in the history and written in input order, as a local run's are.

- **The model.** An onnxruntime session cannot be pickled, so the model's bytes (or, for a model
  with external weights, its path, which every worker must see), the profile and the session
  settings go to each worker in a :class:`EnginePlugin`, a Dask worker plugin, which builds the
  :class:`~desktop.engine.core.Engine` once per worker when it is registered (and on a worker that
  joins later). A worker that cannot build it (a missing provider, a different InferDesk, a file
  it cannot read) fails the run with its own message and its host's name.
- **Threads.** Each worker runs onnxruntime with as many intra-op threads as the worker has
  threads (``--nthreads``; ``local:N`` workers have one each), its decode threads as many, and
  scores one partition at a time, so N workers on a machine use its cores without oversubscribing.
- **Partitions.** Images and DICOM files go as lists of files; a CSV is cut into byte ranges of
  whole records (:func:`~desktop.engine.inputs.tabular.table_spans`), which a worker reads from
  the file itself as a piece of its own (:func:`~desktop.engine.inputs.tabular.span_piece`) with the
  parser and encoding the whole file gets, and its rows numbered where they are in the file. The
  inputs must be where every worker can read them at the same path (a shared folder); a worker that
  cannot gives each item its message.
- **Order and faults.** Partitions are submitted a few at a time ahead of the one awaited and taken
  back in order. A partition's results reach the history only once it is complete, so a worker
  killed mid-partition loses nothing and doubles nothing: Dask runs the partition again elsewhere.
  Each result records the host of the worker that scored it (``ResultBatch.host``).

``local:N`` starts a :class:`distributed.LocalCluster` of N worker processes on this machine.
"""

from __future__ import annotations

import hashlib
import logging
import os
import re
import socket
import tempfile
import threading
import uuid
from dataclasses import dataclass, field
from typing import Callable, Iterator

import numpy as np
from distributed.diagnostics.plugin import WorkerPlugin

from .errors import EngineError

#: CSV records per partition: one chunk of ``run_batches``' 65,536 rows, so a partition's rows are
#: scored in the same inference calls as a local run's
SPAN_ROWS = 65536
#: images per partition, at most; fewer when there are few, so every worker gets some
FILES_PER_PARTITION = 64
#: partitions submitted ahead of the one awaited, per worker
AHEAD_PER_WORKER = 2
#: how long to wait for a local cluster's workers to start, and for a worker to join (s); a scheduler is waited
#: for as long as Dask's ``distributed.comm.timeouts.connect`` says (30 s unless configured)
CONNECT_TIMEOUT_S = 30
#: a model up to this size goes to the workers as bytes; a larger one (or one with external weights) by path
MODEL_BYTES_LIMIT = 1 << 30


#: the Dask settings of ``local:N``'s workers, measured by benchmarks/cluster.py on the 300-image folder (a worker
#: scored 35% slower than a plain process with Dask's defaults): no statistical profiler sampling the scoring
#: threads every 10 ms, the event loop's health check once a second rather than every 20 ms, the system and
#: memory monitors every 5 s, and glibc's own malloc trimming (Dask's 64 KiB threshold gives every decoded
#: image's buffers back to the system and faults them in again); no work stealing (partitions are taken back
#: in order, and a stolen one only moves its wait). A real cluster's workers have their administrator's
#: settings: README, "Scoring an archive", names these.
LOCAL_WORKER_CONFIG = {
    "distributed.worker.daemon": True,
    "distributed.scheduler.work-stealing": False,
    "distributed.worker.profile.enabled": False,
    "distributed.admin.tick.interval": "1000ms",
    "distributed.admin.system-monitor.interval": "5000ms",
    "distributed.worker.memory.monitor-interval": "5000ms",
    "distributed.nanny.pre-spawn-environ.MALLOC_TRIM_THRESHOLD_": None,
}


class ClusterError(EngineError):
    """The cluster cannot be reached or started, or a worker cannot score (its message says which)."""


@dataclass(frozen=True)
class ClusterAddress:
    """What ``--cluster`` named: ``local`` workers to start here (``workers`` of them), or a scheduler's ``address``."""

    text: str
    workers: int | None = None  # local:N
    address: str | None = None

    @property
    def local(self) -> bool:
        return self.workers is not None


def parse_address(text: str) -> ClusterAddress:
    """``local:N`` or a scheduler's address (``tcp://host:8786``, ``host:8786``, ``tls://...``).

    Raises
    ------
    ClusterError
        For anything else, saying what is expected.
    """
    text = (text or "").strip()
    local = re.fullmatch(r"local(?::(\S*))?", text, flags=re.IGNORECASE)
    if local:
        n = local.group(1)
        if n is None or n == "":
            n = str(max(1, os.cpu_count() or 1))
        if not n.isdigit() or int(n) < 1:
            raise ClusterError(f"--cluster {text}: local:N takes a number of worker processes, 1 or more")
        return ClusterAddress(f"local:{int(n)}", workers=int(n))
    if re.fullmatch(r"(tcp|tls|inproc|ucx|ws|wss)://\S+", text) or re.fullmatch(r"[\w.\-\[\]:]+:\d+", text):
        return ClusterAddress(text, address=text)
    raise ClusterError(f"--cluster {text!r}: give a Dask scheduler's address (tcp://host:8786) or local:N "
                       "(N worker processes on this machine)")


class Cluster:
    """A client connected to a Dask scheduler, or to a LocalCluster it started; close it when done.

    Raises ClusterError when the scheduler cannot be reached or the local workers do not start.
    """

    def __init__(self, where: str | ClusterAddress, *, timeout_s: float | None = None):
        spec = where if isinstance(where, ClusterAddress) else parse_address(where)
        if timeout_s is None:  # a scheduler's: Dask's own connect timeout (DASK_DISTRIBUTED__COMM__TIMEOUTS__CONNECT)
            import dask
            from dask.utils import parse_timedelta

            timeout_s = CONNECT_TIMEOUT_S if spec.local else parse_timedelta(
                dask.config.get("distributed.comm.timeouts.connect"), "s")
        self.spec = spec
        self._local = None
        import distributed

        try:
            if spec.local:
                import dask

                with dask.config.set(LOCAL_WORKER_CONFIG):
                    self._local = distributed.LocalCluster(
                        n_workers=spec.workers, threads_per_worker=1, processes=True, dashboard_address=":0",
                        silence_logs=logging.ERROR, host="127.0.0.1", memory_limit=0,
                        death_timeout=timeout_s)
                self.client = distributed.Client(self._local, timeout=timeout_s)
            else:
                self.client = distributed.Client(spec.address, timeout=timeout_s)
        except ClusterError:
            self.close()
            raise
        except Exception as exc:  # noqa: BLE001 - distributed raises OSError, TimeoutError and others
            self.close()
            what = (f"cannot start {spec.workers} local worker process{'es' if spec.workers != 1 else ''}"
                    if spec.local else f"cannot reach the Dask scheduler at {spec.address}")
            raise ClusterError(f"{what}: {type(exc).__name__}: {exc}") from exc

    @property
    def address(self) -> str:
        """The scheduler's address (a local cluster's too)."""
        return self.client.scheduler.address

    def workers(self) -> list[dict]:
        """Each worker: ``{"address", "host", "threads"}``, in the scheduler's order."""
        info = self.client.scheduler_info(n_workers=-1) if _takes_n_workers(self.client) else \
            self.client.scheduler_info()
        out = []
        for address, w in sorted(info.get("workers", {}).items()):
            out.append({"address": address, "host": w.get("host") or address, "threads": int(w.get("nthreads", 1))})
        return out

    def wait_for_workers(self, n: int = 1, timeout_s: float = CONNECT_TIMEOUT_S) -> None:
        try:
            self.client.wait_for_workers(n, timeout=timeout_s)
        except Exception as exc:  # noqa: BLE001 - TimeoutError in most versions
            raise ClusterError(f"no worker joined the Dask scheduler at {self.address} within {timeout_s:g} s "
                               f"({type(exc).__name__})") from exc

    def describe(self, name: str | None = None) -> str:
        """``local:2: 2 workers on 1 host, 2 threads``; ``name`` in front instead of the address (the window's
        own local cluster, which its scoring process reaches by address)."""
        ws = self.workers()
        hosts = sorted({w["host"] for w in ws})
        threads = sum(w["threads"] for w in ws)
        where = name or (self.spec.text if self.spec.local else self.address)
        return (f"{where}: {len(ws)} worker{'s' if len(ws) != 1 else ''} on {len(hosts)} "
                f"host{'s' if len(hosts) != 1 else ''}, {threads} thread{'s' if threads != 1 else ''}")

    def close(self) -> None:
        client, local = getattr(self, "client", None), self._local
        self.client = self._local = None
        for thing in (client, local):
            if thing is not None:
                try:
                    thing.close()
                except Exception:  # noqa: BLE001 - closing what may already be gone
                    pass

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def _takes_n_workers(client) -> bool:
    import inspect

    try:
        return "n_workers" in inspect.signature(client.scheduler_info).parameters
    except (TypeError, ValueError):  # pragma: no cover
        return False


# ------------------------------------------------------------------------------------------ the worker side

class EnginePlugin(WorkerPlugin):
    """The run's engine, built once on each worker when the plugin is registered (and on a worker that joins later).

    Carries the model's bytes (or its path: a model with external weights, or over MODEL_BYTES_LIMIT),
    the profile and the session settings; the worker's engine runs with the worker's threads.
    """

    #: registered once per model, profile and settings: a long-lived cluster's workers keep the engine for the
    #: next run of the same model (its name says which), rather than building it again
    idempotent = True

    def __init__(self, engine, *, top_k: int):
        from desktop import __version__

        info = engine.info
        self.sha256 = info.sha256
        self.file_name = info.file_name
        self.model_path = os.path.abspath(info.path)
        self.model_bytes = None
        if not info.external_data and info.size_bytes <= MODEL_BYTES_LIMIT:
            with open(info.path, "rb") as fh:
                self.model_bytes = fh.read()
            if hashlib.sha256(self.model_bytes).hexdigest() != info.sha256:
                raise ClusterError(f"{info.file_name} changed since it was loaded; load it again")
        self.profile = engine.profile.to_dict()
        self.settings = engine.settings.to_dict()
        self.version = __version__
        self.top_k = top_k
        key = f"{info.sha256}:{engine.profile.sha256()}:{sorted(self.settings.items())}:{top_k}"
        self.name = "inferdesk-engine-" + hashlib.sha256(key.encode()).hexdigest()[:16]
        self.engine = None

    def __getstate__(self):
        state = dict(self.__dict__)
        for worker_only in ("engine", "lock", "error"):
            state.pop(worker_only, None)
        return state

    def setup(self, worker):
        from desktop import __version__ as here

        self.host = socket.gethostname()
        self.engine = None
        self.lock = threading.Lock()  # one partition at a time: its threads are the worker's
        self.threads = max(1, int(getattr(getattr(worker, "state", None), "nthreads", 0)
                                  or getattr(worker, "nthreads", 1) or 1))
        where = f"worker {self.host} ({worker.address})"
        if here != self.version:
            raise ClusterError(f"{where} runs InferDesk {here}, this machine {self.version}: install the same "
                               "version on every worker")
        try:
            self.engine = _build_engine(self, worker)
        except Exception as exc:  # noqa: BLE001 - said with the worker's name, whatever it is
            why = str(exc) if isinstance(exc, EngineError) else f"{type(exc).__name__}: {exc}"
            self.error = f"{where} cannot load {self.file_name}: {why}"  # said again by each of its tasks
            raise ClusterError(self.error) from None

    def teardown(self, worker):
        self.engine = None


def _build_engine(plugin, worker):
    from .core import Engine
    from .profile import profile_from_dict
    from .session import SessionSettings

    path = plugin.model_path
    if plugin.model_bytes is not None:
        folder = os.path.join(getattr(worker, "local_directory", None) or tempfile.gettempdir(), "inferdesk-models")
        os.makedirs(folder, exist_ok=True)
        path = os.path.join(folder, f"{plugin.sha256[:16]}-{os.path.basename(plugin.file_name)}")
        if not (os.path.isfile(path) and os.path.getsize(path) == len(plugin.model_bytes)):
            tmp = f"{path}.{uuid.uuid4().hex[:8]}.part"
            with open(tmp, "wb") as fh:
                fh.write(plugin.model_bytes)
            os.replace(tmp, path)
    elif not os.path.isfile(path):
        raise EngineError(f"{path} is not there on this worker: a model with external weights is read from its "
                          "path, which every worker must see (a shared folder)")
    settings = dict(plugin.settings)
    settings["threads"] = plugin.threads  # the worker's cores, not this machine's automatic choice
    return Engine(path, profile=profile_from_dict(plugin.profile), settings=SessionSettings(**settings))


@dataclass
class Partition:
    """One task of a cluster run: files, or a span of one CSV file, with the rows already recorded (a resume)."""

    index: int
    plugin: str  # the EnginePlugin's name
    items: list = field(default_factory=list)  # InputItem (files)
    table: str | None = None  # the CSV's path (a span)
    span: object = None  # tabular.Span
    reader: dict = field(default_factory=dict)  # TableReader's parser and encoding for the whole file
    skip: set = field(default_factory=set)  # (input, row) already recorded
    hash_inputs: bool = False
    units: int = 0  # progress units: the items (CSV records) it stands for
    features: bool = False  # send a CSV row's values back (the window's detail pane shows them)


@dataclass
class PartitionResult:
    host: str  # the worker's machine
    batches: list  # ResultBatch, positions from 0


def score_partition(part: Partition) -> PartitionResult:
    """Run on a worker: score one partition with the worker's engine (a Dask task)."""
    from distributed import get_worker

    from .batch import run_batches
    from .inputs import InputItem, InputKind

    worker = get_worker()
    plugin = worker.plugins.get(part.plugin)
    if plugin is None or plugin.engine is None:
        raise ClusterError(getattr(plugin, "error", None) or
                           f"worker {socket.gethostname()} ({worker.address}) has no model loaded for this run")
    with plugin.lock:
        engine = plugin.engine
        if part.table is None:
            batches = list(run_batches(engine, part.items, top_k=plugin.top_k, workers=plugin.threads,
                                       skip=part.skip, hash_inputs=part.hash_inputs))
        else:
            from .inputs.tabular import span_piece

            folder = tempfile.mkdtemp(prefix="inferdesk-span-", dir=getattr(worker, "local_directory", None))
            piece = os.path.join(folder, os.path.basename(part.table))
            try:
                try:
                    span_piece(part.table, part.span, piece)
                except OSError as exc:
                    from .resultbatch import ResultBatch

                    message = (f"{os.path.basename(part.table)}: rows {part.span.first_row + 1:,}-"
                               f"{part.span.first_row + part.span.rows:,} cannot be read on worker "
                               f"{plugin.host} ({exc.strerror or exc})")
                    return PartitionResult(plugin.host, [ResultBatch.failed(
                        engine.postprocessor(plugin.top_k).task, 0, part.table, "table", message)])
                item = InputItem(piece, InputKind.TABLE, rows=part.span.rows)
                skip = {(piece, row) for _, row in part.skip}
                options = {piece: {"first_row": part.span.first_row, **part.reader}}
                batches = [b.replace(sources=tuple(part.table if s == piece else s for s in b.sources))
                           for b in run_batches(engine, [item], top_k=plugin.top_k, skip=skip, table_options=options)]
            finally:
                import shutil

                shutil.rmtree(folder, ignore_errors=True)
    if not part.features:
        batches = [b.without_features() if b.features is not None else b for b in batches]
    return PartitionResult(plugin.host, batches)


# ------------------------------------------------------------------------------------------ this side

def plan_partitions(engine, items: list, *, plugin: str, skip: set | None = None, workers: int = 1,
                    hash_inputs: bool = False, span_rows: int = SPAN_ROWS,
                    files_per_partition: int = FILES_PER_PARTITION) -> list[Partition]:
    """The run's partitions, in input order: consecutive files together, each CSV in spans of whole records.

    Items already in ``skip`` (a resume) are left out, and a span whose rows are all recorded.
    """
    from .inputs import InputKind

    skip = skip or set()
    done_rows: dict = {}
    for path, row in skip:
        if row is not None:
            done_rows.setdefault(path, set()).add(row)
    todo = [i for i in items if (i.path, None) not in skip]
    files = [i for i in todo if i.kind != InputKind.TABLE]
    per = max(1, min(files_per_partition, -(-len(files) // max(1, 4 * workers)))) if files else 1
    parts: list[Partition] = []
    group: list = []

    def flush():
        nonlocal group
        if group:
            # the files a resume has results for are not in ``todo``: a partition carries none of ``skip``
            parts.append(Partition(len(parts), plugin, items=group, units=sum(i.rows for i in group)))
            group = []

    for item in todo:
        if item.kind != InputKind.TABLE:
            group.append(item)
            if len(group) >= per:
                flush()
            continue
        flush()
        parts.extend(_table_partitions(engine, item, plugin, done_rows.get(item.path, set()), span_rows,
                                       len(parts)))
    flush()
    for p in parts:
        p.hash_inputs = hash_inputs  # a span's file is hashed here, once (run_cluster_batches)
    return parts


def _table_partitions(engine, item, plugin: str, done: set, span_rows: int, first_index: int) -> list[Partition]:
    """A CSV's spans; one partition of the whole file when it cannot be cut (see :func:`table_spans`)."""
    from .inputs.tabular import _has_long_line, table_spans

    whole = [Partition(first_index, plugin, items=[item], skip={(item.path, r) for r in done},
                       units=item.rows - len(done))]
    if item.rows <= span_rows:
        return whole
    from .inputs.tabular import SMALL_FILE_BYTES

    try:  # its header and encoding, read as a local run reads them (parser "csv": pandas is not needed here)
        reader = engine.table_reader(item.path, parser="csv")
    except EngineError:
        return whole  # its message comes from the worker that reads it, as from a local run
    try:
        header = not reader._no_header
        parser = "pandas" if os.path.getsize(item.path) > SMALL_FILE_BYTES else "csv"  # as TableReader chooses
        options = {"parser": parser, "encoding": reader.encoding}
        if parser == "csv" or _has_long_line(item.path) or not _one_encoding(item.path, reader.encoding):
            options["parser"] = "csv"
        spans = table_spans(item.path, span_rows, header=header)
    except OSError:
        return whole
    finally:
        reader.close()
    if len(spans) < 2:
        return whole
    parts = []
    for span in spans:
        rows = set(range(span.first_row + 1, span.first_row + span.rows + 1))
        skipped = done & rows
        if span.rows and len(skipped) == span.rows:
            continue
        parts.append(Partition(first_index + len(parts), plugin, table=item.path, span=span, reader=options,
                               skip={(item.path, r) for r in skipped}, units=span.rows - len(skipped)))
    return parts


def _one_encoding(path, encoding: str) -> bool:
    """Whether the whole file decodes in the encoding its start was read with: a UTF-8 file with other bytes
    later is read by the csv module from there on, which a partition after that point would not know."""
    import codecs

    if not encoding.lower().startswith("utf"):
        return True
    decoder = codecs.getincrementaldecoder("utf-8")()
    try:
        with open(path, "rb") as fh:
            while block := fh.read(4 << 20):
                if decoder.getstate()[0] or np.frombuffer(block, dtype=np.uint8).max() >= 0x80:
                    decoder.decode(block)  # only where there is more than ASCII (numbers never are)
            decoder.decode(b"", final=True)
    except UnicodeDecodeError:
        return False
    return True


def run_cluster_batches(cluster: Cluster, engine, items: list, *, top_k: int = 5,
                        should_stop: Callable[[], bool] | None = None, progress=None, skip: set | None = None,
                        hash_inputs: bool = False, span_rows: int = SPAN_ROWS,
                        files_per_partition: int = FILES_PER_PARTITION, features: bool = False) -> Iterator:
    """Score ``items`` on ``cluster``, yielding ResultBatch objects in input order, as ``run_batches`` does.

    Each batch is numbered from the run's next position, counted in ``progress(done, total)``
    and marked with the host of the worker that scored it. ``should_stop`` is checked while a
    partition is awaited; the partitions in flight are then cancelled and nothing more is yielded.
    ``features``: send each CSV row's values back too (the window's detail pane shows them; the
    history and the exports do not keep them).

    Raises
    ------
    ClusterError
        A worker cannot load the model (its message), or a partition was lost with the workers
        that ran it (Dask gave up after its allowed failures).
    """
    from concurrent.futures import TimeoutError as FutureTimeout

    from distributed import wait

    from .batch import _hash_in_background
    from .inputs import InputItem, expand_inputs

    should_stop = should_stop or (lambda: False)
    items = [i if isinstance(i, InputItem) else None for i in items]
    if any(i is None for i in items):
        items = expand_inputs([str(p) for p in items])
    skip = skip or set()
    total = sum(i.rows for i in items if (i.path, None) not in skip) - sum(1 for _, row in skip if row is not None)
    total = max(total, 0)
    if progress:
        progress(0, total)
    cluster.wait_for_workers(1)
    plugin = EnginePlugin(engine, top_k=top_k)
    client = cluster.client
    try:
        client.register_plugin(plugin, name=plugin.name)
    except ClusterError:
        raise
    except Exception as exc:  # noqa: BLE001 - the worker's own error, sent back by Dask
        raise ClusterError(f"a worker cannot load the model: {type(exc).__name__}: {exc}") from exc
    n_workers = max(1, len(cluster.workers()))
    parts = plan_partitions(engine, items, plugin=plugin.name, skip=skip, workers=n_workers,
                            hash_inputs=hash_inputs, span_rows=span_rows, files_per_partition=files_per_partition)
    for p in parts:
        p.features = features
    # a CSV's SHA-256, for the audit trail, taken here once while the workers score its spans
    hashing = {path: _hash_in_background(path) for path in dict.fromkeys(p.table for p in parts if p.table)
               if hash_inputs}
    token = uuid.uuid4().hex[:12]
    futures: dict = {}
    ahead = AHEAD_PER_WORKER * n_workers
    submitted = 0
    index = done = 0
    try:
        for k in range(len(parts)):
            while submitted < len(parts) and submitted <= k + ahead:
                p = parts[submitted]
                futures[submitted] = client.submit(score_partition, p, key=f"inferdesk-{token}-{p.index}",
                                                   pure=False)
                submitted += 1
            future = futures.pop(k)
            while not future.done():
                if should_stop():
                    return
                try:
                    wait(future, timeout=0.2)
                except (FutureTimeout, TimeoutError):
                    pass
            if should_stop():
                return
            try:
                got = future.result()
            except EngineError:
                raise
            except Exception as exc:  # noqa: BLE001 - KilledWorker, CancelledError, a worker's bug
                raise _lost(exc, parts[k]) from exc
            for batch in got.batches:
                n = len(batch)
                if not n:
                    continue
                batch = batch.with_worker(got.host)
                if hashing and any(s in hashing for s in batch.sources):
                    batch = batch.replace(source_sha256=tuple(
                        hashing[s].result() if s in hashing and sha is None else sha
                        for s, sha in zip(batch.sources, batch.source_sha256)))
                batch.position = np.arange(index, index + n, dtype=np.int64)
                index += n
                yield batch
            done += parts[k].units
            if progress:
                progress(done, total)
    finally:
        for f in futures.values():
            f.cancel()


def _lost(exc: Exception, part: Partition) -> ClusterError:
    what = (f"rows {part.span.first_row + 1:,}-{part.span.first_row + part.span.rows:,} of "
            f"{os.path.basename(part.table)}" if part.table else
            f"{len(part.items):,} file{'s' if len(part.items) != 1 else ''} from {os.path.basename(part.items[0].path)}"
            if part.items else "a partition")
    name = type(exc).__name__
    if name == "KilledWorker":
        return ClusterError(f"the workers scoring {what} died too often (Dask gave up on it: {exc}); the results "
                            "recorded before are kept")
    return ClusterError(f"scoring {what} failed on the cluster: {name}: {exc}")
