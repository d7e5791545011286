"""Two models on the same inputs, side by side: agreement, output differences, latency, and a verdict."""

from __future__ import annotations

import os
import statistics
import time
from dataclasses import dataclass, field
from typing import Callable, Mapping

import numpy as np

from ..errors import Cancelled, InputError
from .variants import METHOD_NAMES, as_array, file_sha256, item_count_word, iter_feeds, read_note


@dataclass
class Side:
    """One model of a comparison: its file, how long it took to load, and its per-item latency."""

    name: str
    path: str
    sha256: str
    size_bytes: int
    load_s: float
    p50_ms: float
    p95_ms: float
    items_per_s: float

    def to_dict(self) -> dict:
        return dict(self.__dict__)


@dataclass
class Verdict:
    recommended: bool
    text: str

    def to_dict(self) -> dict:
        return {"recommended": self.recommended, "text": self.text}


@dataclass
class Comparison:
    """What :func:`compare` measured; ``to_dict()`` is what the window shows and ``compare --json`` prints."""

    a: Side
    b: Side
    n: int
    top1_agreement: float | None
    boxes: dict | None
    outputs: list
    speedup: float
    words: str = "items"
    method: str | None = None  # the method b was made with, from its metadata note
    reason: str | None = None  # why b may be slow (ConvInteger...), from its note and ops
    accuracy: dict | None = None  # {"a": x, "b": y, "relative_loss": z} when ground truth was given
    bound: float = 0.99
    verdict: Verdict = field(default_factory=lambda: Verdict(False, ""))
    skipped: list = field(default_factory=list)  # the inputs that could not be read, each with its reason

    def to_dict(self) -> dict:
        return {"a": self.a.to_dict(), "b": self.b.to_dict(), "n": self.n, "top1_agreement": self.top1_agreement,
                "boxes": self.boxes, "outputs": list(self.outputs), "speedup": self.speedup,
                "method": self.method, "accuracy": self.accuracy, "bound": self.bound,
                "verdict": self.verdict.to_dict(), "skipped": list(self.skipped)}


def _load_seconds(engine, repeats: int = 3) -> float:
    from ..core import Engine

    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        Engine(engine.model_path, profile=engine.profile, settings=engine.settings)
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def _side(engine, ms: list, total_s: float) -> Side:
    arr = np.asarray(ms, dtype=np.float64)
    return Side(name=engine.info.file_name, path=engine.model_path, sha256=engine.info.sha256,
                size_bytes=os.path.getsize(engine.model_path), load_s=_load_seconds(engine),
                p50_ms=float(np.percentile(arr, 50)), p95_ms=float(np.percentile(arr, 95)),
                items_per_s=float(len(arr) / total_s) if total_s > 0 else 0.0)


def _task(engine) -> str:
    task = engine.profile.task
    return str(getattr(task, "value", task))


def _top1(engine, outs: list) -> list:
    """Each item's top-1 class index from its outputs (the postprocessor's score output), or None."""
    post = engine.postprocessor(1)
    name = post.score_output
    if name is None or name not in engine.output_names or _task(engine) != "classification":
        return []
    i = engine.output_names.index(name)
    tops = []
    for out in outs:
        arr = as_array(out[i])
        if arr is None or arr.size < 2:
            return []
        tops.append(int(np.argmax(arr.reshape(-1))))
    return tops


def iou(a, b) -> float:
    ax1, ay1, ax2, ay2 = a
    bx1, by1, bx2, by2 = b
    w, h = max(0.0, min(ax2, bx2) - max(ax1, bx1)), max(0.0, min(ay2, by2) - max(ay1, by1))
    inter = w * h
    union = (ax2 - ax1) * (ay2 - ay1) + (bx2 - bx1) * (by2 - by1) - inter
    return inter / union if union > 0 else 0.0


