"""The editor's 'Resize details': every resize key survives a save, each control changes its key and the preview."""

from __future__ import annotations

import copy
import json

import numpy as np
import pytest
from PIL import Image
from uihelpers import DIGITS_DIR, DIGITS_MODEL

from desktop.engine import Engine
from desktop.engine.profile import profile_from_dict
from desktop.ui.widgets.profile_editor import ProfileEditor

BASE = json.loads(DIGITS_MODEL.with_name("digits.profile.json").read_text(encoding="utf-8"))


def _editor(qtbot, tmp_path, image: dict) -> ProfileEditor:
    raw = copy.deepcopy(BASE)
    raw["image"].update(image)
    engine = Engine(DIGITS_MODEL).with_profile(profile_from_dict(raw))
    # a noisy 50×37 image: the sample digits are 8-pixel blocks, which every interpolation keeps whole
    noisy = tmp_path / "noisy.png"
    Image.fromarray(np.random.default_rng(0).integers(0, 256, (37, 50), dtype=np.uint8)).save(noisy)
    editor = ProfileEditor(engine, images=[str(DIGITS_DIR / "digit_0_386.png"), str(noisy)])
    editor.preview_pick.setCurrentIndex(1)
    qtbot.addWidget(editor)
    editor.show()
    return editor


PROFILES = {
    "two stages, pad first, float, crop floor, exif ignored": {
        "resize": [{"mode": "shorter-side", "shorter": 40, "library": "opencv", "interpolation": "area",
                    "rounding": "round", "output": "float"},
                   {"mode": "stretch", "size": [20, 18], "pad_first": True, "library": "opencv",
                    "interpolation": "cubic", "output": "float", "pad": {"anchor": "top-left", "value": 7}}],
        "crop": [16, 16], "crop_rounding": "floor", "exif": "ignore"},
    "fit, auto, stride, no scaleup, floor": {
        "resize": {"mode": "fit", "size": [16, 16], "auto": True, "stride": 8, "scaleup": False, "rounding": "floor",
                   "library": "opencv", "interpolation": "nearest", "pad": {"anchor": "center", "value": 114}}},
    "height growing, max width, round": {
        "resize": {"mode": "height", "size": [16, 16], "grow": True, "max_width": 64, "rounding": "round",
                   "interpolation": "box", "pad": {"anchor": "top-left", "value": 3}}},
    "limit-side's keys": {
        "resize": {"mode": "limit-side", "limit": 20, "limit_type": "min", "multiple": 16, "min_size": 16,
                   "library": "opencv", "interpolation": "linear"}},
    "shorter side padded to a square, ceil": {
        "resize": {"mode": "shorter-side", "shorter": 16, "pad_first": True, "rounding": "ceil",
                   "pad": {"anchor": "center", "value": 255}}},
}


@pytest.mark.parametrize("image", PROFILES.values(), ids=PROFILES.keys())
def test_a_profile_with_every_resize_key_saves_through_the_editor_unchanged(qtbot, tmp_path, image):
    editor = _editor(qtbot, tmp_path, image)
    before = editor.profile
    after = editor.build_profile()
    assert after.to_dict() == before.to_dict()
    assert after.sha256() == before.sha256()


def test_each_row_shows_only_for_the_mode_it_applies_to(qtbot, tmp_path):
    editor = _editor(qtbot, tmp_path, {})
    visible = lambda w: w.isVisibleTo(editor)  # noqa: E731
    assert visible(editor.library) and visible(editor.output) and visible(editor.pad_first)
    assert not any(visible(w) for w in (editor.limit, editor.auto, editor.stride, editor.grow, editor.rounding,
                                        editor.crop_rounding))
    editor.resize_mode.setCurrentIndex(editor.resize_mode.findData("limit-side"))
    assert visible(editor.limit) and visible(editor.multiple) and not visible(editor.pad_first)
    editor.resize_mode.setCurrentIndex(editor.resize_mode.findData("fit"))
    assert visible(editor.auto) and visible(editor.scaleup) and visible(editor.rounding) and not visible(editor.stride)
    editor.auto.setChecked(True)
    assert visible(editor.stride)
    editor.crop.setChecked(True)
    assert visible(editor.crop_rounding)
    assert "PaddleClas" in editor.rounding.toolTip() and "torchvision" in editor.rounding.toolTip()
    editor.resize_box.setChecked(False)  # folded away
    assert not visible(editor.library)


def test_changing_a_control_changes_the_saved_key_and_the_preview(qtbot, tmp_path):
    editor = _editor(qtbot, tmp_path, {"resize": {"mode": "stretch", "size": [16, 16], "interpolation": "bicubic"}})
    names = lambda: [editor.interp.itemData(i) for i in range(editor.interp.count())]  # noqa: E731
    assert names() == ["nearest", "bilinear", "bicubic", "lanczos", "box"]
    pillow = editor.preview_tensor()
    editor.library.setCurrentIndex(editor.library.findData("opencv"))
    assert names() == ["nearest", "linear", "cubic", "area", "lanczos4"]  # OpenCV's own names only
    # bicubic's counterpart is offered, not refused
    assert editor.interp.currentData() == "cubic" and editor.save_button.isEnabled(), editor.message.text()
    saved = editor.build_profile().image.resize
    assert (saved.library, saved.interpolation) == ("opencv", "cubic")
    opencv = editor.preview_tensor()
    assert not np.array_equal(opencv, pillow)
    editor.output.setCurrentIndex(editor.output.findData("float"))
    assert editor.build_profile().image.resize.output == "float"
    floats = editor.preview_tensor()
    assert not np.array_equal(floats, opencv)
    assert not np.allclose(floats * 255, np.rint(floats * 255), atol=1e-3)  # not whole 8-bit values
    editor.resize_mode.setCurrentIndex(editor.resize_mode.findData("shorter-side"))
    editor.shorter.setValue(16)
    editor.pad_first.setChecked(True)
    assert editor.build_profile().image.resize.pad_first and editor.anchor.isEnabled()
    editor.resize_mode.setCurrentIndex(editor.resize_mode.findData("fit"))
    editor.scaleup.setChecked(False)
    editor.rounding.setCurrentIndex(editor.rounding.findData("floor"))
    r = editor.build_profile().image.resize
    assert (r.scaleup, r.rounding, r.pad_first) == (False, "floor", False)
    editor.exif.setCurrentIndex(editor.exif.findData("ignore"))
    assert editor.build_profile().image.exif == "ignore"
