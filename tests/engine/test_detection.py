"""Detection: fixed-box models in each family's layout decode to hand-computed boxes in original-image pixels."""

from __future__ import annotations

import numpy as np
import pytest
from onnx import TensorProto, helper, numpy_helper
from PIL import Image

from desktop.engine.batch import run_batches
from desktop.engine.core import Engine
from desktop.engine.decoders.detection import batched_nms, filter_detections, nms
from desktop.engine.model import inspect_model
from desktop.engine.profile import Task, default_profile, profile_from_dict
from desktop.engine.resultbatch import ResultBatch
from desktop.engine.store import ResultStore
from tests.conftest import make_model

NAMES = "{0: 'person', 1: 'bicycle'}"
ULTRALYTICS = {"task": "detect", "imgsz": "[320, 320]", "stride": "32", "names": NAMES, "batch": "1",
               "author": "Ultralytics"}

# boxes in model-input pixels (x1, y1, x2, y2), class, score
A = ((32, 86, 160, 150), 0, 0.9)
B = ((36, 88, 164, 152), 0, 0.8)   # IoU 0.88 with A, same class: suppressed by NMS
C = ((34, 87, 162, 151), 1, 0.85)  # overlaps A, other class: kept when class-aware
D = ((200, 100, 300, 200), 1, 0.3)  # kept at conf 0.25, not at 0.5
E = ((250, 150, 310, 230), 0, 0.1)  # under conf 0.25, over the 0.05 candidate floor
F = ((10, 10, 20, 20), 1, 0.01)    # under the floor
BOXES = [A, B, C, D, E, F]

# the 1000x563 image letterboxed into 320x320: gain 0.32, padding 70 above (Ultralytics' arithmetic)
LETTERBOX_A = [100.0, 50.0, 500.0, 250.0]          # ((32-0)/.32, (86-70)/.32, 160/.32, (150-70)/.32)
LETTERBOX_C = [106.25, 53.125, 506.25, 253.125]
LETTERBOX_D = [625.0, 93.75, 937.5, 406.25]
# stretched to 320x320: x / 0.32, y * 563 / 320
STRETCH_A = [100.0, 86 * 563 / 320, 500.0, 150 * 563 / 320]
STRETCH_D = [625.0, 100 * 563 / 320, 937.5, 200 * 563 / 320]

FIT = {"task": "detection", "image": {"resize": {"mode": "fit", "size": [320, 320], "pad": {"value": 114}}}}
STRETCH = {"task": "detection", "image": {"resize": {"mode": "stretch", "size": [320, 320]}}}


def constant_model(path, outputs: dict, metadata=None):
    """x [1, 3, 320, 320] -> each output a constant (plus 0 × mean(x), so the input is used)."""
    nodes = [helper.make_node("ReduceMean", ["x"], ["m"], keepdims=0),
             helper.make_node("Mul", ["m", "zero"], ["z"])]
    inits = [numpy_helper.from_array(np.array(0, dtype=np.float32), "zero")]
    outs = []
    for name, value in outputs.items():
        value = np.asarray(value)
        inits.append(numpy_helper.from_array(value, f"{name}_c"))
        if value.dtype == np.float32:
            nodes.append(helper.make_node("Add", [f"{name}_c", "z"], [name]))
            outs.append((name, TensorProto.FLOAT, list(value.shape)))
        else:
            nodes.append(helper.make_node("Identity", [f"{name}_c"], [name]))
            outs.append((name, TensorProto.INT64, list(value.shape)))
    return make_model(path, nodes, [("x", TensorProto.FLOAT, [1, 3, 320, 320])], outs, inits, metadata=metadata)


def xywh(box):
    x1, y1, x2, y2 = box
    return [(x1 + x2) / 2, (y1 + y2) / 2, x2 - x1, y2 - y1]


def yolov8_output():
    """[1, 4+C, A]: channels first, no objectness (two anchors left empty)."""
    cols = []
    for box, cls, score in BOXES + [((0, 0, 1, 1), 0, 0.0)] * 2:
        s = [0.0, 0.0]
        s[cls] = score
        cols.append(xywh(box) + s)
    return np.array(cols, dtype=np.float32).T[None]


