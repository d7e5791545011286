"""Store schema 2: results in chunks, dense outputs in content-addressed files, and what verify catches in them."""

from __future__ import annotations

import hashlib
import json
import os
import sqlite3
import stat

import numpy as np
import pytest
from onnx import TensorProto, helper

from desktop.engine import Engine, run_batch, run_batches
from desktop.engine import store as store_module
from desktop.engine.resultbatch import ResultBatch
from desktop.cli import main
from desktop.engine.store import SCHEMA_VERSION, ResultStore, StoreError, chunk_digests, verify_store
from tests.conftest import MODELS, SAMPLES, make_model
from tests.engine.test_store import _chunk_of, _chunk_seq, _db, _edit_chunk

CSV = str(SAMPLES / "breast_cancer.csv")
DIGITS = str(SAMPLES / "digits")


@pytest.fixture
def store(tmp_path):
    s = ResultStore(tmp_path / "data" / "results.sqlite3")
    yield s
    s.close()


def _score(store, model, inputs, **kwargs):
    """Score into a new run, one commit per batch; returns (run id, the batches as produced)."""
    engine = model if isinstance(model, Engine) else Engine(MODELS / model)
    rec = store.start_run(engine, inputs)
    batches = []
    for b in run_batches(engine, inputs, hash_inputs=True, **kwargs):
        rec.add_batch(b)
        rec.commit()
        batches.append(b)
    rec.finish()
    return rec.run_id, batches


def _records(batches):
    out = []
    for b in batches:
        for i in range(len(b)):
            d = b.record(i)
            d["input_sha256"] = b.sha256_of(i)
            out.append(d)
    return out


# ---------------------------------------------------------------------- chunks
def test_a_commit_is_one_chunk_with_its_item_checksums_and_content_digest(store):
    engine = Engine(MODELS / "breast_cancer.onnx")
    rec = store.start_run(engine, [CSV], total=20)
    batches = list(run_batches(engine, [CSV], hash_inputs=True, chunk_rows=6))
    assert [len(b) for b in batches] == [6, 6, 6, 2]
    for b in batches:
        rec.add_batch(b)
    rec.commit()
    rec.finish()
    with _db(store) as db:
        rows = db.execute("SELECT chunk, first_position, n_items, n_ok, data, items, digest, files FROM chunks "
                          "WHERE run_id=?", (rec.run_id,)).fetchall()
        payload = json.loads(db.execute("SELECT payload FROM ledger WHERE kind='chunk'").fetchone()[0])
    [(k, first, n, n_ok, data, items, digest, files)] = rows
    assert (k, first, n, n_ok, files) == (0, 0, 20, 20, None)
    stored = ResultBatch.from_bytes(data)
    assert stored.features is None and stored.feature_names == ()  # the CSV's values are not kept
    assert bytes(items) == stored.item_digests().astype("<u8").tobytes()
    assert digest == stored.content_digest() == payload["digest"]
    assert payload == {"chunk": 0, "first": 0, "count": 20, "ok": 20, "digest": digest,
                       "items": hashlib.sha256(items).hexdigest()}
    assert list(store.records(rec.run_id)) == _records(batches)
    assert store.run(rec.run_id).total == 20 and store.run_metadata(rec.run_id)["total"] == 20


def test_more_than_a_chunk_of_items_is_split_and_read_back_in_order(store, monkeypatch):
    monkeypatch.setattr(store_module, "CHUNK_ITEMS", 7)
    engine = Engine(MODELS / "breast_cancer.onnx")
    rec = store.start_run(engine, [CSV])
    batches = list(run_batches(engine, [CSV], hash_inputs=True, chunk_rows=6))
    for b in batches:
        rec.add_batch(b)
    rec.finish()
    with _db(store) as db:
        layout = db.execute("SELECT chunk, first_position, n_items FROM chunks ORDER BY chunk").fetchall()
    assert layout == [(0, 0, 7), (1, 7, 7), (2, 14, 6)]
    read = list(store.batches(rec.run_id))
    assert [len(b) for b in read] == [7, 7, 6]
    assert np.concatenate([b.position for b in read]).tolist() == list(range(20))
    assert list(store.records(rec.run_id)) == _records(batches)
    assert store.done_keys(rec.run_id) == {(CSV, row) for row in range(1, 21)}
    assert store.verify().ok


