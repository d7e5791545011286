"""RISE (Petsiuk et al. 2018) for classifiers and D-RISE (Petsiuk et al. 2021) for one detected box: random masks, scores as weights."""

from __future__ import annotations

import time

import numpy as np

from ..errors import InputError
from ..profile import Task
from .images import ImageJob, elapsed
from .result import Explanation


def _interp_matrix(out_len: int, n: int) -> np.ndarray:
    """(out_len, n) bilinear weights resizing ``n`` cells to ``out_len`` pixels (cell centres, edges clamped)."""
    pos = (np.arange(out_len) + 0.5) * n / out_len - 0.5
    pos = np.clip(pos, 0, n - 1)
    lo = np.floor(pos).astype(np.int64)
    hi = np.minimum(lo + 1, n - 1)
    f = pos - lo
    m = np.zeros((out_len, n))
    m[np.arange(out_len), lo] += 1 - f
    m[np.arange(out_len), hi] += f
    return m


class MaskMaker:
    """RISE's masks: a ``grid``×``grid`` binary grid (each cell kept with probability ``p``), upsampled
    bilinearly to ``(grid + 1)`` cells' size and cut at a random shift of up to one cell.

    Every grid and shift is drawn up front from ``seed``, so mask ``i`` is the same whatever the batch size.
    """

    def __init__(self, n: int, grid: int, p: float, seed: int, height: int, width: int):
        rng = np.random.default_rng(seed)
        self.grids = (rng.random((n, grid, grid)) < p).astype(np.float64)
        cell_h, cell_w = -(-height // grid), -(-width // grid)
        self.shift_y = rng.integers(0, cell_h, n)
        self.shift_x = rng.integers(0, cell_w, n)
        self.ry = _interp_matrix((grid + 1) * cell_h, grid)
        self.rx = _interp_matrix((grid + 1) * cell_w, grid)
        self.h, self.w = height, width

    def __call__(self, a: int, b: int) -> np.ndarray:
        rows = self.shift_y[a:b, None] + np.arange(self.h)[None]
        cols = self.shift_x[a:b, None] + np.arange(self.w)[None]
        ry, rx = self.ry[rows], self.rx[cols]  # (B, H, g), (B, W, g)
        return np.einsum("bhg,bgk,bwk->bhw", ry, self.grids[a:b], rx, optimize=True).astype(np.float32)


def _check(n, grid, p):
    if int(n) < 1 or int(grid) < 1 or not 0 < float(p) < 1:
        raise InputError("RISE needs at least 1 mask, a grid of at least 1×1 and a keep probability p between 0 and 1")


def _saliency(job, make, n, p, base, score, should_stop, progress):
    acc = np.zeros((job.height, job.width))

    def on_batch(a, masks, scores):
        acc[...] += np.tensordot(scores, masks, axes=1)

    done = job.scores_for(make, n, base, score, should_stop, progress, on_batch)
    sal = acc / (max(done, 1) * p)
    lo, hi = float(sal.min()), float(sal.max())
    norm = (sal - lo) / (hi - lo) if hi > lo else np.zeros_like(sal)
    return norm.astype(np.float32), done, (lo, hi)


def rise(engine, image_path, *, target=None, n: int = 4000, grid: int = 7, p: float = 0.5, seed: int = 0,
         baseline=0.0, batch: int | None = None, should_stop=None, progress=None) -> Explanation:
    """RISE saliency of one image for one class: the score-weighted mean of random masks.

    Parameters
    ----------
    target
        The class index (or label); None: the class the model ranks first.
    n, grid, p, seed
        How many masks, the mask grid's side, the probability that a cell is kept, the random seed.
    baseline
        What masked pixels become: a pixel value (default 0: the image times the mask, as the paper),
        "mean" or "blur".
    batch, should_stop, progress
        As :func:`~desktop.engine.explain.occlusion`.

    Returns
    -------
    Explanation
        ``map`` = sum over masks of score × mask / (N × p), then scaled to [0, 1]; ``params["raw_range"]``
        keeps the unscaled minimum and maximum.
    """
    _check(n, grid, p)
    t0 = time.perf_counter()
    job = ImageJob(engine, image_path, batch)
    score, tgt, s0 = job.scorer(target)
    make = MaskMaker(int(n), int(grid), float(p), int(seed), job.height, job.width)
    input_map, done, raw = _saliency(job, make, int(n), float(p), job.baseline(baseline), score, should_stop, progress)
    params = {"target": tgt["index"], "n": int(n), "grid": int(grid), "p": float(p), "seed": int(seed),
              "baseline": baseline, "raw_range": list(raw), "space": "model input"}
    return Explanation(job.to_original(input_map), tgt, "rise", params, engine.info.sha256, job.path, elapsed(t0),
                       cancelled=done < n, score=s0, done=done, total=int(n), input_map=input_map,
                       call={"fn": "rise", "args": (str(image_path),),
                             "kwargs": {"target": tgt["index"], "n": int(n), "grid": int(grid), "p": float(p),
                                        "seed": int(seed), "baseline": baseline, "batch": batch}})


def _target_box(job, box):
    """(box x1y1x2y2 in original pixels, class index, label, score) of ``box``: an index into the image's
    detections (at the profile's threshold, best first) or a Detection."""
    if hasattr(box, "box"):
        return np.asarray(box.box, dtype=np.float64), int(box.index), str(box.label), float(box.score)
    block = job.run([job.tensor])
    a, meta = block.answer, block.meta
    if "det_offsets" not in a:
        raise InputError(f"{job.engine.info.file_name} gives no boxes to explain")
    keep = np.flatnonzero(a["det_score"] > meta.get("conf", 0.0))
    i = int(box)
    if not 0 <= i < len(keep):
        raise InputError(f"there is no box {i} to explain: the model finds {len(keep)} in this image")
    k = keep[i]
    c = int(a["det_class"][k])
    labels = meta.get("labels") or []
    return (a["det_box"][k].astype(np.float64), c, labels[c] if 0 <= c < len(labels) else str(c),
            float(a["det_score"][k]))


def drise(engine, image_path, box=0, *, n: int = 4000, grid: int = 16, p: float = 0.5, seed: int = 0,
          baseline=0.0, batch: int | None = None, should_stop=None, progress=None) -> Explanation:
    """D-RISE saliency of one detected box.

    Parameters
    ----------
    box
        The box: its index among the image's detections (best first, at the profile's threshold) or a
        :class:`~desktop.engine.results.Detection` (box in original pixels).
    n, grid, p, seed, baseline, batch, should_stop, progress
        As :func:`rise` (the paper's grid for detectors is 16).

    Returns
    -------
    Explanation
        Each mask weighs max over the masked image's detections of IoU(box, det) × [same class] × det score
        (the decoder keeps a class index, not a probability vector); the map is their weighted mean
        scaled to [0, 1]. ``target`` has the box and its score.
    """
    _check(n, grid, p)
    if engine.profile.task != Task.DETECTION:
        raise InputError(f"D-RISE explains a detector's box; {engine.info.file_name} is a {engine.profile.task} model")
    t0 = time.perf_counter()
    job = ImageJob(engine, image_path, batch)
    xyxy, c, label, s0 = _target_box(job, box)
    score = job.detection_scorer(xyxy, c)
    make = MaskMaker(int(n), int(grid), float(p), int(seed), job.height, job.width)
    input_map, done, raw = _saliency(job, make, int(n), float(p), job.baseline(baseline), score, should_stop, progress)
    tgt = {"index": c, "label": label, "box": [round(float(v), 3) for v in xyxy], "score": s0}
    params = {"target": c, "box": tgt["box"], "n": int(n), "grid": int(grid), "p": float(p), "seed": int(seed),
              "baseline": baseline, "raw_range": list(raw), "space": "model input",
              "weight": "IoU × same class × detection score"}
    from ..results import Detection

    det = Detection(label, c, s0, tuple(float(v) for v in xyxy), None)
    return Explanation(job.to_original(input_map), tgt, "drise", params, engine.info.sha256, job.path, elapsed(t0),
                       cancelled=done < n, score=s0, done=done, total=int(n), input_map=input_map,
                       call={"fn": "drise", "args": (str(image_path), det),
                             "kwargs": {"n": int(n), "grid": int(grid), "p": float(p), "seed": int(seed),
                                        "baseline": baseline, "batch": batch}})
