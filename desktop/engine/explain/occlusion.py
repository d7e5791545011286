"""Occlusion sensitivity: cover one patch at a time and see how much the target's score drops (Zeiler & Fergus 2014)."""

from __future__ import annotations

import time

import numpy as np

from ..errors import InputError
from ..profile import Task
from .images import ImageJob, elapsed
from .result import Explanation


def _positions(side: int, patch: int, stride: int) -> list[int]:
    """Patch starts along one side: every ``stride``, the last one flush with the edge."""
    starts = list(range(0, max(1, side - patch + 1), stride))
    if starts[-1] + patch < side:
        starts.append(side - patch)
    return starts


def occlusion(engine, image_path, *, target=None, patch: int | None = None, stride: int | None = None,
              baseline="mean", box=None, batch: int | None = None, should_stop=None, progress=None) -> Explanation:
    """Occlusion sensitivity map of one image for one class.

    Parameters
    ----------
    engine
        The Engine of an image classifier (or regressor).
    image_path
        The image.
    target
        The class index (or label) to explain; None: the class the model ranks first.
    patch, stride
        The square patch's side and step, in the model input's pixels. Defaults: 1/8 of the input's
        shorter side (at least 1), and half the patch.
    baseline
        What covers the patch: "mean" (the image's mean colour), "blur" (a blurred copy) or a pixel value.
    box
        A detector's box to explain instead of a class (its index among the image's detections, or a
        Detection): the score is D-RISE's weight of the box (see :func:`~desktop.engine.explain.drise`).
        A detector's default is box 0, its best.
    batch
        Covered copies per session.run (None: as many as fit; 1 when the model's batch is fixed).
    should_stop, progress
        ``should_stop()`` is asked between batches (True stops: the map so far comes back with
        ``cancelled=True``); ``progress(done, total)`` is told after each batch.

    Returns
    -------
    Explanation
        ``map`` is signed: at each pixel, the mean drop in the target's score over the patches that
        cover it (positive = covering it lowers the score).
    """
    t0 = time.perf_counter()
    job = ImageJob(engine, image_path, batch)
    h, w = job.height, job.width
    patch = int(patch) if patch else max(1, round(min(h, w) / 8))
    stride = int(stride) if stride else max(1, patch // 2)
    if patch < 1 or stride < 1:
        raise InputError("the occlusion patch and stride are at least 1 pixel")
    patch = min(patch, h, w)
    if box is None and engine.profile.task == Task.DETECTION:
        box = 0
    if box is not None:
        from .rise import _target_box

        xyxy, c, label, s0 = _target_box(job, box)
        score = job.detection_scorer(xyxy, c)
        tgt = {"index": c, "label": label, "box": [round(float(v), 3) for v in xyxy], "score": s0}
        s0 = float(score(job.run([job.tensor]), 1)[0])  # the box's weight on the unchanged image (its IoU is 1)
    else:
        score, tgt, s0 = job.scorer(target)
    base = job.baseline(baseline)
    corners = [(y, x) for y in _positions(h, patch, stride) for x in _positions(w, patch, stride)]
    total = len(corners)
    acc = np.zeros((h, w))
    count = np.zeros((h, w))

    def masks_of(a, b):
        m = np.ones((b - a, h, w), dtype=np.float32)
        for k, (y, x) in enumerate(corners[a:b]):
            m[k, y:y + patch, x:x + patch] = 0
        return m

    def on_batch(a, masks, scores):
        for (y, x), s in zip(corners[a:a + len(scores)], scores):
            acc[y:y + patch, x:x + patch] += s0 - s
            count[y:y + patch, x:x + patch] += 1

    done = job.scores_for(masks_of, total, base, score, should_stop, progress, on_batch)
    input_map = (acc / np.maximum(count, 1)).astype(np.float32)
    params = {"target": tgt["index"], **({"box": tgt["box"]} if "box" in tgt else {}), "patch": patch, "stride": stride, "baseline": baseline, "seed": None,
              "space": "model input"}
    return Explanation(job.to_original(input_map), tgt, "occlusion", params, engine.info.sha256, job.path,
                       elapsed(t0), cancelled=done < total, score=s0, done=done, total=total, input_map=input_map,
                       call={"fn": "occlusion", "args": (str(image_path),),
                             "kwargs": {"target": tgt["index"], "patch": patch, "stride": stride,
                                        "baseline": baseline, "batch": batch, "box": _detection(tgt)}})


def _detection(tgt: dict):
    """The Detection a box target re-runs with (None for a class)."""
    if "box" not in tgt:
        return None
    from ..results import Detection

    return Detection(tgt["label"], tgt["index"], tgt["score"], tuple(tgt["box"]), None)
