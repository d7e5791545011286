"""inferdesk check-preprocessing: the difference from the user's own tensor, and the preset or setting that matches it."""

from __future__ import annotations

import json

import numpy as np
import pytest
from onnx import TensorProto, helper

from desktop.cli import main
from tests.conftest import image_logits_model, make_model
from tests.engine.test_presets import paddleocr_det, sharp, torchvision_eval, ultralytics_letterbox


@pytest.fixture
def photo(tmp_path):
    path = tmp_path / "photo.png"
    sharp(1000, 563).save(path)
    return path


def _save(tmp_path, name, tensor):
    path = tmp_path / name
    np.save(path, tensor)
    return path


def _profile(tmp_path, image):
    path = tmp_path / "p.profile.json"
    path.write_text(json.dumps({"image": image}), encoding="utf-8")
    return path


def _closest(out):
    return [line.split(": max")[0].split(". ", 1)[1] for line in out.splitlines() if line.startswith("  1. ")]


def test_torchvision_style_reference_names_the_torchvision_preset(tmp_path, photo, capsys):
    model = image_logits_model(tmp_path / "m.onnx", size=224, batch=1)  # default: a 224×224 stretch, 0–1
    ref = _save(tmp_path, "ref.npy", torchvision_eval(sharp(1000, 563))[None])  # with the batch axis
    assert main(["check-preprocessing", str(model), str(photo), str(ref)]) == 1
    out = capsys.readouterr().out
    assert _closest(out) == ["preset torchvision-imagenet"]
    assert '{"image": {"preset": "torchvision-imagenet"}}' in out
    assert "does not match" in out and "Channels    R max" in out and "4×4 grid" in out


def test_opencv_letterbox_reference_names_the_ultralytics_preset(tmp_path, photo, capsys):
    model = image_logits_model(tmp_path / "m.onnx", size=320, batch=1)
    ref = _save(tmp_path, "ref.npy", ultralytics_letterbox(sharp(1000, 563), new=320))  # without the batch axis
    assert main(["check-preprocessing", str(model), str(photo), str(ref)]) == 1
    out = capsys.readouterr().out
    assert _closest(out) == ["preset ultralytics-letterbox (resize for this tensor)"]
    assert '{"image": {"preset": "ultralytics-letterbox", "resize": {"size": [320, 320]}}}' in out
    assert "MATCHES" in out.split("  1. ")[1].splitlines()[0]


def test_paddleocr_style_reference_names_the_paddleocr_preset(tmp_path, photo, capsys):
    model = make_model(tmp_path / "det.onnx", [helper.make_node("Identity", ["x"], ["y"])],
                       [("x", TensorProto.FLOAT, [1, 3, "h", "w"])], [("y", TensorProto.FLOAT, [1, 3, "h", "w"])])
    ref = _save(tmp_path, "ref.npy", paddleocr_det(sharp(1000, 563))[None])
    mine = _profile(tmp_path, {"resize": {"mode": "limit-side", "limit": 960}})  # Pillow, RGB, 0–1
    assert main(["check-preprocessing", str(model), str(photo), str(ref), "--profile", str(mine), "--json"]) == 1
    d = json.loads(capsys.readouterr().out)
    assert d["matches"] is False and d["better"] == "preset paddleocr-det"
    best = d["candidates"][0]
    assert best["change"] == {"image": {"preset": "paddleocr-det"}} and best["matches"] and best["max_abs"] == 0
    assert [c["channel"] for c in d["current"]["channels"]] == ["R", "G", "B"]
    assert len(d["candidates"]) == 3 and len(d["current"]["grid_mean_abs"]) == 4


