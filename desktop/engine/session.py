"""onnxruntime sessions: execution provider, threads and graph optimisation chosen by the user."""

from __future__ import annotations

import os
import re
from dataclasses import dataclass

from .errors import ModelError

OPT_LEVELS = ("disable", "basic", "extended", "all")

#: friendly names users may type for providers
_PROVIDER_ALIASES = {
    "cpu": "CPUExecutionProvider",
    "cuda": "CUDAExecutionProvider",
    "tensorrt": "TensorrtExecutionProvider",
    "trt": "TensorrtExecutionProvider",
    "directml": "DmlExecutionProvider",
    "dml": "DmlExecutionProvider",
    "coreml": "CoreMLExecutionProvider",
    "openvino": "OpenVINOExecutionProvider",
    "rocm": "ROCMExecutionProvider",
    "migraphx": "MIGraphXExecutionProvider",
    "azure": "AzureExecutionProvider",
}


@dataclass(frozen=True)
class SessionSettings:
    """How to run a model: which provider, how many threads, how much graph optimisation."""

    provider: str | None = None  # None: the best available
    threads: int = 0  # intra-op threads; 0: automatic (auto_threads(), given the decode pool)
    opt_level: str = "all"

    def to_dict(self) -> dict:
        return {"provider": self.provider, "threads": self.threads, "opt_level": self.opt_level}


def auto_threads() -> int:
    """Intra-op threads when the user leaves it to InferDesk (threads = 0).

    Images are decoded by a pool of threads ahead of inference (one per core, at most four:
    ``batch.default_workers``); onnxruntime gets the cores that pool leaves, at least one. For
    models slow enough to be run one item per call those decode threads also run inference,
    each item on its own thread, so on a 2-core machine one intra-op thread per call keeps both
    cores busy without operators waiting on a thread a decoder pre-empted
    (benchmarks/throughput.py, folder scene).
    """
    cores = os.cpu_count() or 2
    decoders = max(1, min(4, cores))
    return max(1, cores - decoders)


def available_providers() -> list[str]:
    """Execution providers this onnxruntime build can use, best first."""
    import onnxruntime as ort

    return list(ort.get_available_providers())


def resolve_provider(name: str | None) -> list[str]:
    """The provider list to hand onnxruntime for a user's choice, or raise if it is not available."""
    available = available_providers()
    if not name:
        # the best available; the azure provider needs network endpoints, never pick it implicitly
        chosen = [p for p in available if p != "AzureExecutionProvider"]
        return chosen or ["CPUExecutionProvider"]
    full = _PROVIDER_ALIASES.get(name.lower(), name)
    if not full.endswith("ExecutionProvider"):
        full += "ExecutionProvider"
    match = [p for p in available if p.lower() == full.lower()]
    if not match:
        raise ModelError(
            f"Execution provider '{name}' is not available in this onnxruntime; available: {', '.join(available)}"
        )
    providers = [match[0]]
    if match[0] != "CPUExecutionProvider":
        providers.append("CPUExecutionProvider")  # fallback for nodes the accelerator cannot run
    return providers


def _explain_ort_error(exc: Exception, model_name: str) -> str:
    text = str(exc)
    import onnxruntime as ort

    version = ort.__version__
    m = re.search(r"Opset (\d+) is under development|opset (\d+).{0,40}not supported|"
                  r"ai\.onnx.{0,20}?version (\d+)", text, re.IGNORECASE)
    if "Protobuf parsing failed" in text:  # a part of the file that inspection does not read is damaged
        return f"{model_name} is not a valid ONNX model: the file is truncated or corrupt"
    if "Unsupported model IR version" in text or "IR version" in text and "max supported" in text:
        detail = re.search(r"Unsupported model IR version: (\d+), max supported IR version: (\d+)", text)
        if detail:
            return (f"{model_name} uses ONNX IR version {detail.group(1)}; this onnxruntime ({version}) "
                    f"supports up to {detail.group(2)}. Update InferDesk or re-export the model.")
    if m and ("opset" in text.lower()):
        opset = next(g for g in m.groups() if g)
        return (f"{model_name} needs ONNX opset {opset}, which this onnxruntime ({version}) cannot run; "
                "re-export the model with a lower opset")
    op = re.search(r"Could not find an implementation for (\w+)\((\d+)\)", text)
    if op:
        return (f"{model_name} uses operator {op.group(1)} (opset {op.group(2)}) for an input type "
                f"this onnxruntime ({version}) does not implement")
    op = re.search(r"(?:Fatal error: )?([\w.]*:?\w+)(?:\(-?\d+\))? is not a registered function/op", text)
    if op:
        return f"{model_name} uses operator {op.group(1)}, which this onnxruntime ({version}) does not know"
    op = re.search(r"No Op registered for (\w+) with domain_version of (\d+)", text)
    if op:
        return (f"{model_name} uses operator {op.group(1)}, which this onnxruntime ({version}) does not have "
                f"at opset {op.group(2)}")
    first = text.strip().splitlines()[0] if text.strip() else type(exc).__name__
    first = re.sub(r"^\[ONNXRuntimeError\] : \d+ : \w+ : ", "", first)
    if len(first) > 300:
        first = first[:297] + "..."
    return f"onnxruntime cannot load {model_name}: {first}"


def create_session(model_path: str, settings: SessionSettings | None = None, model_bytes: bytes | None = None):
    """Create an ``onnxruntime.InferenceSession`` or raise ModelError with a readable reason.

    ``model_bytes``, when given, is the model to load (a rewritten copy of ``model_path``).
    """
    import onnxruntime as ort

    settings = settings or SessionSettings()
    if settings.opt_level not in OPT_LEVELS:
        raise ModelError(f"Unknown optimisation level '{settings.opt_level}'; use one of {', '.join(OPT_LEVELS)}")
    if settings.threads < 0:
        raise ModelError("Threads must be 0 (automatic) or a positive number")
    opts = ort.SessionOptions()
    opts.graph_optimization_level = {
        "disable": ort.GraphOptimizationLevel.ORT_DISABLE_ALL,
        "basic": ort.GraphOptimizationLevel.ORT_ENABLE_BASIC,
        "extended": ort.GraphOptimizationLevel.ORT_ENABLE_EXTENDED,
        "all": ort.GraphOptimizationLevel.ORT_ENABLE_ALL,
    }[settings.opt_level]
    opts.intra_op_num_threads = settings.threads or auto_threads()
    # idle inference threads sleep instead of spinning: while images are decoded ahead of
    # inference, a spinning thread only takes the core a decoder needs
    opts.add_session_config_entry("session.intra_op.allow_spinning", "0")
    opts.inter_op_num_threads = 1
    opts.log_severity_level = 3  # errors only; warnings would reach the user's terminal
    providers = resolve_provider(settings.provider)
    try:
        source = model_bytes if model_bytes is not None else str(model_path)
        return ort.InferenceSession(source, sess_options=opts, providers=providers)
    except Exception as exc:  # onnxruntime raises several private exception types
        raise ModelError(_explain_ort_error(exc, os.path.basename(str(model_path)))) from exc
