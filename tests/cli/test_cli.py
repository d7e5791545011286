"""The inferdesk command line: output formats, exit codes 0/1/2, one-line errors, Qt-free imports."""

from __future__ import annotations

import csv
import io
import json
import subprocess
import sys

import pytest

from desktop.cli import main
from tests.conftest import MODELS, ROOT, SAMPLES


def _jsonl(text):
    return [json.loads(line) for line in text.splitlines() if line.strip()]


def test_score_digits_jsonl(capsys):
    assert main(["score", str(MODELS / "digits.onnx"), str(SAMPLES / "digits"), "--top-k", "3"]) == 0
    out, err = capsys.readouterr()
    records = _jsonl(out)
    assert len(records) == 10
    for rec in records:
        assert set(rec) >= {"input", "row", "ok", "error", "outputs", "top", "timings_ms"}
        assert rec["ok"] and rec["error"] is None and rec["row"] is None
        assert rec["top"][0]["label"] == rec["input"].split("digit_")[1][0]
        assert len(rec["top"]) == 3 and set(rec["top"][0]) == {"label", "index", "score"}
        assert len(rec["outputs"]["logits"]) == 10
        assert set(rec["timings_ms"]) == {"decode", "preprocess", "infer", "postprocess"}
    assert "digits.onnx" in err and "CPUExecutionProvider" in err and "10 scored, 0 failed" in err


def test_score_breast_cancer_zipmap_json(capsys):
    assert main(["score", str(MODELS / "breast_cancer.onnx"), str(SAMPLES / "breast_cancer.csv")]) == 0
    records = _jsonl(capsys.readouterr().out)
    assert [r["row"] for r in records] == list(range(1, 21))
    probs = records[0]["outputs"]["output_probability"]
    assert set(probs) == {"malignant", "benign"} and sum(probs.values()) == pytest.approx(1, abs=1e-5)


def test_score_csv_format_to_file(tmp_path, capsys):
    out = tmp_path / "res.csv"
    code = main(["score", str(MODELS / "diabetes.onnx"), str(SAMPLES / "diabetes.csv"), "--format", "csv",
                 "--out", str(out), "-q"])
    assert code == 0 and capsys.readouterr().err == ""
    rows = list(csv.DictReader(io.StringIO(out.read_text())))
    assert len(rows) == 15
    assert {"input", "row", "ok", "error", "variable", "infer_ms"} <= set(rows[0])
    assert float(rows[0]["variable"]) > 0 and rows[0]["ok"] == "true"
    assert float(rows[0]["value"]) == float(rows[0]["variable"])


def test_folder_with_bad_images_exits_1(tmp_path, capsys):
    good = (SAMPLES / "digits" / "digit_7_1496.png").read_bytes()
    (tmp_path / "1_good.png").write_bytes(good)
    (tmp_path / "2_corrupt.png").write_bytes(b"\x89PNG\r\n\x1a\n" + b"garbage" * 10)
    (tmp_path / "3_empty.jpg").write_bytes(b"")
    assert main(["score", str(MODELS / "digits.onnx"), str(tmp_path)]) == 1
    out, err = capsys.readouterr()
    recs = _jsonl(out)
    assert [r["ok"] for r in recs] == [True, False, False]
    assert recs[0]["top"][0]["label"] == "7"
    assert recs[1]["error"].startswith("2_corrupt.png: ")
    assert recs[2]["error"] == "3_empty.jpg: the file is empty (0 bytes)"
    assert "1 scored, 2 failed" in err


def test_save_inputs(tmp_path, capsys):
    assert main(["score", str(MODELS / "digits.onnx"), str(SAMPLES / "digits" / "digit_4_1221.png"),
                 "--save-inputs", str(tmp_path / "seen")]) == 0
    rec = _jsonl(capsys.readouterr().out)[0]
    import numpy as np

    assert np.load(rec["saved_input"]).shape == (1, 1, 16, 16)


@pytest.mark.parametrize("argv, message", [
    (["score", "nope.onnx", "x.png"], "Model file not found: nope.onnx"),
    (["info", str(SAMPLES)], "is a folder, not a model file"),
    (["score", str(MODELS / "digits.onnx"), "x.png", "--provider", "warp"], "Execution provider 'warp' is not available"),
    (["score", str(MODELS / "digits.onnx"), "x.png", "--profile", "missing.json"], "Profile file not found"),
    (["score", str(MODELS / "digits.onnx"), "x.png", "--top-k", "0"], "must be 1 or more"),
    (["score", str(MODELS / "digits.onnx"), "x.png", "--threads", "many"], "'many' is not a whole number"),
    (["score", str(MODELS / "digits.onnx")], "the following arguments are required: INPUT"),
    (["frobnicate"], "invalid choice"),
])
def test_nothing_could_run_exits_2_with_one_line(argv, message, capsys):
    assert main(argv) == 2
    out, err = capsys.readouterr()
    assert out == ""
    assert err.count("\n") == 1 and message in err and "Traceback" not in err
    assert err.startswith("inferdesk: ")


