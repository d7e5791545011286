"""The segmentation decoder: YOLO instance masks and semantic maps, as COCO RLE masks in original-image pixels.

Two kinds of model are read (``meta["kind"]``):

``instance``  YOLO segmentation (Ultralytics ``task: segment``): ``output0`` ``[1, 4+C+nm, A]``
              (YOLOv8/v11) or ``[1, A, 5+C+nm]`` (YOLOv5-seg), and prototypes ``output1``
              ``[1, nm, mh, mw]`` (nm = 32). Boxes go through the detection decoder's NMS
              (:mod:`~desktop.engine.decoders.detection`, same defaults and candidate floor); each
              candidate's mask is ``sigmoid(coefficients @ prototypes)`` at ``mh×mw``, cropped to its
              box (scaled to the prototypes' resolution; Ultralytics ``crop_mask``), upsampled
              bilinearly (half-pixel centres, ``F.interpolate(align_corners=False)``) to the model
              input and thresholded at 0.5 (Ultralytics 8.0 ``process_mask``; later versions threshold
              the upsampled logits at 0, which differs by under a prototype pixel at the box edges),
              then brought to the original image as Ultralytics ``scale_masks`` does: the letterbox
              padding cut off, the rest resized bilinearly to the original size, over 0.5.
``labels``    ``[1, C, H, W]`` scores (logits or probabilities): the argmax label map, brought back
              by nearest neighbour; or ``[1, H, W]`` integer classes (an export that took the argmax).
``binary``    ``[1, 1, H, W]`` or ``[1, H, W]`` probabilities (logits get a sigmoid): resized bilinearly
              to the original size, then over the profile's ``segmentation.threshold`` (0.5 by
              default; a DBNet text map is usually read at 0.3).

Every map goes back through the item's :class:`~desktop.engine.geometry.Placement`: an original
pixel's centre maps to ``offset + (u + 0.5) × content / original`` in the input, where ``content``
is the rounded size the image was resized to (the letterbox's unpadded part), so padding is cut
and the rest resized as one step.

Storage: why RLE at the original resolution
-------------------------------------------
Masks are kept as COCO run-length encodings (``pycocotools.mask``: column-major (Fortran) order,
the compressed ``counts`` string) of the mask at the ORIGINAL image's size, one per detection
or per class present. Keeping the model-resolution map with the placement instead would redo the
resize (and, for instance masks, the prototype product) every time a mask is drawn, exported or
its area counted, and its areas would not be the original pixels' areas; RLE of a mask is small
(a few hundred bytes for a blob, against ``H×W`` bytes for a map), is what COCO exports need as it
is, and pycocotools counts and merges areas without decoding.

Answer columns
--------------
Both kinds: per item ``image_size`` int32 (n, 2) original width and height (an RLE's ``size`` is
``[height, width]``), ``input_transform`` float64 (n, 4) as detection's, ``pixel_spacing`` float64
(n, 2) a DICOM's row and column spacing in mm (0, 0 when unknown). The RLE ``counts`` strings are
one ragged byte group: ``rle_offsets`` int64 (n+1) and ``rle_bytes`` uint8; item ``i``'s bytes are
``rle_bytes[rle_offsets[i]:rle_offsets[i+1]]``, the masks' strings one after another, in the order
of the item's masks, each as long as its ``*_mask_len``. :func:`detection_masks` and
:func:`class_masks` give them as pycocotools RLE dicts.

``instance``: the detection columns (``det_offsets``, ``det_box``, ``det_score``, ``det_class``,
candidates best first down to the floor) plus ``det_mask_len`` int64 and ``det_mask_area`` int64
(pixels) per candidate. ``labels``/``binary``: a ragged group ``seg_offsets`` (n+1), per class
present in the item ``seg_class`` int32 (an index into ``meta["names"]``), ``seg_area`` int64
(pixels), ``seg_mask_len`` int64.
"""

from __future__ import annotations

import math
import warnings

import numpy as np