def yolov5_output():
    """[1, A, 5+C]: objectness × class probability (D: 0.5 × 0.6)."""
    rows = []
    for box, cls, score in BOXES + [((0, 0, 1, 1), 0, 0.0)] * 2:
        obj, p = (0.5, score / 0.5) if score == 0.3 else (1.0, score)
        s = [0.0, 0.0]
        s[cls] = p
        rows.append(xywh(box) + [obj] + s)
    return np.array(rows, dtype=np.float32)[None]


def end2end_output():
    rows = [list(box) + [score, cls] for box, cls, score in BOXES] + [[0, 0, 0, 0, 0.0, 0]]
    return np.array(rows, dtype=np.float32)[None]  # [1, 7, 6]


def rtdetr_output():
    """[1, N, 4+C] normalised cx, cy, w, h and class logits (three classes)."""
    rows = []
    for box, cls, score in BOXES:
        logits = [-9.0, -9.0, -9.0]
        logits[cls] = float(np.log(score / (1 - score)))
        rows.append([v / 320 for v in xywh(box)] + logits)
    return np.array(rows, dtype=np.float32)[None]


def torchvision_outputs():
    return {"boxes": np.array([b for b, _, _ in BOXES], dtype=np.float32),
            "scores": np.array([s for _, _, s in BOXES], dtype=np.float32),
            "labels": np.array([c for _, c, _ in BOXES], dtype=np.int64)}


@pytest.fixture
def photo(tmp_path):
    path = tmp_path / "photo.png"
    Image.new("RGB", (1000, 563), (40, 80, 120)).save(path)
    return path


def _score(model, profile, photo, **detection):
    if detection:
        profile = {**profile, "detection": detection}
    engine = Engine(model, profile=profile_from_dict(profile))
    batches = list(run_batches(engine, [photo], workers=0))
    assert len(batches) == 1 and batches[0].ok.all()
    return batches[0]


def _boxes(batch, i=0):
    rec = batch.record(i)
    return [(d["label"], round(d["score"], 4), d["box"]) for d in rec.get("detections", [])]


FAMILIES = {
    "yolov8": lambda p: constant_model(p, {"output0": yolov8_output()}, ULTRALYTICS),
    "yolov5": lambda p: constant_model(p, {"output0": yolov5_output()}, {"stride": "32", "names": NAMES}),
}


@pytest.mark.parametrize("family", ["yolov8", "yolov5"])
def test_nms_families_letterboxed(tmp_path, photo, family):
    model = FAMILIES[family](tmp_path / f"{family}.onnx")
    batch = _score(model, FIT, photo)
    assert batch.meta["family"] == family
    got = _boxes(batch)
    assert [(lab, s) for lab, s, _ in got] == [("person", 0.9), ("bicycle", 0.85), ("bicycle", 0.3)]
    np.testing.assert_allclose([b for _, _, b in got], [LETTERBOX_A, LETTERBOX_C, LETTERBOX_D], atol=1e-3)


@pytest.mark.parametrize("family", ["yolov8", "yolov5"])
def test_nms_families_stretched(tmp_path, photo, family):
    model = FAMILIES[family](tmp_path / f"{family}.onnx")
    got = _boxes(_score(model, STRETCH, photo))
    np.testing.assert_allclose([got[0][2], got[2][2]], [STRETCH_A, STRETCH_D], atol=1e-3)


def test_class_agnostic_nms_drops_the_other_class_overlap(tmp_path, photo):
    model = FAMILIES["yolov8"](tmp_path / "v8.onnx")
    got = _boxes(_score(model, FIT, photo, class_agnostic=True))
    assert [(lab, s) for lab, s, _ in got] == [("person", 0.9), ("bicycle", 0.3)]


def test_iou_threshold_from_the_profile(tmp_path, photo):
    """At IoU 0.95 the same-class overlap (0.88) survives NMS."""
    model = FAMILIES["yolov8"](tmp_path / "v8.onnx")
    got = _boxes(_score(model, FIT, photo, iou=0.95))
    assert [s for _, s, _ in got] == [0.9, 0.85, 0.8, 0.3]


