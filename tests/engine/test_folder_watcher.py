"""FolderWatcher: a file is ready once, only when completely written; temporary files are ignored."""

import threading
import time

import pytest

from desktop.engine.errors import EngineError
from desktop.engine.watch import FolderWatcher, is_temporary

SETTLE = 0.3


def collect(watcher, seconds):
    found = []
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        found += watcher.ready_files(timeout=end - time.monotonic())
    return found


def write_slowly(path, pieces=5, pause=SETTLE / 3):
    with open(path, "wb") as fh:
        for i in range(pieces):
            fh.write(bytes([i]) * 1000)
            fh.flush()
            time.sleep(pause)


@pytest.mark.parametrize("poll", [False, True], ids=["events", "polling"])
def test_each_file_is_ready_once_and_a_slow_one_only_when_complete(tmp_path, poll):
    (tmp_path / "before.bin").write_bytes(b"there at the start")
    slow = tmp_path / "slow.bin"
    with FolderWatcher(tmp_path, settle_s=SETTLE, poll=poll) as w:
        writer = threading.Thread(target=write_slowly, args=(slow,))
        writer.start()
        (tmp_path / "quick.bin").write_bytes(b"x")
        (tmp_path / ".hidden").write_bytes(b"x")
        (tmp_path / "copying.part").write_bytes(b"x")
        (tmp_path / "~lock.bin").write_bytes(b"x")
        seen = []
        end = time.monotonic() + 3
        while time.monotonic() < end and len(seen) < 3:
            for p in w.ready_files(timeout=0.2):
                seen.append((p, p.endswith("slow.bin") and slow.stat().st_size))
        writer.join()
        seen += [(p, None) for p in collect(w, 2 * SETTLE)]
    names = sorted(p.rsplit("/", 1)[-1] for p, _ in seen)
    assert names == ["before.bin", "quick.bin", "slow.bin"]
    assert dict(seen)[str(slow)] == 5000  # never reported while it was still being written


def test_a_rewritten_file_is_ready_again(tmp_path):
    f = tmp_path / "a.bin"
    f.write_bytes(b"one")
    with FolderWatcher(tmp_path, settle_s=0.1) as w:
        assert collect(w, 0.5) == [str(f)]
        time.sleep(0.02)
        f.write_bytes(b"two, longer")
        assert collect(w, 0.5) == [str(f)]


def test_on_ready_is_called_from_the_watchers_thread(tmp_path):
    got = []
    with FolderWatcher(tmp_path, settle_s=0.1, on_ready=got.append):
        (tmp_path / "a.bin").write_bytes(b"x")
        end = time.monotonic() + 2
        while not got and time.monotonic() < end:
            time.sleep(0.05)
    assert got == [str(tmp_path / "a.bin")]


def test_ignored_folders_and_subfolders(tmp_path):
    (tmp_path / "done").mkdir()
    (tmp_path / "sub").mkdir()
    (tmp_path / "done" / "old.bin").write_bytes(b"x")
    (tmp_path / "sub" / "deep.bin").write_bytes(b"x")
    with FolderWatcher(tmp_path, settle_s=0.1, recursive=True, ignore=[tmp_path / "done"]) as w:
        assert collect(w, 0.5) == [str(tmp_path / "sub" / "deep.bin")]
    with FolderWatcher(tmp_path, settle_s=0.1) as w:
        assert collect(w, 0.4) == []


def test_temporary_names():
    assert all(is_temporary(n) for n in [".x.png", "~$a.png", "a.png~", "a.png.part", "a.TMP", "a.crdownload"])
    assert not any(is_temporary(n) for n in ["a.png", "scan 1.dcm", "t.csv"])


def test_a_missing_folder_is_refused_plainly(tmp_path):
    with pytest.raises(EngineError, match="not a folder"):
        FolderWatcher(tmp_path / "nowhere")