from . import register
from .detection import MAX_NMS, DetectionDecoder, _joined, _label, batched_nms, settings_for, xywh2xyxy
from ..geometry import Placement, identity
from ..profile import Task
from ..results import finite

MASK_THRESHOLD = 0.5  # instance masks (Ultralytics)
DEFAULT_THRESHOLD = 0.5  # one-channel probability maps, unless the profile's segmentation.threshold says
_FLOATS = "f"


def _mask_api():
    """pycocotools.mask, imported with the first segmentation model (no other run pays for it)."""
    from pycocotools import mask

    return mask


# --------------------------------------------------------------------------- RLE helpers (exports read these)
def encode_mask(mask: np.ndarray) -> bytes:
    """A (height, width) boolean mask as COCO RLE ``counts`` (pycocotools' compressed string, column-major)."""
    return _mask_api().encode(np.asfortranarray(mask, dtype=np.uint8))["counts"]


def decode_rle(counts: bytes, height: int, width: int) -> np.ndarray:
    """The (height, width) boolean mask of a COCO RLE ``counts`` string."""
    with warnings.catch_warnings():  # pycocotools' Cython array predates numpy 2's copy keyword: it warns, works
        warnings.simplefilter("ignore", DeprecationWarning)
        return _mask_api().decode({"size": [int(height), int(width)], "counts": bytes(counts)}).astype(bool)


def _item_strings(answer: dict, i: int, lengths: np.ndarray) -> list[bytes]:
    """Item ``i``'s RLE strings, of these lengths, from the ``rle_`` byte group."""
    a = int(answer["rle_offsets"][i])
    raw = answer["rle_bytes"][a:int(answer["rle_offsets"][i + 1])].tobytes()
    ends = np.cumsum(lengths).tolist()
    return [raw[s:e] for s, e in zip([0] + ends[:-1], ends)]


def _size(answer: dict, i: int) -> list[int]:
    w, h = (int(v) for v in answer["image_size"][i])
    return [h, w]


def detection_masks(answer: dict, i: int) -> list[dict]:
    """Item ``i``'s candidates' masks, in ``det_*`` row order: pycocotools RLE dicts ``{"size": [h, w], "counts": bytes}``."""
    a, b = int(answer["det_offsets"][i]), int(answer["det_offsets"][i + 1])
    size = _size(answer, i)
    return [{"size": size, "counts": c} for c in _item_strings(answer, i, answer["det_mask_len"][a:b])]


def class_masks(answer: dict, i: int) -> list[tuple[int, dict]]:
    """Item ``i``'s (class index into ``meta["names"]``, RLE dict) per class present, of a semantic segmenter."""
    a, b = int(answer["seg_offsets"][i]), int(answer["seg_offsets"][i + 1])
    size = _size(answer, i)
    strings = _item_strings(answer, i, answer["seg_mask_len"][a:b])
    return [(int(c), {"size": size, "counts": s}) for c, s in zip(answer["seg_class"][a:b].tolist(), strings)]


def rle_json(rle: dict) -> dict:
    """An RLE dict as JSON has it: ``counts`` as text."""
    counts = rle["counts"]
    return {"size": list(rle["size"]), "counts": counts.decode("ascii") if isinstance(counts, bytes) else counts}


# --------------------------------------------------------------------------- resampling
def _taps(coords: np.ndarray, n: int):
    """Bilinear taps of half-pixel source coordinates, clamped as ``F.interpolate(align_corners=False)``."""
    c = np.clip(coords, 0.0, n - 1)
    i0 = np.floor(c).astype(np.int64)
    i1 = np.minimum(i0 + 1, n - 1)
    return i0, i1, c - i0


