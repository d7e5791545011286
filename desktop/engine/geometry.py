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


def letterbox(width: int, height: int, dst_w: int, dst_h: int) -> Letterbox:
    """Ultralytics ``LetterBox`` (centre, ``auto=False``, ``scaleup=True``) arithmetic.

    ``r = min(dst_h/h, dst_w/w)``; ``new = (round(w*r), round(h*r))``; ``dw, dh = (dst - new)/2``;
    ``top, bottom = round(dh-0.1), round(dh+0.1)`` and ``left, right`` likewise. A side that
    would round to 0 pixels (an image thousands of times longer than it is wide) is kept at 1,
    where Ultralytics itself would fail to resize.
    """
    r = min(dst_h / height, dst_w / width)
    new_w = max(1, min(dst_w, int(round(width * r))))
    new_h = max(1, min(dst_h, int(round(height * r))))
    dw, dh = (dst_w - new_w) / 2, (dst_h - new_h) / 2
    top, bottom = int(round(dh - 0.1)), int(round(dh + 0.1))
    left, right = int(round(dw - 0.1)), int(round(dw + 0.1))
    return Letterbox(r, new_w, new_h, left, top, right, bottom)


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
    centre crop afterwards shifts the offset as ``preprocess.center_crop`` cuts (or pads).
    """
    from .preprocess import resized_geometry

    r = spec.resize
    gx = gy = 1.0
    ox = oy = 0.0
    w, h = width, height  # the content's size after the resize step
    if r is not None:
        w, h = resized_geometry(width, height, spec)
        if r.mode == "fit":
            box = letterbox(width, height, *r.size)
            gx = gy = box.ratio
            if r.pad_anchor == "center":
                ox, oy = float(box.left), float(box.top)
            w, h = r.size
        else:
            gx, gy = w / width, h / height
            if r.mode == "height":
                w, h = r.size
    if spec.crop:
        cw, ch = spec.crop
        big_w, big_h = max(w, cw), max(h, ch)
        ox += (big_w - w) // 2 - int(round((big_w - cw) / 2.0))
        oy += (big_h - h) // 2 - int(round((big_h - ch) / 2.0))
        w, h = cw, ch
    return Placement(int(width), int(height), int(w), int(h), float(gx), float(gy), float(ox), float(oy),
                     pixel_spacing)
