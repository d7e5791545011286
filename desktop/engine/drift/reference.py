"""A model's reference statistics: per-column distributions of a reference set and of the model's answers on it.

Table features are the model's own inputs, read with the profile's column mapping
(:meth:`Engine.table_reader`); an image gives its intensity mean and standard deviation,
its contrast (the coefficient of variation, std / mean, of the grey levels), width, height
and aspect (width / height), and a DICOM file its manufacturer, model, kVp, slice thickness
and pixel spacing as categories. The predictions are the predicted class (categorical) and
the top score, or a regressor's first value.

A numeric column keeps its count, minimum, maximum, mean and standard deviation over every
value, and up to ``cap`` of its values (sampled with the seed) for the tests; a categorical
one (text, or numbers with at most 5 distinct values) keeps the count of each value.
A reference is saved as versioned JSON (``<model>.reference.json`` beside the model by
default) with the model's SHA-256 and the profile's hash; a reference of another model is
refused when loaded for this one.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

import numpy as np

from ..errors import EngineError, InputError

FORMAT = "inferdesk-reference"
VERSION = 1
DEFAULT_CAP = 5000  # numeric values kept per column (sampled with the seed above it)
CATEGORICAL_MAX_DISTINCT = 5  # numbers with at most this many distinct values are compared as categories
MISSING = "(missing)"
IMAGE_COLUMNS = ("intensity_mean", "intensity_std", "contrast", "width", "height", "aspect")


class DriftError(EngineError):
    """A reference cannot be built, read or used for this model."""


@dataclass
class Frame:
    """Data to compare: feature columns (one value per row or image), who each row is, the model's answers.

    ``columns``: name -> float64 array (numbers; NaN where a value is missing) or object array of
    text. ``ids``: ``(input, row)`` for each row of ``columns`` (row None for an image).
    ``prediction``: name -> array, one value per scored item (its own length). ``missing``:
    ``(input, why)`` for each input that could not be read.
    """

    columns: dict = field(default_factory=dict)
    ids: list = field(default_factory=list)
    prediction: dict = field(default_factory=dict)
    kind: str = "table"
    missing: list = field(default_factory=list)

    @property
    def n(self) -> int:
        return len(self.ids)


@dataclass
class ColumnRef:
    """One column of a reference: numeric (summary and kept values) or categorical (counts)."""

    name: str
    kind: str  # "numeric" | "categorical"
    n: int
    n_distinct: int
    values: np.ndarray | None = None  # numeric: up to the cap, sampled
    counts: dict | None = None  # categorical: value -> count
    min: float | None = None
    max: float | None = None
    mean: float | None = None
    std: float | None = None

    def to_dict(self) -> dict:
        d = {"name": self.name, "kind": self.kind, "n": self.n, "n_distinct": self.n_distinct}
        if self.kind == "numeric":
            d.update(min=self.min, max=self.max, mean=self.mean, std=self.std,
                     values=[float(v) for v in self.values])
        else:
            d["counts"] = dict(self.counts)
        return d

    @classmethod
    def from_dict(cls, d: dict) -> "ColumnRef":
        if d["kind"] == "numeric":
            return cls(name=d["name"], kind="numeric", n=int(d["n"]), n_distinct=int(d["n_distinct"]),
                       values=np.asarray(d["values"], dtype=np.float64), min=d["min"], max=d["max"],
                       mean=d["mean"], std=d["std"])
        return cls(name=d["name"], kind="categorical", n=int(d["n"]), n_distinct=int(d["n_distinct"]),
                   counts={str(k): int(v) for k, v in d["counts"].items()})


def category_text(v) -> str:
    """A value as a category: text as it is, a whole number without '.0', NaN and None as "(missing)"."""
    if v is None:
        return MISSING
    if isinstance(v, str):
        return v
    f = float(v)
    if f != f:
        return MISSING
    return str(int(f)) if f.is_integer() else repr(f)


def as_numbers(values) -> np.ndarray:
    """``values`` as float64 (text that is not a number becomes NaN)."""
    arr = np.asarray(values)
    if arr.dtype.kind in "fiub":
        return arr.astype(np.float64)
    out = np.full(len(arr), np.nan)
    for i, v in enumerate(arr.tolist()):
        try:
            out[i] = float(v)
        except (TypeError, ValueError):
            pass
    return out


def as_categories(values) -> np.ndarray:
    return np.array([category_text(v) for v in np.asarray(values, dtype=object).tolist()], dtype=object)


def column_ref(name: str, values, *, cap: int = DEFAULT_CAP, seed: int = 0, kind: str | None = None) -> ColumnRef:
    """A column's reference: numeric when its values are numbers with more than 5 distinct values
    (unless ``kind`` says), else categorical."""
    arr = np.asarray(values)
    if kind is None:
        if arr.dtype.kind in "fiub":
            finite = arr.astype(np.float64)
            finite = finite[np.isfinite(finite)]
            kind = "numeric" if len(np.unique(finite)) > CATEGORICAL_MAX_DISTINCT else "categorical"
        else:
            kind = "categorical"
    if kind == "categorical":
        cats = as_categories(arr)
        uniq, counts = np.unique(cats.astype(str), return_counts=True) if len(cats) else ([], [])
        order = sorted(zip(uniq.tolist() if len(cats) else [], np.asarray(counts).tolist()),
                       key=lambda vc: (-vc[1], vc[0]))
        return ColumnRef(name=name, kind="categorical", n=int(len(cats)), n_distinct=len(order),
                         counts={str(v): int(c) for v, c in order})
    x = as_numbers(arr)
    x = x[np.isfinite(x)]
    kept = x
    if len(x) > cap:
        rng = np.random.default_rng(seed)
        kept = x[np.sort(rng.choice(len(x), size=cap, replace=False))]
    if not len(x):
        return ColumnRef(name=name, kind="numeric", n=0, n_distinct=0, values=x, min=None, max=None, mean=None,
                         std=None)
    return ColumnRef(name=name, kind="numeric", n=int(len(x)), n_distinct=int(len(np.unique(x))), values=kept,
                     min=float(x.min()), max=float(x.max()), mean=float(x.mean()), std=float(x.std()))


@dataclass
class Reference:
    """A model's reference statistics (see the module's docstring); ``path`` and ``sha256`` are the file's."""

    model: dict  # file_name, sha256
    profile_sha256: str | None
    task: str
    kind: str  # "table" | "image"
    columns: list  # ColumnRef
    prediction: list  # ColumnRef
    source: dict  # paths, n_items, missing
    seed: int = 0
    cap: int = DEFAULT_CAP
    created_at: str = ""
    path: str | None = None
    sha256: str | None = None
    warnings: list = field(default_factory=list)

    @property
    def n(self) -> int:
        return int(self.source.get("n_items", 0))

    def column(self, name: str) -> ColumnRef:
        for c in list(self.columns) + list(self.prediction):
            if c.name == name:
                return c
        raise KeyError(name)

    @property
    def has_dicom(self) -> bool:
        return any(c.name.startswith("dicom_") for c in self.columns)

    def to_dict(self) -> dict:
        return {"format": FORMAT, "version": VERSION, "created_at": self.created_at, "model": dict(self.model),
                "profile_sha256": self.profile_sha256, "task": self.task, "kind": self.kind, "seed": self.seed,
                "cap": self.cap, "source": dict(self.source), "columns": [c.to_dict() for c in self.columns],
                "prediction": [c.to_dict() for c in self.prediction]}

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=1, allow_nan=False, ensure_ascii=False) + "\n"

    def save(self, path) -> str:
        """Write the reference to ``path`` (atomically); set and return its SHA-256."""
        from ..profile import atomic_write

        data = self.to_json().encode("utf-8")
        atomic_write(path, data)
        self.path = os.path.abspath(os.fspath(path))
        self.sha256 = hashlib.sha256(data).hexdigest()
        return self.sha256

    def check_model(self, engine=None, *, sha256: str | None = None, file_name: str | None = None,
                    profile_sha256: str | None = None) -> None:
        """Refuse a reference built for another model (``engine``'s, or the one of ``sha256``); note a
        profile other than the reference's."""
        if engine is not None:
            sha256, file_name, profile_sha256 = engine.info.sha256, engine.info.file_name, engine.profile.sha256()
        if self.model.get("sha256") and sha256 and self.model["sha256"] != sha256:
            where = f"{os.path.basename(self.path)} " if self.path else "the reference "
            raise DriftError(
                f"{where}was built for {self.model.get('file_name') or 'another model'} (SHA-256 "
                f"{str(self.model['sha256'])[:12]}…), not {file_name} ({sha256[:12]}…); build one for this "
                f"model with 'inferdesk drift {file_name} --build REFERENCE_SET'")
        if self.profile_sha256 and profile_sha256 and self.profile_sha256 != profile_sha256:
            note = ("the reference was built with another profile than the model's now: its features may not be "
                    "the ones the model reads")
            if note not in self.warnings:
                self.warnings.append(note)


