"""The wire-format reader sees in a model what onnx sees, and the scoring path never imports onnx."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from onnx import TensorProto, helper, numpy_helper

from desktop.engine import Engine, inspect_model
from desktop.engine.errors import ModelError
from desktop.engine.onnxwire import WireError, read_model, read_model_bytes, with_float_outputs
from tests.conftest import MODELS, ROOT, SAMPLES


def _onnx_view(model: onnx.ModelProto) -> dict:
    """What inspection reads, taken through onnx itself (the reference)."""
    def spec(vi):
        kind = vi.type.WhichOneof("value")
        return vi.name, kind

    return {
        "ir_version": model.ir_version,
        "producer": (model.producer_name, model.producer_version),
        "opsets": [(o.domain, o.version) for o in model.opset_import],
        "metadata": [(p.key, p.value) for p in model.metadata_props],
        "inputs": [vi.name for vi in model.graph.input],
        "outputs": [vi.name for vi in model.graph.output],
        "initializers": {t.name for t in model.graph.initializer},
        "doc": (model.doc_string, model.graph.doc_string),
    }


def _wire_view(wire) -> dict:
    return {
        "ir_version": wire.ir_version,
        "producer": (wire.producer_name, wire.producer_version),
        "opsets": wire.opsets,
        "metadata": wire.metadata,
        "inputs": [vi.name for vi in wire.inputs],
        "outputs": [vi.name for vi in wire.outputs],
        "initializers": wire.initializer_names,
        "doc": (wire.doc_string, wire.graph_doc_string),
    }


def _rich_model() -> onnx.ModelProto:
    """Every type InferDesk names, a subgraph holding a tensor, two ZipMaps, duplicate metadata keys."""
    then = helper.make_graph([helper.make_node("Constant", [], ["c"], value=numpy_helper.from_array(np.ones(2, np.float32)))],
                             "then", [], [helper.make_tensor_value_info("c", TensorProto.FLOAT, [2])])
    other = helper.make_graph([helper.make_node("Constant", [], ["d"], value=numpy_helper.from_array(np.zeros(2, np.float32)))],
                              "else", [], [helper.make_tensor_value_info("d", TensorProto.FLOAT, [2])])
    nodes = [helper.make_node("If", ["cond"], ["y"], then_branch=then, else_branch=other),
             helper.make_node("ZipMap", ["p"], ["z"], classlabels_strings=["yes", "no"]),
             helper.make_node("ZipMap", ["q"], ["zi"], classlabels_int64s=[-3, 7])]
    seq = helper.make_sequence_type_proto
    mapping = helper.make_map_type_proto
    graph = helper.make_graph(
        nodes, "g",
        [helper.make_tensor_value_info("cond", TensorProto.BOOL, []),
         helper.make_tensor_value_info("p", TensorProto.FLOAT, ["N", 2]),
         helper.make_tensor_value_info("q", TensorProto.DOUBLE, ["N", 2]),
         helper.make_tensor_value_info("w", TensorProto.FLOAT16, [3, -1, None])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [2]),
         helper.make_value_info("z", seq(mapping(TensorProto.STRING, helper.make_tensor_type_proto(TensorProto.FLOAT, None)))),
         helper.make_value_info("zi", seq(mapping(TensorProto.INT64, helper.make_tensor_type_proto(TensorProto.FLOAT, None)))),
         helper.make_value_info("o", helper.make_optional_type_proto(helper.make_tensor_type_proto(TensorProto.FLOAT, [1]))),
         helper.make_value_info("s", helper.make_sparse_tensor_type_proto(TensorProto.FLOAT, [2, 2])),
         helper.make_value_info("b", helper.make_tensor_type_proto(TensorProto.BFLOAT16, ["x", 4])),
         helper.make_value_info("u", helper.make_tensor_type_proto(0, None))],
        initializer=[numpy_helper.from_array(np.ones(3, np.float16), "w")], doc_string="the graph")
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17), helper.make_opsetid("ai.onnx.ml", 3)],
                              producer_name="tests", producer_version="1.2", doc_string="the model")
    for k, v in (("labels", "a,b"), ("description", "about"), ("labels", "x,y")):
        entry = model.metadata_props.add()
        entry.key, entry.value = k, v
    return model


def test_the_reader_sees_what_onnx_sees(tmp_path):
    paths = sorted(MODELS.glob("*.onnx"))
    rich = tmp_path / "rich.onnx"
    onnx.save(_rich_model(), str(rich))
    for path in paths + [rich]:
        assert _wire_view(read_model(path)) == _onnx_view(onnx.load(str(path), load_external_data=False)), path


def test_types_shapes_and_zipmaps_are_read(tmp_path):
    path = tmp_path / "rich.onnx"
    onnx.save(_rich_model(), str(path))
    info = inspect_model(path)
    got = {s.name: (s.type, s.shape, s.elem_type) for s in info.inputs + info.outputs}
    assert got == {
        "cond": ("tensor(bool)", (), "bool"),
        "p": ("tensor(float)", ("N", 2), "float"),
        "q": ("tensor(double)", ("N", 2), "double"),
        "y": ("tensor(float)", (2,), "float"),
        "z": ("seq(map(object,tensor(float)))", (), None),
        "zi": ("seq(map(int64,tensor(float)))", (), None),
        "o": ("optional_type", (), None),
        "s": ("sparse_tensor_type", (), None),
        "b": ("tensor(bfloat16)", ("x", 4), "bfloat16"),
        "u": ("tensor(undefined)", (), "undefined"),
    }  # "w" is an initializer listed as an input, as old exporters did: not an input to feed
    assert info.metadata == {"labels": "x,y", "description": "about"}  # the last of a repeated key wins
    assert info.labels == ("x", "y") and info.description == "about"
    assert info.producer == "tests 1.2" and info.opsets == {"ai.onnx": 17, "ai.onnx.ml": 3}
    wire = read_model(path)
    assert [(z.input, z.output, z.keys) for z in wire.zipmaps] == [("p", "z", ["yes", "no"]), ("q", "zi", [-3, 7])]
    assert {t.name for t in wire.tensors} >= {"w", ""}  # the initializer and the Constant nodes' values in subgraphs


def test_a_tensor_inside_a_subgraph_pointing_outside_is_refused(tmp_path):
    value = numpy_helper.from_array(np.ones(2, np.float32), "c")
    value.ClearField("raw_data")
    value.data_location = TensorProto.EXTERNAL
    entry = value.external_data.add()
    entry.key, entry.value = "location", "../secret.bin"
    then = helper.make_graph([helper.make_node("Constant", [], ["c"], value=value)], "then", [],
                             [helper.make_tensor_value_info("c", TensorProto.FLOAT, [2])])
    graph = helper.make_graph([helper.make_node("If", ["cond"], ["y"], then_branch=then, else_branch=then)], "g",
                              [helper.make_tensor_value_info("cond", TensorProto.BOOL, [])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [2])])
    path = tmp_path / "m.onnx"
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), str(path))
    with pytest.raises(ModelError, match="outside the model's folder"):
        inspect_model(path)


def test_negative_and_long_varints(tmp_path):
    model = _rich_model()
    model.ir_version = 8
    model.graph.input[1].type.tensor_type.shape.dim[1].dim_value = -5
    wire = read_model_bytes(model.SerializeToString())
    assert wire.inputs[1].shape == ("N", -5)
    with pytest.raises(WireError):
        read_model_bytes(b"\x08" + b"\xff" * 11)  # a varint longer than ten bytes
    with pytest.raises(WireError):
        read_model_bytes(b"\x3a\x10abc")  # a graph field longer than the file


def test_added_outputs_are_what_onnx_would_write():
    data = (MODELS / "breast_cancer.onnx").read_bytes()
    merged = onnx.load_from_string(with_float_outputs(data, ["probabilities"]))
    original = onnx.load_from_string(data)
    original.graph.output.append(helper.make_tensor_value_info("probabilities", TensorProto.FLOAT, None))
    assert merged == original
    sess = ort.InferenceSession(with_float_outputs(data, ["probabilities"]), providers=["CPUExecutionProvider"])
    assert "probabilities" in [o.name for o in sess.get_outputs()]


def test_zipmap_scores_match_the_zipmap_itself():
    engine = Engine(MODELS / "breast_cancer.onnx")
    assert engine._zipmaps  # the tensor in front of the ZipMap is read instead
    x = np.random.default_rng(0).normal(10, 3, (5, engine.n_features)).astype(np.float32)
    plain = ort.InferenceSession(str(MODELS / "breast_cancer.onnx"), providers=["CPUExecutionProvider"])
    labels, maps = plain.run(None, {"features": x})
    out, _ = engine.run({"features": x})
    np.testing.assert_array_equal(out[0], labels)
    np.testing.assert_allclose(out[1].scores, [[m[k] for k in sorted(m)] for m in maps], rtol=1e-6)


def test_damage_inspection_does_not_read_is_reported_as_corrupt(tmp_path, digits_model):
    model = onnx.load(str(digits_model))
    model.graph.value_info.append(helper.make_tensor_value_info("extra", TensorProto.FLOAT, [1]))
    data = bytearray(model.SerializeToString())
    type_key = data.find(b"extra") + len(b"extra")
    assert data[type_key] == 0x12
    data[type_key] = 0x4E  # inside the value_info entry (which inspection skips), a key of an invalid wire type
    path = tmp_path / "damaged.onnx"
    path.write_bytes(bytes(data))
    with pytest.raises(ModelError, match="truncated or corrupt"):
        Engine(path)


@pytest.mark.parametrize("model, csv", [("breast_cancer", "breast_cancer.csv"), ("diabetes", "diabetes.csv")])
def test_scoring_a_small_csv_imports_neither_onnx_nor_pandas(tmp_path, model, csv):
    code = (
        "import sys, json; from desktop.cli import main; "
        f"rc = main(['score', {str(MODELS / (model + '.onnx'))!r}, {str(SAMPLES / csv)!r}, '--format', 'csv', "
        f"'--out', {str(tmp_path / 'out.csv')!r}]); "
        "print(json.dumps({'rc': rc, 'loaded': sorted(m for m in ('onnx', 'pandas', 'ml_dtypes', 'google.protobuf') "
        "if m in sys.modules)}))"
    )
    env = dict(os.environ, PYTHONPATH=str(ROOT), INFERDESK_DATA_DIR=str(tmp_path / "data"))
    proc = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout.strip().splitlines()[-1]) == {"rc": 0, "loaded": []}
    assert (tmp_path / "out.csv").stat().st_size > 0


def test_an_edited_profile_keeps_the_zipmap_shortcut():
    engine = Engine(MODELS / "breast_cancer.onnx")
    x = np.random.default_rng(1).normal(10, 3, (4, engine.n_features)).astype(np.float32)
    edited = engine.with_profile(engine.profile.with_labels(["M", "B"]))
    assert edited.session is engine.session
    before, _ = engine.run({"features": x})
    after, _ = edited.run({"features": x})
    assert len(after) == len(engine.info.outputs) == 2
    np.testing.assert_array_equal(after[0], before[0])
    np.testing.assert_array_equal(after[1].scores, before[1].scores)
