"""run_batches() and run_batch(): the generators shared by the window, the command line and the store.

run_batches() yields ResultBatch columns (one inference call, one CSV chunk, or one failed
item), in input order; run_batch() is a thin iterator over their row views, one Result per
image or CSV row. Images are decoded and
preprocessed by a small thread pool ahead of inference (Pillow and onnxruntime release
the GIL), bounded so memory stays flat. Small models get adaptive batches; models slow
enough for one item per call are scored by those threads too, several items at once. CSV
rows are parsed and scored in vectorised chunks. Every failure stays on its own item;
cancellation is checked between items.
"""

from __future__ import annotations

import os
import re
import time
from collections import deque
from dataclasses import dataclass
from concurrent.futures import ThreadPoolExecutor, TimeoutError as FutureTimeout  # not the builtin before 3.11
from typing import Callable, Iterable, Iterator, NamedTuple

import numpy as np

from .errors import InputError
from .files import sha256_regular
from .geometry import placement
from .inputs import InputItem, InputKind, expand_inputs
from .inputs.images import PIXEL_SPACING
from .inputs.tabular import TableChunk, TableReader
from .postprocess import OutputBlock, stack_items
from .profile import Task
from .resultbatch import NO_ROW, ResultBatch, spread_answer
from .results import Result

ProgressFn = Callable[[int, int], None]



def _always() -> bool:
    return True


def _safe_stem(path: str) -> str:
    stem = os.path.splitext(os.path.basename(path))[0]
    return re.sub(r"[^A-Za-z0-9._-]+", "_", stem)[:60] or "input"


class _Run:
    """State of one run: counters, options and the output helpers."""

    def __init__(self, engine, top_k, should_stop, progress, save_inputs, total):
        self.engine = engine
        self.post = engine.postprocessor(top_k)
        keep = engine.profile.keep_outputs  # None: all but a detector's or segmenter's, once decoded
        self.keep_outputs = keep if keep is not None else self.post.task not in (Task.DETECTION, Task.SEGMENTATION)
        self.should_stop = should_stop or (lambda: False)
        self.progress = progress
        self.save_dir = save_inputs
        self.index = 0
        self.done = 0
        self.total = total
        self.last_infer_ms = 0.0
        self.infer_calls = 0  # inference calls made on this thread so far
        self.batch_target = 1
        self.skip_rows: dict = {}
        self.table_options: dict = {}
        self.hash_inputs = False
        self.pool_workers = 0  # decode threads of the current image group
        self.infer_in_pool = False  # those threads also run inference (models slow enough for one item a call)
        self.next_ready: Callable[[], bool] = _always  # whether the next item is decoded and waiting
        if save_inputs:
            os.makedirs(save_inputs, exist_ok=True)
        self.masks = None  # --save-masks: a maskwriters.MaskSaver

    def stopped(self) -> bool:
        return bool(self.should_stop())

    def emit(self, batch: ResultBatch, units: int | None = None) -> ResultBatch:
        """Number the batch's items from the run's next position, count them done, report progress."""
        n = len(batch)
        batch.position = np.arange(self.index, self.index + n, dtype=np.int64)
        self.index += n
        self.done += n if units is None else units
        if self.progress:
            self.progress(self.done, self.total)
        return batch

    def save(self, tensor: np.ndarray, position: int, path: str, row: int | None) -> str | None:
        """Write the item's model input as ``<position>_<stem>[_row<n>].npy``; its absolute path.

        A file is never written over: a name already taken (a folder used before, a resumed
        run numbering from 0 again) gets ``-2``, ``-3``... so every record keeps pointing at
        the tensor it was given.
        """
        if not self.save_dir:
            return None
        name = f"{position:06d}_{_safe_stem(path)}" + (f"_row{row}" if row is not None else "")
        target = os.path.join(self.save_dir, name + ".npy")
        k = 1
        while True:
            try:
                fh = open(target, "xb")
                break
            except FileExistsError:
                k += 1
                target = os.path.join(self.save_dir, f"{name}-{k}.npy")
        with fh:
            np.save(fh, tensor)
        return os.path.abspath(target)

    def failure(self, item_path: str, kind: str, message: str, row=None, timings=(0.0, 0.0, 0.0, 0.0),
                cells=None, sha=None) -> ResultBatch:
        return ResultBatch.failed(self.post.task, self.index, item_path, kind, message, row=row, timings=timings,
                                  sha256=sha, cells=cells)

    def failed_image(self, entry: "_Prepared", message: str) -> ResultBatch:
        """The emitted batch of an image that was not scored (its decode and preprocess times kept)."""
        return self.emit(self.failure(entry.item.path, entry.item.kind, message,
                                      timings=(entry.t_decode, entry.t_pre, 0.0, 0.0), sha=entry.sha))

    def scored(self, block: OutputBlock | None, *, sources, kinds, shas, source, row, timings, ok=None,
               **columns) -> ResultBatch:
        """A batch of items with the outputs ``block`` of their inference call (None: nothing was scored).

        ``ok`` defaults to every item scored; positions are set by :meth:`emit`.
        """
        n = len(row)
        if block is None:
            answer, meta, outputs, shared, maps = {}, {}, {}, {}, {}
        else:
            answer, meta = block.answer, block.meta
            outputs, shared = block.tensors, {}  # every output has a row per item (OutputBlock)
            if answer and not self.keep_outputs:
                # decoded into boxes or masks, the raw grids are not kept (a YOLOv8's 84×8400 a call, 9 MB
                # of JSON a page for the layout sample) unless the profile says keep_outputs: true
                outputs = {}
            maps = {k: (labels, scores) for k, (labels, _, scores) in block.maps.items()}
        return ResultBatch(
            task=self.post.task, position=np.zeros(n, dtype=np.int64), source=source, row=row,
            ok=np.ones(n, dtype=bool) if ok is None else ok, timings=timings, sources=sources, source_kinds=kinds,
            source_sha256=shas, answer=answer, meta=meta, outputs=outputs, shared=shared, maps=maps,
            output_names=self.post.names, **columns)


