"""Evaluation metrics against values computed here with numpy, scikit-learn, scipy and pycocotools."""

from __future__ import annotations

import json
from dataclasses import replace

import numpy as np
import pytest
from scipy.special import expit, logit
from sklearn.calibration import calibration_curve
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import (accuracy_score, average_precision_score, balanced_accuracy_score, brier_score_loss,
                             confusion_matrix, f1_score, mean_absolute_error, mean_squared_error, precision_score,
                             r2_score, recall_score, roc_auc_score, roc_curve)

from desktop.engine.results import Detection, Prediction, Result
from desktop.engine.validation import OperatingPoint, Truth, evaluate, parse_operating_point
from desktop.engine.validation.metrics import calibration_fit, coco_evaluate
from desktop.engine.validation.truth import Box, norm

LABELS = ["neg", "pos"]


def _binary_cases(n=120, seed=3):
    rng = np.random.default_rng(seed)
    y = (rng.random(n) < 0.4).astype(int)
    p = np.clip(expit(1.3 * (y * 2 - 1) + rng.normal(0, 1.2, n)), 1e-4, 1 - 1e-4)
    return y, p


def _results(y, p, labels=LABELS, passthrough=None):
    """CSV-row results of a binary classifier scoring p for 'pos', with the truth in column 'truth'."""
    out = []
    for i, (t, s) in enumerate(zip(y.tolist(), p.tolist())):
        top = sorted([Prediction(labels[0], 0, 1 - s), Prediction(labels[1], 1, s)], key=lambda x: -x.score)
        extra = {"truth": labels[t], **({k: v[i] for k, v in passthrough.items()} if passthrough else {})}
        out.append(Result(index=i, input="cases.csv", row=i + 1, ok=True, top=tuple(top), passthrough=extra))
    return out


def _column_truth():
    return Truth(source="column 'truth'", kind="column", column="truth")


def _m(ev, name, label=None):
    m = ev.metric(name, label)
    assert m is not None, (name, label, [(x["name"], x["label"]) for x in ev.metrics])
    return m


def test_binary_metrics_match_sklearn():
    y, p = _binary_cases()
    ev = evaluate(_results(y, p), _column_truth(), task="classification", labels=LABELS, n_boot=0)
    pred = (p >= 0.5).astype(int)
    assert ev.to_dict()["confusion"]["counts"] == confusion_matrix(y, pred).tolist()
    assert _m(ev, "accuracy")["value"] == pytest.approx(accuracy_score(y, pred))
    assert _m(ev, "balanced_accuracy")["value"] == pytest.approx(balanced_accuracy_score(y, pred))
    assert _m(ev, "auc", "pos")["value"] == pytest.approx(roc_auc_score(y, p))
    assert _m(ev, "average_precision", "pos")["value"] == pytest.approx(average_precision_score(y, p))
    assert _m(ev, "brier", "pos")["value"] == pytest.approx(brier_score_loss(y, p))
    assert _m(ev, "sensitivity", "pos")["value"] == pytest.approx(recall_score(y, pred))
    assert _m(ev, "specificity", "pos")["value"] == pytest.approx(recall_score(1 - y, 1 - pred))
    assert _m(ev, "ppv", "pos")["value"] == pytest.approx(precision_score(y, pred))
    assert _m(ev, "npv", "pos")["value"] == pytest.approx(precision_score(1 - y, 1 - pred))
    assert _m(ev, "f1", "pos")["value"] == pytest.approx(f1_score(y, pred))
    d = ev.to_dict()
    fpr, tpr, _ = roc_curve(y, p)
    assert d["roc"]["fpr"] == pytest.approx(fpr.tolist()) and d["roc"]["tpr"] == pytest.approx(tpr.tolist())
    assert d["roc"]["auc"] == pytest.approx(roc_auc_score(y, p))
    prob_true, prob_pred = calibration_curve(y, p, n_bins=10)
    assert d["calibration"]["prob_true"] == pytest.approx(prob_true.tolist())
    assert d["calibration"]["prob_pred"] == pytest.approx(prob_pred.tolist())
    props = np.asarray(d["confusion"]["proportions"])
    assert props == pytest.approx(confusion_matrix(y, pred, normalize="true"))
    json.dumps(d, allow_nan=False)  # JSON as it is


