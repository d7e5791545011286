"""Execution providers: what the build offers, the one asked for, the one a session runs on, and no silent fallback."""

from __future__ import annotations

import dataclasses

import numpy as np
import onnxruntime as ort
import pytest

from desktop.engine import Engine, ModelError, SessionSettings
from desktop.engine import session as session_mod
from desktop.engine.session import (build_info, create_session, detect_fallback, missing_provider_message,
                                    open_session, resolve_provider)
from tests.conftest import MODELS

DIGITS = str(MODELS / "digits.onnx")
HAS_CUDA = "CUDAExecutionProvider" in ort.get_available_providers()


def _lacks(provider):
    return pytest.mark.skipif(provider in ort.get_available_providers(), reason=f"this build has {provider}")


def test_build_info_names_version_package_and_providers():
    info = build_info()
    assert info["onnxruntime"] == ort.__version__ and info["device"] == ort.get_device()
    assert "CPUExecutionProvider" in info["providers"]
    assert info["package"].startswith("onnxruntime")


@_lacks("CUDAExecutionProvider")
def test_no_fallback_refuses_a_provider_this_build_lacks():
    with pytest.raises(ModelError) as exc:
        resolve_provider("cuda", no_fallback=True)
    assert str(exc.value) == missing_provider_message("CUDAExecutionProvider", ort.get_available_providers())
    assert str(exc.value).startswith("CUDAExecutionProvider is not in this onnxruntime build (it has ")
    assert "CPUExecutionProvider" in str(exc.value) and "install inferdesk[gpu] for CUDA" in str(exc.value)
    with pytest.raises(ModelError, match=r"is not in this onnxruntime build"):
        Engine(DIGITS, settings=SessionSettings("CUDAExecutionProvider", no_fallback=True))


@_lacks("OpenVINOExecutionProvider")
def test_the_message_names_the_extra_that_carries_the_provider():
    with pytest.raises(ModelError, match=r"install inferdesk\[openvino\] for OpenVINO"):
        resolve_provider("openvino", no_fallback=True)


@_lacks("CUDAExecutionProvider")
def test_without_no_fallback_a_missing_provider_runs_on_the_cpu_and_says_so():
    engine = Engine(DIGITS, settings=SessionSettings("cuda", threads=1))
    assert engine.provider == "CPUExecutionProvider"
    assert engine.fallback is not None and engine.fallback.requested == "CUDAExecutionProvider"
    assert str(engine.fallback) == "asked for CUDA, ran on CPU: not in this onnxruntime build"
    assert engine.fallback.short == "CPU (asked for CUDA: not available)"


def test_a_provider_onnxruntime_does_not_know_is_refused_either_way():
    with pytest.raises(ModelError, match="Execution provider 'warp' is not available"):
        resolve_provider("warp")


def test_no_fallback_is_quiet_when_the_provider_runs():
    engine = Engine(DIGITS, settings=SessionSettings("cpu", threads=1, no_fallback=True))
    assert engine.provider == "CPUExecutionProvider" and engine.fallback is None
    assert Engine(DIGITS, settings=SessionSettings(threads=1)).fallback is None  # none asked for: nothing to fall from


@pytest.fixture
def cuda_that_fails_to_start(monkeypatch):
    """A build that lists CUDA whose session starts on the CPU, printing onnxruntime's "EP Error" lines."""
    real = ort.InferenceSession

    def failing(source, sess_options=None, providers=None):
        print("*************** EP Error ***************")
        print(f"EP Error [ONNXRuntimeError] : 1 : FAIL : libcudnn.so.9: cannot open shared object file "
              f"when using {providers}")
        print("Falling back to ['CPUExecutionProvider'] and retrying.")
        return real(source, sess_options=sess_options, providers=["CPUExecutionProvider"])

    monkeypatch.setattr(session_mod, "available_providers", lambda: ["CUDAExecutionProvider", "CPUExecutionProvider"])
    monkeypatch.setattr(ort, "InferenceSession", failing)


def test_a_provider_that_fails_to_start_is_detected_and_its_reason_kept(cuda_that_fails_to_start, capsys):
    session, fallback = open_session(DIGITS, SessionSettings("cuda", threads=1))
    assert session.get_providers()[0] == "CPUExecutionProvider"
    assert fallback.requested == "CUDAExecutionProvider" and fallback.actual == "CPUExecutionProvider"
    assert str(fallback) == ("asked for CUDA, ran on CPU: it did not start "
                             "(libcudnn.so.9: cannot open shared object file)")
    assert capsys.readouterr().out == ""  # onnxruntime's lines do not reach standard output (results go there)


def test_no_fallback_refuses_a_provider_that_fails_to_start(cuda_that_fails_to_start):
    with pytest.raises(ModelError) as exc:
        create_session(DIGITS, SessionSettings("cuda", threads=1, no_fallback=True))
    assert str(exc.value) == ("CUDAExecutionProvider is in this onnxruntime build but did not start for digits.onnx "
                              "(libcudnn.so.9: cannot open shared object file); not running on CPUExecutionProvider "
                              "instead, as no fallback is allowed")


def test_a_given_session_is_checked_too(monkeypatch):
    class Fake:
        def get_providers(self):
            return ["CPUExecutionProvider"]

    monkeypatch.setattr(session_mod, "available_providers", lambda: ["CUDAExecutionProvider", "CPUExecutionProvider"])
    fallback = detect_fallback(SessionSettings("CUDAExecutionProvider"), Fake())
    assert str(fallback) == "asked for CUDA, ran on CPU: it did not start (onnxruntime's log may say why)"
    assert fallback.short == "CPU (asked for CUDA: did not start)"
    assert detect_fallback(SessionSettings("cpu"), Fake()) is None
    assert detect_fallback(SessionSettings(), Fake()) is None


def test_settings_dict_keeps_no_fallback_and_old_dicts_still_load():
    s = SessionSettings("cuda", 2, "basic", no_fallback=True)
    assert SessionSettings(**s.to_dict()) == s
    old = {"provider": "cuda", "threads": 2, "opt_level": "basic"}  # a run recorded before no_fallback
    assert SessionSettings(**old).no_fallback is False
    assert [f.name for f in dataclasses.fields(SessionSettings)][:3] == ["provider", "threads", "opt_level"]


@pytest.mark.skipif(not HAS_CUDA, reason="this onnxruntime build has no CUDAExecutionProvider (no GPU build)")
def test_a_cuda_session_really_runs_on_cuda():
    engine = Engine(DIGITS, settings=SessionSettings("cuda", no_fallback=True))
    assert engine.provider == "CUDAExecutionProvider" and engine.fallback is None
    x = np.zeros([d if isinstance(d, int) else 1 for d in engine.input_spec.shape], dtype=np.float32)
    assert engine.session.run(None, {engine.input_spec.name: x})
