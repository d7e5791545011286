"""``inferdesk review`` records a decision; ``history export`` carries it; ``audit verify`` catches a hand edit."""

from __future__ import annotations

import csv
import io
import json
import sqlite3

from desktop.cli import main
from desktop.runs.history import default_store_path, list_runs
from tests.conftest import MODELS, SAMPLES


def _scored(capsys) -> str:
    assert main(["score", str(MODELS / "digits.onnx"), str(SAMPLES / "digits")]) == 0
    capsys.readouterr()
    return list_runs(1)[0].id


def test_review_then_export_carries_the_decision_and_a_hand_edit_fails_verify(capsys, tmp_path):
    run_id = _scored(capsys)
    assert main(["review", run_id, "3", "override", "5", "--reason", "looks like a five"]) == 0
    assert f"result 3 of run {run_id}: Overridden to 5 by " in capsys.readouterr().err
    assert main(["review", run_id, "1", "flag", "--reason", "cut off"]) == 0
    capsys.readouterr()

    assert main(["review", run_id, "--json"]) == 0
    listed = json.loads(capsys.readouterr().out)
    assert [(d["number"], d["decision"]) for d in listed] == [(1, "flag"), (3, "override")]

    out = tmp_path / "run.csv"
    assert main(["history", "export", run_id, "--format", "csv", "--out", str(out)]) == 0
    rows = list(csv.DictReader(io.StringIO(out.read_text(encoding="utf-8"))))
    assert rows[2]["decision"] == "override" and rows[2]["decision_label"] == "5"
    assert rows[2]["decision_reason"] == "looks like a five" and rows[2]["reviewer"]
    assert rows[0]["decision"] == "flag" and rows[1]["decision"] == ""
    assert main(["history", "export", run_id]) == 0  # jsonl to standard output
    recs = [json.loads(x) for x in capsys.readouterr().out.splitlines()]
    assert recs[2]["decision"]["label"] == "5" and "decision" not in recs[1]

    assert main(["audit", "verify"]) == 0
    capsys.readouterr()
    with sqlite3.connect(str(default_store_path())) as db:
        db.execute("UPDATE reviews SET label='6' WHERE idx=2")
    assert main(["audit", "verify"]) == 1
    text = capsys.readouterr().out
    assert "audit trail BROKEN" in text
    assert f"the review decision on result 2 of run {run_id} (override by" in text
    assert "label: the trail says '5', the table '6'" in text


def test_review_refusals_exit_2_with_one_line(capsys):
    run_id = _scored(capsys)
    assert main(["review", run_id, "11", "accept"]) == 2
    assert f"run {run_id} has 10 results: NUMBER is 1 to 10" in capsys.readouterr().err
    assert main(["review", run_id, "1", "override"]) == 2
    assert "needs the correct label or value" in capsys.readouterr().err
    assert main(["review", run_id, "1", "accept", "7"]) == 2
    assert "only an override takes a label or value" in capsys.readouterr().err
    assert main(["review", run_id]) == 0
    assert "No result of this run has been reviewed" in capsys.readouterr().out
