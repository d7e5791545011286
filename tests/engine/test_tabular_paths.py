"""The pandas fast path and the csv-module path read every table the same way, messages included."""

from __future__ import annotations

import numpy as np
import pytest

from desktop.engine.inputs import tabular
from desktop.engine.inputs.tabular import TableReader, read_table

CASES = {
    "clean": ("a,b,c\n1,2,3\n4,5,6\n", ["c", "a"]),
    "tricky": ("id,b,a,note\r\n\r\nP1,1.5,2,x\r\n,,,\r\nP2,,3,y\r\nP3,abc,4,z\r\nP4,nan,5,w\r\n"
               "P5,6\r\nP6, 7 ,8 ,v\r\nP7,inf,9,u\r\nP8,1e3,-2.5e-3,t\r\n", ["a", "b"]),
    "semicolon": ("a;b\n1,5;2\n3;4,25\n5;x\n", ["b", "a"]),
    "bom": ("\ufeffa,b\n1,2\n3,\n", ["a", "b"]),
    "booleans": ("a,b\nTrue,1\nFalse,2\n", ["a", "b"]),
    "quoted": ('a,b\n"1",2\n"3,5",4\n', ["a", "b"]),
}


def _read(path, columns, use_pandas: bool, monkeypatch):
    if use_pandas:
        monkeypatch.setattr(tabular, "SMALL_FILE_BYTES", 0)  # small files are otherwise read by the csv module
    else:
        monkeypatch.setattr(tabular, "_pandas", lambda: None)
    return read_table(path, columns)


@pytest.mark.parametrize("case", sorted(CASES))
def test_both_paths_agree(tmp_path, monkeypatch, case):
    text, columns = CASES[case]
    p = tmp_path / f"{case}.csv"
    p.write_bytes(text.encode("utf-8"))
    fast = _read(p, columns, True, monkeypatch)
    slow = _read(p, columns, False, monkeypatch)
    assert fast[0] == slow[0]
    np.testing.assert_array_equal(fast[1], slow[1])
    assert fast[2] == slow[2]


def test_tricky_rows_have_specific_messages(tmp_path):
    text, columns = CASES["tricky"]
    p = tmp_path / "t.csv"
    p.write_bytes(text.encode())
    rows, values, errors = read_table(p, columns)
    assert rows == list(range(1, 9))  # the line of bare commas holds no data and is skipped
    assert errors[0] is None and values[0].tolist() == [2.0, 1.5]
    assert errors[1] == "row 2 (line 5): column 'b' is empty"
    assert errors[2] == "row 3 (line 6): column 'b' is not a number: 'abc'"
    assert errors[3] == "row 4 (line 7): column 'b' is not a finite number: 'nan'"
    assert errors[4] == "row 5 (line 8): has 2 cells, the header has 4"
    assert errors[5] is None and values[5].tolist() == [8.0, 7.0]
    assert errors[6] == "row 7 (line 10): column 'b' is not a finite number: 'inf'"
    assert values[7].tolist() == [-2.5e-3, 1000.0]


def test_more_cells_than_the_header_refuse_that_row_only(tmp_path):
    p = tmp_path / "long.csv"
    p.write_text("a,b\n1,2\n3,4,5,6\n7,8,\n9,1,5\n")
    rows, values, errors = read_table(p, ["a", "b"])
    assert rows == [1, 2, 3, 4]
    assert errors[0] is None and errors[2] is None  # a trailing empty cell is harmless
    assert errors[1] == "row 2 (line 3): has 4 cells, the header has 2 (a decimal comma in a comma-separated file?)"
    assert errors[3] == "row 4 (line 5): has 3 cells, the header has 2 (a decimal comma in a comma-separated file?)"
    assert values[[0, 2]].tolist() == [[1, 2], [7, 8]]


def test_a_decimal_comma_in_a_comma_file_is_not_read_silently(tmp_path):
    p = tmp_path / "one.csv"
    p.write_text("a\n1,5\n2\n")
    rows, values, errors = read_table(p, ["a"])
    assert errors[0] == "row 1 (line 2): has 2 cells, the header has 1 (a decimal comma in a comma-separated file?)"
    assert errors[1] is None and values[1].tolist() == [2.0]


