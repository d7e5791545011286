"""The preprocessing profile: hand-written JSON works, round-trips, refuses mistakes by key, resolves in order."""

from __future__ import annotations

import json

import pytest

from desktop.engine import Engine, inspect_model
from desktop.engine.errors import ProfileError
from desktop.engine.profile import (
    EMBEDDED_KEY,
    default_profile,
    load_profile,
    profile_from_dict,
    resolve_profile,
    save_profile,
    sidecar_paths,
)
from tests.conftest import image_logits_model, make_model, table_model

ISSUE_EXAMPLE = {
    "input": "x", "task": "classification", "labels": ["cat", "dog"],
    "image": {"color": "RGB", "layout": "NCHW", "dtype": "float32",
              "resize": {"mode": "fit", "size": [224, 224], "shorter": 256,
                         "interpolation": "bilinear", "pad": {"anchor": "center", "value": 0}},
              "crop": [224, 224], "scale": 0.00392156862745098,
              "mean": [0.485, 0.456, 0.406], "std": [0.229, 0.224, 0.225]},
}


def test_the_issue_example_parses():
    p = profile_from_dict(ISSUE_EXAMPLE)
    assert p.input == "x" and p.task == "classification" and p.labels == ("cat", "dog")
    assert p.image.resize.mode == "fit" and p.image.resize.size == (224, 224)
    assert p.image.crop == (224, 224)
    assert p.image.mean == (0.485, 0.456, 0.406)
    assert p.describe() == "RGB, fit in 224×224, padded center (bilinear), centre crop 224×224, ImageNet mean/std, NCHW float32"


def test_table_example_parses():
    p = profile_from_dict({"input": "x", "task": "regression", "table": {"columns": ["age", "bmi"]}})
    assert p.table.columns == ("age", "bmi") and p.image is None


@pytest.mark.parametrize("mode", ["stretch", "shorter-side", "fit", "height"])
def test_round_trip(tmp_path, mode):
    raw = json.loads(json.dumps(ISSUE_EXAMPLE))
    raw["image"]["resize"]["mode"] = mode
    raw["image"]["color"] = "BGR"
    raw["image"]["resize"]["pad"]["value"] = [1, 2, 3]
    p = profile_from_dict(raw)
    path = tmp_path / "p.json"
    save_profile(p, path)
    again = load_profile(path)
    assert again == p
    assert profile_from_dict(again.to_dict()) == p
    assert again.sha256() == p.sha256()


def test_atomic_save_leaves_no_temporary_files(tmp_path):
    p = profile_from_dict(ISSUE_EXAMPLE)
    save_profile(p, tmp_path / "m.profile.json")
    save_profile(p, tmp_path / "m.profile.json")
    assert [f.name for f in tmp_path.iterdir()] == ["m.profile.json"]


@pytest.mark.parametrize("change, message", [
    (lambda d: d["image"].update(colour="RGB"), "unknown key 'image.colour' (did you mean 'color'?)"),
    (lambda d: d["image"].update(color="CMYK"), "image.color must be one of RGB, BGR, L (got 'CMYK')"),
    (lambda d: d["image"]["resize"].update(mode="strech"), "image.resize.mode must be one of"),
    (lambda d: d["image"]["resize"].update(size=[224]), "image.resize.size must be [width, height]"),
    (lambda d: d["image"]["resize"].update(interpolation="fancy"), "image.resize.interpolation must be one of"),
    (lambda d: d["image"]["resize"]["pad"].update(anchor="middle"), "image.resize.pad.anchor must be one of"),
    (lambda d: d["image"].update(std=[0.2, 0, 0.2]), "image.std[1] must be greater than 0"),
    (lambda d: d["image"].update(mean=[1, 2]), "image.mean has 2 values but colour RGB has 3 channels"),
    (lambda d: d["image"].update(scale="1/255"), "image.scale must be a number"),
    (lambda d: d["image"].update(dtype="int4"), "image.dtype must be one of"),
    (lambda d: d.update(task="guess"), "task must be one of"),
    (lambda d: d["image"].update(crop=[0, 224]), "image.crop[0] (width) must be between 1"),
    (lambda d: d.update(table={"columns": ["a", "b"]}), "give either image or table"),
])
def test_mistakes_are_named(change, message):
    raw = json.loads(json.dumps(ISSUE_EXAMPLE))
    change(raw)
    with pytest.raises(ProfileError) as exc:
        profile_from_dict(raw)
    assert message in str(exc.value)


def test_required_keys_per_resize_mode():
    with pytest.raises(ProfileError, match="shorter is required"):
        profile_from_dict({"image": {"resize": {"mode": "shorter-side"}}})
    with pytest.raises(ProfileError, match=r"size \[width, height\] is required for resize mode 'fit'"):
        profile_from_dict({"image": {"resize": {"mode": "fit"}}})


