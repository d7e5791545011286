"""A schema 1 database made by the previous release: it opens, lists, exports and verifies, and takes new runs."""

from __future__ import annotations

import hashlib
import json
import shutil
import sqlite3
from pathlib import Path

import numpy as np
import pytest

from desktop.engine import Engine, run_batches
from desktop.engine.store import SCHEMA_VERSION, ResultStore, verify_store
from tests.conftest import MODELS, SAMPLES

FIXTURE = Path(__file__).resolve().parent.parent / "data" / "store_v1"
RUNS = {"2053c34cd8f4": ("digits.onnx", None, 11), "4512338400c3": ("breast_cancer.onnx", "Ward 3, morning", 20),
        "c52ae2cfd116": ("diabetes.onnx", None, 15)}


def _expected(run_id):
    return [json.loads(line) for line in (FIXTURE / f"{run_id}.jsonl").read_text(encoding="utf-8").splitlines()]


@pytest.fixture
def v1_path(tmp_path):
    target = tmp_path / "results.sqlite3"
    shutil.copyfile(FIXTURE / "results.sqlite3", target)
    return target


def _sha(path):
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def _schema(path):
    with sqlite3.connect(str(path)) as db:
        return db.execute("SELECT value FROM meta WHERE key='schema_version'").fetchone()[0]


def test_read_only_opening_lists_exports_and_verifies_without_changing_the_file(v1_path):
    before = _sha(v1_path)
    with ResultStore(v1_path, readonly=True) as store:
        runs = store.runs()
        assert {r.id: (r.model_name, r.name, r.ok + r.failed) for r in runs} == RUNS
        assert store.run("2053").failed == 1 and store.run("4512").title == "Ward 3, morning"
        for run_id in RUNS:
            assert list(store.records(run_id)) == _expected(run_id)
        report = store.verify()
    assert report.ok, report.text()
    assert report.checked == 61
    assert _sha(v1_path) == before and _schema(v1_path) == "1"


def test_opening_for_writing_upgrades_in_place_and_every_v1_record_still_verifies(v1_path):
    with ResultStore(v1_path) as store:
        assert _schema(v1_path) == str(SCHEMA_VERSION)
        for run_id, (_, name, n) in RUNS.items():
            assert list(store.records(run_id)) == _expected(run_id)
            batches = list(store.batches(run_id))
            assert sum(len(b) for b in batches) == n
            assert [b.record(i) for b in batches for i in range(len(b))] == [
                {k: v for k, v in rec.items() if k != "input_sha256"} for rec in _expected(run_id)]
            assert [b.sha256_of(i) for b in batches for i in range(len(b))] == [
                rec["input_sha256"] for rec in _expected(run_id)]
        done = store.done_keys("4512338400c3")
        assert done == {("/tmp/v1/bc.csv", row) for row in range(1, 21)}
        report = store.verify()
        assert report.ok, report.text()
        kinds = [k for (k,) in store._db.execute("SELECT kind FROM ledger WHERE seq > 61 ORDER BY seq")]
        upgrade = json.loads(store._db.execute("SELECT payload FROM ledger WHERE seq = 62").fetchone()[0])
    assert kinds == ["store"] and upgrade["upgraded_from"] == 1 and upgrade["schema_version"] == SCHEMA_VERSION
    with ResultStore(v1_path) as again:  # a second opening changes nothing
        assert again._db.execute("SELECT COUNT(*) FROM ledger").fetchone()[0] == 62


def test_new_runs_in_a_v1_store_are_chunks_and_old_and_new_verify_together(v1_path):
    engine = Engine(MODELS / "breast_cancer.onnx")
    csv = str(SAMPLES / "breast_cancer.csv")
    with ResultStore(v1_path) as store:
        rec = store.start_run(engine, [csv])
        for batch in run_batches(engine, [csv], hash_inputs=True):
            rec.add_batch(batch)
        rec.finish()
        store.rename("4512338400c3", "Ward 3, evening")
        store.delete("2053c34cd8f4")
        assert store._db.execute("SELECT COUNT(*) FROM results WHERE run_id=?", (rec.run_id,)).fetchone()[0] == 0
        assert store._db.execute("SELECT COUNT(*) FROM chunks WHERE run_id=?", (rec.run_id,)).fetchone()[0] == 1
        assert len(list(store.records(rec.run_id))) == 20
        assert [r.id for r in store.runs()][0] == rec.run_id and store.run("4512").name == "Ward 3, evening"
        report = store.verify()
        assert report.ok, report.text()
    assert verify_store(v1_path).ok


def test_edits_to_v1_records_are_still_caught_by_the_v1_rules(v1_path):
    with ResultStore(v1_path) as store:
        pass
    with sqlite3.connect(str(v1_path)) as db:
        db.execute("UPDATE results SET top_score=0.5 WHERE run_id='c52ae2cfd116' AND idx=4")
    report = verify_store(v1_path)
    assert not report.ok and report.reason.startswith("result 4 of run c52ae2cfd116 (resources/samples/diabetes.csv)")
    with sqlite3.connect(str(v1_path)) as db:
        db.execute("UPDATE results SET top_score=(SELECT top_score FROM results WHERE run_id='c52ae2cfd116' AND "
                   "idx=5) WHERE run_id='c52ae2cfd116' AND idx=4")
        db.execute("DELETE FROM results WHERE run_id='c52ae2cfd116' AND idx=4")
        db.execute("UPDATE runs SET name='moved' WHERE id='2053c34cd8f4'")
    report = verify_store(v1_path)
    reasons = [r for _, r in report.problems]
    assert "result 4 of run c52ae2cfd116 is missing from the database" in reasons
    assert any(r.startswith("the name of run 2053c34cd8f4 was changed in the runs table") for r in reasons)


def test_reopened_schema_1_outputs_have_the_models_float32_not_float64(v1_path):
    """A record keeps no dtype: the float32 logits a fresh run showed came back as float64, printed with 16
    digits in the detail pane; every value is exactly a float32 one, so they read back as float32."""
    from desktop.engine.results import tensor_summary

    with ResultStore(v1_path, readonly=True) as store:
        batch = next(store.batches("2053c34cd8f4"))
        expected = _expected("2053c34cd8f4")[0]["outputs"]["logits"]
        result = batch.result(0)
    logits = result.outputs["logits"]
    assert logits.dtype == np.float32 and tensor_summary(logits)["dtype"] == "float32"
    assert logits.tolist() == expected  # the same values as the record: nothing rounded
    assert repr(float(logits[0])) == repr(float(np.float32(expected[0])))


def test_a_float64_output_that_is_not_float32_exact_stays_float64():
    from desktop.engine.results import result_from_record

    r = result_from_record({"input": "a.png", "ok": True, "outputs": {"y": [0.1, 0.2]}})
    assert r.outputs["y"].dtype == np.float64
    r = result_from_record({"input": "a.png", "ok": True, "outputs": {"y": [0.5, 0.25, None]}})
    assert r.outputs["y"].dtype == np.float32 and np.isnan(r.outputs["y"][2])
