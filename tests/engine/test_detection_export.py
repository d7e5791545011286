"""COCO results and YOLO label folders from a fixed-box detector: hand-computed boxes, pycocotools, safety."""

from __future__ import annotations

import json
import os

import numpy as np
import pytest
from PIL import Image

from desktop.engine import writers
from desktop.engine.batch import run_batches
from desktop.engine.core import Engine
from desktop.engine.detwriters import NotDetections, images_path
from desktop.engine.profile import profile_from_dict
from desktop.engine.resultbatch import ResultBatch
from desktop.runs.export import export as window_export
from tests.conftest import image_logits_model
from tests.engine.test_detection import FAMILIES, FIT, photo  # noqa: F401 - the 1000x563 photo fixture

# the yolov8 fixed boxes letterboxed back to the 1000x563 photo (test_detection's LETTERBOX_*), best first:
# A person 0.9 (100, 50, 500, 250), C bicycle 0.85 (106.25, 53.125, 506.25, 253.125), D bicycle 0.3
# (625, 93.75, 937.5, 406.25); B is suppressed by NMS, E and F are under conf 0.25
COCO_BOXES = [(1, [100.0, 50.0, 400.0, 200.0], 0.9), (2, [106.25, 53.125, 400.0, 200.0], 0.85),
              (2, [625.0, 93.75, 312.5, 312.5], 0.3)]


def _g(v):
    return "%g" % v


# class, centre x / 1000, centre y / 563, width / 1000, height / 563, score
YOLO_LINES = [f"0 0.3 {_g(150 / 563)} 0.4 {_g(200 / 563)} 0.9",
              f"1 0.30625 {_g(153.125 / 563)} 0.4 {_g(200 / 563)} 0.85",
              f"1 0.78125 {_g(250 / 563)} 0.3125 {_g(312.5 / 563)} 0.3"]


@pytest.fixture
def engine(tmp_path):
    return Engine(FAMILIES["yolov8"](tmp_path / "v8.onnx"), profile=profile_from_dict(FIT))


def _batches(engine, paths):
    return list(run_batches(engine, paths, workers=0))


def test_coco_bbox_is_xywh_in_original_pixels_and_category_is_one_based(tmp_path, engine, photo):
    out = tmp_path / "results.json"
    assert writers.export(_batches(engine, [photo]), out, "coco") == 1
    results = json.loads(out.read_text())
    assert [(r["image_id"], r["category_id"], r["bbox"], r["score"]) for r in results] == [
        (1, c, box, s) for c, box, s in COCO_BOXES]
    images = json.loads((tmp_path / "results.images.json").read_text())
    assert images["images"] == [{"id": 1, "file_name": "photo.png", "width": 1000, "height": 563,
                                 "path": str(photo)}]
    assert images["categories"] == [{"id": 1, "name": "person", "index": 0}, {"id": 2, "name": "bicycle", "index": 1}]
    assert images["info"]["app"] == "InferDesk" and images["annotations"] == []
    side = json.loads((tmp_path / "results.json.provenance.json").read_text())
    assert side["format"] == "coco" and side["rows"] == 1 and side["detections"] == 3
    assert side["images_file"] == "results.images.json"


def test_coco_results_load_with_pycocotools(tmp_path, engine, photo):
    coco = pytest.importorskip("pycocotools.coco")
    out = tmp_path / "results.json"
    writers.export(_batches(engine, [photo]), out, "coco")
    gt = coco.COCO(images_path(out))
    dt = gt.loadRes(str(out))
    anns = dt.loadAnns(dt.getAnnIds(imgIds=[1]))
    assert [a["bbox"] for a in anns] == [box for _, box, _ in COCO_BOXES]
    assert [a["area"] for a in anns] == pytest.approx([80000.0, 80000.0, 312.5 * 312.5])
    assert [gt.loadCats(a["category_id"])[0]["name"] for a in anns] == ["person", "bicycle", "bicycle"]
    assert gt.loadImgs(1)[0]["file_name"] == "photo.png"


def test_coco_conf_and_failed_items(tmp_path, engine, photo):
    other = tmp_path / "small.png"
    Image.new("RGB", (321, 320)).save(other)
    batches = _batches(engine, [photo, tmp_path / "missing.png", other])
    out = tmp_path / "r.json"
    assert writers.export(batches, out, "coco", conf=0.5) == 2  # the missing image is left out
    results = json.loads(out.read_text())
    assert {r["image_id"] for r in results} == {1, 3}  # position + 1, the failed item's id unused
    assert all(r["score"] > 0.5 for r in results) and len(results) == 4
    images = json.loads((tmp_path / "r.images.json").read_text())["images"]
    assert [(i["id"], i["width"], i["height"]) for i in images] == [(1, 1000, 563), (3, 321, 320)]
    assert json.loads((tmp_path / "r.json.provenance.json").read_text())["failed"] == 1


