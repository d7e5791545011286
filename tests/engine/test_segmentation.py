"""Segmentation: constant YOLO-seg and semantic models decode to hand-computed masks and areas in original pixels."""

from __future__ import annotations

import csv
import io
import json

import numpy as np
import pytest
from PIL import Image

from desktop.cli import main
from desktop.engine.batch import run_batches
from desktop.engine.core import Engine
from desktop.engine.decoders.segmentation import class_masks, decode_rle, detection_masks
from desktop.engine.model import inspect_model
from desktop.engine.profile import Task, default_profile, profile_from_dict
from desktop.engine.resultbatch import ResultBatch
from desktop.engine.store import ResultStore
from tests.engine.test_detection import NAMES, constant_model, xywh

SEGMENT = {"task": "segment", "imgsz": "[320, 320]", "stride": "32", "names": NAMES, "batch": "1"}
FIT = {"task": "segmentation", "labels": ["person", "bicycle"],
       "image": {"resize": {"mode": "fit", "size": [320, 320], "pad": {"value": 114}}}}
STRETCH = {"task": "segmentation", "image": {"resize": {"mode": "stretch", "size": [320, 320]}}}

# boxes in model-input pixels, class, score (as in test_detection)
A = ((32, 86, 160, 150), 0, 0.9)
B = ((36, 88, 164, 152), 0, 0.8)  # suppressed by A (IoU 0.88)
D = ((200, 100, 300, 200), 1, 0.3)
NM, MH, MW = 32, 80, 80  # prototypes at a quarter of the 320×320 input
PERSON_AREA = 200 * 400 - 38  # A's mask letterboxed: rows 56..255 × columns 100..499, less its rounded corners


def prototypes():
    """Prototype 0 is 10 everywhere (sigmoid ≈ 1); every coefficient vector below is (1, 0, ...): masks are their boxes."""
    p = np.zeros((1, NM, MH, MW), dtype=np.float32)
    p[0, 0] = 10.0
    return p


def yolov8_seg_output():
    cols = []
    for box, cls, score in (A, B, D, ((0, 0, 1, 1), 0, 0.0)):
        s = [0.0, 0.0]
        s[cls] = score
        cols.append(xywh(box) + s + [1.0] + [0.0] * (NM - 1))
    return np.array(cols, dtype=np.float32).T[None]  # [1, 4+2+32, 4]


def yolov5_seg_output():
    rows = []
    for box, cls, score in (A, B, D, ((0, 0, 1, 1), 0, 0.0)):
        s = [0.0, 0.0]
        s[cls] = score
        rows.append(xywh(box) + [1.0] + s + [1.0] + [0.0] * (NM - 1))
    return np.array(rows, dtype=np.float32)[None]  # [1, 4, 5+2+32]


def _tent(coord: np.ndarray, first: int, end: int) -> np.ndarray:
    """Bilinear sampling, at half-pixel coordinates, of a 0/1 line that is 1 on pixels ``first..end-1``."""
    return np.clip(np.minimum(coord - (first - 1), end - coord), 0, 1)


def expected_instance(box, pad_y, content_h, h=563, w=1000):
    """The mask the decoder must give, worked by hand.

    At the prototypes' resolution the crop keeps pixels ``c`` with ``x1/4 <= c < x2/4``, i.e.
    ``ceil(x1/4)..ceil(x2/4)-1``. Bilinear upsampling ×4 samples at ``(u + 0.5)/4 - 0.5``: along
    each axis a tent rising from the last dropped to the first kept pixel, so the 0.5 crossing of
    an edge is at input pixel ``4 × ceil(x1/4)``, and a pixel is in when the product of the two
    axes' values is over 0.5 (its corners are rounded). Back in the original, a pixel's centre
    maps to input coordinate ``pad + (v + 0.5) × content / h``; the input mask is sampled there
    bilinearly (written out below on the whole arrays), over 0.5.
    """
    p = [int(np.ceil(v / 4)) for v in box]
    u = (np.arange(320) + 0.5) / 4 - 0.5
    m_in = (_tent(u, p[1], p[3])[:, None] * _tent(u, p[0], p[2])[None, :] > 0.5).astype(float)
    ys = np.clip(pad_y + (np.arange(h) + 0.5) * content_h / h - 0.5, 0, 319)
    xs = np.clip((np.arange(w) + 0.5) * 320 / w - 0.5, 0, 319)
    y0, x0 = np.floor(ys).astype(int), np.floor(xs).astype(int)
    y1, x1 = np.minimum(y0 + 1, 319), np.minimum(x0 + 1, 319)
    wy, wx = (ys - y0)[:, None], (xs - x0)[None, :]
    top = m_in[y0][:, x0] * (1 - wx) + m_in[y0][:, x1] * wx
    bottom = m_in[y1][:, x0] * (1 - wx) + m_in[y1][:, x1] * wx
    return top * (1 - wy) + bottom * wy > 0.5