def test_duplicate_columns_refused():
    with pytest.raises(ProfileError, match="lists a more than once"):
        profile_from_dict({"table": {"columns": ["a", "b", "a"]}})


def test_bad_json_file(tmp_path):
    f = tmp_path / "p.json"
    f.write_text("{not json")
    with pytest.raises(ProfileError, match="is not valid JSON"):
        load_profile(f)


def test_default_for_image_model(tmp_path):
    info = inspect_model(image_logits_model(tmp_path / "m.onnx", size=32))
    p = default_profile(info)
    assert p.input == "x" and p.image.layout == "NCHW" and p.image.color == "RGB"
    assert p.image.resize.size == (32, 32) and p.task == "classification"


def test_default_for_nhwc_and_symbolic_size(tmp_path):
    from onnx import TensorProto, helper

    p = make_model(tmp_path / "nhwc.onnx", [helper.make_node("Identity", ["img"], ["y"])],
                   [("img", TensorProto.UINT8, ["N", "H", "W", 3])], [("y", TensorProto.UINT8, ["N", "H", "W", 3])])
    prof = default_profile(inspect_model(p))
    assert prof.image.layout == "NHWC" and prof.image.dtype == "uint8" and prof.image.scale == 1.0
    # both sides dynamic: each image at its own size, rounded to 32, not an invented 224×224
    assert prof.image.resize.mode == "limit-side" and prof.image.resize.multiple == 32


def test_default_for_table_model(tmp_path):
    info = inspect_model(table_model(tmp_path / "t.onnx", metadata={"feature_names": '["a", "b", "c"]'}))
    p = default_profile(info)
    assert p.table.columns == ("a", "b", "c") and p.task == "regression"


def test_resolution_order(tmp_path):
    embedded = {"input": "x", "task": "classification",
                "image": {"color": "RGB", "resize": {"mode": "stretch", "size": [4, 4]}, "scale": 0.5}}
    model = image_logits_model(tmp_path / "m.onnx", metadata={EMBEDDED_KEY: json.dumps(embedded),
                                                               "labels": "r\ng\nb"})
    info = inspect_model(model)
    p, source = resolve_profile(model, info)
    assert source == "embedded in the model" and p.image.scale == 0.5
    assert p.labels == ("r", "g", "b")  # labels filled from metadata
    side = dict(embedded, image=dict(embedded["image"], scale=0.25))
    sidecar_paths(model)[0].write_text(json.dumps(side))
    p, source = resolve_profile(model, info)
    assert source == "sidecar m.profile.json" and p.image.scale == 0.25
    other = tmp_path / "other.json"
    other.write_text(json.dumps(dict(embedded, image=dict(embedded["image"], scale=2))))
    p, source = resolve_profile(model, info, explicit=other)
    assert source == "file other.json" and p.image.scale == 2


def test_no_profile_gives_default(tmp_path):
    model = image_logits_model(tmp_path / "m.onnx")
    p, source = resolve_profile(model, inspect_model(model))
    assert source.startswith("default")


def test_profile_checked_against_model(tmp_path):
    model = image_logits_model(tmp_path / "m.onnx")
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"input": "pixels"}))
    with pytest.raises(ProfileError, match="names input 'pixels', but the model's inputs are: x"):
        Engine(model, profile=bad)
    bad.write_text(json.dumps({"image": {"color": "L"}}))
    with pytest.raises(ProfileError, match="takes 3"):
        Engine(model, profile=bad)
    t = table_model(tmp_path / "t.onnx", n_features=3)
    bad.write_text(json.dumps({"table": {"columns": ["a", "b"]}}))
    with pytest.raises(ProfileError, match="lists 2 table columns, but model input 'features' takes 3"):
        Engine(t, profile=bad)


@pytest.mark.parametrize("raw, words", [
    ({"color": "RGB", "resize": {"mode": "stretch", "size": [224, 224]}, "mean": [0.485, 0.456, 0.406],
      "std": [0.229, 0.224, 0.225]}, "RGB, 224×224 stretch (bilinear), ImageNet mean/std, NCHW float32"),
    ({"color": "BGR", "scale": 1, "mean": [103.939, 116.779, 123.68], "layout": "NHWC",
      "resize": {"mode": "shorter-side", "shorter": 256}}, "BGR, shorter side 256 (bilinear), Caffe mean subtraction, NHWC float32"),
    ({"color": "L", "resize": {"mode": "height", "size": [320, 48]}},
     "greyscale, height 48, width up to 320, padded right (bilinear), 0–1 range, NCHW float32"),
])
def test_describe(raw, words):
    assert profile_from_dict({"image": raw}).describe() == words
