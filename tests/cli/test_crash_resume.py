"""Kill a real scoring process mid-batch (SIGKILL, SIGTERM): nothing it delivered is lost, resume finishes the rest."""

from __future__ import annotations

import csv
import io
import json
import os
import shutil
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
from PIL import Image

from desktop.engine.store import ResultStore
from tests.conftest import MODELS, ROOT

N = 160
pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="SIGKILL and SIGTERM are POSIX")


@pytest.fixture
def big_folder(tmp_path):
    folder = tmp_path / "scans"
    folder.mkdir()
    y, x = np.mgrid[0:1800, 0:1800]
    img = ((x + y) % 256).astype(np.uint8)  # slow enough to decode, small on disk
    first = folder / "scan_0000.png"
    Image.fromarray(img, "L").save(first, compress_level=1)
    for i in range(1, N):
        shutil.copyfile(first, folder / f"scan_{i:04d}.png")
    return folder


def _complete_lines(path) -> list[str]:
    if path is None or not path.exists():
        return []
    return [line for line in path.read_text().splitlines(keepends=True) if line.endswith("\n")]


def _inferdesk(*args, cwd, env, timeout=300):
    return subprocess.run([sys.executable, "-m", "desktop", *args], cwd=cwd, env=env, capture_output=True,
                          text=True, timeout=timeout)


def _env():
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT)] + [p for p in [env.get("PYTHONPATH")] if p])
    return env


def _temp_of(out):
    """The temporary file the run writes until it renames it to ``out`` (None before it exists)."""
    found = sorted(out.parent.glob(f".{out.name}.*.tmp"))
    return found[0] if found else None


def _lines(path):
    return [json.loads(line) for line in _complete_lines(path)]


def _score_until(out, *extra, at_least=30, relative=False):
    """Start ``inferdesk score`` on the big folder into ``out``; return it once ``at_least`` results are written.

    ``relative``: started in the folder of ``out`` with the inputs and ``--out`` given relative to it."""
    folder = out.parent
    inputs, target = ("scans", out.name) if relative else (str(folder / "scans"), str(out))
    proc = subprocess.Popen([sys.executable, "-m", "desktop", "score", str(MODELS / "digits.onnx"), inputs,
                             "--out", target, "-q", *extra], cwd=folder if relative else ROOT, env=_env(),
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 120
    header = 1 if "csv" in extra else 0
    while len(_complete_lines(_temp_of(out))) < at_least + header:
        assert proc.poll() is None, f"finished too early: {proc.stderr.read().decode()}"
        assert time.monotonic() < deadline, "no progress"
        time.sleep(0.02)
    return proc


@pytest.mark.skipif(sys.platform == "win32", reason="SIGKILL is POSIX")
def test_sigkill_loses_nothing_and_resume_from_another_folder_scores_only_the_rest(big_folder, tmp_path):
    """Scored with relative paths and killed; refused while it runs and while a scored input differs; then
    resumed from another folder: only the rest is scored, once, and the file gets the whole run."""
    out = tmp_path / "out.jsonl"
    out.write_text("the results of an earlier run\n")
    env = _env()
    proc = _score_until(out, relative=True)
    deadline = time.monotonic() + 120
    proc.send_signal(signal.SIGSTOP)  # paused, not ended: its process is alive, as a slow scorer's is
    with ResultStore() as store:
        [running] = store.runs()
    assert running.status == "running"
    # while it is being scored, neither a resume nor a deletion is accepted
    busy = _inferdesk("resume", running.id, cwd=ROOT, env=env)
    assert busy.returncode == 2 and "is still being scored" in busy.stderr, busy.stderr
    gone = _inferdesk("history", "delete", running.id, cwd=ROOT, env=env)
    assert gone.returncode == 2 and "is still running" in gone.stderr, gone.stderr
    paused = len(_lines(_temp_of(out)))
    proc.send_signal(signal.SIGCONT)
    while len(_lines(_temp_of(out))) < paused + 3:  # and the scorer goes on, undisturbed
        assert proc.poll() is None, f"finished too early: {proc.stderr.read().decode()}"
        assert time.monotonic() < deadline, "no progress"
        time.sleep(0.005)
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)
    proc.stderr.close()
    assert out.read_text() == "the results of an earlier run\n"  # never half a file over a good one
    delivered = _lines(_temp_of(out))  # handed to the output so far
    assert 30 <= len(delivered) < N

    with ResultStore() as store:
        [run] = store.unfinished()
        assert run.status == "interrupted" and run.total == N
        assert run.inputs == (str(big_folder),)  # recorded absolute, though given relative
        stored = {(r["input"], r["row"]) for r in store.records(run.id)}
    # every result that reached the output is in the database (the output has the paths as given)
    assert {(str(tmp_path / r["input"]), r["row"]) for r in delivered} <= stored
    assert len(stored) < N

    # a scored scan replaced since: refused, naming it, and nothing is scored
    scored = sorted(path for path, _ in stored)[0]
    original = tmp_path / "original.png"
    shutil.copyfile(scored, original)
    Image.new("L", (8, 8), 7).save(scored)
    changed = _inferdesk("resume", run.id[:6], cwd=ROOT, env=env)
    assert changed.returncode == 2
    assert changed.stderr.startswith(f"inferdesk: Cannot resume: the input {scored} has changed since this run "
                                     "scored it"), changed.stderr
    shutil.copyfile(original, scored)

    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    out2 = tmp_path / "rest.jsonl"
    done = _inferdesk("resume", run.id[:6], "--out", str(out2), cwd=elsewhere, env=env)
    assert done.returncode == 0, done.stderr
    assert f"{N - len(stored)} items left of run {run.id} ({len(stored)} already scored)" in done.stderr
    whole = _lines(out2)
    assert len(whole) == N  # the file gets the whole run: what was stored, then the rest
    assert {(r["input"], r["row"]) for r in whole[:len(stored)]} == stored
    assert not {(r["input"], r["row"]) for r in whole[len(stored):]} & stored  # only what had no result was scored
    with ResultStore() as store:
        summary = store.run(run.id)
        records = list(store.records(run.id))
        assert summary.status == "finished" and (summary.ok, summary.failed) == (N, 0)
        assert sorted(r["input"] for r in records) == sorted(str(p) for p in big_folder.iterdir())
        kinds = [k for (k,) in store._db.execute("SELECT kind FROM ledger WHERE run_id=? AND kind IN "
                                                 "('resume', 'finish') ORDER BY seq", (run.id,))]
        assert kinds == ["resume", "finish"]  # one resume, one end
        assert store.verify().ok
        assert store.unfinished() == []