@pytest.fixture
def photo(tmp_path):
    path = tmp_path / "photo.png"
    Image.new("RGB", (1000, 563), (40, 80, 120)).save(path)
    return path


def _score(model, profile, photo):
    engine = Engine(model, profile=profile_from_dict(profile) if isinstance(profile, dict) else profile)
    batches = list(run_batches(engine, [photo], workers=0))
    assert len(batches) == 1 and batches[0].ok.all(), batches[0].errors
    return batches[0]


def _yolo(tmp_path, layout="yolov8"):
    main_out = yolov8_seg_output() if layout == "yolov8" else yolov5_seg_output()
    return constant_model(tmp_path / f"{layout}-seg.onnx", {"output0": main_out, "output1": prototypes()},
                          SEGMENT if layout == "yolov8" else {"names": NAMES})


# --------------------------------------------------------------------------- YOLO instance masks
@pytest.mark.parametrize("layout", ["yolov8", "yolov5"])
def test_yolo_seg_letterboxed_mask_is_the_hand_computed_rectangle(tmp_path, photo, layout):
    batch = _score(_yolo(tmp_path, layout), FIT, photo)
    assert batch.meta["kind"] == "instance" and batch.meta["family"] == layout
    rec = batch.record(0)
    assert [(d["label"], round(d["score"], 2)) for d in rec["detections"]] == [("person", 0.9), ("bicycle", 0.3)]
    mask = decode_rle(rec["detections"][0]["mask"]["counts"].encode(), 563, 1000)
    assert rec["detections"][0]["mask"]["size"] == [563, 1000]
    # 1000×563 letterboxed into 320×320: gain 0.32, 180 rows of content from row 70
    want = expected_instance(A[0], 70, 180)
    np.testing.assert_array_equal(mask, want)
    rows, cols = np.flatnonzero(want.any(axis=1)), np.flatnonzero(want.any(axis=0))
    assert (rows[0], rows[-1], cols[0], cols[-1]) == (56, 255, 100, 499)  # input rows 88..151, columns 32..159
    assert not want[56, 100] and want[56, 110] and want[60, 100] and want.sum() < 200 * 400  # rounded corners
    bike = decode_rle(rec["detections"][1]["mask"]["counts"].encode(), 563, 1000)
    np.testing.assert_array_equal(bike, expected_instance(D[0], 70, 180))
    assert rec["areas"] == {"person": {"pixels": PERSON_AREA}, "bicycle": {"pixels": int(bike.sum())}}


def test_yolo_seg_stretched_mask(tmp_path, photo):
    profile = {**STRETCH, "labels": ["person", "bicycle"]}
    batch = _score(_yolo(tmp_path), profile, photo)
    mask = decode_rle(batch.record(0)["detections"][0]["mask"]["counts"].encode(), 563, 1000)
    want = expected_instance(A[0], 0, 320)
    np.testing.assert_array_equal(mask, want)
    rows = np.flatnonzero(want.any(axis=1))
    assert (rows[0], rows[-1]) == (155, 266)


def test_ultralytics_segment_metadata_gives_a_letterboxed_segmentation_profile(tmp_path, photo):
    model = _yolo(tmp_path)
    profile = default_profile(inspect_model(model))
    assert profile.task == Task.SEGMENTATION and profile.image.resize.mode == "fit"
    batch = _score(model, profile, photo)
    assert batch.summary(0) == ("2 detections · person 0.90", pytest.approx(0.9))
    cols = dict(batch.answer_columns())
    assert cols["detections"].tolist() == [2] and cols["area[person]"].tolist() == [PERSON_AREA]
    assert "area_mm2[person]" not in cols  # a PNG has no pixel spacing


def test_candidates_keep_masks_for_refiltering_and_the_label_map(tmp_path, photo):
    batch = _score(_yolo(tmp_path), FIT, photo)
    masks = detection_masks(batch.answer, 0)
    assert len(masks) == 2 and batch.answer["det_mask_area"].tolist()[0] == PERSON_AREA
    r = batch.result(0)
    assert r.detections[0].mask == batch.record(0)["detections"][0]["mask"]
    label_map, names = r.label_map()
    assert names == ["background", "person", "bicycle"] and label_map.shape == (563, 1000)
    person = expected_instance(A[0], 70, 180)
    bike = expected_instance(D[0], 70, 180)
    np.testing.assert_array_equal(label_map == 1, person & ~bike)  # the better detection is painted last
    np.testing.assert_array_equal(label_map == 2, bike)
    only_person, _ = r.label_map(conf=0.5)  # the bicycle (0.3) is under it
    np.testing.assert_array_equal(only_person == 1, person)
    assert set(np.unique(only_person).tolist()) == {0, 1}
    assert r.areas(0.5) == {"person": {"pixels": PERSON_AREA}}
    assert r.to_json()["areas"] == batch.record(0)["areas"]


