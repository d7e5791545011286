"""run_batch: results equal plain onnxruntime, in order, with per-item errors, progress and cancellation."""

from __future__ import annotations

import json

import numpy as np
import onnxruntime as ort
import pytest
from PIL import Image

from desktop.engine import Engine, expand_inputs, run_batch
from desktop.engine.inputs.images import decode_image
from desktop.engine.inputs.tabular import read_table
from desktop.engine.decoders.classification import looks_like_probabilities, softmax
from desktop.engine.preprocess import preprocess_image
from tests.conftest import MODELS, SAMPLES, image_logits_model, table_model


class SpySession:
    """Wraps a real session and records the batch size of every run."""

    def __init__(self, real):
        self.real = real
        self.batches = []

    def run(self, names, feeds):
        self.batches.append(len(next(iter(feeds.values()))))
        return self.real.run(names, feeds)

    def get_providers(self):
        return self.real.get_providers()


def test_digit_samples_are_recognised():
    engine = Engine(MODELS / "digits.onnx")
    results = list(run_batch(engine, [SAMPLES / "digits"]))
    assert len(results) == 10 and all(r.ok for r in results)
    for r in results:
        true_label = r.input.split("digit_")[1][0]
        assert r.top_label == true_label, r.input
        assert 0.0 <= r.top_score <= 1.0
        assert sum(p.score for p in r.top) <= 1.0 + 1e-9


def test_outputs_equal_plain_onnxruntime_on_the_same_tensors():
    engine = Engine(MODELS / "digits.onnx")
    plain = ort.InferenceSession(str(MODELS / "digits.onnx"), providers=["CPUExecutionProvider"])
    files = sorted((SAMPLES / "digits").glob("*.png"))
    results = list(run_batch(engine, files, batch_size=1))
    for f, r in zip(files, results):
        tensor = preprocess_image(decode_image(f), engine.profile.image)
        expected = plain.run(None, {"image": tensor[None]})[0][0]
        np.testing.assert_array_equal(r.outputs["logits"], expected)
        np.testing.assert_allclose([p.score for p in r.top], np.sort(softmax(expected))[::-1][:5], rtol=1e-12)


def test_table_outputs_equal_plain_onnxruntime():
    engine = Engine(MODELS / "breast_cancer.onnx")
    plain = ort.InferenceSession(str(MODELS / "breast_cancer.onnx"), providers=["CPUExecutionProvider"])
    rows, values, errors = read_table(SAMPLES / "breast_cancer.csv", engine.profile.table.columns)
    assert not any(errors)
    label, probs = plain.run(None, {"features": values.astype(np.float32)})
    results = list(run_batch(engine, [SAMPLES / "breast_cancer.csv"]))
    assert [r.row for r in results] == rows
    for r, lab, prob in zip(results, label, probs):
        assert r.outputs["output_label"] == lab
        assert r.outputs["output_probability"] == {engine.profile.labels[k]: pytest.approx(v) for k, v in prob.items()}
        assert r.top[0].label == engine.profile.labels[int(lab)]  # ZipMap probabilities, no softmax applied
        assert r.top[0].score == pytest.approx(max(prob.values()))


def test_the_csv_diagnosis_column_agrees_with_the_model():
    engine = Engine(MODELS / "breast_cancer.onnx")
    import csv

    with open(SAMPLES / "breast_cancer.csv", newline="") as fh:
        truth = [row["diagnosis"] for row in csv.DictReader(fh)]
    results = list(run_batch(engine, [SAMPLES / "breast_cancer.csv"]))
    agree = sum(r.top_label == t for r, t in zip(results, truth))
    assert agree >= 0.9 * len(truth)


def test_regression_values():
    engine = Engine(MODELS / "diabetes.onnx")
    results = list(run_batch(engine, [SAMPLES / "diabetes.csv"]))
    assert len(results) == 15 and all(r.ok for r in results)
    assert all(len(r.values) == 1 and 25 <= r.values[0] <= 350 for r in results)
    assert results[0].top == ()


