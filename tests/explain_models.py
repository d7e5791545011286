"""Tiny models for the explanation tests, built so that only one region (images) or one feature (tables) matters."""

from __future__ import annotations

import json

import numpy as np
from onnx import TensorProto, helper, numpy_helper
from PIL import Image

from desktop.engine import Engine
from tests.conftest import make_model

F = TensorProto.FLOAT
W, H = 48, 40  # the test image (stretched to the models' 32×32)


def write_image(path) -> str:
    """Bright in the top-left quarter, dark elsewhere, with some noise."""
    rng = np.random.default_rng(0)
    a = rng.integers(30, 70, (H, W, 3))
    a[: H // 2, : W // 2] = rng.integers(180, 230, (H // 2, W // 2, 3))
    Image.fromarray(a.astype(np.uint8)).save(path)
    return str(path)


def _profile(path, **extra):
    profile = {"input": "image", "task": "classification", "labels": ["off", "on"],
               "image": {"color": "RGB", "layout": "NCHW", "dtype": "float32",
                         "resize": {"mode": "stretch", "size": [32, 32], "interpolation": "bilinear"},
                         "scale": 1 / 255, "mean": [0.0, 0.0, 0.0], "std": [1.0, 1.0, 1.0]}}
    profile.update(extra)
    path.with_suffix(".profile.json").write_text(json.dumps(profile))


def _ints(name, values):
    return numpy_helper.from_array(np.array(values, dtype=np.int64), name)


def _floats(name, values):
    return numpy_helper.from_array(np.asarray(values, dtype=np.float32), name)


def quadrant_model(path, batch="N", gain=None):
    """logit 'on' = mean of the input's top-left 16×16 (× ``gain``, an initialiser, when given); 'off' = 0.5."""
    nodes = [helper.make_node("Slice", ["image", "starts", "ends", "axes"], ["tl"]),
             helper.make_node("ReduceMean", ["tl"], ["m"], axes=[1, 2, 3], keepdims=1),  # (N, 1, 1, 1)
             helper.make_node("Reshape", ["m", "shape"], ["on0"])]
    inits = [_ints("starts", [0, 0]), _ints("ends", [16, 16]), _ints("axes", [2, 3]), _ints("shape", [-1, 1]),
             _floats("half", [0.5])]
    on = "on0"
    if gain is not None:
        nodes.append(helper.make_node("Mul", ["on0", "gain"], ["on"]))
        inits.append(_floats("gain", [gain]))
        on = "on"
    nodes += [helper.make_node("Mul", [on, "zero"], ["z"]), helper.make_node("Add", ["z", "half"], ["off"]),
              helper.make_node("Concat", ["off", on], ["logits"], axis=1)]
    inits.append(numpy_helper.from_array(np.array(0.0, dtype=np.float32), "zero"))
    make_model(path, nodes, [("image", F, [batch, 3, 32, 32])], [("logits", F, [batch, 2])], inits)
    _profile(path)
    return path


def conv_model(path):
    """Conv 3→4 → Relu → × a spatial weight that is 1 on the top-left quadrant, 0 elsewhere → mean → Gemm → logits."""
    rng = np.random.default_rng(1)
    spatial = np.zeros((1, 1, 32, 32), dtype=np.float32)
    spatial[..., :16, :16] = 1
    gemm = np.zeros((4, 2), dtype=np.float32)
    gemm[:, 1] = 1.0
    nodes = [helper.make_node("Conv", ["image", "cw", "cb"], ["c"], pads=[1, 1, 1, 1]),
             helper.make_node("Relu", ["c"], ["r"]),
             helper.make_node("Mul", ["r", "spatial"], ["s"]),
             helper.make_node("ReduceMean", ["s"], ["f"], axes=[2, 3], keepdims=0),
             helper.make_node("Gemm", ["f", "gw", "gb"], ["logits"])]
    inits = [_floats("cw", np.abs(rng.normal(0, 0.3, (4, 3, 3, 3)))), _floats("cb", np.zeros(4)),
             _floats("spatial", spatial), _floats("gw", gemm), _floats("gb", [0.3, 0.0])]
    make_model(path, nodes, [("image", F, ["N", 3, 32, 32])], [("logits", F, ["N", 2])], inits)
    _profile(path)
    return path


def linear_table_model(tmp_path, m=5, which=3, classify=False):
    """x [N, m] -> x @ w + b with only feature ``which`` weighted (a regressor), or logits [0, that] (a classifier)."""
    w = np.zeros((m, 2 if classify else 1), dtype=np.float32)
    w[which, -1] = 2.0
    b = np.array([0.0, -1.0] if classify else [0.5], dtype=np.float32)
    path = tmp_path / ("cls.onnx" if classify else "reg.onnx")
    make_model(path, [helper.make_node("MatMul", ["x", "w"], ["xw"]), helper.make_node("Add", ["xw", "b"], ["y"])],
               [("x", F, ["N", m])], [("y", F, ["N", w.shape[1]])], [_floats("w", w), _floats("b", b)])
    columns = [f"f{j}" for j in range(m)]
    profile = {"input": "x", "task": "classification" if classify else "regression", "table": {"columns": columns}}
    if classify:
        profile["labels"] = ["no", "yes"]
    path.with_suffix(".profile.json").write_text(json.dumps(profile))
    rng = np.random.default_rng(0)
    data = rng.normal(0, 1, (40, m))
    csv = tmp_path / "rows.csv"
    csv.write_text(",".join(columns) + "\n" + "\n".join(",".join(f"{v:.4f}" for v in r) for r in data) + "\n")
    return Engine(str(path)), str(csv), np.round(data, 4)


def tiny_detector(path):
    """Two boxes (end2end rows x1, y1, x2, y2, score, class, in input pixels): class 0 over the top-left
    quadrant scoring the mean of its pixels, and class 1 over the bottom-right at a constant 0.3."""
    nodes = [helper.make_node("Slice", ["image", "starts", "ends", "axes"], ["tl"]),
             helper.make_node("ReduceMean", ["tl"], ["m4"], axes=[1, 2, 3], keepdims=1),
             helper.make_node("Reshape", ["m4", "shape"], ["m"]),  # (N, 1)
             helper.make_node("Mul", ["m", "zeros6"], ["z6"]),  # (N, 6) zeros, to broadcast the constants
             helper.make_node("Add", ["z6", "row_a"], ["a0"]),
             helper.make_node("Mul", ["m", "score_col"], ["a1"]),
             helper.make_node("Add", ["a0", "a1"], ["a"]),  # [0, 0, 16, 16, m, 0]
             helper.make_node("Add", ["z6", "row_b"], ["b"]),  # [16, 16, 32, 32, 0.3, 1]
             helper.make_node("Unsqueeze", ["a", "one"], ["a3"]),
             helper.make_node("Unsqueeze", ["b", "one"], ["b3"]),
             helper.make_node("Concat", ["a3", "b3"], ["output0"], axis=1)]
    inits = [_ints("starts", [0, 0]), _ints("ends", [16, 16]), _ints("axes", [2, 3]), _ints("shape", [-1, 1]),
             _ints("one", [1]), _floats("zeros6", np.zeros((1, 6))), _floats("row_a", [[0, 0, 16, 16, 0, 0]]),
             _floats("score_col", [[0, 0, 0, 0, 1, 0]]), _floats("row_b", [[16, 16, 32, 32, 0.3, 1]])]
    make_model(path, nodes, [("image", F, ["N", 3, 32, 32])], [("output0", F, ["N", 2, 6])], inits)
    _profile(path, task="detection", labels=["a", "b"], detection={"family": "end2end"})
    return path
