"""Make docs/screenshots/report-page.png: a page of the report of a real run of the breast-cancer sample model.

Scores resources/samples/breast_cancer.csv with models/breast_cancer.onnx into a throw-away
history, evaluates it against the CSV's ``diagnosis`` column as ``inferdesk evaluate`` does
(desktop.runs.validation), writes the PDF with ``desktop.report.write_report`` and turns its
results page into a PNG with pdftoppm.

    python tools/report_page.py [--page N] [--out docs/screenshots/report-page.png]
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


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
    from desktop.engine.validation import OperatingPoint
    from desktop.runs.report_context import build_context
    from desktop.runs.validation import evaluate_run

    csv_path = ROOT / "resources" / "samples" / "breast_cancer.csv"
    if cli(["score", str(ROOT / "models" / "breast_cancer.onnx"), str(csv_path), "-q", "--out",
            str(work / "results.jsonl")]) != 0:
        return 1
    run = list_runs()[0]
    # the evaluation inferdesk evaluate and the Validation tab make: against the CSV's diagnosis column,
    # malignant the positive class, Youden's threshold, 1,000 stratified bootstrap resamples
    evaluation = evaluate_run(run.id, "diagnosis", positive="malignant",
                              operating_point=OperatingPoint("youden", None)).to_dict()
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
