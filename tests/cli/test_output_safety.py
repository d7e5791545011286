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


def _run_count() -> int:
    with ResultStore() as store:
        return len(store.runs())


def _refused(argv, capsys) -> str:
    assert main(argv) == 2
    out, err = capsys.readouterr()
    assert err.count("\n") == 1 and err.startswith("inferdesk: Will not write results to"), err
    assert "Traceback" not in err
    return err


def test_out_naming_the_input_is_refused_and_the_input_is_untouched(tmp_path, capsys):
    victim = tmp_path / "victim.csv"
    shutil.copyfile(CSV, victim)
    before = _snapshot(tmp_path)
    runs = _run_count() if default_path().exists() else 0
    err = _refused(["score", str(MODEL), str(victim), "--format", "csv", "--out", str(victim)], capsys)
    assert "a file this run reads" in err and str(victim) in err
    assert _snapshot(tmp_path) == before  # nothing written, not even a temporary file
    assert (_run_count() if default_path().exists() else 0) == runs  # refused before the run was recorded


def test_out_through_a_hard_link_or_a_symbolic_link_to_the_input_is_refused(tmp_path, capsys):
    victim = tmp_path / "victim.csv"
    shutil.copyfile(CSV, victim)
    os.link(victim, tmp_path / "hard.csv")
    os.symlink(victim, tmp_path / "soft.csv")
    before = _snapshot(tmp_path)
    for name in ("hard.csv", "soft.csv"):
        _refused(["score", str(MODEL), str(victim), "--format", "csv", "--out", str(tmp_path / name)], capsys)
    assert _snapshot(tmp_path) == before


def test_out_naming_a_file_inside_an_input_folder_is_refused(tmp_path, capsys):
    folder = tmp_path / "digits"
    shutil.copytree(SAMPLES / "digits", folder)
    victim = next(iter(sorted(folder.iterdir())))
    before = _snapshot(tmp_path)
    err = _refused(["score", str(MODELS / "digits.onnx"), str(folder), "--out", str(victim)], capsys)
    assert str(victim) in err
    assert _snapshot(tmp_path) == before


def test_out_naming_the_model_its_profile_or_its_external_data_is_refused(tmp_path, capsys):
    model = tmp_path / "sum.onnx"
    proto = onnx.load(str(table_model(tmp_path / "tmp.onnx")))
    onnx.save_model(proto, str(model), save_as_external_data=True, all_tensors_to_one_file=True,
                    location="sum.weights", size_threshold=0)
    (tmp_path / "tmp.onnx").unlink()
    data = tmp_path / "rows.csv"
    data.write_text("a,b,c\n1,2,3\n4,5,6\n")
    profile = tmp_path / "sum.profile.json"
    profile.write_text(json.dumps({"task": "regression"}))
    before = _snapshot(tmp_path)
    for victim, what in ((model, "the model"), (tmp_path / "sum.weights", "the model's external data"),
                         (profile, "the model's profile")):
        err = _refused(["score", str(model), str(data), "--format", "jsonl", "--out", str(victim)], capsys)
        assert what in err, err
    assert _snapshot(tmp_path) == before
    assert main(["score", str(model), str(data), "--out", str(tmp_path / "ok.jsonl"), "-q"]) == 0  # it does run


@pytest.mark.parametrize("suffix", ["", "-wal", "-shm", "/../blobs/ab/x.npy"])
def test_out_naming_the_history_database_is_refused_for_score_and_history_export(suffix, tmp_path, capsys):
    run_id = _one_run()
    db = default_path()
    victim = os.path.normpath(str(db) + suffix) if suffix.startswith("/") else str(db) + suffix
    data_dir = db.parent
    before = _snapshot(data_dir)
    for argv in (["score", str(MODEL), str(CSV), "--out", victim],
                 ["score", str(MODEL), str(CSV), "--out", victim, "--no-history"],
                 ["history", "export", run_id, "--out", victim]):
        err = _refused(argv, capsys)
        assert "the results database" in err, err
    after = _snapshot(data_dir)
    assert after.keys() == before.keys() and after[db] == before[db]
    with ResultStore() as store:
        assert [r.id for r in store.runs()] == [run_id] and store.verify().ok


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