@pytest.mark.parametrize("family", ["yolov8", "yolov5"])
def test_refiltering_equals_decoding_at_that_conf(tmp_path, photo, family):
    model = FAMILIES[family](tmp_path / f"{family}.onnx")
    low = _score(model, FIT, photo)
    for conf in (0.05, 0.2, 0.5, 0.86, 0.95):
        direct = _score(model, FIT, photo, conf=conf)
        rows = filter_detections(low.answer, conf)[0]
        d = direct.answer
        keep = np.arange(d["det_offsets"][0], d["det_offsets"][1])[d["det_score"][:d["det_offsets"][1]] > conf]
        np.testing.assert_array_equal(low.answer["det_box"][rows], d["det_box"][keep])
        np.testing.assert_array_equal(low.answer["det_class"][rows], d["det_class"][keep])
        assert _boxes(low.replace(meta={**low.meta, "conf": conf})) == _boxes(direct)
    # the candidates: E (0.1) is stored under conf 0.25, F (0.01) under the floor is not
    assert sorted(np.round(low.answer["det_score"].astype(float), 4).tolist()) == [0.1, 0.3, 0.85, 0.9]


def test_end2end_keeps_every_box_without_nms(tmp_path, photo):
    model = constant_model(tmp_path / "e2e.onnx", {"output0": end2end_output()}, ULTRALYTICS)
    batch = _score(model, FIT, photo)
    assert batch.meta["family"] == "end2end"
    got = _boxes(batch)
    assert [s for _, s, _ in got] == [0.9, 0.85, 0.8, 0.3]
    np.testing.assert_allclose(got[0][2], LETTERBOX_A, atol=1e-3)


def test_rtdetr_normalised_logits(tmp_path, photo):
    model = constant_model(tmp_path / "rtdetr.onnx", {"output0": rtdetr_output()},
                           {"names": "{0: 'person', 1: 'bicycle', 2: 'car'}"})
    batch = _score(model, STRETCH, photo)
    assert batch.meta["family"] == "rtdetr"
    got = _boxes(batch)
    assert [(lab, s) for lab, s, _ in got] == [("person", 0.9), ("bicycle", 0.85), ("person", 0.8),
                                               ("bicycle", 0.3)]
    np.testing.assert_allclose([got[0][2], got[3][2]], [STRETCH_A, STRETCH_D], atol=1e-2)


def test_torchvision_boxes_scores_labels(tmp_path, photo):
    model = constant_model(tmp_path / "tv.onnx", torchvision_outputs(), {"labels": '["person", "bicycle"]'})
    assert default_profile(inspect_model(model)).task == Task.DETECTION
    batch = _score(model, FIT, photo)
    assert batch.meta["family"] == "torchvision"
    got = _boxes(batch)
    assert [s for _, s, _ in got] == [0.9, 0.85, 0.8, 0.3]
    np.testing.assert_allclose([got[0][2], got[3][2]], [LETTERBOX_A, LETTERBOX_D], atol=1e-3)


def test_family_from_the_profile_overrides_recognition(tmp_path, photo):
    """A [1, 7, 6] output read as YOLOv5 (one class) when the profile says so, not as end-to-end."""
    model = constant_model(tmp_path / "e2e.onnx", {"output0": end2end_output()})
    batch = _score(model, FIT, photo, family="yolov5")
    assert batch.meta["family"] == "yolov5"


def test_ultralytics_metadata_gives_a_letterboxed_detection_profile(tmp_path):
    model = FAMILIES["yolov8"](tmp_path / "v8.onnx")
    p = default_profile(inspect_model(model))
    assert p.task == Task.DETECTION and p.labels == ("person", "bicycle")
    r = p.image.resize
    assert (r.mode, r.size, r.pad_anchor, r.pad_value) == ("fit", (320, 320), "center", (114.0,))
    assert p.image.scale == pytest.approx(1 / 255) and p.image.color == "RGB"


def test_detector_shapes_are_never_classification(tmp_path):
    """[1, 84, 8400] without metadata is a detector; with class names but no task, still not a classifier."""
    out = np.zeros((1, 84, 8400), dtype=np.float32)
    bare = constant_model(tmp_path / "bare.onnx", {"output0": out})
    assert default_profile(inspect_model(bare)).task == Task.DETECTION
    names = "{" + ", ".join(f"{i}: 'c{i}'" for i in range(80)) + "}"
    named = constant_model(tmp_path / "named.onnx", {"output0": out}, {"names": names, "stride": "32"})
    prof = default_profile(inspect_model(named))
    assert prof.task == Task.DETECTION and prof.image.resize.mode == "fit"
    seg = constant_model(tmp_path / "seg.onnx", {"maps": np.zeros((1, 5, 8, 8), dtype=np.float32)},
                         {"names": "a,b,c,d,e"})
    assert default_profile(inspect_model(seg)).task != Task.CLASSIFICATION


