"""Metrics with honest uncertainty: classification, regression, detection and segmentation, with bootstrap intervals.

Definitions (each is also said in the evaluation's ``definitions``, for the report)
-----------------------------------------------------------------------------------
bootstrap
    ``n_boot`` resamples (1,000 by default) drawn with ``numpy.random.default_rng(seed)``:
    each resample draws, for each truth class in sorted order (classification; one stratum
    for regression and detection), as many cases as that class has, with replacement, by
    ``rng.integers(0, n_class, n_class)``. The 95% interval is the 2.5th and 97.5th
    percentiles (numpy's linear interpolation) of the metric over the resamples where it is
    defined; when it is defined in fewer than half of them, the interval is None. The
    operating point's threshold is chosen once, on all cases, and held fixed in the
    resamples: its intervals leave out the uncertainty of choosing it.
positive class
    A binary classifier's positive class is its second class (``labels[1]``) unless
    ``positive`` names another; sensitivity, specificity, ROC, PR and calibration are of it.
calibration
    ``logit(p)`` of the positive class's probability, clipped to [1e-6, 1 - 1e-6]. The
    *slope* is the coefficient of ``logit(p)`` in an unpenalised logistic regression of the
    truth on ``logit(p)`` (scikit-learn ``LogisticRegression(C=inf)``); the *intercept* is
    calibration-in-the-large: the ``a`` of ``logit(P(y=1)) = a + logit(p)`` (``logit(p)`` as an
    offset, slope fixed at 1), the root of ``sum(y - expit(a + logit p)) = 0`` (scipy's
    ``brentq``). The joint model's intercept is kept as ``intercept_joint``. 0 and 1 are ideal.
    When the truth is completely separated by the score the slope has no finite estimate and
    is None (the intercept in the large still has one).
    The reliability curve is scikit-learn's ``calibration_curve`` (10 uniform bins).
detection
    pycocotools' COCOeval (bbox): AP@[.5:.95] (``stats[0]``) and AP50 (``stats[1]``), from all
    the stored candidates (up to 100 per image). Precision and recall are at IoU 0.5 and the
    score threshold ``conf``, from COCOeval's own per-image matches (crowd and ignored boxes
    as COCO treats them). Their intervals resample images; AP has no interval (a COCOeval per
    resample is too slow to be worth it).
"""

from __future__ import annotations

import contextlib
import io
import math
import os
import warnings
from dataclasses import dataclass, field

import numpy as np

from .truth import Box, LabelMatch, Truth, match_labels, to_number

#: a subgroup with fewer cases than this (or, for a classifier, fewer than MIN_PER_CLASS of a class) is too small
MIN_GROUP = 10
MIN_PER_CLASS = 2
_EPS = 1e-6
TASKS = ("classification", "regression", "detection", "segmentation")


# ====================================================================== operating points
@dataclass(frozen=True)
class OperatingPoint:
    """How a binary classifier's threshold is chosen: a fixed ``threshold``, a target ``sensitivity`` or
    ``specificity`` (the threshold that reaches it with the best other one), or ``youden`` (max J)."""

    method: str = "threshold"
    target: float | None = 0.5

    def __post_init__(self):
        if self.method not in ("threshold", "sensitivity", "specificity", "youden"):
            raise ValueError(f"unknown operating point {self.method!r}")


def parse_operating_point(text: str) -> OperatingPoint:
    """``youden``, ``threshold=0.4``, ``sensitivity=0.9`` or ``specificity=0.95`` -> OperatingPoint.

    Raises ValueError with a message a user can read.
    """
    text = str(text).strip()
    if text.casefold() == "youden":
        return OperatingPoint("youden", None)
    method, sep, value = text.partition("=")
    method = method.strip().casefold()
    if not sep or method not in ("threshold", "sensitivity", "specificity"):
        raise ValueError(f"--operating-point {text}: use youden, threshold=T, sensitivity=S or specificity=S")
    try:
        target = float(value)
    except ValueError:
        raise ValueError(f"--operating-point {text}: {value.strip()!r} is not a number") from None
    if not 0.0 <= target <= 1.0:
        raise ValueError(f"--operating-point {text}: the value must be from 0 to 1")
    return OperatingPoint(method, target)


