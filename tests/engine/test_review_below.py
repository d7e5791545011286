"""The profile's review_below: classifier results under it are marked for review in results, exports and the store."""

from __future__ import annotations

import csv
import json

import pytest

from desktop.engine import Engine, run_batches
from desktop.engine.decoders.classification import score_meaning
from desktop.engine.errors import ProfileError
from desktop.engine.profile import profile_from_dict
from desktop.engine.results import needs_review, review_reason
from desktop.engine.store import ResultStore
from desktop.engine.writers import export
from tests.conftest import MODELS, SAMPLES

DIGITS = sorted((SAMPLES / "digits").glob("*.png"))[:8]


def _base():
    return {"input": "image", "task": "classification",
            "image": {"color": "L", "resize": {"mode": "stretch", "size": [16, 16]}}}


def test_review_below_round_trips_and_old_profiles_are_unchanged():
    p = profile_from_dict({**_base(), "review_below": 0.6})
    assert p.review_below == 0.6 and profile_from_dict(p.to_dict()) == p
    old = profile_from_dict(_base())
    assert old.review_below is None and "review_below" not in old.to_dict()
    assert profile_from_dict({**_base(), "review_below": 0}).review_below == 0.0


@pytest.mark.parametrize("value, message", [
    (1.5, "Profile: review_below must be between 0 and 1 (got 1.5)"),
    (-0.1, "Profile: review_below must be between 0 and 1 (got -0.1)"),
    ("0.6", "Profile: review_below must be a score between 0 and 1, under which a result is marked for review "
            "(got '0.6')"),
    (True, "review_below must be a score between 0 and 1"),
    (float("nan"), "review_below must be a finite number"),
])
def test_bad_review_below_is_a_profile_error_naming_it(value, message):
    with pytest.raises(ProfileError, match=message.replace("(", r"\(").replace(")", r"\)")):
        profile_from_dict({**_base(), "review_below": value})


def _engine(review_below):
    engine = Engine(MODELS / "digits.onnx")
    from dataclasses import replace

    return engine.with_profile(replace(engine.profile, review_below=review_below))


@pytest.fixture(scope="module")
def scored():
    """Digits scored with a threshold between their top scores, so some are marked and some not."""
    plain = [r for b in run_batches(_engine(None), DIGITS) for r in b.results()]
    top = sorted(r.top_score for r in plain)
    threshold = float((top[len(top) // 2 - 1] + top[len(top) // 2]) / 2)
    engine = _engine(threshold)
    batches = list(run_batches(engine, DIGITS))
    return engine, batches, threshold


def test_results_under_the_threshold_are_marked(scored):
    _, batches, threshold = scored
    results = [r for b in batches for r in b.results()]
    marked = [r.needs_review for r in results]
    assert marked == [r.top_score < threshold for r in results] and any(marked) and not all(marked)
    assert all(r.to_json()["review"] == r.needs_review for r in results)


def test_exports_carry_review_only_when_the_profile_sets_it(scored, tmp_path):
    _, batches, threshold = scored
    export(batches, tmp_path / "r.csv")
    export(batches, tmp_path / "r.jsonl")
    rows = list(csv.DictReader(open(tmp_path / "r.csv", encoding="utf-8")))
    assert [row["review"] for row in rows] == ["true" if float(row["score"]) < threshold else "false" for row in rows]
    records = [json.loads(line) for line in open(tmp_path / "r.jsonl", encoding="utf-8")]
    assert [rec["review"] for rec in records] == [rec["top"][0]["score"] < threshold for rec in records]
    plain = list(run_batches(_engine(None), DIGITS[:2]))
    export(plain, tmp_path / "p.csv")
    export(plain, tmp_path / "p.jsonl")
    assert "review" not in open(tmp_path / "p.csv", encoding="utf-8").readline().split(",")
    assert all("review" not in json.loads(line) for line in open(tmp_path / "p.jsonl", encoding="utf-8"))


def test_a_reopened_run_marks_the_same_results(scored, tmp_path):
    engine, batches, _ = scored
    with ResultStore(tmp_path / "results.sqlite3") as store:
        recorder = store.start_run(engine, [str(p) for p in DIGITS])
        for b in batches:
            recorder.add_batch(b)
        recorder.finish()
        back = [r for b in store.batches(recorder.run_id) for r in b.results()]
    fresh = [r for b in batches for r in b.results()]
    assert [r.needs_review for r in back] == [r.needs_review for r in fresh]
    assert any(r.needs_review for r in back)


def test_needs_review_and_its_reason():
    assert needs_review(0.54, 0.6) and not needs_review(0.6, 0.6) and not needs_review(0.1, None)
    assert needs_review(float("nan"), 0.6)
    assert review_reason(0.54, 0.6) == ("Top score 0.540 is below this model's review threshold 0.6 "
                                        "(profile key review_below)")


def test_the_score_says_whether_it_is_the_models_probability_or_a_softmax(scored, tmp_path):
    _, batches, _ = scored
    assert batches[0].meta["scores"] == "softmax"  # digits.onnx gives logits
    assert score_meaning(batches[0].meta).startswith("softmax of the model's raw scores (logits), computed by "
                                                     "InferDesk")
    from tests.conftest import image_logits_model

    model = image_logits_model(tmp_path / "p.onnx", size=4, softmax=True)
    batch = next(run_batches(Engine(model), [DIGITS[0]]))
    assert batch.meta["scores"] == "probabilities"
