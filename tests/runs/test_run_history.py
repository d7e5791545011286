"""The use cases on recorded runs (desktop.runs.history), against real stores made by scoring."""

from __future__ import annotations

import csv
import io
import json
import os
import shutil
import sqlite3
import queue
import threading

import pytest

from desktop.cli import main
from desktop.engine import Engine, EngineError, expand_inputs, run_batches, writers
from desktop.engine.store import ResultStore, StoreError
from desktop.runs import history
from desktop.runs.history import (Exported, OpenStep, ResumePlan, RunOpened, RunRefused, delete_run, export_results,
                                  export_run, list_runs, note_export, open_run, prepare_resume, rename_run,
                                  results_provenance, run_title, show_run, unfinished_runs, verify)
from desktop.runs.pacing import Pacer
from tests.conftest import MODELS, SAMPLES

CSV = SAMPLES / "breast_cancer.csv"  # 20 rows
DIGITS = SAMPLES / "digits"  # 10 images
DEAD_PID = 2147483646


def _record(model, inputs, *, store_path=None, stop_after=None, finish=True, **options) -> str:
    """Score ``inputs`` into a new run, one commit (one stored chunk) per batch; returns the run id.

    ``stop_after`` batches, then the run is left as a killed process leaves it (interrupted),
    or, with ``finish`` False and no ``stop_after``, still running in this process.
    """
    engine = model if isinstance(model, Engine) else Engine(model)
    inputs = [str(p) for p in inputs]
    store = ResultStore(store_path)
    try:
        rec = store.start_run(engine, inputs, total=sum(i.rows for i in expand_inputs(inputs)))
        for n, batch in enumerate(run_batches(engine, inputs, hash_inputs=True, **options)):
            if stop_after is not None and n == stop_after:
                break
            rec.add_batch(batch)
            rec.commit()
        if stop_after is None and finish:
            rec.finish()
    finally:
        store.close()
    if stop_after is not None:
        with sqlite3.connect(str(store.path)) as db:  # as if the process that wrote it had been killed
            db.execute("UPDATE runs SET pid=? WHERE id=?", (DEAD_PID, rec.run_id))
    return rec.run_id



def _trail(kind, run_id, store_path=None):
    path = store_path or history.default_store_path()
    with sqlite3.connect(str(path)) as db:
        return [json.loads(p) for (p,) in db.execute("SELECT payload FROM ledger WHERE kind=? AND run_id=? "
                                                     "ORDER BY seq", (kind, run_id))]


def _refusal(fn, *args, **kwargs) -> str:
    with pytest.raises(RunRefused) as info:
        fn(*args, **kwargs)
    assert isinstance(info.value, EngineError)
    return str(info.value)


@pytest.fixture
def model_copy(tmp_path):
    """The digits model in a folder of the test's own, so it can be changed or removed."""
    path = tmp_path / "models" / "digits.onnx"
    path.parent.mkdir()
    shutil.copyfile(MODELS / "digits.onnx", path)
    return path


@pytest.fixture
def interrupted(model_copy):
    """A run of the digits model interrupted after 4 of its 10 images."""
    return _record(model_copy, [DIGITS], stop_after=4, batch_size=1, workers=0)


# ====================================================================== list, show
def test_list_runs_newest_first_and_unfinished_runs(interrupted):
    finished = _record(MODELS / "breast_cancer.onnx", [CSV])
    runs = list_runs()
    assert [r.id for r in runs] == [finished, interrupted]
    assert [r.status for r in runs] == ["finished", "interrupted"]
    assert runs[0].ok == 20 and runs[1].ok + runs[1].failed == 4 and runs[1].total == 10
    assert [r.id for r in list_runs(1)] == [finished]
    assert [r.id for r in unfinished_runs()] == [interrupted]
    assert history.default_store_path() == ResultStore().path  # the default database, where they are


def test_store_path_names_another_database(tmp_path):
    other = tmp_path / "elsewhere" / "results.sqlite3"
    run_id = _record(MODELS / "breast_cancer.onnx", [CSV], store_path=other)
    assert [r.id for r in list_runs(store_path=other)] == [run_id]
    assert list_runs() == []  # the default database has none
    assert show_run(run_id[:5], store_path=other)["summary"]["ok"] == 20