def choose_threshold(y01: np.ndarray, score: np.ndarray, op: OperatingPoint) -> float:
    """The threshold (predict positive when ``score >= threshold``) of the operating point, on these cases.

    sensitivity=S: the highest threshold whose sensitivity is at least S (the best specificity
    that reaches S); specificity=S: the lowest threshold whose specificity is at least S;
    youden: the threshold of the largest sensitivity + specificity - 1 (the highest on a tie).
    """
    if op.method == "threshold":
        return float(op.target)
    from sklearn.metrics import roc_curve

    fpr, tpr, thr = roc_curve(y01, score, drop_intermediate=False)
    thr = _finite_thresholds(thr, score)
    if op.method == "youden":
        j = tpr - fpr
        return float(thr[int(np.argmax(j))])
    if op.method == "sensitivity":
        ok = np.flatnonzero(tpr >= op.target - 1e-12)
        return float(thr[ok[0]])  # thresholds fall along the curve: the first is the highest
    ok = np.flatnonzero(1.0 - fpr >= op.target - 1e-12)
    return float(thr[ok[-1]])


def _finite_thresholds(thr: np.ndarray, score: np.ndarray) -> np.ndarray:
    """roc_curve's first threshold is inf ("nothing positive"): just above the highest score instead (JSON has no inf)."""
    thr = np.asarray(thr, dtype=np.float64).copy()
    if len(thr) and not np.isfinite(thr[0]):
        thr[0] = float(np.nextafter(np.max(score), np.inf)) if len(score) else 1.0
    return thr


# ====================================================================== the result
#: how people write each metric's name (the report, the window, the command line's table)
METRIC_TITLES = {"accuracy": "Accuracy", "balanced_accuracy": "Balanced accuracy", "sensitivity": "Sensitivity",
                 "specificity": "Specificity", "ppv": "PPV", "npv": "NPV", "f1": "F1", "auc": "AUC",
                 "average_precision": "Average precision", "brier": "Brier score",
                 "calibration_intercept": "Calibration intercept", "calibration_slope": "Calibration slope",
                 "mae": "MAE", "rmse": "RMSE", "r2": "R²", "precision": "Precision", "recall": "Recall",
                 "ap50": "AP50", "ap": "AP@[.5:.95]", "dice": "Dice", "iou": "IoU"}


def metric_title(name: str, label: str | None = None) -> str:
    """``AUC``, ``Sensitivity (benign)``: a metric as it is printed (its key kept in JSON)."""
    title = METRIC_TITLES.get(str(name), str(name).replace("_", " "))
    return f"{title} ({label})" if label not in (None, "") else title


def metric(name: str, value, ci=None, label: str | None = None) -> dict:
    """One metric as the schema has it: ``{"name", "value", "ci": [lo, hi] | None, "label"}``."""
    return {"name": name, "value": _num(value), "ci": None if ci is None else [_num(ci[0]), _num(ci[1])],
            "label": label}


def _num(v):
    if v is None:
        return None
    v = float(v)
    return v if math.isfinite(v) else None


def _floats(a) -> list:
    return [_num(v) for v in np.asarray(a, dtype=np.float64).tolist()]


@dataclass
class Evaluation:
    """A model checked on labelled cases: what :func:`evaluate` returns. ``to_dict()`` is the JSON the CLI
    prints with ``--json``, the window shows and the report draws."""

    task: str
    n: int
    truth_source: str
    unmatched: dict
    missing_truth: int
    metrics: list
    extra: dict = field(default_factory=dict)  # confusion, per_class, roc, pr, calibration, cases, subgroups...

    def to_dict(self) -> dict:
        d = {"task": self.task, "n": self.n, "truth_source": self.truth_source, "unmatched": self.unmatched,
             "missing_truth": self.missing_truth, "metrics": self.metrics}
        d.update(self.extra)
        return d

    def metric(self, name: str, label: str | None = None) -> dict | None:
        """The metric named ``name`` (of class ``label``, or the overall one), or None."""
        return next((m for m in self.metrics if m["name"] == name and m["label"] == label), None)


# ====================================================================== bootstrap
def bootstrap_indices(strata: np.ndarray | None, n: int, n_boot: int, seed: int):
    """The resamples' case indices: for each stratum (sorted), its size drawn with replacement; one rng."""
    rng = np.random.default_rng(seed)
    if strata is None:
        groups = [np.arange(n)]
    else:
        strata = np.asarray(strata)
        groups = [np.flatnonzero(strata == s) for s in np.unique(strata)]
    for _ in range(n_boot):
        yield np.concatenate([g[rng.integers(0, len(g), len(g))] for g in groups])


