"""Store schema 3: a schema 2 database is upgraded in place, its runs still read and verify."""

from __future__ import annotations

import json
import shutil
import sqlite3
from pathlib import Path

import pytest

from desktop.engine import Engine, run_batches
from desktop.engine.store import SCHEMA_VERSION, ResultStore, verify_store
from tests.conftest import MODELS, SAMPLES

FIXTURE = Path(__file__).resolve().parent.parent / "data" / "store_v2"
FINISHED, UNFINISHED, DELETED = "97c16d95a453", "a897f4d1077e", "7ff847cdf927"


@pytest.fixture
def v2_path(tmp_path):
    target = tmp_path / "results.sqlite3"
    shutil.copyfile(FIXTURE / "results.sqlite3", target)
    return target


def _expected(run_id):
    return [json.loads(line) for line in (FIXTURE / f"{run_id}.jsonl").read_text(encoding="utf-8").splitlines()]


def _records(store, run_id):
    return [json.loads(json.dumps(r, sort_keys=True)) for r in store.records(run_id)]


def _db_value(path, sql, *args):
    with sqlite3.connect(str(path)) as db:
        return db.execute(sql, args).fetchone()


def test_a_schema_2_store_reads_and_verifies_read_only_without_being_changed(v2_path):
    before = v2_path.read_bytes()
    with ResultStore(v2_path, readonly=True) as store:
        assert {r.id for r in store.runs()} == {FINISHED, UNFINISHED}
        assert store.run(FINISHED).name == "Ward 3, v2"
        for run_id in (FINISHED, UNFINISHED):
            assert _records(store, run_id) == _expected(run_id)
        report = store.verify(update_anchor=False)
    assert report.ok, report.text()
    assert v2_path.read_bytes() == before


def test_opening_a_schema_2_store_for_writing_upgrades_it_in_place_and_it_still_verifies(v2_path):
    with ResultStore(v2_path, readonly=True) as store:
        metadata = {run_id: store.run_metadata(run_id) for run_id in (FINISHED, UNFINISHED)}
        count = store._db.execute("SELECT COUNT(*) FROM ledger").fetchone()[0]
        store_id = store._meta["store_id"]
    with ResultStore(v2_path) as store:
        assert store._meta["schema_version"] == str(SCHEMA_VERSION) == "3"
        assert store._meta["store_id"] == store_id  # the same store: its anchor still applies
        tables = {r[0] for r in store._db.execute("SELECT name FROM sqlite_master WHERE type='table'")}
        assert "profiles" in tables
        assert "pid_start" in {r[1] for r in store._db.execute("PRAGMA table_info(runs)")}
        kinds = [k for (k,) in store._db.execute("SELECT kind FROM ledger WHERE seq > ? ORDER BY seq", (count,))]
        upgrade = json.loads(store._db.execute("SELECT payload FROM ledger WHERE seq = ?", (count + 1,)).fetchone()[0])
        for run_id in (FINISHED, UNFINISHED):
            assert store.run_metadata(run_id) == metadata[run_id]  # the profile still inside the start record
            assert _records(store, run_id) == _expected(run_id)
        report = store.verify()
    assert report.ok, report.text()
    assert kinds == ["store"]
    assert upgrade["upgraded_from"] == 2 and upgrade["schema_version"] == 3 and upgrade["store_id"] == store_id
    with ResultStore(v2_path) as again:  # a second opening changes nothing
        assert again._db.execute("SELECT COUNT(*) FROM ledger").fetchone()[0] == count + 1


def test_new_runs_in_an_upgraded_store_verify_with_the_old_ones(v2_path):
    engine = Engine(MODELS / "breast_cancer.onnx")
    csv = str(SAMPLES / "breast_cancer.csv")
    with ResultStore(v2_path) as store:
        rec = store.start_run(engine, [csv], total=20)
        for batch in run_batches(engine, [csv], hash_inputs=True):
            rec.add_batch(batch)
        rec.finish()
        store.rename(FINISHED, "Ward 3, v3")
        assert store.run_metadata(rec.run_id)["profile"] == engine.profile.to_dict()
        assert store.run_metadata(FINISHED)["profile"] == store.run_metadata(rec.run_id)["profile"]
        assert store.verify().ok
    assert verify_store(v2_path).ok
    assert _db_value(v2_path, "SELECT pid_start FROM runs WHERE id=?", FINISHED) == (None,)
