"""Case review in the runs layer (desktop.runs.review): decisions on a recorded run, exports carry them."""

from __future__ import annotations

import csv
import json

import pytest

from desktop.engine import Engine, run_batches
from desktop.engine.store import ResultStore, StoreError
from desktop.runs import review
from desktop.runs.history import RunRefused, export_results, export_run, open_run
from tests.conftest import MODELS, SAMPLES


def _record(model, inputs) -> str:
    engine = Engine(MODELS / model)
    inputs = [str(p) for p in inputs]
    with ResultStore() as store:
        rec = store.start_run(engine, inputs)
        for batch in run_batches(engine, inputs, hash_inputs=True):
            rec.add_batch(batch)
        rec.finish()
    return rec.run_id



@pytest.fixture
def digits():
    return _record("digits.onnx", [SAMPLES / "digits"])


def test_decide_stores_and_decisions_reads_the_current_one(digits):
    review.decide(digits, 1, "flag", reason="smudged")
    review.decide(digits, 1, "override", label="7", reason="a seven")
    review.decide(digits, 4, "accept")
    now = review.decisions(digits)
    assert {i: d.decision for i, d in now.items()} == {1: "override", 4: "accept"}
    assert [d.decision for d in review.history(digits)] == ["flag", "override", "accept"]
    assert review.as_truth(digits) == {1: "7"}
    assert review.decision_text(now[1]).startswith("Overridden to 7 by ")
    assert review.decision_text(now[1]).endswith(" — a seven")
    assert review.decision_text(None) == "Not reviewed"


def test_a_short_run_id_works_and_an_unknown_one_or_index_says_so(digits):
    review.decide(digits[:6], 0, "accept")
    assert list(review.decisions(digits[:6])) == [0]
    with pytest.raises(StoreError, match="No run 'ffff0000' in the history"):
        review.decide("ffff0000", 0, "accept")
    with pytest.raises(StoreError, match=f"Run {digits} has no result 10 \\(it has 10 results, 0 to 9\\)"):
        review.decide(digits, 10, "accept")


@pytest.mark.parametrize("kwargs, message", [
    ({"decision": "override"}, "needs the correct label or value"),
    ({"decision": "override", "label": "cat"}, "'cat' is not one of the labels of run .*'s model \\(0, 1, 2"),
    ({"decision": "reject"}, "'reject' is not a review decision: use accept, override or flag"),
])
def test_refusals_are_plain(digits, kwargs, message):
    with pytest.raises(RunRefused, match=message):
        review.decide(digits, 0, **kwargs)
    assert review.decisions(digits) == {}


def test_a_regressions_override_is_a_value():
    run_id = _record("diabetes.onnx", [SAMPLES / "diabetes.csv"])
    assert review.answer_of(run_id, "151.5") == (None, 151.5)
    with pytest.raises(RunRefused, match="an override gives the correct value, a number"):
        review.answer_of(run_id, "high")
    review.decide(run_id, 2, "override", value=151.5)
    assert review.as_truth(run_id) == {2: 151.5}


def test_exports_of_a_reviewed_run_carry_the_current_decision(digits, tmp_path):
    review.decide(digits, 0, "flag", reason="=HYPERLINK(1)")
    review.decide(digits, 2, "override", label="8", reason="loop at the top")
    export_run(digits, tmp_path / "r.csv")
    rows = list(csv.DictReader((tmp_path / "r.csv").open(encoding="utf-8")))
    assert list(rows[0])[-5:] == ["decision", "decision_label", "decision_reason", "reviewer", "reviewed_at"]
    assert (rows[0]["decision"], rows[0]["decision_reason"]) == ("flag", "'=HYPERLINK(1)")  # formula guarded
    assert (rows[2]["decision"], rows[2]["decision_label"]) == ("override", "8")
    assert rows[2]["reviewer"] and rows[2]["reviewed_at"]
    assert rows[1]["decision"] == "" and rows[1]["reviewer"] == ""
    export_run(digits, tmp_path / "r.jsonl")
    recs = [json.loads(x) for x in (tmp_path / "r.jsonl").read_text(encoding="utf-8").splitlines()]
    assert recs[2]["decision"]["decision"] == "override" and recs[2]["decision"]["label"] == "8"
    assert set(recs[2]["decision"]) == {"decision", "label", "reason", "reviewer", "reviewed_at"}
    assert "decision" not in recs[1] and "review" not in recs[2]["decision"]
    export_run(digits, tmp_path / "r.json")
    doc = json.loads((tmp_path / "r.json").read_text(encoding="utf-8"))
    assert doc["results"][0]["decision"]["reason"] == "=HYPERLINK(1)"


def test_an_unreviewed_runs_exports_are_unchanged(digits, tmp_path):
    export_run(digits, tmp_path / "r.csv")
    header = (tmp_path / "r.csv").read_text(encoding="utf-8").splitlines()[0]
    assert "decision" not in header and "reviewer" not in header
    export_run(digits, tmp_path / "r.jsonl")
    assert all("decision" not in json.loads(x) for x in (tmp_path / "r.jsonl").read_text().splitlines())


def test_the_windows_export_carries_decisions_when_given(digits, tmp_path, drive):
    review.decide(digits, 3, "accept")
    steps, _ = drive(open_run(digits))
    export_results([s.batch for s in steps], tmp_path / "w.csv", decisions=review.decisions(digits))
    rows = list(csv.DictReader((tmp_path / "w.csv").open(encoding="utf-8")))
    assert [r["decision"] for r in rows].count("accept") == 1 and rows[3]["decision"] == "accept"


def test_overrides_count_as_the_truth_when_asked():
    from desktop.runs.validation import evaluate_run

    run_id = _record("breast_cancer.onnx", [SAMPLES / "breast_cancer.csv"])
    plain = evaluate_run(run_id, "diagnosis", n_boot=0).to_dict()
    accuracy = lambda d: next(m["value"] for m in d["metrics"] if m["name"] == "accuracy")  # noqa: E731
    assert accuracy(plain) == 1.0
    # a reviewer says result 0 is the other class: with overrides as truth, one case is now wrong
    first = next(c for c in plain["cases"] if c["key"][1] == 1)
    other = next(label for label in plain["confusion"]["labels"] if label != first["truth"])
    review.decide(run_id, 0, "override", label=other, reason="pathology came back the other way")
    assert accuracy(evaluate_run(run_id, "diagnosis", n_boot=0).to_dict()) == 1.0  # not asked: unchanged
    corrected = evaluate_run(run_id, "diagnosis", n_boot=0, overrides=True).to_dict()
    assert accuracy(corrected) == 19 / 20
    assert "with 1 reviewer override" in corrected["truth_source"]
