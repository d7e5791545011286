"""Turn a decoded image into the tensor a model expects: colour, resize, pad, crop, scale, layout, dtype."""

from __future__ import annotations

import functools

import numpy as np
from PIL import Image

from .errors import InputError, ProfileError
from .geometry import crop_offset, resize_letterbox, whole
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
        s = r.shorter
        short, long = min(width, height), max(width, height)
        if r.rounding == "round":  # PaddleClas' ResizeImage(resize_short): percent first, then round() each side
            n = max(1, int(round(long * (float(s) / short))))
        else:  # as torchvision's Resize(int): the shorter side becomes `s`, the longer is truncated (or ceil)
            n = max(1, whole(s * long / short, r.rounding or "floor"))
        return (s, n) if width <= height else (n, s)
    if r.mode == "fit":  # Ultralytics' letterbox arithmetic (geometry.letterbox)
        box = resize_letterbox(width, height, r)
        return box.new_w, box.new_h
    if r.mode == "limit-side":
        return _limit_side(width, height, r)
    # height: fixed height, width kept in proportion (rounded up, as OCR recognisers do), capped
    tw, th = r.size
    if r.grow:  # PaddleOCR's resize_norm_img: ceil(imgH * ratio), at most the canvas
        return max(1, min(canvas_size(width, height, spec)[0], whole(th * (width / float(height)), r.rounding or "ceil"))), th
    return max(1, min(tw, whole(th * width / height, r.rounding or "ceil"))), th


def _limit_side(width: int, height: int, r) -> tuple[int, int]:
    """PaddleOCR's DetResizeForTest (``resize_image_type0``): limit one side, then each a multiple of ``multiple``."""
    limit = float(r.limit)
    if r.limit_type == "max":
        ratio = (limit / height if height > width else limit / width) if max(height, width) > r.limit else 1.0
    elif r.limit_type == "min":
        ratio = (limit / height if height < width else limit / width) if min(height, width) < r.limit else 1.0
    else:  # "long": resize_long
        ratio = limit / max(height, width)
    rh, rw = int(height * ratio), int(width * ratio)
    rh = max(int(round(rh / r.multiple) * r.multiple), r.min_size)
    rw = max(int(round(rw / r.multiple) * r.multiple), r.min_size)
    return rw, rh


def canvas_size(width: int, height: int, spec: ImageSpec) -> tuple[int, int]:
    """Size (w, h) after the resize step and its padding, before any crop."""
    r = spec.resize
    if r is None or r.mode not in ("fit", "height"):
        return resized_geometry(width, height, spec)
    if r.mode == "fit":
        box = resize_letterbox(width, height, r)
        return box.new_w + box.left + box.right, box.new_h + box.top + box.bottom
    tw, th = r.size
    if not r.grow:
        return tw, th
    # PaddleOCR's imgW = int(imgH * max_wh_ratio), with max_wh_ratio = max(imgW / imgH, w / h)
    cw = int(th * max(tw / th, width / float(height)))
    return (min(cw, r.max_width) if r.max_width else cw), th


def _canvas(h: int, w: int, channels: int, value: tuple) -> np.ndarray:
    fill = np.asarray(value, dtype=np.float32)
    if fill.size == 1:
        return np.full((h, w, channels), float(fill.ravel()[0]), dtype=np.float32)
    return np.broadcast_to(fill.reshape(1, 1, channels), (h, w, channels)).copy()


@functools.cache
def _cv2():
    """OpenCV, imported the first time a profile resizes with it (start-up and other profiles never pay for it)."""
    try:
        import cv2
    except ImportError as exc:
        raise ProfileError("The profile resizes with OpenCV (image.resize.library opencv), but opencv-python-headless "
                           "is not installed") from exc
    return cv2


_CV2_FLAGS = {"nearest": "INTER_NEAREST", "linear": "INTER_LINEAR", "cubic": "INTER_CUBIC", "area": "INTER_AREA",
              "lanczos4": "INTER_LANCZOS4"}


