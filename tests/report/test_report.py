"""The report: a PDF whose pages are not blank and whose text layer names the model and its metrics; the same HTML."""

from __future__ import annotations

import io
import os
import re
import shutil
import subprocess
import sys

import numpy as np
import pytest

from desktop.report import build, format_ci, format_value, write_report
from desktop.runs.report_context import build_context, latency_summary
from tests.conftest import MODELS, ROOT, SAMPLES

DIGITS = sorted((SAMPLES / "digits").glob("*.png"))


def _poppler():
    """pdftoppm and pdftotext, or a skip on a machine without them (never in CI, which installs them)."""
    if shutil.which("pdftoppm") is None or shutil.which("pdftotext") is None:
        if not os.environ.get("CI"):
            pytest.skip("pdftoppm and pdftotext (poppler-utils) are not installed")
        pytest.fail("CI must have pdftoppm and pdftotext (poppler-utils): .ci/run installs them")


def full_context() -> dict:
    """A synthetic validation of a classifier with every key the report reads."""
    x = np.linspace(0, 1, 40)
    rng = np.random.default_rng(0)
    metric = lambda name, label, value, ci=None: {"name": name, "label": label, "value": value, "ci": ci}  # noqa: E731
    return {
        "title": "Validation of digits.onnx", "created": "2026-12-02T09:00:00+00:00", "run_id": "0123456789ab",
        "model": {"name": "digits.onnx", "sha256": "ab" * 32, "description": "Handwritten <digit> classifier",
                  "metadata": {"Intended_Use": "Research use only, not for clinical decisions.",
                               "source": "<script>alert(1)</script>"},
                  "path": str(MODELS / "digits.onnx")},
        "profile": "grey, 8×8 stretch, pixels / 16",
        "environment": {"app": "InferDesk 0.1.0", "onnxruntime": "1.20.1", "provider": "CPUExecutionProvider",
                        "machine": "test-host (x86_64, 2 cores)", "os": "Linux"},
        "evaluation": {
            "task": "classification", "n": 120, "truth_source": "truth.csv · column label",
            "unmatched": {"count": 2, "values": ["ten"]}, "missing_truth": 1,
            "metrics": [metric("auc", None, 0.9534, [0.9121, 0.9788]), metric("accuracy", None, 0.875),
                        metric("sensitivity", "malignant", 0.9, [0.81, 0.95])],
            "confusion": {"labels": ["benign", "malignant"], "counts": [[50, 10], [5, 55]]},
            "per_class": [{"label": "benign", "metrics": [metric("recall", None, 0.833)]},
                          {"label": "malignant", "metrics": [metric("recall", None, 0.917)]}],
            "roc": {"fpr": (x ** 2).tolist(), "tpr": np.sqrt(x).tolist(), "thresholds": (1 - x).tolist(),
                    "auc": 0.9534},
            "pr": {"recall": x.tolist(), "precision": (1 - 0.4 * x ** 3).tolist(), "ap": 0.921},
            "calibration": {"prob_pred": [0.1, 0.3, 0.5, 0.7, 0.9], "prob_true": [0.06, 0.27, 0.52, 0.74, 0.91],
                            "intercept": 0.02, "slope": 0.97, "brier": 0.081},
            "operating_point": {"method": "youden", "target": None, "threshold": 0.5, "positive": "malignant"},
            "bland_altman": {"mean": (rng.random(30) * 10).tolist(), "diff": rng.normal(0, 1, 30).tolist(),
                             "bias": 0.1, "loa": [-1.9, 2.1]},
            "subgroups": [{"column": "sex", "groups": [
                {"value": "F", "n": 60, "too_few": False, "metrics": [metric("auc", "AUC", 0.94, [0.9, 0.97])]},
                {"value": "X", "n": 3, "too_few": True, "metrics": []}]}],
        },
        "cases": [{"input": p.name, "image": str(p), "overlay_png": None, "top": [["3", 0.91], ["8", 0.05]],
                   "values": [], "truth": "3",
                   "decision": {"decision": "override", "label": "8", "reason": "loop <closed>", "reviewer": "ana",
                                "at": "2026-12-01T10:00:00Z"} if k else None}
                  for k, p in enumerate(DIGITS[:2])],
        "latency": {"n": 120, "p50": 1.25, "p95": 2.5, "p99": 3.75, "mean": 1.5, "items_per_s": 666.7,
                    "provider": "CPUExecutionProvider"},
        "audit_head": "f00d" * 16,
    }


def _pdf_text(pdf) -> str:
    return subprocess.run(["pdftotext", "-layout", str(pdf), "-"], check=True, capture_output=True,
                          text=True).stdout


