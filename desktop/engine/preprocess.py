"""Turn a decoded image into the tensor a model expects: colour, resize, pad, crop, scale, layout, dtype."""

from __future__ import annotations

import math

import numpy as np
from PIL import Image

from .errors import InputError, ProfileError
from .geometry import letterbox
from .profile import ImageSpec, check_item_size

_FILTERS = {
    "nearest": Image.Resampling.NEAREST,
    "bilinear": Image.Resampling.BILINEAR,
    "bicubic": Image.Resampling.BICUBIC,
    "lanczos": Image.Resampling.LANCZOS,
    "box": Image.Resampling.BOX,
}


def _to_colour(img: Image.Image, color: str) -> Image.Image:
    """RGB/BGR targets get an RGB (or F) image, L gets L (or F); channel order is fixed later."""
    if color == "L":
        return img if img.mode in ("L", "F") else img.convert("L")
    return img if img.mode in ("RGB", "F") else img.convert("RGB")


def resized_geometry(width: int, height: int, spec: ImageSpec) -> tuple[int, int]:
    """Size (w, h) of the image content after the resize step, before padding."""
    r = spec.resize
    if r is None:
        return width, height
    if r.mode == "stretch":
        return r.size
    if r.mode == "shorter-side":
        # as torchvision's Resize(int): the shorter side becomes `shorter`, the longer is truncated
        if width <= height:
            return r.shorter, max(1, int(r.shorter * height / width))
        return max(1, int(r.shorter * width / height)), r.shorter
    if r.mode == "fit":  # Ultralytics' letterbox arithmetic (geometry.letterbox)
        box = letterbox(width, height, *r.size)
        return box.new_w, box.new_h
    # height: fixed height, width kept in proportion (rounded up, as OCR recognisers do), capped
    tw, th = r.size
    return max(1, min(tw, math.ceil(th * width / height))), th


def _canvas(h: int, w: int, channels: int, value: tuple) -> np.ndarray:
    fill = np.asarray(value, dtype=np.float32)
    if fill.size == 1:
        return np.full((h, w, channels), float(fill.ravel()[0]), dtype=np.float32)
    return np.broadcast_to(fill.reshape(1, 1, channels), (h, w, channels)).copy()


def image_to_array(img: Image.Image, spec: ImageSpec) -> np.ndarray:
    """Colour, resize, pad and crop: a float32 array (H, W, C) of pixel values in the tensor's channel order."""
    img = _to_colour(img, spec.color)
    w0, h0 = img.size
    r = spec.resize
    if r is not None:
        nw, nh = resized_geometry(w0, h0, spec)
        try:  # a shorter-side resize of a long, thin image can ask for a huge one
            check_item_size((spec.channels, nh, nw), "float32", f"resizing this {w0:,}×{h0:,} image to {nw:,}×{nh:,}")
        except ProfileError as exc:
            raise InputError(str(exc)) from None
        if (nw, nh) != (w0, h0):
            img = img.resize((nw, nh), _FILTERS[r.interpolation])
    arr = np.asarray(img, dtype=np.float32)
    if arr.ndim == 2:
        arr = arr[:, :, None]
    channels = spec.channels
    if arr.shape[2] != channels:  # a grey (F) image fed to an RGB/BGR model
        arr = np.repeat(arr, channels, axis=2)
    elif spec.color == "BGR":
        arr = arr[:, :, ::-1]
    if r is not None and r.mode in ("fit", "height"):
        tw, th = r.size
        h, w = arr.shape[:2]
        if (w, h) != (tw, th):
            canvas = _canvas(th, tw, channels, r.pad_value)
            if r.mode == "fit" and r.pad_anchor == "center":
                box = letterbox(w0, h0, tw, th)  # Ultralytics' padding: top = round(dh - 0.1)...
                top, left = box.top, box.left
            else:
                top, left = 0, 0
            canvas[top:top + h, left:left + w] = arr
            arr = canvas
    if spec.crop:
        arr = center_crop(arr, spec.crop, r.pad_value if r else (0.0,))
    return arr


def center_crop(arr: np.ndarray, crop: tuple, pad_value=(0.0,)) -> np.ndarray:
    """Centre crop (width, height) as torchvision does, padding when the image is smaller."""
    cw, ch = crop
    h, w = arr.shape[:2]
    if w < cw or h < ch:
        canvas = _canvas(max(h, ch), max(w, cw), arr.shape[2], pad_value)
        top, left = (max(h, ch) - h) // 2, (max(w, cw) - w) // 2
        canvas[top:top + h, left:left + w] = arr
        arr = canvas
        h, w = arr.shape[:2]
    top = int(round((h - ch) / 2.0))
    left = int(round((w - cw) / 2.0))
    return arr[top:top + ch, left:left + cw]


def normalise(arr: np.ndarray, spec: ImageSpec) -> np.ndarray:
    """``x = (pixel * scale - mean) / std`` per channel, then layout and dtype; adds no batch axis."""
    mean = np.asarray(spec.mean, dtype=np.float32)
    std = np.asarray(spec.std, dtype=np.float32)
    scale = np.float32(spec.scale)
    if spec.dtype == "float32" and arr.dtype == np.float32:
        # the same float32 operations in the same order, written straight into the output's
        # layout: no temporary arrays are made for each image
        if spec.layout == "NCHW":
            x = np.empty((arr.shape[2], arr.shape[0], arr.shape[1]), dtype=np.float32)
            np.multiply(arr.transpose(2, 0, 1), scale, out=x)
            per_channel = (slice(None), None, None) if mean.ndim else ()
        else:
            x = np.multiply(arr, scale)
            per_channel = ()
        x -= mean[per_channel]
        x /= std[per_channel]
        return x
    x = (arr * scale - mean) / std
    if spec.dtype == "uint8":
        x = np.clip(np.rint(x), 0, 255).astype(np.uint8)
    elif spec.dtype == "float16":
        x = x.astype(np.float16)
    if spec.layout == "NCHW":
        x = x.transpose(2, 0, 1)
    return np.ascontiguousarray(x)


def preprocess_image(img: Image.Image, spec: ImageSpec, expected: tuple | None = None) -> np.ndarray:
    """The model's tensor for one image, without the batch axis.

    Parameters
    ----------
    img
        A decoded image (RGB, L or F mode).
    spec
        The profile's image section.
    expected
        The model input's shape without the batch axis (ints or symbolic names); fixed
        dimensions are checked so a wrong profile gives a clear message.
    """
    x = normalise(image_to_array(img, spec), spec)
    if expected is not None and len(expected) == x.ndim:
        for got, want in zip(x.shape, expected):
            if isinstance(want, int) and want > 0 and got != want:
                shown = "×".join(str(d) if isinstance(d, int) else "?" for d in expected)
                raise InputError(
                    f"after preprocessing the image is {'×'.join(map(str, x.shape))} but the model expects "
                    f"{shown} ({spec.layout}); the profile's resize or crop does not fit this model"
                )
    return x
