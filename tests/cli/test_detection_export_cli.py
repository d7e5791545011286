"""inferdesk score and history export as COCO results and YOLO label folders; refusals exit 2 in one line."""

from __future__ import annotations

import json
import os

import pytest
from PIL import Image

from desktop.cli import main
from tests.conftest import image_logits_model
from tests.engine.test_detection import FAMILIES
from tests.engine.test_detection_export import COCO_BOXES, YOLO_LINES


@pytest.fixture
def detector(tmp_path):
    model = FAMILIES["yolov8"](tmp_path / "yolo.onnx")  # Ultralytics metadata: a letterboxed detector
    image = tmp_path / "photo.png"
    Image.new("RGB", (1000, 563)).save(image)
    return model, image


def _run_id(capsys):
    assert main(["history", "--json"]) == 0
    return json.loads(capsys.readouterr().out)[0]["id"]


def _without_times(doc):
    return {k: v for k, v in doc.items() if k not in ("exported_at", "exported_by")}


def test_score_coco_and_history_export_give_the_same_files(tmp_path, capsys, detector):
    model, image = detector
    out = tmp_path / "results.json"
    assert main(["score", str(model), str(image), "--format", "coco", "--out", str(out), "-q"]) == 0
    results = json.loads(out.read_text())
    assert [(r["image_id"], r["category_id"], r["bbox"], r["score"]) for r in results] == [
        (1, c, box, s) for c, box, s in COCO_BOXES]
    capsys.readouterr()
    again = tmp_path / "again.json"
    assert main(["history", "export", _run_id(capsys), "--format", "coco", "--out", str(again)]) == 0
    assert again.read_text() == out.read_text()
    first = json.loads((tmp_path / "results.images.json").read_text())
    second = json.loads((tmp_path / "again.images.json").read_text())
    assert first["images"] == second["images"] and first["categories"] == second["categories"]
    assert _without_times(first["info"]) == {**_without_times(second["info"]), "results": "results.json"}
    assert first["info"]["run_id"] and first["info"]["exported_by"] == "inferdesk score"


def test_score_yolo_and_history_export_give_the_same_folder(tmp_path, capsys, detector):
    model, image = detector
    out = tmp_path / "labels"
    assert main(["score", str(model), str(image), "--format", "yolo", "--out", str(out), "-q"]) == 0
    assert (out / "photo.txt").read_text().splitlines() == YOLO_LINES
    capsys.readouterr()
    again = tmp_path / "again"
    assert main(["history", "export", _run_id(capsys), "--format", "yolo", "--out", str(again), "--no-conf"]) == 0
    assert (again / "photo.txt").read_text().splitlines() == [line.rsplit(" ", 1)[0] for line in YOLO_LINES]
    assert sorted(os.listdir(again)) == sorted(os.listdir(out)) == ["classes.txt", "data.yaml", "photo.txt"]
    assert (again / "data.yaml").read_text() == (out / "data.yaml").read_text()
    assert json.loads((tmp_path / "labels.provenance.json").read_text())["format"] == "yolo"


def test_a_classifier_run_asked_for_coco_or_yolo_is_refused(tmp_path, capsys, detector):
    _, image = detector
    model = image_logits_model(tmp_path / "cls.onnx", metadata={"labels": '["r", "g", "b"]'})
    for fmt, out in (("coco", "r.json"), ("yolo", "labels")):
        assert main(["score", str(model), str(image), "--format", fmt, "--out", str(tmp_path / out), "-q"]) == 2
        err = capsys.readouterr().err
        assert err.startswith(f"inferdesk: --format {fmt} writes detections") and err.count("\n") == 1
        assert not (tmp_path / out).exists()
    assert main(["history", "--json"]) == 0
    assert json.loads(capsys.readouterr().out) == []  # refused before a run is recorded
    assert main(["score", str(model), str(image), "-q", "--out", str(tmp_path / "r.jsonl")]) == 0
    capsys.readouterr()
    run = _run_id(capsys)
    assert main(["history", "export", run, "--format", "coco", "--out", str(tmp_path / "r.json")]) == 2
    assert "writes detections or masks, and these results are classification" in capsys.readouterr().err
    assert not (tmp_path / "r.json").exists() and not (tmp_path / "r.images.json").exists()


def test_coco_and_yolo_need_out_and_never_write_over_an_input(tmp_path, capsys, detector):
    model, image = detector
    assert main(["score", str(model), str(image), "--format", "coco", "-q"]) == 2
    assert "--format coco writes a file and its images list: give --out" in capsys.readouterr().err
    assert main(["score", str(model), str(image), "--format", "yolo", "--out", str(tmp_path), "-q"]) == 2
    assert "it is or holds the model" in capsys.readouterr().err
    images = tmp_path / "images"
    images.mkdir()
    os.replace(image, images / image.name)
    image = images / image.name
    assert main(["score", str(model), str(image), "--format", "yolo", "--out", str(images), "-q"]) == 2
    assert "holds a file this run reads" in capsys.readouterr().err
    assert main(["score", str(model), str(image), "--format", "coco", "--out", str(image), "-q"]) == 2
    assert "a file this run reads" in capsys.readouterr().err
    assert Image.open(image).size == (1000, 563)