def test_a_failed_write_leaves_the_earlier_file_whole_and_names_it(tmp_path, capsys, monkeypatch):
    out = tmp_path / "results.jsonl"
    out.write_text("the results of last week\n")
    writers.write_sidecar(out, {"run_id": "old"}, "jsonl", 1)
    before = _snapshot(tmp_path)
    real_write = writers.JsonlWriter.write
    calls = []

    def full(self, batch):
        calls.append(1)
        if len(calls) == 2:
            raise OSError(errno.ENOSPC, "No space left on device")  # as a write() on a full disk: no file name
        real_write(self, batch)

    monkeypatch.setattr(writers.JsonlWriter, "write", full)
    monkeypatch.setattr(cli, "DELIVERY_ITEMS", 1)
    assert main(["score", str(MODELS / "digits.onnx"), str(SAMPLES / "digits"), "--out", str(out), "-q"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "Traceback" not in err
    assert err.startswith(f"inferdesk: cannot write {out}: No space left on device; {out} is left as it was")
    assert _snapshot(tmp_path) == before  # the earlier file and sidecar as they were, no temporary file left
    with ResultStore() as store:
        [run] = store.runs()
        assert run.status == "cancelled"  # its results are kept; not all of them reached the output


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


def test_output_is_renamed_into_place_only_when_complete(tmp_path, monkeypatch):
    """While the run scores, the file asked for still holds what it held; the results go to a temporary file."""
    out = tmp_path / "results.csv"
    out.write_text("old\n")
    seen = []
    real_commit = writers.AtomicFile.commit

    def commit(self):
        seen.append((out.read_text(), sorted(p.name for p in tmp_path.iterdir())))
        real_commit(self)

    monkeypatch.setattr(writers.AtomicFile, "commit", commit)
    assert main(["score", str(MODEL), str(CSV), "--format", "csv", "--out", str(out), "-q"]) == 0
    (text, names), (side_text, side_names) = seen  # the results, then the sidecar
    assert text == "old\n" and len(names) == 2 and names[0].startswith(".results.csv.") and names[1] == "results.csv"
    assert out.read_text().count("\n") == 21
    assert sorted(p.name for p in tmp_path.iterdir()) == ["results.csv", "results.csv.provenance.json"]


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


def test_save_inputs_into_a_folder_used_before_keeps_every_runs_files(tmp_path, capsys):
    """Two runs that each save an item named x.png at position 0: each record points to its own tensor."""
    first, second = tmp_path / "one", tmp_path / "two"
    first.mkdir()
    second.mkdir()
    shutil.copyfile(SAMPLES / "digits" / "digit_0_386.png", first / "x.png")
    shutil.copyfile(SAMPLES / "digits" / "digit_7_1496.png", second / "x.png")
    saved = tmp_path / "seen"
    records = []
    for folder in (first, second, first):
        assert main(["score", str(MODELS / "digits.onnx"), str(folder / "x.png"), "--save-inputs", str(saved)]) == 0
        [rec] = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
        records.append((rec["saved_input"], np.load(rec["saved_input"]).copy()))
    assert len({path for path, _ in records}) == 3
    assert not np.array_equal(records[0][1], records[1][1])
    for path, tensor in records:
        assert np.array_equal(np.load(path), tensor)  # still the tensor its record was given
    with ResultStore() as store:
        for run, (path, _) in zip(reversed(store.runs()), records):
            assert os.path.dirname(path) == str(saved / run.id)  # a folder of its own, named by the run
            [stored] = list(store.records(run.id))
            assert stored["saved_input"] == path
    assert main(["score", str(MODELS / "digits.onnx"), str(first / "x.png"), "--save-inputs", str(saved),
                 "--no-history"]) == 0
    [rec] = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert os.path.dirname(os.path.dirname(rec["saved_input"])) == str(saved)  # DIR/<UTC time>/
    for path, tensor in records:
        assert np.array_equal(np.load(path), tensor)


def test_a_batch_never_writes_over_a_saved_input(tmp_path):
    from desktop.engine import Engine, run_batches

    engine = Engine(MODELS / "digits.onnx")
    image = SAMPLES / "digits" / "digit_0_386.png"
    paths = []
    for _ in range(2):  # the same folder twice: the same names at the same positions
        for batch in run_batches(engine, [image], save_inputs=str(tmp_path)):
            paths += list(batch.saved_input.values())
    assert len(set(paths)) == 2 and all(os.path.isfile(p) for p in paths)


def test_the_store_locked_by_another_program_stops_the_run_where_the_output_ends(tmp_path, capsys, monkeypatch):
    import desktop.engine.store as store_module
    from desktop.engine.store import RunRecorder

    monkeypatch.setattr(store_module, "BUSY_TIMEOUT_S", 0.2)
    _one_run()  # the database exists
    monkeypatch.setattr(cli, "DELIVERY_ITEMS", 1)
    _small_chunks(monkeypatch, 3)
    holder = {}
    real_commit = RunRecorder.commit

    def commit(self):
        holder["n"] = holder.get("n", 0) + 1
        if holder["n"] == 3:  # another program takes the database for longer than the busy timeout
            other = sqlite3.connect(str(default_path()), isolation_level=None, timeout=0)
            other.execute("BEGIN EXCLUSIVE")
            holder["other"] = other
        real_commit(self)

    monkeypatch.setattr(RunRecorder, "commit", commit)
    out = tmp_path / "out.jsonl"
    try:
        code = main(["score", str(MODEL), str(CSV), "--out", str(out), "-q"])
    finally:
        holder["other"].rollback() if holder["other"].in_transaction else None
        holder["other"].close()
    err = capsys.readouterr().err
    assert code == 2
    assert err.count("\n") == 1 and "Traceback" not in err, err
    assert "database is locked" in err and str(default_path()) in err and "'inferdesk resume " in err
    _agree(out)


def _small_chunks(monkeypatch, rows: int) -> None:
    import desktop.engine.batch as batch_module

    real_run = batch_module.run_batches

    def small(engine, items, **options):
        yield from real_run(engine, items, chunk_rows=rows, **options)

    monkeypatch.setattr(batch_module, "run_batches", small)


def _agree(out) -> None:
    """The output holds exactly the newest run's stored results, in order, and some but not all of them."""
    with ResultStore() as store:
        run = store.runs()[0]
        stored = [(r["input"], r["row"]) for r in store.records(run.id)]
        assert run.status in ("running", "interrupted")  # not recorded as finished: it can be resumed
    delivered = [(r["input"], r["row"]) for r in map(json.loads, out.read_text().splitlines())]
    assert delivered == stored and 0 < len(stored) < 20


@pytest.fixture
def small_disk(tmp_path):
    """``small_disk(size)``: a tmpfs of that size (``"1m"``), unmounted after the test; skipped where mounting
    is not permitted (it needs root or CAP_SYS_ADMIN)."""
    import subprocess

    mounted = []

    def make(size: str):
        mount = tmp_path / "small"
        mount.mkdir()
        if os.name != "posix" or shutil.which("mount") is None:
            pytest.skip("needs mount(8) to make a small file system")
        done = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(mount)],
                              capture_output=True, text=True)
        if done.returncode != 0:
            pytest.skip(f"cannot mount a small tmpfs here: {done.stderr.strip() or done.returncode}")
        mounted.append(mount)
        return mount

    yield make
    for mount in mounted:
        subprocess.run(["umount", "-l", str(mount)], capture_output=True)