class _Prepared(NamedTuple):
    """One image after the decode pool: its tensor or error, and its outputs when the worker also scored it."""

    item: InputItem
    tensor: np.ndarray | None
    error: str | None
    t_decode: float
    t_pre: float
    sha: str | None
    raw: list | None = None  # the model's outputs, when inference ran in the worker
    t_infer: float = 0.0
    placement: object = None  # geometry.Placement: the image's original size and where it sits in the input


def _prepare(engine, item: InputItem, hash_inputs: bool = False, infer: bool = False) -> _Prepared:
    """Decode + preprocess one image in a worker thread (and score it too when ``infer``)."""
    t_decode = t_pre = 0.0
    sha = None
    name = os.path.basename(item.path)
    try:
        if hash_inputs:
            sha = _file_sha256(item.path)
        img, t_decode = engine.load_image(item.path, item.kind)
        tensor, t_pre = engine.preprocess(img)
        place = placement(img.size[0], img.size[1], engine.profile.image, img.info.get(PIXEL_SPACING))
    except InputError as exc:
        msg = str(exc)
        return _Prepared(item, None, msg if msg.startswith(name) else f"{name}: {msg}", t_decode, t_pre, sha)
    except MemoryError:
        return _Prepared(item, None, f"{name}: not enough memory to decode this image", t_decode, t_pre, sha)
    except Exception as exc:  # noqa: BLE001 - a decoder bug must not end the batch
        return _Prepared(item, None, f"{name}: cannot read the image ({type(exc).__name__}: {exc})",
                         t_decode, t_pre, sha)
    if not infer:
        return _Prepared(item, tensor, None, t_decode, t_pre, sha, placement=place)
    try:
        raw, t_infer = engine.run(engine.image_feeds([tensor]))
    except InputError as exc:
        return _Prepared(item, None, _inference_error(item, exc), t_decode, t_pre, sha)
    return _Prepared(item, tensor, None, t_decode, t_pre, sha, raw, t_infer, place)


def _inference_error(item: InputItem, exc: InputError) -> str:
    return f"{os.path.basename(item.path)}: {exc}"


def _hash_in_background(path: str):
    """A future of the file's SHA-256, computed on a daemon thread."""
    from concurrent.futures import Future
    import threading

    future: Future = Future()

    def work():
        try:
            future.set_result(_file_sha256(path))
        except BaseException as exc:  # noqa: BLE001 - the waiting reader must never wait forever
            future.set_exception(exc)

    threading.Thread(target=work, name="inferdesk-hash", daemon=True).start()
    return future


