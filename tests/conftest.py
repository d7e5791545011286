"""Shared fixtures: tiny ONNX models built in a temporary folder, and the bundled samples."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import onnx
import pytest
from hypothesis import settings
from onnx import TensorProto, helper, numpy_helper

from tests.onnx_models import model_proto

# CI searches the same examples every run (a red build is this change's, not a new random draw);
# a run by hand draws new ones and keeps what it finds in .hypothesis/ (INFERDESK_FUZZ_SCALE for more)
settings.register_profile("ci", derandomize=True, print_blob=True)
if os.environ.get("CI"):
    settings.load_profile("ci")

ROOT = Path(__file__).resolve().parent.parent
MODELS = ROOT / "models"
SAMPLES = ROOT / "resources" / "samples"


def make_model(path, nodes, inputs, outputs, initializers=(), opset=17, metadata=None, ir_version=8,
               domain_opsets=None) -> Path:
    """Write a small ONNX model; inputs/outputs are (name, elem_type, shape) triples."""
    model = model_proto(nodes, inputs, outputs, initializers, opset, metadata, ir_version, domain_opsets)
    onnx.save(model, str(path))
    return Path(path)


def image_logits_model(path, channels=3, size=4, classes=None, softmax=False, metadata=None, batch="N"):
    """x [N, C, H, W] -> mean over H, W -> [N, C] scores (logits, or probabilities with softmax)."""
    nodes = [helper.make_node("ReduceMean", ["x"], ["m"], axes=[2, 3], keepdims=0)]
    out = "m"
    if softmax:
        nodes.append(helper.make_node("Softmax", ["m"], ["p"], axis=1))
        out = "p"
    nodes.append(helper.make_node("Identity", [out], ["scores"]))
    return make_model(path, nodes, [("x", TensorProto.FLOAT, [batch, channels, size, size])],
                      [("scores", TensorProto.FLOAT, [batch, channels])], metadata=metadata)


def table_model(path, n_features=3, metadata=None):
    """features [N, F] -> sum of features as [N, 1] (a regression)."""
    w = numpy_helper.from_array(np.ones((n_features, 1), dtype=np.float32), "w")
    nodes = [helper.make_node("MatMul", ["features", "w"], ["variable"])]
    return make_model(path, nodes, [("features", TensorProto.FLOAT, ["N", n_features])],
                      [("variable", TensorProto.FLOAT, ["N", 1])], [w], metadata=metadata)


@pytest.fixture
def logits_model(tmp_path):
    return image_logits_model(tmp_path / "logits.onnx", metadata={"labels": '["red", "green", "blue"]'})


@pytest.fixture
def sum_model(tmp_path):
    return table_model(tmp_path / "sum.onnx")


@pytest.fixture
def digits_model():
    return MODELS / "digits.onnx"


@pytest.fixture(autouse=True)
def _isolated_user_data(tmp_path_factory, monkeypatch):
    """Every test gets its own history database, audit anchors and settings, never the user's real ones."""
    monkeypatch.setenv("INFERDESK_DATA_DIR", str(tmp_path_factory.mktemp("userdata")))
    monkeypatch.setenv("INFERDESK_CONFIG_DIR", str(tmp_path_factory.mktemp("userconfig")))
