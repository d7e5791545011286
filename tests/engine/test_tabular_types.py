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


# --------------------------------------------------------------------------- 11: columns read as text

def _chunks(path, columns, types, passthrough=True):
    from desktop.engine.inputs.tabular import TableReader

    with TableReader(path, columns, passthrough=passthrough, types=types) as reader:
        return list(reader.chunks())


def test_text_columns_are_read_as_written_and_an_empty_one_refuses_its_row(tmp_path, reader_path):
    p = _write(tmp_path, "id,sex,age,ward\nP1,M,50, ICU \nP2,,40,A\n,,,\nP3,F,x,B\nP4,F,30,\n\nP5,007,1e39,B\n")
    [chunk] = _chunks(p, ["ward", "age", "sex"], [object, np.float32, object])
    assert chunk.rows == [1, 2, 3, 4, 5]
    assert chunk.errors == [None, "row 2 (line 3): column 'sex' is empty",
                            "row 3 (line 5): column 'age' is not a number: 'x'",
                            "row 4 (line 6): column 'ward' is empty",
                            "row 5 (line 8): column 'age' is '1e39', beyond the range of the model's float32 input "
                            "(±3.402824e+38)"]
    assert chunk.texts[0][0] == "ICU" and chunk.texts[2][0] == "M"
    assert chunk.values[0, 1] == 50 and np.isnan(chunk.values[0, [0, 2]]).all()  # no number in a text column
    assert not chunk.values[1:].any()  # failed rows hold zeros
    assert chunk.passthrough == {"id": ["P1", "P2", "P3", "P4", "P5"]}


def test_a_table_of_text_columns_only(tmp_path, reader_path):
    p = _write(tmp_path, "a,b\nx,y\n,\n 1 ,2.50\nz,\n")
    [chunk] = _chunks(p, ["a", "b"], object)
    assert chunk.rows == [1, 2, 3] and chunk.errors == [None, None, "row 3 (line 5): column 'b' is empty"]
    assert chunk.texts[0][:2].tolist() == ["x", "1"] and chunk.texts[1][:2].tolist() == ["y", "2.50"]


def test_both_readers_give_the_same_text_chunk(tmp_path, monkeypatch):
    text = "k,a,b,c\n" + "".join(f"K{i},{'MF'[i % 2]},{i * 0.5},{'' if i % 11 == 0 else 'w' + str(i % 3)}\n"
                                 for i in range(3000))
    p = _write(tmp_path, text)
    got = []
    for use_pandas in (True, False):
        with monkeypatch.context() as m:
            if use_pandas:
                m.setattr(tabular, "SMALL_FILE_BYTES", 0)
            else:
                m.setattr(tabular, "_pandas", lambda: None)
            [chunk] = _chunks(p, ["a", "b", "c"], [object, np.float32, object])
        got.append(chunk)
    fast, slow = got
    assert fast.rows == slow.rows and fast.errors == slow.errors and fast.passthrough == slow.passthrough
    np.testing.assert_array_equal(fast.values, slow.values)
    assert fast.texts.keys() == slow.texts.keys() == {0, 2}
    ok = [i for i, e in enumerate(fast.errors) if e is None]
    for j in (0, 2):
        assert fast.texts[j][ok].tolist() == slow.texts[j][ok].tolist()
