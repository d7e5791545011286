"""The results store: results kept as produced, history actions, and a hash chain that catches tampering."""

from __future__ import annotations

import json
import sqlite3

import numpy as np
import pytest

from desktop.engine import Engine, run_batch
from desktop.engine.resultbatch import ResultBatch
from desktop.engine.store import ResultStore, StoreError
from tests.conftest import MODELS, SAMPLES


@pytest.fixture
def store(tmp_path):
    s = ResultStore(tmp_path / "results.sqlite3")
    yield s
    s.close()


def _record(store, model="digits.onnx", inputs=None, finish=True):
    engine = Engine(MODELS / model)
    inputs = inputs or [str(SAMPLES / "digits")]
    rec = store.start_run(engine, inputs)
    results = []
    for r in run_batch(engine, inputs):
        rec.add(r)
        rec.commit()
        results.append(r)
    if finish:
        rec.finish()
    return rec.run_id, results, engine


def test_run_metadata_and_results_are_recorded(store):
    run_id, results, engine = _record(store)
    meta = store.run_metadata(run_id)
    assert meta["model"]["sha256"] == engine.info.sha256 and meta["model"]["file_name"] == "digits.onnx"
    assert meta["profile"] == engine.profile.to_dict() and meta["profile_sha256"] == engine.profile.sha256()
    assert set(meta["versions"]) == {"inferdesk", "onnxruntime", "python"}
    assert meta["provider"] == "CPUExecutionProvider" and meta["os_user"] and meta["host"]
    assert meta["started_at"] and meta["settings"]["opt_level"] == "all"
    summary = store.run(run_id)
    assert summary.status == "finished" and summary.ok == 10 and summary.failed == 0 and summary.finished_at
    records = list(store.records(run_id))
    assert [r["input"] for r in records] == [r.input for r in results]
    assert records[0]["top"] == [p.to_dict() for p in results[0].top]
    from desktop.engine.model import sha256_file

    assert records[0]["input_sha256"] == sha256_file(results[0].input)


def test_csv_rows_share_the_file_hash(store):
    run_id, results, _ = _record(store, "breast_cancer.onnx", [str(SAMPLES / "breast_cancer.csv")])
    records = list(store.records(run_id))
    assert len(records) == 20 and len({r["input_sha256"] for r in records}) == 1
    assert [r["row"] for r in records] == list(range(1, 21))


def test_verify_intact_then_rename_export_delete_keep_it_intact(store, tmp_path):
    a, _, _ = _record(store)
    b, _, _ = _record(store, "diabetes.onnx", [str(SAMPLES / "diabetes.csv")])
    assert store.verify().ok
    store.rename(a, "Ward 3, morning")
    store.note_export(a, tmp_path / "x.jsonl", "jsonl")
    store.delete(b)
    report = store.verify()
    assert report.ok, report.text()
    assert [r.id for r in store.runs()] == [a] and store.run(a).title == "Ward 3, morning"
    with pytest.raises(StoreError, match="No run"):
        store.run(b)


def _db(store):
    return sqlite3.connect(str(store.path))


def _chunk_of(store, run_id, position):
    """(chunk number, row in it) of the stored result at ``position``."""
    with _db(store) as db:
        k, first = db.execute("SELECT chunk, first_position FROM chunks WHERE run_id=? AND first_position <= ? "
                              "AND ? < first_position + n_items", (run_id, position, position)).fetchone()
    return k, position - first


def _edit_chunk(store, run_id, k, change):
    """Rewrite chunk ``k`` of a run by hand: ``change(batch)`` returns the batch to store instead."""
    with _db(store) as db:
        data = db.execute("SELECT data FROM chunks WHERE run_id=? AND chunk=?", (run_id, k)).fetchone()[0]
        db.execute("UPDATE chunks SET data=? WHERE run_id=? AND chunk=?",
                   (change(ResultBatch.from_bytes(data)).to_bytes(), run_id, k))


def _chunk_seq(store, run_id, k):
    with _db(store) as db:
        return db.execute("SELECT seq FROM ledger WHERE kind='chunk' AND run_id=? AND ref=?", (run_id, k)).fetchone()[0]


def test_an_edited_result_is_detected(store):
    run_id, results, _ = _record(store)
    _record(store)
    k, i = _chunk_of(store, run_id, 3)

    def relabel(batch):
        batch.answer["top_score"][i, 0] = 0.25
        return batch

    _edit_chunk(store, run_id, k, relabel)
    report = store.verify()
    assert not report.ok
    assert report.reason == f"result 3 of run {run_id} ({results[3].input}) was edited after it was recorded"
    assert report.broken_seq == _chunk_seq(store, run_id, k)
    assert "BROKEN at record" in report.text() and "result 3 of run" in report.text()


