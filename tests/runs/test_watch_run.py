"""watch(): files dropped into a folder while it runs are each scored once, when complete; a restart rescores nothing."""

from __future__ import annotations

import shutil
import threading
import time
from pathlib import Path

import pytest

from desktop.engine import Engine
from desktop.engine.store import ResultStore
from desktop.runs.watch import Scored, WatchStarted, watch

ROOT = Path(__file__).resolve().parents[2]
DIGITS = ROOT / "models" / "digits.onnx"
SAMPLES = sorted((ROOT / "resources" / "samples" / "digits").glob("*.png"))
SETTLE = 0.3


@pytest.fixture(scope="module")
def engine():
    return Engine(str(DIGITS))


def drop_files(folder: Path) -> None:
    """Two digits at once, one written slowly in pieces (each pause shorter than the settle time), and a fake PNG."""
    shutil.copy(SAMPLES[0], folder / "a.png")
    time.sleep(0.05)
    shutil.copy(SAMPLES[1], folder / "b.png")
    data = SAMPLES[2].read_bytes()
    step = max(1, len(data) // 6)
    with open(folder / "slow.png", "wb") as fh:
        for i in range(0, len(data), step):
            fh.write(data[i:i + step])
            fh.flush()
            time.sleep(SETTLE / 3)
    (folder / "notes.png").write_text("this is text, not an image")


def run_watch(engine, folder, store, *, expect, seconds=6.0, drop=None, **kw):
    steps = []
    writer = threading.Thread(target=drop, args=(folder,)) if drop else None
    end = time.monotonic() + seconds

    def stop():
        done = sum(isinstance(s, Scored) for s in steps)
        return time.monotonic() > end or (done >= expect and (writer is None or not writer.is_alive())
                                          and time.monotonic() > settled_at[0])

    settled_at = [time.monotonic() + 3 * SETTLE]  # after the last expected file, wait a little for extras
    gen = watch(engine, folder, settle_s=SETTLE, store_path=store, should_stop=stop, timeout_s=0.1, **kw)
    if writer:
        steps.append(next(gen))
        writer.start()
    while True:
        try:
            step = next(gen)
        except StopIteration as end_:
            summary = end_.value
            break
        steps.append(step)
        settled_at[0] = time.monotonic() + 3 * SETTLE
    if writer:
        writer.join()
    return steps, summary


def test_files_dropped_while_watching_are_scored_once_and_a_restart_rescores_nothing(engine, tmp_path):
    folder = tmp_path / "in"
    folder.mkdir()
    store = tmp_path / "history.db"
    steps, summary = run_watch(engine, folder, store, expect=4, drop=drop_files,
                               done_dir=tmp_path / "done", failed_dir=tmp_path / "failed", move=False)
    assert isinstance(steps[0], WatchStarted) and steps[0].run_id
    scored = [s for s in steps if isinstance(s, Scored)]
    names = sorted(Path(s.path).name for s in scored)
    assert names == ["a.png", "b.png", "notes.png", "slow.png"]  # each exactly once
    by_name = {Path(s.path).name: s for s in scored}
    slow = by_name["slow.png"].batch
    assert slow.n_ok == 1  # decoded from the complete file, never from a piece of it
    assert by_name["notes.png"].batch.n_ok == 0
    assert by_name["notes.png"].batch.errors  # a plain failed row, with the reason
    assert summary == {"run_id": steps[0].run_id, "scored": 4, "ok": 3, "failed": 1, "skipped": 0}
    # copied, not moved: the originals stay, and done/failed hold the copies
    assert sorted(p.name for p in (tmp_path / "done").iterdir()) == ["a.png", "b.png", "slow.png"]
    assert [p.name for p in (tmp_path / "failed").iterdir()] == ["notes.png"]
    assert sorted(p.name for p in folder.iterdir()) == names

    with ResultStore(store) as s:
        run = s.run(steps[0].run_id)
        assert (run.status, run.ok, run.failed) == ("finished", 3, 1)
        hashes = s.input_hashes(run.id)
    assert len(hashes) == 4 and all(len(v) == 1 for v in hashes.values())
    slow_sha = next(iter(hashes[str(folder / "slow.png")]))
    from desktop.engine.model import sha256_file
    assert slow_sha == sha256_file(SAMPLES[2])  # the result is the complete file's

    # a restart on the same folder: everything already scored is skipped
    steps2, summary2 = run_watch(engine, folder, store, expect=0, seconds=1.5)
    assert [s for s in steps2 if isinstance(s, Scored)] == []
    assert summary2["skipped"] == 4 and summary2["scored"] == 0

    # a file rewritten with other content is new
    shutil.copy(SAMPLES[3], folder / "a.png")
    steps3, summary3 = run_watch(engine, folder, store, expect=1, seconds=3)
    assert [Path(s.path).name for s in steps3 if isinstance(s, Scored)] == ["a.png"]
    assert summary3["skipped"] == 3


def test_moved_to_done_and_failed_after_the_result_is_committed(engine, tmp_path):
    folder = tmp_path / "in"
    folder.mkdir()
    shutil.copy(SAMPLES[0], folder / "a.png")
    (folder / "bad.png").write_bytes(b"\x89PNG not really")
    store = tmp_path / "history.db"
    steps, summary = run_watch(engine, folder, store, expect=2, seconds=4, done_dir=folder / "done",
                               failed_dir=folder / "failed", max_items=2)
    scored = [s for s in steps if isinstance(s, Scored)]
    assert sorted(Path(s.placed).relative_to(folder).as_posix() for s in scored) == ["done/a.png", "failed/bad.png"]
    assert sorted(p.name for p in folder.iterdir()) == ["done", "failed"]  # the done folder inside is not watched
    with ResultStore(store) as s:
        assert s.run(summary["run_id"]).status == "finished"
        assert len(s.input_hashes(summary["run_id"])) == 2


def test_closing_the_watch_finishes_the_run(engine, tmp_path):
    store = tmp_path / "history.db"
    gen = watch(engine, tmp_path, settle_s=SETTLE, store_path=store, timeout_s=0.05)
    started = next(gen)
    gen.close()
    with ResultStore(store) as s:
        assert s.run(started.run_id).status == "finished"
