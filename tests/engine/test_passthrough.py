"""Pass-through columns: a CSV's non-feature columns travel with every row as their text, on both readers."""

from __future__ import annotations

import json

import numpy as np
import pytest

from desktop.engine import Engine, run_batch, run_batches
from desktop.engine.errors import InputError, ProfileError
from desktop.engine.inputs import tabular
from desktop.engine.inputs.tabular import TableReader
from desktop.engine.profile import profile_from_dict
from tests.conftest import MODELS, SAMPLES, table_model

TRICKY = (
    "id,b,a,note,a,,date\r\n"
    "007, 1,2 ,x , 9,q,2024-01-02\r\n"
    "\r\n"
    ",,,,,,\r\n"  # bare delimiters: no data, no row
    " 8,3,4,,,,\r\n"
    '0042,5,6,"y, z",,,"2024-02-03 "\r\n'
    "P9,x,7,w,,,d\r\n"  # b is not a number: the row fails, its pass-through text stays
    "P10,1\r\n"  # too few cells
    "00,1e3,-2.5e-3,t,,,NA\r\n"
)


def _read_all(path, columns, reader: str, monkeypatch, size=3, **options):
    """Rows, errors and pass-through columns of a whole file, read by ``reader``."""
    if reader == "csv-module":
        monkeypatch.setattr(tabular, "_pandas", lambda: None)
    else:
        monkeypatch.setattr(tabular, "SMALL_FILE_BYTES", 0)
        if reader == "pandas-chunked":
            monkeypatch.setattr(tabular, "WHOLE_READ_BYTES", 0)
    with TableReader(path, columns, **options) as r:
        names = (r.passthrough_columns, r.ignored_columns, r.extra_columns)
        rows, errors, kept = [], [], {}
        for chunk in r.chunks(size):
            assert set(chunk.passthrough) == set(r.passthrough_columns)
            for name, texts in chunk.passthrough.items():
                assert len(texts) == len(chunk.rows)
                kept.setdefault(name, []).extend(texts)
            rows += chunk.rows
            errors += chunk.errors
    return names, rows, errors, kept


@pytest.mark.parametrize("reader", ["pandas", "pandas-chunked", "csv-module"])
def test_every_row_keeps_its_other_columns_as_written(tmp_path, monkeypatch, reader):
    p = tmp_path / "t.csv"
    p.write_text(TRICKY, newline="")
    names, rows, errors, kept = _read_all(p, ["a", "b"], reader, monkeypatch)
    # a second 'a' is not a feature and cannot keep its name: ignored; an unnamed column is neither
    assert names == (["id", "note", "date"], ["a"], ["id", "note", "a", "date"])
    assert rows == [1, 2, 3, 4, 5, 6]
    assert errors[3] is not None and errors[4] is not None
    assert kept == {
        "id": ["007", "8", "0042", "P9", "P10", "00"],  # leading zeros kept, surrounding spaces dropped
        "note": ["x", "", "y, z", "w", "", "t"],
        "date": ["2024-01-02", "", "2024-02-03", "d", "", "NA"],  # text, not dates or missing values
    }


def test_both_readers_agree_after_a_fallback_midway(tmp_path, monkeypatch):
    # a row with more cells than the header stops pandas; the csv module reads the rest
    lines = ["id,a,b"] + [f"R{i:04d},{i},{i + 1}" for i in range(50)] + ["R9999,1,2,3,4"] + ["0007,5,6"]
    p = tmp_path / "late.csv"
    p.write_text("\n".join(lines) + "\n")
    fast = _read_all(p, ["a", "b"], "pandas-chunked", monkeypatch, size=16)
    monkeypatch.undo()
    slow = _read_all(p, ["a", "b"], "csv-module", monkeypatch, size=16)
    assert fast == slow
    assert fast[3]["id"][-2:] == ["R9999", "0007"] and len(fast[3]["id"]) == 52