def _resample(win: np.ndarray, top: int, left: int, src_h: int, src_w: int, ys: np.ndarray, xs: np.ndarray):
    """Bilinear samples at (ys, xs) of a ``src_h×src_w`` image that is zero outside ``win`` (at ``top, left``).

    Only the output rows and columns with a tap inside the window are computed: returns
    ``(values, out_top, out_left)``, the window of the output that can be non-zero.
    """
    y0, y1, wy = _taps(ys, src_h)
    x0, x1, wx = _taps(xs, src_w)
    wh, ww = win.shape
    rows = np.flatnonzero((y1 >= top) & (y0 < top + wh))
    cols = np.flatnonzero((x1 >= left) & (x0 < left + ww))
    if not rows.size or not cols.size:
        return np.zeros((0, 0), np.float32), 0, 0
    padded = np.zeros((wh + 2, ww + 2), np.float32)
    padded[1:-1, 1:-1] = win
    iy0, iy1 = (np.clip(v[rows] - top + 1, 0, wh + 1) for v in (y0, y1))
    ix0, ix1 = (np.clip(v[cols] - left + 1, 0, ww + 1) for v in (x0, x1))
    fy, fx = wy[rows].astype(np.float32)[:, None], wx[cols].astype(np.float32)
    a = padded[iy0] * (1 - fy) + padded[iy1] * fy
    return a[:, ix0] * (1 - fx) + a[:, ix1] * fx, int(rows[0]), int(cols[0])


def _axis(n_orig: int, gain: float, offset: float, n_in: int, n_src: int) -> np.ndarray:
    """Where each original pixel's centre falls in a source of ``n_src`` pixels spanning the ``n_in`` input pixels.

    In edge coordinates (pixel ``k`` spans ``[k, k+1)``): the content the image was resized to,
    ``round(n_orig × gain)`` input pixels from ``offset``, is spread over the original pixels.
    """
    content = max(1, int(round(n_orig * gain)))
    return (offset + (np.arange(n_orig) + 0.5) * (content / n_orig)) * (n_src / n_in)


def to_original_probability(prob: np.ndarray, place: Placement) -> np.ndarray:
    """A (H, W) map over the model input, bilinearly resampled to the original image (float32 (h, w))."""
    h_src, w_src = prob.shape
    ys = _axis(place.height, place.gain_y, place.offset_y, place.input_h, h_src) - 0.5
    xs = _axis(place.width, place.gain_x, place.offset_x, place.input_w, w_src) - 0.5
    out, top, left = _resample(np.asarray(prob, np.float32), 0, 0, h_src, w_src, ys, xs)
    full = np.zeros((place.height, place.width), np.float32)
    full[top:top + out.shape[0], left:left + out.shape[1]] = out
    return full


def to_original_labels(labels: np.ndarray, place: Placement) -> np.ndarray:
    """A (H, W) label map over the model input, brought to the original image by nearest neighbour."""
    h_src, w_src = labels.shape
    ys = np.clip(np.floor(_axis(place.height, place.gain_y, place.offset_y, place.input_h, h_src)), 0, h_src - 1)
    xs = np.clip(np.floor(_axis(place.width, place.gain_x, place.offset_x, place.input_w, w_src)), 0, w_src - 1)
    return labels[ys.astype(np.int64)[:, None], xs.astype(np.int64)[None, :]]


def instance_mask(prob: np.ndarray, box: np.ndarray, place: Placement) -> np.ndarray:
    """One candidate's mask in original pixels (bool (h, w)) from its (mh, mw) probabilities and input-pixel box.

    Crop at the prototypes' resolution (a prototype pixel ``c`` is kept when ``x1 <= c < x2``,
    Ultralytics ``crop_mask``), bilinear to the input size, over 0.5; then the letterbox inverse
    (:func:`_axis`), bilinear, over 0.5. Only the box's neighbourhood is computed.
    """
    mh, mw = prob.shape
    ih, iw = place.input_h, place.input_w
    full = np.zeros((place.height, place.width), dtype=bool)
    x1, y1, x2, y2 = (float(v) for v in box)
    c0, c1 = (int(np.clip(math.ceil(v * mw / iw), 0, mw)) for v in (x1, x2))
    r0, r1 = (int(np.clip(math.ceil(v * mh / ih), 0, mh)) for v in (y1, y2))
    if c1 <= c0 or r1 <= r0:
        return full
    up, top, left = _resample(prob[r0:r1, c0:c1], r0, c0, mh, mw, (np.arange(ih) + 0.5) * mh / ih - 0.5,
                              (np.arange(iw) + 0.5) * mw / iw - 0.5)
    binary = (up > MASK_THRESHOLD).astype(np.float32)
    if not binary.any():
        return full
    ys = _axis(place.height, place.gain_y, place.offset_y, ih, ih) - 0.5
    xs = _axis(place.width, place.gain_x, place.offset_x, iw, iw) - 0.5
    out, t, lft = _resample(binary, top, left, ih, iw, ys, xs)
    full[t:t + out.shape[0], lft:lft + out.shape[1]] = out > 0.5
    return full


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-np.clip(x, -80, 80)))