def test_encoding_change_midway_falls_back(tmp_path, monkeypatch):
    # the first 64 KiB are plain ASCII, a Windows-1252 byte comes later: the csv module takes over
    head = "a,b\n" + "1,2\n" * 20000
    p = tmp_path / "late.csv"
    p.write_bytes(head.encode() + "3,4\n5,caf\xe9\n6,7\n".encode("cp1252"))
    with TableReader(p, ["a", "b"]) as reader:
        chunks = list(reader.chunks(4096))
    errors = [e for c in chunks for e in c.errors]
    rows = [r for c in chunks for r in c.rows]
    assert rows == list(range(1, 20004))
    assert errors[-2] is not None and "column 'b' is not a number" in errors[-2]
    assert errors[-1] is None and chunks[-1].values[-1].tolist() == [6.0, 7.0]


def _big_table(path, rows=3000):
    lines = ["id,a,b"] + [f"P{i:05d},{i},{i % 7}" for i in range(rows)]
    lines[1200] = "P01199,x,1"  # a row that fails
    lines[2500] = "P02499,1,2,3"  # more cells than the header: the csv module reads on from here
    path.write_text("\n".join(lines) + "\n")
    return path


def _chunks(path, monkeypatch, ahead: int):
    monkeypatch.setattr(tabular, "SMALL_FILE_BYTES", 0)
    monkeypatch.setattr(tabular, "WHOLE_READ_BYTES", 0)  # read chunk by chunk, as a large file is
    monkeypatch.setattr(tabular, "READ_AHEAD", ahead)
    with TableReader(path, ["a", "b"]) as reader:
        return [(c.rows, c.values.tolist(), c.errors, c.passthrough) for c in reader.chunks(256)]


def test_reading_ahead_changes_nothing(tmp_path, monkeypatch):
    p = _big_table(tmp_path / "big.csv")
    ahead = _chunks(p, monkeypatch, 2)
    assert ahead == _chunks(p, monkeypatch, 0)
    errors = [e for rows, _, errs, _ in ahead for e in errs if e]
    assert errors == ["row 1200 (line 1201): column 'a' is not a number: 'x'",
                      "row 2500 (line 2501): has 4 cells, the header has 3 (a decimal comma in a comma-separated file?)"]
    assert ahead[-1][0][-1] == 3000


def _reader_threads():
    import threading

    return [t for t in threading.enumerate() if t.name == "inferdesk-csv-reader"]


def test_closing_the_reader_early_stops_the_thread(tmp_path, monkeypatch):
    p = _big_table(tmp_path / "big.csv")
    monkeypatch.setattr(tabular, "SMALL_FILE_BYTES", 0)
    monkeypatch.setattr(tabular, "WHOLE_READ_BYTES", 0)
    with TableReader(p, ["a", "b"]) as reader:
        chunks = reader.chunks(64)
        assert next(chunks).rows[0] == 1
        assert _reader_threads()  # parsing the next chunks meanwhile
    assert not _reader_threads()
    chunks.close()


def test_an_error_while_reading_ahead_reaches_the_reader_in_order(tmp_path, monkeypatch):
    p = _big_table(tmp_path / "big.csv")
    monkeypatch.setattr(tabular, "SMALL_FILE_BYTES", 0)
    monkeypatch.setattr(tabular, "WHOLE_READ_BYTES", 0)
    real = TableReader._pandas_chunks

    def failing(self, size):
        source = real(self, size)
        yield next(source)
        yield next(source)
        raise tabular.InputError("big.csv: the disk went away")

    monkeypatch.setattr(TableReader, "_pandas_chunks", failing)
    got = []
    with TableReader(p, ["a", "b"]) as reader:
        with pytest.raises(tabular.InputError, match="the disk went away"):
            for chunk in reader.chunks(100):
                got.append(chunk.rows[0])
    assert got == [1, 101]
    assert not _reader_threads()
