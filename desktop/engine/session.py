"""onnxruntime sessions: execution provider, threads and graph optimisation chosen by the user."""

from __future__ import annotations

import contextlib
import io
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
    # True: refuse to run when the chosen provider is missing or does not start, rather than on the CPU
    no_fallback: bool = False

    def to_dict(self) -> dict:
        return {"provider": self.provider, "threads": self.threads, "opt_level": self.opt_level,
                "no_fallback": self.no_fallback}


#: which of our extras carries the onnxruntime build with a provider (pyproject.toml)
_EXTRAS = {
    "CUDAExecutionProvider": ("gpu", "CUDA"),
    "TensorrtExecutionProvider": ("gpu", "TensorRT"),
    "OpenVINOExecutionProvider": ("openvino", "OpenVINO"),
    "DmlExecutionProvider": ("directml", "DirectML"),
}


_NO_DETAIL = "onnxruntime's log may say why"


@dataclass(frozen=True)
class Fallback:
    """A session that runs on another provider than the one asked for, and why."""

    requested: str  # e.g. CUDAExecutionProvider
    actual: str  # the provider the session runs on: get_providers()[0]
    missing: bool  # True: this onnxruntime build lacks the provider; False: it has it, but it did not start
    detail: str = ""  # what onnxruntime said when the provider failed to start, if anything

    @property
    def reason(self) -> str:
        if self.missing:
            return "not in this onnxruntime build"
        return f"it did not start ({self.detail or _NO_DETAIL})"

    @property
    def short(self) -> str:
        """For a status bar: ``CPU (asked for CUDA: not available)``."""
        why = "not available" if self.missing else "did not start"
        return f"{short_name(self.actual)} (asked for {short_name(self.requested)}: {why})"

    def __str__(self) -> str:
        return f"asked for {short_name(self.requested)}, ran on {short_name(self.actual)}: {self.reason}"


def short_name(provider: str) -> str:
    """``CUDAExecutionProvider`` -> ``CUDA``."""
    return provider[: -len("ExecutionProvider")] if provider.endswith("ExecutionProvider") else provider


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


def build_info() -> dict:
    """What this onnxruntime is: version, device, the distribution(s) installed and its providers.

    ``packages`` lists every installed distribution that provides the ``onnxruntime`` module; more
    than one (onnxruntime and onnxruntime-gpu) share its files and break each other.
    """
    import onnxruntime as ort

    packages = ort_packages()
    return {"onnxruntime": ort.__version__, "device": ort.get_device(),
            "package": " + ".join(packages) or "unknown", "packages": packages, "providers": available_providers()}


def ort_packages() -> list[str]:
    """The installed distributions providing the ``onnxruntime`` module: onnxruntime, onnxruntime-gpu, ..."""
    from importlib import metadata

    try:
        names = metadata.packages_distributions().get("onnxruntime", [])
    except Exception:  # a broken distribution's metadata must not stop a description
        names = []
    return sorted({n.lower() for n in names})


def canonical_provider(name: str) -> str:
    """The full provider name for what a user typed: ``cuda`` -> ``CUDAExecutionProvider``."""
    import onnxruntime as ort

    full = _PROVIDER_ALIASES.get(name.lower(), name)
    if not full.endswith("ExecutionProvider"):
        full += "ExecutionProvider"

    known = {p.lower(): p for p in ort.get_all_providers()}
    return known.get(full.lower(), full)


def missing_provider_message(provider: str, available: list[str]) -> str:
    """Why a known provider cannot be used here, and what to install to get it."""
    extra = _EXTRAS.get(provider)
    hint = (f"install inferdesk[{extra[0]}] for {extra[1]}, or choose another provider" if extra
            else "choose another provider")
    return f"{provider} is not in this onnxruntime build (it has {', '.join(available)}); {hint}"


