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
        assert store._meta["schema_version"] == str(SCHEMA_VERSION) == "4"
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
    assert upgrade["upgraded_from"] == 2 and upgrade["schema_version"] == SCHEMA_VERSION and upgrade["store_id"] == store_id
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


# ---------------------------------------------------------------------- profiles, stored once by their hash
def _many_labels_engine(tmp_path, n=300_000):
    """The logits model (3 classes) with a profile of ``n`` labels, as a 50 MB labels metadata would give."""
    from tests.conftest import image_logits_model

    labels = [f"class number {i}" for i in range(n)]
    path = image_logits_model(tmp_path / "many.onnx", metadata={"labels": json.dumps(labels)})
    return Engine(path)


def _score_run(store, engine, inputs):
    rec = store.start_run(engine, inputs)
    for batch in run_batches(engine, inputs, hash_inputs=True):
        rec.add_batch(batch)
    rec.finish()
    return rec.run_id


def test_a_profile_is_stored_once_however_many_runs_use_it(tmp_path):
    engine = _many_labels_engine(tmp_path)
    image = str(SAMPLES / "digits" / sorted(p.name for p in (SAMPLES / "digits").iterdir())[0])
    path = tmp_path / "data" / "results.sqlite3"
    with ResultStore(path) as store:
        def size():
            store._db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            return path.stat().st_size

        first = _score_run(store, engine, [image])
        before = size()
        ids = [first] + [_score_run(store, engine, [image]) for _ in range(3)]
        grown = size() - before
        assert store._db.execute("SELECT COUNT(*) FROM profiles").fetchone()[0] == 1
        text = store._db.execute("SELECT profile FROM profiles").fetchone()[0]
        assert len(text) > 5_000_000
        assert grown < len(text) / 4  # three more runs did not copy it
        for run_id in ids:
            payload = store._db.execute("SELECT payload FROM ledger WHERE kind='run' AND run_id=?",
                                        (run_id,)).fetchone()[0]
            assert len(payload) < 5_000 and "class number" not in payload
            meta = store.run_metadata(run_id)
            assert meta["profile"] == engine.profile.to_dict()
            assert list(meta).index("profile") + 1 == list(meta).index("profile_sha256")  # where it always was
            assert meta["profile_sha256"] == engine.profile.sha256()
        assert store.verify().ok


def test_an_edited_removed_or_inserted_profile_is_caught_by_verify(tmp_path):
    engine = Engine(MODELS / "digits.onnx")
    path = tmp_path / "results.sqlite3"
    with ResultStore(path) as store:
        a = _score_run(store, engine, [str(SAMPLES / "digits")])
        b = _score_run(store, engine, [str(SAMPLES / "digits")])
    with sqlite3.connect(str(path)) as db:
        db.execute("UPDATE profiles SET profile=replace(profile, '\"classification\"', '\"regression\"')")
    problems = [reason for _, reason in verify_store(path).problems]
    assert f"the profile of run {a} was edited in the profiles table" in problems
    assert f"the profile of run {b} was edited in the profiles table" in problems
    with sqlite3.connect(str(path)) as db:
        db.execute("DELETE FROM profiles")
        db.execute("INSERT INTO profiles VALUES (?, ?)", ("0" * 64, "{}"))
    problems = [reason for _, reason in verify_store(path).problems]
    assert f"the profile of run {a} is missing from the database" in problems
    assert f"the profile {'0' * 12}… is not in the audit trail (inserted by hand)" in problems
    with ResultStore(path, readonly=True) as store, pytest.raises(Exception, match="profile of run .* is missing"):
        store.run_metadata(a)


def test_labels_that_do_not_fit_the_models_output_are_warned_about(tmp_path):
    from desktop.engine.model import label_mismatch

    engine = _many_labels_engine(tmp_path, n=1_000)
    assert engine.info.warnings == ("the model's metadata 'labels' lists 1,000 labels, but output 'scores' has 3 "
                                    "classes: the labels shown will not be this model's classes",)
    assert engine.info.to_dict()["warnings"] == list(engine.info.warnings)
    assert Engine(MODELS / "digits.onnx").info.warnings == ()  # 10 labels, 10 classes
    outputs = Engine(MODELS / "digits.onnx").info.outputs
    assert label_mismatch(["a"] * 10, outputs) is None and label_mismatch([], outputs) is None
    assert label_mismatch(["a"] * 3, outputs).startswith("the profile lists 3 labels, but output 'logits' has 10")
    assert label_mismatch(["a"] * 3, Engine(MODELS / "breast_cancer.onnx").info.outputs) is None  # ZipMap: unknown


def test_the_command_line_says_what_may_be_wrong_with_the_labels_even_when_quiet(tmp_path, capsys):
    import os

    from desktop.cli import main
    from desktop.engine.profile import profile_from_dict

    engine = _many_labels_engine(tmp_path, n=1_000)
    assert engine.warnings == list(engine.info.warnings)  # the profile took the metadata's labels: said once
    model = engine.model_path
    assert main(["info", model]) == 0
    out = capsys.readouterr().out
    assert f"Warning     {engine.info.warnings[0]}\n" in out
    assert main(["info", model, "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["warnings"] == list(engine.info.warnings)
    image = str(SAMPLES / "digits" / sorted(p.name for p in (SAMPLES / "digits").iterdir())[0])
    assert main(["score", model, image, "-q", "--no-history", "--out", os.devnull]) == 0
    assert capsys.readouterr().err == f"warning: {engine.info.warnings[0]}\n"
    # labels from a profile that the model's metadata does not have
    digits = Engine(MODELS / "digits.onnx")
    wrong = profile_from_dict(dict(digits.profile.to_dict(), labels=["benign", "malignant"]))
    assert Engine(MODELS / "digits.onnx", profile=wrong).warnings == [
        "the profile lists 2 labels, but output 'logits' has 10 classes: the labels shown will not be this model's "
        "classes"]
    assert digits.warnings == []
