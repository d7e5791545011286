"""Raw model outputs read column-wise (OutputBlock), then decoded by the task's decoder (``decoders/``)."""

from __future__ import annotations

import contextlib
import gc
from operator import itemgetter

import numpy as np

from .decoders import decoder_for


@contextlib.contextmanager
def no_cycle_collection():
    """Pause Python's cycle collector while a batch's per-item objects are made.

    Those are tens of thousands of small dicts and tuples with no cycles among them; the
    collector would otherwise run every 700 of them and walk every live object, which for a
    large CSV took longer than making them (benchmarks/throughput.py, csv per-row results).
    """
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


class ZipMapScores:
    """A ZipMap output read as the tensor in front of it: class keys and an (n, K) array of scores."""

    __slots__ = ("keys", "scores")

    def __init__(self, keys: list, scores):
        self.keys = list(keys)
        self.scores = np.asarray(scores)

    def __len__(self) -> int:
        return len(self.scores)


class TensorSequence:
    """One item's seq(tensor) output (SequenceConstruct, SplitToSequence...): its tensors, in order."""

    __slots__ = ("tensors", "dtype")

    def __init__(self, tensors: list, dtype=np.float32):
        self.tensors = [np.asarray(t) for t in tensors]
        self.dtype = dtype

    def stacked(self) -> np.ndarray | None:
        """The tensors as one array, the sequence on its first axis; None when their shapes differ."""
        if not self.tensors:
            return np.zeros((0,), dtype=self.dtype)
        if any(t.shape != self.tensors[0].shape for t in self.tensors[1:]):
            return None
        return np.stack(self.tensors)


