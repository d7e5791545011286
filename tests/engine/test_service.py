"""Scoring in a child process: same results as in-process, cancellation, errors, recording, clean exit."""

from __future__ import annotations

import numpy as np
import pytest

from desktop.engine import Engine, run_batch
from desktop.engine.errors import EngineError
from desktop.engine.service import Job, ScoringProcess
from desktop.engine.store import ResultStore
from tests.conftest import MODELS, SAMPLES


@pytest.fixture
def service():
    s = ScoringProcess()
    yield s
    s.close()
    assert not s.alive


def _job(engine, items, **kw):
    return Job(engine.model_path, engine.profile.to_dict(), engine.settings.to_dict(), [str(i) for i in items], **kw)


def _collect(service, job):
    msgs = list(service.run(job))
    results = [r for m in msgs if m[0] == "batch" for r in m[1].results()]
    return msgs, results


def test_results_equal_in_process_scoring_and_are_recorded(service):
    engine = Engine(MODELS / "digits.onnx")
    inputs = [SAMPLES / "digits", SAMPLES / "breast_cancer.csv"]
    msgs, results = _collect(service, _job(engine, inputs))
    assert msgs[0][0] == "started" and msgs[0][2] == 30  # 10 images + the CSV's 20 rows
    assert msgs[-1][0] == "finished" and msgs[-1][1]["done"] == 30 and not msgs[-1][1]["cancelled"]
    local = list(run_batch(engine, inputs))
    assert [r.input for r in results] == [r.input for r in local]
    assert [r.ok for r in results] == [r.ok for r in local]
    for a, b in zip(results, local):
        if a.ok:
            np.testing.assert_allclose(a.outputs["logits"], b.outputs["logits"], rtol=1e-5, atol=1e-6)
            assert a.top_label == b.top_label
    run_id = msgs[-1][1]["run_id"]
    with ResultStore() as store:
        assert store.run(run_id).status == "finished" and store.run(run_id).ok == 10
        assert len(list(store.records(run_id))) == 11


def test_the_same_child_takes_several_jobs(service):
    engine = Engine(MODELS / "diabetes.onnx")
    for _ in range(2):
        _, results = _collect(service, _job(engine, [SAMPLES / "diabetes.csv"], record=False))
        assert len(results) == 15
    pid = service._proc.pid
    _collect(service, _job(engine, [SAMPLES / "diabetes.csv"], record=False))
    assert service._proc.pid == pid


def test_cancel_stops_between_items(service, tmp_path):
    engine = Engine(MODELS / "digits.onnx")
    files = sorted((SAMPLES / "digits").glob("*.png"))
    inputs = [str(files[i % 10]) for i in range(3000)]
    seen = 0
    last = None
    for msg in service.run(_job(engine, inputs, record=True, workers=1)):
        if msg[0] == "batch":
            seen += len(msg[1])
            service.cancel()
        last = msg
    assert last[0] == "finished" and last[1]["cancelled"] and seen < 3000
    with ResultStore() as store:
        assert store.run(last[1]["run_id"]).status == "cancelled"
    # the next job runs normally
    _, results = _collect(service, _job(engine, files[:3], record=False))
    assert len(results) == 3


def test_a_cancel_before_the_job_began_is_not_lost(service):
    """Cancel pressed while the job still waited for its thread: the job starts, and stops at once."""
    engine = Engine(MODELS / "digits.onnx")
    files = sorted((SAMPLES / "digits").glob("*.png"))
    service.cancel()  # before run(), which clears the stop flag for the new job
    msgs = list(service.run(_job(engine, [str(files[i % 10]) for i in range(3000)], record=False),
                            stopped=lambda: True))
    assert msgs[-1][0] == "finished" and msgs[-1][1]["cancelled"]
    assert sum(len(m[1]) for m in msgs if m[0] == "batch") < 3000


def test_a_bad_model_is_an_engine_error(service, tmp_path):
    engine = Engine(MODELS / "digits.onnx")
    job = _job(engine, [SAMPLES / "digits"])
    job.model = str(tmp_path / "gone.onnx")
    msgs = list(service.run(job))
    assert msgs[-1][0] == "error" and isinstance(msgs[-1][1], EngineError)
    assert "Model file not found" in str(msgs[-1][1])


def test_a_dead_child_is_reported_and_replaced(service):
    engine = Engine(MODELS / "digits.onnx")
    service.start()
    service._proc.kill()
    service._proc.join()
    msgs = list(service.run(_job(engine, [SAMPLES / "digits"], record=False)))
    # either the job went to a fresh child, or the death was reported as an engine error
    assert msgs[-1][0] in ("finished", "error")
    _, results = _collect(service, _job(engine, [SAMPLES / "digits"], record=False))
    assert len(results) == 10


def test_an_unexpected_error_is_one_line_with_the_childs_traceback_as_a_note(service):
    import pickle
    import traceback

    engine = Engine(MODELS / "digits.onnx")
    job = _job(engine, [SAMPLES / "digits"], record=False)
    job.settings = {"no_such_setting": 1}  # SessionSettings(**settings) fails in the child: not an EngineError
    msgs = list(service.run(job))
    kind, exc = msgs[-1]
    assert kind == "error" and type(exc) is RuntimeError and not isinstance(exc, EngineError)
    assert str(exc).startswith("TypeError: ") and "no_such_setting" in str(exc)
    assert "\n" not in str(exc) and "Traceback" not in str(exc)  # the message a user reads
    assert exc.child_traceback.startswith("Traceback (most recent call last):")
    assert "_engine_for" in exc.child_traceback and exc.child_traceback.rstrip().endswith(str(exc))
    [note] = exc.__notes__
    assert note.startswith("In the scoring process:\nTraceback") and "_engine_for" in note
    details = "".join(traceback.format_exception(exc))  # what an error dialog's details show
    assert "_engine_for" in details
    again = pickle.loads(pickle.dumps(exc))
    assert again.__notes__ == exc.__notes__ and again.child_traceback == exc.child_traceback


def test_a_scheduler_that_is_not_there_records_no_run(service, monkeypatch, tmp_path):
    monkeypatch.setenv("DASK_DISTRIBUTED__COMM__TIMEOUTS__CONNECT", "2s")  # the child reads it as it connects
    engine = Engine(MODELS / "digits.onnx")
    db = tmp_path / "h.db"
    msgs = list(service.run(_job(engine, [SAMPLES / "digits"], store_path=str(db), cluster="tcp://127.0.0.1:9")))
    assert msgs[-1][0] == "error" and isinstance(msgs[-1][1], EngineError)
    assert "cannot reach the Dask scheduler at tcp://127.0.0.1:9" in str(msgs[-1][1])
    with ResultStore(db) as store:
        assert store.runs() == []  # refused before the run was recorded: nothing to resume or explain
