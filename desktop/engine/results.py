"""One item's result: Result, the row view of a ResultBatch (outputs, top-k, error, timings), and its helpers."""

from __future__ import annotations

import math
import os
from dataclasses import dataclass, field
from collections.abc import Mapping
from typing import NamedTuple

import numpy as np

from .inputs import InputKind

STAGES = ("decode", "preprocess", "infer", "postprocess")


@dataclass(frozen=True)
class Timings:
    """Milliseconds spent on one item in each stage (batched stages are shared out evenly)."""

    decode: float = 0.0
    preprocess: float = 0.0
    infer: float = 0.0
    postprocess: float = 0.0

    @property
    def total(self) -> float:
        return self.decode + self.preprocess + self.infer + self.postprocess

    def to_dict(self) -> dict:
        return {s: round(getattr(self, s), 4) for s in STAGES}


class Prediction(NamedTuple):
    """One label of a classification, with its class index and score (a probability)."""

    label: str
    index: int
    score: float

    def to_dict(self) -> dict:
        return {"label": self.label, "index": self.index, "score": finite(self.score)}


class Detection(NamedTuple):
    """One box a detector found: its class, score and corners ``(x1, y1, x2, y2)`` in original pixels.

    ``mask``: an instance segmenter's mask of it, COCO RLE at the original size
    (``{"size": [h, w], "counts": text}``, see :mod:`~desktop.engine.decoders.segmentation`).
    """

    label: str
    index: int
    score: float
    box: tuple
    mask: dict | None = None

    def to_dict(self) -> dict:
        d = {"label": self.label, "index": self.index, "score": finite(self.score),
             "box": [finite(v) for v in self.box]}
        if self.mask is not None:
            d["mask"] = self.mask
        return d


class RowValues(Mapping):
    """A scored CSV row's values by column name: a read-only view of the parsed chunk.

    One per row, so it holds only references (the chunk's columns, shared, and this row of its
    float array) instead of a dict of Python floats: the rows of a large CSV share the parsed
    table's memory rather than each holding its values again, and one is made without a loop.
    """

    __slots__ = ("_names", "_where", "_values")

    def __init__(self, names: tuple, where: dict, values: np.ndarray):
        self._names, self._where, self._values = names, where, values

    def __getitem__(self, name) -> float:
        return float(self._values[self._where[name]])

    def __iter__(self):
        return iter(self._names)

    def __len__(self) -> int:
        return len(self._names)

    def items(self):
        return list(zip(self._names, self._values.tolist()))

    def __repr__(self) -> str:
        return f"RowValues({dict(self.items())!r})"

    def __reduce__(self):  # sent to the window's process as the row alone, not the whole chunk
        return RowValues, (self._names, self._where, np.array(self._values))


