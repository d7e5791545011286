"""A wide CSV (most columns neither features nor passed through): only the needed columns are read,
and a row with more cells than the header is still refused, by both readers alike."""

from __future__ import annotations

import numpy as np
import pytest

from desktop.engine.inputs import tabular
from desktop.engine.inputs.tabular import TableReader


def _read(path, columns, passthrough, use_pandas: bool, monkeypatch):
    if use_pandas:
        monkeypatch.setattr(tabular, "SMALL_FILE_BYTES", 0)  # small files are otherwise read by the csv module
    else:
        monkeypatch.setattr(tabular, "_pandas", lambda: None)
    with TableReader(path, columns, passthrough=passthrough) as reader:
        chunks = list(reader.chunks())
    return ([r for c in chunks for r in c.rows], np.concatenate([c.values for c in chunks]),
            [e for c in chunks for e in c.errors], {k: [v for c in chunks for v in c.passthrough[k]]
                                                    for k in chunks[0].passthrough})


WIDE = ("id,a,x1,x2,b,x3,x4,x5,x6\n"
        "P1,1,0,0,2,0,0,0,0\n"
        "P2,3,0,0,4,0,0,0,0,9\n"          # one cell more than the header: refused
        "P3,5,0,0,6,0,0,0,0,\n"           # a trailing empty cell: harmless
        "P4,7,0,0,8,0,0,0,0,,,5\n"        # an empty cell, then a value: refused
        "\n"
        "P5,9\n"                          # too few cells for b
        ",,,,,,,,\n"                      # bare delimiters: no row
        ",,,,,,,,,,,,\n"                  # more bare delimiters than the header has: no row either
        "P6,10,0,0,11\n")                 # short, but every needed cell is there


@pytest.mark.parametrize("use_pandas", [True, False], ids=["pandas", "csv-module"])
def test_a_wide_file_reads_as_a_narrow_one(tmp_path, monkeypatch, use_pandas):
    p = tmp_path / "wide.csv"
    p.write_text(WIDE)
    rows, values, errors, passthrough = _read(p, ["b", "a"], ["id"], use_pandas, monkeypatch)
    assert rows == [1, 2, 3, 4, 5, 6]
    assert errors == [
        None,
        "row 2 (line 3): has 10 cells, the header has 9 (a decimal comma in a comma-separated file?)",
        None,
        "row 4 (line 5): has 12 cells, the header has 9 (a decimal comma in a comma-separated file?)",
        "row 5 (line 7): has 2 cells, the header has 9",
        None,
    ]
    assert values[[0, 2, 5]].tolist() == [[2, 1], [6, 5], [11, 10]]
    assert passthrough == {"id": ["P1", "P2", "P3", "P4", "P5", "P6"]}


def test_only_the_needed_columns_reach_pandas(tmp_path, monkeypatch):
    p = tmp_path / "wide.csv"
    p.write_text(WIDE)
    seen = {}
    real = tabular._pandas()

    class Spy:
        def __getattr__(self, name):
            return getattr(real, name)

        @staticmethod
        def read_csv(*args, **kwargs):
            seen["usecols"] = kwargs.get("usecols")
            return real.read_csv(*args, **kwargs)

    monkeypatch.setattr(tabular, "_pandas", Spy)
    monkeypatch.setattr(tabular, "SMALL_FILE_BYTES", 0)
    with TableReader(p, ["b", "a"], passthrough=["id"]) as reader:
        list(reader.chunks())
    assert seen["usecols"] == [0, 1, 4]


def test_a_quote_in_a_wide_file_hands_it_to_the_csv_module(tmp_path, monkeypatch):
    # a quoted cell may hold the delimiter, or a line break: the lines' delimiters say nothing sure
    p = tmp_path / "wide.csv"
    p.write_text('id,a,x1,x2,b,x3\nP1,1,"0,0",0,2,0\nP2,3,0,0,4,0,9\n')
    rows, values, errors, passthrough = _read(p, ["a", "b"], ["id"], True, monkeypatch)
    assert errors == [None, "row 2 (line 3): has 7 cells, the header has 6 (a decimal comma in a comma-separated "
                            "file?)"]
    assert values[0].tolist() == [1, 2]


@pytest.mark.parametrize("block", [1, 3, 16, 1 << 20])
def test_crowded_lines_are_counted_across_blocks(tmp_path, block):
    p = tmp_path / "c.csv"
    p.write_bytes(b"a,b,c\r\n1,2,3\r\n1,2,3,4\r\n\r\n,,,,,\r\n1,2\r\n1,2,3,,")
    assert tabular._crowded_lines(p, ",", 2, block) == [3, 5, 7]
    p.write_bytes(b"a,b,c\r1,2,3\r")  # old Mac line ends: one line for us, several records for pandas
    assert tabular._crowded_lines(p, ",", 2, block) is None
