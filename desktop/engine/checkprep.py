"""Check what InferDesk feeds a model for an image against a reference tensor, and find the profile that matches it.

A user who has the tensor their own training code made for an image (a ``.npy``) compares it
with InferDesk's: :func:`check_preprocessing` measures the difference (overall, per channel, and
where in the image it sits), then tries every preset (``presets.PRESETS``) and the variants
around the current profile (resize library, each interpolation, rounding, crop rounding, colour
order, EXIF, resize output), and ranks them by how close each comes. The command line's
``inferdesk check-preprocessing`` and the profile editor both call it.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass, field, replace

import numpy as np
from PIL import Image

from .errors import CheckError, EngineError
from .preprocess import preprocess_image
from .presets import PRESET_NAMES
from .profile import LIBRARY_INTERPOLATIONS, ROUNDINGS, ImageSpec, preset_spec

#: the default tolerance: the largest difference that still matches, relative to the reference's range
DEFAULT_TOLERANCE = 1e-5
GRID = 4  # the coarse grid of mean differences is GRID × GRID


@dataclass(frozen=True)
class Difference:
    """How far a tensor is from the reference: absolute differences, overall, per channel and by place.

    ``bbox`` is (x0, y0, x1, y1), inclusive, of the pixels where some channel differs by more
    than the threshold (None when none does); ``grid`` the mean difference on a GRID × GRID grid,
    rows top to bottom; ``heat`` the per-pixel mean over channels (H, W), for a heat map.
    """

    max_abs: float
    mean_abs: float
    channels: tuple  # (name, max, mean) per channel, in the tensor's order
    over: int  # pixels with a channel over the threshold
    pixels: int
    bbox: tuple | None
    border_mean: float  # the outer ring, a sixteenth of the shorter side wide (at least one pixel)
    interior_mean: float
    grid: tuple
    heat: np.ndarray = field(repr=False, compare=False)

    def to_dict(self) -> dict:
        return {"max_abs": self.max_abs, "mean_abs": self.mean_abs,
                "channels": [{"channel": c, "max_abs": mx, "mean_abs": mn} for c, mx, mn in self.channels],
                "pixels_over_tolerance": self.over, "pixels": self.pixels,
                "bbox_over_tolerance": list(self.bbox) if self.bbox else None,
                "border_mean_abs": self.border_mean, "interior_mean_abs": self.interior_mean,
                "grid_mean_abs": [list(row) for row in self.grid]}


@dataclass(frozen=True)
class Candidate:
    """A profile tried against the reference: what it is, the change that gives it, and how close it comes."""

    label: str
    change: dict  # merged into the profile (a preset's replaces the image section)
    spec: ImageSpec = field(repr=False, compare=False)
    max_abs: float
    mean_abs: float
    matches: bool
    also: tuple = ()  # (label, change) of the later candidates that give the very same tensor

    def to_dict(self) -> dict:
        return {"label": self.label, "change": self.change, "max_abs": self.max_abs, "mean_abs": self.mean_abs,
                "matches": self.matches, "also": [{"label": lab, "change": ch} for lab, ch in self.also]}


@dataclass(frozen=True)
class CheckReport:
    """The check: the current profile's difference, whether it matches, and the closest other candidates."""

    shape: tuple
    reference_range: tuple  # (min, max)
    tolerance: float  # relative to the range
    threshold: float  # absolute: tolerance × range
    current: Difference
    matches: bool
    candidates: tuple  # the closest first
    tried: int

    @property
    def better(self) -> Candidate | None:
        """The closest candidate when it comes closer than the current profile, else None."""
        best = self.candidates[0] if self.candidates else None
        if best is None or self.matches:
            return None
        if (best.matches, -best.mean_abs, -best.max_abs) > (False, -self.current.mean_abs, -self.current.max_abs):
            return best
        return None

    def to_dict(self) -> dict:
        return {"shape": list(self.shape), "reference_range": list(self.reference_range),
                "tolerance": self.tolerance, "threshold": self.threshold, "matches": self.matches,
                "current": self.current.to_dict(), "candidates": [c.to_dict() for c in self.candidates],
                "better": self.better.label if self.better else None, "tried": self.tried}


def load_reference(path: str | os.PathLike) -> np.ndarray:
    """A reference tensor from a ``.npy`` file (no pickles); CheckError when it cannot be one."""
    name = os.path.basename(os.fspath(path))
    try:
        ref = np.load(path, allow_pickle=False)
    except FileNotFoundError as exc:
        raise CheckError(f"{name}: reference tensor not found") from exc
    except (OSError, ValueError, EOFError) as exc:
        raise CheckError(f"{name}: not a readable .npy tensor ({exc})") from exc
    if not isinstance(ref, np.ndarray) or ref.dtype.kind not in "biuf":
        raise CheckError(f"{name}: the reference must be a numeric tensor (got {getattr(ref, 'dtype', type(ref))})")
    return ref


def _shape(shape) -> str:
    return "×".join(str(d) for d in shape)


