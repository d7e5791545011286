"""Where an image's pixels land in the model's input, and the way back: boxes in original-image pixels.

Preprocessing (``preprocess.image_to_array``) resizes, pads and crops; a detector answers in
the coordinates of the tensor it was given. :func:`placement` says, for one image size and
a profile's image section, how model-input pixel coordinates map back to the original
image's: ``x_orig = (x_input - offset_x) / gain_x`` (and the same for y), then clipped to the
image. The letterbox ("fit" mode, centre anchor) follows Ultralytics' arithmetic exactly
(:func:`letterbox` is ``LetterBox``'s padding, :func:`scale_boxes` its inverse), so boxes
match what ``ultralytics`` reports for the same model and image.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Letterbox:
    """Ultralytics' letterbox of a ``width``×``height`` image into ``dst_w``×``dst_h``: the resized size and padding."""

    ratio: float
    new_w: int
    new_h: int
    left: int
    top: int
    right: int
    bottom: int


def whole(x: float, rounding: str) -> int:
    """``x`` made a whole number as the libraries do: ``int()`` (floor, torchvision), ``int(round())`` (round,
    Python's half-to-even, as Ultralytics and PaddleClas) or ``math.ceil`` (ceil, PaddleOCR's recogniser)."""
    if rounding == "floor":
        return int(x)
    if rounding == "ceil":
        return int(math.ceil(x))
    return int(round(x))


def letterbox(width: int, height: int, dst_w: int, dst_h: int, rounding: str = "round", auto: bool = False,
              stride: int = 32, scaleup: bool = True) -> Letterbox:
    """Ultralytics ``LetterBox`` (centre) arithmetic; by default ``auto=False``, ``scaleup=True``.

    ``r = min(dst_h/h, dst_w/w)`` (at most 1 without ``scaleup``); ``new = (round(w*r), round(h*r))``
    (``rounding`` may make that floor or ceil); ``dw, dh = dst - new``, taken modulo ``stride`` with
    ``auto`` (the minimum rectangle), then halved; ``top, bottom = round(dh-0.1), round(dh+0.1)`` and
    ``left, right`` likewise. The padded canvas is ``new + (left + right, top + bottom)``: ``dst``
    unless ``auto``. A side that would round to 0 pixels (an image thousands of times longer than
    it is wide) is kept at 1, where Ultralytics itself would fail to resize.
    """
    r = min(dst_h / height, dst_w / width)
    if not scaleup:
        r = min(r, 1.0)
    new_w = max(1, min(dst_w, whole(width * r, rounding)))
    new_h = max(1, min(dst_h, whole(height * r, rounding)))
    pw, ph = dst_w - new_w, dst_h - new_h
    if auto:
        pw, ph = pw % stride, ph % stride
    dw, dh = pw / 2, ph / 2
    top, bottom = int(round(dh - 0.1)), int(round(dh + 0.1))
    left, right = int(round(dw - 0.1)), int(round(dw + 0.1))
    return Letterbox(r, new_w, new_h, left, top, right, bottom)


def resize_letterbox(width: int, height: int, r) -> Letterbox:
    """:func:`letterbox` for a profile's ``fit`` resize ``r`` (its size, rounding, auto, stride and scaleup)."""
    return letterbox(width, height, *r.size, rounding=r.rounding or "round", auto=r.auto, stride=r.stride,
                     scaleup=r.scaleup)


def clip_boxes(boxes: np.ndarray, width: float, height: float) -> np.ndarray:
    """Boxes ``(..., 4)`` x1, y1, x2, y2 clipped to ``[0, width]`` × ``[0, height]`` (Ultralytics ``clip_boxes``)."""
    boxes[..., 0::2] = boxes[..., 0::2].clip(0, width)
    boxes[..., 1::2] = boxes[..., 1::2].clip(0, height)
    return boxes


def scale_boxes(boxes: np.ndarray, width0: int, height0: int, dst_w: int, dst_h: int) -> np.ndarray:
    """Ultralytics ``scale_boxes``: x1y1x2y2 boxes in a letterboxed ``dst_w``×``dst_h`` input back to the
    ``width0``×``height0`` original, clipped to it. Returns a new float64 array."""
    gain = min(dst_h / height0, dst_w / width0)
    pad_x = round((dst_w - round(width0 * gain)) / 2 - 0.1)
    pad_y = round((dst_h - round(height0 * gain)) / 2 - 0.1)
    out = np.array(boxes, dtype=np.float64, copy=True)
    out[..., [0, 2]] -= pad_x
    out[..., [1, 3]] -= pad_y
    out[..., :4] /= gain
    return clip_boxes(out, width0, height0)


