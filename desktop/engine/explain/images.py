"""What the image methods share: an image in the model's input geometry, perturbed copies scored in batches, maps mapped back.

The image is perturbed after the resize, padding and crop but before the scaling, mean/std and
layout: in the pixels of the model's input grid (``preprocess.image_to_array``), still in pixel
values. So a mask cell or an occluding patch covers exactly the tensor pixels the model sees
(one input pixel is many original pixels after a downscale; a mask drawn on the original would
be blurred by the resize), a baseline given as a number is a pixel value (0 = black) whatever
the profile's normalisation, and each perturbed copy goes through the profile's own
``normalise`` (so a uint8 model gets rounded pixels as it would). The map is made on that grid
and mapped back to the original image's pixels through ``geometry.placement``.
"""

from __future__ import annotations

import time
from typing import Callable

import numpy as np

from ..decoders.classification import class_scores
from ..decoders.detection import box_iou
from ..errors import InputError
from ..geometry import Placement, placement
from ..inputs import InputKind, expand_inputs
from ..inputs.images import PIXEL_SPACING
from ..preprocess import image_to_array, normalise
from ..profile import Task

#: perturbed copies per session.run when the batch axis is free, at most (and at most BATCH_BYTES of tensors)
MAX_BATCH = 64
BATCH_BYTES = 64 << 20


