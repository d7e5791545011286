"""The self-test: it passes on the bundled samples, in-process and as ``python -m desktop --self-test``,
and fails (exit 1, one line) when an expected answer or a sample model is tampered with."""

from __future__ import annotations

import io
import json
import os
import shutil
import subprocess
import sys

import pytest

from desktop.selftest import SAMPLES, run_self_test
from tests.conftest import ROOT


def _verdict(root=None) -> tuple[int, str]:
    buf = io.StringIO()
    code = run_self_test(root, out=buf)
    return code, buf.getvalue()


@pytest.fixture
def bundle_copy(tmp_path):
    """A copy of the resource root (models/ and resources/samples/) that a test may damage."""
    shutil.copytree(ROOT / "models", tmp_path / "models", ignore=shutil.ignore_patterns("*.py"))
    shutil.copytree(ROOT / "resources" / "samples", tmp_path / "resources" / "samples")
    return tmp_path


def test_passes_in_process():
    code, text = _verdict()
    assert code == 0, text
    assert text.count("\n") == 1 and text.startswith("self-test passed: ")
    assert f"{len(SAMPLES)} models" in text and "51 items" in text


def test_expected_files_cover_every_sample_model_and_are_small():
    for model in SAMPLES:
        path = ROOT / "resources" / "samples" / "expected" / (model.rsplit(".", 1)[0] + ".json")
        doc = json.loads(path.read_text(encoding="utf-8"))
        assert doc["model"] == model and doc["items"] and all(i["ok"] for i in doc["items"])
        assert path.stat().st_size < 20_000


def test_passes_as_a_subprocess_without_qt():
    env = {k: v for k, v in os.environ.items() if not k.startswith("QT_")}
    code = ("import sys, desktop.__main__ as m; rc = m.main(['--self-test']); "
            "assert 'PySide6' not in sys.modules, 'self-test imported Qt'; sys.exit(rc)")
    proc = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=120)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert proc.stdout.startswith("self-test passed: ") and proc.stdout.count("\n") == 1


def test_python_m_desktop_self_test():
    proc = subprocess.run([sys.executable, "-m", "desktop", "--self-test"], cwd=ROOT, capture_output=True,
                          text=True, timeout=120)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "all match" in proc.stdout


def test_copy_of_the_samples_passes(bundle_copy):
    code, text = _verdict(bundle_copy)
    assert code == 0, text


def test_tampered_label_fails(bundle_copy):
    path = bundle_copy / "resources" / "samples" / "expected" / "digits.json"
    doc = json.loads(path.read_text(encoding="utf-8"))
    item = next(i for i in doc["items"] if "digit_3_" in i["input"])
    item["top"]["label"] = "5"
    path.write_text(json.dumps(doc), encoding="utf-8")
    code, text = _verdict(bundle_copy)
    assert code == 1
    assert text.count("\n") == 1
    assert text.startswith("self-test FAILED: digits.onnx digit_3_705.png: expected '5'")


def test_tampered_value_beyond_tolerance_fails_and_within_passes(bundle_copy):
    path = bundle_copy / "resources" / "samples" / "expected" / "diabetes.json"
    doc = json.loads(path.read_text(encoding="utf-8"))
    original = doc["items"][2]["values"][0]
    doc["items"][2]["values"][0] = original * (1 + 1e-6)  # inside rtol 1e-4
    path.write_text(json.dumps(doc), encoding="utf-8")
    assert _verdict(bundle_copy)[0] == 0
    doc["items"][2]["values"][0] = original + 0.5
    path.write_text(json.dumps(doc), encoding="utf-8")
    code, text = _verdict(bundle_copy)
    assert code == 1 and "diabetes.onnx diabetes.csv row 3: value[0]" in text, text


def _layout_doc(bundle_copy):
    path = bundle_copy / "resources" / "samples" / "expected" / "layout_cdla.json"
    return path, json.loads(path.read_text(encoding="utf-8"))


def test_a_detection_moved_beyond_tolerance_fails_and_within_passes(bundle_copy):
    path, doc = _layout_doc(bundle_copy)
    item = next(i for i in doc["items"] if i["input"].endswith("report_page.png"))
    det = next(d for d in item["detections"] if d["label"] == "table")
    x1 = det["box"][0]
    det["box"][0] = x1 + 0.3  # inside box_px 0.5
    path.write_text(json.dumps(doc), encoding="utf-8")
    assert _verdict(bundle_copy)[0] == 0
    det["box"][0] = x1 + 3
    path.write_text(json.dumps(doc), encoding="utf-8")
    code, text = _verdict(bundle_copy)
    assert code == 1 and text.startswith("self-test FAILED: layout_cdla.onnx report_page.png: expected 'table'"), text
    assert "px off" in text


def test_a_detection_with_another_label_or_a_missing_one_fails(bundle_copy):
    path, doc = _layout_doc(bundle_copy)
    dets = doc["items"][0]["detections"]
    label = dets[0]["label"]
    dets[0]["label"] = "equation"
    path.write_text(json.dumps(doc), encoding="utf-8")
    code, text = _verdict(bundle_copy)
    assert code == 1 and "got none with that label" in text, text
    dets[0]["label"] = label
    dets.pop()
    path.write_text(json.dumps(doc), encoding="utf-8")
    code, text = _verdict(bundle_copy)
    assert code == 1 and "detections, got" in text, text


def test_tampered_model_fails(bundle_copy):
    model = bundle_copy / "models" / "breast_cancer.onnx"
    model.write_bytes(model.read_bytes() + b"\0")
    code, text = _verdict(bundle_copy)
    assert code == 1 and "breast_cancer.onnx" in text and "sha256" in text


def test_missing_expected_file_fails(bundle_copy):
    (bundle_copy / "resources" / "samples" / "expected" / "scene.json").unlink()
    code, text = _verdict(bundle_copy)
    assert code == 1 and "no expected results for scene.onnx" in text


def test_tampered_file_fails_in_a_subprocess_with_exit_1(bundle_copy):
    path = bundle_copy / "resources" / "samples" / "expected" / "breast_cancer.json"
    doc = json.loads(path.read_text(encoding="utf-8"))
    doc["items"][0]["outputs"]["output_probability"]["benign"] = 0.5
    path.write_text(json.dumps(doc), encoding="utf-8")
    proc = subprocess.run([sys.executable, "-m", "desktop.selftest", "--root", str(bundle_copy)], cwd=ROOT,
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 1
    assert proc.stdout.startswith("self-test FAILED: breast_cancer.onnx breast_cancer.csv row 1: "
                                  "output_probability[benign]"), proc.stdout


def test_version_names_app_onnxruntime_qt_and_python():
    proc = subprocess.run([sys.executable, "-m", "desktop", "--version"], cwd=ROOT, capture_output=True,
                          text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    from desktop import __version__

    for word in (f"inferdesk {__version__}", "onnxruntime ", "qt 6.", "python 3."):
        assert word in proc.stdout
