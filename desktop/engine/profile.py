"""The preprocessing profile that travels with a model: how to turn an image or a CSV row into its input."""

from __future__ import annotations

import difflib
import hashlib
import json
import math
import os
import tempfile
from dataclasses import dataclass, field, replace
from enum import Enum
from pathlib import Path

from .errors import ProfileError


class Task(str, Enum):
    """How a model's answer is read: the profile's ``task``, and what the decoders register by.

    Valued by its text and a ``str`` itself, so a profile file, the JSON, the store and code
    comparing with ``"classification"`` see the same text as before.
    """

    CLASSIFICATION = "classification"
    REGRESSION = "regression"
    DETECTION = "detection"
    SEGMENTATION = "segmentation"
    RAW = "raw"

    __str__ = str.__str__
    __format__ = str.__format__


#: the largest tensor one item may need, checked before anything that size is allocated
MAX_ITEM_BYTES = 1 << 30
ITEMSIZE = {"float32": 4, "float16": 2, "uint8": 1, "float": 4, "double": 8, "int64": 8, "int32": 4, "int8": 1,
            "bool": 1}

TASKS = tuple(t.value for t in Task)  # the texts a profile may give, in the order messages list them
COLORS = ("RGB", "BGR", "L")
LAYOUTS = ("NCHW", "NHWC")
DTYPES = ("float32", "float16", "uint8")
RESIZE_MODES = ("stretch", "shorter-side", "fit", "height", "limit-side")
#: which library resizes: Pillow (antialiased when shrinking) or OpenCV's cv2.resize itself
RESIZE_LIBRARIES = ("pillow", "opencv")
INTERPOLATIONS = ("nearest", "bilinear", "bicubic", "lanczos", "box")  # Pillow's filters
OPENCV_INTERPOLATIONS = ("nearest", "linear", "cubic", "area", "lanczos4")  # cv2.INTER_*
#: each library's names, its default first
LIBRARY_INTERPOLATIONS = {"pillow": INTERPOLATIONS, "opencv": OPENCV_INTERPOLATIONS}
#: how a computed size is made whole; a profile without it gets its mode's own (shorter-side: int() as
#: torchvision, fit: round() as Ultralytics, height: ceil as PaddleOCR's recogniser)
ROUNDINGS = ("floor", "round", "ceil")
CROP_ROUNDINGS = ("round", "floor")
EXIF_MODES = ("apply", "ignore")
RESIZE_OUTPUTS = ("uint8", "float")
LIMIT_TYPES = ("max", "min", "long")
ANCHORS = ("center", "top-left")
EMBEDDED_KEY = "inferdesk.profile"

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
CAFFE_MEAN_BGR = (103.939, 116.779, 123.68)

_COLOR_ALIASES = {"rgb": "RGB", "bgr": "BGR", "l": "L", "gray": "L", "grey": "L", "grayscale": "L",
                  "greyscale": "L", "mono": "L", "single": "L"}
_MODE_ALIASES = {"shorter": "shorter-side", "shorter_side": "shorter-side", "letterbox": "fit",
                 "fit-pad": "fit", "resize": "stretch"}
#: what each library calls the other's names, for the refusal
_NOT_PILLOW = {
    "linear": "'linear' is OpenCV's INTER_LINEAR (no antialias): set image.resize.library to opencv, or use "
              "Pillow's 'bilinear', which antialiases when shrinking",
    "cubic": "'cubic' is OpenCV's INTER_CUBIC (a = -0.75, no antialias): set image.resize.library to opencv, or use "
             "Pillow's 'bicubic' (a = -0.5, antialiased when shrinking)",
    "area": "'area' is OpenCV's INTER_AREA: set image.resize.library to opencv, or use Pillow's 'box', which equals "
            "it only at integer factors",
    "lanczos4": "'lanczos4' is OpenCV's INTER_LANCZOS4 (8×8 taps, no antialias): set image.resize.library to opencv, "
                "or use Pillow's 'lanczos' (antialiased when shrinking)",
}
_NOT_OPENCV = {
    "bilinear": "'bilinear' is Pillow's filter (antialiased when shrinking); OpenCV's is 'linear' (INTER_LINEAR, "
                "no antialias), or set image.resize.library to pillow",
    "bicubic": "'bicubic' is Pillow's filter (a = -0.5, antialiased); OpenCV's is 'cubic' (INTER_CUBIC, a = -0.75), "
               "or set image.resize.library to pillow",
    "lanczos": "'lanczos' is Pillow's filter (antialiased); OpenCV's is 'lanczos4' (INTER_LANCZOS4), or set "
               "image.resize.library to pillow",
    "box": "'box' is Pillow's filter; OpenCV's 'area' (INTER_AREA) equals it only at integer factors; or set "
           "image.resize.library to pillow",
}
#: the names a profile without ``library`` gave before there was one: still read as Pillow's, with a note
_OLD_ALIASES = {"linear": "bilinear", "cubic": "bicubic", "area": "box"}
_ANCHOR_ALIASES = {"centre": "center", "top_left": "top-left", "topleft": "top-left"}
#: the detector output layouts decoders/detection.py reads (the profile's ``detection.family``)
DETECTION_FAMILIES = ("yolov5", "yolov8", "end2end", "rtdetr", "torchvision", "picodet")
_FAMILY_ALIASES = {"yolov11": "yolov8", "yolo11": "yolov8", "yolov8": "yolov8", "yolo8": "yolov8", "v8": "yolov8",
                   "yolo5": "yolov5", "v5": "yolov5", "yolov10": "end2end", "e2e": "end2end",
                   "end-to-end": "end2end", "rt-detr": "rtdetr", "boxes-scores-labels": "torchvision",
                   "pp-picodet": "picodet", "ppdet": "picodet"}


@dataclass(frozen=True)
class Resize:
    """How an image is brought to the model's size. ``size`` is ``(width, height)``."""

    mode: str = "stretch"
    size: tuple | None = None
    shorter: int | None = None
    interpolation: str = "bilinear"
    pad_anchor: str = "center"
    pad_value: tuple = (0.0,)
    library: str = "pillow"
    rounding: str | None = None  # None: the mode's own (ROUNDINGS)
    output: str = "uint8"  # "float": the resize is done on float pixels and not rounded to 8 bits
    grow: bool = False  # height mode: the width grows with the line past size[0] (PaddleOCR's recogniser)
    max_width: int | None = None  # height mode with grow: the widest tensor
    limit: int | None = None  # limit-side mode: the side length limited
    limit_type: str = "max"
    multiple: int = 32  # limit-side: each side a multiple of this, and at least min_size
    min_size: int = 32
    auto: bool = False  # fit: Ultralytics' minimum rectangle, padded only to a multiple of stride
    stride: int = 32
    scaleup: bool = True  # fit: false never enlarges a smaller image
    #: stretch/shorter-side: pad the image to the target's aspect (square for shorter-side) with ``pad``'s anchor and
    #: value, then resize (LLaVA's expand2square, square classification exports)
    pad_first: bool = False

    def to_dict(self, full: bool = False) -> dict:
        """The resize as a profile writes it; ``full`` writes every key, defaults included (presets compare them)."""
        d: dict = {"mode": self.mode}
        if self.size is not None or full:
            d["size"] = list(self.size) if self.size is not None else None
        if self.shorter is not None or full:
            d["shorter"] = self.shorter
        d["interpolation"] = self.interpolation
        value = self.pad_value[0] if len(self.pad_value) == 1 else list(self.pad_value)
        d["pad"] = {"anchor": self.pad_anchor, "value": value}  # also used when a crop is larger than the image
        # the keys below are left out at their defaults, so that existing profiles keep their hash
        for key, default in _RESIZE_DEFAULTS.items():
            if getattr(self, key) != default or full:
                d[key] = getattr(self, key)
        return d


#: the Resize keys added after the first profiles, with their defaults (left out of to_dict at them)
_RESIZE_DEFAULTS = {"library": "pillow", "rounding": None, "output": "uint8", "grow": False, "max_width": None,
                    "limit": None, "limit_type": "max", "multiple": 32, "min_size": 32, "auto": False, "stride": 32,
                    "scaleup": True, "pad_first": False}