def resolve_provider(name: str | None, no_fallback: bool = False) -> list[str]:
    """The provider list to hand onnxruntime for a user's choice.

    A name onnxruntime does not know raises ModelError. A provider onnxruntime knows but this build
    lacks (CUDA in the CPU build) raises too with ``no_fallback``; otherwise the CPU runs the model
    and :func:`detect_fallback` tells it.
    """
    import onnxruntime as ort

    available = available_providers()
    if not name:
        # the best available; the azure provider needs network endpoints, never pick it implicitly
        chosen = [p for p in available if p != "AzureExecutionProvider"]
        return chosen or ["CPUExecutionProvider"]
    full = canonical_provider(name)
    match = [p for p in available if p.lower() == full.lower()]
    if not match:
        if full not in ort.get_all_providers():
            raise ModelError(f"Execution provider '{name}' is not available in this onnxruntime, which knows no "
                             f"such provider; available: {', '.join(available)}")
        if no_fallback:
            raise ModelError(missing_provider_message(full, available))
        return ["CPUExecutionProvider"]
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


def detect_fallback(settings: SessionSettings | None, session, detail: str = "") -> Fallback | None:
    """How a session's provider differs from the one asked for, or None (none asked for, or it runs).

    onnxruntime moves to the CPU without raising when the asked-for provider is missing from the
    build or fails to start; the provider a session actually runs on is ``get_providers()[0]``.
    ``detail``: what onnxruntime said when the provider failed to start, if anything.
    """
    if settings is None or not settings.provider or not hasattr(session, "get_providers"):
        return None
    requested = canonical_provider(settings.provider)
    ran = list(session.get_providers())
    actual = ran[0] if ran else "unknown"
    if actual.lower() == requested.lower():
        return None
    return Fallback(requested, actual, missing=requested not in available_providers(), detail=detail)


def _ep_error(printed: str) -> str:
    """The reason in onnxruntime's "EP Error ... when using [...]" lines (printed when it falls back)."""
    m = re.search(r"^EP Error:? (.*?) (?:when )?using \[", printed, re.DOTALL | re.MULTILINE)
    if not m:
        return ""
    text = re.sub(r"^\[ONNXRuntimeError\] : \d+ : \w+ : ", "", m.group(1).strip().splitlines()[0])
    return text if len(text) <= 300 else text[:297] + "..."


def create_session(model_path: str, settings: SessionSettings | None = None, model_bytes: bytes | None = None):
    """Create an ``onnxruntime.InferenceSession`` or raise ModelError with a readable reason.

    ``model_bytes``, when given, is the model to load (a rewritten copy of ``model_path``).
    """
    return open_session(model_path, settings, model_bytes)[0]


def open_session(model_path: str, settings: SessionSettings | None = None, model_bytes: bytes | None = None):
    """:func:`create_session`, and the :class:`Fallback` when it runs elsewhere than asked (else None).

    With ``settings.no_fallback`` a session that would run elsewhere raises ModelError instead.
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
    providers = resolve_provider(settings.provider, settings.no_fallback)
    name = os.path.basename(str(model_path))
    printed = io.StringIO()
    try:
        source = model_bytes if model_bytes is not None else str(model_path)
        if len(providers) > 1 and settings.provider:
            # an accelerator that fails to start makes onnxruntime print "EP Error ..." to standard
            # output (where results may go) and retry on the CPU: keep its words for the fallback note
            with contextlib.redirect_stdout(printed):
                session = ort.InferenceSession(source, sess_options=opts, providers=providers)
        else:
            session = ort.InferenceSession(source, sess_options=opts, providers=providers)
    except Exception as exc:  # onnxruntime raises several private exception types
        raise ModelError(_explain_ort_error(exc, name)) from exc
    detail = _ep_error(printed.getvalue())
    fallback = detect_fallback(settings, session, detail)
    if fallback is not None and settings.no_fallback:
        cause = detail or _NO_DETAIL
        raise ModelError(f"{fallback.requested} is in this onnxruntime build but did not start for {name} "
                         f"({cause}); not running on {fallback.actual} instead, "
                         "as no fallback is allowed")
    if settings.no_fallback and hasattr(session, "disable_fallback"):
        session.disable_fallback()  # nor later, when the provider fails during a run
    return session, fallback
