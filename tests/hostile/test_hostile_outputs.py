"""Hostile model outputs: each item's record holds its own outputs only, NaN and infinities fail
their item, tensor sequences are kept, ZipMaps still read.

The models and their inputs are ``outputs/...`` in the corpus (build_corpus.build_output_models).
"""

from __future__ import annotations

import json

import numpy as np
import pytest

from desktop.cli import main
from desktop.engine import Engine, run_batch, run_batches
from tests.hostile.build_corpus import LOG_ROWS, OUTPUT_ROWS


class CountingSession:
    """A real session that records the number of items (the batch axis) of every call."""

    def __init__(self, real):
        self.real, self.calls = real, []

    def run(self, names, feeds):
        self.calls.append(len(next(iter(feeds.values()))))
        return self.real.run(names, feeds)

    def get_providers(self):
        return self.real.get_providers()


def _records(engine, inputs, **options) -> list[dict]:
    """Every item's jsonl record, without what differs from one run to the next (timings)."""
    out = []
    for batch in run_batches(engine, inputs, workers=0, **options):
        for i in range(len(batch)):
            record = batch.record(i)
            record.pop("timings_ms")
            out.append(record)
    return out


def _alone(engine, record: dict, tmp_path) -> dict:
    """The record of the same item scored alone: an image by itself, a CSV row as a one-row CSV."""
    if record["row"] is None:
        [alone] = _records(engine, [record["input"]])
        return alone
    lines = open(record["input"], encoding="utf-8").read().splitlines()
    one = tmp_path / f"row{record['row']}.csv"
    one.write_text(lines[0] + "\n" + lines[record["row"]] + "\n", encoding="utf-8")
    [alone] = _records(engine, [one])
    return {**alone, "input": record["input"], "row": record["row"]}


# =========================================================================== the batch axis

@pytest.mark.parametrize("name", ["transposed", "unsqueezed"])
def test_a_csv_row_holds_its_own_outputs_when_the_batch_is_not_on_the_first_axis(corpus, name, tmp_path):
    engine = Engine(corpus[f"outputs/{name}.onnx"])
    records = _records(engine, [corpus["outputs/rows.csv"]])
    assert [r["row"] for r in records] == [1, 2, 3, 4, 5] and all(r["ok"] for r in records)
    for record, row in zip(records, OUTPUT_ROWS):
        # the row's own three values, and nobody else's
        assert np.ravel(record["outputs"]["y"]).tolist() == list(row), record
        assert record["values"] == list(row)
        assert record == _alone(engine, record, tmp_path)
    assert engine.splits_batches is False and not engine.batchable


@pytest.mark.parametrize("name", ["transposed_image", "unsqueezed_image"])
@pytest.mark.parametrize("batch_size", [None, 5])
def test_an_image_holds_its_own_outputs_when_the_batch_is_not_on_the_first_axis(corpus, name, batch_size,
                                                                                  tmp_path):
    engine = Engine(corpus[f"outputs/{name}.onnx"])
    records = _records(engine, [corpus["outputs/images"]], batch_size=batch_size)
    assert len(records) == 5 and all(r["ok"] for r in records)
    colours = [np.ravel(r["outputs"]["y"]) for r in records]
    assert all(c.shape == (3,) for c in colours)  # one mean colour each, not the batch's five
    assert len({tuple(c.tolist()) for c in colours}) == 5
    for record in records:
        assert record == _alone(engine, record, tmp_path)


def test_outputs_of_a_different_size_for_each_row_are_kept_per_row(tmp_path, capsys):
    from onnx import TensorProto, helper

    from tests.conftest import make_model

    # NonZero of a [1, 3] row gives [2, k], the coordinates of its k nonzero values; k differs per row
    model = make_model(tmp_path / "nonzero.onnx", [helper.make_node("NonZero", ["features"], ["where"])],
                       [("features", TensorProto.FLOAT, ["N", 3])], [("where", TensorProto.INT64, [2, "k"])])
    table = tmp_path / "rows.csv"
    table.write_text("a,b,c\n1,0,2\n0,0,3\n1,1,1\n")
    assert main(["score", str(model), str(table), "-q"]) == 0
    records = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [r["outputs"]["where"] for r in records] == [[[0, 0], [0, 2]], [[0], [2]], [[0, 0, 0], [0, 1, 2]]]
    from desktop.engine.store import ResultStore

    with ResultStore() as store:
        assert list(store.records(store.runs()[0].id)) == records