@dataclass(slots=True)
class Result:
    """The outcome for one image or one CSV row.

    ``outputs`` maps each model output's name to this item's slice of it: a numpy array,
    or a ``{label: score}`` dict for scikit-learn's ZipMap probability outputs.

    Treat a Result as read-only once made (derive changed copies with ``dataclasses.replace``).
    It is not frozen because a frozen dataclass sets each field through ``object.__setattr__``,
    a cost paid again for every row of a large CSV (benchmarks/throughput.py's csv line times
    the results made one per row).
    """

    index: int  # position in the run, from 0
    input: str  # the file
    row: int | None  # CSV data row, from 1; None for images
    ok: bool
    error: str | None = None
    outputs: dict = field(default_factory=dict)
    top: tuple = ()  # Prediction, best first
    values: tuple = ()  # regression values
    timings: Timings = Timings()
    kind: InputKind = InputKind.IMAGE
    saved_input: str | None = None
    mask_file: str | None = None  # --save-masks: the label map PNG written for it
    features: Mapping | None = None  # CSV row: column -> value (or the raw text when the row failed)
    input_sha256: str | None = None  # the input file's SHA-256, when the run records it
    passthrough: Mapping | None = None  # a CSV row's other columns (not model features), as text
    # a detector's candidates, best first: those scoring over ``conf`` are its detections; the
    # rest (down to the decoder's floor) let the window show another threshold without scoring again
    candidates: tuple = ()
    conf: float | None = None
    # a segmenter's masks, still encoded (decoders.segmentation.MaskView): label_map() decodes them
    masks: object = None
    #: the profile's ``review_below`` the item was scored with (a classifier's), or None: see needs_review
    review_below: float | None = None
    #: what a classifier's scores are (decoders.classification.SCORE_KINDS' key), when its batch says
    score_kind: str | None = None
    #: the host of the cluster worker that scored it (a cluster run's); None when scored here
    worker: str | None = None

    @property
    def needs_review(self) -> bool:
        """Whether the result is marked for review: scored, and its top score under ``review_below``."""
        return needs_review(self.top_score, self.review_below) if self.ok and self.top else False

    @property
    def detections(self) -> tuple:
        """The candidates scoring over ``conf`` (the threshold the item was decoded with)."""
        return self.detections_at(self.conf)

    def detections_at(self, conf: float | None) -> tuple:
        if conf is None:
            return self.candidates
        return tuple(d for d in self.candidates if d.score > conf)

    def label_map(self, conf: float | None = None):
        """A segmenter's original-resolution map (int32 (h, w)) and the label of each value: ``(map, names)``.

        ``names[map[y, x]]`` is the pixel's label; 0 is the background for one-channel maps and
        instances (each painted with its class index + 1; ``conf``: their threshold, None: the
        run's); an argmax map holds the model's classes. None when the item has no masks.
        """
        if self.masks is None:
            return None
        return self.masks.label_map(self.conf if conf is None else conf), list(self.masks.names)

    @property
    def mask_names(self) -> list:
        """The labels of :meth:`label_map`'s values (empty without masks)."""
        return list(self.masks.names) if self.masks is not None else []

    def areas(self, conf: float | None = None) -> dict:
        """Area per label present at the original resolution: ``{label: {"pixels": n[, "mm2": x]}}``."""
        if self.masks is None:
            return {}
        return self.masks.areas(self.conf if conf is None else conf)

    @property
    def top_label(self) -> str | None:
        return self.top[0].label if self.top else None

    @property
    def top_score(self) -> float | None:
        return self.top[0].score if self.top else None

    @property
    def display_name(self) -> str:
        name = os.path.basename(self.input)
        return f"{name} · row {self.row}" if self.row is not None else name

    def to_json(self) -> dict:
        """The command line's ``jsonl`` record for this item."""
        d = {
            "input": self.input,
            "row": self.row,
            "ok": self.ok,
            "error": self.error,
            "outputs": {name: to_jsonable(v) for name, v in self.outputs.items()},
            "top": [p.to_dict() for p in self.top],
            "timings_ms": self.timings.to_dict(),
        }
        if self.review_below is not None and self.top:
            d["review"] = self.needs_review
        if self.values:
            d["values"] = [finite(v) for v in self.values]
        if self.conf is not None:
            d["detections"] = [det.to_dict() for det in self.detections]
        if self.masks is not None:
            d["areas"] = self.areas()
        if self.saved_input is not None:
            d["saved_input"] = self.saved_input
        if self.mask_file is not None:
            d["mask_file"] = self.mask_file
        if self.passthrough:
            d["passthrough"] = dict(self.passthrough)
        return d


def needs_review(score, threshold) -> bool:
    """Whether a top score is under a review threshold (``review_below``; None: never). A NaN score is."""
    if threshold is None or score is None:
        return False
    return not float(score) >= float(threshold)


def review_reason(score, threshold) -> str:
    """Why a result is marked for review, for a tooltip: its top score against the profile's threshold."""
    return (f"Top score {short_number(score)} is below this model's review threshold {float(threshold):g} "
            "(profile key review_below)")


def finite(v):
    """A float for JSON: NaN and infinities become None."""
    v = float(v)
    return v if math.isfinite(v) else None


def short_number(value) -> str:
    """A score or model value to 3 significant digits ('0.973', '1.2e-05', '152'), for a table cell."""
    if value is None:
        return ""
    v = float(value)
    if not math.isfinite(v):
        return "—" if math.isnan(v) else ("∞" if v > 0 else "−∞")
    if v == 0:
        return "0"
    rounded = float(f"{v:.3g}")
    if 1e-3 <= abs(rounded) < 1e6:
        digits = max(0, 2 - int(math.floor(math.log10(abs(rounded)))))
        return f"{v:.{digits}f}"
    return f"{v:.2e}".replace("e-0", "e-").replace("e+0", "e+")