def _map_scores(maps: list, keys: list) -> np.ndarray:
    """(n, K) scores from ZipMap's list of {class: score} dicts, all with the classes ``keys``."""
    n, k = len(maps), len(keys)
    if not n or not k:
        return np.zeros((n, k), dtype=np.float64)
    if all(list(maps[i]) == keys for i in (0, n // 2, n - 1)):
        try:  # the common case: every dict lists the classes in the same order
            flat = np.fromiter((v for d in maps for v in d.values()), dtype=np.float64, count=n * k)
            return flat.reshape(n, k)
        except ValueError:
            pass
    get = itemgetter(*keys)
    return np.array([get(d) for d in maps], dtype=np.float64).reshape(n, k)


class Postprocessor:
    """Reads a batch of outputs column-wise and decodes the model's answer for the profile's task.

    Parameters
    ----------
    info
        The model's ModelInfo (output names and types).
    profile
        The Profile (task and labels).
    top_k
        How many labels to keep for classification.
    """

    def __init__(self, info, profile, top_k: int = 5):
        self.names = [o.name for o in info.outputs]
        self.specs = {o.name: o for o in info.outputs}
        self.labels = list(profile.labels)
        self.task = profile.task
        self.detection = getattr(profile, "detection", None)  # the profile's detection settings (or None)
        self.segmentation = getattr(profile, "segmentation", None)  # and its segmentation settings
        self.review_below = getattr(profile, "review_below", None)  # a classifier's review threshold (or None)
        self.metadata = dict(getattr(info, "metadata", None) or {})
        self.output_specs = tuple(info.outputs)
        image = getattr(profile, "image", None)
        self.input_size = image.output_size() if image is not None else None  # (w, h) when fixed
        self.state: dict = {}  # what a decoder decides once per run (the detector family)
        self.decoder = decoder_for(self.task)
        self.top_k = max(1, int(top_k))
        self._class_names: dict = {}
        self.score_output = self._pick_score_output(info)
        self.value_output = next((o.name for o in info.outputs if o.is_tensor and o.elem_type in
                                  ("float", "double", "float16")), self.names[0] if self.names else None)

    def _pick_score_output(self, info) -> str | None:
        for o in info.outputs:
            if o.is_zipmap:
                return o.name
        floats = [o for o in info.outputs if o.is_tensor and o.elem_type in ("float", "double", "float16")]
        if self.labels:
            for o in floats:
                if o.shape and o.shape[-1] == len(self.labels):
                    return o.name
        return floats[0].name if floats else (info.outputs[0].name if info.outputs else None)

    def class_names(self, k: int) -> tuple[list, np.ndarray]:
        """Names and indices of ``k`` classes (made once per size, not once per batch)."""
        cached = self._class_names.get(k)
        if cached is None:
            indices = np.arange(k, dtype=np.int64)
            cached = self._class_names[k] = ([self.label(i) for i in range(k)], indices)
        return cached

    def label(self, index) -> str:
        try:
            i = int(index)
        except (TypeError, ValueError):
            return str(index)
        return self.labels[i] if 0 <= i < len(self.labels) else str(i)

    def block(self, raw: list, n: int, placements: list | None = None) -> "OutputBlock":
        """Read a whole batch of ``n`` items at once (vectorised top-k and values).

        ``placements`` are the items' :class:`~desktop.engine.geometry.Placement` (an image's
        original size and where it sits in the input), for decoders that answer in the original
        image's pixels; None when the items are not images (CSV rows, ready-made tensors).
        """
        return OutputBlock(self, raw, n, placements)


def one_item(value):
    """The output of a call that scored one item, as a column of one row.

    An output whose first axis has length 1 is taken to be that row already (a [1, K] score); any
    other output (a scalar, the batch on another axis, an axis in front of it) is all the item's
    own, and gets the row axis in front. ZipMap outputs are lists of rows as they are.
    """
    if isinstance(value, TensorSequence):
        return [value]
    if isinstance(value, (ZipMapScores, list)):
        return value
    arr = np.asarray(value)
    return arr if arr.ndim >= 1 and arr.shape[0] == 1 else arr[None]


def stack_items(outputs: list[list]) -> list:
    """The outputs of several one-item calls (each a list in the model's output order) as columns of rows."""
    merged = []
    for parts in zip(*outputs):
        parts = [one_item(p) for p in parts]
        first = parts[0]
        if isinstance(first, ZipMapScores):
            merged.append(ZipMapScores(first.keys, np.concatenate([p.scores for p in parts])))
        elif isinstance(first, list):
            merged.append([row for p in parts for row in p])
        elif all(p.shape[1:] == first.shape[1:] for p in parts):
            merged.append(np.concatenate(parts))
        else:  # the items' outputs differ in shape (a symbolic size): one array per item
            column = np.empty(len(parts), dtype=object)
            for i, p in enumerate(parts):
                column[i] = p[0]
            merged.append(column)
    return merged


class OutputBlock:
    """The outputs of one batch, read column-wise, and the task's answer columns decoded from them.

    ``tensors`` holds each tensor output as a column of ``n`` rows, one per item: an array with
    the items on its first axis (``batched`` True), or when the items' outputs differ in shape an
    object array of one array per item (``batched`` False: no decoder reads those). ``maps``
    holds each ZipMap output as (label names, class keys, scores (n, K)). ``placements`` holds
    each image item's :class:`~desktop.engine.geometry.Placement` (None for other items). ``answer`` is the
    decoder's dict of columns, ``meta`` its per-model facts (class names...), the same for
    every batch of a run.

    ``raw`` are the outputs of one call for ``n`` items stacked (which Engine.run_stacked has
    checked split per item), of a call for one item, or several such calls put together by
    :func:`stack_items`.
    """

    def __init__(self, post: Postprocessor, raw: list, n: int, placements: list | None = None):
        self.post = post
        self.n = n
        self.placements = placements
        self.tensors: dict = {}
        self.batched: dict = {}
        self.maps: dict = {}
        problems: dict[int, str] = {}
        for name, value in zip(post.names, raw):
            if n == 1:
                value = one_item(value)
            if isinstance(value, list) and value and isinstance(value[0], TensorSequence):
                arr = _rows_of(_sequence_column(value, name, problems), n, name)
                self.tensors[name] = arr
                self.batched[name] = not _ragged(arr)
            elif isinstance(value, ZipMapScores):
                scores = value.scores.reshape(len(value.scores), -1).astype(np.float64)
                self.maps[name] = ([post.label(k) for k in value.keys], value.keys, _rows_of(scores, n, name))
            elif isinstance(value, list):
                keys = list(value[0].keys()) if value and isinstance(value[0], dict) else []
                scores = _map_scores(value, keys)
                self.maps[name] = ([post.label(k) for k in keys], keys, _rows_of(scores, n, name))
            else:
                arr = _rows_of(np.asarray(value), n, name)
                self.tensors[name] = arr
                self.batched[name] = not _ragged(arr)
        self.errors = self._failed(problems)
        self.answer = post.decoder.decode(self, n)
        self.meta = self.answer.pop("_meta", {})

    def _failed(self, errors: dict[int, str]) -> dict[int, str]:
        """The items that fail, each with what it got: ``errors`` (outputs that cannot be kept) and those with
        a NaN or an infinity in an output. Their rows are zeroed.

        An item with a NaN has no answer to give (its top score or value would be NaN, shown as an
        empty cell and marked ok), and a NaN would reach the history's JSON: it is failed, with the
        first output (in the model's order) that shows it, and the batch goes on.
        """
        columns = [(name, self.tensors[name] if name in self.tensors else self.maps[name][2])
                   for name in self.post.names if name in self.tensors or name in self.maps]
        for name, column in columns:
            if _ragged(column):  # one array per item
                bad = [i for i, a in enumerate(column) if a.dtype.kind in "fc" and not np.isfinite(a).all()]
                nan = [i for i in bad if np.isnan(column[i]).any()]
            else:  # (text is kept in object arrays too, and is never a NaN)
                if column.dtype.kind not in "fc" or np.isfinite(column).all():
                    continue
                flat = column.reshape(self.n, -1)
                bad = np.flatnonzero(~np.isfinite(flat).all(axis=1)).tolist()
                nan = np.flatnonzero(np.isnan(flat).any(axis=1)).tolist()
            nan_set = set(nan)
            for i in bad:
                what = "NaN" if i in nan_set else "infinite values"
                errors.setdefault(i, f"the model returned {what} for output '{name}'")
        if errors:
            failed = np.fromiter(errors, dtype=np.int64)
            for name, column in list(self.tensors.items()):
                if column.dtype.kind not in "fciub" and not _ragged(column):
                    continue  # text: nothing to zero
                self.tensors[name] = column = column.copy()
                if _ragged(column):
                    for i in failed.tolist():
                        column[i] = np.zeros_like(column[i])
                else:
                    column[failed] = 0
            for name, (labels, keys, scores) in list(self.maps.items()):
                scores = scores.copy()
                scores[failed] = 0
                self.maps[name] = (labels, keys, scores)
        return errors


def _ragged(column: np.ndarray) -> bool:
    """True for a column of one array per item (made when the items' outputs differ in shape)."""
    return column.dtype == object and column.ndim == 1 and len(column) > 0 and isinstance(column[0], np.ndarray)


def _sequence_column(sequences: list, name: str, problems: dict) -> np.ndarray:
    """A seq(tensor) output's column: each item's tensors stacked (k, ...), the sequence being its first axis.

    An item whose tensors differ in shape cannot be one array (nor kept in the history's files):
    it fails, saying so, with an empty row.
    """
    rows = []
    for i, seq in enumerate(sequences):
        arr = seq.stacked()
        if arr is None:
            shapes = ", ".join(str(list(t.shape)) for t in seq.tensors[:4]) + (", …" if len(seq.tensors) > 4 else "")
            problems.setdefault(i, f"the model returned a sequence of tensors of different shapes for output "
                                   f"'{name}' ({shapes}); InferDesk keeps a sequence only when its tensors share "
                                   "a shape")
            arr = np.zeros((0,), dtype=seq.dtype)
        rows.append(arr)
    if all(r.shape == rows[0].shape for r in rows[1:]):
        return np.stack(rows)
    column = np.empty(len(rows), dtype=object)
    for i, r in enumerate(rows):
        column[i] = r
    return column


def _rows_of(column: np.ndarray, n: int, name: str) -> np.ndarray:
    if column.ndim == 0 or column.shape[0] != n:
        raise ValueError(f"output '{name}' has {column.shape[0] if column.ndim else 'no'} rows for {n} items; "
                         "stacked outputs are split per item only after Engine.run_stacked has checked them")
    return column