def _file_sha256(path: str) -> str | None:
    """The input's SHA-256; None when it cannot be read or is not a regular file (its reader then says why)."""
    from .inputs.dicomseries import file_of

    try:
        return sha256_regular(file_of(path))  # a frame's item (file.dcm#frame=3): its file's
    except (OSError, InputError):
        return None


#: adaptive batching aims for inference calls of about this many milliseconds, so that
#: cancelling still stops quickly and results keep flowing
BATCH_TARGET_MS = 40.0
MAX_BATCH = 256
MAX_BATCH_BYTES = 16 << 20  # and at most this much input per call, so the decode window stays small
BATCH_MIN_PAYOFF_MS = 1.0  # models slower than this per item are run one item per call


def _prepared(run: _Run, items: list[InputItem], workers: int, depth: Callable[[], int]) -> Iterator[_Prepared]:
    """Each image decoded (and, once run.infer_in_pool is set, scored) ahead by a bounded pool, in input order."""
    if workers <= 0:
        for item in items:
            yield _prepare(run.engine, item, run.hash_inputs)
        return
    pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="inferdesk-decode")
    window: deque = deque()
    source = iter(items)
    run.next_ready = lambda: bool(window) and window[0].done()
    finished = False
    try:
        while True:
            while len(window) < depth():
                nxt = next(source, None)
                if nxt is None:
                    break
                window.append(pool.submit(_prepare, run.engine, nxt, run.hash_inputs, run.infer_in_pool))
            if not window:
                finished = True
                return
            entry = _wait(run, window.popleft())
            if entry is None:  # stopped while an item was still decoding
                return
            yield entry
    finally:
        run.next_ready = _always
        for fut in window:
            fut.cancel()
        # a run that ends early (stopped, interrupted by Ctrl+C, closed) does not wait for the decodes
        # still going: they finish on their own and are dropped. One that ends as usual has none left.
        pool.shutdown(wait=finished, cancel_futures=True)


#: how often a run waiting for a decode asks whether it should stop, in seconds
STOP_POLL_S = 0.05


def _wait(run: _Run, future) -> "_Prepared | None":
    """The future's result, or None as soon as the run is stopped while it is not ready yet.

    A decode cannot be interrupted, and one image can take seconds; the run need not wait for it.
    """
    while True:
        try:
            return future.result(timeout=STOP_POLL_S)
        except FutureTimeout:
            if run.stopped():
                return None


def _flush(run: _Run, batch: list[_Prepared]) -> Iterator[ResultBatch]:
    """Score a batch of same-shape tensors in one call; on failure, retry one by one so errors stay put."""
    engine = run.engine
    if not batch:
        return
    try:
        feeds = engine.image_feeds([entry.tensor for entry in batch])
        if len(batch) == 1:
            raw, t_infer = engine.run(feeds)
        else:
            stacked = engine.run_stacked(feeds, len(batch), lambda: engine.image_feeds([batch[0].tensor]))
            if stacked is None:  # the outputs do not keep one row per item: one call each
                run.batch_target = 1
                for entry in batch:
                    yield from _flush(run, [entry])
                return
            raw, t_infer = stacked
    except InputError as exc:
        if len(batch) > 1:
            for entry in batch:
                yield from _flush(run, [entry])
            return
        yield run.failed_image(batch[0], _inference_error(batch[0].item, exc))
        return
    run.last_infer_ms = t_infer / len(batch)
    run.infer_calls += 1
    yield from _results(run, batch, raw, t_infer, feeds[engine.profile.input])