# --------------------------------------------------------------------------- semantic maps
def _label_model(tmp_path, letterbox=False):
    """[1, 3, 80, 80] one-hot logits: class 1 in rows 20..39, class 2 in rows 60..79 × columns 40..79, class 0 else."""
    logits = np.zeros((1, 3, 80, 80), dtype=np.float32)
    lab = np.zeros((80, 80), dtype=np.int64)
    lab[20:40] = 1
    lab[60:, 40:] = 2
    for c in range(3):
        logits[0, c][lab == c] = 5.0
    return constant_model(tmp_path / "semantic.onnx", {"logits": logits})


def test_semantic_argmax_areas_on_a_stretched_image(tmp_path, photo):
    profile = {**STRETCH, "labels": ["road", "car", "sky"]}
    batch = _score(_label_model(tmp_path), profile, photo)
    # nearest neighbour: original row v is output row floor((v + 0.5) × 80/563), column u floor((u + 0.5) × 0.08)
    # car: rows 141..280 (140) × 1000; sky: rows 422..562 (141) × columns 500..999 (500)
    areas = batch.record(0)["areas"]
    assert areas == {"road": {"pixels": 563000 - 140000 - 70500}, "car": {"pixels": 140000},
                     "sky": {"pixels": 70500}}
    assert batch.summary(0) == ("road 62.6% · car 24.9% · sky 12.5%", None)
    cols = dict(batch.answer_columns())
    assert cols["area[car]"].tolist() == [140000] and cols["area[sky]"].tolist() == [70500]
    label_map, names = batch.result(0).label_map()
    assert names == ["road", "car", "sky"]
    assert np.flatnonzero((label_map == 1).any(axis=1)).tolist() == list(range(141, 281))
    for c, rle in class_masks(batch.answer, 0):
        np.testing.assert_array_equal(decode_rle(rle["counts"], 563, 1000), label_map == c)


def test_semantic_argmax_through_the_letterbox(tmp_path, photo):
    profile = {**FIT, "labels": ["road", "car", "sky"]}
    batch = _score(_label_model(tmp_path), profile, photo)
    # output row = floor((70 + (v + 0.5) × 180/563) / 4): car (rows 20..39) is v = 31..280
    label_map, _ = batch.result(0).label_map()
    assert np.flatnonzero((label_map == 1).any(axis=1)).tolist() == list(range(31, 281))
    assert batch.record(0)["areas"]["car"] == {"pixels": 250 * 1000}


def _probability_model(tmp_path):
    """[1, 1, 80, 80]: 0.4 in rows 20..39, 0 elsewhere (a DBNet-like text map)."""
    prob = np.zeros((1, 1, 80, 80), dtype=np.float32)
    prob[0, 0, 20:40] = 0.4
    return constant_model(tmp_path / "text.onnx", {"maps": prob})


def test_probability_map_threshold_from_the_profile(tmp_path, photo):
    model = _probability_model(tmp_path)
    at_half = _score(model, {**STRETCH, "labels": ["text"]}, photo)
    assert at_half.record(0)["areas"] == {} and at_half.summary(0) == ("nothing found", None)
    batch = _score(model, {**STRETCH, "labels": ["text"], "segmentation": {"threshold": 0.3}}, photo)
    # bilinear: 0.4 × t > 0.3 where the map rises (t > 0.75 past row 19's centre) and falls (t < 0.25 past row 39's):
    # (v + 0.5) × 80/563 - 0.5 in (19.75, 39.25), i.e. rows 143..279
    assert batch.meta["kind"] == "binary" and batch.meta["threshold"] == 0.3
    assert batch.record(0)["areas"] == {"text": {"pixels": 137 * 1000}}
    assert batch.summary(0) == ("text 24.3%", None)
    label_map, names = batch.result(0).label_map()
    assert names == ["background", "text"]
    assert np.flatnonzero(label_map.any(axis=1)).tolist() == list(range(143, 280))
    assert list(dict(batch.answer_columns())) == ["area[text]"]