def test_csv_rows_are_scored_in_vectorised_chunks(tmp_path):
    model = table_model(tmp_path / "sum.onnx", n_features=3)
    csv_path = tmp_path / "rows.csv"
    lines = ["a,b,c"] + [f"{i},{i},{i}" for i in range(1000)]
    csv_path.write_text("\n".join(lines) + "\n")
    engine = Engine(model, profile=None)
    spy = SpySession(engine.session)
    engine.session = spy
    results = list(run_batch(engine, [csv_path], chunk_rows=400))
    assert [r.values[0] for r in results] == [3.0 * i for i in range(1000)]
    assert spy.batches == [400, 400, 200]


def test_bad_rows_stay_on_their_row(tmp_path):
    model = table_model(tmp_path / "sum.onnx", n_features=2)
    csv_path = tmp_path / "rows.csv"
    csv_path.write_text("b,a,extra\r\n1,2,x\r\n,4,y\r\nfive,6,z\r\n7,8,w\r\n", encoding="utf-8-sig")
    prof = tmp_path / "p.json"
    prof.write_text(json.dumps({"task": "regression", "table": {"columns": ["a", "b"]}}))
    engine = Engine(model, profile=prof)
    results = list(run_batch(engine, [csv_path]))
    assert [r.ok for r in results] == [True, False, False, True]
    assert results[0].values == (3.0,) and results[3].values == (15.0,)
    assert "row 2" in results[1].error and "'b' is empty" in results[1].error
    assert "row 3" in results[2].error and "'b' is not a number: 'five'" in results[2].error
    assert results[0].features == {"a": 2.0, "b": 1.0}
    assert results[2].features == {"a": "6", "b": "five"}


def test_missing_columns_refuse_the_file_by_name(tmp_path):
    engine = Engine(MODELS / "breast_cancer.onnx")
    csv_path = tmp_path / "partial.csv"
    csv_path.write_text("mean radius,mean texture\n1,2\n")
    results = list(run_batch(engine, [csv_path]))
    assert len(results) == 1 and not results[0].ok
    assert "missing columns 'mean perimeter', 'mean area'" in results[0].error