# --------------------------------------------------------------------------- recognising the outputs
def _layout(block) -> dict:
    """What kind of segmenter the block's outputs are, decided once per run: ``{"kind", names...}``."""
    post = block.post
    cached = post.state.get("segmentation_layout")
    if cached is not None:
        return cached
    arrays = {name: np.asarray(block.tensors[name]) for name in post.names
              if name in block.tensors and block.batched.get(name)}
    floats = {k: a for k, a in arrays.items() if a.dtype.kind == _FLOATS}
    protos = next((k for k, a in floats.items() if a.ndim == 4 and a.shape[1] <= 64 and a.shape[2] > 1), None)
    main = next((k for k, a in floats.items() if a.ndim == 3), None)
    if protos is not None and main is not None and len(floats) >= 2:
        nm = floats[protos].shape[1]
        d1, d2 = floats[main].shape[1:]
        c = len(post.labels)
        # [1, 4+C+nm, A] or [1, A, 5+C+nm]: the class names tell them apart, else the longer axis is the anchors'
        v8 = d1 == 4 + c + nm if c and (d1 == 4 + c + nm) != (d2 == 5 + c + nm) else d1 < d2
        layout = {"kind": "instance", "family": "yolov8" if v8 else "yolov5", "main": main, "protos": protos,
                  "nm": nm, "nc": d1 - 4 - nm if v8 else d2 - 5 - nm}
        if layout["nc"] < 1:
            layout = {"kind": None}
    else:
        maps = [(k, a) for k, a in arrays.items() if a.ndim in (3, 4) and a.dtype.kind in "fiu"]
        if not maps:
            layout = {"kind": None}
        else:
            name, a = maps[0]
            if a.ndim == 4 and a.shape[1] > 1:
                layout = {"kind": "labels", "map": name, "classes": int(a.shape[1])}
            elif a.dtype.kind in "iu":
                layout = {"kind": "labels", "map": name, "classes": max(len(post.labels), int(a.max()) + 1 if a.size
                                                                           else 1), "argmax": True}
            else:
                layout = {"kind": "binary", "map": name, "classes": 1}
    post.state["segmentation_layout"] = layout
    return layout


def _names(post, layout: dict) -> list[str]:
    """The class names of a semantic map: ``seg_class`` indexes these."""
    labels = list(post.labels)
    if layout["kind"] == "binary":
        fg = labels[1] if len(labels) == 2 else (labels[0] if len(labels) == 1 else "foreground")
        return ["background", fg]
    k = layout["classes"]
    return [labels[c] if c < len(labels) else str(c) for c in range(k)]