def match_boxes(dets_a, dets_b, threshold: float = 0.5) -> tuple[int, list]:
    """Greedy matching by class, best IoU first: (number matched, their IoUs)."""
    pairs = []
    for i, da in enumerate(dets_a):
        for j, db in enumerate(dets_b):
            if da.index == db.index:
                v = iou(da.box, db.box)
                if v >= threshold:
                    pairs.append((v, i, j))
    pairs.sort(reverse=True)
    used_a, used_b, ious = set(), set(), []
    for v, i, j in pairs:
        if i not in used_a and j not in used_b:
            used_a.add(i)
            used_b.add(j)
            ious.append(v)
    return len(ious), ious


def box_agreement(per_item_a: list, per_item_b: list) -> dict:
    matched = total = 0
    ious, count_diffs = [], []
    for da, db in zip(per_item_a, per_item_b):
        m, v = match_boxes(da, db)
        matched += m
        total += max(len(da), len(db))
        ious.extend(v)
        count_diffs.append(len(db) - len(da))
    return {"agreement": matched / total if total else 1.0, "matched": matched, "mean_iou": float(np.mean(ious))
            if ious else None, "count_a": sum(len(d) for d in per_item_a), "count_b": sum(len(d) for d in per_item_b),
            "mean_abs_count_diff": float(np.mean(np.abs(count_diffs))) if count_diffs else 0.0,
            "items_with_count_diff": int(sum(1 for c in count_diffs if c))}


def compare(engine_a, engine_b, inputs, *, top_k: int = 5, rounds: int = 3, bound: float = 0.99, truth=None,
            limit: int | None = None, should_stop: Callable[[], bool] | None = None,
            progress: Callable[[int, int], None] | None = None) -> Comparison:
    """Score ``engine_a``'s and ``engine_b``'s models on the same inputs and compare them.

    Both sessions get the same tensors, preprocessed once by ``engine_a`` (a variant shares its
    source's profile). Each item is run on a, then b, then b, a in the next round (``rounds``
    rounds after one warm-up), so the two latencies are measured in the same run under the same
    load. The differences are of each float output of the first round, item by item.

    Parameters
    ----------
    truth
        Ground-truth class indices (or labels): one per item in input order, or a mapping of
        an item's path (or file name) to its class. The verdict then uses the relative accuracy
        loss instead of the top-1 agreement; items the mapping lacks are left out of the accuracy.
    bound
        The least agreement (or 1 - the largest relative accuracy loss) for a recommendation.
    """
    del top_k  # the agreement is of the top-1 class; kept for the window's call
    feeds, names, paths, skipped = [], [], [], []
    for name, path, feed in iter_feeds(engine_a, inputs, limit=limit, should_stop=should_stop, skipped=skipped):
        feeds.append(feed)
        names.append(name)
        paths.append(path)
    if not feeds:
        raise InputError("none of the inputs could be read for this model")
    for feed in feeds[:1]:  # warm-up, and a readable error if b cannot take a's tensors
        engine_a.run(feed)
        engine_b.run(feed)
    ms_a, ms_b, outs_a, outs_b = [], [], [], []
    total_a = total_b = 0.0
    steps = max(1, int(rounds)) * len(feeds)
    done = 0
    for r in range(max(1, int(rounds))):
        for feed in feeds:
            if should_stop and should_stop():
                raise Cancelled("stopped")
            order = (engine_a, engine_b) if (r + done) % 2 == 0 else (engine_b, engine_a)
            for engine in order:
                t0 = time.perf_counter()
                out, _ = engine.run(feed)
                dt = time.perf_counter() - t0
                if engine is engine_a:
                    ms_a.append(dt * 1e3)
                    total_a += dt
                    if r == 0:
                        outs_a.append(out)
                else:
                    ms_b.append(dt * 1e3)
                    total_b += dt
                    if r == 0:
                        outs_b.append(out)
            done += 1
            if progress:
                progress(done, steps)
    a, b = _side(engine_a, ms_a, total_a), _side(engine_b, ms_b, total_b)
    diffs = output_differences(engine_a, outs_a, engine_b, outs_b)
    tops_a, tops_b = _top1(engine_a, outs_a), _top1(engine_b, outs_b)
    agreement = float(np.mean(np.equal(tops_a, tops_b))) if tops_a and tops_b else None
    boxes = None
    if _task(engine_a) == "detection":
        items = _distinct(paths)
        dets_a = [tuple(r.detections) for r in _results(engine_a, items)]
        dets_b = [tuple(r.detections) for r in _results(engine_b, items)]
        boxes = box_agreement(dets_a, dets_b)
    accuracy = None
    if truth is not None and tops_a and tops_b:
        if isinstance(truth, Mapping):
            known = [i for i, p in enumerate(paths) if p in truth or os.path.basename(p) in truth]
            labels = [truth[paths[i]] if paths[i] in truth else truth[os.path.basename(paths[i])] for i in known]
            accuracy = _accuracy(engine_a, labels, [tops_a[i] for i in known], [tops_b[i] for i in known])
        else:
            accuracy = _accuracy(engine_a, truth, tops_a, tops_b)
    note = read_note(engine_b.model_path) or {}
    method = note.get("method")
    c = Comparison(a=a, b=b, n=len(feeds), top1_agreement=agreement, boxes=boxes, outputs=diffs,
                   speedup=a.p50_ms / b.p50_ms if b.p50_ms > 0 else float("inf"), words=item_count_word(engine_a),
                   method=method, reason=_slow_reason(engine_b, method), accuracy=accuracy, bound=bound,
                   skipped=skipped)
    c.verdict = verdict(c, bound=bound, method=method)
    return c