def default_reference_path(model_path) -> Path:
    """``<model stem>.reference.json`` beside the model, as the profile sits in ``<model stem>.profile.json``."""
    p = Path(model_path)
    return p.with_name(p.stem + ".reference.json")


def load_reference(path, engine=None) -> Reference:
    """Read a reference file; with ``engine``, refuse one built for another model (:class:`DriftError`)."""
    name = os.path.basename(os.fspath(path))
    try:
        with open(path, "rb") as fh:
            data = fh.read()
    except OSError as exc:
        raise DriftError(f"{name}: cannot read the reference ({exc.strerror or exc})") from exc
    try:
        raw = json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as exc:
        raise DriftError(f"{name}: not a reference file (not JSON: {exc})") from exc
    if not isinstance(raw, dict) or raw.get("format") != FORMAT:
        raise DriftError(f"{name}: not an InferDesk reference (no \"format\": \"{FORMAT}\")")
    if int(raw.get("version", 0)) > VERSION:
        raise DriftError(f"{name}: a reference of version {raw.get('version')}, newer than this InferDesk reads "
                         f"({VERSION}); update InferDesk")
    try:
        ref = Reference(model=dict(raw["model"]), profile_sha256=raw.get("profile_sha256"), task=str(raw["task"]),
                        kind=str(raw["kind"]), columns=[ColumnRef.from_dict(c) for c in raw["columns"]],
                        prediction=[ColumnRef.from_dict(c) for c in raw.get("prediction", [])],
                        source=dict(raw.get("source") or {}), seed=int(raw.get("seed", 0)),
                        cap=int(raw.get("cap", DEFAULT_CAP)), created_at=str(raw.get("created_at", "")))
    except (KeyError, TypeError, ValueError) as exc:
        raise DriftError(f"{name}: the reference is incomplete or malformed ({exc!r})") from exc
    ref.path = os.path.abspath(os.fspath(path))
    ref.sha256 = hashlib.sha256(data).hexdigest()
    if engine is not None:
        ref.check_model(engine)
    return ref


