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
