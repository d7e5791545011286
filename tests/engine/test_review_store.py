"""Review decisions in the results store: kept with the run, the latest current, all in the audit trail."""

from __future__ import annotations

import getpass
import json
import shutil
import sqlite3
from pathlib import Path

import pytest

from desktop.engine import Engine, run_batch
from desktop.engine.store import SCHEMA_VERSION, ResultStore, StoreError, verify_store
from tests.conftest import MODELS, SAMPLES

FIXTURE_V3 = Path(__file__).resolve().parent.parent / "data" / "store_v3"
V3_RUN = "5f1c27c5ebe6"


@pytest.fixture
def store(tmp_path):
    s = ResultStore(tmp_path / "results.sqlite3")
    yield s
    s.close()


def _record(store):
    engine = Engine(MODELS / "digits.onnx")
    inputs = [str(SAMPLES / "digits")]
    rec = store.start_run(engine, inputs)
    for r in run_batch(engine, inputs):
        rec.add(r)
    rec.finish()
    return rec.run_id


def _sql(path, sql, *args):
    with sqlite3.connect(str(path)) as db:
        db.execute(sql, args)


def test_a_decision_is_stored_with_reviewer_and_time_and_survives_reopening(store):
    run_id = _record(store)
    d = store.review(run_id, 2, "override", label="7", reason="  the stroke is a seven ")
    assert (d.index, d.decision, d.label, d.reason) == (2, "override", "7", "the stroke is a seven")
    assert d.reviewer == getpass.getuser() and d.at and d.truth == "7"
    store.close()
    with ResultStore(store.path) as again:
        now = again.reviews(run_id)
        assert list(now) == [2] and now[2] == d
        assert again.verify().ok


def test_the_latest_decision_is_current_and_the_history_is_kept(store):
    run_id = _record(store)
    store.review(run_id, 0, "flag", reason="blurred")
    store.review(run_id, 0, "accept")
    store.review(run_id, 1, "override", value=3.5)
    current = store.reviews(run_id)
    assert current[0].decision == "accept" and current[0].reason == ""
    assert current[1].value == 3.5 and current[1].truth == 3.5
    assert [d.decision for d in store.reviews(run_id, history=True)] == ["flag", "accept", "override"]
    kinds = [k for (k,) in store._db.execute("SELECT kind FROM ledger WHERE kind='review'")]
    assert len(kinds) == 3


@pytest.mark.parametrize("args, message", [
    ((0, "override"), "needs the correct label or value"),
    ((0, "maybe"), "'maybe' is not a review decision"),
    ((99, "accept"), "has no result 99"),
    ((-1, "accept"), "has no result -1"),
])
def test_a_decision_that_cannot_be_is_refused_plainly(store, args, message):
    run_id = _record(store)
    with pytest.raises(StoreError, match=message):
        store.review(run_id, *args)
    assert store.reviews(run_id) == {}


def test_an_unknown_run_is_refused(store):
    _record(store)
    with pytest.raises(StoreError, match="No run 'abc123' in the history"):
        store.review("abc123", 0, "accept")


def test_verify_names_a_decision_edited_by_hand(store):
    run_id = _record(store)
    store.review(run_id, 4, "flag", reason="check")
    assert store.verify().ok
    _sql(store.path, "UPDATE reviews SET decision='accept' WHERE idx=4")
    report = verify_store(store.path)
    assert not report.ok
    assert f"the review decision on result 4 of run {run_id} (flag by" in report.reason
    assert "was edited in the reviews table" in report.reason and "'accept'" in report.reason


def test_verify_catches_a_deleted_decision_and_an_edited_trail_record(store):
    run_id = _record(store)
    store.review(run_id, 1, "accept")
    store.review(run_id, 2, "flag", reason="odd")
    _sql(store.path, "DELETE FROM reviews WHERE idx=1")
    report = verify_store(store.path)
    assert not report.ok and "result 1" in report.reason and "missing from the reviews table" in report.reason
    _sql(store.path, "UPDATE ledger SET payload=replace(payload, 'odd', 'fine') WHERE kind='review' AND ref=2")
    texts = " ".join(r for _, r in verify_store(store.path).problems)
    assert f"the 'review' record of result 2 of run {run_id} (a review decision) was edited" in texts


def test_a_decision_inserted_by_hand_is_caught(store):
    run_id = _record(store)
    _sql(store.path, "INSERT INTO reviews VALUES (999, ?, 0, 'accept', NULL, NULL, '', 'mallory', 'now')", run_id)
    report = verify_store(store.path)
    assert not report.ok and "not in the audit trail (inserted by hand)" in report.reason


def test_deleting_a_run_deletes_its_decisions_and_verify_stays_intact(store):
    run_id = _record(store)
    store.review(run_id, 0, "accept")
    store.delete(run_id)
    assert store._db.execute("SELECT COUNT(*) FROM reviews").fetchone()[0] == 0
    assert store.verify().ok


def test_a_schema_3_store_reads_without_decisions_and_is_upgraded_in_place(tmp_path):
    path = tmp_path / "results.sqlite3"
    shutil.copyfile(FIXTURE_V3 / "results.sqlite3", path)
    expected = [json.loads(line) for line in (FIXTURE_V3 / f"{V3_RUN}.jsonl").read_text().splitlines()]
    before = path.read_bytes()
    with ResultStore(path, readonly=True) as old:
        assert old.reviews(V3_RUN) == {}
        assert old.verify(update_anchor=False).ok
    assert path.read_bytes() == before
    with ResultStore(path) as store:
        assert store._meta["schema_version"] == str(SCHEMA_VERSION) == "4"
        records = [json.loads(json.dumps(r, sort_keys=True)) for r in store.records(V3_RUN)]
        assert records == expected
        upgrade = json.loads(store._db.execute("SELECT payload FROM ledger WHERE kind='store' "
                                               "ORDER BY seq DESC LIMIT 1").fetchone()[0])
        assert upgrade["upgraded_from"] == 3 and upgrade["schema_version"] == 4
        store.review(V3_RUN, 3, "override", label="8")
        assert store.verify().ok
    with ResultStore(path) as again:
        assert again.reviews(V3_RUN)[3].label == "8"