def _history_export(run_id, path) -> str:
    done = subprocess.run([sys.executable, "-m", "desktop", "history", "export", run_id, "--format", "csv",
                           "--out", str(path)], cwd=ROOT, env=dict(os.environ), capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 0, done.stderr
    return path.read_text()


def test_sigterm_records_the_run_as_cancelled_and_resume_into_the_same_file_gives_the_whole_run(big_folder, tmp_path):
    out = tmp_path / "same.csv"
    proc = _score_until(out, "--format", "csv")
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=60)
    err = err.decode()
    assert proc.returncode == 143, err
    with ResultStore() as store:
        [run] = store.runs()
        stored = [(r["input"], r["row"]) for r in store.records(run.id)]
        assert run.status == "cancelled" and 30 <= len(stored) < N  # its finish is recorded
        assert store.verify().ok
    assert err == (f"inferdesk: terminated (SIGTERM): run {run.id} recorded as cancelled with {len(stored)} "
                   f"results, all of them in {out}; 'inferdesk resume {run.id}' scores the rest\n")
    rows = list(csv.DictReader(io.StringIO(out.read_text())))
    assert [(r["input"], None) for r in rows] == stored  # the output ends exactly where the history ends
    assert out.read_text() == _history_export(run.id, tmp_path / "export.csv")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["export.csv", "export.csv.provenance.json", "same.csv",
                                                         "same.csv.provenance.json", "scans"]

    done = subprocess.run([sys.executable, "-m", "desktop", "resume", run.id, "--format", "csv", "--out", str(out)],
                          cwd=ROOT, env=dict(os.environ), capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    text = out.read_text()
    lines = text.splitlines()
    assert lines.count(lines[0]) == 1 and lines[0].startswith("input,row,ok,error")  # one header
    rows = list(csv.DictReader(io.StringIO(text)))
    assert sorted(r["input"] for r in rows) == sorted(str(p) for p in big_folder.iterdir())  # every row once
    assert text == _history_export(run.id, tmp_path / "export.csv")  # the whole run, as history export gives it
    side = json.loads((tmp_path / "same.csv.provenance.json").read_text())
    assert side["rows"] == N and side["run_id"] == run.id
    with ResultStore() as store:
        assert store.run(run.id).status == "finished" and store.verify().ok