def test_folder_with_corrupt_empty_and_valid_images(tmp_path):
    folder = tmp_path / "scans"
    folder.mkdir()
    good = (SAMPLES / "digits" / "digit_3_705.png").read_bytes()
    (folder / "a_valid.png").write_bytes(good)
    (folder / "b_corrupt.png").write_bytes(good[: len(good) // 3])
    (folder / "c_empty.png").write_bytes(b"")
    engine = Engine(MODELS / "digits.onnx")
    results = list(run_batch(engine, [folder]))
    assert [r.ok for r in results] == [True, False, False]
    assert results[0].top_label == "3"
    assert results[1].error.startswith("b_corrupt.png: ") and "truncated" in results[1].error
    assert results[2].error == "c_empty.png: the file is empty (0 bytes)"


def test_images_given_to_a_table_model_and_vice_versa():
    table = Engine(MODELS / "breast_cancer.onnx")
    r = next(run_batch(table, [SAMPLES / "digits" / "digit_0_386.png"]))
    assert not r.ok and "takes a table, not an image" in r.error
    image = Engine(MODELS / "digits.onnx")
    r = next(run_batch(image, [SAMPLES / "diabetes.csv"]))
    assert not r.ok and "takes images, not a table" in r.error


def test_order_is_kept_with_a_decode_pool(tmp_path):
    engine = Engine(MODELS / "digits.onnx")
    files = sorted((SAMPLES / "digits").glob("*.png")) * 5
    one = [r.outputs["logits"] for r in run_batch(engine, files, workers=0, batch_size=1)]
    four = [r.outputs["logits"] for r in run_batch(engine, files, workers=4, batch_size=1)]
    assert len(one) == len(four) == 50
    for a, b in zip(one, four):
        np.testing.assert_array_equal(a, b)


def test_images_are_stacked_into_batches_when_the_batch_axis_is_free():
    engine = Engine(MODELS / "digits.onnx")
    spy = SpySession(engine.session)
    engine.session = spy
    files = sorted((SAMPLES / "digits").glob("*.png")) * 3
    batched = list(run_batch(engine, files, batch_size=8))
    assert spy.batches == [8, 8, 8, 6]
    plain = ort.InferenceSession(str(MODELS / "digits.onnx"), providers=["CPUExecutionProvider"])
    for f, r in zip(files, batched):
        tensor = preprocess_image(decode_image(f), engine.profile.image)
        np.testing.assert_allclose(r.outputs["logits"], plain.run(None, {"image": tensor[None]})[0][0],
                                   rtol=1e-5, atol=1e-5)
    spy.batches.clear()
    auto = list(run_batch(engine, files, workers=0))  # batch size chosen from measured inference time
    assert len(auto) == 30 and max(spy.batches) > 1 and sum(spy.batches) == 30
    assert [r.top_label for r in auto] == [r.top_label for r in batched]


def test_a_fixed_batch_of_one_is_never_stacked(tmp_path):
    model = image_logits_model(tmp_path / "one.onnx", batch=1)
    engine = Engine(model)
    assert not engine.batchable
    spy = SpySession(engine.session)
    engine.session = spy
    img = tmp_path / "i.png"
    Image.new("RGB", (8, 8), (1, 2, 3)).save(img)
    assert all(r.ok for r in run_batch(engine, [img] * 5, batch_size=4))
    assert spy.batches == [1] * 5


def test_a_failing_batch_is_retried_item_by_item(tmp_path):
    engine = Engine(MODELS / "digits.onnx")

    class Picky(SpySession):
        def run(self, names, feeds):
            x = next(iter(feeds.values()))
            if len(x) > 1:
                raise RuntimeError("batch refused")
            if float(x.mean()) > 0.99:
                raise RuntimeError("[ONNXRuntimeError] : 6 : RUNTIME_EXCEPTION : blank image")
            return self.real.run(names, feeds)

    engine.session = Picky(engine.session)
    blank = tmp_path / "blank.png"
    Image.new("L", (64, 64), 255).save(blank)
    files = [SAMPLES / "digits" / "digit_1_442.png", blank, SAMPLES / "digits" / "digit_2_1466.png"]
    results = list(run_batch(engine, files, batch_size=3))
    assert [r.ok for r in results] == [True, False, True]
    assert results[1].error == "blank.png: inference failed: blank image"


def test_mixed_inputs_keep_input_order():
    engine = Engine(MODELS / "digits.onnx")
    inputs = [SAMPLES / "digits" / "digit_1_442.png", SAMPLES / "missing.png", SAMPLES / "README.md",
              SAMPLES / "digits" / "digit_2_1466.png"]
    results = list(run_batch(engine, inputs))
    assert [r.ok for r in results] == [True, False, False, True]
    assert "File not found" in results[1].error and "not a supported input" in results[2].error
    assert [r.index for r in results] == [0, 1, 2, 3]


def test_progress_and_cancellation():
    engine = Engine(MODELS / "digits.onnx")
    files = sorted((SAMPLES / "digits").glob("*.png")) * 3
    for batch_size in (1, None):  # one item a call, then batches as large as the decoding allows
        seen = []
        stop = {"now": False}

        def progress(done, total):
            seen.append((done, total))
            if done >= 7:
                stop["now"] = True

        results = list(run_batch(engine, files, progress=progress, should_stop=lambda: stop["now"],
                                 batch_size=batch_size))
        # progress comes per batch; every item of the batch that reached 7 is delivered, nothing after it
        assert seen[0] == (0, 30) and seen[-1][0] >= 7 and seen[-1][1] == 30
        assert len(results) == seen[-1][0]
        assert [r.index for r in results] == list(range(len(results)))
        if batch_size == 1:
            assert len(results) == 7


def test_cancellation_inside_a_csv(tmp_path):
    model = table_model(tmp_path / "sum.onnx", n_features=1)
    csv_path = tmp_path / "rows.csv"
    csv_path.write_text("x\n" + "\n".join(str(i) for i in range(100)) + "\n")
    engine = Engine(model)
    count = {"n": 0}

    def should_stop():
        return count["n"] >= 10

    out = []
    for r in run_batch(engine, [csv_path], should_stop=should_stop):
        out.append(r)
        count["n"] += 1
    assert len(out) == 10


def test_save_inputs_writes_what_the_model_saw(tmp_path):
    engine = Engine(MODELS / "digits.onnx")
    files = sorted((SAMPLES / "digits").glob("*.png"))[:2]
    results = list(run_batch(engine, files, save_inputs=str(tmp_path / "seen")))
    for f, r in zip(files, results):
        saved = np.load(r.saved_input)
        assert saved.shape == (1, 1, 16, 16) and saved.dtype == np.float32
        expected = preprocess_image(decode_image(f), engine.profile.image)[None]
        np.testing.assert_array_equal(saved, expected)
        assert r.to_json()["saved_input"] == r.saved_input
    rows = list(run_batch(Engine(MODELS / "diabetes.onnx"), [SAMPLES / "diabetes.csv"],
                          save_inputs=str(tmp_path / "rows")))
    assert np.load(rows[0].saved_input).shape == (1, 10)


def test_fake_session_is_accepted(tmp_path):
    model = image_logits_model(tmp_path / "m.onnx", metadata={"labels": "a\nb\nc"})

    class Fake:
        def run(self, names, feeds):
            n = feeds["x"].shape[0]
            return [np.tile(np.array([[0.2, 0.5, 0.3]], dtype=np.float32), (n, 1))]

        def get_providers(self):
            return ["FakeProvider"]

    engine = Engine(model, session=Fake())
    assert engine.provider == "FakeProvider"
    img = tmp_path / "i.png"
    Image.new("RGB", (4, 4), (10, 20, 30)).save(img)
    r = next(run_batch(engine, [img]))
    # already probabilities: kept as they are, not softmaxed again
    assert [(p.label, p.score) for p in r.top] == [("b", pytest.approx(0.5)), ("c", pytest.approx(0.3)),
                                                   ("a", pytest.approx(0.2))]


def test_logits_get_softmax_and_probabilities_do_not(tmp_path):
    img = tmp_path / "i.png"
    Image.new("RGB", (4, 4), (250, 120, 40)).save(img)
    logits = Engine(image_logits_model(tmp_path / "l.onnx", metadata={"labels": "r\ng\nb"}))
    r = next(run_batch(logits, [img]))
    raw = r.outputs["scores"]
    assert not looks_like_probabilities(raw)
    assert r.top[0].label == "r" and r.top[0].score == pytest.approx(softmax(raw).max())
    probs = Engine(image_logits_model(tmp_path / "p.onnx", softmax=True, metadata={"labels": "r\ng\nb"}))
    r = next(run_batch(probs, [img]))
    assert r.top[0].score == pytest.approx(float(r.outputs["scores"].max()))


def test_timings_are_filled():
    engine = Engine(MODELS / "digits.onnx")
    r = next(run_batch(engine, [SAMPLES / "digits" / "digit_5_1319.png"]))
    t = r.timings
    assert t.decode > 0 and t.preprocess > 0 and t.infer > 0 and t.postprocess >= 0
    assert set(r.to_json()["timings_ms"]) == {"decode", "preprocess", "infer", "postprocess"}


def test_dicom_sample_scores(tmp_path):
    engine = Engine(MODELS / "digits.onnx")
    r = next(run_batch(engine, [SAMPLES / "dicom" / "ct_small.dcm"]))
    assert r.ok and r.kind == "dicom"


def test_expand_inputs_counts_rows():
    items = expand_inputs([SAMPLES / "breast_cancer.csv", SAMPLES / "digits"])
    assert items[0].kind == "table" and items[0].rows == 20
    assert [i.kind for i in items[1:]] == ["image"] * 10


def test_input_hashes_when_asked(tmp_path):
    from desktop.engine.model import sha256_file

    engine = Engine(MODELS / "digits.onnx")
    bad = tmp_path / "bad.png"
    bad.write_bytes(b"not an image at all")
    files = [SAMPLES / "digits" / "digit_8_500.png", bad]
    results = list(run_batch(engine, files, hash_inputs=True))
    assert [r.input_sha256 for r in results] == [sha256_file(f) for f in files]
    assert all(r.input_sha256 is None for r in run_batch(engine, files))
    rows = list(run_batch(Engine(MODELS / "diabetes.onnx"), [SAMPLES / "diabetes.csv"], hash_inputs=True))
    assert {r.input_sha256 for r in rows} == {sha256_file(SAMPLES / "diabetes.csv")}


def test_zipmap_is_read_from_the_tensor_in_front_of_it():
    engine = Engine(MODELS / "breast_cancer.onnx")
    assert engine._zipmaps == {"output_probability": ("probabilities", [0, 1])}
    spy = SpySession(engine.session)
    names = []
    real_run = spy.run

    def run(output_names, feeds):
        names.append(output_names)
        return real_run(output_names, feeds)

    spy.run = run
    engine.session = spy
    results = list(run_batch(engine, [SAMPLES / "breast_cancer.csv"]))
    # onnxruntime skips building 20 dicts; the first row is also scored alone, once per engine,
    # since skl2onnx declares no batch axis to prove the 20 rows' outputs split per row
    assert names == [["output_label", "probabilities"]] * 2 and spy.batches == [1, 20]
    assert engine.splits_batches is True
    list(run_batch(engine, [SAMPLES / "breast_cancer.csv"]))
    assert spy.batches == [1, 20, 20]
    plain = ort.InferenceSession(str(MODELS / "breast_cancer.onnx"), providers=["CPUExecutionProvider"])
    _, values, _ = read_table(SAMPLES / "breast_cancer.csv", engine.profile.table.columns)
    _, maps = plain.run(None, {"features": values.astype(np.float32)})
    for r, m in zip(results, maps):
        assert r.outputs["output_probability"] == {engine.profile.labels[k]: v for k, v in m.items()}


class SlowSpy(SpySession):
    """A session that takes a few milliseconds a call and records which thread made each call."""

    def __init__(self, real, provider="CPUExecutionProvider"):
        super().__init__(real)
        self.threads = []
        self.provider = provider

    def run(self, names, feeds):
        import threading
        import time

        self.threads.append(threading.current_thread().name)
        time.sleep(0.003)
        x = next(iter(feeds.values()))
        if float(x.mean()) > 0.99:
            raise RuntimeError("[ONNXRuntimeError] : 6 : RUNTIME_EXCEPTION : blank image")
        return super().run(names, feeds)


def test_a_slow_model_is_scored_by_the_decode_workers_with_the_same_results(tmp_path):
    """Over a millisecond per item, the decode threads also run inference, several items at once."""
    engine = Engine(MODELS / "digits.onnx")
    files = sorted((SAMPLES / "digits").glob("*.png")) * 2
    blank = tmp_path / "blank.png"
    Image.new("L", (64, 64), 255).save(blank)
    files.insert(13, blank)
    reference = list(run_batch(engine, files, workers=0))
    spy = SlowSpy(engine.session)
    engine.session = spy
    results = list(run_batch(engine, files, workers=2, save_inputs=str(tmp_path / "seen")))
    assert [r.index for r in results] == list(range(21)) and [r.input for r in results] == [str(f) for f in files]
    in_pool = [name.startswith("inferdesk-decode") for name in spy.threads]
    assert not in_pool[0] and sum(in_pool) >= 15  # the first call measures, then the workers take over
    assert set(spy.batches) == {1}
    assert [r.ok for r in results] == [i != 13 for i in range(21)]  # the spy refuses the blank image
    assert results[13].error == "blank.png: inference failed: blank image"
    for got, want in zip(results, reference):
        if got.ok:
            np.testing.assert_array_equal(got.outputs["logits"], want.outputs["logits"])
            assert got.top == want.top and got.timings.infer >= 3.0
            np.testing.assert_array_equal(np.load(got.saved_input),
                                          preprocess_image(decode_image(got.input), engine.profile.image)[None])


def test_workers_never_run_inference_for_fast_models_one_worker_or_other_providers(tmp_path):
    files = sorted((SAMPLES / "digits").glob("*.png")) * 2
    fast = Engine(MODELS / "digits.onnx")
    spy = SpySession(fast.session)
    fast.session = spy
    import threading

    calls = []
    original = spy.run
    spy.run = lambda names, feeds: (calls.append(threading.current_thread().name), original(names, feeds))[1]
    assert all(r.ok for r in run_batch(fast, files, workers=2))
    assert calls and not any(c.startswith("inferdesk-decode") for c in calls)
    for workers, provider in ((1, "CPUExecutionProvider"), (2, "DmlExecutionProvider")):
        engine = Engine(MODELS / "digits.onnx")
        engine.provider = provider  # DirectML forbids concurrent runs on one session
        slow = SlowSpy(engine.session)
        engine.session = slow
        assert sum(r.ok for r in run_batch(engine, files, workers=workers)) == 20
        assert not any(name.startswith("inferdesk-decode") for name in slow.threads)
    engine = Engine(MODELS / "digits.onnx")
    slow = SlowSpy(engine.session)
    engine.session = slow
    assert sum(r.ok for r in run_batch(engine, files, workers=2, batch_size=4)) == 20  # stacked: never in the pool
    assert not any(name.startswith("inferdesk-decode") for name in slow.threads)


def test_cancelling_while_the_workers_score_stops_within_the_items_in_flight():
    engine = Engine(MODELS / "digits.onnx")
    slow = SlowSpy(engine.session)
    engine.session = slow
    files = sorted((SAMPLES / "digits").glob("*.png")) * 10
    out = []
    for r in run_batch(engine, files, workers=2, should_stop=lambda: len(out) >= 12):
        out.append(r)
    assert len(out) == 12
    assert len(slow.threads) <= 12 + 4  # at most the bounded window more was scored, then it stopped


def test_batch_size_follows_inference_time_and_tensor_size():
    from desktop.engine.batch import BATCH_TARGET_MS, MAX_BATCH, MAX_BATCH_BYTES, _next_batch

    assert _next_batch(0.001, 1024) == MAX_BATCH  # a tiny model on tiny tensors: as many as allowed
    assert _next_batch(0.5, 1024) == int(BATCH_TARGET_MS / 0.5)  # calls of about BATCH_TARGET_MS
    photo = 3 * 224 * 224 * 4
    assert _next_batch(0.001, photo) == MAX_BATCH_BYTES // photo  # the decode window stays small
    assert _next_batch(0.001, 10 * MAX_BATCH_BYTES) == 1
    assert _next_batch(1.0, 1024) == 1 and _next_batch(25.0, 1024) == 1  # slow models: one item per call


def test_results_survive_a_trip_between_processes():
    import pickle

    engine = Engine(MODELS / "digits.onnx")
    r = next(run_batch(engine, [SAMPLES / "digits" / "digit_5_1319.png"]))
    back = pickle.loads(pickle.dumps(r))
    assert back.top == r.top and back.timings == r.timings and back.input == r.input
    np.testing.assert_array_equal(back.outputs["logits"], r.outputs["logits"])


def test_an_automatic_batch_does_not_wait_for_slow_decoding(tmp_path):
    """Each image here can only be decoded once the one before it was delivered: a batcher that
    waited to fill its batch would stall; results must stream out one by one instead."""
    import shutil
    import threading

    engine = Engine(MODELS / "digits.onnx")
    files = []
    for i in range(12):
        files.append(tmp_path / f"d_{i:02d}.png")
        shutil.copyfile(SAMPLES / "digits" / "digit_5_1319.png", files[-1])
    delivered = [threading.Event() for _ in files]
    stalls = []
    decode = engine.load_image

    def load_image(path, kind="image"):
        i = int(path[-6:-4])
        if i and not delivered[i - 1].wait(5):
            stalls.append(i)
        return decode(path, kind)

    engine.load_image = load_image
    for r in run_batch(engine, files, workers=2):
        assert r.ok
        delivered[r.index].set()
    assert stalls == []
    assert all(e.is_set() for e in delivered)


def test_row_values_are_a_light_view_that_travels_alone(tmp_path):
    import pickle

    model = table_model(tmp_path / "sum.onnx", n_features=2)
    csv_path = tmp_path / "rows.csv"
    csv_path.write_text("a,b\n" + "\n".join(f"{i},{i / 4}" for i in range(2000)) + "\n")
    results = list(run_batch(Engine(model), [csv_path]))
    row = results[1234].features
    assert row == {"a": 1234.0, "b": 308.5} and dict(row) == {"a": 1234.0, "b": 308.5}
    assert list(row) == ["a", "b"] and len(row) == 2 and row["b"] == 308.5 and isinstance(row["a"], float)
    assert row.items() == [("a", 1234.0), ("b", 308.5)] and "308.5" in repr(row)
    with pytest.raises(KeyError):
        row["c"]
    sent = pickle.dumps(results[1234])
    assert len(sent) < 2000  # the row alone, not the 2,000-row chunk it is a view of
    assert pickle.loads(sent).features == row