@dataclass(frozen=True, kw_only=True)
class ImageSpec:
    """Image preprocessing: ``x = (pixel * scale - mean) / std`` per channel, after colour and resize."""

    color: str = "RGB"
    layout: str = "NCHW"
    dtype: str = "float32"
    resize: Resize | None = None
    crop: tuple | None = None  # (width, height), a centre crop after resizing
    scale: float = 1.0 / 255.0
    mean: tuple = (0.0,)
    std: tuple = (1.0,)
    crop_rounding: str = "round"  # the crop's offsets: round() as torchvision's CenterCrop, or floor
    exif: str = "apply"  # "ignore": the pixels as stored, as PIL.Image.open gives them
    #: resize stages applied in order before ``resize`` (a profile's ``image.resize`` given as a list); ``resize`` is
    #: the last stage, the one whose size, padding and pad value the tensor and the crop see
    resize_before: tuple = ()
    #: the preset (presets.PRESETS) the section was filled from: to_dict writes it and only the keys that differ
    preset: str | None = None

    @property
    def channels(self) -> int:
        return 1 if self.color == "L" else 3

    @property
    def stages(self) -> tuple:
        """Every resize stage in the order applied: ``resize_before`` then ``resize`` (empty without a resize)."""
        return (*self.resize_before, self.resize) if self.resize is not None else ()

    def output_size(self) -> tuple | None:
        """(width, height) of the tensor when it does not depend on the image, else None."""
        if self.crop:
            return tuple(self.crop)
        r = self.resize
        if r and (r.mode == "stretch" or (r.mode == "fit" and not r.auto) or (r.mode == "height" and not r.grow)):
            return tuple(r.size)
        return None

    def to_dict(self, expand: bool = False) -> dict:
        """The section as a profile writes it: with a preset, its name and the keys that differ from it only
        (so the hash stays when the preset's values are spelled out); ``expand`` writes the effective values."""
        if self.preset and not expand:
            return self._preset_dict()
        return self._dict(full=False)

    def _dict(self, full: bool) -> dict:
        d: dict = {"color": self.color, "layout": self.layout, "dtype": self.dtype}
        if self.resize or full:  # one object, as before, unless there are several stages
            if self.resize_before:
                d["resize"] = [r.to_dict(full) for r in self.stages]
            else:
                d["resize"] = self.resize.to_dict(full) if self.resize else None
        if self.crop or full:
            d["crop"] = list(self.crop) if self.crop else None
        d["scale"] = self.scale
        d["mean"] = list(self.mean)
        d["std"] = list(self.std)
        if self.crop_rounding != "round" or full:  # left out at the defaults, so existing profiles keep their hash
            d["crop_rounding"] = self.crop_rounding
        if self.exif != "apply" or full:
            d["exif"] = self.exif
        return d

    def _preset_dict(self) -> dict:
        from .presets import overrides

        base = preset_spec(self.preset)
        d = {"preset": self.preset, **overrides(self._dict(full=True), base._dict(full=True))}
        if self.resize_before:  # stages replace the preset's one resize whole
            d["resize"] = [r.to_dict() for r in self.stages]
        elif "resize" in d and (self.resize is None or base.resize is None or self.resize.mode != base.resize.mode):
            d["resize"] = self.resize.to_dict() if self.resize else None  # another mode: the whole resize
        return d

    def overridden(self) -> tuple:
        """The keys given beside the preset (``resize.interpolation``, ``crop``), for describe()."""
        if not self.preset:
            return ()
        d = self._preset_dict()
        keys = []
        for key, value in d.items():
            if key == "preset":
                continue
            if key == "resize" and isinstance(value, dict) and "mode" not in value:
                keys += [f"resize.{k}" for k in value]
            else:
                keys.append(key)
        return tuple(keys)


@dataclass(frozen=True)
class TableSpec:
    """Tabular input: the CSV column names in the model's feature order (None: first numeric columns).

    ``passthrough`` says which of the CSV's other columns travel with each row as text: True
    for all of them, False for none, or a tuple of names.
    """

    columns: tuple | None = None
    passthrough: bool | tuple = True
    #: set by check_profile, never saved: for a model with one input per column, each column's
    #: (input name, element type) in column order, which describe() tells
    fed: tuple = field(default=(), compare=False, repr=False)

    def to_dict(self) -> dict:
        d: dict = {"columns": list(self.columns) if self.columns is not None else None}
        if self.passthrough is not True:  # the default is left out, so existing profiles keep their hash
            d["passthrough"] = list(self.passthrough) if isinstance(self.passthrough, tuple) else False
        return d


@dataclass(frozen=True)
class DetectionSpec:
    """How a detector's boxes are read: the profile's optional ``detection`` object.

    Every field left out (None) is the family's default (``decoders.detection.FAMILY_DEFAULTS``:
    Ultralytics' for YOLOv8/v11, detect.py's for YOLOv5); ``family`` None is recognised from the
    model's outputs and metadata. ``floor`` is the lowest score kept as a candidate, so that a
    higher ``conf`` can be applied to stored results without running the model again.
    """

    family: str | None = None
    conf: float | None = None
    iou: float | None = None
    max_det: int | None = None
    class_agnostic: bool = False
    floor: float | None = None

    def to_dict(self) -> dict:
        d: dict = {}
        for key in ("family", "conf", "iou", "max_det"):
            if getattr(self, key) is not None:
                d[key] = getattr(self, key)
        if self.class_agnostic:
            d["class_agnostic"] = True
        if self.floor is not None:
            d["floor"] = self.floor
        return d


@dataclass(frozen=True)
class SegmentationSpec:
    """How a segmenter's maps are read: the profile's optional ``segmentation`` object.

    ``threshold`` is the probability over which a one-channel map's pixel is foreground
    (None: 0.5; a DBNet text detector's map is usually read at 0.3). Argmax label maps and
    YOLO instance masks do not use it.
    """

    threshold: float | None = None

    def to_dict(self) -> dict:
        return {"threshold": self.threshold} if self.threshold is not None else {}


@dataclass(frozen=True)
class DicomSpec:
    """What of a DICOM folder is scored, and how its pixels are windowed: the profile's optional ``dicom`` object.

    ``series`` is a rule on each series' header, keyword -> a text or a list of texts
    (``{"Modality": "CT", "ImageType": "ORIGINAL"}``; see ``inputs.dicomseries.series_matches``);
    ``frames`` a range of each chosen series' ordered slices ("1-10", "5-", "3"); ``window``
    the VOI: "file" (the file's own window, the default), "none", a preset name
    (``inputs.windowing.WINDOW_PRESETS``) or ``{"center": c, "width": w, "function": "LINEAR"}``.
    """

    series: tuple = ()  # (keyword, (texts...)) pairs, in the order given
    frames: str | None = None
    window: object = None  # None ("file"), "none", a preset name, or a windowing.Window

    @property
    def rule(self) -> dict:
        return {key: list(values) for key, values in self.series}

    def to_dict(self) -> dict:
        d: dict = {}
        if self.series:
            d["series"] = {key: values[0] if len(values) == 1 else list(values) for key, values in self.series}
        if self.frames is not None:
            d["frames"] = self.frames
        if self.window is not None:
            d["window"] = self.window if isinstance(self.window, str) else self.window.to_dict()
        return d


@dataclass(frozen=True)
class Profile:
    """Everything needed to feed a model and read its answer; saved as JSON beside the model."""

    input: str | None = None
    task: Task = Task.RAW
    labels: tuple = ()
    image: ImageSpec | None = None
    table: TableSpec | None = None
    detection: DetectionSpec | None = None  # how boxes are read (task detection); None: the family's defaults
    segmentation: SegmentationSpec | None = None  # how maps are read (task segmentation); None: the defaults
    # whether each result keeps the model's raw outputs: None, the task's default (all of them,
    # except that a detector's or segmenter's large ones, decoded into its answer, are not kept)
    keep_outputs: bool | None = None
    #: a classifier's top score under this (in [0, 1]) marks the result for review; None: nothing is marked
    review_below: float | None = None
    dicom: DicomSpec | None = None  # which DICOM series and frames are scored, and their window; None: all, file's
    extra: dict = field(default_factory=dict, compare=False)  # unknown top-level keys starting with "x-"
    #: what may mislead though the profile loads (an old interpolation name), never saved: `info` shows them
    notes: tuple = field(default=(), compare=False)

    def to_dict(self) -> dict:
        d: dict = {"input": self.input, "task": self.task}
        if self.labels:
            d["labels"] = list(self.labels)
        if self.image:
            d["image"] = self.image.to_dict()
        if self.table:
            d["table"] = self.table.to_dict()
        if self.detection is not None:  # left out when absent, so older profiles keep their hash
            d["detection"] = self.detection.to_dict()
        if self.segmentation is not None:  # likewise
            d["segmentation"] = self.segmentation.to_dict()
        if self.keep_outputs is not None:  # left out when not set, as detection and segmentation are
            d["keep_outputs"] = self.keep_outputs
        if self.review_below is not None:  # likewise: profiles without it keep their hash
            d["review_below"] = self.review_below
        if self.dicom is not None:  # likewise
            d["dicom"] = self.dicom.to_dict()
        d.update(self.extra)
        return d

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2, ensure_ascii=False) + "\n"

    def sha256(self) -> str:
        canonical = json.dumps(self.to_dict(), sort_keys=True, separators=(",", ":"), ensure_ascii=False)
        return hashlib.sha256(canonical.encode("utf-8")).hexdigest()

    def with_labels(self, labels) -> "Profile":
        return replace(self, labels=tuple(str(x) for x in labels))

    def describe(self) -> str:
        """The profile in words, e.g. 'RGB, 224×224 stretch, ImageNet mean/std, NCHW float32'."""
        if self.image:
            return describe_image(self.image)
        if self.table:
            return describe_table(self.table)
        return "no preprocessing (raw tensor)"