def test_the_batch_axis_is_checked_once_per_engine(corpus):
    engine = Engine(corpus["outputs/transposed.onnx"])
    assert engine.splits_batches is None  # declared [3, N]: not the input's batch axis first
    spy = engine.session = CountingSession(engine.session)
    list(run_batch(engine, [corpus["outputs/rows.csv"]]))
    assert spy.calls == [1, 5, 1, 1, 1, 1, 1]  # the first row alone and all five: they differ; then one a call
    spy.calls.clear()
    list(run_batch(engine, [corpus["outputs/rows.csv"]]))
    assert spy.calls == [1] * 5
    # a model whose rows do split: checked on its first stacked call, then believed
    zipmap = Engine(corpus["outputs/zipmap.onnx"])  # its label is declared [?]: no batch axis to match
    spy = zipmap.session = CountingSession(zipmap.session)
    for _ in range(2):
        list(run_batch(zipmap, [corpus["outputs/rows.csv"]]))
    assert spy.calls == [1, 5, 5] and zipmap.splits_batches is True


def test_a_declared_batch_axis_needs_no_check(corpus):
    engine = Engine(corpus["outputs/log.onnx"])  # features [N, 3] -> y [N, 3]
    assert engine.splits_batches is True
    spy = engine.session = CountingSession(engine.session)
    list(run_batch(engine, [corpus["outputs/rows.csv"]]))
    assert spy.calls == [5]


def test_a_zipmap_still_gives_one_map_per_row(corpus, tmp_path):
    engine = Engine(corpus["outputs/zipmap.onnx"])
    records = _records(engine, [corpus["outputs/rows.csv"]])
    assert all(r["ok"] for r in records)
    for record in records:
        probs = record["outputs"]["output_probability"]
        assert set(probs) == {"low", "middle", "high"} and sum(probs.values()) == pytest.approx(1, abs=1e-5)
        assert record["top"][0]["label"] == max(probs, key=probs.get)
        assert record == _alone(engine, record, tmp_path)


# =========================================================================== NaN and infinities

LOG_EXPECTED = {2: "log_rows.csv: row 2: the model returned infinite values for output 'y'",
                4: "log_rows.csv: row 4: the model returned NaN for output 'y'"}


def _check_log_records(records):
    assert [r["row"] for r in records] == [1, 2, 3, 4, 5]
    for record, features in zip(records, LOG_ROWS):
        if record["row"] in LOG_EXPECTED:
            assert not record["ok"] and record["error"] == LOG_EXPECTED[record["row"]]
            assert record["outputs"] == {} and "values" not in record
        else:
            assert record["ok"] and record["error"] is None
            assert record["values"] == pytest.approx(np.log(features).tolist())


def test_nan_and_infinite_outputs_fail_their_row_and_the_rest_score(corpus):
    engine = Engine(corpus["outputs/log.onnx"])
    batches = list(run_batches(engine, [corpus["outputs/log_rows.csv"]]))
    _check_log_records([b.record(i) for b in batches for i in range(len(b))])
    for batch in batches:  # nothing that is not a number is left anywhere in the batch
        for column in [*batch.outputs.values(), *batch.answer.values()]:
            assert np.isfinite(column).all()
        restored = type(batch).from_bytes(batch.to_bytes())
        assert [restored.record(i) for i in range(len(restored))] == [batch.record(i) for i in range(len(batch))]
    records = list(r.to_json() for r in run_batch(Engine(corpus["outputs/divide.onnx"]),
                                                     [corpus["outputs/divide_rows.csv"]]))
    assert [r["ok"] for r in records] == [True, False, True]
    assert records[1]["error"] == "divide_rows.csv: row 2: the model returned infinite values for output 'y'"
    assert [r["values"] for r in (records[0], records[2])] == [[0.5], [0.25]]