def _distinct(paths: list) -> list:
    return list(dict.fromkeys(paths))


def _results(engine, items):
    from ..batch import run_batch

    return [r for r in run_batch(engine, items, top_k=1, workers=0) if r.ok]


def _accuracy(engine, truth, tops_a, tops_b) -> dict | None:
    labels = list(engine.profile.labels)
    idx = []
    for t in list(truth)[:len(tops_a)]:
        if isinstance(t, str) and t in labels:
            idx.append(labels.index(t))
        else:
            idx.append(int(t))
    n = len(idx)
    if not n:
        return None
    acc_a = float(np.mean(np.equal(tops_a[:n], idx)))
    acc_b = float(np.mean(np.equal(tops_b[:n], idx)))
    return {"a": acc_a, "b": acc_b, "relative_loss": (acc_a - acc_b) / acc_a if acc_a > 0 else 0.0, "n": n}


def output_differences(engine_a, outs_a: list, engine_b, outs_b: list) -> list:
    """The largest and mean absolute difference of each float output the two models share, over all items."""
    diffs = []
    for i, name in enumerate(engine_a.output_names):
        if name not in engine_b.output_names:
            continue
        j = engine_b.output_names.index(name)
        largest, total, count = 0.0, 0.0, 0
        for oa, ob in zip(outs_a, outs_b):
            xa, xb = as_array(oa[i]), as_array(ob[j])
            if xa is None or xb is None or xa.shape != xb.shape or xa.dtype.kind != "f" or xb.dtype.kind != "f":
                break
            d = np.abs(xa.astype(np.float64) - xb.astype(np.float64))
            if d.size:
                largest = max(largest, float(d.max()))
                total += float(d.sum())
                count += d.size
        else:
            if count:
                diffs.append({"name": name, "max_abs_diff": largest, "mean_abs_diff": total / count})
    return diffs


def _slow_reason(engine_b, method) -> str | None:
    from .variants import op_counts

    try:
        ops = op_counts(engine_b.model_path)
    except Exception:  # noqa: BLE001 - a reason is a nicety
        return None
    if "ConvInteger" in ops:
        return "ConvInteger"
    if method == "fp16" and engine_b.provider == "CPUExecutionProvider":
        return "float16 on CPU runs through casts"
    if method == "dynamic":
        return "activations quantised at run time"
    return None