_TEXT_TYPES = ("object", "string")
_WHOLE_TYPES = ("int64", "int32", "int16", "int8", "uint64", "uint32", "uint16", "uint8", "bool")


def describe_table(spec: TableSpec) -> str:
    """'table: 4 CSV columns matched by name, one model input each (sex, ward as text)'."""
    cols, fed = spec.columns, spec.fed
    if cols is None:
        text = (f"table: the first {len(fed)} CSV columns, in file order" if fed else
                "table: the first numeric CSV columns, in file order")
        cols = tuple(f"column {j + 1}" for j in range(len(fed)))
    else:
        text = f"table: {len(cols)} CSV column{'s' if len(cols) != 1 else ''} matched by name"
    if not fed:
        return text
    text += ", one model input each"
    named = [(c, t) for c, (_, t) in zip(cols, fed)]
    kinds = [(", ".join(c for c, t in named if t in _TEXT_TYPES), "as text"),
             (", ".join(c for c, t in named if t in _WHOLE_TYPES), "as whole numbers")]
    said = "; ".join(f"{c} {how}" for c, how in kinds if c)
    return text + (f" ({said})" if said else "")


def _close(a, b, tol=1e-3) -> bool:
    return len(a) == len(b) and all(abs(x - y) <= tol * max(1.0, abs(y)) for x, y in zip(a, b))


def describe_normalisation(spec: ImageSpec) -> str:
    mean, std = list(spec.mean), list(spec.std)
    rgb_order = (lambda v: v[::-1]) if spec.color == "BGR" else (lambda v: v)
    if abs(spec.scale - 1 / 255) < 1e-6 and _close(rgb_order(mean), IMAGENET_MEAN) and _close(rgb_order(std), IMAGENET_STD):
        return "ImageNet mean/std"
    if abs(spec.scale - 1 / 255) < 1e-6 and all(m == 0 for m in mean) and all(s == 1 for s in std):
        return "0–1 range"
    if abs(spec.scale - 1 / 127.5) < 1e-6 and all(m == 1 for m in mean) and all(s == 1 for s in std):
        return "−1–1 range"
    if spec.scale == 1 and all(s == 1 for s in std):
        if all(m == 0 for m in mean):
            return "raw 0–255 pixels"
        if _close(rgb_order(mean), CAFFE_MEAN_BGR[::-1], tol=1e-2):
            return "Caffe mean subtraction"
        return "mean subtraction " + "/".join(f"{m:g}" for m in mean)
    return (f"x = (p×{spec.scale:.4g} − [{', '.join(f'{m:.4g}' for m in mean)}]) / "
            f"[{', '.join(f'{s:.4g}' for s in std)}]")


def describe_resize(r: Resize) -> str:
    """One resize stage in words, e.g. '224×224 stretch (bilinear)'."""
    how = r.interpolation if r.library == "pillow" else f"OpenCV {r.interpolation}"
    first = ""
    if r.pad_first:
        square = r.mode == "shorter-side" or r.size[0] == r.size[1]
        first = f"padded {r.pad_anchor} to {'a square' if square else 'its aspect'} first, "
    if r.mode == "stretch":
        return f"{first}{r.size[0]}×{r.size[1]} stretch ({how})"
    if r.mode == "shorter-side":
        return f"{first}shorter side {r.shorter} ({how})"
    if r.mode == "fit":
        return f"fit in {r.size[0]}×{r.size[1]}, padded {r.pad_anchor} ({how})"
    if r.mode == "limit-side":
        side = {"max": "longer side at most", "min": "shorter side at least", "long": "longer side"}[r.limit_type]
        return f"{side} {r.limit}, sides multiples of {r.multiple} ({how})"
    if r.grow:
        most = f", at most {r.max_width}" if r.max_width else ""
        return f"height {r.size[1]}, width growing from {r.size[0]}{most}, padded right ({how})"
    return f"height {r.size[1]}, width up to {r.size[0]}, padded right ({how})"


def describe_image(spec: ImageSpec) -> str:
    parts = [{"L": "greyscale"}.get(spec.color, spec.color)]
    if spec.preset:
        changed = spec.overridden()
        parts.insert(0, f"preset {spec.preset}" + (f" ({', '.join(changed)} overridden)" if changed else ""))
    if spec.resize is None:
        parts.append("no resize")
    else:
        parts.append(" then ".join(describe_resize(r) for r in spec.stages))
    if spec.crop:
        parts.append(f"centre crop {spec.crop[0]}×{spec.crop[1]}")
    parts.append(describe_normalisation(spec))
    parts.append(f"{spec.layout} {spec.dtype}")
    return ", ".join(parts)


# --------------------------------------------------------------------------- parsing

def describe_dicom(spec: DicomSpec) -> str:
    """The ``dicom`` section in words: 'series Modality CT, ImageType ORIGINAL · frames 1-10 · window lung
    (level -600, width 1500)'."""
    from .inputs.dicomseries import rule_text
    from .inputs.windowing import WINDOW_PRESETS

    parts = []
    if spec.series:
        parts.append("series " + rule_text(spec.rule))
    else:
        parts.append("every series")
    parts.append(f"frames {spec.frames}" if spec.frames else "every frame")
    window = spec.window
    if window is None:
        parts.append("the file's own window")
    elif window == "none":
        parts.append("no window (each frame's full range)")
    elif isinstance(window, str):
        center, width = WINDOW_PRESETS[window]
        parts.append(f"window {window} (level {center:g}, width {width:g})")
    else:
        parts.append(f"window level {window.center:g}, width {window.width:g}"
                     + (f" ({window.function})" if window.function != "LINEAR" else ""))
    return " · ".join(parts)


def _unknown(keys, allowed, where: str):
    for key in keys:
        if key not in allowed and not str(key).startswith("x-"):
            hint = difflib.get_close_matches(str(key), list(allowed), n=1)
            extra = f" (did you mean '{hint[0]}'?)" if hint else f"; known keys: {', '.join(allowed)}"
            raise ProfileError(f"Profile: unknown key '{where}{key}'{extra}")


def _choice(value, allowed, where: str, aliases=None) -> str:
    if not isinstance(value, str):
        raise ProfileError(f"Profile: {where} must be one of {', '.join(allowed)} (got {value!r})")
    v = value.strip()
    if aliases:
        v = aliases.get(v.lower(), v)
    for a in allowed:
        if v.lower() == a.lower():
            return a
    raise ProfileError(f"Profile: {where} must be one of {', '.join(allowed)} (got {value!r})")


def _number(value, where: str, positive=False) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ProfileError(f"Profile: {where} must be a number (got {value!r})")
    try:
        v = float(value)
    except OverflowError:  # an integer too large for a float (JSON allows any number of digits)
        raise ProfileError(f"Profile: {where} must be a finite number (got an integer too large for one)") from None
    if v != v or v in (float("inf"), float("-inf")):
        raise ProfileError(f"Profile: {where} must be a finite number (got {value!r})")
    if positive and v <= 0:
        raise ProfileError(f"Profile: {where} must be greater than 0 (got {value!r})")
    return v


