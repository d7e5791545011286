"""Raw model outputs to results: top-k labels (softmax only for logits), regression values, raw tensors."""

from __future__ import annotations

import numpy as np

from .results import Prediction

_PROB_TOLERANCE = 1e-3


def softmax(x: np.ndarray) -> np.ndarray:
    x = np.asarray(x, dtype=np.float64)
    e = np.exp(x - np.max(x, axis=-1, keepdims=True))
    return e / np.sum(e, axis=-1, keepdims=True)


def looks_like_probabilities(v: np.ndarray) -> bool:
    """True when scores are already probabilities: all in [0, 1] and summing to 1."""
    v = np.asarray(v, dtype=np.float64)
    return bool(v.size and np.all(v >= -1e-6) and np.all(v <= 1 + 1e-6)
                and abs(float(v.sum()) - 1.0) <= _PROB_TOLERANCE * max(1, v.size / 100))


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

    def label(self, index) -> str:
        try:
            i = int(index)
        except (TypeError, ValueError):
            return str(index)
        return self.labels[i] if 0 <= i < len(self.labels) else str(i)

    def slice_outputs(self, raw: list, n: int, i: int) -> dict:
        """Item ``i``'s part of each output of a batch of ``n`` items."""
        out = {}
        for name, value in zip(self.names, raw):
            if isinstance(value, list):  # ZipMap: a list of {class: probability}, one per item
                item = value[i] if len(value) == n else (value[0] if value else {})
                out[name] = {self.label(k): float(v) for k, v in item.items()} if isinstance(item, dict) else item
            else:
                arr = np.asarray(value)
                out[name] = arr[i] if (arr.ndim >= 1 and arr.shape[0] == n) else arr
        return out

    def top(self, outputs: dict) -> tuple:
        """Top-k predictions from one item's outputs (empty when there is no score output)."""
        name = self.score_output
        if name is None or name not in outputs:
            return ()
        value = outputs[name]
        if isinstance(value, dict):
            labels = list(value)
            scores = np.array([value[k] for k in labels], dtype=np.float64)
            indices = list(range(len(labels)))
            names = labels
            if self.labels:  # keep the model's class index where the label is known
                indices = [self.labels.index(k) if k in self.labels else j for j, k in enumerate(labels)]
        else:
            v = np.asarray(value, dtype=np.float64).ravel()
            if v.size == 0:
                return ()
            if v.size == 1:
                s = float(v[0])
                p = s if 0.0 <= s <= 1.0 else float(1.0 / (1.0 + np.exp(-s)))
                if len(self.labels) == 2:  # one sigmoid unit for two classes
                    scores = np.array([1.0 - p, p])
                else:
                    scores = np.array([p])
            else:
                scores = v if looks_like_probabilities(v) else softmax(v)
            indices = list(range(scores.size))
            names = [self.label(i) for i in indices]
        order = np.argsort(-scores, kind="stable")[: self.top_k]
        return tuple(Prediction(names[j], int(indices[j]), float(scores[j])) for j in order)

    def values(self, outputs: dict) -> tuple:
        """Regression values: the first floating-point output, flattened."""
        name = self.value_output
        if name is None or name not in outputs or isinstance(outputs[name], dict):
            return ()
        return tuple(float(x) for x in np.asarray(outputs[name]).ravel()[:1024])

    def item(self, raw: list, n: int, i: int) -> tuple[dict, tuple, tuple]:
        """(outputs, top, values) for item ``i`` of a batch of ``n``."""
        outputs = self.slice_outputs(raw, n, i)
        if self.task == "classification":
            return outputs, self.top(outputs), ()
        if self.task == "regression":
            return outputs, (), self.values(outputs)
        return outputs, (), ()