def test_which_columns_are_kept_can_be_chosen(tmp_path):
    p = tmp_path / "t.csv"
    p.write_text("Patient ID,a,site,b,visit\nP1,1,x,2,3\n")
    with TableReader(p, ["a", "b"], passthrough=False) as r:
        assert r.passthrough_columns == [] and r.ignored_columns == ["Patient ID", "site", "visit"]
        assert next(r.chunks()).passthrough == {}
    # matched as feature names are: exactly, then ignoring case and spaces; a feature named is no error
    with TableReader(p, ["a", "b"], passthrough=["visit", "patient  id", "a"]) as r:
        assert r.passthrough_columns == ["Patient ID", "visit"] and r.ignored_columns == ["site"]
        assert next(r.chunks()).passthrough == {"Patient ID": ["P1"], "visit": ["3"]}
    with pytest.raises(InputError, match=r"t.csv: missing pass-through columns 'date', 'ward' that the profile "
                                         r"names \(table.passthrough\)"):
        TableReader(p, ["a", "b"], passthrough=["date", "site", "ward"])


def test_columns_by_position_pass_the_rest_through(tmp_path):
    p = tmp_path / "bare.csv"
    p.write_text("1,2,007\n3,4,x\n")
    with TableReader(p, None, 2) as r:
        assert r.columns == ["column 1", "column 2"] and r.passthrough_columns == ["column 3"]
        assert next(r.chunks()).passthrough == {"column 3": ["007", "x"]}


def test_the_profile_key(tmp_path):
    base = {"input": "features", "task": "regression", "table": {"columns": ["a", "b"]}}
    default = profile_from_dict(base)
    assert default.table.passthrough is True
    assert "passthrough" not in default.to_dict()["table"]  # a profile without the key keeps its hash
    for value, parsed in ((False, False), (True, True), (["id", "date"], ("id", "date")), ([], ())):
        p = profile_from_dict({**base, "table": {**base["table"], "passthrough": value}})
        assert p.table.passthrough == parsed
        assert profile_from_dict(p.to_dict()) == p
    with pytest.raises(ProfileError, match="table.passthrough must be true"):
        profile_from_dict({**base, "table": {"columns": ["a"], "passthrough": "id"}})
    with pytest.raises(ProfileError, match="lists id more than once"):
        profile_from_dict({**base, "table": {"columns": ["a"], "passthrough": ["id", "id"]}})
    with pytest.raises(ProfileError, match="lists a, which table.columns feeds to the model"):
        profile_from_dict({**base, "table": {"columns": ["a"], "passthrough": ["a"]}})
    with pytest.raises(ProfileError, match="unknown key 'table.passthru' \\(did you mean 'passthrough'\\?\\)"):
        profile_from_dict({**base, "table": {"columns": ["a"], "passthru": True}})


def test_results_carry_the_columns_the_profile_keeps(tmp_path):
    model = table_model(tmp_path / "sum.onnx", n_features=2)
    (tmp_path / "sum.profile.json").write_text(json.dumps(
        {"input": "features", "task": "regression", "table": {"columns": ["a", "b"], "passthrough": ["id"]}}))
    csv = tmp_path / "rows.csv"
    csv.write_text("id,a,note,b\n007,1,skip me,2\n008,x,,3\n")
    engine = Engine(model)
    [batch] = list(run_batches(engine, [csv]))
    assert batch.passthrough == {"id": ["007", "008"]}
    results = list(run_batch(engine, [csv]))
    assert [r.passthrough for r in results] == [{"id": "007"}, {"id": "008"}]
    assert [r.ok for r in results] == [True, False]
    np.testing.assert_allclose(results[0].values, [3.0])


def test_the_diabetes_sample_keeps_its_target_column():
    results = list(run_batch(Engine(MODELS / "diabetes.onnx"), [SAMPLES / "diabetes.csv"]))
    assert all(r.ok for r in results)
    assert results[0].passthrough == {"progression": "321.0"}  # the text of the file, not a float
    assert len({r.passthrough["progression"] for r in results}) > 1