def _results(run: _Run, batch: list[_Prepared], raw: list, t_infer: float, x: np.ndarray) -> Iterator[ResultBatch]:
    """The ResultBatch of a scored batch: outputs ``raw`` for the stacked tensors ``x``."""
    engine = run.engine
    n = len(batch)
    t0 = time.perf_counter()
    placements = [entry.placement for entry in batch]
    block = run.post.block(raw, n, placements if any(p is not None for p in placements) else None)
    t_post = (time.perf_counter() - t0) * 1e3 / n  # the batch's postprocessing, shared out evenly
    timings = np.empty((n, 4), dtype=np.float64)
    timings[:, 0] = [entry.t_decode for entry in batch]
    timings[:, 1] = [entry.t_pre for entry in batch]
    timings[:, 2] = t_infer / n
    timings[:, 3] = t_post
    saved = {}
    if run.save_dir:
        for i, entry in enumerate(batch):
            saved[i] = run.save(x[i:i + 1] if engine.has_batch_axis else x, run.index + i, entry.item.path, None)
    ok = np.ones(n, dtype=bool)
    ok[list(block.errors)] = False
    errors = {i: f"{os.path.basename(batch[i].item.path)}: {message}" for i, message in block.errors.items()}
    scored = run.scored(block, sources=[e.item.path for e in batch], kinds=[e.item.kind for e in batch],
                        shas=[e.sha for e in batch], source=np.arange(n), row=np.full(n, NO_ROW),
                        timings=timings, ok=ok, errors=errors, saved_input=saved)
    if run.masks is not None:
        for i in np.flatnonzero(scored.ok).tolist():
            written = run.masks.save(scored, i)
            if written is not None:
                scored.mask_file[i] = written
    yield run.emit(scored)


def _next_batch(per_item_ms: float, item_bytes: int = 0) -> int:
    """Items per inference call, from the measured per-item inference time and tensor size.

    Stacking pays when a call's fixed cost (a few microseconds to tens of them, plus reading
    the batch's outputs) is a large part of it: small models. A model that takes a millisecond
    or more per item gains nothing on a CPU and would only make results arrive in bursts, so it
    gets one item per call. Batches stay under about BATCH_TARGET_MS and MAX_BATCH_BYTES.
    """
    if per_item_ms >= BATCH_MIN_PAYOFF_MS:
        return 1
    by_bytes = MAX_BATCH_BYTES // item_bytes if item_bytes > 0 else MAX_BATCH
    return int(max(1, min(MAX_BATCH, by_bytes, BATCH_TARGET_MS / max(per_item_ms, 0.01))))


def _batched(run: _Run, entries: Iterable[_Prepared], batch_size: int | None) -> Iterator[ResultBatch]:
    """Stack consecutive same-shape tensors into batches, score them, yield results in order.

    Without a fixed ``batch_size`` the size adapts to measured inference time (calls of about
    BATCH_TARGET_MS), and a batch goes as soon as the next item is not decoded yet. A model
    slow enough to get one item per call is then scored by the decode workers themselves,
    several items at once (``run.infer_in_pool``): on a CPU that keeps every core busy without
    the per-operator hand-offs of intra-op threads, which wait for whichever thread a decoder
    has pre-empted.
    """
    engine = run.engine
    fixed = batch_size is not None
    run.batch_target = max(1, batch_size or 1) if engine.batchable else 1
    pool_ok = run.pool_workers >= 2 and engine.concurrent_runs and run.batch_target == 1
    batch: list[_Prepared] = []
    for entry in entries:
        if run.stopped():
            return
        if entry.error is not None or entry.raw is not None:
            yield from _flush(run, batch)
            batch = []
            if run.stopped():
                return
            if entry.error is not None:
                yield run.failed_image(entry, entry.error)
            else:
                x = engine.image_feeds([entry.tensor])[engine.profile.input] if run.save_dir else entry.tensor
                yield from _results(run, [entry], entry.raw, entry.t_infer, x)
            continue
        if batch and entry.tensor.shape != batch[0].tensor.shape:
            yield from _flush(run, batch)
            batch = []
        batch.append(entry)
        # an automatic batch is scored as soon as the next item is not decoded yet: waiting to fill
        # it would only hold back results when decoding is the slower stage
        if len(batch) >= run.batch_target or (not fixed and not run.next_ready()):
            yield from _flush(run, batch)
            batch = []
            if not fixed and engine.batchable and run.last_infer_ms:
                run.batch_target = _next_batch(run.last_infer_ms, entry.tensor.nbytes)
            # the first call is cold (a fast model's can look slow on a busy machine): a warm one decides
            if (pool_ok and run.batch_target == 1 and run.infer_calls >= 2
                    and run.last_infer_ms >= BATCH_MIN_PAYOFF_MS):
                run.infer_in_pool = True
    if not run.stopped():
        yield from _flush(run, batch)


