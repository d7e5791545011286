"""run_batch(): the generator shared by the window and the command line.

It yields one Result per image or CSV row, in input order. Images are decoded and
preprocessed by a small thread pool ahead of inference (Pillow and onnxruntime release
the GIL), bounded so memory stays flat; CSV rows are parsed and scored in vectorised
chunks. Every failure stays on its own item; cancellation is checked between items.
"""

from __future__ import annotations

import os
import re
import time
from collections import deque
from concurrent.futures import ThreadPoolExecutor
from typing import Callable, Iterable, Iterator

import numpy as np

from .errors import InputError
from .inputs import InputItem, expand_inputs
from .inputs.tabular import TableReader
from .results import Result, Timings

ProgressFn = Callable[[int, int], None]


def _safe_stem(path: str) -> str:
    stem = os.path.splitext(os.path.basename(path))[0]
    return re.sub(r"[^A-Za-z0-9._-]+", "_", stem)[:60] or "input"


class _Run:
    """State of one run: counters, options and the output helpers."""

    def __init__(self, engine, top_k, should_stop, progress, save_inputs, total):
        self.engine = engine
        self.post = engine.postprocessor(top_k)
        self.should_stop = should_stop or (lambda: False)
        self.progress = progress
        self.save_dir = save_inputs
        self.index = 0
        self.done = 0
        self.total = total
        if save_inputs:
            os.makedirs(save_inputs, exist_ok=True)

    def stopped(self) -> bool:
        return bool(self.should_stop())

    def emit(self, result: Result, units: int = 1) -> Result:
        self.index += 1
        self.done += units
        if self.progress:
            self.progress(self.done, self.total)
        return result

    def save(self, tensor: np.ndarray, path: str, row: int | None) -> str | None:
        if not self.save_dir:
            return None
        name = f"{self.index:06d}_{_safe_stem(path)}" + (f"_row{row}" if row is not None else "") + ".npy"
        target = os.path.join(self.save_dir, name)
        np.save(target, tensor)
        return os.path.abspath(target)

    def failure(self, item_path: str, kind: str, message: str, row=None, timings=Timings(), features=None):
        return Result(self.index, item_path, row, False, message, timings=timings, kind=kind, features=features)


def _prepare(engine, item: InputItem):
    """Decode + preprocess one image in a worker thread: (tensor | None, error | None, t_decode, t_pre)."""
    t_decode = t_pre = 0.0
    try:
        img, t_decode = engine.load_image(item.path, item.kind)
        tensor, t_pre = engine.preprocess(img)
        return tensor, None, t_decode, t_pre
    except InputError as exc:
        msg = str(exc)
        name = os.path.basename(item.path)
        return None, (msg if msg.startswith(name) else f"{name}: {msg}"), t_decode, t_pre
    except MemoryError:
        return None, f"{os.path.basename(item.path)}: not enough memory to decode this image", t_decode, t_pre
    except Exception as exc:  # noqa: BLE001 - a decoder bug must not end the batch
        return None, f"{os.path.basename(item.path)}: cannot read the image ({type(exc).__name__}: {exc})", t_decode, t_pre


def _score_images(run: _Run, items: list[InputItem], workers: int) -> Iterator[Result]:
    engine = run.engine
    if workers <= 0:
        pending = ((item, None) for item in items)
        pool = None
    else:
        pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="inferdesk-decode")
        window = deque()
        source = iter(items)

        def fill():
            while len(window) < 2 * workers:
                nxt = next(source, None)
                if nxt is None:
                    return
                window.append((nxt, pool.submit(_prepare, engine, nxt)))

        def gen():
            fill()
            while window:
                item, fut = window.popleft()
                fill()
                yield item, fut

        pending = gen()
    try:
        for item, fut in pending:
            if run.stopped():
                return
            tensor, error, t_decode, t_pre = fut.result() if fut is not None else _prepare(engine, item)
            if error is not None:
                yield run.emit(run.failure(item.path, item.kind, error,
                                           timings=Timings(t_decode, t_pre, 0.0, 0.0)))
                continue
            try:
                feeds = engine.image_feeds([tensor])
                raw, t_infer = engine.run(feeds)
                t0 = time.perf_counter()
                outputs, top, values = run.post.item(raw, 1, 0)
                t_post = (time.perf_counter() - t0) * 1e3
            except InputError as exc:
                yield run.emit(run.failure(item.path, item.kind, f"{os.path.basename(item.path)}: {exc}",
                                           timings=Timings(t_decode, t_pre, 0.0, 0.0)))
                continue
            saved = run.save(feeds[engine.profile.input], item.path, None)
            yield run.emit(Result(run.index, item.path, None, True, None, outputs, top, values,
                                  Timings(t_decode, t_pre, t_infer, t_post), item.kind, saved))
    finally:
        if pool is not None:
            pool.shutdown(wait=True, cancel_futures=True)


