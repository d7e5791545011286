"""inferdesk watch: results appended as files arrive, Ctrl+C ends the run as finished, a restart rescores nothing."""

from __future__ import annotations

import json
import os
import shutil
import signal
import threading
import time
from pathlib import Path

from desktop.cli import main
from desktop.engine.store import ResultStore

ROOT = Path(__file__).resolve().parents[2]
DIGITS = str(ROOT / "models" / "digits.onnx")
SAMPLES = sorted((ROOT / "resources" / "samples" / "digits").glob("*.png"))


def later(seconds, fn):
    t = threading.Timer(seconds, fn)
    t.start()
    return t


def test_watch_appends_each_file_and_a_restart_scores_only_new_ones(tmp_path, capsys):
    folder, out = tmp_path / "in", tmp_path / "results.jsonl"
    folder.mkdir()
    shutil.copy(SAMPLES[0], folder / "a.png")  # there at the start
    t = later(0.3, lambda: (folder / "b.png").write_bytes(SAMPLES[1].read_bytes()))
    code = main(["watch", DIGITS, str(folder), "--settle", "0.2", "--max-items", "2", "--out", str(out),
                 "--done", str(tmp_path / "done"), "--copy"])
    t.join()
    err = capsys.readouterr().err
    assert code == 0, err
    records = [json.loads(line) for line in out.read_text().splitlines()]
    assert sorted(Path(r["input"]).name for r in records) == ["a.png", "b.png"]
    assert "2 files scored (2 ok, 0 failed), 0 skipped as scored before" in err
    assert sorted(p.name for p in (tmp_path / "done").iterdir()) == ["a.png", "b.png"]

    t = later(0.3, lambda: (folder / "c.png").write_text("not an image"))
    code = main(["watch", DIGITS, str(folder), "--settle", "0.2", "--max-items", "1", "--out", str(out)])
    t.join()
    err = capsys.readouterr().err
    assert code == 0, err
    records = [json.loads(line) for line in out.read_text().splitlines()]
    assert [Path(r["input"]).name for r in records][2:] == ["c.png"]  # appended; a and b not scored again
    assert "failed: c.png: not a readable image" in err
    assert "1 file scored (0 ok, 1 failed), 2 skipped as scored before" in err


def test_ctrl_c_ends_the_watch_as_a_finished_run(tmp_path, capsys):
    shutil.copy(SAMPLES[0], tmp_path / "a.png")
    t = later(1.0, lambda: os.kill(os.getpid(), signal.SIGINT))
    code = main(["watch", DIGITS, str(tmp_path), "--settle", "0.1"])
    t.join()
    captured = capsys.readouterr()
    assert code == 0, captured.err
    assert [Path(json.loads(line)["input"]).name for line in captured.out.splitlines()] == ["a.png"]
    assert "stopped; 1 file scored" in captured.err
    with ResultStore() as store:
        (run,) = store.runs()
        assert (run.status, run.ok) == ("finished", 1)


def test_out_inside_the_watched_folder_is_refused(tmp_path, capsys):
    assert main(["watch", DIGITS, str(tmp_path), "--out", str(tmp_path / "r.jsonl")]) == 2
    assert "inside the watched folder" in capsys.readouterr().err
