"""Tabular models with one input per column, some of them strings: a scikit-learn ColumnTransformer pipeline."""

from __future__ import annotations

import json

import numpy as np
import pytest

from desktop.cli import main
from desktop.engine import Engine, run_batch
from desktop.engine.errors import ProfileError
from desktop.engine.model import TensorSpec
from desktop.engine.profile import fed_inputs, load_profile, profile_from_dict, resolve_profile
from tests.hostile.build_corpus import _categorical_model, _save


@pytest.fixture(scope="module")
def categorical(tmp_path_factory):
    """The corpus's onnx.helper pipeline: age float, sex and ward strings, visits int64, one input each."""
    return _save(_categorical_model(), tmp_path_factory.mktemp("categorical") / "categorical.onnx")


def _specs(*names):
    return [TensorSpec(n, "tensor(float)", (None, 1), "float") for n in names]


def test_columns_feed_the_inputs_of_their_name():
    inputs = _specs("age", "sex", "ward")
    assert [s.name for s in fed_inputs(("ward", "age", "sex"), inputs)] == ["ward", "age", "sex"]
    assert [s.name for s in fed_inputs(("Ward", " AGE", "sex"), inputs)] == ["ward", "age", "sex"]
    # a column naming no input feeds the one left over; none named: by position, as before
    assert [s.name for s in fed_inputs(("years", "sex", "ward"), inputs)] == ["age", "sex", "ward"]
    assert [s.name for s in fed_inputs(("c", "b", "a"), inputs)] == ["age", "sex", "ward"]
    assert [s.name for s in fed_inputs(None, inputs)] == ["age", "sex", "ward"]


def test_a_profile_in_another_column_order_feeds_each_input_its_column(categorical, tmp_path):
    p = tmp_path / "rows.csv"
    p.write_text("ward,sex,visits,age\nICU,M,2,50\n")
    by_default = [r.top[0].score for r in run_batch(Engine(categorical), [p])]
    profile = profile_from_dict({"task": "classification", "table": {"columns": ["visits", "ward", "age", "sex"]}})
    reordered = [r.top[0].score for r in run_batch(Engine(categorical, profile=profile), [p])]
    assert reordered == by_default


def test_a_column_count_that_differs_from_the_inputs_is_refused(categorical):
    profile = profile_from_dict({"table": {"columns": ["age", "sex", "ward"]}})
    with pytest.raises(ProfileError, match=r"lists 3 table columns, but the model takes 4 inputs of one column "
                                           r"each \(age, sex, ward, visits\)"):
        Engine(categorical, profile=profile)


def test_an_old_profile_file_loads_unchanged(categorical, tmp_path):
    raw = {"input": "age", "task": "classification", "table": {"columns": ["age", "sex", "ward", "visits"]}}
    sidecar = categorical.with_name("categorical.profile.json")
    sidecar.write_text(json.dumps(raw))
    try:
        engine = Engine(categorical)
        assert engine.profile_source == "sidecar categorical.profile.json"
        assert engine.profile.to_dict() == raw
        assert engine.profile.sha256() == load_profile(sidecar).sha256()
        assert engine.profile == load_profile(sidecar)
    finally:
        sidecar.unlink()


def test_info_says_which_columns_are_text(categorical, capsys):
    assert main(["info", str(categorical)]) == 0
    out = capsys.readouterr().out
    assert ("Profile     table: 4 CSV columns matched by name, one model input each (sex, ward as text; visits "
            "as whole numbers)  (default guessed from the model's input)") in out
    assert "Columns     age, sex, ward, visits (4)" in out
    assert main(["info", str(categorical), "--json"]) == 0
    d = json.loads(capsys.readouterr().out)
    assert d["profile"]["table"] == {"columns": ["age", "sex", "ward", "visits"]}  # nothing new is saved


def test_a_benchmark_feeds_string_inputs_empty_strings(categorical):
    from desktop.engine.bench import bench

    report = bench(Engine(categorical), runs=3, warmup=1, batch=4)
    assert report.batch == 4