def test_show_run_is_the_start_record_and_the_summary(capsys):
    run_id = _record(MODELS / "breast_cancer.onnx", [CSV])
    rename_run(run_id, "Ward 3")
    shown = show_run(run_id[:6])  # the first characters are enough
    assert shown["id"] == run_id and shown["model"]["file_name"] == "breast_cancer.onnx"
    assert shown["inputs"] == [str(CSV)] and shown["total"] == 20
    assert shown["summary"]["name"] == "Ward 3" and shown["summary"]["status"] == "finished"
    assert shown["summary"]["ok"] == 20 and shown["summary"]["inputs"] == [str(CSV)]
    assert main(["history", "show", run_id[:6]]) == 0
    assert json.loads(capsys.readouterr().out) == shown


def test_an_unknown_run_is_a_store_error(drive):
    _record(MODELS / "breast_cancer.onnx", [CSV])
    with pytest.raises(StoreError, match="No run 'zzz' in the history"):
        show_run("zzz")
    with pytest.raises(StoreError, match="No run 'zzz' in the history"):
        drive(open_run("zzz"))


# ====================================================================== open a past run
def test_open_run_yields_each_stored_chunk_in_run_order_and_returns_the_run(drive):
    run_id = _record(MODELS / "breast_cancer.onnx", [CSV], chunk_rows=6)  # chunks of 6, 6, 6, 2
    steps, opened = drive(open_run(run_id))
    assert all(isinstance(s, OpenStep) for s in steps)
    assert [len(s.batch) for s in steps] == [6, 6, 6, 2]
    assert [s.done for s in steps] == [6, 12, 18, 20] and {s.total for s in steps} == {20}
    assert [int(p) for s in steps for p in s.batch.position] == list(range(20))
    assert [r.row for s in steps for r in s.batch.results()] == list(range(1, 21))
    assert isinstance(opened, RunOpened)
    assert opened.run.id == run_id and opened.run.status == "finished"
    assert (opened.done, opened.total, opened.cancelled) == (20, 20, False)


def test_open_run_stops_when_asked_before_the_next_chunk():
    run_id = _record(MODELS / "breast_cancer.onnx", [CSV], chunk_rows=6)
    seen = []
    gen = open_run(run_id, should_stop=lambda: len(seen) >= 2)
    while True:
        try:
            seen.append(next(gen))
        except StopIteration as end:
            opened = end.value
            break
    assert [s.done for s in seen] == [6, 12]
    assert (opened.done, opened.total, opened.cancelled) == (12, 20, True)


def test_open_run_waits_on_pace_right_after_each_step():
    run_id = _record(MODELS / "breast_cancer.onnx", [CSV], chunk_rows=6)
    events = []

    class Pace:
        def wait(self):
            events.append("wait")

    for step in open_run(run_id, pace=Pace()):
        events.append(step.done)
    assert events == [6, "wait", 12, "wait", 18, "wait", 20, "wait"]


def test_open_run_reads_the_next_chunk_only_once_the_last_is_acknowledged():
    """The window's way: a reader thread paced by a Pacer, the viewer acknowledging what it showed."""
    run_id = _record(MODELS / "breast_cancer.onnx", [CSV], chunk_rows=6)
    pacer = Pacer(timeout_s=30)
    got: queue.Queue = queue.Queue()
    result = {}
    reader = threading.Thread(target=_read_into, args=(run_id, pacer, got, result), daemon=True)
    reader.start()
    first = got.get(timeout=30)
    assert first.done == 6
    with pytest.raises(queue.Empty):
        got.get(timeout=0.3)  # not acknowledged: the reader waits
    pacer.ack()
    assert got.get(timeout=30).done == 12
    with pytest.raises(queue.Empty):
        got.get(timeout=0.3)
    pacer.release()  # cancel: the wait returns at once and no more chunks are read
    assert got.get(timeout=30) is None
    reader.join(30)
    assert not reader.is_alive()
    assert (result["opened"].done, result["opened"].cancelled) == (12, True)


def _read_into(run_id, pacer, got, result):
    """The reader thread: each step handed over through ``got``, then None."""
    gen = open_run(run_id, pace=pacer, should_stop=lambda: pacer.released)
    while True:
        try:
            got.put(next(gen))
        except StopIteration as end:
            result["opened"] = end.value
            got.put(None)
            return