def _score_images(run: _Run, items: list[InputItem], workers: int, batch_size: int | None) -> Iterator[ResultBatch]:
    """Decode ahead in a bounded pool (deep enough to fill a batch), then batch and score."""
    depth = lambda: max(2 * workers, run.batch_target + workers)  # noqa: E731
    run.pool_workers, run.infer_in_pool = workers, False
    yield from _batched(run, _prepared(run, items, workers, depth), batch_size)


def run_tensors(engine, tensors: Iterable[np.ndarray], *, top_k: int = 5, batch_size: int | None = None,
                should_stop: Callable[[], bool] | None = None, names: list[str] | None = None) -> Iterator[ResultBatch]:
    """Score already-preprocessed tensors (no batch axis), batched as images are; for benchmarks and tests."""
    tensors = list(tensors)
    run = _Run(engine, top_k, should_stop, None, None, len(tensors))
    entries = (_Prepared(InputItem(names[i] if names else f"tensor {i}", "tensor"), t, None, 0.0, 0.0, None)
               for i, t in enumerate(tensors))
    yield from _batched(run, entries, batch_size)


def outputs_batch(engine, raw: list, *, source: str, sha256: str | None = None, infer_ms: float = 0.0,
                  top_k: int = 5) -> ResultBatch:
    """The ResultBatch of outputs the model gave outside a run (the server's infer endpoint).

    ``raw`` is :meth:`Engine.run`'s list for one call; with a batch axis each of its rows is one
    item (``source`` with rows 0, 1, ...), without one the call is one item. The answer is
    decoded as the profile says, as a scored image's is; outputs that cannot be read so make
    one failed item that says why.
    """
    run = _Run(engine, top_k, None, None, None, None)
    try:  # rows of the first output (a ZipMap's too); a scalar or a sequence is one item
        n = max(1, len(raw[0])) if raw and engine.has_batch_axis else 1
    except TypeError:
        n = 1
    try:
        block = run.post.block(raw, n)
    except Exception as exc:  # outputs the decoder cannot read: recorded as that, not lost
        return run.emit(run.failure(source, InputKind.TENSOR, f"{source}: the outputs could not be read: {exc}",
                                    timings=(0.0, 0.0, infer_ms, 0.0), sha=sha256))
    timings = np.zeros((n, 4), dtype=np.float64)
    timings[:, 2] = infer_ms / n
    ok = np.ones(n, dtype=bool)
    ok[list(block.errors)] = False
    errors = {i: f"{source}: {message}" for i, message in block.errors.items()}
    return run.emit(run.scored(block, sources=[source], kinds=[InputKind.TENSOR], shas=[sha256],
                               source=np.zeros(n, dtype=np.int64),
                               row=np.arange(n, dtype=np.int64) if n > 1 else np.full(n, NO_ROW),
                               timings=timings, ok=ok, errors=errors))


@dataclass(kw_only=True)
class TableBlock:
    """One chunk of CSV rows, scored: parsed values, per-row errors and the outputs of the valid rows."""

    chunk: TableChunk
    ok: list  # indices into the chunk of rows that were scored
    outputs: OutputBlock | None
    error: str | None  # set when the whole chunk failed at inference
    t_decode: float  # per row, ms
    t_pre: float
    t_infer: float
    t_post: float


def table_blocks(engine, reader: TableReader, chunk_rows: int = 65536, post=None,
                 should_stop: Callable[[], bool] | None = None) -> Iterator[TableBlock]:
    """Parse and score a CSV in vectorised chunks: the fast path under run_batch and the benchmark."""
    post = post or engine.postprocessor()
    chunks = reader.chunks(chunk_rows)
    while not (should_stop and should_stop()):
        t0 = time.perf_counter()
        chunk = next(chunks, None)
        if chunk is None:
            return
        n = len(chunk.rows)
        t_decode = (time.perf_counter() - t0) * 1e3 / n
        ok = [i for i, e in enumerate(chunk.errors) if e is None]
        outputs, error, t_pre, t_infer, t_post = None, None, 0.0, 0.0, 0.0
        if ok:
            t1 = time.perf_counter()
            values = chunk.values if len(ok) == n else chunk.values[ok]
            texts = chunk.texts if len(ok) == n else {j: cells[ok] for j, cells in chunk.texts.items()}
            t_pre = (time.perf_counter() - t1) * 1e3 / n
            try:
                raw, t_infer = _run_rows(engine, values, texts)
                t_infer /= len(ok)
                t2 = time.perf_counter()
                outputs = post.block(raw, len(ok))
                t_post = (time.perf_counter() - t2) * 1e3 / len(ok)
            except InputError as exc:
                error = str(exc)
        yield TableBlock(chunk=chunk, ok=ok, outputs=outputs, error=error, t_decode=t_decode, t_pre=t_pre,
                         t_infer=t_infer, t_post=t_post)


