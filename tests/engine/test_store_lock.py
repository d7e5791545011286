"""A run's lock: the process scoring it (id, host, start time) holds it; resume and delete check it atomically."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
import time

import pytest

from desktop.cli import main
from desktop.engine import Engine, run_batches
from desktop.engine import store as store_module
from desktop.engine.store import ResultStore, RunBusy, StoreError
from desktop.runs.history import RunRefused, delete_run, prepare_resume
from tests.conftest import MODELS, ROOT, SAMPLES

CSV = str(SAMPLES / "breast_cancer.csv")  # 20 rows
DEAD_PID = 2147483646
posix_only = pytest.mark.skipif(sys.platform == "win32", reason="signals and /proc are POSIX")

#: a writer in a process of its own: starts a run, prints its id, then one commit per line it reads
WRITER = textwrap.dedent("""
    import sys
    from desktop.engine import Engine, run_batches
    from desktop.engine.store import ResultStore, StoreError
    engine = Engine(sys.argv[1])
    batches = list(run_batches(engine, [sys.argv[2]], chunk_rows=5, hash_inputs=True))
    store = ResultStore()
    rec = store.start_run(engine, [sys.argv[2]], total=20)
    print(rec.run_id, flush=True)
    for line in sys.stdin:
        if line.strip() == "finish":
            rec.finish()
            print("finished", flush=True)
            continue
        try:
            rec.add_batch(batches.pop(0))
            rec.commit()
        except StoreError as exc:
            print(f"refused: {exc}", flush=True)
            sys.exit(2)
        print("committed", flush=True)