def test_a_variant_around_the_profile_is_found(tmp_path, photo, capsys):
    """A torchvision pipeline with bicubic, checked under a bilinear profile: one key away (or timm-eval)."""
    from PIL import Image

    model = image_logits_model(tmp_path / "m.onnx", size=224, batch=1)
    ref = _save(tmp_path, "ref.npy", torchvision_eval(sharp(1000, 563), resample=Image.BICUBIC))
    mine = _profile(tmp_path, {"preset": "torchvision-imagenet"})
    assert main(["check-preprocessing", str(model), str(photo), str(ref), "--profile", str(mine), "--json"]) == 1
    d = json.loads(capsys.readouterr().out)
    best = d["candidates"][0]
    assert best["matches"] and best["change"] == {"image": {"preset": "timm-eval"}}
    assert {"label": "resize.interpolation bicubic", "change": {"image": {"resize": {"interpolation": "bicubic"}}}} \
        in best["also"]  # the same tensor, one key away


def test_a_matching_profile_exits_0(tmp_path, photo, capsys):
    model = image_logits_model(tmp_path / "m.onnx", size=224, batch=1)
    ref = _save(tmp_path, "ref.npy", torchvision_eval(sharp(1000, 563)))
    mine = _profile(tmp_path, {"preset": "torchvision-imagenet"})
    assert main(["check-preprocessing", str(model), str(photo), str(ref), "--profile", str(mine)]) == 0
    out = capsys.readouterr().out
    assert "(MATCHES)" in out and "Verdict     the profile matches the reference" in out
    assert "no pixel over the tolerance" in out


def test_the_tolerance_is_configurable(tmp_path, photo, capsys):
    model = image_logits_model(tmp_path / "m.onnx", size=224, batch=1)
    ref = torchvision_eval(sharp(1000, 563))
    ref[:, :5, :5] += 0.01  # a corner off by a hundredth
    path = _save(tmp_path, "ref.npy", ref)
    mine = _profile(tmp_path, {"preset": "torchvision-imagenet"})
    assert main(["check-preprocessing", str(model), str(photo), str(path), "--profile", str(mine)]) == 1
    out = capsys.readouterr().out
    assert "25 of 50,176 pixels over the tolerance, within x 0–4, y 0–4" in out
    assert main(["check-preprocessing", str(model), str(photo), str(path), "--profile", str(mine),
                 "--tolerance", "0.01"]) == 0


def test_a_shape_mismatch_exits_2_with_one_line(tmp_path, photo, capsys):
    model = image_logits_model(tmp_path / "m.onnx", size=224, batch=1)
    ref = _save(tmp_path, "ref.npy", np.zeros((1, 3, 100, 120), dtype=np.float32))
    assert main(["check-preprocessing", str(model), str(photo), str(ref)]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    lines = captured.err.splitlines()
    assert len(lines) == 1 and "1×3×100×120" in lines[0] and "3×224×224" in lines[0]


def test_an_unreadable_reference_exits_2(tmp_path, photo, capsys):
    model = image_logits_model(tmp_path / "m.onnx", size=224, batch=1)
    bad = tmp_path / "bad.npy"
    bad.write_text("not a tensor")
    assert main(["check-preprocessing", str(model), str(photo), str(bad)]) == 2
    assert len(capsys.readouterr().err.splitlines()) == 1


def test_info_says_the_preset_was_chosen_from_ultralytics_metadata(tmp_path, capsys):
    from tests.engine.test_detection import FAMILIES

    model = FAMILIES["yolov8"](tmp_path / "v8.onnx")
    assert main(["info", str(model)]) == 0
    line = next(x for x in capsys.readouterr().out.splitlines() if x.startswith("Profile"))
    assert line.startswith("Profile     preset ultralytics-letterbox (resize.size overridden), RGB, fit in 320×320")
    assert line.endswith("(preset ultralytics-letterbox, chosen from the model's Ultralytics metadata)")
    assert main(["info", str(model), "--json"]) == 0
    d = json.loads(capsys.readouterr().out)
    assert d["profile"]["image"] == {"preset": "ultralytics-letterbox", "resize": {"size": [320, 320]}}
    assert d["profile_image_effective"]["resize"]["library"] == "opencv"
