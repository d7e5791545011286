"""Input kinds and tasks are str-valued enums: profiles, JSON, the store and string comparisons see the same text."""

from __future__ import annotations

import dataclasses
import hashlib
import io
import json
import pickle

import numpy as np
import pytest

from desktop.engine import Engine, InputKind, Task, expand_inputs, run_batches
from desktop.engine.errors import ProfileError
from desktop.engine.profile import load_profile, profile_from_dict, save_profile
from desktop.engine.resultbatch import ResultBatch
from desktop.engine.store import ResultStore
from tests.conftest import MODELS, SAMPLES

CSV = str(SAMPLES / "breast_cancer.csv")  # batch.py names a CSV's kind by its text, an image's by InputKind

# (SHA-256 of the file save_profile writes, Profile.sha256()) of each sample profile, as written
# before tasks were an enum: a saved profile and the hash the history records must not change.
SAVED_BEFORE = {
    "breast_cancer.profile.json": ("3d05f4b94f6956160e4c4764cb9d3fc1d6b58c3c8c3071a4c5020150cd7df856",
                                   "3708426728fceea278cca36963798cb6799f06b694f4ebaef3bdd97a785de5f6"),
    "diabetes.profile.json": ("9fdea752ea8be90dafddcdbd769cc4949f6b1f27fbd995e985e5e01a5aa0c14c",
                              "0a87b9ce7e164c0ff5e6601b27b6727e3cf4a37a4d3965a4c044d7951645782d"),
    "digits.profile.json": ("32f2b308d6a831ca46887d26a60f214b6cb99082db06e0ff31f959bf360ada3b",
                            "4a69da48a70f024589c5fed90a0ab74edc7d9fef736a5d358e04026b12e3e233"),
    "scene.profile.json": ("650df0904b188e4b9cbe6b4d15291b413a190414875ba47b264ead93bbacee1c",
                           "b9b50631eb8e6b127d6371dcfc5118ac4461c80d27a94d3b6a727ef6543bb71a"),
}


@pytest.mark.parametrize("name", sorted(SAVED_BEFORE))
def test_a_profile_file_loads_its_task_as_the_enum_and_saves_byte_for_byte_as_before(name, tmp_path):
    profile = load_profile(MODELS / name)
    assert isinstance(profile.task, Task)
    save_profile(profile, tmp_path / name)
    saved = (tmp_path / name).read_bytes()
    assert (hashlib.sha256(saved).hexdigest(), profile.sha256()) == SAVED_BEFORE[name]
    assert load_profile(tmp_path / name) == profile


def test_a_profile_dict_and_its_json_hold_the_task_as_plain_text():
    profile = profile_from_dict({"task": "classification", "labels": ["a", "b"]})
    plain = {"input": None, "task": "classification", "labels": ["a", "b"]}
    assert profile.to_dict() == plain
    assert json.dumps(profile.to_dict()) == json.dumps(plain)
    assert profile.to_json() == json.dumps(plain, indent=2, ensure_ascii=False) + "\n"


@pytest.mark.parametrize("given, task", [("classify", Task.CLASSIFICATION), (" Regress ", Task.REGRESSION),
                                         ("RAW", Task.RAW), ("detection", Task.DETECTION),
                                         ("segmentation", Task.SEGMENTATION), (None, Task.RAW)])
def test_every_spelling_a_profile_file_may_use_still_loads(given, task):
    raw = {} if given is None else {"task": given}
    assert profile_from_dict(raw).task is task


@pytest.mark.parametrize("given, shown", [("guess", "'guess'"), (3, "3"), ("", "''")])
def test_an_unknown_task_is_refused_with_the_message_it_always_had(given, shown):
    with pytest.raises(ProfileError) as err:
        profile_from_dict({"task": given})
    assert str(err.value) == ("Profile: task must be one of classification, regression, detection, "
                              f"segmentation, raw (got {shown})")


@pytest.mark.parametrize("member, text", [(Task.CLASSIFICATION, "classification"), (Task.RAW, "raw"),
                                          (InputKind.IMAGE, "image"), (InputKind.INVALID, "invalid")])