# --------------------------------------------------------------------------- the decoder
@register
class SegmentationDecoder:
    """YOLO instance masks or semantic maps per item (see the module's docstring)."""

    task = Task.SEGMENTATION

    def decode(self, block, n: int) -> dict:
        layout = _layout(block)
        if layout["kind"] is None:
            return {}
        placements = list(block.placements or [None] * n)
        post = block.post
        for i, p in enumerate(placements):
            if p is None:  # a ready-made tensor: input pixels are its pixels
                w, h = post.input_size or (1, 1)
                placements[i] = identity(int(w), int(h))
        if layout["kind"] == "instance":
            answer = self._instances(block, n, layout, placements)
        else:
            answer = self._semantic(block, n, layout, placements)
        answer["image_size"] = np.array([(p.width, p.height) for p in placements], dtype=np.int32).reshape(n, 2)
        answer["input_transform"] = np.array([p.as_row() for p in placements], dtype=np.float64).reshape(n, 4)
        answer["pixel_spacing"] = np.array([p.pixel_spacing or (0.0, 0.0) for p in placements],
                                           dtype=np.float64).reshape(n, 2)
        return answer

    def _instances(self, block, n: int, layout: dict, placements) -> dict:
        post = block.post
        s = settings_for(layout["family"], post.detection)
        nc, nm = layout["nc"], layout["nm"]
        per_item, strings, lengths, areas = [], [], [], []
        for i in range(n):
            place = placements[i]
            pred = np.asarray(block.tensors[layout["main"]][i], dtype=np.float64)
            protos = np.asarray(block.tensors[layout["protos"]][i], dtype=np.float64)
            if layout["family"] == "yolov8":
                p = pred.T  # (A, 4+C+nm)
                boxes, cls, coef = xywh2xyxy(p[:, :4]), p[:, 4:4 + nc], p[:, 4 + nc:4 + nc + nm]
            else:
                p = pred[pred[:, 4] > s.floor]  # objectness first, as YOLOv5's NMS does
                boxes, cls, coef = xywh2xyxy(p[:, :4]), p[:, 5:5 + nc] * p[:, 4:5], p[:, 5 + nc:5 + nc + nm]
            scores, classes = (cls.max(axis=1), cls.argmax(axis=1)) if len(cls) else (np.zeros(0), np.zeros(0, int))
            keep = np.flatnonzero(scores > s.floor)
            if len(keep) > MAX_NMS:
                keep = keep[np.argsort(-scores[keep], kind="stable")[:MAX_NMS]]
            keep = keep[batched_nms(boxes[keep], scores[keep], classes[keep], s.iou, s.agnostic)[:s.max_det]]
            mh, mw = protos.shape[1:]
            probs = _sigmoid(coef[keep] @ protos.reshape(nm, -1)).reshape(-1, mh, mw).astype(np.float32)
            item_bytes = []
            for j, k in enumerate(keep.tolist()):
                mask = instance_mask(probs[j], boxes[k], place)
                item_bytes.append(encode_mask(mask))
                areas.append(int(np.count_nonzero(mask)))
            lengths.extend(len(b) for b in item_bytes)
            strings.append(b"".join(item_bytes))
            per_item.append((place.to_original(boxes[keep]), scores[keep], classes[keep]))
        counts = np.array([len(p[1]) for p in per_item], dtype=np.int64)
        return {
            "det_offsets": np.concatenate([[0], np.cumsum(counts)]).astype(np.int64),
            "det_box": _joined([p[0] for p in per_item], (4,), np.float32),
            "det_score": _joined([p[1] for p in per_item], (), np.float32),
            "det_class": _joined([p[2] for p in per_item], (), np.int32),
            "det_mask_len": np.asarray(lengths, dtype=np.int64),
            "det_mask_area": np.asarray(areas, dtype=np.int64),
            **_byte_group(strings),
            "_meta": {"labels": list(post.labels), "family": layout["family"], "conf": s.conf, "floor": s.floor,
                      "iou": s.iou, "max_det": s.max_det, "class_agnostic": s.agnostic, "kind": "instance",
                      "classes": nc, "mask_threshold": MASK_THRESHOLD},
        }

    def _semantic(self, block, n: int, layout: dict, placements) -> dict:
        post = block.post
        spec = post.segmentation
        threshold = spec.threshold if spec is not None and spec.threshold is not None else DEFAULT_THRESHOLD
        names = _names(post, layout)
        rows, strings = [], []
        for i in range(n):
            place = placements[i]
            a = np.asarray(block.tensors[layout["map"]][i])
            if layout["kind"] == "labels":
                lab = a.reshape(a.shape[-2:]).astype(np.int64) if layout.get("argmax") else a.argmax(axis=0)
                orig = to_original_labels(lab, place)
                area = np.bincount(orig.ravel(), minlength=len(names))
                present = [c for c in np.flatnonzero(area).tolist() if c < len(names)]
                masks = [(c, orig == c) for c in present]
            else:
                prob = a.reshape(a.shape[-2:]).astype(np.float32)
                if prob.size and (prob.min() < 0 or prob.max() > 1):
                    prob = _sigmoid(prob).astype(np.float32)
                fg = to_original_probability(prob, place) > threshold
                masks = [(1, fg)] if fg.any() else []
            encoded = [(c, int(np.count_nonzero(m)), encode_mask(m)) for c, m in masks]
            rows.append(encoded)
            strings.append(b"".join(e[2] for e in encoded))
        counts = np.array([len(r) for r in rows], dtype=np.int64)
        flat = [e for r in rows for e in r]
        return {
            "seg_offsets": np.concatenate([[0], np.cumsum(counts)]).astype(np.int64),
            "seg_class": np.array([e[0] for e in flat], dtype=np.int32),
            "seg_area": np.array([e[1] for e in flat], dtype=np.int64),
            "seg_mask_len": np.array([len(e[2]) for e in flat], dtype=np.int64),
            **_byte_group(strings),
            "_meta": {"labels": list(post.labels), "names": names, "kind": layout["kind"],
                      "threshold": threshold if layout["kind"] == "binary" else None},
        }

    # ------------------------------------------------------------------ views
    def record(self, answer: dict, meta: dict, i: int) -> dict:
        if "image_size" not in answer:
            return {"top": []}
        out = {"top": []}
        if meta.get("kind") == "instance":
            out = DetectionDecoder.record(self, answer, meta, i)
            a, b = int(answer["det_offsets"][i]), int(answer["det_offsets"][i + 1])
            keep = np.flatnonzero(answer["det_score"][a:b] > meta.get("conf", 0.0))
            masks = detection_masks(answer, i)
            for det, j in zip(out["detections"], keep.tolist()):
                det["mask"] = rle_json(masks[j])
        out["areas"] = {label: _area_json(px, mm2) for label, (px, mm2) in areas(answer, meta, i).items()}
        return out

    def columns(self, answer: dict, meta: dict, n: int) -> list:
        if "image_size" not in answer:
            return []
        cols = DetectionDecoder.columns(self, answer, meta, n) if meta.get("kind") == "instance" else []
        names = _area_names(meta)
        pixels = np.zeros((n, len(names)), dtype=np.int64)
        for i in range(n):
            got = _class_pixels(answer, meta, i, meta.get("conf"))
            for c, px in got.items():
                if 0 <= c < len(names):
                    pixels[i, c] = px
        cols += [(f"area[{name}]", pixels[:, c]) for c, name in enumerate(names) if _counted(meta, c)]
        mm = _mm2_per_pixel(answer)
        if (mm > 0).any():
            for c, name in enumerate(names):
                if _counted(meta, c):
                    cells = np.array([round(float(p * m), 6) if m > 0 else "" for p, m in
                                      zip(pixels[:, c].tolist(), mm.tolist())], dtype=object)
                    cols.append((f"area_mm2[{name}]", cells))
        return cols

    def summary(self, answer: dict, meta: dict, i: int) -> tuple[str, float | None]:
        if "image_size" not in answer:
            return "—", None
        if meta.get("kind") == "instance":
            return DetectionDecoder.summary(self, answer, meta, i)
        w, h = (int(v) for v in answer["image_size"][i])
        total = max(w * h, 1)
        got = [(px, label) for label, (px, _) in areas(answer, meta, i).items() if label.lower() != "background"]
        if not got:
            return "nothing found", None
        got.sort(key=lambda t: -t[0])
        return " · ".join(f"{label} {100.0 * px / total:.1f}%" for px, label in got[:3]), None

    def mask_view(self, answer: dict, meta: dict, i: int) -> "MaskView | None":
        """Item ``i``'s masks, decoded when asked: what Result.label_map reads."""
        if "rle_offsets" not in answer or "image_size" not in answer:
            return None
        return MaskView(answer, meta, i)