def _pages(pdf, folder) -> list:
    subprocess.run(["pdftoppm", "-png", "-r", "50", str(pdf), str(folder / "page")], check=True)
    return sorted(folder.glob("page-*.png"), key=lambda p: int(re.findall(r"\d+", p.stem)[-1]))


def test_pdf_pages_are_not_blank_and_their_text_names_the_model_and_metrics(tmp_path):
    from PIL import Image

    _poppler()
    pdf = write_report(tmp_path / "report.pdf", full_context())
    assert pdf.read_bytes().startswith(b"%PDF")
    pages = _pages(pdf, tmp_path)
    # front, results, two pages of charts, confusion matrix, subgroups, two cases, latency
    assert len(pages) >= 2
    first = np.asarray(Image.open(pages[0]).convert("L"), dtype=np.float64)
    assert first.std() > 10, "the first page is blank"
    text = _pdf_text(pdf)
    assert "digits.onnx" in text
    assert "AUC" in text
    assert format_value(0.9534) in text and format_value(0.9534) == "0.953"
    assert format_ci([0.9121, 0.9788]) in text
    assert "Research use only, not for clinical decisions." in text  # the banner
    assert "<script>" in text  # shown as text, not taken as markup
    assert "ab" * 32 in text and "f00d" * 16 in text
    assert f"page 1 of {len(pages)}" in text and f"page {len(pages)} of {len(pages)}" in text
    assert "Case 2 of 2" in text and "overridden" in text and "loop <closed>" in text


def test_banner_is_on_the_first_page(tmp_path):
    _poppler()
    pdf = write_report(tmp_path / "report.pdf", full_context())
    first = subprocess.run(["pdftotext", "-f", "1", "-l", "1", str(pdf), "-"], check=True, capture_output=True,
                           text=True).stdout
    assert "Intended use" in first and "Research use only" in first
    # above the results too
    html = build(full_context()).html
    results = html.index(">Results</h2>")
    assert "Research use only" in html[results:html.index("<h3>Metrics</h3>")]


def test_html_is_self_contained_with_the_same_texts(tmp_path):
    out = write_report(tmp_path / "report.html", full_context())
    html = out.read_text(encoding="utf-8")
    assert "http://" not in html and "https://" not in html and "file://" not in html
    sources = re.findall(r'src="([^"]*)"', html)
    assert sources and all(s.startswith("data:image/png;base64,") for s in sources)
    # ROC, PR, calibration, Bland-Altman, confusion matrix and two case images
    assert len(sources) == 7
    for text in ("digits.onnx", "AUC", "0.953", "0.912 – 0.979", "Research use only", "f00d" * 16):
        assert text in html
    assert "<script>" not in html and "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "Handwritten &lt;digit&gt; classifier" in html


def test_a_context_with_keys_missing_still_renders(tmp_path):
    _poppler()
    for ctx in ({}, {"model": {"name": "m.onnx"}}, {"evaluation": {"metrics": [{"name": "mae", "value": 1.5}]},
                                                     "cases": [{"input": "a.csv · row 3"}]},
                {"evaluation": {"roc": {"fpr": [0.0], "tpr": [0.0]}, "confusion": {"labels": ["a"], "counts": []}},
                 "cases": [{"input": "gone.png", "image": str(tmp_path / "gone.png"), "top": [["a", 1]]}]}):
        pdf = write_report(tmp_path / "r.pdf", ctx)
        assert pdf.stat().st_size > 0
        assert _pdf_text(pdf)
        write_report(tmp_path / "r.html", ctx)
    text = _pdf_text(tmp_path / "r.pdf")
    assert "The image could not be shown" in text


def test_a_large_image_and_its_overlay_are_embedded_downscaled(tmp_path):
    from PIL import Image

    big = tmp_path / "big.png"
    Image.new("RGB", (3000, 2000), "white").save(big)
    overlay = io.BytesIO()
    Image.new("RGBA", (300, 200), (255, 0, 0, 128)).save(overlay, "PNG")
    built = build({"cases": [{"input": "big.png", "image": str(big), "overlay_png": overlay.getvalue()}]})
    assert len(built.images) == 1
    img = Image.open(io.BytesIO(built.images[0]))
    assert max(img.size) == 1200 and img.size == (1200, 800)
    r, g, b, _ = img.convert("RGBA").getpixel((600, 400))
    assert r == 255 and g < 200 and b < 200  # the red overlay over the white image


def test_a_dicom_case_image_is_read_with_the_engine(tmp_path):
    dicoms = sorted((SAMPLES / "dicom").rglob("*.dcm"))
    if not dicoms:
        pytest.skip("no DICOM sample")
    built = build({"cases": [{"input": dicoms[0].name, "image": str(dicoms[0])}]})
    assert len(built.images) == 1


