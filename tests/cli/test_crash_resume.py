"""Kill a real scoring process with SIGKILL mid-batch: nothing it delivered is lost, and resume finishes the rest."""

from __future__ import annotations

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


def _lines(path):
    if not path.exists():
        return []
    text = path.read_text()
    return [json.loads(line) for line in text.splitlines(keepends=True) if line.endswith("\n")]


def _inferdesk(*args, cwd, env, timeout=300):
    return subprocess.run([sys.executable, "-m", "desktop", *args], cwd=cwd, env=env, capture_output=True,
                          text=True, timeout=timeout)


@pytest.mark.skipif(sys.platform == "win32", reason="SIGKILL is POSIX")
def test_sigkill_loses_nothing_and_resume_from_another_folder_scores_only_the_rest(big_folder, tmp_path):
    """Scored with relative paths and killed; refused while it runs and while a scored input differs; then
    resumed from another folder: only the rest is scored, once."""
    out = tmp_path / "out.jsonl"
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT)] + [p for p in [env.get("PYTHONPATH")] if p])
    proc = subprocess.Popen([sys.executable, "-m", "desktop", "score", str(MODELS / "digits.onnx"), "scans",
                             "--out", "out.jsonl", "-q"], cwd=tmp_path, env=env,  # relative paths
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 120
    while len(_lines(out)) < 30:
        assert proc.poll() is None, f"finished too early: {proc.stderr.read().decode()}"
        assert time.monotonic() < deadline, "no progress"
        time.sleep(0.02)
    proc.send_signal(signal.SIGSTOP)  # paused, not ended: its process is alive, as a slow scorer's is
    with ResultStore() as store:
        [running] = store.runs()
    assert running.status == "running"
    # while it is being scored, neither a resume nor a deletion is accepted
    busy = _inferdesk("resume", running.id, cwd=ROOT, env=env)
    assert busy.returncode == 2 and "is still being scored" in busy.stderr, busy.stderr
    gone = _inferdesk("history", "delete", running.id, cwd=ROOT, env=env)
    assert gone.returncode == 2 and "is still running" in gone.stderr, gone.stderr
    paused = len(_lines(out))
    proc.send_signal(signal.SIGCONT)
    while len(_lines(out)) < paused + 3:  # and the scorer goes on, undisturbed
        assert proc.poll() is None, f"finished too early: {proc.stderr.read().decode()}"
        assert time.monotonic() < deadline, "no progress"
        time.sleep(0.005)
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)
    proc.stderr.close()
    delivered = _lines(out)
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
    rest = _lines(out2)
    assert len(rest) == N - len(stored)  # only what had no result
    assert not {(r["input"], r["row"]) for r in rest} & stored
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