def _ratio(x: float) -> str:
    return f"{x:.1f}×" if x >= 1.95 or x < 0.5 else f"{x:.2f}×"


#: the least speed-up (a p50 / b p50) a recommendation needs: two runs of one model differ by a few per cent
MIN_SPEEDUP = 1.05
#: fewer items than this are too few to time: a speed-up measured on them is noise (the same model
#: timed twice on one image came out "2× faster")
MIN_TIMED_ITEMS = 10


def verdict(comparison: Comparison, bound: float = 0.99, method: str | None = None,
            min_speedup: float = MIN_SPEEDUP) -> Verdict:
    """Whether to use model b instead of a, in one sentence.

    Recommended only when b was faster in the measured run (its per-item p50 lower by at least
    ``min_speedup``, so that the same model timed twice is not called faster) and agrees with a
    at least to ``bound``: top-1 agreement for classifiers, matched-box agreement for detectors,
    or, with ground truth, a relative accuracy loss of at most ``1 - bound``.
    """
    c = comparison
    method = method or c.method
    who = METHOD_NAMES.get(method, c.b.name) if method else c.b.name
    faster = c.speedup >= min_speedup
    where = f"on {c.n:,} of your {c.words}"
    if c.accuracy is not None:
        loss = c.accuracy["relative_loss"]
        agree_ok = loss <= 1 - bound + 1e-12
        agree_text = f"{loss * 100:.1f}% relative accuracy loss {where}"
        bound_text = f"the {(1 - bound) * 100:.0f}% bound"
    elif c.top1_agreement is not None:
        agree_ok = c.top1_agreement >= bound - 1e-12
        agree_text = f"{c.top1_agreement * 100:.1f}% top-1 agreement {where}"
        bound_text = f"the {bound * 100:g}% bound"
    elif c.boxes is not None:
        agree_ok = c.boxes["agreement"] >= bound - 1e-12
        agree_text = f"{c.boxes['agreement'] * 100:.1f}% box agreement {where}"
        bound_text = f"the {bound * 100:g}% bound"
    else:
        agree_ok, agree_text, bound_text = False, "", ""
    if c.n < MIN_TIMED_ITEMS:
        return Verdict(False, f"{who}: {c.n:,} {c.words} are too few to tell whether it is faster (compare on at "
                              f"least {MIN_TIMED_ITEMS}); not recommended")
    if not faster and c.speedup > 1.0:
        return Verdict(False, f"{who}: only {_ratio(c.speedup)} faster on this CPU, under the "
                              f"{(min_speedup - 1) * 100:.0f}% a speed-up must clear to stand out from timing noise; "
                              "not recommended")
    if not faster:
        slower = 1 / c.speedup if c.speedup > 0 else float("inf")
        reason = f" ({c.reason})" if c.reason else ""
        text = (f"{who}: {_ratio(slower)} slower on this CPU{reason}; not recommended" if slower >= 1.005
                else f"{who}: no faster on this CPU ({c.b.p50_ms:.3g} ms against {c.a.p50_ms:.3g} ms per item); "
                     "not recommended")
        return Verdict(False, text)
    if not agree_text:
        return Verdict(False, f"{who}: {_ratio(c.speedup)} faster, but the models' answers have no top-1 or box "
                              f"agreement to check (largest output difference "
                              f"{max((o['max_abs_diff'] for o in c.outputs), default=0):.3g}); not recommended")
    if not agree_ok:
        over = "over" if c.accuracy is not None else "under"
        return Verdict(False, f"{who}: {_ratio(c.speedup)} faster, but {agree_text} is {over} {bound_text}; "
                              "not recommended")
    return Verdict(True, f"{who}: {_ratio(c.speedup)} faster, {agree_text} — recommended")