def test_add_and_add_batch_keep_the_same_records(store):
    engine = Engine(MODELS / "digits.onnx")
    batches = list(run_batches(engine, [DIGITS], hash_inputs=True))
    one = store.start_run(engine, [DIGITS])
    for b in batches:
        for r in b.results():
            one.add(r)
    one.finish()
    other = store.start_run(engine, [DIGITS])
    other.add(batches[0].result(0))  # mixed: items, then batches, in one commit
    other.add_batch(batches[0].take(np.arange(1, len(batches[0]))))
    for b in batches[1:]:
        other.add_batch(b)
    other.finish()
    assert list(store.records(one.run_id)) == list(store.records(other.run_id)) == _records(batches)
    assert store.run(one.run_id).ok == store.run(other.run_id).ok == 10
    assert store.verify().ok


def test_a_failed_item_between_batches_shares_their_chunk(store, tmp_path):
    import shutil

    folder = tmp_path / "scans"
    shutil.copytree(DIGITS, folder)
    (folder / "digit_4_zz.png").write_bytes(b"not a png")
    engine = Engine(MODELS / "digits.onnx")
    rec = store.start_run(engine, [str(folder)])
    batches = list(run_batches(engine, [str(folder)], hash_inputs=True))
    assert [b.n_failed for b in batches].count(1) == 1 and len(batches) > 2
    for b in batches:
        rec.add_batch(b)
    rec.finish()
    with _db(store) as db:
        assert db.execute("SELECT COUNT(*), SUM(n_items), SUM(n_ok) FROM chunks").fetchone() == (1, 11, 10)
    assert list(store.records(rec.run_id)) == _records(batches)
    assert store.run(rec.run_id).failed == 1 and store.verify().ok


def test_a_resumed_run_continues_its_numbering(store):
    engine = Engine(MODELS / "digits.onnx")
    rec = store.start_run(engine, [DIGITS])
    first = next(run_batches(engine, [DIGITS], hash_inputs=True))
    rec.add_batch(first)
    rec.commit()
    with _db(store) as db:
        db.execute("UPDATE runs SET pid=2147483646 WHERE id=?", (rec.run_id,))
    done = store.done_keys(rec.run_id)
    again = store.resume_run(rec.run_id)
    for b in run_batches(engine, [DIGITS], hash_inputs=True, skip=done):
        assert b.position[0] < 10 - len(first)  # the engine numbers the rest from 0 ...
        again.add_batch(b)
        again.commit()
    again.finish()
    positions = np.concatenate([b.position for b in store.batches(rec.run_id)])
    assert positions.tolist() == list(range(10))  # ... the store keeps numbering where the run was
    assert len({r["input"] for r in store.records(rec.run_id)}) == 10
    assert store.verify().ok


# ---------------------------------------------------------------------- dense outputs in files
def _mask_engine(tmp_path):
    path = make_model(tmp_path / "mask.onnx", [helper.make_node("Identity", ["x"], ["mask"])],
                      [("x", TensorProto.FLOAT, ["N", 3, 48, 48])], [("mask", TensorProto.FLOAT, ["N", 3, 48, 48])])
    return Engine(path)


@pytest.fixture
def mask_run(store, tmp_path):
    run_id, batches = _score(store, _mask_engine(tmp_path), [DIGITS])
    return run_id, batches


def _files(store):
    return sorted(p for p in store.blob_dir.rglob("*") if p.is_file())


def test_dense_outputs_are_content_addressed_files_outside_the_chunk(store, mask_run):
    run_id, batches = mask_run
    files = _files(store)
    assert len(files) == 10  # 3×48×48 = 6,912 elements an item: one file each
    for f in files:
        data = f.read_bytes()
        assert f.name == hashlib.sha256(data).hexdigest() + ".npy" and f.parent.name == f.name[:2]
        assert stat.S_IMODE(f.stat().st_mode) == 0o600
    with _db(store) as db:
        for data, files_json in db.execute("SELECT data, files FROM chunks WHERE run_id=?", (run_id,)):
            stored = ResultBatch.from_bytes(data)
            assert "mask" not in stored.outputs and len(data) < 20_000
            spec = json.loads(files_json)["mask"]
            assert spec["shape"] == [3, 48, 48] and spec["dtype"] == "float32" and len(spec["sha256"]) == len(stored)
    read = list(store.batches(run_id))
    np.testing.assert_array_equal(np.concatenate([b.outputs["mask"] for b in read]),
                                  np.concatenate([b.outputs["mask"] for b in batches]))
    assert list(store.records(run_id)) == _records(batches)
    assert store.verify().ok