# ------------------------------------------------------------------------------------------ reading data
def image_features(img) -> dict:
    """An image's drift features: grey-level mean, std, contrast (std / mean; 0 for a black image),
    width, height and aspect (width / height)."""
    if img.mode in ("L", "F", "I", "I;16"):
        grey = np.asarray(img, dtype=np.float64)
    else:
        grey = np.asarray(img.convert("L"), dtype=np.float64)
    mean = float(grey.mean()) if grey.size else 0.0
    std = float(grey.std()) if grey.size else 0.0
    w, h = img.size
    return {"intensity_mean": mean, "intensity_std": std, "contrast": std / mean if mean > 0 else 0.0,
            "width": float(w), "height": float(h), "aspect": float(w) / float(h) if h else 0.0}


def _read_tables(engine, items, frame: Frame) -> None:
    names: list | None = None
    parts: dict = {}
    for item in items:
        try:
            reader = engine.table_reader(item.path)
        except InputError as exc:
            frame.missing.append((item.path, str(exc)))
            continue
        try:
            with reader:
                cols = [str(c) for c in reader.columns]
                if names is None:
                    names = cols
                    parts = {n: [] for n in names}
                for chunk in reader.chunks(65536):
                    ok = [i for i, e in enumerate(chunk.errors) if e is None]
                    if not ok:
                        continue
                    for j, name in enumerate(names):
                        if j in chunk.texts:
                            parts[name].append(np.asarray(chunk.texts[j], dtype=object)[ok])
                        else:
                            parts[name].append(chunk.values[ok, j])
                    frame.ids.extend((item.path, int(chunk.rows[i])) for i in ok)
        except InputError as exc:
            frame.missing.append((item.path, str(exc)))
    for name, chunks in parts.items():
        if chunks:
            frame.columns[name] = (np.concatenate(chunks) if all(c.dtype != object for c in chunks)
                                   else np.concatenate([c.astype(object) for c in chunks]))
        else:
            frame.columns[name] = np.empty(0)