# ====================================================================== resume
def test_prepare_resume_loads_the_recorded_model_and_what_is_done(interrupted, model_copy):
    plan = prepare_resume(interrupted[:5])
    assert isinstance(plan, ResumePlan)
    assert plan.run.id == interrupted and plan.run.status == "interrupted"
    assert plan.meta["id"] == interrupted and plan.meta["model"]["path"] == str(model_copy)
    assert plan.engine.info.path == str(model_copy) and plan.engine.info.sha256 == plan.meta["model"]["sha256"]
    assert plan.engine.profile.to_dict() == plan.meta["profile"]
    assert plan.engine.profile_source == f"as recorded with run {interrupted}"
    assert [i.path for i in plan.items] == sorted(str(p) for p in DIGITS.iterdir())
    with ResultStore() as store:
        assert plan.done == store.done_keys(interrupted)
    assert len(plan.done) == 4 and all(row is None for _, row in plan.done)


def test_resume_refuses_a_finished_run(capsys):
    run_id = _record(MODELS / "breast_cancer.onnx", [CSV])
    with ResultStore() as store:
        run = store.run(run_id)
    text = _refusal(prepare_resume, run_id)
    assert text == f"The run {run_title(run)} has finished already; there is nothing left to score."
    assert main(["resume", run_id]) == 2
    assert capsys.readouterr().err == f"inferdesk: {text}\n"


def test_resume_refuses_a_model_file_that_is_gone(interrupted, model_copy, capsys):
    model_copy.unlink()
    text = _refusal(prepare_resume, interrupted)
    assert text == (f"Cannot resume: the model file {model_copy} is no longer there. Put it back, "
                    "or score the inputs again as a new run.")
    assert main(["resume", interrupted]) == 2
    assert capsys.readouterr().err == f"inferdesk: {text}\n"


def test_resume_refuses_a_model_file_that_cannot_be_read(interrupted, model_copy, monkeypatch):
    import desktop.engine.model as model_module

    def unreadable(path, *args, **kwargs):
        raise PermissionError(13, "Permission denied", str(path))

    monkeypatch.setattr(model_module, "sha256_file", unreadable)
    assert _refusal(prepare_resume, interrupted) == (
        f"Cannot resume: the model file {model_copy} cannot be read (Permission denied).")


def test_resume_refuses_a_changed_model_with_one_message_in_the_runs_layer_and_the_cli(interrupted, model_copy,
                                                                                         capsys):
    from desktop.engine.model import sha256_file

    recorded = sha256_file(model_copy)
    shutil.copyfile(MODELS / "breast_cancer.onnx", model_copy)  # another model under the same name
    now = sha256_file(model_copy)
    text = _refusal(prepare_resume, interrupted)
    assert text == (f"Cannot resume: digits.onnx has changed since this run scored with it (SHA-256 was "
                    f"{recorded[:12]}…, is now {now[:12]}…). Resuming would mix two models' results in one run; "
                    "score the inputs again as a new run instead.")
    assert main(["resume", interrupted, "-q"]) == 2
    assert capsys.readouterr().err == f"inferdesk: {text}\n"  # the same words, not a second wording
    with ResultStore() as store:
        run = store.run(interrupted)
        assert run.status == "interrupted" and run.ok + run.failed == 4  # nothing was added to it


def test_the_cli_resumes_with_the_plan_and_scores_only_the_rest(interrupted, tmp_path, capsys):
    out = tmp_path / "rest.jsonl"
    assert main(["resume", interrupted[:6], "--out", str(out)]) == 0
    err = capsys.readouterr().err
    assert f"profile as recorded with run {interrupted}" in err
    assert f"6 items left of run {interrupted} (4 already scored)" in err
    # a file gets the whole run: the 4 stored before, then the 6 scored now, as 'history export' writes it
    assert len(out.read_text().splitlines()) == 10
    export_run(interrupted, tmp_path / "export.jsonl")
    assert _jsonl_records(out) == _jsonl_records(tmp_path / "export.jsonl")
    with ResultStore() as store:
        run = store.run(interrupted)
        assert run.status == "finished" and run.ok == 10
    assert verify().ok


