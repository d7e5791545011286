"""What a CSV cell must be to reach the model: numbers both readers take alike, in the input type's range."""

from __future__ import annotations

import numpy as np
import pytest

from desktop.engine.inputs import tabular
from desktop.engine.inputs.tabular import read_table

PATHS = ["pandas", "csv-module"]


@pytest.fixture(params=PATHS)
def reader_path(request, monkeypatch):
    """Each test runs once with pandas reading the file and once with the csv module."""
    if request.param == "pandas":
        monkeypatch.setattr(tabular, "SMALL_FILE_BYTES", 0)  # small files are otherwise read by the csv module
    else:
        monkeypatch.setattr(tabular, "_pandas", lambda: None)
    return request.param


def _write(tmp_path, text: str, name="t.csv"):
    p = tmp_path / name
    p.write_bytes(text.encode("utf-8"))
    return p


# --------------------------------------------------------------------------- 19a: cells neither reader takes

ODD_CELLS = [
    ("1_000", "column 'b' is not a number: '1_000'"),
    ("\u0663\u066b\u0665", "column 'b' is not a number: '\u0663\u066b\u0665' (write numbers with the digits 0-9)"),
    ("\u0661\u0662", "column 'b' is not a number: '\u0661\u0662' (write numbers with the digits 0-9)"),  # ١٢
    ("\uff11\uff12", "column 'b' is not a number: '\uff11\uff12' (write numbers with the digits 0-9)"),  # fullwidth 12
    ("0x10", "column 'b' is not a number: '0x10'"),
    ("1 000", "column 'b' is not a number: '1 000'"),
]


@pytest.mark.parametrize("cell, message", ODD_CELLS, ids=[c for c, _ in ODD_CELLS])
def test_a_cell_neither_reader_takes_is_refused_naming_row_column_and_value(tmp_path, reader_path, cell, message):
    # numpy's float parser (the csv-module path) reads '1_000' and Arabic-Indic or fullwidth digits, pandas'
    # does not: both refuse them, and the message names the column instead of "cannot read the values"
    p = _write(tmp_path, f"a,b\n1,2\n3,{cell}\n5,6\n")
    rows, values, errors = read_table(p, ["a", "b"])
    assert rows == [1, 2, 3]
    assert errors == [None, f"row 2 (line 3): {message}", None]
    assert values.tolist() == [[1, 2], [0, 0], [5, 6]]


def test_numbers_both_readers_take(tmp_path, reader_path):
    p = _write(tmp_path, "a,b\n+1,.5\n-2.,1e3\n 3 ,4E-2\n")
    rows, values, errors = read_table(p, ["a", "b"])
    assert errors == [None, None, None]
    assert values.tolist() == [[1, 0.5], [-2, 1000], [3, 0.04]]