def _score_table(run: _Run, item: InputItem, chunk_rows: int) -> Iterator[Result]:
    engine = run.engine
    name = os.path.basename(item.path)
    if engine.profile.table is None and engine.profile.image is not None:
        yield run.emit(run.failure(item.path, "table",
                                   f"{name}: this model takes images, not a table; drop image files instead"),
                       item.rows)
        return
    columns = engine.profile.table.columns if engine.profile.table else None
    try:
        reader = TableReader(item.path, columns, engine.n_features)
    except InputError as exc:
        yield run.emit(run.failure(item.path, "table", str(exc)), item.rows)
        return
    produced = 0
    with reader:
        chunks = reader.chunks(chunk_rows)
        while True:
            if run.stopped():
                return
            t0 = time.perf_counter()
            try:
                chunk = next(chunks, None)
            except InputError as exc:
                yield run.emit(run.failure(item.path, "table", str(exc)), max(item.rows - produced, 1))
                return
            if chunk is None:
                break
            n = len(chunk.rows)
            t_decode = (time.perf_counter() - t0) * 1e3 / n
            ok = [i for i, e in enumerate(chunk.errors) if e is None]
            raw = None
            t_infer = t_pre = 0.0
            batch_error = None
            if ok:
                t1 = time.perf_counter()
                block = chunk.values[ok]
                t_pre = (time.perf_counter() - t1) * 1e3 / n
                try:
                    raw, t_infer = _run_rows(engine, block)
                    t_infer /= len(ok)
                except InputError as exc:
                    batch_error = str(exc)
            position = {i: j for j, i in enumerate(ok)}
            for i in range(n):
                if run.stopped():
                    return
                row = chunk.rows[i]
                error = chunk.errors[i] or batch_error
                if error is not None:
                    features = dict(zip(reader.columns, chunk.cells[i])) if chunk.cells else None
                    msg = error if error.startswith(name) else f"{name}: {error}"
                    produced += 1
                    yield run.emit(run.failure(item.path, "table", msg, row=row,
                                               timings=Timings(t_decode, t_pre, 0.0, 0.0), features=features))
                    continue
                t2 = time.perf_counter()
                outputs, top, values = run.post.item(raw, len(ok), position[i])
                t_post = (time.perf_counter() - t2) * 1e3
                features = dict(zip(reader.columns, (float(v) for v in chunk.values[i])))
                saved = None
                if run.save_dir:
                    feeds = engine.table_feeds(chunk.values[i:i + 1])
                    saved = run.save(feeds[engine.profile.input] if len(feeds) == 1 else
                                     np.concatenate(list(feeds.values()), axis=1), item.path, row)
                produced += 1
                yield run.emit(Result(run.index, item.path, row, True, None, outputs, top, values,
                                      Timings(t_decode, t_pre, t_infer, t_post), "table", saved, features))
    if produced == 0:
        yield run.emit(run.failure(item.path, "table", f"{name}: the file has a header but no data rows"),
                       item.rows)
    elif produced < item.rows:
        run.done += item.rows - produced  # blank or merged lines counted up front
        if run.progress:
            run.progress(run.done, run.total)


def _run_rows(engine, block: np.ndarray):
    """Score table rows: the whole block at once when the batch axis is free, else one by one."""
    if engine.batchable or len(block) == 1:
        return engine.run(engine.table_feeds(block))
    outs, total = [], 0.0
    for r in range(len(block)):
        raw, t = engine.run(engine.table_feeds(block[r:r + 1]))
        outs.append(raw)
        total += t
    merged = []
    for k in range(len(outs[0])):
        parts = [o[k] for o in outs]
        merged.append(sum(parts, []) if isinstance(parts[0], list) else np.concatenate(parts))
    return merged, total


def default_workers() -> int:
    """Decode threads: one per core beyond the first, at least one, at most four."""
    return max(1, min(4, (os.cpu_count() or 2) - 1))


def run_batch(engine, inputs: Iterable, *, top_k: int = 5, should_stop: Callable[[], bool] | None = None,
              progress: ProgressFn | None = None, save_inputs: str | None = None,
              workers: int | None = None, chunk_rows: int = 4096) -> Iterator[Result]:
    """Score inputs with an engine, yielding one Result per image or CSV row in input order.

    Parameters
    ----------
    engine
        A loaded Engine.
    inputs
        Paths (files or folders) or InputItem objects.
    top_k
        Labels kept per classification result.
    should_stop
        Called between items; when it returns True the generator stops.
    progress
        Called as ``progress(done, total)`` after each result.
    save_inputs
        A folder where the tensor each item fed to the model is written as ``.npy``.
    workers
        Decode threads ahead of inference (0: decode inline).
    chunk_rows
        CSV rows parsed and scored together.
    """
    items = [i if isinstance(i, InputItem) else None for i in inputs]
    if any(i is None for i in items):
        items = expand_inputs(list(inputs))
    total = sum(i.rows for i in items)
    run = _Run(engine, top_k, should_stop, progress, save_inputs, total)
    if progress:
        progress(0, total)
    workers = default_workers() if workers is None else workers
    # consecutive images go through the decode pool together; tables and invalid items in between
    group: list[InputItem] = []

    def flush():
        nonlocal group
        batch, group = group, []
        return _score_images(run, batch, workers if len(batch) > 1 else 0)

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

