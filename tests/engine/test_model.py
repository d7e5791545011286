"""Loading and inspecting models: every refusal has its own message; labels and shapes are read."""

from __future__ import annotations

import os

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from desktop.engine import Engine, inspect_model
from desktop.engine.errors import ModelError
from desktop.engine.model import parse_labels
from tests.conftest import MODELS, image_logits_model, make_model


def test_sample_model_is_described(digits_model):
    info = inspect_model(digits_model)
    assert info.file_name == "digits.onnx"
    assert info.inputs[0].name == "image"
    assert info.inputs[0].shape == ("batch", 1, 16, 16)  # the symbolic dimension keeps its name
    assert info.inputs[0].type == "tensor(float)"
    assert info.outputs[0].shape == ("batch", 10)
    assert info.labels == tuple(str(d) for d in range(10))
    assert info.labels_source == "labels"
    assert info.opsets == {"ai.onnx": 17}
    assert info.ir_version == 8
    assert len(info.sha256) == 64 and info.size_bytes == os.path.getsize(digits_model)
    assert "inferdesk.profile" in info.metadata


def test_zipmap_output_type_is_named():
    info = inspect_model(MODELS / "breast_cancer.onnx")
    types = {o.name: o.type for o in info.outputs}
    assert types["output_probability"].startswith("seq(map(int64")
    assert types["output_label"] == "tensor(int64)"


def test_missing_path(tmp_path):
    with pytest.raises(ModelError, match="Model file not found"):
        inspect_model(tmp_path / "nope.onnx")


def test_directory(tmp_path):
    with pytest.raises(ModelError, match="is a folder, not a model file"):
        inspect_model(tmp_path)


def test_empty_file(tmp_path):
    p = tmp_path / "empty.onnx"
    p.write_bytes(b"")
    with pytest.raises(ModelError, match=r"empty \(0 bytes\)"):
        inspect_model(p)


