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


#: what a classifier's scores are (the decoder's meta ``scores``), in words for the window and the exports
SCORE_KINDS = {
    "probabilities": "the probability from the model's own output, which already sums to 1 over the classes",
    "softmax": "softmax of the model's raw scores (logits), computed by InferDesk: the model's output is not a "
               "probability",
    "sigmoid": "the logistic sigmoid of the model's one raw score, computed by InferDesk: the model's output is not "
               "a probability",
    "mixed": "the model's output where it already sums to 1, else softmax of it computed by InferDesk",
    "zipmap": "the probability from the classifier's probability output (scikit-learn's predict_proba)",
}


def score_meaning(meta) -> str | None:
    """What a classifier's score is, from its batch's meta (None when the batch does not say)."""
    return SCORE_KINDS.get((meta or {}).get("scores"))


def class_scores(block, n: int):
    """(labels by column, class index by column, scores (n, K), what the scores are (SCORE_KINDS)) of the
    model's score output, or None."""
    post = block.post
    name = post.score_output
    if name in block.maps:
        names, keys, scores = block.maps[name]
        indices = [post.labels.index(k) if k in post.labels else j for j, k in enumerate(names)]
        return list(names), indices, scores, "zipmap"
    if name not in block.tensors or not block.batched[name]:
        return None
    v = block.tensors[name].reshape(n, -1).astype(np.float64)
    if v.shape[1] == 0:
        return None
    if v.shape[1] == 1:
        s = v[:, 0]
        inside = (s >= 0) & (s <= 1)
        kind = "probabilities" if inside.all() else "sigmoid" if not inside.any() else "mixed"
        p = np.where(inside, s, 1.0 / (1.0 + np.exp(-np.clip(s, -500, 500))))
        scores = np.stack([1.0 - p, p], axis=1) if len(post.labels) == 2 else p[:, None]
    else:
        tol = _PROB_TOLERANCE * max(1, v.shape[1] / 100)
        probs = ((_min(v, axis=1) >= -1e-6) & (_max(v, axis=1) <= 1 + 1e-6)
                 & (np.abs(_sum(v, axis=1) - 1.0) <= tol))
        if probs.all():
            scores, kind = v, "probabilities"
        elif not probs.any():
            scores, kind = softmax(v), "softmax"
        else:
            scores, kind = np.where(probs[:, None], v, softmax(v)), "mixed"
    names, indices = post.class_names(scores.shape[1])
    return names, indices.tolist(), scores, kind


def review_marks(answer: dict, meta: dict) -> np.ndarray:
    """Which items are marked for review: top score under the meta's ``review_below`` (bool (n,); none
    without a threshold). A NaN score is marked: it is no answer to rely on."""
    scores = answer.get("top_score")
    threshold = (meta or {}).get("review_below")
    if scores is None or threshold is None or not scores.shape[1:] or not scores.shape[1]:
        return np.zeros(0 if scores is None else len(scores), dtype=bool)
    top = scores[:, 0]
    return ~(top >= float(threshold))


@register
class ClassificationDecoder:
    """Answer columns: ``top_col`` (n, k) the column of each of the k best classes, best first, and
    ``top_score`` (n, k). The meta ``labels`` and ``indices`` name each column's class and index."""

    task = Task.CLASSIFICATION

    def decode(self, block, n: int) -> dict:
        found = class_scores(block, n)
        if found is None:
            return {}
        names, indices, scores, kind = found
        k = min(block.post.top_k, scores.shape[1])
        order = (-scores).argsort(axis=1, kind="stable")[:, :k]
        meta = {"labels": [str(x) for x in names], "indices": [int(x) for x in indices], "scores": kind}
        if block.post.review_below is not None:  # stored with the batch: a reopened run marks the same results
            meta["review_below"] = float(block.post.review_below)
        return {"top_col": order.astype(np.int32), "top_score": scores[np.arange(n)[:, None], order],
                "_meta": meta}

    def record(self, answer: dict, meta: dict, i: int) -> dict:
        cols = answer.get("top_col")
        if cols is None:
            return {"top": []}
        labels, indices = meta["labels"], meta["indices"]
        d = {"top": [{"label": labels[c], "index": indices[c], "score": finite(s)}
                     for c, s in zip(cols[i].tolist(), answer["top_score"][i].tolist())]}
        if meta.get("review_below") is not None:
            d["review"] = bool(review_marks(answer, meta)[i])
        return d

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
        if meta.get("review_below") is not None:
            out.append(("review", review_marks(answer, meta)))
        return out

    def summary(self, answer: dict, meta: dict, i: int) -> tuple[str, float | None]:
        cols = answer.get("top_col")
        if cols is None or not cols.shape[1]:
            return "—", None
        return meta["labels"][int(cols[i, 0])], float(answer["top_score"][i, 0])