def _byte_group(strings: list[bytes]) -> dict:
    lengths = np.array([len(s) for s in strings], dtype=np.int64)
    return {"rle_offsets": np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64),
            "rle_bytes": np.frombuffer(b"".join(strings), dtype=np.uint8).copy()}


def _area_names(meta: dict) -> list[str]:
    if meta.get("kind") == "instance":
        labels = meta.get("labels") or []
        return [labels[c] if c < len(labels) else str(c) for c in range(int(meta.get("classes") or len(labels)))]
    return list(meta.get("names") or [])


def _counted(meta: dict, c: int) -> bool:
    """Whether class ``c`` gets area columns: a binary map's background does not."""
    return not (meta.get("kind") == "binary" and c == 0)


def _mm2_per_pixel(answer: dict) -> np.ndarray:
    """Each item's pixel area in mm² (0 when its spacing is unknown)."""
    spacing = answer.get("pixel_spacing")
    if spacing is None:
        return np.zeros(len(answer["image_size"]))
    return spacing[:, 0] * spacing[:, 1]


def _class_pixels(answer: dict, meta: dict, i: int, conf: float | None) -> dict[int, int]:
    """Item ``i``'s area in original pixels per class index (of :func:`_area_names`), at ``conf`` for instances.

    Instances of one class that overlap count once: their masks are merged (pycocotools,
    without decoding) before the area is counted.
    """
    if meta.get("kind") != "instance":
        a, b = int(answer["seg_offsets"][i]), int(answer["seg_offsets"][i + 1])
        return dict(zip(answer["seg_class"][a:b].tolist(), answer["seg_area"][a:b].tolist()))
    a, b = int(answer["det_offsets"][i]), int(answer["det_offsets"][i + 1])
    keep = np.flatnonzero(answer["det_score"][a:b] > (conf if conf is not None else meta.get("conf", 0.0)))
    if not keep.size:
        return {}
    classes = answer["det_class"][a:b][keep].tolist()
    by_class: dict = {}
    for j, c in zip(keep.tolist(), classes):
        by_class.setdefault(c, []).append(j)
    out = {}
    masks = None
    for c, js in by_class.items():
        if len(js) == 1:
            out[c] = int(answer["det_mask_area"][a + js[0]])
            continue
        masks = masks or detection_masks(answer, i)
        api = _mask_api()
        out[c] = int(api.area(api.merge([masks[j] for j in js], intersect=False)))
    return out


