"""What an explanation returns: a saliency map over the image (Explanation) or per-feature attributions (TableExplanation)."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

#: the longer side of the map kept in ``to_dict`` (the full map is in ``Explanation.map``)
DICT_MAP_SIDE = 32


@dataclass
class Explanation:
    """A saliency map for one image and one target, in the original image's pixels.

    Attributes
    ----------
    map
        float32 (height, width) of the original image. RISE and D-RISE: normalised to [0, 1]
        (1 = most important). Occlusion: signed, the drop in the target's score when the patch
        around a pixel is covered (positive = the region supports the target; not rescaled).
        Pixels the model never sees (cut by a centre crop) are 0.
    target
        ``{"index": class index, "label": its name}``; D-RISE adds ``"box"`` (x1, y1, x2, y2 in
        original pixels) and ``"score"``.
    method
        "occlusion", "rise" or "drise".
    params
        Every setting the map was made with, the seed included: the same call with them makes the
        same map.
    model_sha256, input
        The model file's hash and the image's path.
    elapsed_s
        Seconds spent.
    cancelled
        True when the user stopped it: the map is made from the masks or patches done so far.
    input_map
        The same map in the model input's pixels (height, width of the tensor), before it was
        mapped back: what the sanity checks compare and delete by. Not in ``to_dict``.
    score
        The target's score on the unchanged image (probability, or the box's score for D-RISE).
    """

    map: np.ndarray
    target: dict
    method: str
    params: dict
    model_sha256: str
    input: str
    elapsed_s: float
    cancelled: bool = False
    score: float | None = None
    done: int = 0  # masks or patches scored
    total: int = 0
    input_map: np.ndarray | None = field(default=None, repr=False, compare=False)
    call: dict = field(default_factory=dict, repr=False, compare=False)  # what re-runs it (sanity checks)

    @property
    def signed(self) -> bool:
        """True when the map's values are signed score changes (occlusion), False when in [0, 1]."""
        return self.method == "occlusion"

    def to_dict(self, map_side: int | None = DICT_MAP_SIDE) -> dict:
        """JSON-ready: everything but the full map, which is downsampled to at most ``map_side`` on its
        longer side (block means) under ``"map"``, or left out when ``map_side`` is None."""
        d = {"kind": "image", "method": self.method, "target": dict(self.target), "params": _jsonable(self.params),
             "model_sha256": self.model_sha256, "input": self.input, "elapsed_s": round(float(self.elapsed_s), 4),
             "cancelled": bool(self.cancelled), "score": _num(self.score), "done": int(self.done),
             "total": int(self.total), "signed": self.signed,
             "map_size": [int(self.map.shape[1]), int(self.map.shape[0])],
             "map_range": [_num(self.map.min()), _num(self.map.max())] if self.map.size else [None, None]}
        if map_side:
            small = downsample(self.map, map_side)
            d["map"] = [[round(float(v), 5) for v in row] for row in small]
        return d


@dataclass
class TableExplanation:
    """Per-feature attributions of one table row (KernelSHAP).

    Attributes
    ----------
    features
        ``(name, value, attribution)`` per model feature, sorted by ``|attribution|``, largest
        first; ``value`` is the row's value (a float, or the text of a text column).
    base_value
        The model's mean score over the baseline rows (every feature "off").
    prediction
        The score of the row itself. The attributions sum to ``prediction - base_value``.
    """

    features: list
    base_value: float
    prediction: float
    target: dict
    method: str
    params: dict
    model_sha256: str
    input: str
    row: int
    elapsed_s: float
    cancelled: bool = False
    done: int = 0
    total: int = 0
    call: dict = field(default_factory=dict, repr=False, compare=False)

    def attributions(self, order: list | None = None) -> np.ndarray:
        """The attributions as float64, in ``order`` (feature names; default: as sorted)."""
        by_name = {name: a for name, _, a in self.features}
        names = order or [name for name, _, _ in self.features]
        return np.array([by_name[n] for n in names], dtype=np.float64)

    def to_dict(self) -> dict:
        return {"kind": "table", "method": self.method, "target": dict(self.target), "params": _jsonable(self.params),
                "model_sha256": self.model_sha256, "input": self.input, "row": self.row,
                "elapsed_s": round(float(self.elapsed_s), 4), "cancelled": bool(self.cancelled),
                "done": int(self.done), "total": int(self.total),
                "base_value": _num(self.base_value), "prediction": _num(self.prediction),
                "features": [{"name": n, "value": v if isinstance(v, str) else _num(v), "attribution": _num(a)}
                             for n, v, a in self.features]}


def downsample(a: np.ndarray, side: int) -> np.ndarray:
    """``a`` (h, w) reduced by block means so that its longer side is at most ``side``."""
    h, w = a.shape
    step = max(1, int(np.ceil(max(h, w) / side)))
    if step == 1:
        return a.astype(np.float64)
    hh, ww = -(-h // step), -(-w // step)
    padded = np.full((hh * step, ww * step), np.nan)
    padded[:h, :w] = a
    return np.nanmean(padded.reshape(hh, step, ww, step), axis=(1, 3))


def _num(v):
    if v is None:
        return None
    v = float(v)
    return v if np.isfinite(v) else None


def _jsonable(params: dict) -> dict:
    out = {}
    for k, v in params.items():
        if isinstance(v, np.generic):
            v = v.item()
        elif isinstance(v, np.ndarray):
            v = v.tolist()
        elif isinstance(v, tuple):
            v = list(v)
        out[k] = v
    return out
