"""Turn a decoded image into the tensor a model expects: colour, resize, pad, crop, scale, layout, dtype."""

from __future__ import annotations

import functools
from dataclasses import dataclass

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


@dataclass(frozen=True)
class StageGeometry:
    """One resize stage of a ``width``×``height`` image: the pad before it, the resized content, the pad after it.

    With ``pad_first`` the image is first placed at (``pre_left``, ``pre_top``) in a ``pre_w``×``pre_h``
    canvas (else that is the image itself); that is resized to ``new_w``×``new_h``, which sits at
    (``left``, ``top``) in the stage's ``canvas_w``×``canvas_h`` output. ``gain_x``/``gain_y`` scale the
    pre-padded coordinates to the resized ones (the letterbox's ``ratio`` for fit, as Ultralytics).
    """

    pre_w: int
    pre_h: int
    pre_left: int
    pre_top: int
    new_w: int
    new_h: int
    canvas_w: int
    canvas_h: int
    left: int
    top: int
    gain_x: float
    gain_y: float


def _pad_first(width: int, height: int, r) -> tuple[int, int, int, int]:
    """(w, h, left, top) of the canvas ``pad_first`` pads to: a square (shorter-side) or the size's aspect (stretch).

    The side that grows becomes ``round(other * aspect)`` (exactly the longer side for a square), and the image
    sits at the centre's floor, as LLaVA's ``expand2square`` pastes it (``(width - height) // 2``), or top-left.
    """
    if not r.pad_first:
        return width, height, 0, 0
    tw, th = (1, 1) if r.mode == "shorter-side" else r.size
    if width * th >= height * tw:  # wider than the target: grow the height
        cw, ch = width, max(height, whole(width * th / tw, "round"))
    else:
        cw, ch = max(width, whole(height * tw / th, "round")), height
    if r.pad_anchor == "center":
        return cw, ch, (cw - width) // 2, (ch - height) // 2
    return cw, ch, 0, 0


def _resized(width: int, height: int, r) -> tuple[int, int]:
    """Size (w, h) a stage resizes a ``width``×``height`` image (after its pad_first) to, before its own padding."""
    if r.mode == "stretch":
        return tuple(r.size)
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
        return max(1, min(_canvas_of(width, height, r)[0], whole(th * (width / float(height)), r.rounding or "ceil"))), th
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


def _canvas_of(width: int, height: int, r) -> tuple[int, int]:
    """Size (w, h) of a stage's output, its padding included, for a ``width``×``height`` image (after pad_first)."""
    if r.mode == "fit":
        box = resize_letterbox(width, height, r)
        return box.new_w + box.left + box.right, box.new_h + box.top + box.bottom
    if r.mode != "height":
        return _resized(width, height, r)
    tw, th = r.size
    if not r.grow:
        return tw, th
    # PaddleOCR's imgW = int(imgH * max_wh_ratio), with max_wh_ratio = max(imgW / imgH, w / h)
    cw = int(th * max(tw / th, width / float(height)))
    return (min(cw, r.max_width) if r.max_width else cw), th


def stage_geometry(width: int, height: int, r) -> StageGeometry:
    """Where a ``width``×``height`` image goes through one resize stage ``r`` (a Resize)."""
    pw, ph, pl, pt = _pad_first(width, height, r)
    nw, nh = _resized(pw, ph, r)
    cw, ch = _canvas_of(pw, ph, r)
    left = top = 0
    gx, gy = nw / pw, nh / ph
    if r.mode == "fit":
        box = resize_letterbox(pw, ph, r)
        gx = gy = box.ratio
        if r.pad_anchor == "center":
            left, top = box.left, box.top
    return StageGeometry(pw, ph, pl, pt, nw, nh, cw, ch, left, top, gx, gy)


def stage_geometries(width: int, height: int, spec: ImageSpec) -> list[StageGeometry]:
    """Each of the profile's resize stages in order, each fed the previous one's output."""
    out = []
    for r in spec.stages:
        g = stage_geometry(width, height, r)
        out.append(g)
        width, height = g.canvas_w, g.canvas_h
    return out


def resized_geometry(width: int, height: int, spec: ImageSpec) -> tuple[int, int]:
    """Size (w, h) of the image content after the (last) resize step, before its padding."""
    stages = stage_geometries(width, height, spec)
    return (stages[-1].new_w, stages[-1].new_h) if stages else (width, height)


