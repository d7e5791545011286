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


# --------------------------------------------------------------------------- 8: the input type's range

@pytest.mark.parametrize("dtype, fits, refused", [
    (np.float32, ["3.4028234e38", "-3e38", "1e-50"], ["3.5e38", "-1e39"]),
    (np.float16, ["65504", "65519", "-6e4"], ["65520", "-1e5"]),
    (np.int32, ["2147483647", "-2147483648", "7.0"], ["2147483648", "-2147483649", "0.5"]),
    (np.uint8, ["0", "255"], ["256", "-1", "2.5"]),
    (np.int64, ["9007199254740991", "-9007199254740991"], ["9007199254740992", "9223372036854775808", "1e19"]),
    (np.bool_, ["0", "1"], ["2", "-1", "0.5"]),
    (np.float64, ["1e300"], []),
])
def test_values_the_input_type_cannot_hold_refuse_their_row(tmp_path, reader_path, dtype, fits, refused):
    cells = fits + refused
    p = _write(tmp_path, "a\n" + "".join(f"{c}\n" for c in cells))
    rows, values, errors = read_table(p, ["a"], types=dtype)
    assert [e is None for e in errors] == [True] * len(fits) + [False] * len(refused)
    for cell, error in zip(refused, errors[len(fits):]):
        assert error.startswith(f"row {cells.index(cell) + 1} (line {cells.index(cell) + 2}): column 'a' is '{cell}', ")
    assert values[:len(fits), 0].astype(dtype).tolist() == [dtype(float(c)).item() for c in fits]
    assert np.isfinite(values[:len(fits)].astype(dtype)).all()


def test_one_type_per_column(tmp_path, reader_path):
    p = _write(tmp_path, "a,b\n1.5,2\n1e39,3\n2,3.5\n")
    rows, values, errors = read_table(p, ["a", "b"], types=[np.float64, np.int64])
    assert errors == [None, None, "row 3 (line 4): column 'b' is '3.5', not a whole number (the model's input is int64)"]
    assert values[:2].tolist() == [[1.5, 2], [1e39, 3]]


def test_a_bad_value_among_many_rows_is_found(tmp_path, monkeypatch):
    # a chunk is checked with two reductions first; a failing chunk row by row
    monkeypatch.setattr(tabular, "SMALL_FILE_BYTES", 0)
    lines = [f"{i},{i % 7}" for i in range(20000)]
    lines[12345] = "1,1e39"
    p = _write(tmp_path, "a,b\n" + "\n".join(lines) + "\n")
    rows, values, errors = read_table(p, ["a", "b"], types=np.float32)
    assert [i for i, e in enumerate(errors) if e] == [12345]
    assert errors[12345] == ("row 12346 (line 12347): column 'b' is '1e39', beyond the range of the model's float32 "
                             "input (±3.402824e+38)")
