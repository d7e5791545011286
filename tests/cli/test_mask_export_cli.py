"""inferdesk score --save-masks, history export --format masks and a segmenter's --format coco."""

from __future__ import annotations

import json
import os

import numpy as np
import pytest
from PIL import Image

from desktop.cli import main
from tests.engine.test_segmentation import _yolo


@pytest.fixture
def photo(tmp_path):
    path = tmp_path / "photo.png"
    Image.new("RGB", (1000, 563), (40, 80, 120)).save(path)
    return path


def _record(capsys) -> dict:
    return json.loads(capsys.readouterr().out.strip().splitlines()[0])


def test_save_masks_per_run_folder_keeps_both_runs(tmp_path, photo, capsys):
    model, folder = _yolo(tmp_path), tmp_path / "masks"
    assert main(["score", str(model), str(photo), "-q", "--save-masks", str(folder)]) == 0
    first = _record(capsys)["mask_file"]
    assert main(["score", str(model), str(photo), "-q", "--save-masks", str(folder), "--no-history"]) == 0
    second = _record(capsys)["mask_file"]
    assert first != second and os.path.isfile(first) and os.path.isfile(second)
    assert os.path.dirname(os.path.dirname(first)) == os.path.dirname(os.path.dirname(second)) == str(folder)
    for path in (first, second):
        assert os.path.isfile(os.path.join(os.path.dirname(path), "legend.json"))
        with Image.open(path) as im:
            assert im.size == (1000, 563) and set(np.unique(np.asarray(im)).tolist()) == {0, 1, 2}


def test_save_masks_of_a_classifier_is_refused(tmp_path, capsys):
    from tests.conftest import MODELS, SAMPLES

    code = main(["score", str(MODELS / "digits.onnx"), str(SAMPLES / "digits"), "-q", "--no-history",
                 "--save-masks", str(tmp_path / "m")])
    assert code == 2 and "--save-masks writes a segmenter's masks" in capsys.readouterr().err
    assert not (tmp_path / "m").exists()


def test_history_export_masks_and_coco(tmp_path, photo, capsys):
    model = _yolo(tmp_path)
    assert main(["score", str(model), str(photo), "-q", "--save-masks", str(tmp_path / "saved")]) == 0
    saved = _record(capsys)["mask_file"]
    assert main(["history", "--json"]) == 0
    run = json.loads(capsys.readouterr().out)[0]["id"]
    out = tmp_path / "exported"
    assert main(["history", "export", run, "--format", "masks", "--out", str(out)]) == 0
    assert sorted(os.listdir(out)) == ["legend.json", "photo.png"]
    with Image.open(out / "photo.png") as a, Image.open(saved) as b:
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
    assert main(["history", "export", run, "--format", "masks", "--out", str(out)]) == 2  # not over it
    assert "holds files" in capsys.readouterr().err
    assert main(["history", "export", run, "--format", "masks", "--out", str(tmp_path)]) == 2  # holds the input
    capsys.readouterr()
    assert main(["history", "export", run, "--format", "coco", "--out", str(tmp_path / "r.json")]) == 0
    anns = json.loads((tmp_path / "r.json").read_text())
    assert all(a["segmentation"]["size"] == [563, 1000] for a in anns) and len(anns) == 2
    assert main(["history", "export", run, "--format", "masks"]) == 2


def test_score_coco_of_a_segmenter(tmp_path, photo, capsys):
    out = tmp_path / "seg.json"
    assert main(["score", str(_yolo(tmp_path)), str(photo), "-q", "--no-history", "--format", "coco",
                 "--out", str(out)]) == 0
    assert [sorted(a) for a in json.loads(out.read_text())][0] == ["bbox", "category_id", "image_id", "score",
                                                                   "segmentation"]