def test_a_run_started_with_relative_paths_resumes_from_another_folder(tmp_path, monkeypatch, model_copy, capsys):
    work = tmp_path / "work"
    shutil.copytree(DIGITS, work / "scans")
    monkeypatch.chdir(work)
    run_id = _record(model_copy, ["scans"], stop_after=4, batch_size=1, workers=0)
    with ResultStore() as store:
        assert store.run_metadata(run_id)["inputs"] == [str(work / "scans")]  # recorded absolute
        assert {p for p, _ in store.done_keys(run_id)} <= {str(p) for p in (work / "scans").iterdir()}
    (tmp_path / "elsewhere").mkdir()
    monkeypatch.chdir(tmp_path / "elsewhere")
    out = tmp_path / "rest.jsonl"
    assert main(["resume", run_id, "--out", str(out)]) == 0
    err = capsys.readouterr().err
    assert f"6 items left of run {run_id} (4 already scored)" in err
    assert len(out.read_text().splitlines()) == 10  # the whole run: the 4 stored before, then the 6 scored now
    with ResultStore() as store:
        run = store.run(run_id)
        assert run.status == "finished" and (run.ok, run.failed) == (10, 0)
        inputs = sorted(r["input"] for r in store.records(run_id))
    assert inputs == sorted(str(p) for p in (work / "scans").iterdir())  # each once, by absolute path
    assert verify().ok


def test_resume_refuses_a_run_whose_input_is_gone_and_leaves_it_unfinished(tmp_path, model_copy, capsys):
    scans = tmp_path / "scans"
    shutil.copytree(DIGITS, scans)
    run_id = _record(model_copy, [scans], stop_after=4, batch_size=1, workers=0)
    shutil.rmtree(scans)
    text = _refusal(prepare_resume, run_id)
    assert text == (f"Cannot resume: the input {scans} that this run was started on is no longer there. Put it "
                    "back, or score what is there as a new run; the run stays as it was, unfinished.")
    assert main(["resume", run_id]) == 2
    assert capsys.readouterr().err == f"inferdesk: {text}\n"
    with ResultStore() as store:
        run = store.run(run_id)
        assert run.status == "interrupted" and run.ok + run.failed == 4  # not finished with one failure
    assert [r.id for r in unfinished_runs()] == [run_id]