def _fill(folder) -> None:
    with open(folder / "filler", "wb") as fh:
        try:
            while True:
                fh.write(b"\0" * 65536)
                fh.flush()
        except OSError as exc:
            assert exc.errno == errno.ENOSPC


def test_a_full_disk_under_the_store_stops_the_run_where_the_output_ends(small_disk, tmp_path, capsys, monkeypatch):
    from desktop.engine.store import RunRecorder

    small_disk = small_disk("16m")
    monkeypatch.setenv("INFERDESK_DATA_DIR", str(small_disk / "data"))
    monkeypatch.setattr(cli, "DELIVERY_ITEMS", 1)
    _small_chunks(monkeypatch, 3)
    calls = []
    real_commit = RunRecorder.commit

    def commit(self):
        calls.append(1)
        if len(calls) == 3:
            _fill(small_disk)
        real_commit(self)

    monkeypatch.setattr(RunRecorder, "commit", commit)
    out = tmp_path / "out.jsonl"
    code = main(["score", str(MODEL), str(CSV), "--out", str(out), "-q"])
    err = capsys.readouterr().err
    assert len(calls) >= 3, err
    (small_disk / "filler").unlink()
    assert code == 2
    assert err.count("\n") == 1 and "Traceback" not in err, err
    assert "full" in err and str(small_disk / "data") in err  # names the database (or its output files' folder)
    _agree(out)


@pytest.mark.parametrize("process", [False, True], ids=["writer thread", "writer process"])
def test_a_full_disk_under_the_output_leaves_the_earlier_file_whole(process, small_disk, capsys, monkeypatch):
    small_disk = small_disk("1m")
    big = small_disk.parent / "big.csv"
    lines = CSV.read_text().splitlines(keepends=True)
    big.write_text(lines[0] + "".join(lines[1:]) * 400)  # 8,000 rows: more text than the disk holds
    out = small_disk / "results.csv"
    out.write_text("the results of last week\n")
    if process:
        monkeypatch.setattr(cli, "PROCESS_WRITER_BYTES", 0)
    assert main(["score", str(MODEL), str(big), "--format", "csv", "--out", str(out), "-q"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "Traceback" not in err, err
    assert err.startswith(f"inferdesk: cannot write {out}: No space left on device"), err
    assert sorted(p.name for p in small_disk.iterdir()) == ["results.csv"]  # no temporary file left
    assert out.read_text() == "the results of last week\n"


def test_resume_out_naming_an_input_is_refused_before_the_run_is_taken_up(tmp_path, monkeypatch, capsys):
    from tests.runs.test_run_history import _interrupted_score

    table = tmp_path / "patients.csv"
    shutil.copyfile(CSV, table)
    run_id = _interrupted_score(monkeypatch, [str(MODEL), str(table), "--out", str(tmp_path / "scores.jsonl")])
    capsys.readouterr()
    with ResultStore() as store:
        trail = store._db.execute("SELECT COUNT(*) FROM ledger").fetchone()[0]
    before = table.read_bytes()
    err = _refused(["resume", run_id, "--out", str(table)], capsys)
    assert "a file this run reads" in err and str(table) in err
    assert table.read_bytes() == before
    with ResultStore() as store:
        assert store.run(run_id).status == "cancelled"  # as it was: not taken up, nothing recorded
        assert store._db.execute("SELECT COUNT(*) FROM ledger").fetchone()[0] == trail
