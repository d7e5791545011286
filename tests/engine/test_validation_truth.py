"""Ground truth from each source, and the refusals a user reads when it does not fit."""

from __future__ import annotations

import json

import pytest
from PIL import Image

from desktop.engine.validation import TruthError, guess_truth_column, load_truth, match_labels
from desktop.engine.validation.truth import Box


def _csv(path, header, rows):
    path.write_text("\n".join([",".join(header)] + [",".join(map(str, r)) for r in rows]) + "\n")
    return path


def _png(path, size=(40, 30)):
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", size).save(path)
    return path


@pytest.mark.parametrize("columns, expected", [
    (["a", "b", "Diagnosis"], "Diagnosis"), (["x", " label "], " label "), (["y", "target"], "target"),
    (["a", "b"], None), (["truth", "class"], "class"),
])
def test_truth_column_is_offered_by_name(columns, expected):
    assert guess_truth_column(columns) == expected


def test_csv_column_by_name_and_automatically(tmp_path):
    data = _csv(tmp_path / "cases.csv", ["f1", "f2", "outcome", "target"], [[1, 2, "yes", "a"]])
    t = load_truth("outcome", [str(data)])
    assert t.kind == "column" and t.column == "outcome" and "cases.csv" in t.source
    assert t.lookup(str(data), 1, {"outcome": "yes"}) == "yes"
    assert t.lookup(str(data), 1, {"outcome": " "}) is None  # an empty cell is no truth
    assert load_truth(None, [str(data)]).column == "target"


def test_unknown_column_names_the_file_and_its_columns(tmp_path):
    data = _csv(tmp_path / "cases.csv", ["f1", "Outcome"], [[1, "yes"]])
    with pytest.raises(TruthError) as exc:
        load_truth("outcome", [str(data)])
    message = str(exc.value)
    assert message.startswith("--truth outcome: no such column in cases.csv; its columns are f1, Outcome")
    assert "did you mean 'Outcome'" in message


def test_no_truth_anywhere_is_said_plainly(tmp_path):
    data = _csv(tmp_path / "cases.csv", ["f1", "f2"], [[1, 2]])
    with pytest.raises(TruthError, match="no truth given: name it with --truth"):
        load_truth(None, [str(data)])
    with pytest.raises(TruthError, match="no such file or folder"):
        load_truth(str(tmp_path / "missing.csv"), [str(tmp_path / "x.png")])


def test_class_folders(tmp_path):
    a = _png(tmp_path / "pets" / "cats" / "one.png")
    b = _png(tmp_path / "pets" / "dogs" / "deep" / "two.png")
    t = load_truth(str(tmp_path / "pets"), [str(tmp_path / "pets")])
    assert t.lookup(str(a)) == "cats" and t.lookup(str(b)) == "dogs"
    assert t.lookup(str(tmp_path / "elsewhere.png")) is None
    assert load_truth(None, [str(tmp_path / "pets")]).lookup(str(a)) == "cats"  # one folder input: its class folders
    (tmp_path / "empty").mkdir()
    with pytest.raises(TruthError, match="no class folders"):
        load_truth(str(tmp_path / "empty"), [])


def test_sidecar_by_path_and_by_name(tmp_path):
    imgs = tmp_path / "imgs"
    a, b = _png(imgs / "a.png"), _png(imgs / "sub" / "b.png")
    c1, c2 = _png(imgs / "x" / "c.png"), _png(imgs / "y" / "c.png")
    sidecar = _csv(tmp_path / "labels.csv", ["input", "label"],
                   [["a.png", "cat"], ["imgs/sub/b.png", "dog"], ["x/c.png", "cat"], ["c.png", "dog"],
                    ["other/c.png", "cat"]])
    t = load_truth(str(sidecar), [str(imgs)])
    assert t.lookup(str(a)) == "cat"  # by file name
    assert t.lookup(str(b)) == "dog"  # by path, relative to the sidecar
    # c.png is named three times: a bare name shared by entries is no match
    assert t.lookup(str(c1)) is None and t.lookup(str(c2)) is None


def test_sidecar_without_a_label_column_is_refused(tmp_path):
    with pytest.raises(TruthError, match="needs two columns"):
        load_truth(str(_csv(tmp_path / "one.csv", ["input"], [["a.png"]])), [])


def test_coco_json(tmp_path):
    img = _png(tmp_path / "images" / "street.png")
    _png(tmp_path / "images" / "empty.png")
    coco = {"images": [{"id": 1, "file_name": "street.png"}, {"id": 2, "file_name": "empty.png"}],
            "categories": [{"id": 1, "name": "car"}, {"id": 3, "name": "person"}],
            "annotations": [{"id": 1, "image_id": 1, "category_id": 3, "bbox": [1, 2, 3, 4]},
                            {"id": 2, "image_id": 1, "category_id": 1, "bbox": [5, 6, 7, 8], "iscrowd": 1}]}
    path = tmp_path / "instances.json"
    path.write_text(json.dumps(coco))
    t = load_truth(str(path), [str(tmp_path / "images")], task="detection")
    boxes = t.lookup(str(img))
    assert [(b.label, b.bbox, b.iscrowd) for b in boxes] == [("person", (1, 2, 3, 4), 0), ("car", (5, 6, 7, 8), 1)]
    assert t.lookup(str(tmp_path / "images" / "empty.png")) == []  # an image without boxes: truth too
    path.write_text(json.dumps({"annotations": []}))
    with pytest.raises(TruthError, match="not a COCO instances file"):
        load_truth(str(path), [], task="detection")


def test_yolo_labels_in_pixels(tmp_path):
    img = _png(tmp_path / "images" / "street.png", size=(200, 100))
    labels = tmp_path / "labels"
    labels.mkdir()
    (labels / "street.txt").write_text("1 0.5 0.5 0.2 0.4\n\n")
    (labels / "classes.txt").write_text("car\nperson\n")
    t = load_truth(str(labels), [str(img)], task="detection")
    (box,) = t.lookup(str(img))
    assert box == Box(1, pytest.approx((80.0, 30.0, 40.0, 40.0)))
    (labels / "street.txt").write_text("person 0.5 0.5\n")
    with pytest.raises(TruthError, match="street.txt line 1 is not 'class cx cy w h'"):
        load_truth(str(labels), [str(img)], task="detection")


def test_labels_match_by_name_case_and_index():
    m = match_labels(["malignant", "Benign ", "1", "0.0", "M", "7"], ["malignant", "benign"])
    assert m("malignant") == 0 and m("Benign ") == 1 and m("1") == 1 and m("0.0") == 0
    assert m.unmatched == ["7", "M"]  # reported, never guessed
    digits = match_labels(["3", "03"], [str(d) for d in range(10)])
    assert digits("3") == 3 and digits("03") == 3  # "3" is the class named 3; "03" is index 3
