"""The image a result's detail shows: decoded as it was scored, shrunk for the screen (no Qt).

Decoding a 12-megapixel JPEG takes a few hundred milliseconds, so the window runs
:func:`load_preview` on a worker and shows the image when it arrives. The preview keeps the
original's size, so that what the model found (boxes, masks, in the original image's pixels)
can be drawn on it at ``scale``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from desktop.engine import InputKind
from desktop.engine.inputs.dicomfacts import DicomFacts, dicom_facts

#: the longest side of a preview, in pixels: enough for a full-screen detail pane
PREVIEW_SIDE = 2048


@dataclass(frozen=True)
class Preview:
    path: str
    pixels: np.ndarray  # (H, W) or (H, W, 3) uint8
    original_size: tuple  # (width, height) of the image as decoded for scoring
    dicom: DicomFacts | None = None  # a DICOM file's header facts (read on the same worker), else None

    @property
    def scale(self) -> float:
        """Preview pixels per original pixel (1.0 when the image was small enough)."""
        return self.pixels.shape[1] / self.original_size[0] if self.original_size[0] else 1.0


def load_preview(path: str, kind=InputKind.IMAGE, engine=None, max_side: int = PREVIEW_SIDE) -> Preview:
    """Decode ``path`` as the engine decodes it for scoring (EXIF orientation, DICOM windowing), shrunk
    to at most ``max_side`` pixels; 8-bit grey or RGB. Raises the engine's InputError when unreadable.

    A DICOM file's header facts come with it (:func:`~desktop.engine.inputs.dicomfacts.dicom_facts`), so
    that the window reads no file on its own thread: a frame's item's as that frame sees them, and the
    window the image was decoded through (the engine's profile's ``dicom.window``, else the file's own)."""
    from PIL import Image

    from desktop.engine.inputs.images import decode_dicom, decode_image

    if engine is not None:
        img, _ = engine.load_image(path, kind)
    else:
        img = decode_dicom(path) if kind == InputKind.DICOM else decode_image(path)
    size = img.size
    if img.mode == "F":  # a float image (16-bit DICOM after windowing): to 8 bits over its own range
        a = np.asarray(img, dtype=np.float32)
        finite = a[np.isfinite(a)]
        lo, hi = (float(finite.min()), float(finite.max())) if finite.size else (0.0, 1.0)
        a = np.nan_to_num(a, nan=lo, posinf=hi, neginf=lo)
        a = np.clip((a - lo) * (255.0 / (hi - lo if hi > lo else 1.0)), 0, 255).astype(np.uint8)
        img = Image.fromarray(a, "L")
    elif img.mode not in ("L", "RGB"):
        img = img.convert("RGB")
    if max(size) > max_side:
        img = img.copy()
        img.thumbnail((max_side, max_side))
    facts = None
    if kind == InputKind.DICOM:  # with the window the image above was decoded through
        dicom = engine.profile.dicom if engine is not None else None
        facts = dicom_facts(path, window=dicom.window if dicom is not None else None)
    return Preview(path, np.ascontiguousarray(np.asarray(img, dtype=np.uint8)), size, facts)