def _score_table(run: _Run, item: InputItem, chunk_rows: int) -> Iterator[ResultBatch]:
    engine = run.engine
    name = os.path.basename(item.path)
    if engine.profile.table is None and engine.profile.image is not None:
        yield run.emit(run.failure(item.path, "table",
                                   f"{name}: this model takes images, not a table; drop image files instead"),
                       item.rows)
        return
    piece = run.table_options.get(item.path)  # a cluster partition's piece of a larger file
    try:
        reader = engine.table_reader(item.path, **(piece or {}))
    except InputError as exc:
        yield run.emit(run.failure(item.path, "table", str(exc)), item.rows)
        return
    produced = 0
    cols = tuple(reader.columns)
    # the file's SHA-256 is taken on a thread of its own while the first chunk is parsed
    # (hashlib and the reads release the interpreter lock); the first batch waits for it
    hashing = _hash_in_background(item.path) if run.hash_inputs else None
    sha = None
    done_rows = run.skip_rows.get(item.path, ())
    with reader:
        blocks = table_blocks(engine, reader, chunk_rows, run.post, run.stopped)
        while True:
            try:
                tb = next(blocks, None)
            except InputError as exc:
                yield run.emit(run.failure(item.path, "table", str(exc)), max(item.rows - produced, 1))
                return
            if tb is None:
                break
            produced += len(tb.chunk.rows)
            if hashing is not None:
                sha, hashing = hashing.result(), None
            batch = _table_batch(run, item, name, cols, sha, tb)
            if done_rows:
                batch = batch.take(np.array([r not in done_rows for r in tb.chunk.rows], dtype=bool))
                if not len(batch):
                    continue
            if run.save_dir:
                at = {r: j for j, r in enumerate(tb.chunk.rows)} if tb.chunk.texts else {}
                for i in np.flatnonzero(batch.ok).tolist():
                    j = at.get(int(batch.row[i]), 0)
                    feeds = engine.table_feeds(batch.features[i:i + 1],
                                               {k: cells[j:j + 1] for k, cells in tb.chunk.texts.items()})
                    batch.saved_input[i] = run.save(feeds[engine.profile.input] if len(feeds) == 1 else
                                                    np.concatenate(list(feeds.values()), axis=1),
                                                    run.index + i, item.path, int(batch.row[i]))
            yield run.emit(batch)
    if run.stopped():
        return
    if produced == 0 and piece is None:
        yield run.emit(run.failure(item.path, "table", f"{name}: the file has a header but no data rows"),
                       item.rows)
    elif produced < item.rows:
        run.done += item.rows - produced  # blank or bare-delimiter lines counted up front
        if run.progress:
            run.progress(run.done, run.total)