def test_truncated_file(tmp_path, digits_model):
    p = tmp_path / "cut.onnx"
    data = digits_model.read_bytes()
    p.write_bytes(data[: len(data) // 2])
    with pytest.raises(ModelError, match="truncated or corrupt"):
        inspect_model(p)


def test_random_bytes(tmp_path):
    p = tmp_path / "noise.onnx"
    p.write_bytes(np.random.default_rng(1).integers(0, 256, 5000, dtype=np.uint8).tobytes())
    with pytest.raises(ModelError, match="not a valid ONNX model"):
        inspect_model(p)


@pytest.mark.parametrize("head, what", [
    (b"\x89PNG\r\n\x1a\n" + b"\0" * 40, "a PNG image"),
    (b"PK\x03\x04" + b"\0" * 40, "ZIP archive"),
    (b"\x80\x04\x95" + b"\0" * 40, "pickle"),
    (b'{"weights": [1, 2, 3]}', "text file"),
])
def test_non_onnx_files_are_named(tmp_path, head, what):
    p = tmp_path / "model.onnx"
    p.write_bytes(head)
    with pytest.raises(ModelError, match="is not an ONNX model") as exc:
        inspect_model(p)
    assert what in str(exc.value)


def test_opset_this_runtime_cannot_run(tmp_path):
    p = image_logits_model(tmp_path / "m.onnx")
    m = onnx.load(str(p))
    m.opset_import[0].version = 99
    onnx.save(m, str(p))
    inspect_model(p)  # the file itself is readable
    with pytest.raises(ModelError, match="opset 99"):
        Engine(p)


def test_unknown_operator(tmp_path):
    p = make_model(tmp_path / "m.onnx", [helper.make_node("FrobnicateTensor", ["x"], ["y"])],
                   [("x", TensorProto.FLOAT, [1, 3])], [("y", TensorProto.FLOAT, [1, 3])])
    with pytest.raises(ModelError, match="FrobnicateTensor"):
        Engine(p)


def test_unknown_custom_domain_operator(tmp_path):
    p = make_model(tmp_path / "m.onnx", [helper.make_node("Magic", ["x"], ["y"], domain="com.example")],
                   [("x", TensorProto.FLOAT, [1, 3])], [("y", TensorProto.FLOAT, [1, 3])],
                   domain_opsets={"com.example": 1})
    with pytest.raises(ModelError, match="Magic"):
        Engine(p)


def _external_model(tmp_path, location: str):
    w = numpy_helper.from_array(np.ones((3, 1), dtype=np.float32), "w")
    w.ClearField("float_data")
    w.ClearField("raw_data")
    w.data_location = TensorProto.EXTERNAL
    for k, v in (("location", location), ("offset", "0"), ("length", "12")):
        e = w.external_data.add()
        e.key, e.value = k, v
    folder = tmp_path / "model"
    folder.mkdir(exist_ok=True)
    return make_model(folder / "ext.onnx", [helper.make_node("MatMul", ["x", "w"], ["y"])],
                      [("x", TensorProto.FLOAT, [1, 3])], [("y", TensorProto.FLOAT, [1, 1])], [w])


@pytest.mark.parametrize("location", ["../secret.bin", "sub/../../secret.bin"])
def test_external_data_outside_the_folder(tmp_path, location):
    (tmp_path / "secret.bin").write_bytes(b"\0" * 12)
    p = _external_model(tmp_path, location)
    with pytest.raises(ModelError, match="outside the model's folder"):
        inspect_model(p)


def test_external_data_absolute_path(tmp_path):
    (tmp_path / "secret.bin").write_bytes(b"\0" * 12)
    p = _external_model(tmp_path, str(tmp_path / "secret.bin"))
    with pytest.raises(ModelError, match="absolute path"):
        inspect_model(p)


def test_external_data_missing_and_present(tmp_path):
    p = _external_model(tmp_path, "weights.bin")
    with pytest.raises(ModelError, match="'weights.bin' .* is missing"):
        inspect_model(p)
    (p.parent / "weights.bin").write_bytes(np.ones(3, dtype=np.float32).tobytes())
    info = inspect_model(p)
    assert info.external_data == ("weights.bin",)
    engine = Engine(p)
    out, _ = engine.run({"x": np.ones((1, 3), dtype=np.float32)})
    assert out[0].tolist() == [[3.0]]


def test_model_needing_two_inputs_is_refused(tmp_path):
    p = make_model(tmp_path / "two.onnx", [helper.make_node("Add", ["a", "b"], ["c"])],
                   [("a", TensorProto.FLOAT, [1, 3, 4, 4]), ("b", TensorProto.FLOAT, [1, 3, 4, 4])],
                   [("c", TensorProto.FLOAT, [1, 3, 4, 4])])
    with pytest.raises(ModelError, match="needs 2 inputs"):
        Engine(p)


@pytest.mark.parametrize("key", ["labels", "classes", "names", "character"])
def test_labels_from_each_metadata_key(tmp_path, key):
    p = image_logits_model(tmp_path / "m.onnx", metadata={key: "cat\ndog\nbird"})
    info = inspect_model(p)
    assert info.labels == ("cat", "dog", "bird") and info.labels_source == key


@pytest.mark.parametrize("raw, expected", [
    ('["a", "b"]', ["a", "b"]),
    ('{"1": "b", "0": "a", "10": "k"}', ["a", "b", "k"]),
    ("{0: 'person', 1: 'bicycle'}", ["person", "bicycle"]),  # YOLO exporters write a Python dict
    ("a\nb\r\nc\n", ["a", "b", "c"]),
    ("a, b, c", ["a", "b", "c"]),
    ("single", ["single"]),
    ("", []),
])
def test_parse_labels(raw, expected):
    assert parse_labels(raw) == expected


def test_to_dict_is_json_ready(digits_model):
    import json

    d = inspect_model(digits_model).to_dict()
    assert json.loads(json.dumps(d))["inputs"][0]["shape"] == ["batch", 1, 16, 16]


@pytest.mark.parametrize("cls", ["desktop.engine.model:ModelInfo", "desktop.engine.profile:ImageSpec",
                                 "desktop.engine.store:VerifyReport", "desktop.engine.store:RunSummary"])
def test_records_of_many_fields_are_made_by_keyword_only(cls):
    import importlib

    module, name = cls.split(":")
    with pytest.raises(TypeError, match="positional"):
        getattr(importlib.import_module(module), name)("a")