def test_profiles_without_segmentation_load_and_hash_as_before():
    from desktop.engine.errors import ProfileError

    raw = {"input": "x", "task": "segmentation", "image": {"resize": {"mode": "fit", "size": [320, 320]}}}
    p = profile_from_dict(raw)
    assert p.segmentation is None and "segmentation" not in p.to_dict()
    assert profile_from_dict(p.to_dict()).sha256() == p.sha256()
    q = profile_from_dict({**raw, "segmentation": {"threshold": 0.3}})
    assert q.segmentation.threshold == 0.3 and profile_from_dict(q.to_dict()) == q and q.sha256() != p.sha256()
    for bad, word in (({"threshold": 2}, "between 0 and 1"), ({"thresh": 0.3}, "segmentation.thresh")):
        with pytest.raises(ProfileError, match=word):
            profile_from_dict({**raw, "segmentation": bad})


# --------------------------------------------------------------------------- DICOM spacing, store, CLI
def test_dicom_pixel_spacing_gives_areas_in_mm2(tmp_path):
    pydicom = pytest.importorskip("pydicom")
    from pydicom.data import get_testdata_file

    path = get_testdata_file("CT_small.dcm")
    row, col = (float(v) for v in pydicom.dcmread(path).PixelSpacing)
    prob = np.full((1, 1, 80, 80), 0.9, dtype=np.float32)  # everything is foreground
    model = constant_model(tmp_path / "all.onnx", {"maps": prob})
    engine = Engine(model, profile=profile_from_dict({**STRETCH, "labels": ["organ"]}))
    batch = list(run_batches(engine, [path], workers=0))[0]
    assert batch.ok.all(), batch.errors
    np.testing.assert_allclose(batch.answer["pixel_spacing"][0], [row, col])
    area = batch.record(0)["areas"]["organ"]
    assert area["pixels"] == 128 * 128 and area["mm2"] == pytest.approx(128 * 128 * row * col, rel=1e-6)
    cols = dict(batch.answer_columns())
    assert cols["area_mm2[organ]"].tolist() == [pytest.approx(128 * 128 * row * col, rel=1e-6)]
    assert batch.result(0).masks.pixel_spacing == (row, col)


def test_store_round_trip_keeps_masks_and_areas(tmp_path, photo):
    engine = Engine(_yolo(tmp_path), profile=profile_from_dict(FIT))
    other = tmp_path / "other.png"
    Image.new("RGB", (640, 480)).save(other)
    batches = list(run_batches(engine, [photo, other], workers=0))
    batch = ResultBatch.concat(batches)
    store = ResultStore(tmp_path / "results.sqlite3")
    try:
        rec = store.start_run(engine, [str(photo), str(other)])
        for b in batches:
            rec.add_batch(b)
        rec.commit()
        rec.finish()
        back = ResultBatch.concat(list(store.batches(rec.run_id)))
    finally:
        store.close()
    assert [back.record(i) for i in range(2)] == [batch.record(i) for i in range(2)]
    assert back.record(1)["detections"][0]["mask"]["size"] == [480, 640]
    for name in ("det_mask_len", "det_mask_area", "rle_offsets", "rle_bytes", "pixel_spacing"):
        np.testing.assert_array_equal(back.answer[name], batch.answer[name])
    taken = batch.take(np.array([1, 0]))
    assert taken.record(1) == batch.record(0) and taken.record(0) == batch.record(1)
    np.testing.assert_array_equal(taken.result(1).label_map()[0], batch.result(0).label_map()[0])


def test_semantic_store_round_trip(tmp_path, photo):
    batch = _score(_label_model(tmp_path), {**STRETCH, "labels": ["road", "car", "sky"]}, photo)
    back = ResultBatch.from_bytes(batch.to_bytes())
    assert back.record(0) == batch.record(0) and back.content_digest() == batch.content_digest()
    np.testing.assert_array_equal(back.result(0).label_map()[0], batch.result(0).label_map()[0])


def test_cli_score_prints_areas_and_masks(tmp_path, photo, capsys):
    model = _yolo(tmp_path)  # Ultralytics metadata: a letterboxed segmentation profile by default
    assert main(["score", str(model), str(photo), "-q"]) == 0
    rec = json.loads(capsys.readouterr().out.strip().splitlines()[0])
    assert rec["areas"]["person"] == {"pixels": PERSON_AREA}
    mask = rec["detections"][0]["mask"]
    assert mask["size"] == [563, 1000] and isinstance(mask["counts"], str)
    np.testing.assert_array_equal(decode_rle(mask["counts"].encode(), 563, 1000),
                                  expected_instance(A[0], 70, 180))
    assert main(["score", str(model), str(photo), "-q", "--format", "csv"]) == 0
    rows = list(csv.DictReader(io.StringIO(capsys.readouterr().out)))
    assert rows[0]["detections"] == "2" and rows[0]["area[person]"] == str(PERSON_AREA)