def test_an_edited_output_file_is_named(store, mask_run):
    run_id, batches = mask_run
    [target] = [f for f in _files(store) if f.name.startswith(_sha_of_item(batches, 4))]
    arr = np.load(target)
    arr[0, 0, 0] += 1
    np.save(target, arr)
    report = store.verify()
    assert not report.ok
    assert report.reason == (f"the output 'mask' of result 4 of run {run_id} was edited or swapped: its file "
                             f"{target} no longer matches its hash")


def _sha_of_item(batches, position):
    import io

    for b in batches:
        hit = np.nonzero(b.position == position)[0]
        if len(hit):
            buf = io.BytesIO()
            np.save(buf, np.ascontiguousarray(b.outputs["mask"][hit[0]]), allow_pickle=False)
            return hashlib.sha256(buf.getvalue()).hexdigest()
    raise AssertionError(position)


def test_a_deleted_output_file_is_named_and_reading_the_run_says_so(store, mask_run):
    run_id, batches = mask_run
    target = store._blob_path(_sha_of_item(batches, 7))
    target.unlink()
    report = store.verify()
    assert not report.ok
    assert report.reason == (f"the output 'mask' of result 7 of run {run_id} is missing: its file {target} "
                             "was deleted")
    with pytest.raises(StoreError, match=rf"Result 7 of run {run_id}: its output 'mask' was kept in .*, which is miss"):
        list(store.records(run_id))


def test_swapped_output_files_are_both_named(store, mask_run):
    run_id, batches = mask_run
    a, b = store._blob_path(_sha_of_item(batches, 1)), store._blob_path(_sha_of_item(batches, 2))
    tmp = a.with_suffix(".swap")
    a.rename(tmp)
    b.rename(a)
    tmp.rename(b)
    report = store.verify()
    assert not report.ok
    named = [r for _, r in report.problems]
    assert [r.split(" was edited")[0] for r in named] == [f"the output 'mask' of result {p} of run {run_id}"
                                                         for p in (1, 2)]


def test_swapping_which_item_a_file_belongs_to_is_named(store, mask_run):
    run_id, _ = mask_run
    k, i = _chunk_of(store, run_id, 5)
    with _db(store) as db:
        files = json.loads(db.execute("SELECT files FROM chunks WHERE run_id=? AND chunk=?", (run_id, k)).fetchone()[0])
        shas = files["mask"]["sha256"]
        shas[i], shas[i + 1] = shas[i + 1], shas[i]
        db.execute("UPDATE chunks SET files=? WHERE run_id=? AND chunk=?", (json.dumps(files), run_id, k))
    reasons = [r for _, r in store.verify().problems]
    assert reasons[:2] == [f"result {p} of run {run_id} ({DIGITS}/{name}) was edited after it was recorded"
                           for p, name in ((5, _name(store, run_id, 5)), (6, _name(store, run_id, 6)))]


def _name(store, run_id, position):
    for b in store.batches(run_id):
        hit = np.nonzero(b.position == position)[0]
        if len(hit):
            return os.path.basename(b.input_of(hit[0]))
    raise AssertionError(position)


def test_deleting_a_run_removes_the_files_no_other_run_uses(store, tmp_path):
    engine = _mask_engine(tmp_path)
    a, _ = _score(store, engine, [DIGITS])
    b, _ = _score(store, engine, [DIGITS])  # the same images: the same files
    assert len(_files(store)) == 10
    store.delete(a)
    assert len(_files(store)) == 10 and len(list(store.records(b))) == 10
    store.delete(b)
    assert _files(store) == []
    assert store.verify().ok


def test_chunk_digests_equal_the_batch_digests_without_files():
    engine = Engine(MODELS / "digits.onnx")
    b = next(run_batches(engine, [DIGITS]))
    items, digest = chunk_digests(b)
    assert items.tolist() == b.item_digests().tolist() and digest == b.content_digest()


# ---------------------------------------------------------------------- chunks tampered with
def test_a_deleted_chunk_names_its_results_as_missing(store):
    run_id, batches = _score(store, "breast_cancer.onnx", [CSV], chunk_rows=8)
    with _db(store) as db:
        db.execute("DELETE FROM chunks WHERE run_id=? AND chunk=1", (run_id,))
    report = store.verify()
    assert not report.ok and report.broken_seq == _chunk_seq(store, run_id, 0) + 1
    assert report.reason == f"results 8–15 of run {run_id} (chunk 1) are missing from the database"


