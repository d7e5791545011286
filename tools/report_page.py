"""Make docs/screenshots/report-page.png: a page of the report of a real run of the breast-cancer sample model.

Scores resources/samples/breast_cancer.csv with models/breast_cancer.onnx into a throw-away
history, works out a plain evaluation against the CSV's ``diagnosis`` column (ROC, AUC, the
confusion matrix at 0.5; no intervals: 20 rows are too few), writes the PDF with
``desktop.report.write_report`` and turns its results page into a PNG with pdftoppm.

    python tools/report_page.py [--page N] [--out docs/screenshots/report-page.png]
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent


def _roc(truth: np.ndarray, score: np.ndarray) -> dict:
    order = np.argsort(-score, kind="stable")
    t, s = truth[order], score[order]
    tps, fps = np.cumsum(t), np.cumsum(1 - t)
    tpr = np.concatenate([[0.0], tps / max(t.sum(), 1)])
    fpr = np.concatenate([[0.0], fps / max((1 - t).sum(), 1)])
    auc = float(np.sum(np.diff(fpr) * (tpr[1:] + tpr[:-1]) / 2))
    precision = tps / np.arange(1, len(t) + 1)
    return {"roc": {"fpr": fpr.tolist(), "tpr": tpr.tolist(), "thresholds": [1.0] + s.tolist(), "auc": auc},
            "pr": {"recall": (tps / max(t.sum(), 1)).tolist(), "precision": precision.tolist(),
                   "ap": float(np.sum(np.diff(np.concatenate([[0.0], tps / max(t.sum(), 1)])) * precision))}}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--page", type=int, default=2, help="the page to show (2: the results, with the metrics and the ROC curve)")
    ap.add_argument("--out", default=str(ROOT / "docs" / "screenshots" / "report-page.png"))
    args = ap.parse_args(argv)
    if shutil.which("pdftoppm") is None:
        sys.exit("report_page: needs pdftoppm (poppler-utils)")
    work = Path(tempfile.mkdtemp(prefix="inferdesk-report-"))
    os.environ["INFERDESK_DATA_DIR"] = str(work / "data")
    os.environ["INFERDESK_CONFIG_DIR"] = str(work / "config")
    sys.path.insert(0, str(ROOT))
    from desktop.cli import main as cli
    from desktop.report import write_report
    from desktop.runs.history import list_runs
    from desktop.runs.report_context import build_context

    csv_path = ROOT / "resources" / "samples" / "breast_cancer.csv"
    out = work / "results.jsonl"
    if cli(["score", str(ROOT / "models" / "breast_cancer.onnx"), str(csv_path), "--out", str(out), "-q"]) != 0:
        return 1
    with open(csv_path, newline="", encoding="utf-8") as fh:
        truth_by_row = {n: r["diagnosis"] for n, r in enumerate(csv.DictReader(fh), 1)}
    records = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines() if line.strip()]
    positive = "malignant"
    score = np.array([next(t["score"] for t in r["top"] if t["label"] == positive) for r in records])
    truth = np.array([1 if truth_by_row[r["row"]] == positive else 0 for r in records])
    pred = (score >= 0.5).astype(int)
    tp, tn = int(((pred == 1) & (truth == 1)).sum()), int(((pred == 0) & (truth == 0)).sum())
    fp, fn = int(((pred == 1) & (truth == 0)).sum()), int(((pred == 0) & (truth == 1)).sum())
    curves = _roc(truth, score)
    evaluation = {
        "task": "classification", "n": len(records), "truth_source": "breast_cancer.csv · column diagnosis",
        "metrics": [{"name": "auc", "label": "AUC", "value": curves["roc"]["auc"], "ci": None},
                    {"name": "accuracy", "label": "Accuracy", "value": (tp + tn) / len(records), "ci": None},
                    {"name": "sensitivity", "label": "Sensitivity", "value": tp / max(tp + fn, 1), "ci": None},
                    {"name": "specificity", "label": "Specificity", "value": tn / max(tn + fp, 1), "ci": None}],
        "confusion": {"labels": ["malignant", "benign"], "counts": [[tp, fn], [fp, tn]]},
        "operating_point": {"method": "fixed", "target": None, "threshold": 0.5, "positive": positive},
        **curves,
    }
    run = list_runs()[0]
    ctx = build_context(run_id=run.id, evaluation=evaluation, case_limit=0)
    pdf = write_report(work / "report.pdf", ctx)
    subprocess.run(["pdftoppm", "-png", "-r", "80", "-f", str(args.page), "-l", str(args.page), "-singlefile",
                    str(pdf), str(work / "page")], check=True)
    shutil.copyfile(work / "page.png", args.out)
    print(f"wrote page {args.page} of {pdf} to {args.out}")
    shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