def areas(answer: dict, meta: dict, i: int, conf: float | None = None) -> dict[str, tuple[int, float | None]]:
    """Item ``i``'s area per class present: ``{label: (pixels, mm² or None)}`` at the original resolution."""
    names = _area_names(meta)
    mm = float(_mm2_per_pixel(answer)[i])
    out = {}
    for c, px in sorted(_class_pixels(answer, meta, i, conf).items()):
        if px and _counted(meta, c):
            label = names[c] if 0 <= c < len(names) else _label(meta, c)
            out[label] = (int(px), px * mm if mm > 0 else None)
    return out


def _area_json(px: int, mm2: float | None) -> dict:
    d = {"pixels": int(px)}
    if mm2 is not None:
        d["mm2"] = finite(round(mm2, 6))
    return d


class MaskView:
    """One item's masks, kept encoded (a few slices of the batch's columns) and decoded on demand.

    ``names[v]`` is the label of the pixels of value ``v`` in :meth:`label_map`. For a one-channel
    map and for instances, 0 is the background (``names[0] == "background"``); for an argmax
    map, ``v`` is the model's class (its class 0 is what the model calls it, often background).
    """

    __slots__ = ("kind", "names", "size", "conf", "_classes", "_scores", "_lengths", "_areas", "_bytes", "_spacing")

    def __init__(self, answer: dict, meta: dict, i: int):
        self.kind = meta.get("kind")
        self.size = tuple(_size(answer, i))  # (height, width)
        self.conf = meta.get("conf")
        ra, rb = int(answer["rle_offsets"][i]), int(answer["rle_offsets"][i + 1])
        self._bytes = answer["rle_bytes"][ra:rb]
        if self.kind == "instance":
            a, b = int(answer["det_offsets"][i]), int(answer["det_offsets"][i + 1])
            self._classes, self._scores = answer["det_class"][a:b], answer["det_score"][a:b]
            self._lengths, self._areas = answer["det_mask_len"][a:b], answer["det_mask_area"][a:b]
            self.names = ["background"] + _area_names(meta)
        else:
            a, b = int(answer["seg_offsets"][i]), int(answer["seg_offsets"][i + 1])
            self._classes, self._scores = answer["seg_class"][a:b], None
            self._lengths, self._areas = answer["seg_mask_len"][a:b], answer["seg_area"][a:b]
            self.names = list(meta.get("names") or [])
        self._spacing = tuple(answer["pixel_spacing"][i].tolist()) if "pixel_spacing" in answer else (0.0, 0.0)

    def _strings(self) -> list[bytes]:
        raw = self._bytes.tobytes()
        ends = np.cumsum(self._lengths).tolist()
        return [raw[s:e] for s, e in zip([0] + ends[:-1], ends)]

    def label_map(self, conf: float | None = None) -> np.ndarray:
        """The original-resolution map (int32 (h, w)): each pixel's value, whose label is ``names[value]``.

        Instances scoring over ``conf`` (None: the run's threshold) are painted with their class
        index + 1, weakest first, so where masks overlap the best-scoring detection's class shows.
        """
        h, w = self.size
        out = np.zeros((h, w), dtype=np.int32)
        strings = self._strings()
        if self.kind == "instance":
            conf = self.conf if conf is None else conf
            keep = np.flatnonzero(self._scores > (conf or 0.0))[::-1]  # stored best first
            for j in keep.tolist():
                out[decode_rle(strings[j], h, w)] = int(self._classes[j]) + 1
        else:
            for c, s in zip(self._classes.tolist(), strings):
                out[decode_rle(s, h, w)] = c
        return out

    def instance_ids(self, conf: float | None = None) -> np.ndarray:
        """For instances: each pixel's detection (its row among the item's candidates + 1; 0 none), int32 (h, w)."""
        h, w = self.size
        out = np.zeros((h, w), dtype=np.int32)
        if self.kind != "instance":
            return out
        conf = self.conf if conf is None else conf
        strings = self._strings()
        for j in np.flatnonzero(self._scores > (conf or 0.0))[::-1].tolist():
            out[decode_rle(strings[j], h, w)] = j + 1
        return out

    def areas(self, conf: float | None = None) -> dict:
        """Area per label present, as the record has it: ``{label: {"pixels": n[, "mm2": x]}}``.

        Instances over ``conf`` (None: the run's threshold) of one class are merged first, so
        an overlap counts once.
        """
        per_class: dict = {}
        if self.kind == "instance":
            conf = self.conf if conf is None else conf
            keep = np.flatnonzero(self._scores > (conf or 0.0)).tolist()
            groups: dict = {}
            for j in keep:
                groups.setdefault(int(self._classes[j]) + 1, []).append(j)
            strings = self._strings() if any(len(js) > 1 for js in groups.values()) else None
            for c, js in groups.items():
                if len(js) == 1:
                    per_class[c] = int(self._areas[js[0]])
                else:
                    api = _mask_api()
                    rles = [{"size": list(self.size), "counts": strings[j]} for j in js]
                    per_class[c] = int(api.area(api.merge(rles, intersect=False)))
        else:
            per_class = {c: int(px) for c, px in zip(self._classes.tolist(), self._areas.tolist())
                         if not (self.kind == "binary" and c == 0)}
        mm = self._spacing[0] * self._spacing[1]
        return {self.names[c] if 0 <= c < len(self.names) else str(c): _area_json(px, px * mm if mm > 0 else None)
                for c, px in sorted(per_class.items()) if px}

    @property
    def pixel_spacing(self) -> tuple | None:
        """(row, column) spacing in mm, or None when the image did not say."""
        return self._spacing if self._spacing[0] > 0 else None