def test_bad_profile_exits_2(tmp_path, capsys):
    prof = tmp_path / "p.json"
    prof.write_text(json.dumps({"image": {"color": "purple"}}))
    assert main(["score", str(MODELS / "digits.onnx"), str(SAMPLES / "digits"), "--profile", str(prof)]) == 2
    assert "image.color must be one of" in capsys.readouterr().err


def test_only_failures_exit_1(tmp_path, capsys):
    assert main(["score", str(MODELS / "digits.onnx"), str(tmp_path / "missing.png")]) == 1
    assert "File not found" in capsys.readouterr().err


def test_info_text_and_json(capsys):
    assert main(["info", str(MODELS / "breast_cancer.onnx")]) == 0
    text = capsys.readouterr().out
    assert "output_probability" in text and "malignant, benign" in text and "SHA-256" in text
    assert main(["info", str(MODELS / "digits.onnx"), "--json"]) == 0
    d = json.loads(capsys.readouterr().out)
    assert d["inputs"][0]["shape"] == ["batch", 1, 16, 16]
    assert d["profile"]["image"]["color"] == "L" and d["labels"][:2] == ["0", "1"]
    assert d["opsets"] == {"ai.onnx": 17} and len(d["sha256"]) == 64 and d["ir_version"] == 8


def test_bench(capsys):
    assert main(["bench", str(MODELS / "digits.onnx"), "--runs", "20", "--warmup", "2", "--json"]) == 0
    d = json.loads(capsys.readouterr().out)
    assert d["runs"] == 20 and d["warmup"] == 2 and len(d["latencies_ms"]) == 20
    assert d["p50"] <= d["p90"] <= d["p95"] <= d["p99"] <= d["max"]
    assert d["throughput"] > 0 and d["input_shape"] == [1, 1, 16, 16]
    assert main(["bench", str(MODELS / "breast_cancer.onnx"), "--runs", "5", "--threads", "1"]) == 0
    text = capsys.readouterr().out
    assert "p50" in text and "p99" in text and "throughput" in text


def test_version(capsys):
    assert main(["--version"]) == 0
    assert "onnxruntime" in capsys.readouterr().out


def test_console_entry_point_runs_without_traceback(tmp_path):
    proc = subprocess.run([sys.executable, "-m", "desktop", "score", str(tmp_path / "x.onnx"), "y.png"],
                          capture_output=True, text=True, cwd=ROOT, timeout=60)
    assert proc.returncode == 2 and proc.stdout == ""
    assert proc.stderr.strip().startswith("inferdesk: Model file not found") and "Traceback" not in proc.stderr


def test_engine_and_cli_import_no_qt():
    code = ("import sys, desktop.engine, desktop.cli, desktop.engine.bench;"
            "from desktop.cli import main; main(['info', r'%s']);"
            "bad = [m for m in sys.modules if m.split('.')[0] in ('PySide6', 'shiboken6', 'pyqtgraph')];"
            "print('QT', bad)") % (MODELS / "digits.onnx")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip().endswith("QT []")


def test_score_detector_prints_detections(tmp_path, capsys):
    from PIL import Image

    from tests.engine.test_detection import FAMILIES

    model = FAMILIES["yolov8"](tmp_path / "yolo.onnx")  # Ultralytics metadata: a letterboxed detector by default
    image = tmp_path / "photo.png"
    Image.new("RGB", (1000, 563)).save(image)
    assert main(["score", str(model), str(image), "-q"]) == 0
    rec = _jsonl(capsys.readouterr().out)[0]
    assert rec["ok"] and rec["top"] == []
    assert [(d["label"], d["index"], round(d["score"], 2)) for d in rec["detections"]] == [
        ("person", 0, 0.9), ("bicycle", 1, 0.85), ("bicycle", 1, 0.3)]
    assert rec["detections"][0]["box"] == pytest.approx([100.0, 50.0, 500.0, 250.0], abs=1e-3)
    assert main(["score", str(model), str(image), "-q", "--format", "csv"]) == 0
    rows = list(csv.DictReader(io.StringIO(capsys.readouterr().out)))
    assert rows[0]["detections"] == "3" and rows[0]["label"] == "person"
    assert float(rows[0]["score"]) == pytest.approx(0.9)


def test_help_names_the_self_test_and_the_window(capsys):
    assert main(["--help"]) == 0
    text = " ".join(capsys.readouterr().out.split())
    assert "inferdesk --self-test scores the bundled samples" in text and "opens the window" in text