def _numbers(value, where: str, positive=False) -> tuple:
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        value = [value]
    if not isinstance(value, (list, tuple)) or not value:
        raise ProfileError(f"Profile: {where} must be a number or a list of numbers (got {value!r})")
    return tuple(_number(v, f"{where}[{i}]", positive) for i, v in enumerate(value))


def _int(value, where: str, lo=1, hi=65536) -> int:
    if isinstance(value, float) and not math.isfinite(value):  # int() of NaN or infinity raises
        raise ProfileError(f"Profile: {where} must be a whole number (got {value!r})")
    if isinstance(value, bool) or not isinstance(value, (int, float)) or int(value) != value:
        raise ProfileError(f"Profile: {where} must be a whole number (got {value!r})")
    if not lo <= int(value) <= hi:
        raise ProfileError(f"Profile: {where} must be between {lo} and {hi} (got {value!r})")
    return int(value)


def _size(value, where: str) -> tuple:
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        value = [value, value]
    if not isinstance(value, (list, tuple)) or len(value) != 2:
        raise ProfileError(f"Profile: {where} must be [width, height] (got {value!r})")
    return (_int(value[0], f"{where}[0] (width)"), _int(value[1], f"{where}[1] (height)"))


def _flag(raw, key: str, default: bool, where: str) -> bool:
    value = raw.get(key, default)
    if not isinstance(value, bool):
        raise ProfileError(f"Profile: {where}.{key} must be true or false (got {value!r})")
    return value


def _interpolation(raw, library: str, explicit: bool, where: str, notes: list) -> str:
    """The interpolation by its library's own name; today's aliases under a profile that names no library."""
    names = LIBRARY_INTERPOLATIONS[library]
    value = raw.get("interpolation", names[1])  # bilinear, or OpenCV's linear
    if not isinstance(value, str):
        return _choice(value, names, f"{where}.interpolation")
    key = value.strip().lower()
    if key == "nearest-neighbor":
        key = "nearest"
    if library == "pillow" and not explicit and key in _OLD_ALIASES:
        notes.append(f"{where}.interpolation '{key}' is read as Pillow's '{_OLD_ALIASES[key]}', as before; this name "
                     f"is deprecated because {_NOT_PILLOW[key]}. Write '{_OLD_ALIASES[key]}' to keep these tensors")
        return _OLD_ALIASES[key]
    refusals = _NOT_PILLOW if library == "pillow" else _NOT_OPENCV
    if key in refusals:
        raise ProfileError(f"Profile: {where}.interpolation {refusals[key]}")
    if key not in names:
        raise ProfileError(f"Profile: {where}.interpolation must be one of {', '.join(names)} under library {library} "
                           f"(got {value!r})")
    return key


_RESIZE_KEYS = ("mode", "size", "shorter", "interpolation", "pad", "library", "rounding", "output", "grow",
                "max_width", "limit", "limit_type", "multiple", "min_size", "auto", "stride", "scaleup", "pad_first")


def _parse_resize(raw, where="image.resize", notes: list | None = None) -> Resize | None:
    if raw is None:
        return None
    if not isinstance(raw, dict):
        raise ProfileError(f"Profile: {where} must be an object (got {raw!r})")
    notes = [] if notes is None else notes
    _unknown(raw, _RESIZE_KEYS, where + ".")
    mode = _choice(raw.get("mode", "stretch"), RESIZE_MODES, f"{where}.mode", _MODE_ALIASES)
    size = _size(raw["size"], f"{where}.size") if raw.get("size") is not None else None
    shorter = _int(raw["shorter"], f"{where}.shorter") if raw.get("shorter") is not None else None
    if mode in ("stretch", "fit", "height") and size is None:
        raise ProfileError(f"Profile: {where}.size [width, height] is required for resize mode '{mode}'")
    if mode == "shorter-side" and shorter is None:
        raise ProfileError(f"Profile: {where}.shorter is required for resize mode 'shorter-side'")
    library = _choice(raw.get("library", "pillow"), RESIZE_LIBRARIES, f"{where}.library", {"cv2": "opencv", "pil": "pillow"})
    interp = _interpolation(raw, library, raw.get("library") is not None, where, notes)
    pad = raw.get("pad") or {}
    if not isinstance(pad, dict):
        raise ProfileError(f"Profile: {where}.pad must be an object like {{\"anchor\": \"center\", \"value\": 0}}")
    _unknown(pad, ("anchor", "value"), where + ".pad.")
    anchor = _choice(pad.get("anchor", "center"), ANCHORS, f"{where}.pad.anchor", _ANCHOR_ALIASES)
    value = _numbers(pad.get("value", 0), f"{where}.pad.value")
    rounding = raw.get("rounding")
    if rounding is not None:
        rounding = _choice(rounding, ROUNDINGS, f"{where}.rounding", {"int": "floor", "truncate": "floor"})
        if mode not in ("shorter-side", "fit", "height"):
            raise ProfileError(f"Profile: {where}.rounding applies to the sizes that shorter-side, fit and height "
                               f"compute; resize mode '{mode}' computes none it would round")
    output = _choice(raw.get("output", "uint8"), RESIZE_OUTPUTS, f"{where}.output", {"float32": "float"})
    grow = _flag(raw, "grow", False, where)
    max_width = _int(raw["max_width"], f"{where}.max_width") if raw.get("max_width") is not None else None
    if (grow or max_width is not None) and mode != "height":
        raise ProfileError(f"Profile: {where}.grow and max_width are for resize mode 'height' (got mode '{mode}')")
    if max_width is not None and not grow:
        raise ProfileError(f"Profile: {where}.max_width needs grow: true (without it the width is size[0])")
    if max_width is not None and max_width < size[0]:
        raise ProfileError(f"Profile: {where}.max_width ({max_width}) is narrower than size[0] ({size[0]})")
    limit = _int(raw["limit"], f"{where}.limit") if raw.get("limit") is not None else None
    limit_type = _choice(raw.get("limit_type", "max"), LIMIT_TYPES, f"{where}.limit_type",
                         {"resize_long": "long", "long-side": "long"})
    multiple = _int(raw.get("multiple", 32), f"{where}.multiple")
    min_size = _int(raw.get("min_size", 32), f"{where}.min_size")
    if mode == "limit-side" and limit is None:
        raise ProfileError(f"Profile: {where}.limit is required for resize mode 'limit-side' (PaddleOCR's "
                           "limit_side_len, e.g. 960)")
    if mode != "limit-side" and any(k in raw for k in ("limit", "limit_type", "multiple", "min_size")):
        raise ProfileError(f"Profile: {where}.limit, limit_type, multiple and min_size are for resize mode "
                           f"'limit-side' (got mode '{mode}')")
    auto = _flag(raw, "auto", False, where)
    scaleup = _flag(raw, "scaleup", True, where)
    stride = _int(raw.get("stride", 32), f"{where}.stride")
    if mode != "fit" and any(k in raw for k in ("auto", "stride", "scaleup")):
        raise ProfileError(f"Profile: {where}.auto, stride and scaleup are for resize mode 'fit' (got mode '{mode}')")
    pad_first = _flag(raw, "pad_first", False, where)
    if pad_first and mode not in ("stretch", "shorter-side"):
        raise ProfileError(f"Profile: {where}.pad_first is for resize modes 'stretch' (padded to the size's aspect) and "
                           f"'shorter-side' (padded to a square); mode '{mode}' pads after resizing")
    return Resize(mode=mode, size=size, shorter=shorter, interpolation=interp, pad_anchor=anchor, pad_value=value,
                  library=library, rounding=rounding, output=output, grow=grow, max_width=max_width, limit=limit,
                  limit_type=limit_type, multiple=multiple, min_size=min_size, auto=auto, stride=stride,
                  scaleup=scaleup, pad_first=pad_first)


def _parse_stages(raw, notes: list) -> tuple:
    """``image.resize``: one resize object, or a list of them applied in order; the stages as a tuple."""
    if raw is None:
        return ()
    if not isinstance(raw, list):
        return (_parse_resize(raw, notes=notes),)
    if not raw:
        raise ProfileError("Profile: image.resize given as a list needs at least one resize object (or leave it out)")
    if len(raw) > 8:
        raise ProfileError(f"Profile: image.resize lists {len(raw)} stages; at most 8 are allowed")
    for i, r in enumerate(raw):
        if not isinstance(r, dict):
            raise ProfileError(f"Profile: image.resize[{i}] must be a resize object like "
                               f'{{"mode": "stretch", "size": [224, 224]}} (got {r!r})')
    return tuple(_parse_resize(r, f"image.resize[{i}]", notes) for i, r in enumerate(raw))


