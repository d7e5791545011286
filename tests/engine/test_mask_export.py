"""Mask exports: label map PNGs and their legend, COCO segmentation results that pycocotools loads."""

from __future__ import annotations

import json
import os

import numpy as np
import pytest
from PIL import Image

from desktop.engine import detwriters, maskwriters, writers
from desktop.engine.batch import run_batches
from desktop.engine.core import Engine
from desktop.engine.decoders.segmentation import class_masks, decode_rle, detection_masks
from desktop.engine.profile import profile_from_dict
from desktop.engine.resultbatch import ResultBatch
from tests.engine.test_detection import constant_model
from tests.engine.test_segmentation import FIT, STRETCH, _label_model, _score, _yolo

SEMANTIC = {**STRETCH, "labels": ["road", "car", "sky"]}


@pytest.fixture
def photo(tmp_path):
    path = tmp_path / "photo.png"
    Image.new("RGB", (1000, 563), (40, 80, 120)).save(path)
    return path


def _png(path) -> np.ndarray:
    with Image.open(path) as im:
        return np.asarray(im).astype(np.int64)


# --------------------------------------------------------------------------- PNG label maps
def test_save_masks_writes_the_label_map_and_the_legend(tmp_path, photo):
    engine = Engine(_yolo(tmp_path), profile=profile_from_dict(FIT))
    batch = list(run_batches(engine, [photo], workers=0, save_masks=str(tmp_path / "m")))[0]
    path = batch.mask_file[0]
    assert path == str(tmp_path / "m" / "photo.png") and batch.record(0)["mask_file"] == path
    assert batch.result(0).mask_file == path and batch.result(0).to_json()["mask_file"] == path
    with Image.open(path) as im:
        assert im.mode == "L" and im.size == (1000, 563)
    np.testing.assert_array_equal(_png(path), batch.result(0).label_map()[0])
    legend = json.loads((tmp_path / "m" / "legend.json").read_text())
    assert legend == {"kind": "instance", "values": {"0": "background", "1": "person", "2": "bicycle"},
                      "colours": {"0": None, "1": "#FF3838", "2": "#FF9D97"}}


def test_semantic_map_png_and_legend(tmp_path, photo):
    engine = Engine(_label_model(tmp_path), profile=profile_from_dict(SEMANTIC))
    batch = ResultBatch.concat(list(run_batches(engine, [photo, photo], workers=0, save_masks=str(tmp_path / "m"))))
    assert [os.path.basename(batch.mask_file[i]) for i in range(2)] == ["photo.png", "photo-2.png"]
    label_map, names = batch.result(0).label_map()
    for i in range(2):
        np.testing.assert_array_equal(_png(batch.mask_file[i]), label_map)
    legend = json.loads((tmp_path / "m" / "legend.json").read_text())
    # an argmax map's class 0 is the model's own ("road"): drawn, so it has a colour
    assert legend["values"] == {"0": "road", "1": "car", "2": "sky"} and legend["kind"] == "labels"
    assert legend["colours"] == {"0": "#FF3838", "1": "#FF9D97", "2": "#FF701F"}


def test_values_over_255_give_a_16_bit_png(tmp_path):
    labels = np.zeros((4, 5), dtype=np.int32)
    labels[1, 2] = 300
    im = maskwriters.label_image(labels)
    assert im.mode == "I;16"
    im.save(tmp_path / "x.png")
    np.testing.assert_array_equal(_png(tmp_path / "x.png"), labels)


def test_a_saved_mask_is_never_written_over(tmp_path, photo):
    engine = Engine(_yolo(tmp_path), profile=profile_from_dict(FIT))
    folder = tmp_path / "m"
    folder.mkdir()
    (folder / "photo.png").write_bytes(b"someone else's")
    batch = list(run_batches(engine, [photo], workers=0, save_masks=str(folder)))[0]
    assert (folder / "photo.png").read_bytes() == b"someone else's"
    assert batch.mask_file[0] == str(folder / "photo-2.png")


def test_mask_file_survives_the_store_payload_and_the_csv(tmp_path, photo):
    engine = Engine(_yolo(tmp_path), profile=profile_from_dict(FIT))
    batch = list(run_batches(engine, [photo], workers=0, save_masks=str(tmp_path / "m")))[0]
    back = ResultBatch.from_bytes(batch.to_bytes())
    assert back.mask_file == batch.mask_file and back.record(0) == batch.record(0)
    assert ResultBatch.concat([batch, batch]).mask_file == {0: batch.mask_file[0], 1: batch.mask_file[0]}
    out = tmp_path / "r.csv"
    writers.export([batch], out, "csv")
    import csv

    row = next(csv.DictReader(out.open()))
    assert row["mask_file"] == batch.mask_file[0]


def test_masks_folder_export(tmp_path, photo):
    batch = _score(_yolo(tmp_path), FIT, photo)
    out = tmp_path / "exported"
    assert writers.export([batch], out, "masks", {"app": "InferDesk"}) == 1
    assert sorted(os.listdir(out)) == ["legend.json", "photo.png"]
    np.testing.assert_array_equal(_png(out / "photo.png"), batch.result(0).label_map()[0])
    side = json.loads((tmp_path / "exported.provenance.json").read_text())
    assert side["format"] == "masks" and side["files"] == {"photo.png": str(photo)}
    assert not [n for n in os.listdir(tmp_path) if n.endswith(".tmp")]