def _read_images(engine, items, frame: Frame, dicom: bool | None, exif: bool = True) -> None:
    from ..inputs import InputKind
    from ..inputs.dicomfacts import ACQUISITION_COLUMNS, acquisition_facts
    from ..inputs.images import decode_dicom, decode_image

    with_dicom = any(i.kind == InputKind.DICOM for i in items) if dicom is None else dicom
    rows: dict = {c: [] for c in IMAGE_COLUMNS}
    if with_dicom:
        rows.update({c: [] for c in ACQUISITION_COLUMNS.values()})
    for item in items:
        try:
            if engine is not None:
                img, _ = engine.load_image(item.path, item.kind)
            else:
                img = decode_dicom(item.path) if item.kind == InputKind.DICOM else decode_image(item.path, exif=exif)
        except (InputError, OSError) as exc:
            frame.missing.append((item.path, str(exc)))
            continue
        for k, v in image_features(img).items():
            rows[k].append(v)
        if with_dicom:
            facts = (acquisition_facts(item.path) if item.kind == InputKind.DICOM
                     else dict.fromkeys(ACQUISITION_COLUMNS.values(), "(not DICOM)"))
            for k, v in facts.items():
                rows[k].append(v)
        frame.ids.append((item.path, None))
    for k, v in rows.items():
        frame.columns[k] = np.asarray(v, dtype=np.float64 if k in IMAGE_COLUMNS else object)


def prediction_columns(batches) -> dict:
    """The model's answers in ``batches`` (ResultBatch): ``predicted_class`` and ``top_score`` for a
    classifier, ``value`` (the first) for a regressor; other tasks give none."""
    classes, scores, values = [], [], []
    for b in batches:
        top_col = b.answer.get("top_col")
        ok = np.asarray(b.ok, dtype=bool)
        if top_col is not None and len(b):
            labels = b.meta.get("labels") or []
            cols = np.asarray(top_col)[ok]
            first = cols[:, 0] if cols.ndim > 1 else cols
            classes.extend(str(labels[c]) if 0 <= c < len(labels) else str(c) for c in first.tolist())
            s = np.asarray(b.answer["top_score"])[ok]
            scores.extend((s[:, 0] if s.ndim > 1 else s).tolist())
        vals = b.answer.get("values")
        if vals is not None and len(b):
            v = np.asarray(vals, dtype=np.float64)[ok]
            values.extend((v.reshape(len(v), -1)[:, 0] if v.size else v.reshape(-1)).tolist())
    out = {}
    if classes:
        out["predicted_class"] = np.asarray(classes, dtype=object)
        out["top_score"] = np.asarray(scores, dtype=np.float64)
    elif values:
        out["value"] = np.asarray(values, dtype=np.float64)
    return out


