"""The classification decoder: top-k labels and scores (softmax only when the scores are not probabilities)."""

from __future__ import annotations

import numpy as np

from . import register
from ..profile import Task
from ..results import finite

_PROB_TOLERANCE = 1e-3

# The reductions call the ufuncs directly (np.add.reduce is what ndarray.sum runs): the same
# numbers without numpy's Python wrappers, whose cold code costs more than the arithmetic when
# a small output is read right after a long inference.
_max, _min, _sum = np.maximum.reduce, np.minimum.reduce, np.add.reduce


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


def class_scores(block, n: int):
    """(labels by column, class index by column, scores (n, K)) of the model's score output, or None."""
    post = block.post
    name = post.score_output
    if name in block.maps:
        names, keys, scores = block.maps[name]
        indices = [post.labels.index(k) if k in post.labels else j for j, k in enumerate(names)]
        return list(names), indices, scores
    if name not in block.tensors or not block.batched[name]:
        return None
    v = block.tensors[name].reshape(n, -1).astype(np.float64)
    if v.shape[1] == 0:
        return None
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
    return names, indices.tolist(), scores


@register
class ClassificationDecoder:
    """Answer columns: ``top_col`` (n, k) the column of each of the k best classes, best first, and
    ``top_score`` (n, k). The meta ``labels`` and ``indices`` name each column's class and index."""

    task = Task.CLASSIFICATION

    def decode(self, block, n: int) -> dict:
        found = class_scores(block, n)
        if found is None:
            return {}
        names, indices, scores = found
        k = min(block.post.top_k, scores.shape[1])
        order = (-scores).argsort(axis=1, kind="stable")[:, :k]
        return {"top_col": order.astype(np.int32), "top_score": scores[np.arange(n)[:, None], order],
                "_meta": {"labels": [str(x) for x in names], "indices": [int(x) for x in indices]}}

    def record(self, answer: dict, meta: dict, i: int) -> dict:
        cols = answer.get("top_col")
        if cols is None:
            return {"top": []}
        labels, indices = meta["labels"], meta["indices"]
        return {"top": [{"label": labels[c], "index": indices[c], "score": finite(s)}
                        for c, s in zip(cols[i].tolist(), answer["top_score"][i].tolist())]}

    def columns(self, answer: dict, meta: dict, n: int) -> list:
        cols = answer.get("top_col")
        if cols is None:
            return []
        labels = np.asarray(meta["labels"], dtype=object)
        out = []
        for j in range(cols.shape[1]):
            suffix = "" if j == 0 else f"_{j + 1}"
            out.append((f"label{suffix}", labels[cols[:, j]]))
            out.append((f"score{suffix}", answer["top_score"][:, j]))
        return out

    def summary(self, answer: dict, meta: dict, i: int) -> tuple[str, float | None]:
        cols = answer.get("top_col")
        if cols is None or not cols.shape[1]:
            return "—", None
        return meta["labels"][int(cols[i, 0])], float(answer["top_score"][i, 0])