def test_summary_and_csv_columns(tmp_path, photo):
    batch = _score(FAMILIES["yolov8"](tmp_path / "v8.onnx"), FIT, photo)
    assert batch.summary(0) == ("3 detections · person 0.90", pytest.approx(0.9))
    cols = dict(batch.answer_columns())
    assert cols["detections"].tolist() == [3] and cols["label"].tolist() == ["person"]
    assert cols["score"][0] == pytest.approx(0.9)
    none = batch.replace(meta={**batch.meta, "conf": 0.99})
    assert none.summary(0) == ("no detections", None)
    cols = dict(none.answer_columns())
    assert cols["detections"].tolist() == [0] and cols["label"].tolist() == [""] and cols["score"].tolist() == [""]


# --------------------------------------------------------------------------- NMS alone
def test_nms_is_greedy_with_torchvision_iou():
    boxes = np.array([[0, 0, 10, 10], [1, 0, 11, 10], [20, 20, 30, 30], [0, 0, 10, 10]], dtype=np.float64)
    scores = np.array([0.9, 0.8, 0.7, 0.95])
    # IoU([0,0,10,10], [1,0,11,10]) = 90 / 110 = 0.818: dropped at 0.8, kept at 0.82
    assert nms(boxes, scores, 0.8).tolist() == [3, 2]
    assert nms(boxes, scores, 0.82).tolist() == [3, 1, 2]
    assert batched_nms(boxes, scores, np.array([0, 1, 0, 0]), 0.5).tolist() == [3, 1, 2]
    assert batched_nms(boxes, scores, np.array([0, 1, 0, 0]), 0.5, agnostic=True).tolist() == [3, 2]


def test_nms_then_threshold_is_nms_of_the_thresholded(tmp_path):
    rng = np.random.default_rng(3)
    xy = rng.uniform(0, 100, (300, 2))
    boxes = np.concatenate([xy, xy + rng.uniform(5, 40, (300, 2))], axis=1)
    scores = rng.uniform(0, 1, 300)
    classes = rng.integers(0, 3, 300)
    floor = 0.05
    base = np.flatnonzero(scores > floor)
    kept = base[batched_nms(boxes[base], scores[base], classes[base], 0.5)]
    for t in (0.1, 0.3, 0.6, 0.9):
        sub = np.flatnonzero(scores > t)
        direct = sub[batched_nms(boxes[sub], scores[sub], classes[sub], 0.5)]
        assert kept[scores[kept] > t].tolist() == direct.tolist()


# --------------------------------------------------------------------------- ragged columns
def _engine(tmp_path):
    return Engine(FAMILIES["yolov8"](tmp_path / "v8.onnx"), profile=profile_from_dict(FIT))


def _two_images(tmp_path, photo, engine=None):
    other = tmp_path / "small.png"
    Image.new("RGB", (321, 320)).save(other)
    engine = engine or _engine(tmp_path)
    return list(run_batches(engine, [photo, tmp_path / "missing.png", other], workers=0))


def test_take_and_concat_keep_each_items_boxes(tmp_path, photo):
    batch = ResultBatch.concat(_two_images(tmp_path, photo))
    assert len(batch) == 3 and batch.ok.tolist() == [True, False, True]
    assert batch.answer["det_offsets"].tolist() == [0, 4, 4, 8]
    assert batch.answer["image_size"].tolist() == [[1000, 563], [0, 0], [321, 320]]
    np.testing.assert_allclose(batch.answer["input_transform"][0], [0.32, 0.32, 0, 70])
    first, last = _boxes(batch, 0), _boxes(batch, 2)
    assert first != last and batch.record(1)["ok"] is False
    taken = batch.take(np.array([2, 0]))
    assert _boxes(taken, 0) == last and _boxes(taken, 1) == first
    assert taken.answer["det_offsets"].tolist() == [0, 4, 8]
    again = ResultBatch.concat([batch.take(np.array([0])), batch.take(np.array([1, 2]))])
    assert [_boxes(again, i) for i in (0, 2)] == [first, last]
    assert again.content_digest() == batch.content_digest()
    assert batch.without_features().answer["det_box"] is batch.answer["det_box"]
    assert ResultBatch.from_bytes(batch.to_bytes()).content_digest() == batch.content_digest()


def test_item_digest_names_the_item_whose_boxes_changed(tmp_path, photo):
    batch = ResultBatch.concat(_two_images(tmp_path, photo))
    answer = dict(batch.answer)
    answer["det_box"] = answer["det_box"].copy()
    answer["det_box"][5, 0] += 1  # a box of the third item
    changed = batch.replace(answer=answer)
    assert (batch.item_digests() != changed.item_digests()).tolist() == [False, False, True]


