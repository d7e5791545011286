"""What ``--out`` may write over, and how: never a file the run reads or the history keeps; never half a file."""

from __future__ import annotations

import errno
import json
import os
import shutil
import sqlite3

import numpy as np
import onnx
import pytest

import desktop.cli as cli
from desktop.cli import main
from desktop.engine import writers
from desktop.engine.store import ResultStore, default_path
from desktop.runs.export import export as window_export
from desktop.runs.history import export_run
from tests.conftest import MODELS, SAMPLES, table_model

CSV = SAMPLES / "breast_cancer.csv"
MODEL = MODELS / "breast_cancer.onnx"


def _one_run() -> str:
    """Score the sample CSV once, so the history database (and its -wal, -shm) exists; the run's id."""
    assert main(["score", str(MODEL), str(CSV), "-q"]) == 0
    with ResultStore() as store:
        return store.runs()[0].id



def _snapshot(folder) -> dict:
    return {p: p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}



def test_the_windows_export_and_export_run_refuse_the_database_too(tmp_path):
    run_id = _one_run()
    with ResultStore() as store:
        batches = list(store.batches(run_id))
    before = default_path().read_bytes()
    with pytest.raises(writers.OutputRefused, match="the results database"):
        window_export(batches, default_path())
    other = tmp_path / "elsewhere" / "results.sqlite3"  # a store other than the default one, named by store_path
    other.parent.mkdir()
    with ResultStore(other) as store:
        recorder = store.start_run(_engine(), [str(CSV)], total=len(batches[0]))
        for b in batches:
            recorder.add_batch(b)
        recorder.finish()
        other_id = recorder.run_id
    with pytest.raises(writers.OutputRefused, match="the results database"):
        export_run(other_id, other, store_path=other, fmt="csv")
    assert default_path().read_bytes() == before
    with ResultStore(other) as store:
        assert store.verify().ok



def _engine():
    from desktop.engine import Engine

    return Engine(MODEL)



def test_history_export_that_fails_leaves_the_earlier_file_whole(tmp_path, monkeypatch):
    run_id = _one_run()
    out = tmp_path / "export.csv"
    out.write_text("an earlier export\n")
    before = _snapshot(tmp_path)

    def full(self, batch):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(writers.CsvWriter, "write", full)
    with pytest.raises(OSError) as caught:
        export_run(run_id, out)
    assert caught.value.filename == str(out)
    assert _snapshot(tmp_path) == before



def test_a_writer_names_the_file_in_the_errors_it_hands_back():
    class Full:
        def write(self, text):
            raise OSError(errno.ENOSPC, "No space left on device")

        def flush(self):
            pass

    from tests.engine.test_writers import SCORES, cls_batch

    w = writers.BackgroundWriter(writers.JsonlWriter(Full()), Full(), name="/data/out.jsonl")
    with pytest.raises(OSError) as caught:
        for _ in range(10):
            w.write(cls_batch(SCORES))
        w.close()
    assert caught.value.filename == "/data/out.jsonl"
    assert "No space left on device: '/data/out.jsonl'" in str(caught.value)
    if os.path.exists("/dev/full"):
        p = writers.ProcessWriter("csv", "/dev/full", "w", name="/data/out.csv")
        with pytest.raises(OSError) as caught:
            for _ in range(50):
                p.write(cls_batch([[0.25, 0.75]] * 2000))
            p.close()
        assert caught.value.errno == errno.ENOSPC and caught.value.filename == "/data/out.csv"



def test_a_batch_never_writes_over_a_saved_input(tmp_path):
    from desktop.engine import Engine, run_batches

    engine = Engine(MODELS / "digits.onnx")
    image = SAMPLES / "digits" / "digit_0_386.png"
    paths = []
    for _ in range(2):  # the same folder twice: the same names at the same positions
        for batch in run_batches(engine, [image], save_inputs=str(tmp_path)):
            paths += list(batch.saved_input.values())
    assert len(set(paths)) == 2 and all(os.path.isfile(p) for p in paths)