_IMAGE_KEYS = ("preset", "color", "layout", "dtype", "resize", "crop", "scale", "mean", "std", "crop_rounding", "exif")


def preset_spec(name: str) -> ImageSpec:
    """The image section a preset gives when nothing overrides it (its ``preset`` set)."""
    return _parse_image({"preset": name})


def _parse_image(raw, notes: list | None = None) -> ImageSpec:
    if not isinstance(raw, dict):
        raise ProfileError(f"Profile: image must be an object (got {raw!r})")
    _unknown(raw, _IMAGE_KEYS, "image.")
    if raw.get("preset") is not None:
        from .presets import expand

        name, merged = expand(raw)
        return replace(_parse_image(merged, notes), preset=name)
    color = _choice(raw.get("color", "RGB"), COLORS, "image.color", _COLOR_ALIASES)
    layout = _choice(raw.get("layout", "NCHW"), LAYOUTS, "image.layout", {"chw": "NCHW", "hwc": "NHWC"})
    dtype = _choice(raw.get("dtype", "float32"), DTYPES, "image.dtype",
                    {"float": "float32", "half": "float16", "fp16": "float16", "fp32": "float32"})
    stages = _parse_stages(raw.get("resize"), notes)
    resize = stages[-1] if stages else None
    crop = _size(raw["crop"], "image.crop") if raw.get("crop") is not None else None
    crop_rounding = _choice(raw.get("crop_rounding", "round"), CROP_ROUNDINGS, "image.crop_rounding",
                            {"int": "floor", "truncate": "floor"})
    exif = _choice(raw.get("exif", "apply"), EXIF_MODES, "image.exif")
    scale = _number(raw.get("scale", 1.0 / 255.0), "image.scale")
    mean = _numbers(raw.get("mean", 0.0), "image.mean")
    std = _numbers(raw.get("std", 1.0), "image.std", positive=True)
    channels = 1 if color == "L" else 3
    for name, values in (("mean", mean), ("std", std)):
        if len(values) not in (1, channels):
            raise ProfileError(
                f"Profile: image.{name} has {len(values)} values but colour {color} has {channels} "
                f"channel{'s' if channels > 1 else ''}; give 1 or {channels}"
            )
    for i, r in enumerate(stages):
        if len(r.pad_value) not in (1, channels):
            where = f"image.resize[{i}]" if len(stages) > 1 else "image.resize"
            raise ProfileError(f"Profile: {where}.pad.value has {len(r.pad_value)} values; give 1 or {channels}")
    return ImageSpec(color=color, layout=layout, dtype=dtype, resize=resize, crop=crop, scale=scale, mean=mean, std=std,
                     crop_rounding=crop_rounding, exif=exif, resize_before=stages[:-1])


def _parse_passthrough(value, columns) -> bool | tuple:
    """table.passthrough: true (every non-feature column), false (none) or a list of column names."""
    if isinstance(value, bool):
        return value
    if not isinstance(value, list) or not all(isinstance(c, str) and c.strip() for c in value):
        raise ProfileError("Profile: table.passthrough must be true (keep every other column), false (none) "
                           f"or a list of column names (got {value!r})")
    dup = sorted({c for c in value if value.count(c) > 1})
    if dup:
        raise ProfileError(f"Profile: table.passthrough lists {', '.join(dup)} more than once")
    features = set(columns or ())
    both = [c for c in value if c in features]
    if both:
        raise ProfileError(f"Profile: table.passthrough lists {', '.join(both)}, which table.columns feeds to the "
                           "model; features are in every result already")
    return tuple(value)


def _fraction(value, where: str) -> float:
    v = _number(value, where)
    if not 0.0 <= v <= 1.0:
        raise ProfileError(f"Profile: {where} must be between 0 and 1 (got {value!r})")
    return v


def _parse_detection(raw) -> DetectionSpec:
    if not isinstance(raw, dict):
        raise ProfileError('Profile: detection must be an object like {"family": "yolov8", "conf": 0.25}')
    _unknown(raw, ("family", "conf", "iou", "max_det", "class_agnostic", "floor"), "detection.")
    family = (_choice(raw["family"], DETECTION_FAMILIES, "detection.family", _FAMILY_ALIASES)
              if raw.get("family") is not None else None)
    get = lambda key, parse: parse(raw[key], f"detection.{key}") if raw.get(key) is not None else None  # noqa: E731
    agnostic = raw.get("class_agnostic", False)
    if not isinstance(agnostic, bool):
        raise ProfileError(f"Profile: detection.class_agnostic must be true or false (got {agnostic!r})")
    return DetectionSpec(family=family, conf=get("conf", _fraction), iou=get("iou", _fraction),
                         max_det=get("max_det", lambda v, w: _int(v, w, 1, 100_000)), class_agnostic=agnostic,
                         floor=get("floor", _fraction))


def _parse_segmentation(raw) -> SegmentationSpec:
    if not isinstance(raw, dict):
        raise ProfileError('Profile: segmentation must be an object like {"threshold": 0.5}')
    _unknown(raw, ("threshold",), "segmentation.")
    threshold = raw.get("threshold")
    return SegmentationSpec(threshold=None if threshold is None else _fraction(threshold, "segmentation.threshold"))


_DICOM_EXAMPLE = '{"series": {"Modality": "CT", "ImageType": "ORIGINAL"}, "frames": "1-10", "window": "lung"}'


def _parse_dicom(raw) -> DicomSpec:
    from .inputs.dicomseries import RULE_FIELDS, parse_frames
    from .inputs.windowing import FILE_WINDOW, NO_WINDOW, VOI_FUNCTIONS, WINDOW_PRESETS, Window

    if not isinstance(raw, dict):
        raise ProfileError(f"Profile: dicom must be an object like {_DICOM_EXAMPLE}")
    _unknown(raw, ("series", "frames", "window"), "dicom.")
    series: list = []
    rule = raw.get("series")
    if rule is not None:
        if not isinstance(rule, dict):
            raise ProfileError(f'Profile: dicom.series must be an object of DICOM keywords, like '
                               f'{{"Modality": "CT", "ImageType": "ORIGINAL"}} (got {rule!r})')
        _unknown(rule, tuple(RULE_FIELDS), "dicom.series.")
        for key, value in rule.items():
            values = value if isinstance(value, list) else [value]
            if not values or not all(isinstance(v, (str, int)) and not isinstance(v, bool) and str(v).strip()
                                     for v in values):
                raise ProfileError(f"Profile: dicom.series.{key} must be a text or a list of texts "
                                   f"(got {value!r})")
            series.append((key, tuple(str(v).strip() for v in values)))
    frames = raw.get("frames")
    if frames is not None:
        if isinstance(frames, bool) or not isinstance(frames, (str, int)):
            raise ProfileError(f'Profile: dicom.frames must be a range such as "1-10" (got {frames!r})')
        try:
            parse_frames(frames)
        except ValueError as exc:
            raise ProfileError(f"Profile: dicom.frames {exc}") from None
        frames = str(frames).strip()
    window = raw.get("window")
    names = (FILE_WINDOW, NO_WINDOW) + tuple(WINDOW_PRESETS)
    if isinstance(window, str):
        window = _choice(window, names, "dicom.window", {"soft_tissue": "soft-tissue", "softtissue": "soft-tissue",
                                                        "soft tissue": "soft-tissue", "lungs": "lung"})
        window = None if window == FILE_WINDOW else window
    elif isinstance(window, dict):
        _unknown(window, ("center", "width", "function"), "dicom.window.")
        if "center" not in window or "width" not in window:
            raise ProfileError('Profile: dicom.window needs both "center" and "width" (e.g. {"center": 40, '
                               '"width": 400})')
        function = _choice(window.get("function", "LINEAR"), VOI_FUNCTIONS, "dicom.window.function")
        width = _number(window["width"], "dicom.window.width", positive=True)
        if function == "LINEAR" and width < 1:
            raise ProfileError(f"Profile: dicom.window.width must be at least 1 for a LINEAR window (got {width:g})")
        window = Window(_number(window["center"], "dicom.window.center"), width, function)
    elif window is not None:
        raise ProfileError(f"Profile: dicom.window must be one of {', '.join(names)}, or "
                           f'{{"center": 40, "width": 400}} (got {window!r})')
    return DicomSpec(series=tuple(series), frames=frames, window=window)


