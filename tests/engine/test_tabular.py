"""The CSV reader's messages where pandas reads the rows."""

from __future__ import annotations


def test_pandas_names_the_line_and_value_of_a_bad_row_after_a_multi_line_cell(tmp_path, monkeypatch):
    """pandas numbers records, not lines: a quoted cell's line break before a bad row must not shift its message."""
    from desktop.engine.inputs.tabular import TableReader

    monkeypatch.setattr("desktop.engine.inputs.tabular.SMALL_FILE_BYTES", 10)  # pandas reads it
    path = tmp_path / "t.csv"
    path.write_text('a,b,note\n1,2,"two\nlines"\n3,4,x\n5,oops,y\n', encoding="utf-8")
    with TableReader(path, ["a", "b"], 2) as reader:
        assert reader.parser == "pandas"
        errors = [e for c in reader.chunks() for e in c.errors]
    assert errors[:2] == [None, None]
    assert errors[2] == "row 3 (line 5): column 'b' is not a number: 'oops'"
