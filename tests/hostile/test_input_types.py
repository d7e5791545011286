"""Hostile CSV values for inputs that are not float64: each refused on its own row, by both readers."""

from __future__ import annotations

import pytest

from desktop.engine import Engine, run_batch
from desktop.engine.inputs import tabular


@pytest.fixture(params=["pandas", "csv-module"])
def reader_path(request, monkeypatch):
    if request.param == "pandas":
        monkeypatch.setattr(tabular, "SMALL_FILE_BYTES", 0)  # small files are otherwise read by the csv module
    else:
        monkeypatch.setattr(tabular, "_pandas", lambda: None)
    return request.param


def _rows(model, csv):
    return [(r.row, r.values[0] if r.ok else r.error) for r in run_batch(Engine(model), [csv])]


def test_a_value_beyond_float32_is_refused_not_fed_as_infinity(corpus, reader_path):
    assert _rows(corpus["models/sum3.onnx"], corpus["input_models/float_range.csv"]) == [
        (1, 6.0),
        (2, "float_range.csv: row 2 (line 3): column 'a' is '1e39', beyond the range of the model's float32 input "
            "(±3.402824e+38)"),
        (3, 15.0),
        (4, pytest.approx(-3e38)),
        (5, "float_range.csv: row 5 (line 6): column 'b' is '-1e39', beyond the range of the model's float32 input "
            "(±3.402824e+38)"),
    ]


def test_an_int64_input_takes_whole_numbers_in_range_only(corpus, reader_path):
    assert _rows(corpus["input_models/int_sum.onnx"], corpus["input_models/int_values.csv"]) == [
        (1, 6.0),
        (2, "int_values.csv: row 2 (line 3): column 'a' is '71.7', not a whole number (the model's input is int64)"),
        (3, "int_values.csv: row 3 (line 4): column 'a' is '9223372036854775813', outside the range of the model's "
            "int64 input (-9223372036854775808 to 9223372036854775807)"),
        (4, "int_values.csv: row 4 (line 5): column 'a' is '1e30', outside the range of the model's int64 input "
            "(-9223372036854775808 to 9223372036854775807)"),
        (5, 2.0),  # 0.0 is a whole number
        (6, "int_values.csv: row 6 (line 7): column 'a' is '9007199254740993', too large to be read exactly (whole "
            "numbers up to ±9,007,199,254,740,991 for the model's int64 input)"),
        (7, 15.0),
    ]


# --------------------------------------------------------------------------- string inputs, one input per column

def _categorical_reference(age, sex, ward, visits) -> float:
    """categorical.onnx's probability of class 1, computed with numpy from CATEGORICAL."""
    import numpy as np

    from tests.hostile.build_corpus import CATEGORICAL as c

    x = ([float(sex == s) for s in c["sex"]] + [float(ward == w) for w in c["ward"]]
         + [(age - c["offset"][0]) * c["scale"][0], (visits - c["offset"][1]) * c["scale"][1]])
    return float(1 / (1 + np.exp(-(np.dot(c["weights"], x) + c["bias"]))))


def test_a_pipeline_with_string_columns_scores_by_column_name(corpus, reader_path):
    # one input per column (sex and ward strings, age float, visits int64), as skl2onnx exports a
    # ColumnTransformer pipeline; the CSV names them in another order and case, with an id beside
    engine = Engine(corpus["input_models/categorical.onnx"])
    assert engine.profile.table.columns == ("age", "sex", "ward", "visits")
    results = list(run_batch(engine, [corpus["input_models/patients.csv"]]))
    got = [(r.row, dict(r.passthrough)["id"], r.top[0].label if r.ok else r.error,
            dict((p.label, p.score) for p in r.top).get("1") if r.ok else None) for r in results]
    expect = {1: (50, "M", "ICU", 2), 2: (61.5, "F", "A", 0), 6: (45, "M", "B", 1), 7: (45, "F", "Z", 1)}
    for row, id_, answer, p1 in got:
        if row in expect:
            assert p1 == pytest.approx(_categorical_reference(*expect[row]), abs=1e-6), row
            assert answer == ("1" if p1 > 0.5 else "0")
    assert [(row, id_, answer) for row, id_, answer, _ in got if row not in expect] == [
        (3, "P3", "patients.csv: row 3 (line 4): column 'sex' is empty"),
        (4, "P4", "patients.csv: row 4 (line 5): column 'age' is empty"),
        (5, "P5", "patients.csv: row 5 (line 6): column 'visits' is '1.5', not a whole number (the model's input "
                  "is int64)"),
        (8, "P8", "patients.csv: row 8 (line 9): column 'age' is not a number: 'abc'"),
    ]
