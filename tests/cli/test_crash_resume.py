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


@pytest.mark.skipif(sys.platform == "win32", reason="SIGKILL is POSIX")
def test_sigkill_loses_nothing_and_resume_scores_only_the_rest(big_folder, tmp_path):
    out = tmp_path / "out.jsonl"
    env = dict(os.environ)
    proc = subprocess.Popen([sys.executable, "-m", "desktop", "score", str(MODELS / "digits.onnx"), str(big_folder),
                             "--out", str(out), "-q"], cwd=ROOT, env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 120
    while len(_lines(out)) < 30:
        assert proc.poll() is None, f"finished too early: {proc.stderr.read().decode()}"
        assert time.monotonic() < deadline, "no progress"
        time.sleep(0.02)
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)
    delivered = _lines(out)
    assert 30 <= len(delivered) < N

    with ResultStore() as store:
        [run] = store.unfinished()
        assert run.status == "interrupted" and run.total == N
        stored = {(r["input"], r["row"]) for r in store.records(run.id)}
    # every result that reached the output is in the database
    assert {(r["input"], r["row"]) for r in delivered} <= stored
    assert len(stored) < N

    out2 = tmp_path / "rest.jsonl"
    done = subprocess.run([sys.executable, "-m", "desktop", "resume", run.id[:6], "--out", str(out2)],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert f"left of run {run.id} ({len(stored)} already scored)" in done.stderr
    rest = _lines(out2)
    assert len(rest) == N - len(stored)  # only what had no result
    assert not {(r["input"], r["row"]) for r in rest} & stored
    with ResultStore() as store:
        summary = store.run(run.id)
        records = list(store.records(run.id))
        assert summary.status == "finished" and summary.ok == N
        assert sorted(r["input"] for r in records) == sorted(str(p) for p in big_folder.iterdir())
        assert store.verify().ok
        assert store.unfinished() == []
