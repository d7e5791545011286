"""Served requests are results like any other: one run per model in the history and the audit trail."""

from __future__ import annotations

import json
import sqlite3
import urllib.error
import urllib.request

import numpy as np
import pytest

from desktop.engine import Engine
from desktop.engine.store import ResultStore
from desktop.runs.history import RunRefused, prepare_resume
from desktop.runs.serve import start_serving, stop_serving
from tests.conftest import MODELS, SAMPLES

DIGIT = SAMPLES / "digits" / "digit_7_1496.png"
DEAD_PID = 2147483646


def _post(url, body: bytes, content_type="application/octet-stream"):
    req = urllib.request.Request(url, data=body, headers={"Content-Type": content_type}, method="POST")
    try:
        with urllib.request.urlopen(req, timeout=20) as resp:
            return resp.status, json.loads(resp.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


@pytest.fixture(scope="module")
def digits():
    return Engine(str(MODELS / "digits.onnx"))


def test_each_answered_request_is_a_result_of_the_models_served_run(tmp_path, digits):
    db = tmp_path / "history.db"
    batches = []
    server, history = start_serving({"d": digits}, store_path=db, on_batch=lambda *a: batches.append(a))
    try:
        status, scored = _post(f"{server.url}/v2/models/d/score", DIGIT.read_bytes())
        assert status == 200 and scored["ok"]
        x = np.zeros((2, 1, 16, 16), dtype=np.float32)
        request = {"id": "case-9", "inputs": [{"name": digits.profile.input, "datatype": "FP32",
                                              "shape": list(x.shape), "data": x.ravel().tolist()}]}
        status, answer = _post(f"{server.url}/v2/models/d/infer", json.dumps(request).encode(), "application/json")
        assert status == 200 and answer["id"] == "case-9"
        status, refused = _post(f"{server.url}/v2/models/d/score", b"not an image")
        assert status == 400
    finally:
        stop_serving(server, history)

    assert history.error is None
    assert history.recorded == 3  # the image, and the two rows of the tensor request; the refusal is not a result
    run_id = history.run_ids["d"]
    with ResultStore(db) as store:
        run = store.run(run_id)
        assert (run.status, run.ok, run.failed, run.name) == ("finished", 3, 0, "served d")
        records = list(store.records(run_id))
        assert store.verify().ok  # in the audit trail, whose chain holds
    assert [r["input"] for r in records] == [f"{server.url}/v2/models/d/score#request=1",
                                             f"{server.url}/v2/models/d/infer#request=2&id=case-9",
                                             f"{server.url}/v2/models/d/infer#request=2&id=case-9"]
    assert records[0]["top"] == scored["top"]  # what the client was told is what the history keeps
    assert [r.get("row") for r in records[1:]] == [0, 1]
    # the two rows of the request, decoded as the profile says: the model's answer for an empty image
    direct = digits.session.run(None, {digits.profile.input: x})[0]
    assert records[1]["top"][0]["label"] == digits.profile.labels[int(direct[0].argmax())]
    assert {a[1] for a in batches} == {run_id} and sum(len(a[2]) for a in batches) == 3
    # the server's own count of what it answered: three model requests, one refused
    snap = server.stats.snapshot()
    assert (snap["requests"], snap["failed"]) == (3, 1) and snap["p50"] > 0


def test_nothing_is_recorded_when_switched_off(tmp_path, digits):
    db = tmp_path / "history.db"
    server, history = start_serving({"d": digits}, store_path=db, record=False)
    try:
        assert _post(f"{server.url}/v2/models/d/score", DIGIT.read_bytes())[0] == 200
    finally:
        stop_serving(server, history)
    assert history is None
    with ResultStore(db) as store:
        assert store.runs() == []


@pytest.mark.parametrize("output, says", [({"served": "d"}, "requests a server answered"),
                                          ({"watch": "/data/in"}, "watched /data/in")])
def test_a_killed_server_or_watch_is_not_offered_for_resume(tmp_path, digits, output, says):
    db = tmp_path / "history.db"
    with ResultStore(db) as store:
        rec = store.start_run(digits, [], name="left running", output=output)
        rec.commit()
    with sqlite3.connect(str(db)) as con:
        con.execute("UPDATE runs SET pid=? WHERE id=?", (DEAD_PID, rec.run_id))
    with ResultStore(db) as store:
        assert store.run(rec.run_id).status == "interrupted"
        assert store.unfinished() == []
    with pytest.raises(RunRefused, match=says):
        prepare_resume(rec.run_id, store_path=db)