def test_a_deleted_result_is_detected(store):
    run_id, _, _ = _record(store)
    k, i = _chunk_of(store, run_id, 5)
    _edit_chunk(store, run_id, k, lambda b: b.take(np.arange(len(b)) != i))
    report = store.verify()
    assert not report.ok and report.reason == f"result 5 of run {run_id} is missing from the database"


def test_a_deleted_ledger_record_is_detected(store):
    _record(store)
    with _db(store) as db:
        db.execute("DELETE FROM ledger WHERE seq=4")
    report = store.verify()
    assert not report.ok and report.broken_seq == 4 and "missing" in report.reason


def test_an_edited_run_record_is_detected(store):
    run_id, _, _ = _record(store)
    with _db(store) as db:
        db.execute("UPDATE runs SET model_sha256='0' || substr(model_sha256, 2) WHERE id=?", (run_id,))
    report = store.verify()
    assert not report.ok and report.broken_seq == 2  # the store's own record is 1, the run's start is 2
    assert report.reason.startswith(f"the model SHA-256 of run {run_id} was changed in the runs table")


def test_a_rewritten_payload_is_detected(store):
    run_id, _, _ = _record(store)
    with _db(store) as db:
        payload = json.loads(db.execute("SELECT payload FROM ledger WHERE seq=2").fetchone()[0])
        payload["os_user"] = "someone else"
        db.execute("UPDATE ledger SET payload=? WHERE seq=2", (json.dumps(payload),))
    report = store.verify()
    assert not report.ok and report.broken_seq == 2 and "was edited" in report.reason


def test_a_result_inserted_by_hand_is_detected(store):
    run_id, results, _ = _record(store)
    k, i = _chunk_of(store, run_id, 0)

    def insert(batch):
        extra = batch.take([i])
        extra.position[:] = 99
        return ResultBatch.concat([batch, extra])

    _edit_chunk(store, run_id, k, insert)
    report = store.verify()
    assert not report.ok
    assert report.reason == (f"result 99 of run {run_id} ({results[0].input}) is not in the audit trail "
                             "(inserted by hand)")


def test_an_unfinished_run_from_a_dead_process_is_offered_and_resumed(store):
    engine = Engine(MODELS / "digits.onnx")
    inputs = [str(SAMPLES / "digits")]
    rec = store.start_run(engine, inputs)
    for i, r in enumerate(run_batch(engine, inputs)):
        if i == 4:
            break
        rec.add(r)
    rec.commit()
    with _db(store) as db:  # as if the process that wrote it had been killed
        db.execute("UPDATE runs SET pid=2147483646 WHERE id=?", (rec.run_id,))
    assert [r.id for r in store.unfinished()] == [rec.run_id]
    done = store.done_keys(rec.run_id)
    assert len(done) == 4
    again = store.resume_run(rec.run_id)
    rest = list(run_batch(engine, inputs, skip=done))
    assert len(rest) == 6 and not {(r.input, r.row) for r in rest} & done
    for r in rest:
        again.add(r)
    again.finish()
    summary = store.run(rec.run_id)
    assert summary.status == "finished" and summary.ok == 10
    assert len({r["input"] for r in store.records(rec.run_id)}) == 10
    assert store.verify().ok


def test_records_rebuild_into_results(store):
    from desktop.engine.results import result_from_record

    run_id, results, _ = _record(store)
    again = [result_from_record(rec, i) for i, rec in enumerate(store.records(run_id))]
    for a, b in zip(again, results):
        assert (a.input, a.row, a.ok, a.error, a.top_label) == (b.input, b.row, b.ok, b.error, b.top_label)
        assert a.top_score == pytest.approx(b.top_score)

        np.testing.assert_allclose(a.outputs["logits"], b.outputs["logits"], rtol=1e-6)
        assert a.timings.total == pytest.approx(b.timings.total, abs=1e-3)
        assert a.to_json()["outputs"] == b.to_json()["outputs"]
    run_id, results, _ = _record(store, "breast_cancer.onnx", [str(SAMPLES / "breast_cancer.csv")])
    again = [result_from_record(rec) for rec in store.records(run_id)]
    assert again[0].outputs["output_probability"] == results[0].outputs["output_probability"]
    assert int(again[0].outputs["output_label"]) == int(results[0].outputs["output_label"])
