"""Optimised variants of a loaded model: static QDQ INT8, dynamic INT8, float16 and offline graph optimisation.

Each variant is written beside its source as ``<stem>.<method>.onnx`` with the source's profile as
``<stem>.<method>.profile.json`` and a note of how it was made in the model's metadata
(``inferdesk.variant``, JSON). The quantisation is onnxruntime's own (``onnxruntime.quantization``),
the float16 conversion onnxconverter-common's.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import os
import platform
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterable

import numpy as np

from ..errors import Cancelled, InputError, ModelError
from ..inputs import InputKind, expand_inputs
from ..profile import save_profile

METHODS = ("static", "dynamic", "fp16", "graph")
CALIBRATIONS = ("minmax", "entropy", "percentile")
METADATA_KEY = "inferdesk.variant"

#: what each method is called in sentences
METHOD_NAMES = {"static": "Static INT8", "dynamic": "INT8 dynamic", "fp16": "Float16", "graph": "Graph-optimised"}

#: the CPU flags worth recording: the vector and matrix extensions onnxruntime's kernels pick between
_CPU_FLAGS = ("sse4_2", "avx", "avx2", "fma", "f16c", "avx512f", "avx512bw", "avx512vl", "avx512_vnni",
              "avx_vnni", "avx512_bf16", "avx512_fp16", "amx_tile", "amx_int8", "amx_bf16", "asimd", "asimddp",
              "fphp", "asimdhp", "sve", "i8mm", "bf16")

#: operators that make a model "MatMul-style" for dynamic quantisation
_MATMUL_OPS = {"MatMul", "Gemm", "Attention", "MultiHeadAttention", "EmbedLayerNormalization", "LSTM", "GRU"}
_CONV_OPS = {"Conv", "ConvTranspose"}

ProgressFn = Callable[[int, int], None]


@dataclass
class Variant:
    """A variant written to disk: where, how it was made (the metadata note) and what to know about it."""

    path: str
    method: str
    profile_path: str
    note: dict
    warnings: list = field(default_factory=list)

    def to_dict(self) -> dict:
        return {"path": self.path, "method": self.method, "profile_path": self.profile_path,
                "note": self.note, "warnings": list(self.warnings)}


# ------------------------------------------------------------------------------------------- facts

def _load(model):
    import onnx

    if isinstance(model, (str, os.PathLike)):
        return onnx.load(str(model), load_external_data=False)
    return model


def op_counts(model) -> dict:
    """How many nodes of each operator the model's main graph has."""
    counts: dict = {}
    for node in _load(model).graph.node:
        counts[node.op_type] = counts.get(node.op_type, 0) + 1
    return counts


def has_conv(model) -> bool:
    return any(op in _CONV_OPS for op in op_counts(model))


def recommend_dynamic(model) -> tuple[bool, str]:
    """Whether dynamic INT8 suits ``model`` (a path or ModelProto), and why.

    Dynamic quantisation quantises weights ahead and activations at run time; onnxruntime's
    MatMulInteger kernels make it pay for MatMul- and transformer-style models. A convolutional
    network becomes ConvInteger nodes, which onnxruntime's CPU provider runs far slower than its
    float convolutions: use static INT8 there.
    """
    counts = op_counts(model)
    conv = sum(counts.get(op, 0) for op in _CONV_OPS)
    matmul = sum(counts.get(op, 0) for op in _MATMUL_OPS)
    if conv:
        return False, (f"the model has {conv} convolution{'s' if conv != 1 else ''}; dynamic INT8 turns them into "
                       "ConvInteger, whose kernels are slow on CPU: make a static INT8 variant instead")
    if not matmul:
        return False, "the model has no MatMul or Gemm for dynamic INT8 to quantise"
    return True, (f"the model's weights are in {matmul} MatMul/Gemm node{'s' if matmul != 1 else ''} and it has no "
                  "convolution: dynamic INT8 quantises those weights and needs no calibration data")


def suggest_keep_float(model) -> list[str]:
    """For a detector: the nodes after its last convolution (the head's decoding), to keep in float.

    Box coordinates and scores come out of those nodes; quantising them costs box accuracy for
    little speed. Nodes without a name cannot be excluded and are left out.
    """
    nodes = list(_load(model).graph.node)
    last = max((i for i, n in enumerate(nodes) if n.op_type in _CONV_OPS), default=None)
    if last is None:
        return []
    return [n.name for n in nodes[last + 1:] if n.name and n.op_type != "Constant"]