def canvas_size(width: int, height: int, spec: ImageSpec) -> tuple[int, int]:
    """Size (w, h) after the resize stages and their padding, before any crop."""
    stages = stage_geometries(width, height, spec)
    return (stages[-1].canvas_w, stages[-1].canvas_h) if stages else (width, height)


def _pad(a: np.ndarray, h: int, w: int, top: int, left: int, value: tuple) -> np.ndarray:
    """``a`` (H, W, C) placed at (left, top) in an ``h``×``w`` canvas of ``value``, in ``a``'s own dtype (a uint8
    array gets the value rounded to 0–255, as a library padding 8-bit pixels would)."""
    fill = np.asarray(value, dtype=np.float32).ravel()
    if a.dtype == np.uint8:
        fill = np.clip(np.rint(fill), 0, 255)
    canvas = np.empty((h, w, a.shape[2]), dtype=a.dtype)
    canvas[...] = fill.reshape(1, 1, -1) if fill.size > 1 else fill[0]
    canvas[top:top + a.shape[0], left:left + a.shape[1]] = a
    return canvas


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


def _resize(a: np.ndarray, size: tuple, r) -> np.ndarray:
    """``a`` (H, W, C) resized to ``size`` (w, h) by the stage's library: uint8 stays uint8 unless ``output`` is float.

    Every library resizes each channel alike, so the channel order (BGR already reversed) does not matter.
    """
    w, h = int(size[0]), int(size[1])
    c = a.shape[2]
    if r.library == "opencv":
        cv2 = _cv2()
        if r.output == "float" and a.dtype != np.float32:
            a = a.astype(np.float32)
        out = cv2.resize(np.ascontiguousarray(a), (w, h), interpolation=getattr(cv2, _CV2_FLAGS[r.interpolation]))
        return out.reshape(h, w, c)
    f = _FILTERS[r.interpolation]
    if a.dtype == np.uint8 and r.output != "float":
        img = Image.fromarray(np.ascontiguousarray(a[:, :, 0] if c == 1 else a))
        return np.asarray(img.resize((w, h), f)).reshape(h, w, c)
    # Pillow resizes an F band in floats, without rounding to 8 bits
    bands = [np.asarray(Image.fromarray(np.ascontiguousarray(a[:, :, k], dtype=np.float32)).resize((w, h), f))
             for k in range(c)]
    return np.stack(bands, axis=2)


def image_to_array(img: Image.Image, spec: ImageSpec) -> np.ndarray:
    """Colour, resize stages (each padded before or after as it says), crop: a float32 (H, W, C) array of pixel
    values in the tensor's channel order."""
    img = _to_colour(img, spec.color)
    w0, h0 = img.size
    a = np.asarray(img)  # uint8 (H, W, 3) RGB or (H, W) grey; float32 for an F image
    if a.ndim == 2:
        a = a[:, :, None]
    channels = spec.channels
    if a.shape[2] != channels:  # a grey (F) image fed to an RGB/BGR model
        a = np.repeat(a, channels, axis=2)
    elif spec.color == "BGR":  # resizing is per channel: reversing first gives the same pixels
        a = a[:, :, ::-1]
    stages = spec.stages
    w, h = w0, h0
    for i, r in enumerate(stages):
        g = stage_geometry(w, h, r)
        try:  # a shorter-side resize of a long, thin image can ask for a huge one
            for what, (sw, sh) in (("padding", (g.pre_w, g.pre_h)), ("resizing", (g.new_w, g.new_h)),
                                   ("padding", (g.canvas_w, g.canvas_h))):
                check_item_size((channels, sh, sw), "float32", f"{what} this {w0:,}×{h0:,} image to {sw:,}×{sh:,}")
        except ProfileError as exc:
            raise InputError(str(exc)) from None
        if (g.pre_w, g.pre_h) != (w, h):
            a = _pad(a, g.pre_h, g.pre_w, g.pre_top, g.pre_left, r.pad_value)
        if (g.new_w, g.new_h) != (g.pre_w, g.pre_h):
            a = _resize(a, (g.new_w, g.new_h), r)
        if i == len(stages) - 1:  # the last stage pads in floats: its pad value is not rounded
            a = np.asarray(a, dtype=np.float32)
        if (g.canvas_w, g.canvas_h) != (g.new_w, g.new_h):
            a = _pad(a, g.canvas_h, g.canvas_w, g.top, g.left, r.pad_value)
        w, h = g.canvas_w, g.canvas_h
    arr = np.asarray(a, dtype=np.float32)
    r = spec.resize
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