def test_a_kind_or_task_reads_as_its_text(member, text):
    assert member == text and text == member and hash(member) == hash(text)
    assert str(member) == f"{member}" == "%s" % member == text
    assert {text: 1}[member] == 1 and member in (text,)
    assert json.dumps({"k": member}) == json.dumps({"k": text})
    assert pickle.loads(pickle.dumps(member)) is member


def test_expanded_inputs_carry_kinds_that_serialise_as_before(tmp_path):
    (tmp_path / "notes.txt").write_text("x")
    image = str(sorted((SAMPLES / "digits").iterdir())[0])
    items = expand_inputs([CSV, image, str(tmp_path / "notes.txt")])
    assert [i.kind for i in items] == [InputKind.TABLE, InputKind.IMAGE, InputKind.INVALID]
    assert json.dumps([i.kind for i in items]) == '["table", "image", "invalid"]'


def _with_plain_text(batch: ResultBatch) -> ResultBatch:
    return batch.replace(task=str(batch.task), source_kinds=tuple(str(k) for k in batch.source_kinds))


def test_a_batch_of_enum_task_and_kinds_is_stored_and_written_as_one_of_plain_text():
    engine = Engine(MODELS / "digits.onnx")
    batch = ResultBatch.concat(list(run_batches(engine, [str(SAMPLES / "digits")], workers=0)))
    assert isinstance(batch.task, Task) and isinstance(batch.source_kinds[0], InputKind)
    plain = _with_plain_text(batch)
    assert type(plain.task) is str and type(plain.source_kinds[0]) is str
    assert batch.to_bytes() == plain.to_bytes()
    items, digest = batch.digests()
    plain_items, plain_digest = plain.digests()
    assert digest == plain_digest and np.array_equal(items, plain_items)
    assert [json.dumps(batch.record(i)) for i in range(len(batch))] == \
        [json.dumps(plain.record(i)) for i in range(len(plain))]
    assert [json.dumps(r.to_json()) for r in batch.results()] == [json.dumps(r.to_json()) for r in plain.results()]
    back = ResultBatch.from_bytes(batch.to_bytes())
    assert back.task == "classification" and set(back.source_kinds) == {"image"}


def test_the_store_keeps_the_same_text_in_its_columns_whichever_the_task_is(tmp_path):
    engine = Engine(MODELS / "breast_cancer.onnx")
    assert isinstance(engine.profile.task, Task)
    plain_engine = engine.with_profile(dataclasses.replace(engine.profile, task="classification"))
    store = ResultStore(tmp_path / "results.sqlite3")
    ids = []
    for e in (engine, plain_engine):
        rec = store.start_run(e, [CSV])
        for b in run_batches(e, [CSV]):
            rec.add_batch(b if e is engine else _with_plain_text(b))
        rec.finish()
        ids.append(rec.run_id)
    db = store._db
    cols = "model_name, model_path, model_sha256, profile_sha256, provider, inputs, total, ok, failed, status"
    rows = [db.execute(f"SELECT {cols} FROM runs WHERE id=?", (i,)).fetchone() for i in ids]
    assert rows[0] == rows[1]
    # the profile is stored once, by its hash (the profiles table), and read back into the run's metadata
    starts = [db.execute("SELECT profile FROM profiles WHERE sha256=?", (r[3],)).fetchone()[0] for r in rows]
    assert all('"task":"classification"' in s for s in starts)
    metas = [store.run_metadata(i) for i in ids]
    assert metas[0]["profile"] == metas[1]["profile"] and metas[0]["profile_sha256"] == metas[1]["profile_sha256"]
    headers = []
    for i in ids:
        (data,) = db.execute("SELECT data FROM chunks WHERE run_id=?", (i,)).fetchone()
        with np.load(io.BytesIO(data), allow_pickle=False) as z:
            headers.append(json.loads(z["__header__"].tobytes().decode("utf-8")))
    assert headers[0] == headers[1] and headers[0]["task"] == "classification"
    assert headers[0]["source_kinds"] == ["table"]
    untimed = [[{k: v for k, v in r.items() if k != "timings_ms"} for r in store.records(i)] for i in ids]
    assert untimed[0] == untimed[1]
    assert store.verify(update_anchor=False).ok
    store.close()