class ImageJob:
    """One image prepared for explaining: its input-grid pixels, where it sits in the input, and a scorer.

    Parameters
    ----------
    engine
        The Engine (its profile must have an image section).
    image_path
        The image or DICOM file.
    batch
        Perturbed copies per session.run; None: as many as fit (1 when the model's batch is fixed).
    """

    def __init__(self, engine, image_path: str, batch: int | None = None):
        if engine.profile.image is None:
            raise InputError(f"{engine.info.file_name} takes a table, not an image: explain a CSV row with "
                             "KernelSHAP instead")
        item = expand_inputs([str(image_path)])[0] if image_path else None
        if item is None or item.kind not in (InputKind.IMAGE, InputKind.DICOM):
            raise InputError(item.problem if item is not None and item.problem else
                             f"{image_path}: not an image or DICOM file, so there is no map to make")
        self.engine = engine
        self.path = str(image_path)
        img, _ = engine.load_image(self.path, item.kind)
        self.tensor, _ = engine.preprocess(img)  # refuses an image the profile does not fit, saying why
        spec = engine.profile.image
        self.spec = spec
        self.pixels = image_to_array(img, spec)  # (H, W, C) float32 in the input's grid
        self.place: Placement = placement(img.size[0], img.size[1], spec, img.info.get(PIXEL_SPACING))
        self.height, self.width = self.pixels.shape[:2]
        self.post = engine.postprocessor(top_k=1)
        self.task = engine.profile.task
        item_bytes = max(1, self.tensor.nbytes)
        if batch is None:
            batch = max(1, min(MAX_BATCH, BATCH_BYTES // item_bytes)) if engine.batchable else 1
        self.batch = max(1, int(batch)) if engine.batchable else 1

    # ------------------------------------------------------------ baselines
    def baseline(self, kind) -> np.ndarray:
        """The pixels that replace the covered ones: "mean" (the image's mean colour), "blur" (a Gaussian
        blur of the image, sigma 1/20 of the shorter side) or a number (that pixel value in every channel)."""
        if isinstance(kind, str):
            if kind == "mean":
                return np.broadcast_to(self.pixels.mean(axis=(0, 1), keepdims=True), self.pixels.shape).copy()
            if kind == "blur":
                return self.blurred()
            try:
                kind = float(kind)
            except ValueError:
                raise InputError(f"the baseline is 'mean', 'blur' or a pixel value, not '{kind}'") from None
        return np.full_like(self.pixels, float(kind))

    def blurred(self) -> np.ndarray:
        from scipy.ndimage import gaussian_filter

        sigma = max(1.0, min(self.height, self.width) / 20.0)
        return gaussian_filter(self.pixels, sigma=(sigma, sigma, 0), mode="nearest").astype(np.float32)

    # ------------------------------------------------------------ scoring
    def tensors(self, masks: np.ndarray, base: np.ndarray) -> list[np.ndarray]:
        """The model's tensors for ``masks`` (B, H, W) in [0, 1] (1 keeps the pixel, 0 puts the baseline's)."""
        m = masks[..., None].astype(np.float32)
        mixed = self.pixels[None] * m + base[None] * (1.0 - m)
        return [normalise(p, self.spec) for p in mixed]

    def run(self, tensors: list[np.ndarray]):
        """The decoded outputs (an OutputBlock) of ``tensors``: stacked when the model takes a batch."""
        engine = self.engine
        n = len(tensors)
        raw = None
        if n > 1 and engine.batchable:
            got = engine.run_stacked(engine.image_feeds(tensors), n, lambda: engine.image_feeds(tensors[:1]))
            raw = got[0] if got is not None else None
        if raw is None:
            if n == 1:
                raw = engine.run(engine.image_feeds(tensors))[0]
            else:
                from ..postprocess import stack_items

                raw = stack_items([engine.run(engine.image_feeds([t]))[0] for t in tensors])
        return self.post.block(raw, n, [self.place] * n)

    def class_scores(self, block, n: int) -> tuple[list, list, np.ndarray]:
        """(labels, class indices, scores (n, K)) of a classifier's (or regressor's) outputs."""
        if self.task == Task.REGRESSION or self.task == "regression":
            values = block.answer.get("values")
            if values is None:
                raise InputError("the model gave no value to explain")
            return [f"value {j + 1}" for j in range(values.shape[1])], list(range(values.shape[1])), values
        found = class_scores(block, n)
        if found is None:
            raise InputError(f"{self.engine.info.file_name} gives no class scores to explain (task {self.task})")
        names, indices, scores, _ = found
        return names, indices, scores

    def target_column(self, target) -> tuple[int, dict, float]:
        """(score column, {"index", "label"}, score on the unchanged image) for ``target`` (None: the top class)."""
        block = self.run([self.tensor])
        names, indices, scores = self.class_scores(block, 1)
        if target is None:
            col = int(np.argmax(scores[0]))
        else:
            try:
                col = indices.index(int(target))
            except (ValueError, TypeError):
                labels = [str(n) for n in names]
                if str(target) in labels:
                    col = labels.index(str(target))
                else:
                    raise InputError(f"the model has no class '{target}' to explain (classes 0–{len(indices) - 1}"
                                     + (f": {', '.join(labels[:8])}{'…' if len(labels) > 8 else ''}" if labels else "")
                                     + ")") from None
        return col, {"index": int(indices[col]), "label": str(names[col])}, float(scores[0, col])

    def scorer(self, target) -> tuple[Callable, dict, float]:
        """(score(block, n) -> (n,) the target's scores, target, score on the unchanged image)."""
        col, tgt, s0 = self.target_column(target)

        def score(block, n):
            return self.class_scores(block, n)[2][:, col]

        return score, tgt, s0

    def detection_scorer(self, box: np.ndarray, label: int) -> Callable:
        """D-RISE's weight of each copy: the max over its detections of IoU(box, det) × [same class] × det score.

        The decoder keeps each detection's class index and score only (no probability vector), so the
        class similarity is 1 for the same class and 0 for another, and the det score stands in for
        the paper's objectness (Petsiuk et al. 2021, with a one-hot class vector).
        """
        box = np.asarray(box, dtype=np.float64)

        def score(block, n):
            a = block.answer
            if "det_offsets" not in a:
                return np.zeros(n)
            out = np.zeros(n)
            offsets = a["det_offsets"]
            for i in range(n):
                lo, hi = int(offsets[i]), int(offsets[i + 1])
                if hi <= lo:
                    continue
                same = a["det_class"][lo:hi] == label
                if not same.any():
                    continue
                iou = np.nan_to_num(box_iou(box, a["det_box"][lo:hi].astype(np.float64)))
                out[i] = float(np.max(iou * same * a["det_score"][lo:hi]))
            return out

        return score

    def scores_for(self, masks_of: Callable[[int, int], np.ndarray], total: int, base: np.ndarray, score: Callable,
                   should_stop=None, progress=None, on_batch: Callable | None = None) -> int:
        """Score ``total`` perturbed copies in batches; ``masks_of(start, stop)`` gives their masks and
        ``on_batch(start, masks, scores)`` takes each batch's. Returns how many were done (fewer when stopped)."""
        done = 0
        while done < total:
            if should_stop is not None and should_stop():
                break
            stop = min(total, done + self.batch)
            masks = masks_of(done, stop)
            block = self.run(self.tensors(masks, base))
            on_batch(done, masks, np.asarray(score(block, stop - done), dtype=np.float64))
            done = stop
            if progress is not None:
                progress(done, total)
        return done

    # ------------------------------------------------------------ the way back
    def to_original(self, input_map: np.ndarray) -> np.ndarray:
        """A map on the input grid (H, W) -> float32 (height, width) of the original image, bilinear.

        Each original pixel's centre is placed in the input by the placement (``input = original ×
        gain + offset``); original pixels outside the input (cut by a crop) get 0.
        """
        return map_to_original(input_map, self.place)


def map_to_original(input_map: np.ndarray, place: Placement) -> np.ndarray:
    """See :meth:`ImageJob.to_original`."""
    h_in, w_in = input_map.shape
    ys = (np.arange(place.height) + 0.5) * place.gain_y + place.offset_y - 0.5
    xs = (np.arange(place.width) + 0.5) * place.gain_x + place.offset_x - 0.5
    inside_y = (ys > -1) & (ys < h_in)
    inside_x = (xs > -1) & (xs < w_in)
    ys, xs = np.clip(ys, 0, h_in - 1), np.clip(xs, 0, w_in - 1)
    y0, x0 = np.floor(ys).astype(np.int64), np.floor(xs).astype(np.int64)
    y1, x1 = np.minimum(y0 + 1, h_in - 1), np.minimum(x0 + 1, w_in - 1)
    fy, fx = (ys - y0)[:, None], (xs - x0)[None, :]
    m = input_map.astype(np.float64)
    rows = m[y0] * (1 - fy) + m[y1] * fy
    out = rows[:, x0] * (1 - fx) + rows[:, x1] * fx
    out[~inside_y] = 0
    out[:, ~inside_x] = 0
    return out.astype(np.float32)


def elapsed(t0: float) -> float:
    return time.perf_counter() - t0

