"""RunRecorder when a write to the store fails: what was added stays pending until a commit succeeds."""

from __future__ import annotations

import sqlite3

import pytest

import desktop.engine.store as store_module
from desktop.engine import Engine, run_batches
from desktop.engine.store import ResultStore, StoreError
from tests.conftest import MODELS, SAMPLES

CSV = SAMPLES / "breast_cancer.csv"


def test_a_commit_that_fails_keeps_its_results_pending_until_one_succeeds(tmp_path, monkeypatch):
    monkeypatch.setattr(store_module, "BUSY_TIMEOUT_S", 0.1)
    path = tmp_path / "results.sqlite3"
    engine = Engine(MODELS / "breast_cancer.onnx")
    batches = list(run_batches(engine, [CSV], chunk_rows=5))  # rows 1-5, 6-10, 11-15, 16-20
    with ResultStore(path) as store:
        recorder = store.start_run(engine, [str(CSV)], total=20)
        recorder.add_batch(batches[0])
        recorder.commit()
        recorder.add_batch(batches[1])
        other = sqlite3.connect(str(path), isolation_level=None, timeout=0)
        other.execute("BEGIN EXCLUSIVE")  # another program holds the database past the busy timeout
        try:
            with pytest.raises(StoreError, match="database is locked"):
                recorder.commit()
            assert recorder.pending == 5  # not dropped: nothing of it was written
        finally:
            other.rollback()
            other.close()
        recorder.add_batch(batches[2])
        recorder.commit()  # the lock is gone: the results kept pending are written, in order
        assert recorder.pending == 0
        recorder.add_batch(batches[3])
        recorder.finish()
        records = list(store.records(recorder.run_id))
        assert [r["row"] for r in records] == list(range(1, 21))
        summary = store.run(recorder.run_id)
        assert summary.status == "finished" and summary.ok + summary.failed == 20
        assert store.verify().ok