def _resize(img: Image.Image, size: tuple, r) -> np.ndarray:
    """The image resized to ``size`` (w, h) by the profile's library: (H, W) or (H, W, C), uint8 unless float."""
    if r.library == "opencv":
        cv2 = _cv2()
        a = np.asarray(img)  # uint8 (H, W, C) in RGB order, or (H, W) grey; float32 for an F image
        if r.output == "float" and a.dtype != np.float32:
            a = a.astype(np.float32)
        # per channel, so resizing RGB then reversing equals resizing the BGR array
        return cv2.resize(a, tuple(size), interpolation=getattr(cv2, _CV2_FLAGS[r.interpolation]))
    f = _FILTERS[r.interpolation]
    if r.output == "float" and img.mode != "F":  # Pillow resizes an F band in floats, without rounding
        bands = [np.asarray(b.convert("F").resize(tuple(size), f)) for b in img.split()]
        return np.stack(bands, axis=2)
    return np.asarray(img.resize(tuple(size), f))


def image_to_array(img: Image.Image, spec: ImageSpec) -> np.ndarray:
    """Colour, resize, pad and crop: a float32 array (H, W, C) of pixel values in the tensor's channel order."""
    img = _to_colour(img, spec.color)
    w0, h0 = img.size
    r = spec.resize
    arr = None
    if r is not None:
        nw, nh = resized_geometry(w0, h0, spec)
        cw, ch = canvas_size(w0, h0, spec)
        try:  # a shorter-side resize of a long, thin image can ask for a huge one
            check_item_size((spec.channels, nh, nw), "float32", f"resizing this {w0:,}×{h0:,} image to {nw:,}×{nh:,}")
            check_item_size((spec.channels, ch, cw), "float32", f"padding this {w0:,}×{h0:,} image to {cw:,}×{ch:,}")
        except ProfileError as exc:
            raise InputError(str(exc)) from None
        if (nw, nh) != (w0, h0):
            arr = np.asarray(_resize(img, (nw, nh), r), dtype=np.float32)
    if arr is None:
        arr = np.asarray(img, dtype=np.float32)
    if arr.ndim == 2:
        arr = arr[:, :, None]
    channels = spec.channels
    if arr.shape[2] != channels:  # a grey (F) image fed to an RGB/BGR model
        arr = np.repeat(arr, channels, axis=2)
    elif spec.color == "BGR":
        arr = arr[:, :, ::-1]
    if r is not None and r.mode in ("fit", "height"):
        h, w = arr.shape[:2]
        if (w, h) != (cw, ch):
            canvas = _canvas(ch, cw, channels, r.pad_value)
            if r.mode == "fit" and r.pad_anchor == "center":
                box = resize_letterbox(w0, h0, r)  # Ultralytics' padding: top = round(dh - 0.1)...
                top, left = box.top, box.left
            else:
                top, left = 0, 0
            canvas[top:top + h, left:left + w] = arr
            arr = canvas
    if spec.crop:
        arr = center_crop(arr, spec.crop, r.pad_value if r else (0.0,), spec.crop_rounding)
    return arr


def center_crop(arr: np.ndarray, crop: tuple, pad_value=(0.0,), rounding: str = "round") -> np.ndarray:
    """Centre crop (width, height) as torchvision does, padding when the image is smaller.

    ``rounding`` "floor" takes the offsets as ``(h - ch) // 2`` rather than torchvision's ``round()``.
    """
    cw, ch = crop
    h, w = arr.shape[:2]
    if w < cw or h < ch:
        canvas = _canvas(max(h, ch), max(w, cw), arr.shape[2], pad_value)
        top, left = (max(h, ch) - h) // 2, (max(w, cw) - w) // 2
        canvas[top:top + h, left:left + w] = arr
        arr = canvas
        h, w = arr.shape[:2]
    top = crop_offset(h - ch, rounding)
    left = crop_offset(w - cw, rounding)
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
