"""ResultBatch: row views equal the per-item records, serialising, concatenating and digests are exact."""

from __future__ import annotations

import json
import pickle
import shutil

import numpy as np
import pytest

from desktop.engine import Engine, ResultBatch, run_batch, run_batches
from desktop.engine import decoders
from desktop.engine.resultbatch import NO_ROW
from desktop.engine.results import result_from_record
from tests.conftest import MODELS, SAMPLES

FIXTURE = __import__("pathlib").Path(__file__).parent.parent / "data" / "store_v1"


@pytest.fixture(scope="module")
def digit_batches(tmp_path_factory):
    folder = tmp_path_factory.mktemp("digits")
    for p in sorted((SAMPLES / "digits").glob("*.png"))[:6]:
        shutil.copy(p, folder / p.name)
    (folder / "zz_broken.png").write_bytes(b"\x89PNG\r\n\x1a\n not really")
    return list(run_batches(Engine(MODELS / "digits.onnx"), [folder]))


@pytest.fixture(scope="module")
def table_batches(tmp_path_factory):
    path = tmp_path_factory.mktemp("csv") / "rows.csv"
    lines = (SAMPLES / "breast_cancer.csv").read_text().splitlines()[:12]
    cells = lines[4].split(",")
    lines[4] = ",".join(cells[:1] + ["n/a"] + cells[2:])  # row 4 fails on 'mean perimeter'
    path.write_text("\n".join(lines) + "\n")
    return list(run_batches(Engine(MODELS / "breast_cancer.onnx"), [path], chunk_rows=4))


def test_every_item_is_in_exactly_one_batch_in_order(digit_batches, table_batches):
    for batches in (digit_batches, table_batches):
        positions = np.concatenate([b.position for b in batches])
        assert positions.tolist() == list(range(len(positions)))
    assert sum(len(b) for b in table_batches) == 11 and len(table_batches) == 3  # chunks of 4 rows


def test_row_views_are_the_records_run_batch_gives(digit_batches, table_batches, tmp_path):
    for batches in (digit_batches, table_batches):
        for b in batches:
            for i in range(len(b)):
                assert b.result(i).to_json() == b.record(i)
    # and the same as the per-item iterator
    engine = Engine(MODELS / "digits.onnx")
    folder = sorted({b.sources[0] for b in digit_batches[:1]})[0].rsplit("/", 1)[0]
    per_item = [r.to_json() for r in run_batch(engine, [folder])]
    by_batch = [b.record(i) for b in digit_batches for i in range(len(b))]
    assert [(r["input"], r["ok"], r["top"][:1]) for r in per_item] == \
        [(r["input"], r["ok"], r["top"][:1]) for r in by_batch]


def test_failed_items_keep_their_message_and_no_answer(digit_batches, table_batches):
    broken = [b for b in digit_batches if not b.ok.all()]
    assert len(broken) == 1 and len(broken[0]) == 1
    rec = broken[0].record(0)
    assert rec["ok"] is False and rec["error"].startswith("zz_broken.png:") and rec["top"] == [] \
        and rec["outputs"] == {}
    assert broken[0].summary(0) == ("failed", None)
    rows = ResultBatch.concat(table_batches)
    failed = np.flatnonzero(~rows.ok).tolist()
    assert [rows.row_of(i) for i in failed] == [4]
    assert "row 4" in rows.errors[failed[0]] and "'n/a'" in rows.errors[failed[0]]
    assert rows.record(failed[0])["outputs"] == {}


def test_bytes_and_pickle_round_trip_exactly(digit_batches, table_batches):
    for b in [ResultBatch.concat(digit_batches), ResultBatch.concat(table_batches)]:
        for copy in (ResultBatch.from_bytes(b.to_bytes()), pickle.loads(pickle.dumps(b))):
            assert [copy.record(i) for i in range(len(copy))] == [b.record(i) for i in range(len(b))]
            assert (copy.item_digests() == b.item_digests()).all()
            assert copy.content_digest() == b.content_digest()


def test_concat_fills_what_failed_items_lack_and_take_selects(digit_batches):
    whole = ResultBatch.concat(digit_batches)
    assert len(whole) == 7 and whole.n_ok == 6 and whole.n_failed == 1
    assert set(whole.outputs) == {"logits"} and whole.outputs["logits"].shape == (7, 10)
    picked = whole.take(np.array([5, 0]))
    assert [picked.record(i) for i in range(2)] == [whole.record(5), whole.record(0)]
    assert picked.take(np.array([True, False])).record(0) == whole.record(5)