def _table_batch(run: _Run, item: InputItem, name: str, cols: tuple, sha: str | None, tb: "TableBlock") -> ResultBatch:
    """One CSV chunk's ResultBatch: every row of the chunk, scored or with its message."""
    chunk = tb.chunk
    n = len(chunk.rows)
    ok_idx = np.asarray(tb.ok, dtype=np.int64)
    timings = np.empty((n, 4), dtype=np.float64)
    timings[:] = (tb.t_decode, tb.t_pre, tb.t_infer, tb.t_post)  # shared: rows were scored together
    ok = np.zeros(n, dtype=bool)
    errors, cells = {}, {}
    if tb.outputs is not None:
        ok[ok_idx] = True
        for j, message in tb.outputs.errors.items():  # scored, but the model's answer is not a number
            i = int(ok_idx[j])
            ok[i] = False
            errors[i] = f"{name}: row {chunk.rows[i]}: {message}"
    for i in np.flatnonzero(~ok).tolist():
        raw = chunk.cells.get(i) if isinstance(chunk.cells, dict) else (chunk.cells[i] if chunk.cells else None)
        if i in errors:  # scored: its parsed values are what the model saw
            cells[i] = dict(zip(cols, map(str, raw))) if raw is not None else dict(
                zip(cols, map(repr, chunk.values[i].tolist())))
            continue
        error = chunk.errors[i] or tb.error or "not scored"
        errors[i] = error if error.startswith(name) else f"{name}: {error}"
        if raw is not None:
            cells[i] = dict(zip(cols, raw))
        timings[i, 2:] = 0.0
    passthrough = {k: list(v) for k, v in (getattr(chunk, "passthrough", None) or {}).items()}
    block = tb.outputs
    if block is not None and len(ok_idx) < n:  # spread the scored rows' outputs over the chunk (failed rows: zeros)
        block.answer = spread_answer(block.answer, ok_idx, n)
        block.tensors = {k: _spread(v, ok_idx, n) for k, v in block.tensors.items()}
        block.maps = {k: (labels, keys, _spread(s, ok_idx, n)) for k, (labels, keys, s) in block.maps.items()}
        block.n = n
    return run.scored(block, sources=[item.path], kinds=["table"], shas=[sha], source=np.zeros(n, dtype=np.int32),
                      row=np.asarray(chunk.rows, dtype=np.int64), timings=timings, ok=ok, errors=errors, cells=cells,
                      features=chunk.values, feature_names=cols, passthrough=passthrough)


def _spread(column: np.ndarray, where: np.ndarray, n: int) -> np.ndarray:
    out = np.zeros((n,) + column.shape[1:], dtype=column.dtype)
    out[where] = column
    return out


def _run_rows(engine, block: np.ndarray, texts: dict):
    """Score table rows: the whole block at once when its outputs split per row, else one by one."""
    if len(block) == 1:
        return engine.run(engine.table_feeds(block, texts))
    if engine.batchable:
        stacked = engine.run_stacked(engine.table_feeds(block, texts), len(block),
                                     lambda: engine.table_feeds(block[:1], {j: cells[:1] for j, cells in texts.items()}))
        if stacked is not None:
            return stacked
    outs, total = [], 0.0
    for r in range(len(block)):
        raw, t = engine.run(engine.table_feeds(block[r:r + 1], {j: cells[r:r + 1] for j, cells in texts.items()}))
        outs.append(raw)
        total += t
    return stack_items(outs), total


def default_workers() -> int:
    """Decode threads ahead of inference: one per core, at most four.

    Decoding a camera-sized JPEG often costs more than a small model's inference, so on a
    2-core machine two decoders keep inference fed (measured by benchmarks/throughput.py).
    """
    return max(1, min(4, os.cpu_count() or 2))


def run_batch(engine, inputs: Iterable, **options) -> Iterator[Result]:
    """Score inputs with an engine, yielding one Result per image or CSV row in input order.

    The row views of :func:`run_batches`, which takes the same options. ``should_stop`` is
    also checked between the rows of a batch, so a caller that stops on a count gets it.
    """
    should_stop = options.get("should_stop") or (lambda: False)
    for batch in run_batches(engine, inputs, **options):
        produced_before_stop = should_stop()  # a batch made as the stop came is delivered whole
        for result in batch.results():
            if not produced_before_stop and should_stop():
                return
            yield result