@dataclass(frozen=True)
class Placement:
    """How one image sits in the model's input: ``input = original * gain + offset``, per axis.

    ``width``/``height`` are the original image's size, ``input_w``/``input_h`` the tensor's
    (after any crop). :meth:`to_original` is the inverse for x1y1x2y2 boxes. ``pixel_spacing``
    is a DICOM's PixelSpacing, (row spacing, column spacing) in mm, when the image has one.
    """

    width: int
    height: int
    input_w: int
    input_h: int
    gain_x: float
    gain_y: float
    offset_x: float
    offset_y: float
    pixel_spacing: tuple | None = None

    def to_original(self, boxes: np.ndarray) -> np.ndarray:
        """x1y1x2y2 boxes ``(M, 4)`` in model-input pixels -> original-image pixels, clipped (float64)."""
        out = np.array(boxes, dtype=np.float64, copy=True).reshape(-1, 4)
        out[:, 0::2] = (out[:, 0::2] - self.offset_x) / self.gain_x
        out[:, 1::2] = (out[:, 1::2] - self.offset_y) / self.gain_y
        return clip_boxes(out, self.width, self.height)

    def to_input(self, boxes: np.ndarray) -> np.ndarray:
        """Original-image x1y1x2y2 boxes -> model-input pixels (no clipping)."""
        out = np.array(boxes, dtype=np.float64, copy=True).reshape(-1, 4)
        out[:, 0::2] = out[:, 0::2] * self.gain_x + self.offset_x
        out[:, 1::2] = out[:, 1::2] * self.gain_y + self.offset_y
        return out

    def as_row(self) -> tuple:
        """(gain_x, gain_y, offset_x, offset_y): the ``input_transform`` answer column's row."""
        return (self.gain_x, self.gain_y, self.offset_x, self.offset_y)


def identity(width: int, height: int) -> Placement:
    """An item fed as it is (a tensor, no image section): input pixels are original pixels."""
    return Placement(width, height, width, height, 1.0, 1.0, 0.0, 0.0)


def placement(width: int, height: int, spec, pixel_spacing: tuple | None = None) -> Placement:
    """Where a ``width``×``height`` image lands in the tensor that ``spec`` (an ImageSpec) makes of it.

    Stretch, shorter-side and height resizes scale each axis by the resized size over the
    original (exact for the pixels preprocessing made); a letterbox ("fit") scales both by
    Ultralytics' ``gain`` and is offset by its padding (none with the top-left anchor). A
    stage's ``pad_first`` offsets the image by its place in the padded canvas before that
    canvas is scaled. Several stages compose in order, each mapping the previous one's output.
    A centre crop afterwards shifts the offset as ``preprocess.center_crop`` cuts (or pads).
    """
    from .preprocess import stage_geometries

    gx = gy = 1.0
    ox = oy = 0.0
    w, h = width, height  # the image's size after the stages so far
    for g in stage_geometries(width, height, spec):
        # this stage: x' = (x + pre_left) * gain + left, composed with the stages before it
        gx, gy = gx * g.gain_x, gy * g.gain_y
        ox, oy = (ox + g.pre_left) * g.gain_x + g.left, (oy + g.pre_top) * g.gain_y + g.top
        w, h = g.canvas_w, g.canvas_h
    if spec.crop:
        cw, ch = spec.crop
        big_w, big_h = max(w, cw), max(h, ch)
        ox += (big_w - w) // 2 - crop_offset(big_w - cw, spec.crop_rounding)
        oy += (big_h - h) // 2 - crop_offset(big_h - ch, spec.crop_rounding)
        w, h = cw, ch
    return Placement(int(width), int(height), int(w), int(h), float(gx), float(gy), float(ox), float(oy),
                     pixel_spacing)


def crop_offset(extra: int, rounding: str = "round") -> int:
    """A centre crop's offset when the image is ``extra`` pixels larger than the crop: ``int(round(extra / 2))``
    as torchvision's ``CenterCrop``, or ``extra // 2`` (floor, as a slice ``[(h - ch) // 2:]`` cuts)."""
    return extra // 2 if rounding == "floor" else int(round(extra / 2.0))