def read_frame(engine, inputs, *, batches=None, dicom: bool | None = None, exif: bool = True) -> Frame:
    """Read ``inputs`` (paths or InputItems) into a :class:`Frame` of drift features; the model's answers
    from ``batches`` (ResultBatch, already scored) when given.

    Tables give the model's feature columns as its profile maps them; images and DICOM files the
    columns of :func:`image_features` (and, with ``dicom`` or when any input is DICOM, the
    acquisition columns). An input that cannot be read is listed in ``Frame.missing``.
    ``engine`` may be None for images (decoded as the profile's ``exif`` says).
    """
    from ..inputs import InputItem, InputKind, expand_inputs

    inputs = list(inputs)
    items = inputs if inputs and all(isinstance(i, InputItem) for i in inputs) else expand_inputs(inputs)
    frame = Frame()
    tables = [i for i in items if i.kind == InputKind.TABLE]
    images = [i for i in items if i.kind in (InputKind.IMAGE, InputKind.DICOM)]
    frame.missing.extend((i.path, i.problem or "cannot be read") for i in items if i.kind == InputKind.INVALID)
    if tables and images:
        raise DriftError("the drift check compares one kind of data: give CSV files or images, not both")
    if tables:
        frame.kind = "table"
        _read_tables(engine, tables, frame)
    else:
        frame.kind = "image"
        _read_images(engine, images, frame, dicom, exif)
    if batches is not None:
        frame.prediction = prediction_columns(batches)
    return frame


def score(engine, inputs) -> list:
    """Score ``inputs`` for their predictions (top-1 is all a drift check needs)."""
    from ..batch import run_batches

    return [b for b in run_batches(engine, inputs, top_k=1) if len(b)]


def build_reference(engine, inputs, *, seed: int = 0, cap: int = DEFAULT_CAP, batches=None) -> Reference:
    """Build a reference from a reference set (a CSV, an image folder...), scoring it for the predictions.

    Parameters
    ----------
    engine
        The model (with its profile) the reference is for.
    inputs
        Paths (files, folders) or InputItems: the reference set, typically the validation data.
    seed
        The seed of the sample of values kept per numeric column when there are more than ``cap``.
    cap
        Numeric values kept per column.
    batches
        Results already scored for ``inputs`` (then nothing is scored again).

    Raises
    ------
    DriftError
        When nothing in ``inputs`` can be read.
    """
    from ..inputs import InputItem, expand_inputs

    inputs = list(inputs)
    items = inputs if inputs and all(isinstance(i, InputItem) for i in inputs) else expand_inputs(inputs)
    if batches is None:
        batches = score(engine, items)
    frame = read_frame(engine, items, batches=batches)
    if not frame.n:
        why = "; ".join(f"{os.path.basename(p)}: {w}" for p, w in frame.missing[:3])
        raise DriftError("nothing in the reference set could be read" + (f" ({why})" if why else ""))
    columns = [column_ref(name, values, cap=cap, seed=seed) for name, values in frame.columns.items()]
    prediction = [column_ref(name, values, cap=cap, seed=seed, kind="categorical" if name == "predicted_class"
                             else None) for name, values in frame.prediction.items()]
    task = str(getattr(engine.profile.task, "value", engine.profile.task))
    paths = [os.path.abspath(str(p.path if isinstance(p, InputItem) else p)) for p in inputs]
    ref = Reference(model={"file_name": engine.info.file_name, "sha256": engine.info.sha256},
                    profile_sha256=engine.profile.sha256(), task=task, kind=frame.kind, columns=columns,
                    prediction=prediction, seed=seed, cap=cap,
                    source={"paths": paths, "n_items": frame.n,
                            "missing": [{"input": p, "why": w} for p, w in frame.missing]},
                    created_at=datetime.now(timezone.utc).isoformat(timespec="seconds"))
    ref.sha256 = hashlib.sha256(ref.to_json().encode("utf-8")).hexdigest()
    return ref