def test_a_missing_input_recorded_relative_says_which_folder_to_resume_from(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(RunRefused) as info:
        history._check_inputs_present(["scans", "notes.csv", str(CSV)])
    assert str(info.value).startswith(f"Cannot resume: the input scans (and 1 other input) that this run was started "
                                      f"on is no longer there; the run recorded it relative to the folder it was "
                                      f"started in, and this is {tmp_path}: resume it from that folder.")


def test_resume_refuses_a_csv_replaced_since_the_run_scored_part_of_it(tmp_path, capsys):
    from desktop.engine.model import sha256_file

    table = tmp_path / "patients.csv"
    shutil.copyfile(CSV, table)
    run_id = _record(MODELS / "breast_cancer.onnx", [table], stop_after=2, chunk_rows=6)
    recorded = sha256_file(table)
    lines = table.read_text(encoding="utf-8").splitlines(keepends=True)
    table.write_text("".join(lines[:1] + lines[:0:-1]), encoding="utf-8")  # the same rows, in another order
    now = sha256_file(table)
    text = _refusal(prepare_resume, run_id)
    assert text == (f"Cannot resume: the input {table} has changed since this run scored it (SHA-256 was "
                    f"{recorded[:12]}…, is now {now[:12]}…). Resuming would mix two versions of it in one run; "
                    "score it again as a new run instead.")
    assert main(["resume", run_id, "-q"]) == 2
    assert capsys.readouterr().err == f"inferdesk: {text}\n"
    with ResultStore() as store:
        run = store.run(run_id)
        assert run.status == "interrupted" and run.ok + run.failed == 12  # nothing was added
    shutil.copyfile(CSV, table)  # put back as it was: the run resumes
    assert len(prepare_resume(run_id).done) == 12


def test_resume_refuses_an_image_overwritten_since_it_was_scored(tmp_path, model_copy):
    scans = tmp_path / "scans"
    shutil.copytree(DIGITS, scans)
    run_id = _record(model_copy, [scans], stop_after=4, batch_size=1, workers=0)
    with ResultStore() as store:
        done = sorted(p for p, _ in store.done_keys(run_id))
    shutil.copyfile(sorted(scans.iterdir())[-1], done[0])  # a scored scan replaced by another
    assert _refusal(prepare_resume, run_id).startswith(f"Cannot resume: the input {done[0]} has changed since")


def _external_model(folder, weights):
    """The sum model with its weights in weights.bin beside it (as large models keep theirs)."""
    import numpy as np

    from tests.hostile.build_corpus import _save, _sum_model

    folder.mkdir(parents=True, exist_ok=True)
    path = _save(_sum_model(external="weights.bin"), folder / "model.onnx")
    (folder / "weights.bin").write_bytes(np.asarray(weights, dtype=np.float32).tobytes())
    (folder / "model.profile.json").write_text(json.dumps(
        {"input": "features", "task": "regression", "table": {"columns": ["a", "b", "c"]}}), encoding="utf-8")
    return path


def test_a_models_identity_covers_its_external_data_and_resume_compares_it(tmp_path, capsys):
    from desktop.engine.model import model_identity, sha256_file

    table = tmp_path / "abc.csv"
    table.write_text("a,b,c\n" + "".join(f"{i},{i},{i}\n" for i in range(12)), encoding="utf-8")
    one = _external_model(tmp_path / "one", [1, 1, 1])
    two = _external_model(tmp_path / "two", [2, 2, 2])
    e1, e2 = Engine(one), Engine(two)
    assert e1.info.sha256 == e2.info.sha256 == sha256_file(one)  # the .onnx files are the same ...
    assert e1.info.weights_sha256 != e2.info.weights_sha256  # ... the models are not
    assert e1.info.weights_sha256 == model_identity(e1.info.sha256, one.parent, ("weights.bin",))
    assert Engine(MODELS / "digits.onnx").info.weights_sha256 == sha256_file(MODELS / "digits.onnx")
    assert main(["info", str(one), "--json"]) == 0
    shown = json.loads(capsys.readouterr().out)
    assert shown["sha256"] == e1.info.sha256 and shown["weights_sha256"] == e1.info.weights_sha256
    runs = [_record(e, [table], stop_after=1, chunk_rows=4) for e in (e1, e2)]
    with ResultStore() as store:
        models = [store.run_metadata(r)["model"] for r in runs]
    assert models[0]["sha256"] == models[1]["sha256"]
    assert [m["weights_sha256"] for m in models] == [e1.info.weights_sha256, e2.info.weights_sha256]
    assert models[0]["external_data"] == ["weights.bin"]
    (one.parent / "weights.bin").write_bytes((two.parent / "weights.bin").read_bytes())  # new weights, same .onnx
    text = _refusal(prepare_resume, runs[0])
    assert text == (f"Cannot resume: model.onnx with its weights (external data: weights.bin) has changed since this "
                    f"run scored with it (SHA-256 was {e1.info.weights_sha256[:12]}…, is now "
                    f"{e2.info.weights_sha256[:12]}…). Resuming would mix two models' results in one run; score the "
                    "inputs again as a new run instead.")
    assert main(["resume", runs[0], "-q"]) == 2
    assert capsys.readouterr().err == f"inferdesk: {text}\n"
    assert len(prepare_resume(runs[1]).done) == 4  # the other run's weights are as they were


def _interrupted_score(monkeypatch, argv, after=4):
    """``inferdesk score ARGV``, interrupted (Ctrl+C) after ``after`` items; returns its run id."""
    import numpy as np

    import desktop.engine.batch as batch_module

    real = batch_module.run_batches

    def interrupted(*args, **kwargs):
        n = 0
        for batch in real(*args, **kwargs):
            for i in range(len(batch)):  # one item at a time, so that the interruption falls between items
                if n == after:
                    raise KeyboardInterrupt
                n += 1
                yield batch.take(np.arange(i, i + 1))

    with monkeypatch.context() as patched:
        patched.setattr(batch_module, "run_batches", interrupted)
        assert main(["score", *argv, "-q", "--workers", "0"]) == 130
    [run] = list_runs(1)
    assert run.status == "cancelled" and run.ok + run.failed == after
    return run.id


def test_score_records_its_output_settings_and_resume_restores_them(tmp_path, monkeypatch, capsys):
    out = tmp_path / "scores.jsonl"
    run_id = _interrupted_score(monkeypatch, [str(MODELS / "digits.onnx"), str(DIGITS), "--top-k", "1",
                                              "--out", str(out)])
    assert show_run(run_id)["output"] == {"format": "jsonl", "top_k": 1, "out": str(out), "workers": 0,
                                         "save_inputs": None}
    capsys.readouterr()
    assert main(["resume", run_id]) == 0  # no --top-k, no --format: the run's own
    captured = capsys.readouterr()
    rest = [json.loads(line) for line in captured.out.splitlines()]
    assert len(rest) == 6 and all(len(r["top"]) == 1 for r in rest)  # 1 label, as the run had, not 5
    assert f"note: the run wrote its results to {out}; add --out {out} to write the whole run there" in captured.err
    with ResultStore() as store:
        assert all(len(r["top"]) == 1 for r in store.records(run_id))


def test_resume_refuses_another_top_k_and_rewrites_the_runs_file_whole_in_another_format(tmp_path, monkeypatch,
                                                                                          capsys):
    out = tmp_path / "scores.csv"
    run_id = _interrupted_score(monkeypatch, [str(MODELS / "digits.onnx"), str(DIGITS), "--top-k", "2",
                                              "--format", "csv", "--out", str(out)])
    capsys.readouterr()
    assert main(["resume", run_id, "--top-k", "5"]) == 2
    assert capsys.readouterr().err == (f"inferdesk: Cannot resume with --top-k 5: the run was scored with --top-k 2, "
                                       "and its results would have two shapes. Leave --top-k out to use the run's "
                                       "own.\n")
    with ResultStore() as store:
        assert store.run(run_id).ok == 4  # the refusal scored nothing
    assert main(["resume", run_id, "--top-k", "2", "--format", "jsonl", "--out", str(out)]) == 0
    assert f"note: the run wrote csv; {out} is written whole as jsonl" in capsys.readouterr().err
    records = _jsonl_records(out)  # one format in the file: every result, the stored ones rewritten
    assert len(records) == 10 and all(len(r["top"]) == 2 for r in records)


def test_resume_output_defaults_and_notes():
    from desktop.runs.history import resume_output

    old = resume_output({})  # a run recorded before output settings were
    assert (old.format, old.top_k, old.out, old.workers, old.save_inputs, old.notes) == ("jsonl", 5, None, None,
                                                                                         None, ())
    meta = {"output": {"format": "json", "top_k": 3, "out": "/data/all.json", "workers": 2, "save_inputs": "/t"}}
    got = resume_output(meta, fmt=None, out="/data/rest.jsonl")
    assert (got.format, got.top_k, got.workers, got.save_inputs) == ("jsonl", 3, 2, "/t")
    assert got.notes == ("the run wrote json, which resume does not write; /data/rest.jsonl is written whole as jsonl",)
    assert resume_output(meta, out="/data/all.json").notes == (
        "the run wrote json, which resume does not write; /data/all.json is written whole as jsonl",)
    assert resume_output(meta, fmt="csv", top_k=3).notes[0] == "the run wrote json, which resume does not write; " \
                                                                "the rest is written as csv"


def _jsonl_records(path):
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


# ====================================================================== export
@pytest.mark.parametrize("fmt", ["csv", "json", "jsonl"])
def test_export_run_writes_every_result_with_the_runs_provenance_and_the_trail_notes_it(fmt, tmp_path):
    run_id = _record(MODELS / "breast_cancer.onnx", [CSV], chunk_rows=6)
    path = tmp_path / f"ward 3.{fmt}"
    done = export_run(run_id[:6], path)
    assert isinstance(done, Exported) and done == Exported(20, str(path))
    meta = show_run(run_id)
    if fmt == "json":
        doc = json.loads(path.read_text(encoding="utf-8"))
        prov, rows = doc["provenance"], [r["row"] for r in doc["results"]]
        assert not os.path.exists(writers.sidecar_path(path))
    else:
        with open(writers.sidecar_path(path), encoding="utf-8") as fh:
            prov = json.load(fh)
        assert prov["rows"] == 20 and prov["format"] == fmt
        if fmt == "csv":
            rows = [int(r["row"]) for r in csv.DictReader(open(path, newline="", encoding="utf-8"))]
        else:
            rows = [json.loads(line)["row"] for line in path.read_text(encoding="utf-8").splitlines()]
    assert rows == list(range(1, 21))  # all of them, in run order
    assert prov["run_id"] == run_id and prov["run_started_at"] == meta["started_at"]
    assert prov["model"] == {"file_name": "breast_cancer.onnx", "sha256": meta["model"]["sha256"]}
    assert prov["profile_sha256"] == meta["profile_sha256"] and prov["exported_by"] == "InferDesk window"
    [noted] = _trail("export", run_id)
    assert noted["exported_to"] == str(path) and noted["format"] == fmt
    assert verify().ok


def test_export_run_format_and_exporter_can_be_given():
    run_id = _record(MODELS / "breast_cancer.onnx", [CSV])
    stream = io.StringIO()
    assert export_run(run_id, stream) == Exported(20, "<stdout>")  # a stream: JSON lines unless told
    assert [json.loads(line)["row"] for line in stream.getvalue().splitlines()] == list(range(1, 21))
    stream = io.StringIO()
    assert export_run(run_id, stream, fmt="json", exported_by="inferdesk history export").n == 20
    doc = json.loads(stream.getvalue())
    assert doc["provenance"]["run_id"] == run_id and doc["provenance"]["exported_by"] == "inferdesk history export"
    assert [(n["exported_to"], n["format"]) for n in _trail("export", run_id)] == [("<stdout>", "jsonl"),
                                                                                  ("<stdout>", "json")]


def test_export_run_with_a_format_other_than_the_extension(tmp_path):
    run_id = _record(MODELS / "breast_cancer.onnx", [CSV])
    path = tmp_path / "results.txt"
    assert export_run(run_id, path, fmt="csv").n == 20
    assert path.read_text(encoding="utf-8").startswith("input,row,ok,error,")
    assert _trail("export", run_id)[0]["format"] == "csv"


def test_the_cli_exports_through_the_runs_layer(tmp_path, capsys):
    run_id = _record(MODELS / "breast_cancer.onnx", [CSV])
    assert main(["history", "export", run_id, "--format", "json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert len(doc["results"]) == 20 and doc["provenance"]["exported_by"] == "inferdesk history export"
    out = tmp_path / "x.csv"
    assert main(["history", "export", run_id, "--format", "csv", "--out", str(out)]) == 0
    assert [(n["exported_to"], n["format"]) for n in _trail("export", run_id)] == [("<stdout>", "json"),
                                                                                  (str(out), "csv")]


def test_export_results_writes_the_windows_table_as_history_export_does(tmp_path, drive):
    run_id = _record(MODELS / "breast_cancer.onnx", [CSV], chunk_rows=6)
    table = [s.batch for s in drive(open_run(run_id))[0]]
    prov = results_provenance(run_id)
    assert export_results(table, tmp_path / "table.csv", prov) == 20
    export_run(run_id, tmp_path / "run.csv")
    assert (tmp_path / "table.csv").read_text(encoding="utf-8") == (tmp_path / "run.csv").read_text(encoding="utf-8")
    assert export_results([], tmp_path / "empty.json") == 0
    assert json.loads((tmp_path / "empty.json").read_text())["provenance"]["run_id"] is None


def test_results_provenance_of_a_recorded_run_of_an_engine_or_of_nothing(tmp_path):
    run_id = _record(MODELS / "breast_cancer.onnx", [CSV])
    prov = results_provenance(run_id)
    assert prov["run_id"] == run_id and prov["exported_by"] == "InferDesk window"
    assert prov["model"]["sha256"] == show_run(run_id)["model"]["sha256"]
    engine = Engine(MODELS / "digits.onnx")
    unrecorded = results_provenance("0123456789ab", engine)  # not in the history: what the engine tells
    assert unrecorded["run_id"] == "0123456789ab" and unrecorded["model"]["file_name"] == "digits.onnx"
    assert unrecorded["model"]["sha256"] == engine.info.sha256 and unrecorded["run_started_at"] is None
    assert results_provenance(None, engine)["run_id"] is None
    assert results_provenance("0123456789ab") is None and results_provenance(None) is None
    missing = tmp_path / "none" / "results.sqlite3"  # no database there: opened read-only, so not created
    assert results_provenance(run_id, engine, store_path=missing, exported_by="x")["exported_by"] == "x"
    assert not missing.exists()


def test_note_export_records_the_format_from_the_extension(tmp_path):
    run_id = _record(MODELS / "breast_cancer.onnx", [CSV])
    for name in ("a.csv", "b.TSV", "c.jsonl", "d.json", "e"):
        assert note_export(run_id, tmp_path / name) is True
    assert [(os.path.basename(n["exported_to"]), n["format"]) for n in _trail("export", run_id)] == [
        ("a.csv", "csv"), ("b.TSV", "csv"), ("c.jsonl", "jsonl"), ("d.json", "json"), ("e", "json")]
    assert verify().ok


# ====================================================================== rename, delete
def test_rename_run_strips_the_name_and_refuses_an_empty_one(capsys):
    run_id = _record(MODELS / "breast_cancer.onnx", [CSV])
    renamed = rename_run(run_id[:4], "  Ward 3, morning \n")
    assert renamed.id == run_id and renamed.name == "Ward 3, morning"
    assert _trail("rename", run_id) == [{"name": "Ward 3, morning"}]
    assert _refusal(rename_run, run_id, " \t ") == "A run's name cannot be empty."
    assert list_runs()[0].name == "Ward 3, morning"
    assert main(["history", "rename", run_id]) == 2  # no name given: the same refusal
    assert capsys.readouterr().err == "inferdesk: A run's name cannot be empty.\n"
    assert main(["history", "rename", run_id, "Ward 4"]) == 0
    assert list_runs()[0].name == "Ward 4" and len(_trail("rename", run_id)) == 2


def test_delete_run_refuses_a_running_run_then_deletes_it_keeping_the_trail(capsys):
    engine = Engine(MODELS / "breast_cancer.onnx")
    store = ResultStore()
    rec = store.start_run(engine, [str(CSV)], total=20)  # still being scored, by this process
    for batch in run_batches(engine, [CSV], chunk_rows=6):
        rec.add_batch(batch)
        rec.commit()
        break
    try:
        assert list_runs()[0].status == "running"
        text = _refusal(delete_run, rec.run_id)
        assert text.startswith(f"The run {run_title(list_runs()[0])} is still running")
        assert main(["history", "delete", rec.run_id]) == 2
        assert capsys.readouterr().err == f"inferdesk: {text}\n"
        assert list_runs()[0].id == rec.run_id and _trail("delete", rec.run_id) == []
    finally:
        rec.finish()
        store.close()
    gone = delete_run(rec.run_id[:5])
    assert gone.id == rec.run_id and gone.status == "finished" and gone.ok == 6
    assert list_runs() == []
    [deleted] = _trail("delete", rec.run_id)
    assert deleted["by"] and deleted["deleted_at"]
    assert len(_trail("run", rec.run_id)) == 1  # its start record stays in the trail
    assert verify().ok


def test_the_cli_delete_prints_the_deleted_runs_line(capsys):
    run_id = _record(MODELS / "breast_cancer.onnx", [CSV])
    assert main(["history", "delete", run_id[:6]]) == 0
    assert capsys.readouterr().err == f"deleted run {run_id} (20 results); the audit trail records it\n"
    with pytest.raises(StoreError, match="No run"):
        delete_run(run_id)


@pytest.mark.parametrize("ref", ["%", "_", "%%", "a%", "_" * 12, " ", "", "../", "'; DROP TABLE runs; --"])
def test_a_run_reference_that_is_not_hexadecimal_is_refused_and_deletes_nothing(ref, capsys):
    run_id = _record(MODELS / "breast_cancer.onnx", [CSV])
    with pytest.raises(StoreError, match="a run's id is hexadecimal"):
        delete_run(ref)
    assert main(["history", "delete", ref]) == 2
    err = capsys.readouterr().err
    assert err.startswith("inferdesk: ") and ("hexadecimal" in err or "needs a run id" in err)
    assert [r.id for r in list_runs()] == [run_id] and _trail("delete", run_id) == []


def test_a_hexadecimal_prefix_in_any_case_finds_its_run():
    run_id = _record(MODELS / "breast_cancer.onnx", [CSV])
    assert show_run(run_id[:4].upper())["id"] == run_id
    assert show_run(f" {run_id} ")["id"] == run_id


# ====================================================================== verify
def test_verify_intact_broken_and_missing(tmp_path, capsys):
    run_id = _record(MODELS / "breast_cancer.onnx", [CSV])
    report = verify()
    assert report.ok and report.state == "intact" and report.checked > 0
    assert main(["audit", "verify"]) == 0
    assert capsys.readouterr().out == report.text() + "\n"
    with sqlite3.connect(str(history.default_store_path())) as db:
        db.execute("UPDATE runs SET provider='x' WHERE id=?", (run_id,))  # edited behind the trail's back
    broken = verify()
    assert not broken.ok and broken.state == "broken" and f"the provider of run {run_id}" in broken.reason
    assert main(["audit", "verify"]) == 1
    assert capsys.readouterr().out == broken.text() + "\n"
    missing = verify(store_path=tmp_path / "nowhere" / "results.sqlite3")
    assert not missing.ok and missing.state == "missing"
    assert not (tmp_path / "nowhere").exists()