def test_masks_export_refusals(tmp_path, photo):
    classifier = ResultBatch.from_bytes(_score(_yolo(tmp_path), FIT, photo).to_bytes())
    classifier.answer = {}
    with pytest.raises(maskwriters.NotMasks, match="have none"):
        writers.export([classifier], tmp_path / "none", "masks")
    assert not (tmp_path / "none").exists() and not [n for n in os.listdir(tmp_path) if n.endswith(".tmp")]
    full = tmp_path / "full"
    full.mkdir()
    (full / "keep.txt").write_text("x")
    batch = _score(_yolo(tmp_path), FIT, photo)
    with pytest.raises(writers.OutputRefused, match="holds files"):
        writers.export([batch], full, "masks")
    with pytest.raises(writers.OutputRefused, match="holds a file this run reads"):
        maskwriters.check_folder(tmp_path, inputs=[photo])
    with pytest.raises(writers.OutputRefused):
        writers.export([batch], tmp_path / "db", "masks", protect=tmp_path / "db")
    assert (full / "keep.txt").read_text() == "x"


# --------------------------------------------------------------------------- COCO segmentation
def test_coco_export_of_yolo_seg_loads_with_pycocotools(tmp_path, photo):
    from pycocotools.coco import COCO
    from pycocotools.cocoeval import COCOeval

    batch = _score(_yolo(tmp_path), FIT, photo)
    out = tmp_path / "r.json"
    assert detwriters.export([batch], out, "coco") == 1
    anns = json.loads(out.read_text())
    stored = detection_masks(batch.answer, 0)
    assert [a["segmentation"] for a in anns] == [{"size": [563, 1000], "counts": m["counts"].decode()}
                                                 for m in stored]
    gt = COCO(str(detwriters.images_path(out)))
    dt = gt.loadRes(str(out))
    for ann_id, m in zip(sorted(dt.anns), stored):
        np.testing.assert_array_equal(dt.annToMask(dt.anns[ann_id]).astype(bool), decode_rle(m["counts"], 563, 1000))
    gt.dataset["annotations"] = [{**a, "id": k + 1, "iscrowd": 0, "area": float(dt.anns[k + 1]["area"])}
                                 for k, a in enumerate(anns)]
    gt.createIndex()
    e = COCOeval(gt, gt.loadRes(str(out)), "segm")
    e.evaluate()
    e.accumulate()
    e.summarize()
    assert e.stats[0] == pytest.approx(1.0)  # its own masks as ground truth


def test_coco_export_of_a_semantic_map(tmp_path, photo):
    from pycocotools.coco import COCO

    batch = _score(_label_model(tmp_path), SEMANTIC, photo)
    out = tmp_path / "s.json"
    assert writers.export([batch], out, "coco") == 1
    anns = json.loads(out.read_text())
    assert [(a["image_id"], a["category_id"], a["score"]) for a in anns] == [(1, 1, 1.0), (1, 2, 1.0), (1, 3, 1.0)]
    car = next(a for a in anns if a["category_id"] == 2)
    assert car["bbox"] == [0.0, 141.0, 1000.0, 140.0]  # rows 141..280
    with open(detwriters.images_path(out), encoding="utf-8") as fh:
        images = json.load(fh)
    assert [c["name"] for c in images["categories"]] == ["road", "car", "sky"]
    dt = COCO(detwriters.images_path(out)).loadRes(str(out))
    for ann in dt.anns.values():
        (c, rle), = [(c, r) for c, r in class_masks(batch.answer, 0) if c + 1 == ann["category_id"]]
        np.testing.assert_array_equal(dt.annToMask(ann).astype(bool), decode_rle(rle["counts"], 563, 1000))


def test_coco_of_a_binary_map_leaves_the_background_out(tmp_path, photo):
    prob = np.zeros((1, 1, 80, 80), dtype=np.float32)
    prob[0, 0, 20:40] = 0.9
    batch = _score(constant_model(tmp_path / "text.onnx", {"maps": prob}), {**STRETCH, "labels": ["text"]}, photo)
    out = tmp_path / "t.json"
    writers.export([batch], out, "coco")
    assert [a["category_id"] for a in json.loads(out.read_text())] == [2]  # names: background, text


def test_coco_refuses_a_run_with_neither_detections_nor_masks(tmp_path, photo):
    batch = _score(_yolo(tmp_path), FIT, photo)
    empty = ResultBatch.from_bytes(batch.to_bytes())
    empty.answer = {}
    with pytest.raises(detwriters.NotDetections, match="neither detections nor masks"):
        writers.export([empty], tmp_path / "x.json", "coco")
    assert not (tmp_path / "x.json").exists()
    detwriters.check_task("segmentation", "coco")  # allowed: masks
    with pytest.raises(detwriters.NotDetections, match="these results are segmentation"):
        detwriters.check_task("segmentation", "yolo")
    with pytest.raises(writers.OutputRefused):
        detwriters.check_target("coco", photo, inputs=[photo])