""")


class Writer:
    """A live second process scoring a run (see WRITER)."""

    def __init__(self):
        self.proc = subprocess.Popen([sys.executable, "-c", WRITER, str(MODELS / "breast_cancer.onnx"), CSV],
                                     cwd=ROOT, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE, text=True)
        self.run_id = self.proc.stdout.readline().strip()
        assert self.run_id, self.proc.stderr.read()

    def send(self, line: str = "commit") -> str:
        self.proc.stdin.write(line + "\n")
        self.proc.stdin.flush()
        return self.proc.stdout.readline().strip()

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL if hasattr(signal, "SIGKILL") else signal.SIGTERM)
        self.proc.wait(timeout=30)


@pytest.fixture
def writer():
    w = Writer()
    yield w
    w.kill()
    for pipe in (w.proc.stdin, w.proc.stdout, w.proc.stderr):
        pipe.close()


def _chunks(run_id):
    with ResultStore() as store:
        return store._db.execute("SELECT COUNT(*) FROM chunks WHERE run_id=?", (run_id,)).fetchone()[0]


# ---------------------------------------------------------------------- the owner's identity
def test_a_run_records_its_owner_and_when_that_process_started():
    with ResultStore() as store:
        rec = store.start_run(Engine(MODELS / "breast_cancer.onnx"), [CSV])
        pid, host, started = store._db.execute("SELECT pid, host, pid_start FROM runs WHERE id=?",
                                               (rec.run_id,)).fetchone()
        meta = store.run_metadata(rec.run_id)
        assert (pid, meta["pid"]) == (os.getpid(), os.getpid()) and host == meta["host"]
        assert started == meta["pid_start"] == store_module._process_start(os.getpid())
        if sys.platform.startswith("linux"):
            assert started.startswith("linux:")
        assert store.run(rec.run_id).status == "running"


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="/proc/<pid>/stat")
def test_the_start_time_tells_two_processes_with_one_id_apart():
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    try:
        theirs = store_module._process_start(child.pid)
        assert theirs and theirs != store_module._process_start(os.getpid())
        assert store_module._process_start(child.pid) == theirs  # stable for one process
        host = store_module.socket.gethostname()
        assert store_module._owner_alive(child.pid, host, theirs)
        assert not store_module._owner_alive(child.pid, host, theirs[:-1] + "x")  # a reused id
        assert store_module._owner_alive(child.pid, host, None)  # nothing recorded: the id alone
        assert store_module._owner_alive(child.pid, "another-computer", "x")  # cannot be checked from here
    finally:
        child.kill()
        child.wait()
    assert not store_module._owner_alive(child.pid, store_module.socket.gethostname(), theirs)
    assert store_module._process_start(DEAD_PID) is None


@posix_only
@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="start times are read from /proc")
def test_a_run_whose_process_id_now_belongs_to_another_process_is_interrupted(writer):
    assert writer.send() == "committed"
    writer.kill()
    other = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    try:
        with ResultStore() as store:
            # as if the dead writer's id had been given to this new process
            store._db.execute("UPDATE runs SET pid=? WHERE id=?", (other.pid, writer.run_id))
            assert store.run(writer.run_id).status == "interrupted"
            store.resume_run(writer.run_id)  # taken, not refused
    finally:
        other.kill()
        other.wait()


# ---------------------------------------------------------------------- resume and delete refused while it runs
@posix_only
def test_a_run_a_live_process_is_scoring_cannot_be_resumed_or_deleted(writer, capsys):
    assert writer.send() == "committed"
    run_id = writer.run_id
    with ResultStore() as store:
        assert store.run(run_id).status == "running"
        with pytest.raises(RunBusy, match=f"The run {run_id} is still being scored, by process "
                                          f"{writer.proc.pid} on this computer; .* before resuming it"):
            store.resume_run(run_id)
        with pytest.raises(RunBusy, match="before deleting it"):
            store.delete(run_id)
    with pytest.raises(RunRefused, match="is still being scored"):
        prepare_resume(run_id)
    with pytest.raises(RunRefused, match="is still running"):
        delete_run(run_id)
    assert main(["resume", run_id]) == 2
    assert main(["history", "delete", run_id]) == 2
    capsys.readouterr()
    assert writer.send() == "committed"  # the writer was not disturbed
    assert _chunks(run_id) == 2
    writer.kill()
    with ResultStore() as store:
        assert store.run(run_id).status == "interrupted"
        again = store.resume_run(run_id)  # its process is gone: the run can be taken up
        assert store._db.execute("SELECT pid FROM runs WHERE id=?", (run_id,)).fetchone()[0] == os.getpid()
        again.finish("cancelled")
        assert store.verify().ok


def test_store_resume_and_delete_refuse_a_running_run_even_when_called_directly(monkeypatch):
    with ResultStore() as store:
        rec = store.start_run(Engine(MODELS / "breast_cancer.onnx"), [CSV])  # held by this live process
        with pytest.raises(RunBusy):
            store.resume_run(rec.run_id)
        with pytest.raises(RunBusy):
            store.delete(rec.run_id)
        kinds = [k for (k,) in store._db.execute("SELECT kind FROM ledger WHERE run_id=?", (rec.run_id,))]
        assert kinds == ["run"]  # neither was recorded
        rec.finish()
        store.delete(rec.run_id)  # a finished run is not held


@posix_only
def test_only_one_of_several_processes_resuming_a_run_at_once_takes_it():
    with ResultStore() as store:
        rec = store.start_run(Engine(MODELS / "breast_cancer.onnx"), [CSV])
        store._db.execute("UPDATE runs SET pid=? WHERE id=?", (DEAD_PID, rec.run_id))  # as a killed process leaves it
    script = textwrap.dedent(f"""
        import sys, time
        from desktop.engine.store import ResultStore, RunBusy
        store = ResultStore()
        while time.time() < {time.time() + 3:.3f}:
            time.sleep(0.001)
        try:
            store.resume_run({rec.run_id!r})
        except RunBusy:
            print("refused", flush=True)
            sys.exit(0)
        print("taken", flush=True)
        sys.stdin.read()  # hold it while the others try
    """)
    procs = [subprocess.Popen([sys.executable, "-c", script], cwd=ROOT, stdin=subprocess.PIPE,
                              stdout=subprocess.PIPE, text=True) for _ in range(4)]
    try:
        answers = sorted(p.stdout.readline().strip() for p in procs)
    finally:
        for p in procs:
            p.stdin.close()
            p.wait(timeout=30)
            p.stdout.close()
    assert answers == ["refused", "refused", "refused", "taken"]
    with ResultStore() as store:
        resumes = store._db.execute("SELECT COUNT(*) FROM ledger WHERE kind='resume' AND run_id=?",
                                    (rec.run_id,)).fetchone()[0]
    assert resumes == 1


# ---------------------------------------------------------------------- a writer whose run was deleted stops
@posix_only
def test_a_writer_whose_run_was_deleted_stores_nothing_more_and_says_so(writer, monkeypatch):
    assert writer.send() == "committed"
    run_id = writer.run_id
    # a process that could not see the writer (as an older InferDesk would not) deletes the run anyway
    with monkeypatch.context() as patched, ResultStore() as store:
        patched.setattr(store_module, "_owner_alive", lambda *args: False)
        store.delete(run_id)
    answer = writer.send()
    assert answer == (f"refused: The run {run_id} was deleted while it was being scored; nothing more is recorded "
                      "for it (score the inputs again as a new run to keep their results)")
    assert writer.proc.wait(timeout=30) == 2
    assert _chunks(run_id) == 0  # no hidden rows under the deleted run
    with ResultStore() as store:
        kinds = [k for (k,) in store._db.execute("SELECT kind FROM ledger WHERE run_id=? ORDER BY seq", (run_id,))]
        assert kinds == ["run", "chunk", "delete"]
        assert store.verify().ok


def test_a_recorder_whose_run_another_process_took_up_records_nothing_more():
    engine = Engine(MODELS / "breast_cancer.onnx")
    batches = list(run_batches(engine, [CSV], chunk_rows=10, hash_inputs=True))
    with ResultStore() as store:
        rec = store.start_run(engine, [CSV])
        rec.add_batch(batches[0])
        rec.commit()
        with sqlite3.connect(str(store.path)) as db:  # another process took it up (as resume_run does)
            db.execute("UPDATE runs SET pid=? WHERE id=?", (DEAD_PID, rec.run_id))
        rec.add_batch(batches[1])
        with pytest.raises(StoreError, match=f"The run {rec.run_id} was taken up by process {DEAD_PID}"):
            rec.commit()
        with pytest.raises(StoreError, match="was taken up"):
            store._finish(rec.run_id, "finished")
        assert store._db.execute("SELECT COUNT(*) FROM chunks WHERE run_id=?", (rec.run_id,)).fetchone()[0] == 1