def test_a_nan_image_fails_alone(tmp_path):
    from onnx import TensorProto, helper
    from PIL import Image

    from tests.conftest import make_model

    model = make_model(tmp_path / "log_colour.onnx",
                       [helper.make_node("ReduceMean", ["x"], ["m"], axes=[2, 3], keepdims=0),
                        helper.make_node("Log", ["m"], ["scores"])],
                       [("x", TensorProto.FLOAT, ["N", 3, 8, 8])], [("scores", TensorProto.FLOAT, ["N", 3])])
    for name, colour in (("a_grey.png", (100, 100, 100)), ("b_red.png", (255, 0, 0)), ("c_grey.png", (50, 50, 50))):
        Image.new("RGB", (8, 8), colour).save(tmp_path / name)
    engine = Engine(model)
    for batch_size in (None, 1, 3):
        results = list(run_batch(engine, sorted(tmp_path.glob("*.png")), batch_size=batch_size))
        assert [r.ok for r in results] == [True, False, True]
        assert results[1].error == "b_red.png: the model returned infinite values for output 'scores'"
        assert results[0].top and results[2].top


@pytest.mark.parametrize("history", [True, False])
def test_nan_rows_on_the_command_line_exit_1_and_the_run_finishes(corpus, history, tmp_path, capsys):
    args = ["score", str(corpus["outputs/log.onnx"]), str(corpus["outputs/log_rows.csv"])]
    assert main(args + ([] if history else ["--no-history"])) == 1
    out, err = capsys.readouterr()
    _check_log_records([json.loads(line) for line in out.splitlines()])
    assert "3 scored, 2 failed" in err
    if not history:
        return
    from desktop.engine.store import ResultStore

    with ResultStore() as store:
        [run] = store.runs()
        assert run.status == "finished" and (run.ok, run.failed) == (3, 2)
        _check_log_records(list(store.records(run.id)))
        assert store.verify().ok
    assert main(["history", "export", run.id, "--out", str(tmp_path / "again.jsonl")]) == 0
    _check_log_records([json.loads(line) for line in (tmp_path / "again.jsonl").read_text().splitlines()])


# =========================================================================== tensor sequences

def test_a_tensor_sequence_is_kept_each_tensor_as_a_list(corpus, tmp_path):
    engine = Engine(corpus["outputs/sequence.onnx"])
    assert engine.splits_batches is False  # a sequence is one call's, whatever the batch: one row a call
    records = _records(engine, [corpus["outputs/rows.csv"]])
    assert all(r["ok"] for r in records)
    for record, row in zip(records, OUTPUT_ROWS):
        # each tensor of the sequence as the model gave it for this row alone: [1, 3]
        assert record["outputs"]["pair"] == [[list(row)], [[2 * v for v in row]]]
        assert record["outputs"]["total"] == [sum(row)] and record["values"] == [sum(row)]
        assert record == _alone(engine, record, tmp_path)


def test_a_tensor_sequence_goes_through_the_history_and_the_csv(corpus, tmp_path, capsys):
    from desktop.engine.store import ResultStore

    args = ["score", str(corpus["outputs/sequence.onnx"]), str(corpus["outputs/rows.csv"])]
    assert main(args) == 0
    printed = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    with ResultStore() as store:
        [run] = store.runs()
        assert list(store.records(run.id)) == printed
    assert main(args + ["--format", "csv", "--no-history", "-q"]) == 0
    header, first = capsys.readouterr().out.splitlines()[:2]
    assert '"pair[0,0,0]","pair[0,0,1]","pair[0,0,2]","pair[1,0,0]"' in header
    assert ",1.0,2.0,3.0,2.0,4.0,6.0," in first


def test_a_sequence_of_tensors_of_different_shapes_fails_each_item_saying_so(corpus):
    records = _records(Engine(corpus["outputs/sequence_ragged.onnx"]), [corpus["outputs/rows.csv"]])
    assert [r["ok"] for r in records] == [False] * 5
    assert records[0]["error"] == ("rows.csv: row 1: the model returned a sequence of tensors of different shapes "
                                   "for output 'pair' ([1, 3], [1, 1]); InferDesk keeps a sequence only when its "
                                   "tensors share a shape")
