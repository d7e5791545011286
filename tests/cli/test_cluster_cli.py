"""inferdesk score --cluster: what users type, what they are told."""

from __future__ import annotations

import json

from desktop import cli
from desktop.engine.store import ResultStore
from tests.conftest import MODELS, SAMPLES


def test_score_on_local_workers_records_each_result_s_worker(tmp_path, capsys):
    out = tmp_path / "r.jsonl"
    code = cli.main(["score", str(MODELS / "breast_cancer.onnx"), str(SAMPLES / "breast_cancer.csv"),
                     "--cluster", "local:2", "--out", str(out)])
    err = capsys.readouterr().err
    assert code == 0, err
    assert "starting 2 local worker processes" in err and "cluster local:2: 2 workers on 1 host" in err
    records = [json.loads(line) for line in out.read_text().splitlines()]
    assert records and all(r["worker"] for r in records)
    assert [r["row"] for r in records] == list(range(1, len(records) + 1))
    with ResultStore() as store:
        run = store.runs()[0]
        assert store.run_metadata(run.id)["output"]["cluster"] == "local:2"
        assert run.status == "finished" and run.ok == len(records)


def test_a_bad_cluster_address_and_the_options_a_worker_cannot_honour_are_refused(tmp_path, capsys):
    model, rows = str(MODELS / "breast_cancer.onnx"), str(SAMPLES / "breast_cancer.csv")
    assert cli.main(["score", model, rows, "--cluster", "my big cluster"]) == 2
    assert "give a Dask scheduler's address (tcp://host:8786) or local:N" in capsys.readouterr().err
    assert cli.main(["score", model, rows, "--cluster", "local:2", "--save-inputs", str(tmp_path)]) == 2
    assert "--save-inputs is not for a cluster run" in capsys.readouterr().err
    assert cli.main(["score", model, rows, "--cluster", "local:2", "--workers", "2"]) == 2
    assert "--workers sets this machine's decode threads" in capsys.readouterr().err


def test_a_scheduler_that_is_not_there_is_said(capsys, monkeypatch):
    import dask

    monkeypatch.setitem(dask.config.config["distributed"]["comm"]["timeouts"], "connect", "2s")
    code = cli.main(["score", str(MODELS / "breast_cancer.onnx"), str(SAMPLES / "breast_cancer.csv"),
                     "--cluster", "tcp://127.0.0.1:9"])
    assert code == 2
    assert "cannot reach the Dask scheduler at tcp://127.0.0.1:9" in capsys.readouterr().err


def test_resume_with_cluster_none_scores_the_rest_here(tmp_path, capsys):
    import sqlite3

    from desktop.engine import Engine, run_batch

    engine = Engine(MODELS / "breast_cancer.onnx")
    rows = str(SAMPLES / "breast_cancer.csv")
    with ResultStore() as store:
        rec = store.start_run(engine, [rows], total=20, output={"format": "jsonl", "top_k": 5, "cluster": "local:2"})
        for i, r in enumerate(run_batch(engine, [rows])):
            if i == 5:
                break
            rec.add(r)
        rec.commit()
    with sqlite3.connect(str(store.path)) as db:
        db.execute("UPDATE runs SET pid=? WHERE id=?", (2 ** 22 + 12345, rec.run_id))  # a process long gone
    out = tmp_path / "rest.jsonl"
    assert cli.main(["resume", rec.run_id, "--cluster", "none", "--out", str(out)]) == 0
    err = capsys.readouterr().err
    assert "local worker" not in err and "cluster" not in err.split("\n")[-3]
    records = [json.loads(line) for line in out.read_text().splitlines()]
    assert len(records) == 20 and not any("worker" in r for r in records)  # the whole run, all scored here
