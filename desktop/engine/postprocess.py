"""Raw model outputs to results: top-k labels (softmax only for logits), regression values, raw tensors."""

from __future__ import annotations

import contextlib
import gc

import numpy as np

from .results import Prediction

_PROB_TOLERANCE = 1e-3


# The reductions below call the ufuncs directly (np.add.reduce is what ndarray.sum runs): the
# same numbers without numpy's Python wrappers, whose cold code costs more than the arithmetic
# when a small output is read right after a long inference.
_max, _min, _sum = np.maximum.reduce, np.minimum.reduce, np.add.reduce


@contextlib.contextmanager
def _no_cycle_collection():
    """Pause Python's cycle collector while a batch's answers are made.

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


def softmax(x: np.ndarray) -> np.ndarray:
    x = np.asarray(x, dtype=np.float64)
    e = np.exp(x - _max(x, axis=-1, keepdims=True))
    e /= _sum(e, axis=-1, keepdims=True)
    return e


def looks_like_probabilities(v: np.ndarray) -> bool:
    """True when scores are already probabilities: all in [0, 1] and summing to 1."""
    v = np.asarray(v, dtype=np.float64)
    return bool(v.size and np.all(v >= -1e-6) and np.all(v <= 1 + 1e-6)
                and abs(float(v.sum()) - 1.0) <= _PROB_TOLERANCE * max(1, v.size / 100))


class ZipMapScores:
    """A ZipMap output read as the tensor in front of it: class keys and an (n, K) array of scores."""

    __slots__ = ("keys", "scores")

    def __init__(self, keys: list, scores):
        self.keys = list(keys)
        self.scores = np.asarray(scores)

    def __len__(self) -> int:
        return len(self.scores)


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
    from operator import itemgetter

    get = itemgetter(*keys)
    return np.array([get(d) for d in maps], dtype=np.float64).reshape(n, k)


class Postprocessor:
    """Slices a batch of outputs per item and reads the model's answer for the profile's task.

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

    def block(self, raw: list, n: int) -> "OutputBlock":
        """Read a whole batch of ``n`` items at once (vectorised top-k and values)."""
        return OutputBlock(self, raw, n)


class OutputBlock:
    """The outputs of one batch, read column-wise: per-item results are cheap slices of it."""

    def __init__(self, post: Postprocessor, raw: list, n: int):
        self.post = post
        self.n = n
        self.tensors: dict = {}  # name -> array with the batch axis first (or shared, without it)
        self.batched: dict = {}  # name -> whether axis 0 is the batch axis
        self.maps: dict = {}  # ZipMap name -> (label names, scores (n, K))
        for name, value in zip(post.names, raw):
            if isinstance(value, ZipMapScores):
                scores = value.scores.reshape(len(value.scores), -1).astype(np.float64)
                self.maps[name] = ([post.label(k) for k in value.keys], value.keys, scores)
            elif isinstance(value, list):
                keys = list(value[0].keys()) if value and isinstance(value[0], dict) else []
                scores = _map_scores(value, keys)
                self.maps[name] = ([post.label(k) for k in keys], keys, scores)
            else:
                arr = np.asarray(value)
                self.tensors[name] = arr
                self.batched[name] = arr.ndim >= 1 and arr.shape[0] == n
        self.top_index = self.top_score = None
        self.top_names = None
        self.values = None
        if post.task == "classification":
            self._top()
        elif post.task == "regression":
            name = post.value_output
            if name in self.tensors and self.batched[name]:
                self.values = self.tensors[name].reshape(n, -1)[:, :1024].astype(np.float64)

    def _top(self):
        post, n = self.post, self.n
        name = post.score_output
        if name in self.maps:
            names, keys, scores = self.maps[name]
            indices = np.array([post.labels.index(k) if k in post.labels else j for j, k in enumerate(names)],
                               dtype=np.int64)
        elif name in self.tensors and self.batched[name]:
            v = self.tensors[name].reshape(n, -1).astype(np.float64)
            if v.shape[1] == 0:
                return
            if v.shape[1] == 1:
                s = v[:, 0]
                p = np.where((s >= 0) & (s <= 1), s, 1.0 / (1.0 + np.exp(-np.clip(s, -500, 500))))
                scores = np.stack([1.0 - p, p], axis=1) if len(post.labels) == 2 else p[:, None]
            else:
                tol = _PROB_TOLERANCE * max(1, v.shape[1] / 100)
                probs = ((_min(v, axis=1) >= -1e-6) & (_max(v, axis=1) <= 1 + 1e-6)
                         & (np.abs(_sum(v, axis=1) - 1.0) <= tol))
                if probs.all():
                    scores = v
                else:
                    scores = softmax(v) if not probs.any() else np.where(probs[:, None], v, softmax(v))
            names, indices = post.class_names(scores.shape[1])
        else:
            return
        k = min(post.top_k, scores.shape[1])
        order = (-scores).argsort(axis=1, kind="stable")[:, :k]
        self.top_score = scores[np.arange(n)[:, None], order]
        self.top_index = indices[order]
        self.top_names = names
        self._order = order

    def _lists(self):
        """The per-item answers as Python objects, made once per batch: per-item access is then an index."""
        if getattr(self, "_cache", None) is None:
            with _no_cycle_collection():
                self._cache = self._build_lists()
        return self._cache

    def _build_lists(self) -> tuple[list, list | None, list | None]:
        n, names = self.n, self.post.names
        columns = []
        for name in names:
            if name in self.maps:
                labels = self.maps[name][0]
                columns.append([dict(zip(labels, row)) for row in self.maps[name][2].tolist()])
            elif self.batched[name]:
                columns.append(list(self.tensors[name]))  # views of each item's slice
            else:
                columns.append([self.tensors[name]] * n)  # shared by the whole batch
        outputs = [dict(zip(names, row)) for row in zip(*columns)] if names else [{} for _ in range(n)]
        tops = None
        if self.top_score is not None:
            label_of = [[self.top_names[j] for j in row] for row in self._order.tolist()]
            new = tuple.__new__  # Prediction(...) without the NamedTuple constructor's extra call
            tops = [tuple([new(Prediction, p) for p in zip(*row)])
                    for row in zip(label_of, self.top_index.tolist(), self.top_score.tolist())]
        values = [tuple(v) for v in self.values.tolist()] if self.values is not None else None
        return outputs, tops, values

    def items(self) -> list[tuple[dict, tuple, tuple]]:
        """(outputs, top, values) of every item of the batch, in order."""
        outputs, tops, values = self._lists()
        empty = [()] * self.n
        return list(zip(outputs, tops if tops is not None else empty, values if values is not None else empty))
