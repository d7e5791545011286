"""A grey DICOM frame's pixel path: the modality LUT, an optional VOI (window), then the MONOCHROME1 inversion.

The VOI functions are those of the DICOM standard, PS3.3 C.11.2.1.2 (LINEAR) and C.11.2.1.3
(LINEAR_EXACT, SIGMOID), written here with the output range 0-255 that every profile assumes;
pydicom's ``apply_voi_lut`` gives the same values over its own output range (the tests
compare the two). The window comes from the profile's ``dicom.window``: a named preset
(:data:`WINDOW_PRESETS`), an explicit center and width, "file" (the file's own first window,
the default) or "none" (the frame's full range).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

#: the VOI LUT functions of PS3.3 C.11.2.1.2 / C.11.2.1.3.
VOI_FUNCTIONS = ("LINEAR", "LINEAR_EXACT", "SIGMOID")

#: CT window presets, name -> (center (level), width) in Hounsfield units. The values are the
#: ones radiology references list (Radiopaedia, "Windowing (CT)"; the README cites them).
WINDOW_PRESETS = {
    "lung": (-600.0, 1500.0),
    "soft-tissue": (40.0, 400.0),
    "bone": (480.0, 2500.0),
    "brain": (40.0, 80.0),
}

#: the values of ``dicom.window`` that are not presets: the file's own window, or none at all
FILE_WINDOW = "file"
NO_WINDOW = "none"


@dataclass(frozen=True)
class Window:
    """A VOI window: center and width (in the modality LUT's output units, HU for CT) and its function."""

    center: float
    width: float
    function: str = "LINEAR"

    def to_dict(self) -> dict:
        d: dict = {"center": self.center, "width": self.width}
        if self.function != "LINEAR":
            d["function"] = self.function
        return d


def voi_window(values: np.ndarray, window: Window, y_min: float = 0.0, y_max: float = 255.0) -> np.ndarray:
    """``values`` (the modality LUT's output) through the window's VOI function, onto [y_min, y_max] (float64).

    LINEAR (C.11.2.1.2.1) uses ``center - 0.5`` and ``width - 1`` and needs a width of at least 1;
    LINEAR_EXACT (C.11.2.1.3.2) and SIGMOID (C.11.2.1.3.1) use them as given, with a width over 0.
    Raises ValueError for a width the function does not allow, or an unknown function.
    """
    x = np.asarray(values, dtype=np.float64)
    c, w = float(window.center), float(window.width)
    span = y_max - y_min
    if window.function in ("LINEAR", "LINEAR_EXACT"):
        if window.function == "LINEAR":
            if w < 1:
                raise ValueError(f"a LINEAR window needs a width of at least 1 (got {w:g})")
            c, w = c - 0.5, w - 1.0
        elif w <= 0:
            raise ValueError(f"a LINEAR_EXACT window needs a width over 0 (got {w:g})")
        if w == 0:  # LINEAR with width 1: a threshold at the center
            return np.where(x <= c, y_min, y_max).astype(np.float64)
        out = ((x - c) / w + 0.5) * span + y_min
        out[x <= c - w / 2] = y_min
        out[x > c + w / 2] = y_max
        return out
    if window.function == "SIGMOID":
        if w <= 0:
            raise ValueError(f"a SIGMOID window needs a width over 0 (got {w:g})")
        with np.errstate(over="ignore"):
            return span / (1.0 + np.exp(-4.0 * (x - c) / w)) + y_min
    raise ValueError(f"unknown VOI LUT function {window.function!r} (known: {', '.join(VOI_FUNCTIONS)})")


def file_window(ds) -> Window | None:
    """The dataset's own first window (WindowCenter/WindowWidth, VOILUTFunction), or None when it has none
    or it is malformed."""
    if "WindowCenter" not in ds or "WindowWidth" not in ds:
        return None
    try:
        center = float(np.ravel([ds.WindowCenter])[0])
        width = float(np.ravel([ds.WindowWidth])[0])
    except (TypeError, ValueError, IndexError):
        return None
    function = str(ds.get("VOILUTFunction", "") or "LINEAR").strip().upper()
    if function not in VOI_FUNCTIONS or not (np.isfinite(center) and np.isfinite(width)):
        return None
    return Window(center, width, function)


def chosen_window(setting, ds) -> Window | None:
    """The window to use for ``ds`` from the profile's ``dicom.window`` (None or "file": the file's own;
    "none": no window; a preset name; or a :class:`Window`)."""
    if isinstance(setting, Window):
        return setting
    if setting in (None, FILE_WINDOW):
        return file_window(ds)
    if setting == NO_WINDOW:
        return None
    center, width = WINDOW_PRESETS[setting]
    return Window(center, width)


def window_used(setting, ds) -> str:
    """In words, the VOI :func:`grey_frame` applies to ``ds`` (a frame's view) for the profile's ``dicom.window``
    ``setting``: 'lung: level -600, width 1500', "the file's: level 40, width 400", "the file's VOI LUT",
    "none: the frame's full range", or none for a colour image (windowing is for grey images)."""
    if not str(ds.get("PhotometricInterpretation", "MONOCHROME2")).strip().upper().startswith("MONOCHROME"):
        return "none: a colour image is shown as stored"
    chosen = chosen_window(setting, ds)
    if chosen is not None and (chosen.width >= 1 or chosen.function != "LINEAR"):
        whose = ("the profile's" if isinstance(setting, Window) else "the file's" if setting in (None, FILE_WINDOW)
                 else setting)
        return (f"{whose}: level {chosen.center:g}, width {chosen.width:g}"
                + (f" ({chosen.function})" if chosen.function != "LINEAR" else ""))
    if setting != NO_WINDOW and ds.get("VOILUTSequence"):
        return "the file's VOI LUT"
    return "none: the frame's full range"


def grey_frame(pixels: np.ndarray, ds, window=None) -> np.ndarray:
    """One grey frame's stored values as float32 on 0-255: modality LUT, VOI, MONOCHROME1 inverted.

    ``ds`` is the dataset (or a frame's view of it, :func:`~.dicomseries.frame_dataset`) whose
    modality LUT, window and photometric interpretation apply. With no window (``window``
    "none", or "file" and the file has none, or a malformed one) a VOI LUT Sequence is applied
    when present; otherwise the frame's own value range is mapped to 0-255.
    """
    from pydicom.pixels import apply_modality_lut, apply_voi_lut  # lazily, as decode_dicom imports pydicom

    values = np.asarray(apply_modality_lut(pixels, ds), dtype=np.float64)
    chosen = chosen_window(window, ds)
    scaled = None
    if chosen is not None:
        try:
            scaled = voi_window(values, chosen)
        except ValueError:
            scaled = None  # a malformed stored window: the full range, as before
    if scaled is None and window != NO_WINDOW and ds.get("VOILUTSequence"):
        try:
            lut = np.asarray(apply_voi_lut(values, ds, prefer_lut=True), dtype=np.float64)
            bits = int(ds.VOILUTSequence[0].LUTDescriptor[2])
            scaled = np.clip(lut, 0, 2.0 ** bits - 1) * (255.0 / (2.0 ** bits - 1))
        except (TypeError, ValueError, IndexError, AttributeError, KeyError):
            scaled = None
    if scaled is None:
        lo, hi = float(np.min(values)), float(np.max(values))
        scaled = (values - lo) / max(hi - lo, 1e-12) * 255.0
    if str(ds.get("PhotometricInterpretation", "MONOCHROME2")).strip() == "MONOCHROME1":
        scaled = 255.0 - scaled
    return scaled.astype(np.float32)