def test_an_inserted_chunk_is_not_in_the_trail(store):
    run_id, _ = _score(store, "breast_cancer.onnx", [CSV])
    with _db(store) as db:
        db.execute("INSERT INTO chunks SELECT run_id, 1, 20, n_items, n_ok, data, items, digest, files FROM chunks "
                   "WHERE run_id=?", (run_id,))
    report = store.verify()
    assert not report.ok and report.broken_seq is None
    assert report.reason == f"results 20–39 of run {run_id} (chunk 1) are not in the audit trail (inserted by hand)"


def test_edited_item_checksums_are_reported(store):
    run_id, _ = _score(store, "breast_cancer.onnx", [CSV])
    with _db(store) as db:
        items = bytearray(db.execute("SELECT items FROM chunks").fetchone()[0])
        items[0] ^= 1
        db.execute("UPDATE chunks SET items=?", (bytes(items),))
    report = store.verify()
    assert not report.ok and report.reason == (f"the item checksums stored with results 0–19 of run {run_id} "
                                               "(chunk 0) were edited; its results are as recorded")


def test_every_edited_result_of_a_chunk_is_listed(store):
    run_id, _ = _score(store, "breast_cancer.onnx", [CSV])

    def edit(b):
        b.answer["top_score"][[3, 11], 0] = 0.5
        return b

    _edit_chunk(store, run_id, 0, edit)
    report = store.verify()
    assert [r.split(" (")[0] for _, r in report.problems] == [f"result {p} of run {run_id}" for p in (3, 11)]
    assert report.text().endswith("was edited after it was recorded (and 1 more problem)")


def test_an_edited_error_message_is_named(store, tmp_path):
    import shutil

    folder = tmp_path / "scans"
    shutil.copytree(DIGITS, folder)
    (folder / "zz_broken.png").write_bytes(b"not a png")
    run_id, _ = _score(store, "digits.onnx", [str(folder)])
    k, i = _chunk_of(store, run_id, 10)

    def edit(b):
        assert b.errors[i].startswith("zz_broken.png")
        b.errors[i] = "made up"
        return b

    _edit_chunk(store, run_id, k, edit)
    assert store.verify().reason == (f"result 10 of run {run_id} ({folder / 'zz_broken.png'}) was edited after it "
                                     "was recorded")


# ---------------------------------------------------------------------- the gaps a fault probe found
@pytest.fixture
def two_runs(store):
    a, _ = _score(store, "digits.onnx", [DIGITS])
    b, _ = _score(store, "breast_cancer.onnx", [CSV])
    store.rename(a, "Ward 3, morning")
    return a, b


def test_deleting_the_newest_run_entirely_is_detected(store, two_runs):
    _, b = two_runs
    with _db(store) as db:
        db.execute("DELETE FROM runs WHERE id=?", (b,))
        db.execute("DELETE FROM chunks WHERE run_id=?", (b,))
        last_kept = db.execute("SELECT MIN(seq) - 1 FROM ledger WHERE run_id=?", (b,)).fetchone()[0]
        db.execute("DELETE FROM ledger WHERE seq > ?", (last_kept,))  # its records and everything after them
    report = store.verify()
    assert not report.ok and report.broken_seq == last_kept + 1
    assert "(the newest records were deleted)" in report.reason
    with _db(store) as db:  # a careful hand also mends the bookkeeping: the anchor outside still knows
        head = db.execute("SELECT hash FROM ledger WHERE seq=?", (last_kept,)).fetchone()[0]
        db.execute("UPDATE meta SET value=? WHERE key='ledger_next'", (str(last_kept + 1),))
        db.execute("UPDATE meta SET value=? WHERE key='ledger_head'", (head,))
    report = store.verify()
    assert not report.ok and report.broken_seq == last_kept + 1
    assert report.reason.startswith(f"the trail ends at record {last_kept}, but record ")
    assert "the newest records were deleted" in report.reason and "audit-anchors.json" in report.reason


def test_deleting_the_last_records_of_the_trail_is_detected(store, two_runs):
    with _db(store) as db:
        last = db.execute("SELECT MAX(seq) FROM ledger").fetchone()[0]
        db.execute("DELETE FROM ledger WHERE seq > ?", (last - 3,))
    report = store.verify()
    assert not report.ok and report.broken_seq == last - 2
    assert report.reason == f"records {last - 2}–{last} of the trail are missing (the newest records were deleted)"