def test_schema_keys():
    y, p = _binary_cases(40)
    d = evaluate(_results(y, p), _column_truth(), task="classification", labels=LABELS, n_boot=20).to_dict()
    for key in ("task", "n", "truth_source", "unmatched", "missing_truth", "metrics", "confusion", "per_class", "roc",
                "pr", "calibration", "operating_point", "cases", "subgroups"):
        assert key in d, key
    assert set(d["unmatched"]) >= {"count", "values"}
    assert set(d["metrics"][0]) == {"name", "value", "ci", "label"}
    assert set(d["cases"][0]) >= {"key", "truth", "predicted", "score", "correct"}
    assert d["cases"][0]["key"] == ["cases.csv", 1]
    assert set(d["operating_point"]) >= {"method", "target", "threshold", "positive"}
    assert d["operating_point"]["positive"] == "pos"
    assert set(d["pr"]) >= {"recall", "precision", "ap"}
    assert set(d["calibration"]) >= {"prob_pred", "prob_true", "intercept", "slope", "brier"}


def test_calibration_slope_and_intercept_match_a_logistic_fit():
    y, p = _binary_cases(300, seed=5)
    cal = calibration_fit(y, p)
    lp = logit(np.clip(p, 1e-6, 1 - 1e-6))
    fit = LogisticRegression(C=np.inf, max_iter=10_000, tol=1e-10).fit(lp[:, None], y)
    assert cal["slope"] == pytest.approx(fit.coef_[0, 0], rel=1e-4)
    assert cal["intercept_joint"] == pytest.approx(fit.intercept_[0], abs=1e-4)
    # calibration in the large: with logit(p) as offset, the fitted probabilities average to the prevalence
    assert np.mean(expit(cal["intercept"] + lp)) == pytest.approx(y.mean(), abs=1e-9)
    ev = evaluate(_results(y, p), _column_truth(), task="classification", labels=LABELS, n_boot=0)
    assert _m(ev, "calibration_slope", "pos")["value"] == pytest.approx(cal["slope"])
    assert ev.to_dict()["calibration"]["intercept"] == pytest.approx(cal["intercept"])


def test_calibration_slope_is_none_when_the_score_separates_the_truth():
    y = np.array([0, 0, 0, 1, 1, 1])
    p = np.array([0.1, 0.2, 0.3, 0.7, 0.8, 0.9])
    assert np.isnan(calibration_fit(y, p)["slope"])
    ev = evaluate(_results(y, p), _column_truth(), task="classification", labels=LABELS, n_boot=0)
    assert _m(ev, "calibration_slope", "pos")["value"] is None


def test_bootstrap_interval_recomputed_with_the_same_seed():
    y, p = _binary_cases(80, seed=11)
    n_boot, seed = 200, 7
    ev = evaluate(_results(y, p), _column_truth(), task="classification", labels=LABELS, n_boot=n_boot, seed=seed)
    rng = np.random.default_rng(seed)
    strata = [np.flatnonzero(y == c) for c in np.unique(y)]
    aucs, accs = [], []
    for _ in range(n_boot):
        idx = np.concatenate([g[rng.integers(0, len(g), len(g))] for g in strata])
        aucs.append(roc_auc_score(y[idx], p[idx]))
        accs.append(accuracy_score(y[idx], (p[idx] >= 0.5).astype(int)))
    assert _m(ev, "auc", "pos")["ci"] == pytest.approx(np.percentile(aucs, [2.5, 97.5]).tolist())
    assert _m(ev, "accuracy")["ci"] == pytest.approx(np.percentile(accs, [2.5, 97.5]).tolist())
    again = evaluate(_results(y, p), _column_truth(), task="classification", labels=LABELS, n_boot=n_boot, seed=seed)
    assert again.to_dict()["metrics"] == ev.to_dict()["metrics"]  # seeded: the same intervals every time