def cpu_facts() -> dict:
    """This machine's CPU: its model name and the vector extensions onnxruntime's kernels depend on."""
    import onnxruntime as ort

    name, flags = platform.processor() or platform.machine(), []
    try:
        with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as fh:
            for line in fh:
                key, _, value = line.partition(":")
                key = key.strip()
                if key == "model name" and name in ("", platform.machine(), platform.processor()):
                    name = value.strip()
                elif key in ("flags", "Features"):
                    have = set(value.split())
                    flags = [f for f in _CPU_FLAGS if f in have]
                    break
    except OSError:
        pass
    return {"cpu": name, "cpu_flags": flags, "machine": platform.machine(), "device": ort.get_device()}


def file_sha256(path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def calibration_set_sha256(paths: Iterable[str]) -> str:
    """A hash of a calibration set: each file's content hash, in sorted path order, with its name."""
    h = hashlib.sha256()
    for p in sorted(set(map(str, paths))):
        h.update(os.path.basename(p).encode("utf-8", "replace") + b"\0" + file_sha256(p).encode() + b"\n")
    return h.hexdigest()


# ----------------------------------------------------------------------------------------- feeding

def iter_feeds(engine, inputs, *, limit: int | None = None, should_stop=None, skipped: list | None = None):
    """``(name, path, feeds)`` for each image or CSV row of ``inputs``, preprocessed by ``engine``.

    The feeds are what the engine itself gives its session (one item, with the batch axis), so a
    variant is calibrated and compared on exactly the tensors InferDesk would score. Items that
    cannot be read are skipped, each with its reason added to ``skipped`` when given; stops after
    ``limit`` items.
    """
    items = expand_inputs(inputs, folder_tables=engine.profile.image is None)
    n = 0
    for item in items:
        if limit is not None and n >= limit:
            return
        if should_stop and should_stop():
            raise Cancelled("stopped")
        if item.kind == InputKind.INVALID:
            if skipped is not None:
                skipped.append(item.problem or f"{os.path.basename(item.path)}: not a supported input")
            continue
        if item.kind == InputKind.TABLE:
            reader = engine.table_reader(item.path)
            for chunk in reader.chunks(1024):
                for j, row in enumerate(chunk.rows):
                    if chunk.errors[j] is not None:
                        if skipped is not None:
                            skipped.append(f"{os.path.basename(item.path)} · row {row}: {chunk.errors[j]}")
                        continue
                    texts = {k: v[j:j + 1] for k, v in chunk.texts.items()}
                    yield f"{os.path.basename(item.path)} · row {row}", item.path, \
                        engine.table_feeds(chunk.values[j:j + 1], texts)
                    n += 1
                    if limit is not None and n >= limit:
                        return
            continue
        try:
            img, _ = engine.load_image(item.path, item.kind)
            tensor, _ = engine.preprocess(img)
        except InputError as exc:
            if skipped is not None:
                skipped.append(str(exc))
            continue
        yield os.path.basename(item.path), item.path, engine.image_feeds([tensor])
        n += 1


class _Reader:
    """onnxruntime's CalibrationDataReader over prepared feeds, reporting progress and honouring a stop."""

    def __init__(self, feeds: list, progress, should_stop):
        self.feeds, self.i, self.progress, self.should_stop = feeds, 0, progress, should_stop

    def get_next(self):
        if self.should_stop and self.should_stop():
            raise Cancelled("stopped")
        if self.i >= len(self.feeds):
            return None
        feed = self.feeds[self.i]
        self.i += 1
        if self.progress:
            self.progress(self.i, len(self.feeds))
        return feed

    def rewind(self):
        self.i = 0


# ---------------------------------------------------------------------------------------- variants

def default_out(model_path: str, method: str) -> str:
    p = Path(model_path)
    return str(p.with_name(f"{p.stem}.{method}.onnx"))


def make_variant(engine, method: str, *, calibrate=(), n_calibrate: int = 200, calibration: str = "minmax",
                 keep_float=(), per_channel: bool | None = None, out=None,
                 should_stop: Callable[[], bool] | None = None, progress: ProgressFn | None = None) -> Variant:
    """Make an optimised variant of ``engine``'s model and write it beside the source (or to ``out``).

    Parameters
    ----------
    engine
        The loaded Engine; its preprocessing makes the calibration tensors and its profile is
        copied beside the variant.
    method
        ``static`` (QDQ INT8, calibrated), ``dynamic`` (INT8 weights, activations at run time),
        ``fp16`` (float16 weights and compute, float32 inputs and outputs) or ``graph``
        (onnxruntime's offline graph optimisation, tied to this machine).
    calibrate
        Images, folders or CSV files of the user's own inputs (static only).
    n_calibrate
        The most calibration items used (the first ones in input order).
    calibration
        ``minmax``, ``entropy`` or ``percentile``.
    keep_float
        Node names left unquantised (static; for detectors see :func:`suggest_keep_float`).
    per_channel
        Per-channel weight scales; None: on for models with convolutions.
    should_stop, progress
        Checked between calibration items; ``progress(done, total)`` as they are fed.
    """
    if method not in METHODS:
        raise ModelError(f"unknown optimisation method '{method}'; use one of {', '.join(METHODS)}")
    if calibration not in CALIBRATIONS:
        raise ModelError(f"unknown calibration '{calibration}'; use one of {', '.join(CALIBRATIONS)}")
    import onnxruntime as ort

    source = engine.model_path
    target = str(out) if out else default_out(source, method)
    if os.path.abspath(target) == os.path.abspath(source):
        raise ModelError("the variant would overwrite its source model; choose another --out")
    model = _load(source)
    conv = has_conv(model)
    per_channel = conv if per_channel is None else bool(per_channel)
    note = {"source": os.path.basename(source), "source_sha256": engine.info.sha256, "method": method,
            "onnxruntime": ort.__version__}
    warnings: list = []
    with tempfile.TemporaryDirectory(prefix="inferdesk-variant-") as tmp:
        made = os.path.join(tmp, "variant.onnx")
        if method == "static":
            note.update(_static(engine, source, made, tmp, calibrate, n_calibrate, calibration, list(keep_float),
                                per_channel, should_stop, progress))
        elif method == "dynamic":
            ok, why = recommend_dynamic(model)
            if not ok:
                warnings.append(f"dynamic INT8 is not recommended for this model: {why}")
            symbolic = _dynamic(source, made, tmp, per_channel)
            note.update({"per_channel": per_channel, "weight_type": "QInt8", "symbolic_shape_inference": symbolic})
        elif method == "fp16":
            warnings.extend(_fp16(model, made))
            note.update({"keep_io_types": True, "block_list": "onnxconverter-common default"})
            if engine.provider == "CPUExecutionProvider":
                warnings.append("float16 is usually slower on a CPU: onnxruntime's CPU kernels are mostly float32, "
                                "so the model runs through casts; it pays on GPUs")
        else:
            note.update(_graph(source, made))
            warnings.append(f"the graph-optimised model is tied to this machine: {note['provider']} on "
                            f"{note['cpu']}; make it again on another machine")
        if should_stop and should_stop():
            raise Cancelled("stopped")
        _write_note(made, note)
        os.makedirs(os.path.dirname(os.path.abspath(target)) or ".", exist_ok=True)
        shutil.move(made, target)
    profile_path = str(Path(target).with_name(Path(target).stem + ".profile.json"))
    save_profile(engine.profile, profile_path)
    return Variant(target, method, profile_path, note, warnings)


def _static(engine, source, made, tmp, calibrate, n_calibrate, calibration, keep_float, per_channel,
            should_stop, progress) -> dict:
    from onnxruntime.quantization import CalibrationMethod, QuantFormat, QuantType, quantize_static

    if not calibrate:
        raise InputError("static quantization needs calibration inputs (--calibrate FOLDER|CSV)")
    feeds, used = [], []
    for _name, path, feed in iter_feeds(engine, calibrate, limit=max(1, int(n_calibrate)), should_stop=should_stop):
        feeds.append(feed)
        used.append(path)
    if not feeds:
        raise InputError("none of the calibration inputs could be read for this model")
    pre, symbolic = _pre_process(source, tmp)
    if keep_float:
        names = {n.name for n in _load(pre).graph.node}
        missing = [n for n in keep_float if n not in names]
        if missing:
            raise InputError(f"node{'s' if len(missing) > 1 else ''} to keep in float not in the model after "
                             f"pre-processing: {', '.join(missing[:5])}")
    method = {"minmax": CalibrationMethod.MinMax, "entropy": CalibrationMethod.Entropy,
              "percentile": CalibrationMethod.Percentile}[calibration]
    try:
        # QUInt8 activations with QInt8 weights (U8S8): onnxruntime's recommended pairing on x86-64, whose
        # integer kernels (AVX2 and AVX512-VNNI) take an unsigned input and signed weights
        quantize_static(pre, made, _Reader(feeds, progress, should_stop), quant_format=QuantFormat.QDQ,
                        activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8, per_channel=per_channel,
                        calibrate_method=method, nodes_to_exclude=keep_float or None,
                        extra_options={"CalibTensorRangeSymmetric": False})
    except Cancelled:
        raise
    except Exception as exc:
        raise ModelError(f"static quantization failed: {str(exc).splitlines()[0][:300]}") from exc
    return {"calibration": calibration, "calibration_set_sha256": calibration_set_sha256(used),
            "n_calibration": len(feeds), "symbolic_shape_inference": symbolic, "per_channel": per_channel, "keep_float": keep_float,
            "quant_format": "QDQ", "activation_type": "QUInt8", "weight_type": "QInt8"}


def _pre_process(source: str, tmp: str) -> tuple[str, bool]:
    """onnxruntime's ``quant_pre_process`` of ``source`` (shape inference, constant folding): (its path, symbolic).

    Its symbolic shape inference needs sympy; without it the pre-processing uses ONNX's own
    shape inference, which is enough for models whose shapes are fixed or batch-only (CNNs, MLPs).
    """
    from onnxruntime.quantization.shape_inference import quant_pre_process

    pre = os.path.join(tmp, "pre.onnx")
    symbolic = importlib.util.find_spec("sympy") is not None
    try:
        quant_pre_process(source, pre, skip_symbolic_shape=not symbolic)
    except Exception as exc:  # onnxruntime's shape inference raises many types
        raise ModelError(f"onnxruntime's quantization pre-processing failed: {str(exc).splitlines()[0][:300]}") from exc
    return pre, symbolic


def _dynamic(source, made, tmp, per_channel) -> bool:
    from onnxruntime.quantization import QuantType, quantize_dynamic

    pre, symbolic = _pre_process(source, tmp)
    try:
        quantize_dynamic(pre, made, weight_type=QuantType.QInt8, per_channel=per_channel)
    except Exception as exc:
        raise ModelError(f"dynamic quantization failed: {str(exc).splitlines()[0][:300]}") from exc
    return symbolic


def _fp16(model, made) -> list:
    import warnings

    import onnx

    try:
        from onnxconverter_common.float16 import convert_float_to_float16
    except ImportError as exc:
        raise ModelError("float16 variants need onnxconverter-common (pip install onnxconverter-common)") from exc
    try:
        with warnings.catch_warnings(record=True) as caught:  # one warning per weight rounded to float16's range
            warnings.simplefilter("always")
            half = convert_float_to_float16(model, keep_io_types=True)
    except Exception as exc:
        raise ModelError(f"float16 conversion failed: {str(exc).splitlines()[0][:300]}") from exc
    onnx.save(half, made)
    rounded = sum(1 for w in caught if "truncated" in str(w.message))
    return [f"{rounded:,} weight{'s' if rounded != 1 else ''} too small or too large for float16 "
            f"{'were' if rounded != 1 else 'was'} rounded into its range"] if rounded else []


def _graph(source, made) -> dict:
    import onnxruntime as ort

    opts = ort.SessionOptions()
    # extended, not all: level "all" adds layout changes (NCHWc) that only this CPU provider can load
    opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_EXTENDED
    opts.optimized_model_filepath = made
    opts.log_severity_level = 3
    try:
        session = ort.InferenceSession(source, sess_options=opts, providers=["CPUExecutionProvider"])
    except Exception as exc:
        raise ModelError(f"onnxruntime cannot optimise the model: {str(exc).splitlines()[0][:300]}") from exc
    return {"opt_level": "extended", "provider": session.get_providers()[0], **cpu_facts()}


def _write_note(path: str, note: dict) -> None:
    import onnx

    model = onnx.load(path)
    props = [p for p in model.metadata_props if p.key != METADATA_KEY]
    del model.metadata_props[:]
    model.metadata_props.extend(props)
    entry = model.metadata_props.add()
    entry.key, entry.value = METADATA_KEY, json.dumps(note, sort_keys=True)
    onnx.save(model, path)


def read_note(model_path) -> dict | None:
    """The ``inferdesk.variant`` note of a variant (None for a model InferDesk did not make)."""
    for p in _load(model_path).metadata_props:
        if p.key == METADATA_KEY:
            try:
                return json.loads(p.value)
            except ValueError:
                return None
    return None


def item_count_word(engine) -> str:
    return "images" if engine.profile.image is not None else "rows"


def as_array(value):
    """A float output as an array (ZipMap scores as their matrix); None for what cannot be compared."""
    scores = getattr(value, "scores", None)
    if scores is not None:
        return np.asarray(scores)
    if isinstance(value, np.ndarray):
        return value
    return None