def test_sequence_numbers_are_never_reused(store, two_runs):
    a, _ = two_runs
    with _db(store) as db:
        last = db.execute("SELECT MAX(seq) FROM ledger").fetchone()[0]
        db.execute("DELETE FROM ledger WHERE seq=?", (last,))
    store.note_export(a, "x.jsonl", "jsonl")
    with _db(store) as db:
        assert db.execute("SELECT MAX(seq) FROM ledger").fetchone()[0] == last + 1
    report = store.verify()
    assert not report.ok and report.broken_seq == last and "missing" in report.reason


def test_hiding_a_run_with_the_deleted_flag_is_detected(store, two_runs):
    a, _ = two_runs
    with _db(store) as db:
        db.execute("UPDATE runs SET deleted=1 WHERE id=?", (a,))
    assert a not in [r.id for r in store.runs()]
    report = store.verify()
    assert not report.ok and report.reason == (f"the deleted flag of run {a} was changed in the runs table "
                                               "(the trail says 0, the table 1)")


@pytest.mark.parametrize("column, value, label", [
    ("model_path", "'/elsewhere/model.onnx'", "model path"), ("status", "'cancelled'", "status"),
    ("ok", "ok - 1", "ok count"), ("failed", "failed + 1", "failed count"), ("name", "'Ward 4'", "name"),
    ("started_at", "'2020-01-01T00:00:00.000+00:00'", "start time"), ("inputs", "'[\"/other\"]'", "inputs"),
    ("provider", "'CUDAExecutionProvider'", "provider"), ("finished_at", "NULL", "end time"),
    ("total", "99", "total"), ("host", "'elsewhere'", "host"), ("model_name", "'x.onnx'", "model name"),
    ("profile_sha256", "'0'", "profile hash"), ("pid", "1", "process id"),
])
def test_every_column_of_a_run_is_covered_by_the_trail(store, two_runs, column, value, label):
    a, _ = two_runs
    with _db(store) as db:
        db.execute(f"UPDATE runs SET {column}={value} WHERE id=?", (a,))
    report = store.verify()
    assert not report.ok
    assert report.reason.startswith(f"the {label} of run {a} was changed in the runs table (the trail says ")


def test_edited_trail_timestamps_are_detected(store, two_runs):
    a, _ = two_runs
    for kind in ("chunk", "rename", "run"):
        with _db(store) as db:
            seq, at = db.execute("SELECT seq, at FROM ledger WHERE run_id=? AND kind=? ORDER BY seq LIMIT 1",
                                 (a, kind)).fetchone()
            db.execute("UPDATE ledger SET at='2020-01-01T00:00:00.000+00:00' WHERE seq=?", (seq,))
        report = store.verify()
        assert not report.ok and report.broken_seq == seq
        assert report.reason == f"the '{kind}' record of run {a} was edited (its content, run, number or time)"
        with _db(store) as db:
            db.execute("UPDATE ledger SET at=? WHERE seq=?", (at, seq))
        assert store.verify().ok


def test_a_rename_moved_to_another_run_is_detected(store, two_runs):
    a, b = two_runs
    with _db(store) as db:
        db.execute("UPDATE ledger SET run_id=? WHERE kind='rename' AND run_id=?", (b, a))
        db.execute("UPDATE runs SET name=NULL WHERE id=?", (a,))
        db.execute("UPDATE runs SET name='Ward 3, morning' WHERE id=?", (b,))
    report = store.verify()
    assert not report.ok
    assert report.reason == f"the 'rename' record of run {b} was edited (its content, run, number or time)"


def test_deleting_the_database_files_is_an_error_and_a_new_empty_store_does_not_pass(store, two_runs):
    assert store.verify().ok
    store.close()
    for suffix in ("", "-wal", "-shm"):
        if os.path.exists(f"{store.path}{suffix}"):
            os.unlink(f"{store.path}{suffix}")
    report = verify_store(store.path)
    assert not report.ok and report.state == "missing" and not store.path.exists()
    assert report.reason.startswith(f"no results database at {store.path}; the last check, on ")
    assert "records there: it was deleted or moved" in report.text()
    ResultStore(store.path).close()  # the next `score` would make a new, empty one
    report = verify_store(store.path)
    assert not report.ok
    assert report.reason.startswith("this is not the database seen here on ") and "re-created" in report.reason