@pytest.mark.parametrize("rule", ["youden", "sensitivity=0.9", "specificity=0.8", "threshold=0.3"])
def test_operating_points(rule):
    y, p = _binary_cases(150, seed=2)
    op = parse_operating_point(rule)
    ev = evaluate(_results(y, p), _column_truth(), task="classification", labels=LABELS, operating_point=op, n_boot=0)
    t = ev.to_dict()["operating_point"]["threshold"]
    fpr, tpr, thr = roc_curve(y, p, drop_intermediate=False)
    pred = (p >= t).astype(int)
    sens, spec = recall_score(y, pred), recall_score(1 - y, 1 - pred)
    assert _m(ev, "sensitivity", "pos")["value"] == pytest.approx(sens)
    if op.method == "youden":
        assert sens + spec - 1 == pytest.approx(np.max(tpr - fpr))
    elif op.method == "sensitivity":
        assert sens >= 0.9 and spec == pytest.approx(np.max(1 - fpr[tpr >= 0.9]))
    elif op.method == "specificity":
        assert spec >= 0.8 and sens == pytest.approx(np.max(tpr[1 - fpr >= 0.8]))
    else:
        assert t == 0.3


@pytest.mark.parametrize("text", ["youdn", "sensitivity=", "threshold=2", "specificity=abc"])
def test_bad_operating_point_is_refused_plainly(text):
    with pytest.raises(ValueError, match="--operating-point"):
        parse_operating_point(text)


def test_multiclass_metrics_match_sklearn():
    rng = np.random.default_rng(4)
    labels = ["a", "b", "c"]
    y = rng.integers(0, 3, 90)
    logits = rng.normal(0, 1, (90, 3)) + 1.5 * np.eye(3)[y]
    P = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    results = [Result(index=i, input="m.csv", row=i + 1, ok=True,
                      top=tuple(Prediction(labels[c], c, P[i, c]) for c in np.argsort(-P[i])),
                      passthrough={"truth": labels[y[i]]}) for i in range(len(y))]
    ev = evaluate(results, _column_truth(), task="classification", labels=labels, n_boot=0)
    pred = P.argmax(axis=1)
    d = ev.to_dict()
    assert d["confusion"]["counts"] == confusion_matrix(y, pred).tolist()
    assert _m(ev, "auc")["value"] == pytest.approx(roc_auc_score(y, P, multi_class="ovr"))
    assert _m(ev, "brier")["value"] == pytest.approx(brier_score_loss(y, P, labels=[0, 1, 2]))
    rec = recall_score(y, pred, average=None)
    for c, name in enumerate(labels):
        pc = next(x for x in d["per_class"] if x["label"] == name)
        sens = next(m for m in pc["metrics"] if m["name"] == "sensitivity")
        assert sens["value"] == pytest.approx(rec[c])
    assert set(d["roc_per_class"]) == set(labels)


def test_unmatched_and_missing_truth_are_counted_not_guessed():
    y, p = _binary_cases(30)
    results = _results(y, p)
    results[0] = replace(results[0], passthrough={"truth": "maybe"})
    results[1] = replace(results[1], passthrough={"truth": ""})
    results.append(Result(index=99, input="cases.csv", row=99, ok=False, error="bad row"))
    d = evaluate(results, _column_truth(), task="classification", labels=LABELS, n_boot=0).to_dict()
    assert d["unmatched"] == {"count": 1, "values": ["maybe"]}
    assert d["missing_truth"] == 1 and d["failed"] == 1 and d["n"] == 28