def test_store_round_trip_gives_the_same_detections(tmp_path, photo):
    engine = _engine(tmp_path)
    batches = _two_images(tmp_path, photo, engine)
    batch = ResultBatch.concat(batches)
    store = ResultStore(tmp_path / "results.sqlite3")
    try:
        rec = store.start_run(engine, [str(photo)])
        for b in batches:
            rec.add_batch(b)
        rec.commit()
        rec.finish()
        back = ResultBatch.concat(list(store.batches(rec.run_id)))
    finally:
        store.close()
    assert [_boxes(back, i) for i in range(3)] == [_boxes(batch, i) for i in range(3)]
    for name in ("det_offsets", "det_box", "det_score", "det_class", "image_size", "input_transform"):
        np.testing.assert_array_equal(back.answer[name], batch.answer[name])


# --------------------------------------------------------------------------- the profile's detection key
def test_profiles_without_detection_load_and_hash_as_before():
    raw = {"input": "x", "task": "detection", "image": {"resize": {"mode": "fit", "size": [320, 320]}}}
    p = profile_from_dict(raw)
    assert p.detection is None and "detection" not in p.to_dict()
    assert profile_from_dict(p.to_dict()).sha256() == p.sha256()


def test_detection_key_round_trips_and_is_checked():
    from desktop.engine.errors import ProfileError

    p = profile_from_dict({"task": "detection", "detection": {"family": "YOLO11", "conf": 0.4, "iou": 0.6,
                                                                "max_det": 50, "class_agnostic": True}})
    assert p.detection.family == "yolov8" and p.detection.conf == 0.4 and p.detection.max_det == 50
    assert profile_from_dict(p.to_dict()) == p
    for bad, word in (({"conf": 1.5}, "between 0 and 1"), ({"family": "yolo3"}, "detection.family"),
                      ({"nms": 0.5}, "unknown key 'detection.nms'"), ({"class_agnostic": "yes"}, "true or false")):
        with pytest.raises(ProfileError, match=word):
            profile_from_dict({"task": "detection", "detection": bad})


def test_a_results_row_view_carries_its_candidates_and_the_threshold(tmp_path, photo):
    """The window's detail reads Result: the detections at the run's conf, and the rest for its slider."""
    batch = _score(FAMILIES["yolov8"](tmp_path / "m.onnx"), FIT, photo)
    r = batch.result(0)
    assert r.conf == 0.25 and r.to_json()["detections"] == batch.record(0)["detections"]
    assert [(d.label, round(d.score, 4)) for d in r.detections] == [("person", 0.9), ("bicycle", 0.85),
                                                                  ("bicycle", 0.3)]
    assert [round(d.score, 4) for d in r.detections_at(0.05)] == [0.9, 0.85, 0.3, 0.1]  # E, under the floor F not
    assert [round(d.score, 4) for d in r.detections_at(0.5)] == [0.9, 0.85]
    np.testing.assert_allclose(r.detections[0].box, LETTERBOX_A, atol=1e-3)
    plain = ResultBatch.failed("classification", 0, str(photo), "image", "x").result(0)
    assert plain.conf is None and plain.detections == () and "detections" not in plain.to_json()


def test_a_detectors_raw_grids_are_not_kept_once_decoded_unless_the_profile_asks(tmp_path, photo):
    """A YOLO's 84×8400 grid per image filled every record and the history (9 MB a page for the layout sample)."""
    model = FAMILIES["yolov8"](tmp_path / "m.onnx")
    batch = _score(model, FIT, photo)
    assert batch.outputs == {} and batch.record(0)["outputs"] == {} and len(batch.record(0)["detections"]) == 3
    kept = _score(model, {**FIT, "keep_outputs": True}, photo)
    assert kept.record(0)["outputs"]["output0"] and kept.record(0)["detections"] == batch.record(0)["detections"]
    assert profile_from_dict({**FIT, "keep_outputs": True}).to_dict()["keep_outputs"] is True
    assert "keep_outputs" not in profile_from_dict(FIT).to_dict()  # left out: older profiles keep their hash
    with pytest.raises(Exception, match="keep_outputs must be true or false"):
        profile_from_dict({**FIT, "keep_outputs": "yes"})