def test_a_rewritten_trail_is_caught_by_the_anchor(store, two_runs):
    """Someone edits a record and recomputes every hash after it, and the bookkeeping: only the anchor can tell."""
    a, _ = two_runs
    assert store.verify().ok
    anchor = store_module.read_anchor(store.path)
    with _db(store) as db:
        rows = db.execute("SELECT seq, kind, run_id, ref, at, payload FROM ledger ORDER BY seq").fetchall()
        prev = store_module.GENESIS
        for seq, kind, run_id, ref, at, payload in rows:
            if kind == "rename":
                payload = json.dumps({"name": "Ward 9"})
            content_hash = store_module._sha(store_module._v2_content(seq, kind, run_id, ref, at, payload))
            h = store_module._chain(prev, kind, content_hash)
            db.execute("UPDATE ledger SET payload=?, content_hash=?, prev_hash=?, hash=? WHERE seq=?",
                       (payload, content_hash, prev, h, seq))
            prev = h
        db.execute("UPDATE meta SET value=? WHERE key='ledger_head'", (prev,))
        db.execute("UPDATE runs SET name='Ward 9' WHERE id=?", (a,))
    report = store.verify()
    assert not report.ok and report.broken_seq == anchor["seq"]
    assert report.reason.startswith(f"record {anchor['seq']} is not the one seen on ") and "rewritten" in report.reason


def test_a_restored_older_copy_of_the_database_is_reported(store, tmp_path):
    _score(store, "digits.onnx", [DIGITS])
    backup = tmp_path / "backup.sqlite3"
    with _db(store) as db, sqlite3.connect(str(backup)) as out:
        db.backup(out)
    _score(store, "digits.onnx", [DIGITS])
    assert store.verify().ok
    store.close()
    for suffix in ("-wal", "-shm"):
        if os.path.exists(f"{store.path}{suffix}"):
            os.unlink(f"{store.path}{suffix}")
    os.replace(backup, store.path)
    report = verify_store(store.path)
    assert not report.ok and "the newest records were deleted" in report.reason
    assert "restored from a backup on purpose, remove its entry from" in report.reason


def test_the_first_check_of_a_store_warns_that_nothing_anchors_it_yet(store):
    engine = Engine(MODELS / "digits.onnx")
    store.start_run(engine, [DIGITS])  # not finished: no anchor written yet
    report = store.verify()
    assert report.ok and len(report.warnings) == 1 and "no earlier check of this database" in report.warnings[0]
    anchors = store_module.default_config_dir() / store_module.ANCHOR_FILE
    assert stat.S_IMODE(anchors.stat().st_mode) == 0o600
    assert store.verify().warnings == ()


# ---------------------------------------------------------------------- one snapshot, streamed
def test_verify_while_another_process_scores_never_reports_tampering(store, tmp_path):
    import subprocess
    import sys
    import time

    script = tmp_path / "writer.py"
    script.write_text(f"""
import sys, time
from desktop.engine import Engine, run_batches
from desktop.engine.store import ResultStore
store = ResultStore({str(store.path)!r})
engine = Engine({str(MODELS / "breast_cancer.onnx")!r})
batches = list(run_batches(engine, [{CSV!r}], chunk_rows=2))
print("ready", flush=True)
end = time.monotonic() + 2.5
while time.monotonic() < end:
    rec = store.start_run(engine, [{CSV!r}])
    for b in batches:
        rec.add_batch(b)
        rec.commit()
    store.rename(rec.run_id, "busy")
    rec.finish()
""")
    env = dict(os.environ, PYTHONPATH=os.getcwd())
    proc = subprocess.Popen([sys.executable, str(script)], stdout=subprocess.PIPE, text=True, env=env)
    try:
        assert proc.stdout.readline().strip() == "ready"
        reports = []
        while proc.poll() is None:
            reports.append(store.verify())
            time.sleep(0.01)
    finally:
        proc.wait(30)
    assert proc.returncode == 0 and len(reports) >= 5
    assert all(r.ok for r in reports), [r.text() for r in reports if not r.ok][:3]
    assert len({r.checked for r in reports}) > 1  # it really ran while the trail grew
    assert store.verify().ok


def _synthetic(n, first=0):
    rng = np.random.default_rng(first)
    return ResultBatch(task="raw", position=np.arange(first, first + n), source=np.zeros(n), row=np.arange(1, n + 1),
                       ok=np.ones(n, bool), timings=np.zeros((n, 4)), sources=["/data/big.csv"],
                       source_kinds=["table"], source_sha256=["0" * 64], outputs={"y": rng.random((n, 8))},
                       output_names=["y"], passthrough={"patient_id": [f"p{i}" for i in range(n)]})