def bootstrap_ci(stat, n: int, *, strata=None, n_boot: int = 1000, seed: int = 0) -> dict:
    """95% percentile intervals of each value ``stat(idx)`` returns (a dict), over ``n_boot`` resamples.

    A key's interval is None when it is defined (finite) in fewer than half the resamples.
    """
    if n_boot <= 0 or n == 0:
        return {}
    draws: dict = {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for idx in bootstrap_indices(strata, n, n_boot, seed):
            for k, v in stat(idx).items():
                draws.setdefault(k, []).append(np.nan if v is None else v)
    out = {}
    for k, vals in draws.items():
        a = np.asarray(vals, dtype=np.float64)
        a = a[np.isfinite(a)]
        out[k] = tuple(np.percentile(a, [2.5, 97.5]).tolist()) if len(a) * 2 >= n_boot else None
    return out


# ====================================================================== classification
def calibration_fit(y01: np.ndarray, p: np.ndarray) -> dict:
    """Calibration intercept (in the large, logit(p) as offset), slope, and the joint model's intercept."""
    from scipy.optimize import brentq
    from scipy.special import expit, logit
    from sklearn.linear_model import LogisticRegression

    y01 = np.asarray(y01, dtype=np.float64)
    if len(y01) < 2 or y01.min() == y01.max():
        return {"intercept": np.nan, "slope": np.nan, "intercept_joint": np.nan}
    lp = logit(np.clip(np.asarray(p, dtype=np.float64), _EPS, 1 - _EPS))
    pos, neg = lp[y01 == 1], lp[y01 == 0]
    if pos.min() > neg.max() or neg.min() > pos.max():
        # completely separated: the likelihood has no maximum, the slope runs to infinity; the
        # intercept in the large is still defined
        slope = joint = np.nan
    else:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            fit = LogisticRegression(C=np.inf, solver="newton-cholesky").fit(lp[:, None], y01.astype(int))
        slope, joint = float(fit.coef_[0, 0]), float(fit.intercept_[0])
    score = lambda a: float(np.sum(y01 - expit(a + lp)))  # noqa: E731 - decreasing in a
    lo, hi = -50.0, 50.0
    intercept = brentq(score, lo, hi) if score(lo) > 0 > score(hi) else np.nan
    return {"intercept": intercept, "slope": slope, "intercept_joint": joint}


def confusion_counts(y: np.ndarray, pred: np.ndarray, k: int) -> np.ndarray:
    """The (k, k) confusion matrix, truth by row and prediction by column (sklearn's ``confusion_matrix``
    layout, counted with one ``bincount``: it runs once per bootstrap resample)."""
    return np.bincount(np.asarray(y) * k + np.asarray(pred), minlength=k * k).reshape(k, k)


def _per_class(cm: np.ndarray) -> np.ndarray:
    """(k, 5) sensitivity, specificity, PPV, NPV, F1 of each class, one against the rest (nan when undefined)."""
    cm = cm.astype(np.float64)
    tp = np.diag(cm)
    fn = cm.sum(axis=1) - tp
    fp = cm.sum(axis=0) - tp
    tn = cm.sum() - tp - fn - fp
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.stack([tp / (tp + fn), tn / (tn + fp), tp / (tp + fp), tn / (tn + fn),
                         2 * tp / (2 * tp + fp + fn)], axis=1)


def auc_score(y01: np.ndarray, score: np.ndarray) -> float:
    """ROC AUC as the Mann-Whitney statistic from scipy's ranks (ties count a half): ``roc_auc_score``'s value."""
    from scipy.stats import rankdata

    y01 = np.asarray(y01).astype(bool)
    n1 = int(y01.sum())
    n0 = len(y01) - n1
    if not n1 or not n0:
        return np.nan
    ranks = rankdata(score)
    return float((ranks[y01].sum() - n1 * (n1 + 1) / 2) / (n1 * n0))


PER_CLASS = ("sensitivity", "specificity", "ppv", "npv", "f1")


def _predict(P: np.ndarray, pos: int | None, threshold: float | None) -> np.ndarray:
    if pos is None or threshold is None:
        return np.argmax(P, axis=1)
    return np.where(P[:, pos] >= threshold, pos, 1 - pos)


def _classification_stats(y, P, k, pos, threshold, full: bool) -> dict:
    """The scalar metrics of these cases, keyed (name, class index or None).

    Accuracy is the confusion matrix's diagonal over its total, balanced accuracy the mean
    sensitivity of the classes present in the truth (as scikit-learn's ``balanced_accuracy_score``).
    """
    from sklearn.metrics import average_precision_score

    pred = _predict(P, pos, threshold)
    cm = confusion_counts(y, pred, k)
    pc = _per_class(cm)
    present = cm.sum(axis=1) > 0
    d = {("accuracy", None): np.trace(cm) / max(cm.sum(), 1),
         ("balanced_accuracy", None): float(np.mean(pc[present, 0])) if present.any() else np.nan}
    for c in range(k):
        for j, name in enumerate(PER_CLASS):
            d[(name, c)] = pc[c, j]
    if not full:
        return d
    if pos is not None:
        y01 = (y == pos).astype(int)
        p = P[:, pos]
        d[("auc", pos)] = auc_score(y01, p)
        d[("average_precision", pos)] = average_precision_score(y01, p) if y01.any() else np.nan
        d[("brier", pos)] = float(np.mean((p - y01) ** 2))  # brier_score_loss's definition, without its checks
        cal = calibration_fit(y01, p)
        d[("calibration_intercept", pos)] = cal["intercept"]
        d[("calibration_slope", pos)] = cal["slope"]
    else:
        aucs = []
        for c in range(k):
            d[("auc", c)] = auc_score(y == c, P[:, c])
            aucs.append(d[("auc", c)])
        # one-against-rest macro AUC, as roc_auc_score(multi_class="ovr"): defined when every class is present
        d[("auc", None)] = float(np.mean(aucs)) if present.all() else np.nan
        onehot = np.eye(k)[y]
        d[("brier", None)] = float(np.mean(np.sum((P - onehot) ** 2, axis=1)))
    return d


_POSITIVE = ("auc", "average_precision", "brier", "calibration_intercept", "calibration_slope")


def _metric_list(values: dict, cis: dict, labels, pos) -> tuple[list, dict]:
    """(overall metrics, per-class metrics by class index) as schema dicts.

    Overall: the metrics of all classes (label None) and a binary classifier's positive-class
    curve metrics (AUC, AP, Brier, calibration; labelled with the positive class).
    """
    overall, per = [], {}
    for (name, c), v in values.items():
        m = metric(name, v, cis.get((name, c)), None if c is None else labels[c])
        if c is None or (c == pos and name in _POSITIVE):
            overall.append(m)
        if c is not None and name in PER_CLASS + ("auc",) and not (c == pos and name == "auc"):
            per.setdefault(c, []).append(m)
    return overall, per


def _classification(y, P, labels, pos, op, n_boot, seed, full=True) -> dict:
    from sklearn.calibration import calibration_curve
    from sklearn.metrics import confusion_matrix, precision_recall_curve, roc_curve

    k = len(labels)
    out: dict = {}
    threshold = None
    if pos is not None:
        y01 = (y == pos).astype(int)
        threshold = choose_threshold(y01, P[:, pos], op) if len(np.unique(y01)) == 2 or op.method == "threshold" \
            else 0.5
        out["operating_point"] = {"method": op.method, "target": None if op.method == "youden" else op.target,
                                  "threshold": float(threshold), "positive": labels[pos]}
    values = _classification_stats(y, P, k, pos, threshold, full)
    cis = bootstrap_ci(lambda idx: _classification_stats(y[idx], P[idx], k, pos, threshold, full), len(y),
                       strata=y, n_boot=n_boot, seed=seed)
    overall, per = _metric_list(values, cis, labels, pos)
    if pos is not None:  # the positive class's one-against-the-rest metrics, at the operating point, up front too
        overall[2:2] = [dict(m) for m in per.get(pos, []) if m["name"] in PER_CLASS]
    out["metrics"] = overall
    out["per_class"] = [{"label": labels[c], "metrics": per.get(c, [])} for c in range(k)]
    pred = _predict(P, pos, threshold)
    counts = confusion_matrix(y, pred, labels=list(range(k)))
    with np.errstate(divide="ignore", invalid="ignore"):
        rows = counts.sum(axis=1, keepdims=True)
        props = np.where(rows > 0, counts / np.maximum(rows, 1), np.nan)
    out["confusion"] = {"labels": list(labels), "counts": counts.astype(int).tolist(),
                        "proportions": [_floats(r) for r in props], "rows": "truth", "columns": "predicted",
                        "proportions_of": "each truth row"}
    out["_pred"] = pred
    if not full:
        return out
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if pos is not None:
            y01 = (y == pos).astype(int)
            p = P[:, pos]
            if 0 < y01.sum() < len(y01):
                fpr, tpr, thr = roc_curve(y01, p)
                out["roc"] = {"fpr": _floats(fpr), "tpr": _floats(tpr), "thresholds": _floats(_finite_thresholds(thr, p)),
                              "auc": _num(values[("auc", pos)]), "positive": labels[pos]}
                prec, rec, _ = precision_recall_curve(y01, p)
                out["pr"] = {"recall": _floats(rec), "precision": _floats(prec),
                             "ap": _num(values[("average_precision", pos)]), "positive": labels[pos]}
                prob_true, prob_pred = calibration_curve(y01, p, n_bins=10, strategy="uniform")
                cal = calibration_fit(y01, p)
                out["calibration"] = {"prob_pred": _floats(prob_pred), "prob_true": _floats(prob_true),
                                      "intercept": _num(cal["intercept"]), "slope": _num(cal["slope"]),
                                      "intercept_joint": _num(cal["intercept_joint"]),
                                      "brier": _num(values[("brier", pos)]), "bins": 10, "positive": labels[pos]}
        else:
            roc = {}
            for c in range(k):
                yc = (y == c).astype(int)
                if 0 < yc.sum() < len(yc):
                    fpr, tpr, thr = roc_curve(yc, P[:, c])
                    roc[labels[c]] = {"fpr": _floats(fpr), "tpr": _floats(tpr),
                                      "thresholds": _floats(_finite_thresholds(thr, P[:, c])),
                                      "auc": _num(values[("auc", c)])}
            out["roc_per_class"] = roc
    return out


def class_probabilities(result, labels) -> np.ndarray | None:
    """A classification result's probability of each class (in ``labels`` order), or None when its top-k
    leaves out more than one class (the scores sum to 1, so one left-out class is what remains)."""
    k = len(labels)
    where = {name: i for i, name in enumerate(labels)}
    p = np.full(k, np.nan)
    for pred in result.top:
        i = where.get(pred.label, pred.index if 0 <= pred.index < k else None)
        if i is not None:
            p[i] = pred.score
    missing = np.isnan(p)
    if missing.sum() == 1:
        p[missing] = max(0.0, 1.0 - float(np.nansum(p)))
    elif missing.any():
        return None
    return p


# ====================================================================== regression
def _regression_stats(y, yhat) -> dict:
    from sklearn.metrics import mean_absolute_error, mean_squared_error, r2_score

    d = {("mae", None): mean_absolute_error(y, yhat), ("rmse", None): math.sqrt(mean_squared_error(y, yhat))}
    d[("r2", None)] = r2_score(y, yhat) if len(y) > 1 and np.ptp(y) > 0 else np.nan
    return d


def _regression(y, yhat, n_boot, seed) -> dict:
    values = _regression_stats(y, yhat)
    cis = bootstrap_ci(lambda idx: _regression_stats(y[idx], yhat[idx]), len(y), n_boot=n_boot, seed=seed)
    diff = yhat - y
    bias = float(np.mean(diff)) if len(y) else np.nan
    sd = float(np.std(diff, ddof=1)) if len(y) > 1 else np.nan
    return {"metrics": [metric(name, v, cis.get((name, c))) for (name, c), v in values.items()],
            "bland_altman": {"mean": _floats((yhat + y) / 2), "diff": _floats(diff), "bias": _num(bias),
                             "loa": [_num(bias - 1.96 * sd), _num(bias + 1.96 * sd)], "diff_is": "predicted - truth"}}


# ====================================================================== detection
def _quiet():
    return contextlib.redirect_stdout(io.StringIO())  # pycocotools prints its progress


def coco_evaluate(gt_boxes: list, dt_boxes: list, labels, conf: float) -> dict:
    """COCOeval over images: ``gt_boxes[i]`` [(class index, xywh, iscrowd)], ``dt_boxes[i]`` [(class index, xywh, score)].

    Returns AP, AP50, per-class AP, and per image the TP, FP and ground-truth counts at IoU 0.5 and ``conf``.
    """
    from pycocotools.coco import COCO
    from pycocotools.cocoeval import COCOeval

    images = [{"id": i + 1, "width": 0, "height": 0} for i in range(len(gt_boxes))]
    cats = [{"id": c + 1, "name": str(name)} for c, name in enumerate(labels)]
    anns, aid = [], 1
    for i, boxes in enumerate(gt_boxes):
        for c, (x, y, w, h), crowd in boxes:
            anns.append({"id": aid, "image_id": i + 1, "category_id": c + 1, "bbox": [x, y, w, h], "area": w * h,
                         "iscrowd": int(crowd)})
            aid += 1
    dts = [{"image_id": i + 1, "category_id": c + 1, "bbox": list(b), "score": float(s)}
           for i, boxes in enumerate(dt_boxes) for c, b, s in boxes]
    counts = np.zeros((len(gt_boxes), 3))  # tp, fp, gt
    out = {"ap": np.nan, "ap50": np.nan, "per_class_ap": {}, "counts": counts}
    with _quiet():
        gt = COCO()
        gt.dataset = {"images": images, "annotations": anns, "categories": cats}
        gt.createIndex()
        if not dts:
            counts[:, 2] = [sum(1 for b in boxes if not b[2]) for boxes in gt_boxes]
            out.update(ap=0.0 if anns else np.nan, ap50=0.0 if anns else np.nan)
            return out
        dt = gt.loadRes(dts)
        ev = COCOeval(gt, dt, "bbox")
        ev.evaluate()
        ev.accumulate()
        ev.summarize()
    out["ap"], out["ap50"] = float(ev.stats[0]), float(ev.stats[1])
    prec = ev.eval["precision"]  # T, R, K, A, M
    for k, cat in enumerate(ev.params.catIds):
        pk = prec[:, :, k, 0, -1]
        pk = pk[pk > -1]
        out["per_class_ap"][cat - 1] = float(np.mean(pk)) if pk.size else np.nan
    all_area = ev.params.areaRng[0]
    for e in ev.evalImgs:
        if e is None or list(e["aRng"]) != list(all_area):
            continue
        i = e["image_id"] - 1
        scores = np.asarray(e["dtScores"])
        m = np.asarray(e["dtMatches"])[0] if len(scores) else np.zeros(0)
        ig = np.asarray(e["dtIgnore"])[0].astype(bool) if len(scores) else np.zeros(0, bool)
        above = scores >= conf
        counts[i, 0] += np.count_nonzero((m > 0) & ~ig & above)
        counts[i, 1] += np.count_nonzero((m == 0) & ~ig & above)
        counts[i, 2] += np.count_nonzero(np.asarray(e["gtIgnore"]) == 0)
    return out


def _pr_stats(counts) -> dict:
    tp, fp, gt = counts.sum(axis=0)
    with np.errstate(divide="ignore", invalid="ignore"):
        return {("precision", None): tp / (tp + fp) if tp + fp else np.nan,
                ("recall", None): tp / gt if gt else np.nan}


# ====================================================================== segmentation
def dice_iou(pred: np.ndarray, truth: np.ndarray, classes) -> dict:
    """Per class value ``c``: (Dice, IoU) of ``pred == c`` against ``truth == c`` (nan when neither has it)."""
    out = {}
    for c in classes:
        a, b = pred == c, truth == c
        inter, sa, sb = np.count_nonzero(a & b), np.count_nonzero(a), np.count_nonzero(b)
        union = sa + sb - inter
        out[c] = (2 * inter / (sa + sb) if sa + sb else np.nan, inter / union if union else np.nan)
    return out


# ====================================================================== evaluate
def _results(batches_or_results):
    from ..resultbatch import ResultBatch

    for x in batches_or_results:
        if isinstance(x, ResultBatch):
            yield from x.results()
        else:
            yield x


def _key(r) -> list:
    return [r.input, r.row]


def _group_value(r, column: str, dicom_cache: dict):
    """A result's subgroup value: its CSV pass-through column, else the DICOM tag of that keyword."""
    if r.passthrough and column in r.passthrough:
        v = r.passthrough[column]
        return None if v is None or str(v).strip() == "" else str(v).strip()
    if str(getattr(r, "kind", "")) == "dicom" or str(r.input).lower().endswith((".dcm", ".dicom")):
        if r.input not in dicom_cache:
            try:
                import pydicom

                dicom_cache[r.input] = pydicom.dcmread(r.input, stop_before_pixels=True)
            except Exception:  # noqa: BLE001 - an unreadable header has no tags: the case is left out of the split
                dicom_cache[r.input] = None
        ds = dicom_cache[r.input]
        v = getattr(ds, column, None) if ds is not None else None
        return None if v is None or str(v).strip() == "" else str(v).strip()
    return None


def evaluate(batches_or_results, truth: Truth, *, task: str, labels, operating_point: OperatingPoint | None = None,
             subgroups=(), n_boot: int = 1000, seed: int = 0, positive: str | None = None,
             conf: float | None = None) -> Evaluation:
    """Compare results with their truth and measure, with 95% bootstrap intervals.

    Parameters
    ----------
    batches_or_results
        ResultBatch objects or Result objects (failed ones are counted and left out).
    truth
        From :func:`~desktop.engine.validation.truth.load_truth`.
    task
        "classification", "regression", "detection" or "segmentation".
    labels
        The model's class names, in class-index order (a classifier's, a detector's).
    operating_point
        A binary classifier's threshold rule (default: threshold 0.5 on the positive class).
    subgroups
        Pass-through CSV columns or DICOM keywords to split by; each group gets the same metrics,
        or ``too_few`` when it has under MIN_GROUP cases (or under MIN_PER_CLASS of a class).
    n_boot, seed
        Bootstrap resamples (0: no intervals) and the seed of ``numpy.random.default_rng``.
    positive
        A binary classifier's positive class (default: its second class).
    conf
        A detector's score threshold for precision and recall (default: the run's).
    """
    task = str(getattr(task, "value", task))
    if task not in TASKS:
        raise ValueError(f"cannot evaluate a {task} model: evaluation covers {', '.join(TASKS)}")
    labels = [str(x) for x in labels]
    results = list(_results(batches_or_results))
    failed = sum(1 for r in results if not r.ok)
    scored = [r for r in results if r.ok]
    raw = [truth.lookup(r.input, r.row, r.passthrough) for r in scored]
    missing = sum(1 for v in raw if v is None)
    have = [(r, v) for r, v in zip(scored, raw) if v is not None]
    common = {"failed": failed, "scored": len(scored), "definitions": __doc__.split("Definitions", 1)[1].strip()}
    if task == "classification":
        ev = _evaluate_classification(have, truth, labels, operating_point, subgroups, n_boot, seed, positive)
    elif task == "regression":
        ev = _evaluate_regression(have, truth, subgroups, n_boot, seed)
    elif task == "detection":
        ev = _evaluate_detection(have, truth, labels, n_boot, seed, conf)
    else:
        ev = _evaluate_segmentation(have, truth, labels)
    ev.missing_truth = missing
    ev.extra = {**common, **ev.extra}
    ev.extra.setdefault("subgroups", [])
    return ev


def _unmatched(values: list, count: int) -> dict:
    return {"count": int(count), "values": sorted(set(values))[:100]}


def _evaluate_classification(have, truth, labels, op, subgroups, n_boot, seed, positive) -> Evaluation:
    from .truth import TruthError

    k = len(labels)
    match: LabelMatch = match_labels([v for _, v in have], labels)
    rows, ys, ps, bad = [], [], [], 0
    no_probs = 0
    for r, v in have:
        c = match(v)
        if c is None:
            bad += 1
            continue
        p = class_probabilities(r, labels)
        if p is None:
            no_probs += 1
            continue
        rows.append(r)
        ys.append(c)
        ps.append(p)
    if not rows:
        why = (f"none of the truth values is one of the model's classes ({', '.join(labels[:10])}): "
               f"{', '.join(match.unmatched[:10])}" if bad else "no scored case has a truth value"
               if not no_probs else "the results keep too few classes' scores: score with --top-k "
               f"{k} (the number of classes)")
        raise TruthError(f"nothing to evaluate: {why}")
    y, P = np.asarray(ys, dtype=int), np.vstack(ps)
    pos = None
    if k == 2:
        pos = 1 if positive is None else labels.index(positive) if positive in labels else None
        if pos is None:
            raise TruthError(f"--positive {positive}: not one of the model's classes ({', '.join(labels)})")
    op = op or OperatingPoint()
    out = _classification(y, P, labels, pos, op, n_boot, seed)
    pred = out.pop("_pred")
    score = P[:, pos] if pos is not None else P[np.arange(len(y)), pred]
    out["cases"] = [{"key": _key(r), "truth": labels[t], "predicted": labels[q], "score": _num(s),
                     "correct": bool(t == q)} for r, t, q, s in zip(rows, y.tolist(), pred.tolist(), score.tolist())]
    if no_probs:
        out["without_scores"] = no_probs
    out["subgroups"] = _subgroups(rows, subgroups, lambda idx: _group_classification(y[idx], P[idx], labels, pos, op,
                                                                                     n_boot, seed), y)
    return Evaluation("classification", len(y), truth.source, _unmatched(match.unmatched, bad), 0,
                      out.pop("metrics"), out)


def _group_classification(y, P, labels, pos, op, n_boot, seed) -> list:
    counts = np.bincount(y, minlength=len(labels))
    present = counts[counts > 0]
    if len(y) < MIN_GROUP or len(present) < 2 or present.min() < MIN_PER_CLASS:
        return None
    # the overall operating point's threshold, not one chosen again inside the group
    return _classification(y, P, labels, pos, op, n_boot, seed, full=True)["metrics"]


def _subgroups(rows, columns, measure, y=None) -> list:
    out = []
    cache: dict = {}
    for column in columns:
        values = [_group_value(r, column, cache) for r in rows]
        groups = []
        for value in sorted({v for v in values if v is not None}, key=str):
            idx = np.flatnonzero(np.array([v == value for v in values]))
            m = measure(idx)
            groups.append({"value": value, "n": int(len(idx)), "too_few": m is None, "metrics": m or []})
        left = sum(1 for v in values if v is None)
        entry = {"column": column, "groups": groups}
        if left:
            entry["without_value"] = left
        out.append(entry)
    return out


def _evaluate_regression(have, truth, subgroups, n_boot, seed) -> Evaluation:
    from .truth import TruthError

    rows, ys, yh, bad_values, bad = [], [], [], [], 0
    for r, v in have:
        t = to_number(v)
        if t is None:
            bad += 1
            bad_values.append(str(v).strip())
            continue
        if not r.values:
            continue
        rows.append(r)
        ys.append(t)
        yh.append(float(r.values[0]))
    if not rows:
        raise TruthError("nothing to evaluate: " + (f"the truth is not numbers ({', '.join(sorted(set(bad_values))[:10])})"
                                                    if bad else "no scored case has a truth value"))
    y, yhat = np.asarray(ys), np.asarray(yh)
    out = _regression(y, yhat, n_boot, seed)
    out["cases"] = [{"key": _key(r), "truth": float(t), "predicted": float(p), "score": None, "correct": None}
                    for r, t, p in zip(rows, ys, yh)]

    def measure(idx):
        return None if len(idx) < MIN_GROUP else _regression(y[idx], yhat[idx], n_boot, seed)["metrics"]

    out["subgroups"] = _subgroups(rows, subgroups, measure)
    return Evaluation("regression", len(y), truth.source, _unmatched(bad_values, bad), 0, out.pop("metrics"), out)


def _evaluate_detection(have, truth, labels, n_boot, seed, conf) -> Evaluation:
    from .truth import TruthError

    names = [b.label for _, v in have for b in v if isinstance(b, Box)]
    match = match_labels([str(n) for n in names], labels)
    gt, dt, rows, bad = [], [], [], 0
    for r, boxes in have:
        g = []
        for b in boxes:
            c = match(str(b.label))
            if c is None:
                bad += 1
                continue
            g.append((c, tuple(b.bbox), b.iscrowd))
        gt.append(g)
        dt.append([(d.index, (d.box[0], d.box[1], d.box[2] - d.box[0], d.box[3] - d.box[1]), d.score)
                   for d in r.candidates])
        rows.append(r)
    if not rows:
        raise TruthError("nothing to evaluate: no scored image has ground-truth boxes in the truth given")
    threshold = float(conf if conf is not None else (rows[0].conf or 0.0))
    res = coco_evaluate(gt, dt, labels, threshold)
    counts = res["counts"]
    values = _pr_stats(counts)
    cis = bootstrap_ci(lambda idx: _pr_stats(counts[idx]), len(rows), n_boot=n_boot, seed=seed)
    metrics = [metric(name, v, cis.get((name, None))) for (name, _), v in values.items()]
    metrics += [metric("ap50", res["ap50"]), metric("ap", res["ap"])]
    per_class = [{"label": labels[c], "metrics": [metric("ap", ap, label=labels[c])]}
                 for c, ap in sorted(res["per_class_ap"].items())]
    cases = [{"key": _key(r), "truth": f"{int(n_gt)} boxes", "predicted": f"{int(tp + fp)} boxes", "score": None,
              "correct": None, "tp": int(tp), "fp": int(fp), "gt": int(n_gt)}
             for r, (tp, fp, n_gt) in zip(rows, counts.tolist())]
    extra = {"per_class": per_class, "cases": cases, "conf": threshold, "iou": 0.5}
    return Evaluation("detection", len(rows), truth.source, _unmatched(match.unmatched, bad), 0, metrics, extra)


def _evaluate_segmentation(have, truth, labels) -> Evaluation:
    from .truth import TruthError

    per_class: dict = {}
    cases, bad = [], []
    for r, path in have:
        view = r.masks
        if view is None:
            continue
        pred = np.asarray(view.label_map())
        try:
            from PIL import Image

            with Image.open(path) as im:
                true = np.asarray(im)
        except OSError as exc:
            bad.append(os.path.basename(str(path)))
            continue
        if true.shape[:2] != pred.shape[:2]:
            bad.append(os.path.basename(str(path)))
            continue
        true = true[..., 0] if true.ndim == 3 else true
        names = list(view.names) if getattr(view, "names", None) else labels
        classes = [c for c in range(len(names)) if not (c == 0 and names[0] == "background")]
        scores = dice_iou(pred, true, classes)
        case_metrics = []
        for c, (dice, iou) in scores.items():
            per_class.setdefault(names[c], []).append((dice, iou))
            case_metrics += [metric("dice", dice, label=names[c]), metric("iou", iou, label=names[c])]
        cases.append({"key": _key(r), "truth": os.path.basename(str(path)), "predicted": r.mask_file or "",
                      "score": None, "correct": None, "metrics": case_metrics})
    if not cases:
        raise TruthError("nothing to evaluate: no scored image has a truth mask of its size")
    pcs, allv = [], []
    for name, vals in per_class.items():
        a = np.asarray(vals, dtype=np.float64)
        pcs.append({"label": name, "metrics": [metric("dice", np.nanmean(a[:, 0]), label=name),
                                               metric("iou", np.nanmean(a[:, 1]), label=name)]})
        allv.append(a)
    a = np.vstack(allv)
    metrics = [metric("dice", np.nanmean(a[:, 0])), metric("iou", np.nanmean(a[:, 1]))]
    return Evaluation("segmentation", len(cases), truth.source, _unmatched(bad, len(bad)), 0, metrics,
                      {"per_class": pcs, "cases": cases})
