"""The command line's delivery groups: every batch is committed to the history before it reaches the output."""

from __future__ import annotations

import json

import desktop.cli as cli
import desktop.engine.batch as batch_module
from desktop.cli import main
from desktop.engine import writers
from desktop.engine.store import ResultStore, RunRecorder
from tests.conftest import MODELS, SAMPLES


def test_each_group_is_committed_before_any_of_it_is_written(tmp_path, monkeypatch):
    events = []
    real_run, real_add, real_commit, real_write = (batch_module.run_batches, RunRecorder.add_batch,
                                                   RunRecorder.commit, writers.BackgroundWriter.write)

    def small_chunks(engine, items, **options):
        yield from real_run(engine, items, chunk_rows=3, **options)  # 20 rows: 7 batches

    def add_batch(self, batch):
        events.append(("add", id(batch)))
        real_add(self, batch)

    def commit(self):
        events.append(("commit", None))
        real_commit(self)

    def write(self, batch):
        events.append(("write", id(batch)))
        real_write(self, batch)

    monkeypatch.setattr(batch_module, "run_batches", small_chunks)
    monkeypatch.setattr(RunRecorder, "add_batch", add_batch)
    monkeypatch.setattr(RunRecorder, "commit", commit)
    monkeypatch.setattr(writers.BackgroundWriter, "write", write)
    monkeypatch.setattr(cli, "DELIVERY_ITEMS", 5)  # groups of two batches (6 rows), then the last one
    out = tmp_path / "out.jsonl"
    assert main(["score", str(MODELS / "breast_cancer.onnx"), str(SAMPLES / "breast_cancer.csv"),
                 "--out", str(out), "-q"]) == 0

    written = [ref for what, ref in events if what == "write"]
    assert len(written) == 7
    for ref in written:
        added = events.index(("add", ref))
        write = events.index(("write", ref))
        assert ("commit", None) in events[added:write], "written before it was committed"
    commits_between_writes = [w for w in events if w[0] != "add"]
    assert [w[0] for w in commits_between_writes][:6] == ["commit", "write", "write", "commit", "write", "write"]
    assert len(out.read_text().splitlines()) == 20
    with ResultStore() as store:
        [run] = store.runs()
        assert run.ok == 20 and run.status == "finished"
        assert [json.loads(line)["row"] for line in out.read_text().splitlines()] == \
            [r["row"] for r in store.records(run.id)]