def _peak(fn):
    import tracemalloc

    tracemalloc.start()
    try:
        fn()
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def test_verify_and_reading_stream_one_chunk_at_a_time(tmp_path):
    peaks = {}
    for chunks in (4, 16):
        s = ResultStore(tmp_path / f"{chunks}" / "results.sqlite3")
        engine = Engine(MODELS / "breast_cancer.onnx")
        rec = s.start_run(engine, ["/data/big.csv"])
        for k in range(chunks):
            rec.add_batch(_synthetic(5000, k * 5000))
            rec.commit()
        rec.finish()
        assert s.verify().ok
        peaks[chunks] = (_peak(s.verify), _peak(lambda: sum(1 for _ in s.records(rec.run_id))),
                         _peak(lambda: sum(len(b) for b in s.batches(rec.run_id))))
        s.close()
    for small, big in zip(peaks[4], peaks[16]):
        assert big < 1.3 * small, peaks  # four times the results, about the same memory


# ---------------------------------------------------------------------- damaged, newer, private, read-only
def _overwrite_page(path, page, seed=1):
    with sqlite3.connect(str(path)) as db:
        db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        size = db.execute("PRAGMA page_size").fetchone()[0]
    with open(path, "r+b") as fh:
        fh.seek((page - 1) * size)
        fh.write(np.random.default_rng(seed).bytes(size))


@pytest.mark.parametrize("page", ["last", 2])
def test_a_damaged_file_is_reported_with_the_remedy_and_never_written(store, two_runs, page, monkeypatch):
    path = store.path
    monkeypatch.setenv("INFERDESK_DATA_DIR", str(path.parent))
    store.close()
    with sqlite3.connect(str(path)) as db:
        pages = db.execute("PRAGMA page_count").fetchone()[0]
    _overwrite_page(path, pages if page == "last" else page)
    before = path.read_bytes()
    report = verify_store(path)
    assert not report.ok and report.state == "damaged"
    assert report.text().startswith(f"results database DAMAGED: The results database {path} is damaged (")
    assert ".recover" in report.text() and "move the file aside" in report.text()
    assert main(["audit", "verify"]) == 1
    try:
        damaged = ResultStore(path)
    except store_module.StoreDamaged as exc:  # too damaged to read at all: refused outright
        assert page == 2 and "InferDesk will not write into it" in str(exc)
    else:
        assert page == "last" and damaged.readonly and damaged.damaged
        assert "InferDesk will not write into it" in damaged.notice
        with pytest.raises(store_module.StoreDamaged, match="is damaged"):
            damaged.start_run(Engine(MODELS / "digits.onnx"), [DIGITS])
        damaged.close()
    assert path.read_bytes() == before


def test_a_large_store_still_checks_its_small_tables_before_writing(store, two_runs, monkeypatch):
    monkeypatch.setattr(store_module, "FULL_CHECK_MAX_BYTES", 0)  # as if the file were large
    path = store.path
    store.close()
    assert not ResultStore(path).readonly  # sound: opens for writing
    _overwrite_page(path, 2)
    with pytest.raises(store_module.StoreDamaged, match="InferDesk will not write into it"):
        ResultStore(path)


def test_audit_verify_on_the_command_line(store, two_runs, monkeypatch, capsys):
    monkeypatch.setenv("INFERDESK_DATA_DIR", str(store.path.parent))
    assert main(["audit", "verify"]) == 0
    out, err = capsys.readouterr()
    assert out.startswith("audit trail intact: ") and err == ""  # finishing the runs anchored the trail
    with _db(store) as db:
        db.execute("UPDATE runs SET provider='x' WHERE id=?", (two_runs[0],))
    assert main(["audit", "verify"]) == 1
    assert capsys.readouterr().out.startswith("audit trail BROKEN at record 2: the provider of run ")
    monkeypatch.setenv("INFERDESK_DATA_DIR", str(store.path.parent / "nowhere"))
    assert main(["audit", "verify"]) == 1
    out, _ = capsys.readouterr()
    assert out == f"audit trail MISSING: no results database at {store.path.parent / 'nowhere' / 'results.sqlite3'}\n"
    assert not (store.path.parent / "nowhere").exists()