def difference(tensor: np.ndarray, reference: np.ndarray, spec: ImageSpec, threshold: float) -> Difference:
    """The difference between two tensors of one shape (no batch axis) in ``spec``'s layout."""
    d = np.abs(tensor.astype(np.float64) - reference.astype(np.float64))
    chw = d if spec.layout == "NCHW" else d.transpose(2, 0, 1)
    names = {"RGB": "RGB", "BGR": "BGR", "L": "L"}[spec.color]
    names = names if len(names) == chw.shape[0] else [str(i) for i in range(chw.shape[0])]
    channels = tuple((names[i], float(chw[i].max()), float(chw[i].mean())) for i in range(chw.shape[0]))
    heat = chw.mean(axis=0)
    over_mask = (chw > threshold).any(axis=0)
    ys, xs = np.nonzero(over_mask)
    bbox = (int(xs.min()), int(ys.min()), int(xs.max()), int(ys.max())) if len(xs) else None
    h, w = heat.shape
    ring = max(1, min(h, w) // 16)
    interior = heat[ring:h - ring, ring:w - ring]
    border_sum = heat.sum() - interior.sum()
    border_n = heat.size - interior.size
    grid = tuple(tuple(float(heat[(h * i) // GRID:max((h * (i + 1)) // GRID, (h * i) // GRID + 1),
                                  (w * j) // GRID:max((w * (j + 1)) // GRID, (w * j) // GRID + 1)].mean())
                       for j in range(GRID)) for i in range(GRID))
    return Difference(float(d.max()), float(d.mean()), channels, int(over_mask.sum()), int(heat.size), bbox,
                      float(border_sum / border_n) if border_n else 0.0,
                      float(interior.mean()) if interior.size else 0.0, grid, heat.astype(np.float32))


def _images(source):
    """A function giving the image for an EXIF mode: decoded from a path (each mode once), or the image given."""
    if isinstance(source, Image.Image):
        return lambda exif: source, False
    from .inputs.images import decode_image

    cache: dict = {}

    def get(exif: str) -> Image.Image:
        if exif not in cache:
            cache[exif] = decode_image(source, exif=exif == "apply")
        return cache[exif]
    return get, True


def _variants(spec: ImageSpec, exif_known: bool):
    """(label, change, spec) for each one-key change around ``spec``: library and interpolation, rounding,
    crop rounding, colour order, EXIF, resize output."""
    out = []
    r = spec.resize
    if r is not None:
        for library, names in LIBRARY_INTERPOLATIONS.items():
            for interp in names:
                if (library, interp) == (r.library, r.interpolation):
                    continue
                change = {"interpolation": interp} if library == r.library else {"library": library,
                                                                                   "interpolation": interp}
                label = ", ".join(f"resize.{k} {v}" for k, v in change.items())
                out.append((label, {"image": {"resize": change}},
                            replace(spec, resize=replace(r, library=library, interpolation=interp))))
        if r.mode in ("shorter-side", "fit", "height"):
            own = r.rounding or {"shorter-side": "floor", "fit": "round", "height": "ceil"}[r.mode]
            for rounding in ROUNDINGS:
                if rounding != own:
                    out.append((f"resize.rounding {rounding}", {"image": {"resize": {"rounding": rounding}}},
                                replace(spec, resize=replace(r, rounding=rounding))))
        other = "float" if r.output == "uint8" else "uint8"
        out.append((f"resize.output {other}", {"image": {"resize": {"output": other}}},
                    replace(spec, resize=replace(r, output=other))))
    if spec.crop:
        other = "floor" if spec.crop_rounding == "round" else "round"
        out.append((f"crop_rounding {other}", {"image": {"crop_rounding": other}}, replace(spec, crop_rounding=other)))
    if spec.color in ("RGB", "BGR"):
        other = "BGR" if spec.color == "RGB" else "RGB"
        out.append((f"color {other}", {"image": {"color": other}}, replace(spec, color=other)))
        if len(spec.mean) == 3 or len(spec.std) == 3:
            flipped = {"color": other, "mean": list(spec.mean[::-1]), "std": list(spec.std[::-1])}
            pad = r.pad_value[::-1] if r is not None and len(r.pad_value) == 3 else None
            changed = replace(spec, color=other, mean=tuple(spec.mean[::-1]), std=tuple(spec.std[::-1]))
            if pad is not None:
                changed = replace(changed, resize=replace(r, pad_value=pad))
            out.append((f"color {other} with mean and std in that order", {"image": flipped}, changed))
    if exif_known:
        other = "ignore" if spec.exif == "apply" else "apply"
        out.append((f"exif {other}", {"image": {"exif": other}}, replace(spec, exif=other)))
    return out


def _fitted(preset: ImageSpec, spec: ImageSpec, shape: tuple):
    """The preset brought to the reference's size and the current profile's layout (None when nothing changes):
    the overrides, and the spec they give."""
    over: dict = {}
    if preset.layout != spec.layout:
        over["layout"] = spec.layout
    if len(shape) == 3:
        h, w = shape[1:] if spec.layout == "NCHW" else shape[:2]
        r = preset.resize
        if preset.crop and tuple(preset.crop) != (w, h):
            over["crop"] = [w, h]
            if r is not None and r.mode == "shorter-side":  # timm's scale_size = floor(size / crop_pct 0.875)
                over["resize"] = {"shorter": int(max(w, h) / 0.875)}
        elif not preset.crop and r is not None and r.mode in ("stretch", "fit") and tuple(r.size) != (w, h):
            over["resize"] = {"size": [w, h]}
        elif not preset.crop and r is not None and r.mode == "height" and r.size[1] != h:
            over["resize"] = {"size": [min(r.size[0], w), h]}
            if r.max_width is not None:
                over["resize"]["max_width"] = min(r.size[0], w)
    if not over:
        return None
    from .profile import _parse_image

    return over, _parse_image({"preset": preset.preset, **over})


def check_preprocessing(source, spec: ImageSpec, reference: np.ndarray, *, tolerance: float = DEFAULT_TOLERANCE,
                        top: int = 3) -> CheckReport:
    """Compare InferDesk's tensor for an image with a reference, and rank presets and variants by closeness.

    Parameters
    ----------
    source
        The image: a path (decoded as scoring does, and again with the other EXIF mode for that
        variant) or a decoded PIL image (no EXIF variant then).
    spec
        The profile's image section.
    reference
        The tensor the user's own pipeline made, with or without a batch axis of 1.
    tolerance
        A tensor matches when its largest absolute difference is at most ``tolerance`` times
        the reference's range (max − min; 1 for a constant reference).
    top
        How many of the closest candidates to report.

    Raises
    ------
    CheckError
        When the reference's shape is not the tensor's (both shapes named).
    """
    image, exif_known = _images(source)
    tensor = preprocess_image(image(spec.exif), spec)
    ref = np.asarray(reference)
    if ref.ndim == tensor.ndim + 1 and ref.shape[0] == 1:
        ref = ref[0]
    if ref.shape != tensor.shape:
        raise CheckError(f"the reference tensor is {_shape(reference.shape)} but InferDesk feeds {_shape(tensor.shape)} "
                         f"({spec.layout}) for this image: the shapes must match (a batch axis of 1 may be left out)")
    ref = ref.astype(np.float64)
    lo, hi = float(ref.min()), float(ref.max())
    span = hi - lo if hi > lo else max(1.0, abs(hi))
    threshold = tolerance * span
    current = difference(tensor, ref, spec, threshold)
    tried = [(label, change, s) for label, change, s in _candidates(spec, ref.shape, exif_known)]
    current_key = hashlib.sha1(np.ascontiguousarray(tensor).tobytes()).hexdigest()
    by_tensor: dict = {}  # the tensor's digest -> the first candidate giving it, and the others that do
    for label, change, s in tried:
        try:
            x = preprocess_image(image(s.exif), s)
        except EngineError:
            continue
        if x.shape != ref.shape:
            continue
        key = hashlib.sha1(np.ascontiguousarray(x).tobytes()).hexdigest()
        if key == current_key:  # the current profile's own tensor, said another way
            continue
        if key in by_tensor:
            by_tensor[key][1].append((label, change))
            continue
        d = np.abs(x.astype(np.float64) - ref)
        mx, mn = float(d.max()), float(d.mean())
        by_tensor[key] = (Candidate(label, change, s, mx, mn, mx <= threshold), [])
    found = [replace(c, also=tuple(also)) for c, also in by_tensor.values()]
    found.sort(key=lambda c: (not c.matches, c.mean_abs, c.max_abs))
    return CheckReport(tuple(tensor.shape), (lo, hi), tolerance, threshold, current, current.max_abs <= threshold,
                       tuple(found[:top]), len(tried))


def _candidates(spec: ImageSpec, shape: tuple, exif_known: bool):
    """Every preset (as it is, and brought to the reference's size), the one-key variants around ``spec``,
    and each pair of variants on different keys."""
    for name in PRESET_NAMES:
        base = preset_spec(name)
        yield f"preset {name}", {"image": {"preset": name}}, base
        fitted = _fitted(base, spec, shape)
        if fitted is not None:
            over, s = fitted
            yield f"preset {name} ({', '.join(over)} for this tensor)", {"image": {"preset": name, **over}}, s
    singles = _variants(spec, exif_known)
    yield from singles
    for i, (label, change, s) in enumerate(singles):  # two changes at once: library + exif, colour + rounding...
        for label2, change2, _ in singles[i + 1:]:
            if _group(label) == _group(label2):
                continue
            for l2, c2, s2 in _variants(s, exif_known):
                if l2 == label2:
                    yield f"{label}; {label2}", _merge(change, c2), s2
                    break


def _group(label: str) -> str:
    return label.split(" ")[0].split(",")[0].replace("resize.interpolation", "resize.library")


def _merge(a: dict, b: dict) -> dict:
    out = {k: (dict(v) if isinstance(v, dict) else v) for k, v in a.items()}
    for k, v in b.items():
        out[k] = _merge(out[k], v) if isinstance(v, dict) and isinstance(out.get(k), dict) else v
    return out