def profile_from_dict(raw) -> Profile:
    """Validate a profile read from JSON; raise ProfileError naming the offending key."""
    if not isinstance(raw, dict):
        raise ProfileError("Profile: the top level must be a JSON object")
    _unknown(raw, ("input", "task", "labels", "image", "table", "detection", "segmentation", "keep_outputs",
                   "review_below", "dicom", "schema_version"), "")
    inp = raw.get("input")
    if inp is not None and not isinstance(inp, str):
        raise ProfileError(f"Profile: input must be the name of a model input (got {inp!r})")
    task = Task(_choice(raw.get("task", Task.RAW), TASKS, "task",
                        {"classify": Task.CLASSIFICATION, "regress": Task.REGRESSION}))
    labels = raw.get("labels") or []
    if isinstance(labels, dict):
        try:
            labels = [labels[k] for k in sorted(labels, key=lambda k: int(k))]
        except ValueError as exc:
            raise ProfileError("Profile: labels given as an object must have numeric keys") from exc
    if not isinstance(labels, list):
        raise ProfileError(f"Profile: labels must be a list of names (got {type(labels).__name__})")
    notes: list = []
    image = _parse_image(raw["image"], notes) if raw.get("image") is not None else None
    table = None
    if raw.get("table") is not None:
        t = raw["table"]
        if not isinstance(t, dict):
            raise ProfileError("Profile: table must be an object like {\"columns\": [\"age\", \"bmi\"]}")
        _unknown(t, ("columns", "passthrough"), "table.")
        cols = t.get("columns")
        if cols is not None:
            if not isinstance(cols, list) or not all(isinstance(c, str) for c in cols) or not cols:
                raise ProfileError("Profile: table.columns must be a non-empty list of column names")
            dup = sorted({c for c in cols if cols.count(c) > 1})
            if dup:
                raise ProfileError(f"Profile: table.columns lists {', '.join(dup)} more than once")
            cols = tuple(cols)
        table = TableSpec(columns=cols, passthrough=_parse_passthrough(t.get("passthrough", True), cols))
    if image and table:
        raise ProfileError("Profile: give either image or table, not both")
    detection = _parse_detection(raw["detection"]) if raw.get("detection") is not None else None
    segmentation = _parse_segmentation(raw["segmentation"]) if raw.get("segmentation") is not None else None
    keep_outputs = raw.get("keep_outputs")
    if keep_outputs is not None and not isinstance(keep_outputs, bool):
        raise ProfileError(f"Profile: keep_outputs must be true or false (got {keep_outputs!r})")
    review_below = raw.get("review_below")
    if review_below is not None:
        if isinstance(review_below, bool) or not isinstance(review_below, (int, float)):
            raise ProfileError(f"Profile: review_below must be a score between 0 and 1, under which a result is "
                               f"marked for review (got {review_below!r})")
        review_below = _fraction(review_below, "review_below")
    dicom = _parse_dicom(raw["dicom"]) if raw.get("dicom") is not None else None
    extra = {k: v for k, v in raw.items() if str(k).startswith("x-")}
    return Profile(dicom=dicom, input=inp, task=task, labels=tuple(str(x) for x in labels), image=image, table=table,
                   detection=detection, segmentation=segmentation, keep_outputs=keep_outputs,
                   review_below=review_below, extra=extra, notes=tuple(notes))


def profile_from_json(text: str, source: str = "profile") -> Profile:
    try:
        raw = json.loads(text)
    except ValueError as exc:
        raise ProfileError(f"{source} is not valid JSON: {exc}") from exc
    except RecursionError as exc:  # "[[[[..." nested deeper than the parser's stack
        raise ProfileError(f"{source} is not a usable profile: its JSON is nested too deeply") from exc
    return profile_from_dict(raw)


def load_profile(path: str | os.PathLike) -> Profile:
    """Read a profile JSON file."""
    p = Path(path)
    if not p.is_file():
        raise ProfileError(f"Profile file not found: {p}")
    try:
        text = p.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        raise ProfileError(f"Cannot read profile {p.name}: {exc}") from exc
    return profile_from_json(text, f"Profile {p.name}")


def atomic_write_text(path: str | os.PathLike, text: str) -> None:
    """Write a text file through a temporary file and a rename, so a crash never leaves half a file."""
    atomic_write(path, text.encode("utf-8"))


def atomic_write(path: str | os.PathLike, data: bytes, private: bool = False, sync: bool = True) -> None:
    """Write ``data`` to ``path`` atomically: a temporary file beside it, flushed, then renamed over it.

    ``private`` makes the file readable by its owner only (0600) from the moment it exists;
    ``sync`` waits until the data is on disk before the rename.
    """
    p = Path(path)
    fd, tmp = tempfile.mkstemp(prefix=f".{p.name}.", suffix=".tmp", dir=str(p.parent))
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            if sync:
                fh.flush()
                os.fsync(fh.fileno())
        if not private:  # mkstemp makes 0600 files; others get the usual mode, as open() would give
            umask = os.umask(0)
            os.umask(umask)
            os.chmod(tmp, 0o666 & ~umask)
        os.replace(tmp, p)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise


def save_profile(profile: Profile, path: str | os.PathLike) -> None:
    atomic_write_text(path, profile.to_json())


def sidecar_paths(model_path: str | os.PathLike) -> list[Path]:
    """Where a model's profile may sit: ``name.profile.json`` then ``name.onnx.profile.json``."""
    p = Path(model_path)
    return [p.with_name(p.stem + ".profile.json"), p.with_name(p.name + ".profile.json")]


# --------------------------------------------------------------------------- defaults

#: Ultralytics' metadata ``task`` values, and the task InferDesk reads each as (pose and OBB: raw for now)
_ULTRALYTICS_TASKS = {"detect": Task.DETECTION, "segment": Task.SEGMENTATION, "classify": Task.CLASSIFICATION,
                      "pose": Task.RAW, "obb": Task.RAW}


def _class_vector(o) -> bool:
    """Whether an output can be a class vector per item: no shape known, rank 2 or less, or one axis past the batch
    longer than 1 (``[N, K, 1, 1]``). A ``[1, 84, 8400]`` detector output is not one."""
    shape = o.shape
    return not shape or len(shape) <= 2 or sum(1 for d in shape[1:] if d != 1) <= 1


_FLOATS = ("float", "double", "float16")


def _label_and_probabilities(tensors) -> bool:
    """Whether the outputs are a classifier's without ZipMap (scikit-learn's ``zipmap=False``): a per-item
    ``label`` output of whole numbers or text, and a float ``[N, K]`` output of one score per class."""
    label = next((o for o in tensors if "label" in o.name.lower() and o.elem_type not in _FLOATS
                  and 1 <= len(o.shape) <= 2 and (len(o.shape) == 1 or o.shape[-1] == 1)), None)
    return label is not None and any(
        o is not label and o.elem_type in _FLOATS and len(o.shape) == 2
        and not (isinstance(o.shape[-1], int) and o.shape[-1] < 2) for o in tensors)


def _guess_task(info, labels) -> Task:
    outs = info.outputs
    meta_task = str(info.metadata.get("task", "")).strip().lower()
    if meta_task in _ULTRALYTICS_TASKS:
        return _ULTRALYTICS_TASKS[meta_task]
    from .decoders.detection import recognise_family

    if recognise_family(info.outputs, len(labels), info.metadata) is not None:
        return Task.DETECTION
    tensors = [o for o in outs if o.is_tensor]
    if any(o.is_zipmap for o in outs) or (labels and (not tensors or _class_vector(tensors[0]))):
        return Task.CLASSIFICATION
    if _label_and_probabilities(tensors):
        return Task.CLASSIFICATION
    if tensors:
        o = tensors[0]
        if len(o.shape) == 2 and o.shape[-1] == 1:
            return Task.REGRESSION
        if len(o.shape) == 1 and o.elem_type in ("float", "double"):
            return Task.REGRESSION
        if len(o.shape) == 2 and isinstance(o.shape[-1], int) and o.shape[-1] > 1 and o.elem_type in ("float", "float16", "double"):
            return Task.CLASSIFICATION
    return Task.RAW