def test_a_store_from_a_newer_version_opens_read_only(store, two_runs, monkeypatch, capsys):
    a, _ = two_runs
    with _db(store) as db:
        db.execute("UPDATE meta SET value=? WHERE key='schema_version'", (str(SCHEMA_VERSION + 1),))
        count = db.execute("SELECT COUNT(*) FROM ledger").fetchone()[0]
    newer = ResultStore(store.path)
    assert newer.readonly and f"made by a newer InferDesk (store schema {SCHEMA_VERSION + 1}" in newer.notice
    assert [r.id for r in newer.runs()] == [two_runs[1], a]
    with pytest.raises(StoreError, match="newer InferDesk"):
        newer.start_run(Engine(MODELS / "digits.onnx"), [DIGITS])
    with pytest.raises(StoreError, match="newer InferDesk"):
        newer.rename(a, "x")
    assert newer.note_export(a, "x.jsonl", "jsonl") is False
    newer.close()
    with _db(store) as db:
        assert db.execute("SELECT COUNT(*) FROM ledger").fetchone()[0] == count
    with pytest.raises(StoreError, match="newer InferDesk"):
        verify_store(store.path)
    monkeypatch.setenv("INFERDESK_DATA_DIR", str(store.path.parent))
    assert main(["audit", "verify"]) == 2
    assert f"was made by a newer InferDesk (store schema {SCHEMA_VERSION + 1})" in capsys.readouterr().err


def test_the_database_and_its_files_are_created_private(tmp_path):
    old = os.umask(0o022)
    try:
        s = ResultStore(tmp_path / "new" / "results.sqlite3")
        _score(s, _mask_engine(tmp_path), [DIGITS])
        for suffix in ("", "-wal", "-shm"):
            assert stat.S_IMODE(os.stat(f"{s.path}{suffix}").st_mode) == 0o600, suffix
        assert stat.S_IMODE(s.path.parent.stat().st_mode) == 0o700
        assert {stat.S_IMODE(f.stat().st_mode) for f in _files(s)} == {0o600}
        s.close()
    finally:
        os.umask(old)


_READ_ONLY_CHECK = r"""
import io, json, sys
from desktop import cli
from desktop.engine.store import ResultStore, StoreError
out = {}
for argv in (["history"], ["audit", "verify"], ["history", "export", sys.argv[1]]):
    o, e = io.StringIO(), io.StringIO()
    sys.stdout, sys.stderr = o, e
    try:
        code = cli.main(argv)
    finally:
        sys.stdout, sys.stderr = sys.__stdout__, sys.__stderr__
    out[" ".join(argv[:2])] = [code, o.getvalue(), e.getvalue()]
s = ResultStore()
out["readonly"] = [s.readonly, s.notice, len(list(s.records(sys.argv[1])))]
try:
    s.rename(sys.argv[1], "x")
except StoreError as exc:
    out["rename"] = str(exc)
print(json.dumps(out))
"""


def test_a_read_only_data_folder_still_lists_exports_and_verifies(store, two_runs, tmp_path):
    import shutil
    import subprocess
    import sys

    a, _ = two_runs
    folder = store.path.parent
    store.close()
    (tmp_path / "check.py").write_text(_READ_ONLY_CHECK)
    env = dict(os.environ, PYTHONPATH=os.getcwd(), INFERDESK_DATA_DIR=str(folder))
    cmd = [sys.executable, str(tmp_path / "check.py"), a]
    if os.geteuid() != 0:
        folder.chmod(0o555)
        try:
            proc = subprocess.run(cmd, capture_output=True, text=True, env=env)
        finally:
            folder.chmod(0o700)
    else:  # root writes anywhere: make the folder a read-only mount in a namespace of its own
        if not shutil.which("unshare"):
            pytest.skip("running as root without unshare: cannot make a read-only folder")
        script = (f"mount --bind {folder} {folder} && mount -o remount,bind,ro {folder} && "
                  + " ".join(f"'{c}'" for c in cmd))
        proc = subprocess.run(["unshare", "-m", "sh", "-c", script], capture_output=True, text=True, env=env)
        if proc.returncode != 0 and "mount" in proc.stderr and "{" not in proc.stdout:
            pytest.skip(f"cannot mount read-only here: {proc.stderr.strip()}")
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout)
    assert out["history"][0] == 0 and a in out["history"][1]
    assert out["audit verify"][0] == 0 and "audit trail intact" in out["audit verify"][1]
    assert out["history export"][0] == 0 and len(out["history export"][1].splitlines()) == 10
    assert out["readonly"][0] is True and "cannot be written" in out["readonly"][1] and out["readonly"][2] == 10
    assert "cannot be written" in out["rename"]