def to_jsonable(value):
    """Nested lists / dicts of plain Python numbers; NaN and infinities become null."""
    if isinstance(value, np.ndarray):
        if value.dtype.kind == "f":
            if np.isfinite(value).all():
                return value.tolist()
            return to_jsonable(value.astype(object))
        if value.dtype.kind in "iub":
            return value.tolist()
        return [to_jsonable(v) for v in value.tolist()] if value.ndim else to_jsonable(value.item())
    if isinstance(value, dict):
        return {str(k): to_jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [to_jsonable(v) for v in value]
    if isinstance(value, (float, np.floating)):
        return finite(value)
    if isinstance(value, (np.integer,)):
        return int(value)
    if isinstance(value, np.bool_):
        return bool(value)
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    return value


def tensor_summary(value) -> dict:
    """Shape, dtype, min, max and mean of an output, for display."""
    if isinstance(value, dict):
        return {"shape": [len(value)], "dtype": "map", "min": None, "max": None, "mean": None}
    arr = np.asarray(value)
    d = {"shape": list(arr.shape), "dtype": str(arr.dtype), "min": None, "max": None, "mean": None}
    if arr.size and arr.dtype.kind in "fiub":
        a = arr.astype(np.float64)
        finite = a[np.isfinite(a)]
        if finite.size:
            d.update(min=float(finite.min()), max=float(finite.max()), mean=float(finite.mean()))
    return d


def percentiles(values, qs=(50, 90, 95, 99)) -> dict:
    """Latency percentiles (ms), keyed ``p50``…; empty input gives NaNs."""
    arr = np.asarray(list(values), dtype=np.float64)
    if arr.size == 0:
        return {f"p{q}": float("nan") for q in qs}
    return {f"p{q}": float(np.percentile(arr, q)) for q in qs}


def result_from_record(record: dict, index: int = 0) -> Result:
    """A Result rebuilt from its JSON record (as stored in the history or printed by ``score``).

    Tensor outputs come back as numpy arrays: int64 when whole numbers, float32 when every value is a
    float32 one (the model's type, as when the run was fresh), else float64; ZipMap outputs as dicts.
    """
    outputs = {}
    for name, value in (record.get("outputs") or {}).items():
        if isinstance(value, dict):
            outputs[name] = {str(k): (float("nan") if v is None else float(v)) for k, v in value.items()}
        else:
            arr = np.asarray(value if value is not None else [], dtype=object)
            try:
                arr = np.asarray(np.where(arr == None, np.nan, arr).tolist(), dtype=np.float64)  # noqa: E711
                if np.all(np.isfinite(arr)) and np.all(arr == np.round(arr)) and not _looks_float(value):
                    arr = arr.astype(np.int64)
                else:
                    arr = _as_model_float(arr)
            except (TypeError, ValueError):
                pass
            outputs[name] = arr
    t = record.get("timings_ms") or {}
    timings = Timings(*(float(t.get(s) or 0.0) for s in STAGES))
    top = tuple(Prediction(str(p["label"]), int(p["index"]), float("nan") if p["score"] is None else float(p["score"]))
                for p in record.get("top") or ())
    values = tuple(float("nan") if v is None else float(v) for v in record.get("values") or ())
    kind = InputKind.TABLE if record.get("row") is not None else InputKind.IMAGE
    passthrough = record.get("passthrough")
    return Result(index=index, input=record["input"], row=record.get("row"), ok=bool(record.get("ok")),
                  error=record.get("error"), outputs=outputs, top=top, values=values, timings=timings, kind=kind,
                  saved_input=record.get("saved_input"), mask_file=record.get("mask_file"), input_sha256=record.get("input_sha256"),
                  passthrough={str(k): "" if v is None else str(v) for k, v in passthrough.items()}
                  if passthrough else None)


def _as_model_float(arr: np.ndarray) -> np.ndarray:
    """A float64 array read back from JSON as float32 when every value is exactly a float32 one.

    A record keeps no dtype, and a float32 output written as JSON reads back as float64 with
    the same values; shown as float64 its values print with 16 digits ("0.9854913949966431"
    where the run showed "0.9854914") and its type as float64. A float64 output almost never
    holds only float32-exact values, so this gives back the model's type.
    """
    if arr.dtype == np.float64 and arr.size:
        with np.errstate(over="ignore"):
            narrow = arr.astype(np.float32)
        if np.array_equal(narrow, arr, equal_nan=True):
            return narrow
    return arr


def _looks_float(value) -> bool:
    """True if a nested list holds any Python float (so integral floats stay floats)."""
    if isinstance(value, float):
        return True
    if isinstance(value, list):
        return any(_looks_float(v) for v in value)
    return False