def _imgsz(metadata) -> tuple | None:
    """Ultralytics' ``imgsz`` metadata (``[640, 640]`` or ``640``) as (height, width), or None."""
    raw = metadata.get("imgsz")
    if not raw:
        return None
    import ast

    try:
        value = ast.literal_eval(str(raw).strip())
    except (ValueError, SyntaxError, MemoryError, RecursionError):
        return None
    if isinstance(value, int):
        value = [value, value]
    if (isinstance(value, (list, tuple)) and len(value) == 2
            and all(isinstance(v, int) and not isinstance(v, bool) and 0 < v <= 65536 for v in value)):
        return int(value[0]), int(value[1])
    return None


def _letterboxed(info, labels) -> bool:
    """Whether a detector is fed letterboxed: a YOLO family (Ultralytics RT-DETR and torchvision models are not)."""
    from .decoders.detection import recognise_family

    family = recognise_family(info.outputs, len(labels), info.metadata)
    return family in ("yolov5", "yolov8", "end2end") or (
        family is None and str(info.metadata.get("task", "")).strip().lower() in ("detect", "segment"))


#: the stride a guessed profile rounds an image's own size to when the metadata names none: the usual total
#: downsampling of a convolutional backbone (ResNet, MobileNet, YOLO, DBNet's FPN: PaddleOCR's DetResizeForTest
#: rounds each side to 32), so that every feature map divides evenly
DEFAULT_STRIDE = 32
#: the longest side a guessed profile feeds an image at: an A4 page scanned at 300 dpi (3,508 pixels) keeps its own
#: size, while a 50-megapixel photo is scaled down, so the tensor stays at most 3×4,096×4,096 float32 (192 MiB),
#: far under MAX_ITEM_BYTES, and the model's feature maps fit in memory
GUESS_MAX_SIDE = 4096


def model_stride(metadata) -> int | None:
    """The metadata's ``stride`` (Ultralytics writes one, ``32``), or None when absent or not a usable number."""
    raw = str(metadata.get("stride", "")).strip()
    import ast

    try:
        value = ast.literal_eval(raw) if raw else None
    except (ValueError, SyntaxError, MemoryError, RecursionError):
        return None
    if isinstance(value, (list, tuple)) and value:  # per-level strides, e.g. [8, 16, 32]: the coarsest
        value = max(value) if all(isinstance(v, int) and not isinstance(v, bool) for v in value) else None
    if isinstance(value, int) and not isinstance(value, bool) and 0 < value <= 1024:
        return value
    return None


def _own_size_resize(width, height, stride: int) -> Resize:
    """How a guessed profile brings an image to an input whose fixed sides are ``width``/``height`` (None: dynamic).

    Both fixed: a stretch to them. Both dynamic: the image at its own size, each side rounded to a multiple of
    ``stride`` (the limit-side mode, longer side at most GUESS_MAX_SIDE). Only the height fixed (a text-line
    recogniser): that height, the width in proportion padded on the right (the height mode, growing up to
    GUESS_MAX_SIDE). Only the width fixed: that width, the height in proportion, padded to a multiple of
    ``stride`` (the fit mode's minimum rectangle).
    """
    if width is not None and height is not None:
        return Resize(mode="stretch", size=(width, height))
    if width is None and height is None:
        return Resize(mode="limit-side", limit=GUESS_MAX_SIDE, limit_type="max", multiple=stride, min_size=stride)
    if width is None:
        return Resize(mode="height", size=(min(height, GUESS_MAX_SIDE), height), grow=True, max_width=GUESS_MAX_SIDE)
    return Resize(mode="fit", size=(width, GUESS_MAX_SIDE), auto=True, stride=stride)


def default_profile(info) -> Profile:
    """A sensible profile guessed from the first input's shape and type, when the model carries none."""
    spec = info.inputs[0]
    labels = tuple(info.labels)
    task = _guess_task(info, labels)
    shape = spec.shape
    rank = len(shape)
    fixed = lambda d: isinstance(d, int) and d > 0  # noqa: E731
    if rank in (3, 4):
        dims = shape[1:] if rank == 4 else shape
        if dims[0] in (1, 3):
            layout, c, h, w = "NCHW", dims[0], dims[1], dims[2]
        elif dims[2] in (1, 3):
            layout, c, h, w = "NHWC", dims[2], dims[0], dims[1]
        else:
            layout, c, h, w = "NCHW", 3, dims[1], dims[2]
        imgsz = _imgsz(info.metadata)  # Ultralytics' (height, width), for an export with a dynamic size
        letterboxed = task in (Task.DETECTION, Task.SEGMENTATION) and _letterboxed(info, labels)
        # a YOLO without imgsz gets Ultralytics' own default size; other dynamic sides are read from the image
        guess = 640 if letterboxed else None
        width = w if fixed(w) else (imgsz[1] if imgsz else guess)
        height = h if fixed(h) else (imgsz[0] if imgsz else guess)
        dtype = {"float16": "float16", "uint8": "uint8"}.get(spec.elem_type or "", "float32")
        scale = 1.0 if dtype == "uint8" else 1.0 / 255.0
        resize = _own_size_resize(width, height, model_stride(info.metadata) or DEFAULT_STRIDE)
        from .presets import ultralytics_preset

        preset = ultralytics_preset(info.metadata) if task in (Task.DETECTION, Task.SEGMENTATION) else None
        if preset and c == 3 and _letterboxed(info, labels):
            # Ultralytics' own letterbox (OpenCV, as its predictor), at the export's size and stride
            raw: dict = {"preset": preset, "layout": layout, "resize": {"size": [width, height]}}
            stride = str(info.metadata.get("stride", "")).strip()
            if stride.isdigit() and 0 < int(stride) <= 4096:
                raw["resize"]["stride"] = int(stride)
            if dtype != "float32":
                raw.update(dtype=dtype, scale=scale)
            return Profile(input=spec.name, task=task, labels=labels, image=_parse_image(raw))
        if letterboxed:
            # Ultralytics and YOLOv5 letterbox to imgsz, padding with 114 on 0-255 pixels (114/255 once scaled)
            resize = Resize(mode="fit", size=(width, height), interpolation="bilinear", pad_anchor="center",
                            pad_value=(114.0,))
        image = ImageSpec(
            color="L" if c == 1 else "RGB",
            layout=layout,
            dtype=dtype,
            resize=resize,
            scale=scale,
        )
        return Profile(input=spec.name, task=task, labels=labels, image=image)
    if rank <= 2:
        names = None
        raw_names = info.metadata.get("feature_names") or info.metadata.get("columns")
        if raw_names:
            from .model import parse_labels

            names = tuple(parse_labels(raw_names)) or None
        if names is None and len(info.inputs) > 1 and all(
            len(s.shape) == 2 and s.shape[-1] == 1 for s in info.inputs
        ):
            names = tuple(s.name for s in info.inputs)
        return Profile(input=spec.name, task=task, labels=labels, table=TableSpec(columns=names))
    return Profile(input=spec.name, task=task, labels=labels)


#: the source resolve_profile gives a profile it guessed, for :func:`is_guessed`
GUESSED_SOURCE = "default guessed from the model's input"


def is_guessed(source: str | None) -> bool:
    """Whether resolve_profile's ``source`` says the profile was guessed (not read from a file or the model)."""
    return bool(source) and (source == GUESSED_SOURCE or (source.startswith("preset ") and "chosen from" in source))


