"""The profile guessed for a model without one: dynamic image sizes fed at the image's own size, and the reasons."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
from onnx import TensorProto, helper
from PIL import Image

from desktop.engine import inspect_model
from desktop.engine.preprocess import image_to_array
from desktop.engine.profile import (
    GUESSED_SOURCE, default_profile, is_guessed, model_stride, profile_guess_reasons, resolve_profile,
)
from tests.conftest import make_model

MODELS = Path(__file__).resolve().parents[2] / "models"


def _identity_image_model(path, shape, metadata=None):
    return make_model(path, [helper.make_node("Identity", ["x"], ["y"])], [("x", TensorProto.FLOAT, shape)],
                      [("y", TensorProto.FLOAT, shape)], metadata=metadata)


def _tensor_hw(profile, w, h):
    return image_to_array(Image.new("RGB", (w, h), (120, 60, 30)), profile.image).shape[:2]  # (H, W, C)


def test_text_detector_without_its_sidecar_is_fed_a_page_at_its_own_size(tmp_path):
    model = tmp_path / "ppocrv4_det.onnx"  # the .onnx alone: its sidecar profile stays behind in models/
    shutil.copy(MODELS / "ppocrv4_det.onnx", model)
    info = inspect_model(model)
    profile, source = resolve_profile(model, info)
    assert source == GUESSED_SOURCE and is_guessed(source)
    assert profile.image.resize.mode == "limit-side"
    assert tuple(_tensor_hw(profile, 736, 960)) == (960, 736)  # a 960×736 page is not squashed to 224×224
    assert tuple(_tensor_hw(profile, 750, 1000)) == (992, 736)  # other sizes rounded to multiples of 32
    reasons = profile_guess_reasons(info, profile)
    assert ("The model accepts any image size; images are fed at their own size rounded to 32 (32 is the usual "
            "stride of convolutional networks; the model names none), the longer side at most 4,096 pixels."
            in reasons)


def test_huge_images_are_scaled_under_the_guess_limit(tmp_path):
    profile = default_profile(inspect_model(_identity_image_model(tmp_path / "m.onnx", ["N", 3, "H", "W"])))
    h, w = _tensor_hw(profile, 12000, 3000)
    assert max(h, w) <= 4096 and h % 32 == 0 and w % 32 == 0


def test_the_metadata_stride_is_used(tmp_path):
    info = inspect_model(_identity_image_model(tmp_path / "m.onnx", ["N", 3, "H", "W"], {"stride": "64"}))
    profile = default_profile(info)
    assert profile.image.resize.multiple == 64 and profile.image.resize.min_size == 64
    assert tuple(_tensor_hw(profile, 100, 100)) == (128, 128)
    assert any("64 is the model's stride, from its metadata" in r for r in profile_guess_reasons(info, profile))


@pytest.mark.parametrize("raw, stride", [("32", 32), ("[8, 16, 32]", 32), ("nonsense", None), ("0", None),
                                         ("True", None), ("", None)])
def test_model_stride_reads_only_usable_numbers(raw, stride):
    assert model_stride({"stride": raw}) == stride


def test_only_the_height_fixed_keeps_it_and_grows_the_width(tmp_path):
    info = inspect_model(_identity_image_model(tmp_path / "rec.onnx", ["N", 3, 48, "W"]))
    profile = default_profile(info)
    h, w = _tensor_hw(profile, 400, 100)
    assert h == 48 and w == 192  # the line's aspect kept: 400 / 100 × 48
    assert any(r.startswith("The model takes images 48 pixels high and of any width")
               for r in profile_guess_reasons(info, profile))


def test_only_the_width_fixed_keeps_it(tmp_path):
    profile = default_profile(inspect_model(_identity_image_model(tmp_path / "m.onnx", ["N", 3, "H", 64])))
    h, w = _tensor_hw(profile, 100, 300)
    assert w == 64 and h % 32 == 0 and h >= 192


def test_fixed_sizes_are_still_the_models_own(tmp_path):
    info = inspect_model(_identity_image_model(tmp_path / "m.onnx", ["N", 3, 96, 128]))
    profile = default_profile(info)
    assert profile.image.resize.mode == "stretch" and profile.image.resize.size == (128, 96)
    assert "Images are resized to the model's own input size, 128×96." in profile_guess_reasons(info, profile)


def test_classifier_without_labels_says_classes_are_numbered(tmp_path):
    from tests.conftest import image_logits_model

    info = inspect_model(image_logits_model(tmp_path / "m.onnx", size=8, classes=3))
    reasons = profile_guess_reasons(info, default_profile(info))
    assert "No labels: classes are shown as numbers. Add them in Preprocessing… (profile key labels)." in reasons


def test_sources_that_are_not_guesses():
    assert not is_guessed("sidecar m.profile.json") and not is_guessed("embedded in the model")
    assert not is_guessed(None)
    assert is_guessed("preset ultralytics-detect, chosen from the model's Ultralytics metadata")