def test_saved_inputs_of_a_string_model_hold_the_text(categorical, tmp_path):
    p = tmp_path / "rows.csv"
    p.write_text("age,sex,ward,visits\n50,M,ICU,2\n40,,A,1\n61,F,B,0\n")
    results = list(run_batch(Engine(categorical), [p], save_inputs=tmp_path / "saved"))
    assert [r.ok for r in results] == [True, False, True]
    saved = np.load(results[2].saved_input, allow_pickle=True)
    assert saved.tolist() == [[61.0, "F", "B", 0]]


# --------------------------------------------------------------------------- a real scikit-learn pipeline

@pytest.fixture(scope="module")
def sklearn_pipeline(tmp_path_factory):
    """A fitted ColumnTransformer (OneHotEncoder on sex and ward, StandardScaler on age and bmi) and
    LogisticRegression, exported by skl2onnx from a DataFrame: one input per column."""
    pytest.importorskip("skl2onnx")
    import pandas as pd
    from skl2onnx import to_onnx
    from sklearn.compose import ColumnTransformer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import OneHotEncoder, StandardScaler

    rng = np.random.default_rng(0)
    n = 300
    df = pd.DataFrame({"age": rng.integers(20, 90, n).astype(np.float32), "sex": rng.choice(["F", "M"], n),
                       "ward": rng.choice(["A", "B", "ICU"], n), "bmi": rng.normal(25, 4, n).astype(np.float32)})
    y = ((df.age > 60) | (df.ward == "ICU")).astype(int)
    pipe = Pipeline([
        ("prep", ColumnTransformer([("cat", OneHotEncoder(handle_unknown="ignore"), ["sex", "ward"]),
                                    ("num", StandardScaler(), ["age", "bmi"])])),
        ("clf", LogisticRegression()),
    ]).fit(df, y)
    folder = tmp_path_factory.mktemp("sklearn")
    model = folder / "pipeline.onnx"
    model.write_bytes(to_onnx(pipe, df[:1], target_opset={"": 17, "ai.onnx.ml": 3}).SerializeToString())
    rows = df.iloc[:50].copy()
    rows.insert(0, "patient_id", [f"P{i:03d}" for i in range(50)])
    return model, pipe, rows


def test_a_scikit_learn_column_transformer_pipeline_scores_its_string_columns(sklearn_pipeline, tmp_path):
    model, pipe, rows = sklearn_pipeline
    p = tmp_path / "patients.csv"
    rows[["patient_id", "ward", "bmi", "sex", "age"]].to_csv(p, index=False)  # not the model's order
    engine = Engine(model)
    assert engine.profile_source == "default guessed from the model's input"
    assert engine.profile.table.columns == ("age", "sex", "ward", "bmi")
    assert engine.profile.describe() == "table: 4 CSV columns matched by name, one model input each (sex, ward as text)"
    results = list(run_batch(engine, [p]))
    assert all(r.ok for r in results), [r.error for r in results if not r.ok][:3]
    got = np.array([dict((t.label, t.score) for t in r.top)["1"] for r in results])
    expected = pipe.predict_proba(rows[["age", "sex", "ward", "bmi"]])[:, 1]
    np.testing.assert_allclose(got, expected, atol=1e-5)
    assert [dict(r.passthrough)["patient_id"] for r in results[:2]] == ["P000", "P001"]


def test_an_empty_string_cell_fails_its_row_only(sklearn_pipeline, tmp_path):
    model, _, _ = sklearn_pipeline
    p = tmp_path / "gaps.csv"
    p.write_text("age,sex,ward,bmi\n50,M,ICU,22\n60,,A,25\n70,F,,30\n80,F,B,\n")
    results = list(run_batch(Engine(model), [p]))
    assert [r.error for r in results] == [
        None,
        "gaps.csv: row 2 (line 3): column 'sex' is empty",
        "gaps.csv: row 3 (line 4): column 'ward' is empty",
        "gaps.csv: row 4 (line 5): column 'bmi' is empty",
    ]


def test_the_default_profile_of_a_pipeline_resolves(sklearn_pipeline):
    from desktop.engine import inspect_model

    model, _, _ = sklearn_pipeline
    profile, source = resolve_profile(model, inspect_model(model))
    assert profile.table.columns == ("age", "sex", "ward", "bmi") and profile.task == "classification"