def profile_guess_reasons(info, profile: Profile) -> list[str]:
    """What a guessed profile assumes and why, in plain sentences, for the model card.

    Meant for a profile that :func:`is_guessed` says was guessed; each sentence names a choice a
    user may want to check and the profile key that changes it.
    """
    reasons: list[str] = []
    spec = next((s for s in info.inputs if s.name == profile.input), info.inputs[0] if info.inputs else None)
    image = profile.image
    if image is not None and image.resize is not None and spec is not None and len(spec.shape) in (3, 4):
        r = image.resize
        n = r.multiple if r.mode == "limit-side" else r.stride
        whose = (f" ({n} is the model's stride, from its metadata)" if model_stride(info.metadata) == n else
                 f" ({n} is the usual stride of convolutional networks; the model names none)")
        imgsz = _imgsz(info.metadata)
        if r.mode == "limit-side":
            reasons.append(f"The model accepts any image size; images are fed at their own size rounded to {n}"
                           f"{whose}, the longer side at most {r.limit:,} pixels.")
        elif r.mode == "height" and r.grow:
            reasons.append(f"The model takes images {r.size[1]} pixels high and of any width; each image is scaled "
                           f"to that height, its width in proportion (at most {r.max_width:,}), padded on the right.")
        elif r.mode == "fit" and r.auto and not image.preset:
            reasons.append(f"The model takes images {r.size[0]} pixels wide and of any height; each image is scaled "
                           f"to that width, its height in proportion, padded to a multiple of {n}{whose}.")
        elif imgsz and r.size is not None and (r.size[0], r.size[1]) == (imgsz[1], imgsz[0]):
            reasons.append(f"The input size {imgsz[1]}×{imgsz[0]} comes from the model's imgsz metadata.")
        elif r.size is not None:
            if all(isinstance(d, int) and d > 0 for d in _spatial(spec.shape)):
                reasons.append(f"Images are resized to the model's own input size, {r.size[0]}×{r.size[1]}.")
            else:
                reasons.append(f"The model does not state its input size; {r.size[0]}×{r.size[1]} is assumed "
                               "(image.resize.size).")
        if not image.preset:
            reasons.append(f"Pixel scaling ({describe_normalisation(image)}) and {image.color} colour order are assumed: the model "
                           "does not say how its images were prepared (image.scale, mean, std and color).")
    if profile.table is not None and profile.table.columns is None:
        reasons.append("The model names no feature columns; the first numeric CSV columns are fed in file order "
                       "(table.columns).")
    if profile.task == Task.RAW:
        reasons.append("The task could not be told from the outputs, so they are shown as raw values (profile key "
                       "task).")
    else:
        reasons.append(f"The task {profile.task.value} is guessed from the model's outputs (profile key task).")
    if profile.task == Task.CLASSIFICATION and not profile.labels:
        reasons.append("No labels: classes are shown as numbers. Add them in Preprocessing… (profile key labels).")
    return reasons


def _spatial(shape) -> tuple:
    """An image input's (height, width) dims, whatever its layout."""
    dims = shape[1:] if len(shape) == 4 else shape
    if dims[0] in (1, 3):
        return tuple(dims[1:3])
    return tuple(dims[0:2]) if dims[2] in (1, 3) else tuple(dims[1:3])


def resolve_profile(model_path, info, explicit: str | os.PathLike | None = None) -> tuple[Profile, str]:
    """The profile for a model and where it came from.

    Order: an explicit file, a sidecar beside the model, the model's embedded
    ``inferdesk.profile`` metadata, else a default guessed from the model's input.
    Labels missing from the profile are taken from the model's metadata.
    """
    if explicit:
        profile, source = load_profile(explicit), f"file {Path(explicit).name}"
    else:
        profile = source = None
        for candidate in sidecar_paths(model_path):
            if candidate.is_file():
                profile, source = load_profile(candidate), f"sidecar {candidate.name}"
                break
        if profile is None and EMBEDDED_KEY in info.metadata:
            profile = profile_from_json(info.metadata[EMBEDDED_KEY], f"The profile embedded in {info.file_name}")
            source = "embedded in the model"
        if profile is None:
            profile, source = default_profile(info), GUESSED_SOURCE
            if profile.image is not None and profile.image.preset:
                source = f"preset {profile.image.preset}, chosen from the model's Ultralytics metadata"
    if not profile.labels and info.labels:
        profile = profile.with_labels(info.labels)
    return check_profile(profile, info), source


def _gib(n: int) -> str:
    return f"{n / (1 << 30):,.1f} GiB" if n < (1 << 40) else f"{n / (1 << 40):,.1f} TiB"


def item_bytes_text(dims, dtype: str) -> str:
    """'3×200,000×200,000 float32 (447.0 GiB)' for a message."""
    n = ITEMSIZE.get(dtype, 4)
    for d in dims:
        n *= int(d)
    return f"{'×'.join(f'{int(d):,}' for d in dims)} {dtype} ({_gib(n)})"


def _work_dtype(elem_type) -> str:
    """The element type an image item is prepared in: float32, or the model's type when wider."""
    return elem_type if ITEMSIZE.get(elem_type or "", 0) > 4 else "float32"


def check_item_size(dims, dtype: str, what: str) -> None:
    """Refuse a per-item tensor over MAX_ITEM_BYTES, before anything that size exists."""
    n = ITEMSIZE.get(dtype, 4)
    for d in dims:
        n *= int(d)
    if n > MAX_ITEM_BYTES:
        raise ProfileError(
            f"{what}: one item would need a tensor of {item_bytes_text(dims, dtype)}, over InferDesk's limit "
            f"of {_gib(MAX_ITEM_BYTES)} per item; refused"
        )


def check_profile(profile: Profile, info) -> Profile:
    """Check a profile against the model it is for; fill the input name when there is one input."""
    names = [s.name for s in info.inputs]
    if profile.input is None:
        profile = replace(profile, input=names[0])
    elif profile.input not in names:
        raise ProfileError(
            f"Profile names input '{profile.input}', but the model's inputs are: {', '.join(names)}"
        )
    spec = info.input(profile.input)
    if profile.image:
        rank = len(spec.shape)
        if spec.shape and rank not in (3, 4):
            raise ProfileError(
                f"Profile describes an image, but model input '{spec.name}' has shape {spec.shape_text}, "
                "not an image tensor"
            )
        if rank in (3, 4):
            dims = spec.shape[-3:]
            c = dims[0] if profile.image.layout == "NCHW" else dims[2]
            if isinstance(c, int) and c != profile.image.channels:
                raise ProfileError(
                    f"Profile colour {profile.image.color} gives {profile.image.channels} channel(s), "
                    f"but model input '{spec.name}' ({spec.shape_text}, {profile.image.layout}) takes {c}"
                )
            if all(isinstance(d, int) and d > 0 for d in dims):  # the model's own size, however it is fed
                check_item_size(dims, _work_dtype(spec.elem_type),
                                f"{info.file_name}: model input '{spec.name}' is {spec.shape_text}")
        # images are resized and normalised as float32 (H, W, C) arrays; their size is known here unless
        # the profile keeps the shorter side (preprocess checks each image then)
        image = profile.image
        channels = image.channels
        if image.resize is not None and image.resize.size is not None and image.resize.mode != "shorter-side":
            w, h = image.resize.size
            check_item_size((channels, h, w), "float32", f"Profile resizes images to {w:,}×{h:,}")
        if image.crop:
            w, h = image.crop
            check_item_size((channels, h, w), "float32", f"Profile crops images to {w:,}×{h:,}")
    multi = len(info.inputs) > 1 and all(len(s.shape) == 2 and s.shape[-1] == 1 for s in info.inputs)
    if profile.table and profile.table.columns is not None and spec.shape and len(spec.shape) == 2:
        n = spec.shape[1]
        if isinstance(n, int) and n != len(profile.table.columns) and not multi:
            raise ProfileError(
                f"Profile lists {len(profile.table.columns)} table columns, but model input "
                f"'{spec.name}' takes {n} features"
            )
        if multi and len(profile.table.columns) != len(info.inputs):
            raise ProfileError(
                f"Profile lists {len(profile.table.columns)} table columns, but the model takes "
                f"{len(info.inputs)} inputs of one column each ({', '.join(names)})"
            )
    if profile.table and multi:
        profile = replace(profile, table=replace(profile.table, fed=_fed_inputs(profile.table.columns, info.inputs)))
    return profile


def _fold(name: str) -> str:
    return " ".join(name.lower().split())


def fed_inputs(columns, inputs) -> list:
    """The model input (a TensorSpec) each table column feeds, for a model with one input per column.

    Matched by name (exact, then ignoring case and runs of spaces); the columns that name no
    input feed the inputs left over, in the model's order (by position, as a profile naming its
    CSV's own columns did). ``columns`` None: by position.
    """
    if columns is None or len(columns) != len(inputs):
        return list(inputs)
    fed: list = [None] * len(columns)
    free = list(inputs)
    for key in (lambda name: name, _fold):
        for j, col in enumerate(columns):
            match = next((s for s in free if fed[j] is None and key(s.name) == key(col)), None)
            if match is not None:
                fed[j] = match
                free.remove(match)
    rest = iter(free)
    return [s if s is not None else next(rest) for s in fed]


def _fed_inputs(columns, inputs) -> tuple:
    return tuple((s.name, s.elem_type) for s in fed_inputs(columns, inputs))