def test_subgroups_with_too_few_marked():
    y, p = _binary_cases(60, seed=9)
    site = np.array(["A"] * 50 + ["B"] * 10)
    site[-3:] = "C"
    d = evaluate(_results(y, p, passthrough={"site": site.tolist()}), _column_truth(), task="classification",
                 labels=LABELS, subgroups=["site"], n_boot=50).to_dict()
    groups = {g["value"]: g for g in d["subgroups"][0]["groups"]}
    assert d["subgroups"][0]["column"] == "site"
    assert groups["A"]["n"] == 50 and not groups["A"]["too_few"]
    a = np.arange(50)
    auc_a = next(m for m in groups["A"]["metrics"] if m["name"] == "auc")
    assert auc_a["value"] == pytest.approx(roc_auc_score(y[a], p[a])) and auc_a["ci"] is not None
    assert groups["C"]["too_few"] and groups["C"]["metrics"] == []


def test_regression_metrics_and_bland_altman():
    rng = np.random.default_rng(1)
    y = rng.normal(50, 10, 70)
    yhat = y + rng.normal(2, 5, 70)
    results = [Result(index=i, input="r.csv", row=i + 1, ok=True, values=(float(yhat[i]),),
                      passthrough={"truth": repr(float(y[i]))}) for i in range(70)]
    ev = evaluate(results, _column_truth(), task="regression", labels=(), n_boot=100, seed=3)
    assert _m(ev, "mae")["value"] == pytest.approx(mean_absolute_error(y, yhat))
    assert _m(ev, "rmse")["value"] == pytest.approx(np.sqrt(mean_squared_error(y, yhat)))
    assert _m(ev, "r2")["value"] == pytest.approx(r2_score(y, yhat))
    rng2 = np.random.default_rng(3)
    maes = []
    for _ in range(100):
        idx = rng2.integers(0, 70, 70)
        maes.append(mean_absolute_error(y[idx], yhat[idx]))
    assert _m(ev, "mae")["ci"] == pytest.approx(np.percentile(maes, [2.5, 97.5]).tolist())
    ba = ev.to_dict()["bland_altman"]
    d = yhat - y
    assert ba["bias"] == pytest.approx(d.mean())
    assert ba["loa"] == pytest.approx([d.mean() - 1.96 * d.std(ddof=1), d.mean() + 1.96 * d.std(ddof=1)])


def test_non_numeric_regression_truth_is_unmatched_and_all_of_it_refused():
    from desktop.engine.validation import TruthError

    results = [Result(index=i, input="r.csv", row=i + 1, ok=True, values=(1.0,),
                      passthrough={"truth": t}) for i, t in enumerate(["1.5", "high", "2", "n/a"])]
    d = evaluate(results, _column_truth(), task="regression", labels=(), n_boot=0).to_dict()
    assert d["unmatched"] == {"count": 2, "values": ["high", "n/a"]} and d["n"] == 2
    bad = [Result(index=0, input="r.csv", row=1, ok=True, values=(1.0,), passthrough={"truth": "high"})]
    with pytest.raises(TruthError, match="not numbers"):
        evaluate(bad, _column_truth(), task="regression", labels=(), n_boot=0)


# ---------------------------------------------------------------------- detection against pycocotools
def _detection_case(seed=0, n_images=6):
    rng = np.random.default_rng(seed)
    gts, dts = [], []
    for _ in range(n_images):
        g, d = [], []
        for _ in range(rng.integers(1, 5)):
            c = int(rng.integers(0, 2))
            x, y, w, h = rng.uniform(0, 200), rng.uniform(0, 200), rng.uniform(10, 80), rng.uniform(10, 80)
            g.append((c, (x, y, w, h)))
            if rng.random() < 0.8:  # found, a little off
                d.append((c, (x + rng.normal(0, 4), y + rng.normal(0, 4), w * rng.uniform(0.8, 1.2), h), rng.random()))
        for _ in range(rng.integers(0, 3)):  # false alarms
            d.append((int(rng.integers(0, 2)), (rng.uniform(0, 200), rng.uniform(0, 200), 30.0, 30.0), rng.random()))
        gts.append(g)
        dts.append(d)
    return gts, dts


