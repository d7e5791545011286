"""The preprocessing editor's library presets (saved as ``image.preset``) and its check against a reference tensor."""

from __future__ import annotations

import json
import shutil

import numpy as np
from uihelpers import ROOT, load

from desktop.engine import Engine
from desktop.engine.profile import IMAGENET_MEAN, load_profile, profile_from_dict

SCENE_MODEL = ROOT / "models" / "scene.onnx"
PHOTOS = ROOT / "resources" / "samples" / "photos"
LABELS = ["class 0", "class 1", "class 2", "class 3"]


def _scene(tmp_path, image: dict):
    """The scene classifier (224×224) copied with a sidecar of this image section."""
    model = tmp_path / "scene.onnx"
    shutil.copyfile(SCENE_MODEL, model)
    (tmp_path / "scene.profile.json").write_text(json.dumps(
        {"input": "input", "task": "classification", "labels": LABELS, "image": image}), encoding="utf-8")
    return model


def _profile(image: dict):
    return profile_from_dict({"input": "input", "task": "classification", "labels": LABELS, "image": image})


STRETCH = {"resize": {"mode": "stretch", "size": [224, 224]}, "scale": 1 / 255, "mean": [0.0], "std": [1.0]}


def _choose(editor, name):
    editor.library_preset.setCurrentIndex(editor.library_preset.findData(name))


def test_choosing_a_library_preset_fills_the_form_and_saves_its_name(qtbot, window, tmp_path):
    model = _scene(tmp_path, STRETCH)
    load(qtbot, window, model, [PHOTOS])
    editor = window.edit_profile()
    qtbot.waitExposed(editor)
    assert editor.library_preset.currentData() == ""  # a profile without a preset: "None (as below)"
    i = editor.library_preset.findData("torchvision-imagenet")
    assert "torchvision/transforms/functional.py" in editor.library_preset.itemData(i, 3)  # Qt.ToolTipRole: the source
    _choose(editor, "torchvision-imagenet")
    assert editor.resize_mode.currentData() == "shorter-side" and editor.shorter.value() == 256
    assert editor.crop.isChecked() and (editor.crop_w.value(), editor.crop_h.value()) == (224, 224)
    assert [float(x) for x in editor.mean.text().split(",")] == list(IMAGENET_MEAN)
    assert editor.save_button.isEnabled(), editor.message.text()
    # the preview is the preset's preprocessing, as the engine gives it
    path = editor.preview_pick.currentData()
    engine = Engine(model, profile=_profile({"preset": "torchvision-imagenet"}))
    expected, _ = engine.preprocess(engine.load_image(path)[0])
    np.testing.assert_array_equal(editor.preview_tensor(), expected)
    assert editor.preview.has_image()
    # a change in the form keeps the preset as the base: saved as its override
    editor.interp.setCurrentIndex(editor.interp.findData("bicubic"))
    editor.save_button.click()
    raw = json.loads((tmp_path / "scene.profile.json").read_text(encoding="utf-8"))
    assert raw["image"] == {"preset": "torchvision-imagenet", "resize": {"interpolation": "bicubic"}}
    saved = load_profile(tmp_path / "scene.profile.json")
    assert saved.image.preset == "torchvision-imagenet" and saved.image.resize.interpolation == "bicubic"


def test_a_profile_with_a_preset_shows_it_chosen_and_saves_it_back(qtbot, window, tmp_path):
    model = _scene(tmp_path, {"preset": "timm-eval"})
    load(qtbot, window, model, [PHOTOS])
    editor = window.edit_profile()
    qtbot.waitExposed(editor)
    assert editor.library_preset.currentData() == "timm-eval"
    assert editor.interp.currentData() == "bicubic"
    editor.save_button.click()
    raw = json.loads((tmp_path / "scene.profile.json").read_text(encoding="utf-8"))
    assert raw["image"] == {"preset": "timm-eval"}
    # "None (as below)" writes the values out in full
    editor = window.edit_profile()
    _choose(editor, "")
    editor.save_button.click()
    raw = json.loads((tmp_path / "scene.profile.json").read_text(encoding="utf-8"))
    assert "preset" not in raw["image"] and raw["image"]["resize"]["interpolation"] == "bicubic"


def test_check_against_a_tensor_reports_the_match_or_the_closest_preset(qtbot, window, tmp_path):
    model = _scene(tmp_path, {"preset": "torchvision-imagenet"})
    load(qtbot, window, model, [PHOTOS])
    editor = window.edit_profile()
    qtbot.waitExposed(editor)
    path = editor.preview_pick.currentData()
    same = Engine(model, profile=_profile({"preset": "torchvision-imagenet"}))
    np.save(tmp_path / "same.npy", same.preprocess(same.load_image(path)[0])[0])
    report = editor.check_against(tmp_path / "same.npy")
    assert report is not None and report.matches and report.current.max_abs < 1e-6
    assert "max difference 0" in editor.check_info.text() and "matches" in editor.check_info.text()
    assert editor.check_heat.isVisibleTo(editor) and editor.check_heat.has_image()
    assert editor.check_heat.heat is not None and editor.check_heat.heat.shape == (224, 224)
    assert not editor.check_apply.isVisibleTo(editor)  # nothing better to apply
    # a tensor made with timm's evaluation (bicubic): that preset comes out best, and Apply chooses it
    timm = Engine(model, profile=_profile({"preset": "timm-eval"}))
    np.save(tmp_path / "timm.npy", timm.preprocess(timm.load_image(path)[0])[0][None])  # with a batch axis
    report = editor.check_against(tmp_path / "timm.npy")
    assert report is not None and not report.matches and report.current.max_abs > 0.01
    assert report.candidates[0].label == "preset timm-eval" and report.candidates[0].matches
    assert "Best candidate: preset timm-eval" in editor.check_info.text()
    assert float(editor.check_heat.heat.max()) > 0
    assert editor.check_apply.isVisibleTo(editor)
    editor.check_apply.click()
    assert editor.library_preset.currentData() == "timm-eval" and editor.interp.currentData() == "bicubic"
    np.testing.assert_array_equal(editor.preview_tensor(), np.load(tmp_path / "timm.npy")[0])
    # a file that is not a tensor is said so, inline
    (tmp_path / "bad.npy").write_text("not numpy", encoding="utf-8")
    assert editor.check_against(tmp_path / "bad.npy") is None
    assert "bad.npy" in editor.check_info.text()
