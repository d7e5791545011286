"""The bundled PP-OCRv4 text detector: its profile feeds RapidOCR's input size for the sample pages, and the
probability map it answers (a heat map in the window) is the one RapidOCR's own pipeline gets."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from desktop.engine.batch import run_batches
from desktop.engine.core import Engine, SessionSettings
from desktop.engine.profile import Task

ROOT = Path(__file__).resolve().parents[2]
MODEL = ROOT / "models" / "ppocrv4_det.onnx"
REFERENCE = ROOT / "resources" / "samples" / "expected" / "reference" / "ppocrv4_det.json"
THRESH = 0.3  # rapidocr's Det.thresh: a pixel is text when the map is over it


def test_probability_map_matches_rapidocr_on_the_sample_pages():
    ref = json.loads(REFERENCE.read_text(encoding="utf-8"))
    engine = Engine(str(MODEL), settings=SessionSettings(provider="CPUExecutionProvider", threads=1))
    assert engine.profile.task == Task.RAW and engine.profile.image.color == "BGR"
    pages = [str(ROOT / item["input"]) for item in ref["items"]]
    batches = list(run_batches(engine, pages, workers=0))
    maps = [b.output_of("sigmoid_0.tmp_0", i) for b in batches for i in range(len(b))]
    for item, prob in zip(ref["items"], maps):
        assert [1, *prob.shape] == item["map"]["shape"]  # the package's 864x1088 for an 850x1100 page
        assert prob.dtype.kind == "f" and 0.0 <= prob.min() and prob.max() <= 1.0
        assert abs(prob.max() - item["map"]["max"]) < 0.01
        fraction = float((prob > THRESH).mean())
        assert abs(fraction - item["map"]["fraction_above_thresh"]) < 0.003, (item["input"], fraction)
        # every reference text box has text under it, and the page's margin has none
        mask = prob.reshape(prob.shape[-2:]) > THRESH
        sy, sx = mask.shape[0] / item["size"][1], mask.shape[1] / item["size"][0]
        for det in item["detections"]:  # the boxes are unclipped (grown 1.6x): about a third of each is text
            x1, y1, x2, y2 = det["box"]
            assert mask[int(y1 * sy):int(y2 * sy) + 1, int(x1 * sx):int(x2 * sx) + 1].mean() > 0.2, det
        assert not mask[:, :int(40 * sx)].any()