def test_digests_name_the_item_that_changed(table_batches):
    b = ResultBatch.concat(table_batches).without_features()
    before, content = b.item_digests(), b.content_digest()
    edited = ResultBatch.from_bytes(b.to_bytes())
    edited.answer["top_score"][7, 0] += 1e-9
    changed = np.flatnonzero(edited.item_digests() != before).tolist()
    assert changed == [7] and edited.content_digest() != content
    renamed = ResultBatch.from_bytes(b.to_bytes())
    renamed.errors[3] = renamed.errors[3] + " "
    assert np.flatnonzero(renamed.item_digests() != before).tolist() == [3]
    moved = ResultBatch.from_bytes(b.to_bytes())
    moved.row[5] += 1
    assert np.flatnonzero(moved.item_digests() != before).tolist() == [5]


def test_v1_records_round_trip_through_a_batch():
    for path in sorted(FIXTURE.glob("*.jsonl")):
        records = [json.loads(line) for line in path.read_text().splitlines()]
        task = "classification" if any(r["top"] for r in records) else "regression"
        b = ResultBatch.from_results([result_from_record(r, i) for i, r in enumerate(records)], task)
        for r in records:
            r.pop("input_sha256", None)
        assert [b.record(i) for i in range(len(b))] == records


def test_pass_through_columns_travel_with_rows():
    rows = ResultBatch(task="raw", position=[0, 1], source=[0, 0], row=[1, 2], ok=[True, False],
                       timings=np.zeros((2, 4)), sources=["t.csv"], source_kinds=["table"],
                       errors={1: "t.csv: row 2: bad"}, passthrough={"patient_id": ["007", "008"]})
    assert rows.record(0)["passthrough"] == {"patient_id": "007"}
    assert rows.result(1).passthrough == {"patient_id": "008"}
    back = result_from_record(rows.record(1))
    assert back.passthrough == {"patient_id": "008"}
    assert rows.row_of(0) == 1 and NO_ROW == -1


def test_a_new_task_is_one_decoder_module(monkeypatch, digit_batches):
    """Registering a decoder is all a new task needs: batches of that task use it for records and summaries."""
    monkeypatch.setattr(decoders, "_DECODERS", dict(decoders._DECODERS))

    @decoders.register
    class Brightest:
        task = "brightest-logit"

        def decode(self, block, n):
            return {"winner": block.tensors["logits"].reshape(n, -1).argmax(axis=1)}

        def record(self, answer, meta, i):
            return {"top": [], "winner": int(answer["winner"][i])}

        def columns(self, answer, meta, n):
            return [("winner", answer["winner"])]

        def summary(self, answer, meta, i):
            return f"logit {int(answer['winner'][i])}", None

    engine = Engine(MODELS / "digits.onnx")
    engine.profile = engine.profile.__class__(**{**engine.profile.__dict__, "task": "brightest-logit"})
    first = next(run_batches(engine, [sorted((SAMPLES / "digits").glob("*.png"))[3]]))
    assert first.record(0)["winner"] == 3 and first.summary(0) == ("logit 3", None)
    assert first.answer_columns()[0][0] == "winner"
    assert decoders.decoder_for("no-such-task").task == "raw"


def test_digests_in_one_pass_equal_the_separate_ones(table_batches):
    b = ResultBatch.concat(table_batches).without_features()
    items, content = b.digests()
    assert (items == b.item_digests()).all() and content == b.content_digest()
    assert b.features is None and ResultBatch.concat(table_batches).features is not None  # a copy, not an edit


def test_concat_merges_class_columns_that_differ():
    """Batches rebuilt from records know only the classes they saw; concatenated, each top label keeps its name."""
    from desktop.engine.results import Prediction, Result

    def result(i, label, index):
        return Result(i, f"{i}.png", None, True, top=(Prediction(label, index, 0.9),))

    a = ResultBatch.from_results([result(0, "cat", 3)], "classification")
    b = ResultBatch.from_results([result(1, "dog", 1), result(2, "cat", 3)], "classification")
    whole = ResultBatch.concat([a, b])
    assert [whole.record(i)["top"][0]["label"] for i in range(3)] == ["cat", "dog", "cat"]
    assert [whole.record(i)["top"][0]["index"] for i in range(3)] == [3, 1, 3]