def _pycocotools_stats(gts, dts):
    import contextlib
    import io

    from pycocotools.coco import COCO
    from pycocotools.cocoeval import COCOeval

    gt = COCO()
    anns = [{"id": k + 1, "image_id": i + 1, "category_id": c + 1, "bbox": list(b), "area": b[2] * b[3], "iscrowd": 0}
            for k, (i, (c, b)) in enumerate((i, x) for i, g in enumerate(gts) for x in g)]
    gt.dataset = {"images": [{"id": i + 1} for i in range(len(gts))], "annotations": anns,
                  "categories": [{"id": 1, "name": "cat"}, {"id": 2, "name": "dog"}]}
    with contextlib.redirect_stdout(io.StringIO()):
        gt.createIndex()
        dt = gt.loadRes([{"image_id": i + 1, "category_id": c + 1, "bbox": list(b), "score": s}
                         for i, d in enumerate(dts) for c, b, s in d])
        ev = COCOeval(gt, dt, "bbox")
        ev.evaluate()
        ev.accumulate()
        ev.summarize()
    return ev


def test_detection_ap_matches_pycocotools():
    gts, dts = _detection_case()
    ref = _pycocotools_stats(gts, dts)
    res = coco_evaluate([[(c, b, 0) for c, b in g] for g in gts], dts, ["cat", "dog"], conf=0.3)
    assert res["ap"] == pytest.approx(ref.stats[0]) and res["ap50"] == pytest.approx(ref.stats[1])

    # the same through evaluate(), from Results with candidates (xyxy) and a COCO-style truth
    truth = Truth(source="coco", values={})
    results = []
    for i, (g, d) in enumerate(zip(gts, dts)):
        path = f"/data/img{i}.png"
        truth.values[(norm(path), None)] = [Box(["cat", "dog"][c], b) for c, b in g]
        cands = tuple(Detection(["cat", "dog"][c], c, s, (b[0], b[1], b[0] + b[2], b[1] + b[3]))
                      for c, b, s in sorted(d, key=lambda x: -x[2]))
        results.append(Result(index=i, input=path, row=None, ok=True, candidates=cands, conf=0.3))
    ev = evaluate(results, truth, task="detection", labels=["cat", "dog"], n_boot=50)
    assert _m(ev, "ap")["value"] == pytest.approx(ref.stats[0], abs=1e-9)
    assert _m(ev, "ap50")["value"] == pytest.approx(ref.stats[1], abs=1e-9)
    # precision and recall at IoU 0.5 and the threshold, from pycocotools' own matches
    tp = fp = npos = 0
    for e in ref.evalImgs:
        if e is None or list(e["aRng"]) != list(ref.params.areaRng[0]):
            continue
        s = np.asarray(e["dtScores"])
        if len(s):
            m, ig = np.asarray(e["dtMatches"])[0], np.asarray(e["dtIgnore"])[0].astype(bool)
            tp += np.sum((m > 0) & ~ig & (s >= 0.3))
            fp += np.sum((m == 0) & ~ig & (s >= 0.3))
        npos += np.sum(np.asarray(e["gtIgnore"]) == 0)
    assert _m(ev, "precision")["value"] == pytest.approx(tp / (tp + fp))
    assert _m(ev, "recall")["value"] == pytest.approx(tp / npos)
    json.dumps(ev.to_dict(), allow_nan=False)


def test_segmentation_dice_and_iou():
    from desktop.engine.validation.metrics import dice_iou

    pred = np.array([[0, 1, 1], [0, 1, 2], [2, 2, 0]])
    truth = np.array([[0, 1, 0], [0, 1, 2], [2, 0, 0]])
    out = dice_iou(pred, truth, [1, 2])
    a, b = pred == 1, truth == 1
    assert out[1][0] == pytest.approx(2 * (a & b).sum() / (a.sum() + b.sum()))
    assert out[1][1] == pytest.approx((a & b).sum() / (a | b).sum())
    assert out[2] == pytest.approx((2 * 2 / 5, 2 / 3))