def test_yolo_lines_are_normalised_to_the_original_image(tmp_path, engine, photo):
    folder = tmp_path / "labels"
    assert writers.export(_batches(engine, [photo]), folder, "yolo") == 1
    assert (folder / "photo.txt").read_text().splitlines() == YOLO_LINES
    assert (folder / "classes.txt").read_text() == "person\nbicycle\n"
    assert (folder / "data.yaml").read_text().endswith('nc: 2\nnames:\n  0: "person"\n  1: "bicycle"\n')
    side = json.loads((tmp_path / "labels.provenance.json").read_text())
    assert side["format"] == "yolo" and side["files"] == {"photo.txt": str(photo)} and side["with_conf"] is True
    assert not [n for n in os.listdir(tmp_path) if n.endswith(".tmp")]


def test_yolo_without_conf_is_the_label_format(tmp_path, engine, photo):
    folder = tmp_path / "labels"
    writers.export(_batches(engine, [photo]), folder, "yolo", with_conf=False)
    assert (folder / "photo.txt").read_text().splitlines() == [line.rsplit(" ", 1)[0] for line in YOLO_LINES]


def test_yolo_same_stems_empty_images_and_failed_items(tmp_path, engine, photo):
    sub = tmp_path / "b"
    sub.mkdir()
    Image.new("RGB", (1000, 563)).save(sub / "photo.jpg")
    batches = _batches(engine, [photo, tmp_path / "missing.png", sub / "photo.jpg"])
    folder = tmp_path / "labels"
    assert writers.export(batches, folder, "yolo", conf=0.95) == 2  # nothing over 0.95: empty files
    assert sorted(os.listdir(folder)) == ["classes.txt", "data.yaml", "photo.txt", "photo_2.txt"]
    assert (folder / "photo.txt").read_text() == "" and (folder / "photo_2.txt").read_text() == ""
    files = json.loads((tmp_path / "labels.provenance.json").read_text())["files"]
    assert files == {"photo.txt": str(photo), "photo_2.txt": str(sub / "photo.jpg")}


def test_yolo_replaces_an_earlier_export_and_refuses_other_folders(tmp_path, engine, photo):
    folder = tmp_path / "labels"
    writers.export(_batches(engine, [photo]), folder, "yolo")
    (folder / "stale.txt").write_text("0 0.5 0.5 1 1\n")
    writers.export(_batches(engine, [photo]), folder, "yolo", with_conf=False)  # an earlier export: replaced whole
    assert sorted(os.listdir(folder)) == ["classes.txt", "data.yaml", "photo.txt"]
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "notes.txt").write_text("keep me")
    with pytest.raises(writers.OutputRefused, match="holds other files"):
        writers.export(_batches(engine, [photo]), mine, "yolo")
    assert os.listdir(mine) == ["notes.txt"]
    with pytest.raises(writers.OutputRefused, match="holds a file this run reads"):
        from desktop.engine.detwriters import check_folder

        check_folder(tmp_path, inputs=[photo])
    (tmp_path / "file").write_text("x")
    with pytest.raises(writers.OutputRefused, match="it is a file"):
        writers.export(_batches(engine, [photo]), tmp_path / "file", "yolo")


def test_a_failed_write_leaves_no_folder_and_no_temporary(tmp_path, engine, photo, monkeypatch):
    from desktop.engine import detwriters

    def boom(self, name, text):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(detwriters.YoloExport, "_put", boom)
    with pytest.raises(OSError):
        writers.export(_batches(engine, [photo]), tmp_path / "labels", "yolo")
    assert sorted(os.listdir(tmp_path)) == ["photo.png", "v8.onnx"]


def test_a_classifier_run_is_refused_and_nothing_is_written(tmp_path, photo):
    model = image_logits_model(tmp_path / "cls.onnx", metadata={"labels": '["r", "g", "b"]'})
    batches = _batches(Engine(model), [photo])
    for fmt, out in (("coco", tmp_path / "r.json"), ("yolo", tmp_path / "labels")):
        with pytest.raises(NotDetections, match=f"--format {fmt} writes detections.*classification"):
            writers.export(batches, out, fmt)
        assert not out.exists()
    assert sorted(os.listdir(tmp_path)) == ["cls.onnx", "photo.png"]


def test_coco_never_over_an_input_or_the_database(tmp_path, engine, photo):
    from desktop.engine.store import ResultStore

    db = tmp_path / "h.db"
    ResultStore(db).close()
    with pytest.raises(writers.OutputRefused, match="results database"):
        writers.export(_batches(engine, [photo]), db, "coco", protect=db)
    with pytest.raises(writers.OutputRefused, match="results database"):
        writers.export(_batches(engine, [photo]), tmp_path / "blobs", "yolo", protect=db)


def test_the_windows_export_writes_coco_and_yolo(tmp_path, engine, photo):
    batch = ResultBatch.concat(_batches(engine, [photo]))
    assert window_export([batch], tmp_path / "w.json", fmt="coco") == 1
    assert json.loads((tmp_path / "w.json").read_text())[0]["bbox"] == COCO_BOXES[0][1]
    assert window_export([batch], tmp_path / "w", fmt="yolo", conf=0.5) == 1  # the slider's threshold
    assert (tmp_path / "w" / "photo.txt").read_text().splitlines() == YOLO_LINES[:2]
    np.testing.assert_array_equal(batch.answer["image_size"], [[1000, 563]])  # (width, height)
