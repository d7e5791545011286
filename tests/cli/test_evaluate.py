"""``inferdesk evaluate`` on the bundled samples: the numbers scikit-learn gives on the same predictions."""

from __future__ import annotations

import csv
import json
import shutil
import sys
import types

import numpy as np
import pytest
from sklearn.metrics import confusion_matrix, roc_auc_score

from desktop.cli import main
from tests.conftest import MODELS, SAMPLES

BC_MODEL, BC_CSV = str(MODELS / "breast_cancer.onnx"), str(SAMPLES / "breast_cancer.csv")


def _json(capsys, argv):
    assert main(argv) == 0
    return json.loads(capsys.readouterr().out)


def test_breast_cancer_confusion_and_auc_match_sklearn(capsys):
    d = _json(capsys, ["evaluate", BC_MODEL, BC_CSV, "--truth", "diagnosis", "--json", "--bootstrap", "50"])
    # the model's own predictions, scored here without evaluate
    assert main(["score", BC_MODEL, BC_CSV, "--no-history", "--quiet"]) == 0
    records = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    with open(BC_CSV, newline="") as fh:
        truth = [row["diagnosis"] for row in csv.DictReader(fh)]
    labels = ["malignant", "benign"]
    y = np.array([labels.index(t) for t in truth])
    p_benign = np.array([next(x["score"] for x in r["top"] if x["label"] == "benign") for r in records])
    pred = np.array([labels.index(r["top"][0]["label"]) for r in records])
    assert d["task"] == "classification" and d["n"] == len(y) == 20
    assert d["confusion"]["labels"] == labels
    assert d["confusion"]["counts"] == confusion_matrix(y, pred).tolist()
    assert d["roc"]["auc"] == pytest.approx(roc_auc_score(y == 1, p_benign))
    auc = next(m for m in d["metrics"] if m["name"] == "auc")
    assert auc["value"] == pytest.approx(roc_auc_score(y == 1, p_benign)) and auc["label"] == "benign"
    assert d["truth_source"] == "column 'diagnosis' of breast_cancer.csv"
    assert d["unmatched"] == {"count": 0, "values": []} and d["missing_truth"] == 0
    assert d["run_id"]  # recorded in the history like a score
    assert main(["history", "list", "--json"]) == 0
    assert d["run_id"] in {r["id"] for r in json.loads(capsys.readouterr().out)}


def test_table_names_metrics_intervals_and_the_confusion_matrix(capsys):
    assert main(["evaluate", BC_MODEL, BC_CSV, "--bootstrap", "30", "--operating-point", "youden",
                 "--positive", "malignant", "--no-history"]) == 0
    out = capsys.readouterr().out
    assert "truth: column 'diagnosis' of breast_cancer.csv" in out  # offered: the column is named diagnosis
    assert "95% CI" in out and "AUC" in out and "Balanced accuracy" in out and "confusion matrix (rows: truth, columns: predicted)" in out
    assert "positive class malignant" in out and "(youden)" in out


def test_unknown_truth_column_exits_2_naming_the_columns(capsys):
    assert main(["evaluate", BC_MODEL, BC_CSV, "--truth", "diagnosiss", "--no-history"]) == 2
    err = capsys.readouterr().err
    assert "--truth diagnosiss: no such column in breast_cancer.csv; its columns are patient_id" in err


def test_unmatched_labels_are_reported(tmp_path, capsys):
    rows = list(csv.reader(open(BC_CSV, newline="")))
    rows[1][-1], rows[2][-1] = "M", "unknown"
    data = tmp_path / "bc.csv"
    with open(data, "w", newline="") as fh:
        csv.writer(fh).writerows(rows)
    d = _json(capsys, ["evaluate", BC_MODEL, str(data), "--json", "--bootstrap", "0", "--no-history"])
    assert d["unmatched"] == {"count": 2, "values": ["M", "unknown"]} and d["n"] == 18
    assert main(["evaluate", BC_MODEL, str(data), "--bootstrap", "0", "--no-history"]) == 0
    assert "unmatched truth values (left out, not guessed): M, unknown" in capsys.readouterr().out


def test_missing_truth_rows_are_counted(tmp_path, capsys):
    rows = list(csv.reader(open(BC_CSV, newline="")))
    rows[3][-1] = ""
    data = tmp_path / "bc.csv"
    with open(data, "w", newline="") as fh:
        csv.writer(fh).writerows(rows)
    d = _json(capsys, ["evaluate", BC_MODEL, str(data), "--json", "--bootstrap", "0", "--no-history"])
    assert d["missing_truth"] == 1 and d["n"] == 19


