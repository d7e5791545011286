"""``inferdesk providers`` and ``--provider NAME --no-fallback``: no silent run on the CPU."""

from __future__ import annotations

import json

import onnxruntime as ort
import pytest

from desktop.cli import main
from tests.conftest import MODELS, SAMPLES

DIGITS = str(MODELS / "digits.onnx")
IMAGE = str(SAMPLES / "digits" / "digit_7_1496.png")
lacks_cuda = pytest.mark.skipif("CUDAExecutionProvider" in ort.get_available_providers(),
                                reason="this onnxruntime build has CUDA; the refusal needs a provider it lacks")


def test_providers_lists_this_build(capsys):
    assert main(["providers"]) == 0
    out = capsys.readouterr().out
    assert f"onnxruntime {ort.__version__} · package onnxruntime" in out
    assert "CPUExecutionProvider" in out


def test_providers_json_says_where_a_model_runs(capsys):
    assert main(["providers", "--json", "--model", DIGITS, "--provider", "cpu"]) == 0
    d = json.loads(capsys.readouterr().out)
    assert d["onnxruntime"] == ort.__version__ and d["device"] == ort.get_device()
    assert "CPUExecutionProvider" in d["providers"] and d["package"].startswith("onnxruntime")
    assert d["requested"] == "CPUExecutionProvider" and d["ran"] == "CPUExecutionProvider"
    assert d["model"] == "digits.onnx" and d["fallback"] is None


@lacks_cuda
def test_providers_reports_the_fallback_for_a_model(capsys):
    assert main(["providers", "--json", "--model", DIGITS, "--provider", "cuda"]) == 0
    d = json.loads(capsys.readouterr().out)
    assert d["requested"] == "CUDAExecutionProvider" and d["ran"] == "CPUExecutionProvider"
    assert d["fallback"] == "asked for CUDA, ran on CPU: not in this onnxruntime build"


@lacks_cuda
@pytest.mark.parametrize("argv", [
    ["score", DIGITS, IMAGE, "--provider", "CUDAExecutionProvider", "--no-fallback", "--no-history"],
    ["bench", DIGITS, "--runs", "1", "--warmup", "0", "--provider", "cuda", "--no-fallback"],
    ["providers", "--provider", "cuda", "--no-fallback"],
    ["providers", "--model", DIGITS, "--provider", "cuda", "--no-fallback"],
])
def test_no_fallback_with_a_provider_this_build_lacks_exits_2(argv, capsys):
    assert main(argv) == 2
    out, err = capsys.readouterr()
    assert out == "" and err.count("\n") == 1
    assert err.startswith("inferdesk: CUDAExecutionProvider is not in this onnxruntime build (it has ")
    assert err.rstrip().endswith("; install inferdesk[gpu] for CUDA, or choose another provider")


@lacks_cuda
def test_without_no_fallback_score_runs_on_the_cpu_and_says_so(capsys):
    assert main(["score", DIGITS, IMAGE, "--provider", "CUDAExecutionProvider", "--no-history"]) == 0
    out, err = capsys.readouterr()
    assert json.loads(out.splitlines()[0])["ok"]
    assert "note: asked for CUDA, ran on CPU: not in this onnxruntime build (--no-fallback refuses instead)\n" in err
    assert "CPUExecutionProvider" in err  # the header names the provider that ran


def test_every_command_with_provider_takes_no_fallback():
    from desktop.cli import build_parser

    parser = build_parser()
    subs = next(a for a in parser._actions if a.dest == "command").choices
    with_provider = [name for name, p in subs.items() if any("--provider" in a.option_strings for a in p._actions)]
    assert {"score", "evaluate", "drift", "explain", "bench", "providers"} <= set(with_provider)
    for name in with_provider:
        assert any("--no-fallback" in a.option_strings for a in subs[name]._actions), name


def test_providers_warns_when_two_builds_are_installed(monkeypatch, capsys):
    from desktop.engine import session

    monkeypatch.setattr(session, "ort_packages", lambda: ["onnxruntime", "onnxruntime-gpu"])
    assert main(["providers"]) == 0
    out = capsys.readouterr().out
    assert "package onnxruntime + onnxruntime-gpu" in out
    assert "Warning     onnxruntime and onnxruntime-gpu are both installed; they share one module" in out