def run_batches(engine, inputs: Iterable, *, top_k: int = 5, should_stop: Callable[[], bool] | None = None,
                progress: ProgressFn | None = None, save_inputs: str | None = None, save_masks: str | None = None,
                workers: int | None = None, chunk_rows: int = 65536,
                batch_size: int | None = None, skip: set | None = None,
                hash_inputs: bool = False, table_options: dict | None = None) -> Iterator[ResultBatch]:
    """Score inputs with an engine, yielding ResultBatch columns in input order.

    A batch is one inference call of images, one chunk of CSV rows, or one item that failed;
    every item of the run appears in exactly one batch, numbered by its ``position``.

    Parameters
    ----------
    engine
        A loaded Engine.
    inputs
        Paths (files or folders) or InputItem objects.
    top_k
        Labels kept per classification result.
    should_stop
        Called between batches; when it returns True the generator stops.
    progress
        Called as ``progress(done, total)`` after each batch.
    save_inputs
        A folder where the tensor each item fed to the model is written as ``.npy``.
    save_masks
        A folder where each scored image's label map is written as ``<stem>.png``, with
        ``legend.json`` (a segmenter's; :mod:`~desktop.engine.maskwriters`); the record's
        ``mask_file`` names it.
    workers
        Decode threads ahead of inference (0: decode inline).
    chunk_rows
        CSV rows parsed and scored together.
    batch_size
        Images stacked per inference call when the model's batch axis is symbolic; None
        chooses it from measured inference time (for fast models: calls of about
        BATCH_TARGET_MS, at most MAX_BATCH items and MAX_BATCH_BYTES, sent early when the next
        image is not decoded yet; slower models one item per call, and on the CPU
        provider those calls are made by the decode threads, several items at once).
    skip
        ``(input, row)`` pairs that already have a result (row None for images): they are
        not scored again. Used to resume an interrupted run.
    hash_inputs
        Fill each result's ``input_sha256`` (hashed in the decode threads) for the audit trail.
    table_options
        CSV path -> TableReader options (``first_row``, ``parser``, ``encoding``) for a file that
        is a piece of a larger one (a cluster's partition, :mod:`~desktop.engine.cluster`).
    """
    items = [i if isinstance(i, InputItem) else None for i in inputs]
    if any(i is None for i in items):
        items = expand_inputs(list(inputs))
    skip = skip or set()
    if skip:
        items = [i for i in items if (i.path, None) not in skip]
    total = sum(i.rows for i in items) - sum(1 for path, row in skip if row is not None)
    run = _Run(engine, top_k, should_stop, progress, save_inputs, max(total, 0))
    run.hash_inputs = hash_inputs
    run.table_options = table_options or {}
    if save_masks:
        from .maskwriters import MaskSaver

        run.masks = MaskSaver(save_masks)
    run.skip_rows = {}
    for path, row in skip:
        if row is not None:
            run.skip_rows.setdefault(path, set()).add(row)
    if progress:
        progress(0, total)
    workers = default_workers() if workers is None else workers
    # consecutive images go through the decode pool together; tables and invalid items in between
    group: list[InputItem] = []

    def flush():
        nonlocal group
        batch, group = group, []
        return _score_images(run, batch, min(workers, len(batch)), batch_size)  # one alone: still cancellable

    for item in items:
        if item.kind in ("image", "dicom"):
            group.append(item)
            continue
        if group:
            yield from flush()
        if run.stopped():
            return
        if item.kind == "table":
            yield from _score_table(run, item, chunk_rows)
        else:
            yield run.emit(run.failure(item.path, item.kind, item.problem or "not a supported input"), item.rows)
    if group:
        yield from flush()



def group_batches(batches: Iterable, interval_s: float, max_items: int | None = None, *,
                  size: Callable = len, clock: Callable[[], float] = time.monotonic) -> Iterator[list]:
    """Consecutive batches in delivery groups: what a caller commits to the history, then hands on, together.

    Each batch joins the group in progress as it arrives; the group is closed and yielded
    when ``interval_s`` has passed since the last group closed (the time is read as each
    batch arrives) or when it holds ``max_items`` items or more. What is left is yielded at
    the end. The command line (50 ms or 512 items) and the scoring process (25 ms) group
    their batches with it.

    If ``batches`` raises (Ctrl+C in the command line), the group in progress is yielded
    first and the exception is raised on the next call: what was scored before it is still
    delivered.

    Parameters
    ----------
    batches
        ResultBatch objects (or anything ``size`` measures, e.g. ``(batch, time)`` pairs).
    interval_s
        The longest a batch waits in a group, measured from when the last group closed.
    max_items
        Close a group once it holds this many items (None: time only).
    size
        The items of one element (``len`` of a batch).
    clock
        Seconds, monotonic (``time.monotonic``; tests pass their own).
    """
    group: list = []
    items = 0
    last = clock()
    try:
        for batch in batches:
            group.append(batch)
            items += size(batch)
            now = clock()
            if now - last >= interval_s or (max_items is not None and items >= max_items):
                done, group, items, last = group, [], 0, now
                yield done
    except BaseException as exc:  # KeyboardInterrupt too; GeneratorExit (closed early) only comes at a yield
        if group and not isinstance(exc, GeneratorExit):
            done, group = group, []
            yield done
        raise
    if group:
        yield group