def test_digits_folders_and_sidecar(tmp_path, capsys):
    root = tmp_path / "digits"
    for f in sorted(SAMPLES.glob("digits/*.png")):
        label = f.name.split("_")[1]
        (root / label).mkdir(parents=True, exist_ok=True)
        shutil.copy(f, root / label / f.name)
    d = _json(capsys, ["evaluate", str(MODELS / "digits.onnx"), str(root), "--truth", str(root), "--json",
                       "--bootstrap", "0", "--no-history"])
    assert d["n"] == 10 and np.trace(np.array(d["confusion"]["counts"])) == 10  # every sample is classified right
    assert set(d["roc_per_class"]) <= {str(k) for k in range(10)}
    sidecar = tmp_path / "truth.csv"
    sidecar.write_text("input,label\n" + "".join(f"{f.name},{f.name.split('_')[1]}\n"
                                                  for f in sorted(SAMPLES.glob("digits/*.png"))))
    d = _json(capsys, ["evaluate", str(MODELS / "digits.onnx"), str(SAMPLES / "digits"), "--truth", str(sidecar),
                       "--json", "--bootstrap", "0", "--no-history"])
    assert d["n"] == 10 and d["metrics"][0] == {"name": "accuracy", "value": 1.0, "ci": None, "label": None}


def test_regression_sample(capsys):
    d = _json(capsys, ["evaluate", str(MODELS / "diabetes.onnx"), str(SAMPLES / "diabetes.csv"), "--truth",
                       "progression", "--json", "--bootstrap", "20", "--no-history"])
    assert d["task"] == "regression" and {m["name"] for m in d["metrics"]} == {"mae", "rmse", "r2"}
    assert len(d["bland_altman"]["diff"]) == d["n"]


def test_bad_operating_point_exits_2(capsys):
    assert main(["evaluate", BC_MODEL, BC_CSV, "--operating-point", "sensitivity=high", "--no-history"]) == 2
    assert "--operating-point sensitivity=high: 'high' is not a number" in capsys.readouterr().err


def test_report_without_desktop_report_exits_2(capsys, monkeypatch):
    monkeypatch.setitem(sys.modules, "desktop.report", None)  # as if the module were not installed
    assert main(["evaluate", BC_MODEL, BC_CSV, "--report", "out.pdf", "--no-history"]) == 2
    assert "the report needs desktop.report" in capsys.readouterr().err


def test_report_gets_the_context(tmp_path, capsys, monkeypatch):
    seen = {}
    fake = types.ModuleType("desktop.report")
    fake.write_report = lambda path, context: seen.update(path=path, context=context)
    monkeypatch.setitem(sys.modules, "desktop.report", fake)
    out = tmp_path / "r.pdf"
    assert main(["evaluate", BC_MODEL, BC_CSV, "--report", str(out), "--bootstrap", "0"]) == 0
    ctx = seen["context"]
    assert seen["path"] == str(out)
    assert set(ctx) >= {"evaluation", "model", "profile", "environment", "run_id"}
    assert ctx["evaluation"]["task"] == "classification" and ctx["model"]["name"] == "breast_cancer.onnx"
    assert len(ctx["model"]["sha256"]) == 64 and ctx["run_id"]
    json.dumps(ctx, allow_nan=False)


def test_evaluate_run_from_the_history(capsys):
    from desktop.runs.validation import evaluate_run

    d = _json(capsys, ["evaluate", BC_MODEL, BC_CSV, "--json", "--bootstrap", "0"])
    again = evaluate_run(d["run_id"], "diagnosis", n_boot=0).to_dict()
    assert again["confusion"] == d["confusion"] and again["roc"]["auc"] == d["roc"]["auc"]
    assert again["run_id"] == d["run_id"]


def test_detector_against_its_own_coco_export(tmp_path, capsys):
    """The layout sample's detections above the threshold, as COCO ground truth: precision and recall 1, AP 1."""
    model, pages = str(MODELS / "layout_cdla.onnx"), str(SAMPLES / "layout")
    results = tmp_path / "results.json"
    assert main(["score", model, pages, "--format", "coco", "--out", str(results), "--no-history", "--quiet"]) == 0
    dets = json.loads(results.read_text())
    images = json.loads((tmp_path / "results.images.json").read_text())
    assert dets, "the sample pages have detections"
    gt = {"images": [{"id": im["id"], "file_name": im["file_name"]} for im in images["images"]],
          "categories": [{"id": c["id"], "name": c["name"]} for c in images["categories"]],
          "annotations": [{"id": k + 1, "image_id": d["image_id"], "category_id": d["category_id"], "bbox": d["bbox"]}
                          for k, d in enumerate(dets)]}
    truth = tmp_path / "instances.json"
    truth.write_text(json.dumps(gt))
    d = _json(capsys, ["evaluate", model, pages, "--truth", str(truth), "--json", "--bootstrap", "20",
                       "--no-history"])
    got = {m["name"]: m["value"] for m in d["metrics"]}
    assert d["task"] == "detection" and d["n"] == len(gt["images"])
    assert got["precision"] == pytest.approx(1.0) and got["recall"] == pytest.approx(1.0)
    assert got["ap50"] == pytest.approx(1.0, abs=0.02)
    assert d["unmatched"]["count"] == 0
