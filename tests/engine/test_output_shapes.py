"""How a model's declared input and output shapes read: '[N, 3]', 'scalar', 'unknown rank'."""

from __future__ import annotations

from onnx import TensorProto, helper

from desktop.cli import main
from desktop.engine.model import inspect_model
from tests.conftest import make_model


def _model(tmp_path):
    nodes = [helper.make_node("Identity", ["x"], ["same"]),
             helper.make_node("ReduceSum", ["x"], ["total"], keepdims=0),
             helper.make_node("Identity", ["x"], ["undeclared"])]
    return make_model(tmp_path / "shapes.onnx", nodes, [("x", TensorProto.FLOAT, ["N", 3])],
                      [("same", TensorProto.FLOAT, ["N", 3]), ("total", TensorProto.FLOAT, []),
                       ("undeclared", TensorProto.FLOAT, None)], opset=13)


def test_no_declared_shape_is_unknown_rank_and_rank_zero_is_scalar(tmp_path):
    info = inspect_model(_model(tmp_path))
    texts = {s.name: s.shape_text for s in info.inputs + info.outputs}
    assert texts == {"x": "[N, 3]", "same": "[N, 3]", "total": "scalar", "undeclared": "unknown rank"}
    undeclared = info.outputs[2]
    assert undeclared.shape == () and not undeclared.rank_known and info.outputs[1].rank_known


def test_info_on_the_command_line_says_unknown_rank(tmp_path, capsys):
    assert main(["info", str(_model(tmp_path))]) == 0
    out = capsys.readouterr().out
    assert "undeclared  tensor(float)  unknown rank" in out
    assert "total  tensor(float)  scalar" in out