def test_an_unknown_suffix_is_refused(tmp_path):
    from desktop.report import ReportError

    with pytest.raises(ReportError, match=r"\.pdf or \.html"):
        write_report(tmp_path / "report.docx", {})
    assert not list(tmp_path.iterdir())


def test_latency_summary_percentiles():
    lat = latency_summary(np.arange(1, 101, dtype=float), provider="CPUExecutionProvider")
    assert lat["n"] == 100 and lat["p50"] == pytest.approx(50.5) and lat["p99"] == pytest.approx(99.01)
    assert lat["mean"] == pytest.approx(50.5) and lat["items_per_s"] == pytest.approx(1000 / 50.5)
    assert latency_summary([]) is None
    assert latency_summary([10.0, 10.0], wall_s=0.01)["items_per_s"] == pytest.approx(200)


def test_context_of_a_recorded_run_and_the_report_command(tmp_path, capsys):
    from desktop.cli import main
    from desktop.runs.history import list_runs

    _poppler()
    assert main(["score", str(MODELS / "digits.onnx"), str(SAMPLES / "digits"), "--out",
                 str(tmp_path / "out.jsonl"), "-q"]) == 0
    run = list_runs()[0]
    ctx = build_context(run_id=run.id, case_limit=3)
    assert ctx["run_id"] == run.id and ctx["model"]["name"] == "digits.onnx"
    assert ctx["model"]["sha256"] == run.model_sha256 and "metadata" in ctx["model"]
    assert ctx["profile"] and ctx["environment"]["provider"] == run.provider
    assert ctx["latency"]["n"] == 10 and ctx["latency"]["p50"] > 0
    assert len(ctx["cases"]) == 3 and all(c["image"] and c["top"] for c in ctx["cases"])
    assert re.fullmatch(r"[0-9a-f]{64}", ctx["audit_head"]) and set(ctx["audit_head"]) != {"0"}

    capsys.readouterr()
    assert main(["report", run.id[:6], "--out", str(tmp_path / "run.pdf"), "--cases", "2"]) == 0
    assert "wrote the report of run" in capsys.readouterr().err
    text = _pdf_text(tmp_path / "run.pdf")
    assert "digits.onnx" in text and "Latency" in text and ctx["audit_head"] in text and "Case 2 of 2" in text
    assert main(["report", run.id, "--out", str(tmp_path / "run.html")]) == 0
    assert main(["report", "ffffff", "--out", str(tmp_path / "x.pdf")]) == 2
    assert main(["report", run.id, "--out", str(tmp_path / "x.txt")]) == 2
    assert "must end in .pdf or .html" in capsys.readouterr().err


def test_the_report_package_imports_no_widgets():
    code = ("import sys, desktop.report, desktop.runs.report_context;"
            "bad = [m for m in sys.modules if m.startswith(('PySide6.QtWidgets', 'pyqtgraph', 'superqt'))];"
            "print(bad); sys.exit(1 if bad else 0)")
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True,
                          env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert done.returncode == 0, done.stdout + done.stderr


def test_the_report_context_imports_no_qt():
    code = ("import sys, desktop.runs.report_context;"
            "bad = [m for m in sys.modules if m.split('.')[0] in ('PySide6', 'shiboken6')];"
            "print(bad); sys.exit(1 if bad else 0)")
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True,
                          env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert done.returncode == 0, done.stdout + done.stderr


def test_a_comparison_of_two_models_gets_its_own_section():
    side = lambda name, p50: {"name": name, "path": f"/m/{name}", "sha256": "cd" * 32, "size_bytes": 1000,  # noqa: E731
                              "load_s": 0.01, "p50_ms": p50, "p95_ms": p50 * 1.5, "items_per_s": 1000 / p50}
    ctx = {"title": "Validation of scene.onnx",
           "comparison": {"a": side("scene.onnx", 16.2), "b": side("scene.static.onnx", 9.2), "n": 40,
                          "top1_agreement": 1.0, "boxes": None, "speedup": 1.76, "bound": 0.99,
                          "outputs": [{"name": "logits", "max_abs_diff": 0.031, "mean_abs_diff": 0.004}],
                          "accuracy": None,
                          "verdict": {"recommended": True, "text": "Static INT8: 1.76× faster, 100.0% top-1 agreement "
                                                                   "on 40 of your images — recommended"}}}
    html = build(ctx).html
    assert "Model comparison" in html and "scene.static.onnx" in html and "1.76×" in html
    assert "— recommended" in html and "logits" in html and "100.0%" in html
    assert "Model comparison" not in build({"title": "x"}).html
