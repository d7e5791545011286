"""The results table model over ResultBatch columns: sorting, filtering and appending stay fast to 1,000,000 rows,
and every column sorts and filters as its cells read."""

from __future__ import annotations

import os
import time

import numpy as np
from PySide6.QtCore import QItemSelectionModel, Qt
from PySide6.QtWidgets import QTableView

from desktop.engine.resultbatch import NO_ROW, ResultBatch
from desktop.engine.results import Result, Timings
from desktop.runs import fmt
from desktop.ui.models import (COL_INDEX, COL_INPUT, COL_LABEL, COL_LATENCY, COL_MESSAGE, COL_PASSTHROUGH,
                               COL_SCORE, COL_STATUS, ResultsModel, _digits_start, _digits_within, _Strings)

LABELS = [str(d) for d in range(10)]


def fake_batch(start: int, n: int, csv: str | None = None, passthrough: bool = False) -> ResultBatch:
    """Items ``start``..``start+n``: classification over ten labels, every 97th failed; images, or rows of ``csv``."""
    i = np.arange(start, start + n)
    ok = i % 97 != 0
    score = ((i * 7919) % 1000) / 1000.0
    top_col = (i % 10).astype(np.int32)[:, None]
    timings = np.stack([np.full(n, 0.1), np.full(n, 0.1), (i % 13) / 10.0, np.full(n, 0.01)], axis=1)
    if csv:
        sources, source, row = [csv], np.zeros(n, np.int32), i + 1
        errors = {k: f"{os.path.basename(csv)}: row {i[k] + 1}: column 'x' is empty" for k in np.flatnonzero(~ok)}
    else:
        sources, source, row = [f"/data/img_{k:06d}.png" for k in i], np.arange(n), np.full(n, NO_ROW)
        errors = {k: f"img_{i[k]:06d}.png: truncated" for k in np.flatnonzero(~ok)}
    extra = {"patient_id": [f"P{(k * 31) % 1000:04d}" for k in i], "age": [str(20 + k % 60) for k in i]} \
        if passthrough else None
    return ResultBatch(task="classification", position=i, source=source, row=row, ok=ok, timings=timings,
                       sources=sources, source_kinds=["table" if csv else "image"] * len(sources), errors=errors,
                       answer={"top_col": top_col, "top_score": score[:, None]},
                       meta={"labels": LABELS, "indices": list(range(10))}, passthrough=extra)


def shown(model, column=None):
    """The table's rows as the stored row of each (or the display text of ``column``)."""
    if column is None:
        return [model.result_at(r).index for r in range(model.rowCount())]
    return [model.index(r, column).data() for r in range(model.rowCount())]


def sorted_view(qtbot, model, column):
    """A shown table view over ``model``, sorted by ``column``, descending."""
    view = QTableView()
    qtbot.addWidget(view)
    view.setModel(model)
    view.setSortingEnabled(True)
    view.sortByColumn(column, Qt.DescendingOrder)
    return view


def test_100k_rows_sorted_and_filtered_while_appending(qtbot):
    model = ResultsModel()
    view = sorted_view(qtbot, model, COL_SCORE)
    view.show()
    model.append(fake_batch(0, 50))
    view.selectionModel().setCurrentIndex(model.index(3, 0), QItemSelectionModel.ClearAndSelect |
                                          QItemSelectionModel.Rows)
    chosen = model.result_at(3)
    times = []
    for start in range(50, 100_000, 500):
        batch = fake_batch(start, min(500, 100_000 - start))
        t = time.perf_counter()
        model.append(batch)
        times.append(time.perf_counter() - t)
        if start % 20_000 == 50:
            qtbot.wait(1)  # let the view paint now and then
    assert model.rowCount() == 100_000
    times.sort()
    assert times[len(times) // 2] < 0.1, f"median group of 500 rows: {times[len(times) // 2] * 1000:.0f} ms"
    scores = [model.result_at(r).top_score or -1 for r in range(0, 100_000, 997)]
    # descending by score; failed rows (no score) at the end
    ok_scores = [s for s in scores if s >= 0]
    assert ok_scores == sorted(ok_scores, reverse=True)
    # the selection stayed on the same result while rows were inserted around it
    assert model.result_at(view.selectionModel().currentIndex().row()).index == chosen.index
    # filter by status, then by text
    model.set_filter(status="failed")
    assert model.rowCount() == len([i for i in range(100_000) if i % 97 == 0])
    assert all(not model.result_at(r).ok for r in range(model.rowCount()))
    model.set_filter(text="img_004242.png", status="all")
    assert model.rowCount() == 1 and model.result_at(0).index == 4242
    model.set_filter(text="", status="all")
    model.sort(COL_LATENCY, Qt.AscendingOrder)
    lat = [model.result_at(r) for r in range(0, 100_000, 1013)]
    keys = [(0, r.timings.total) if r.ok else (1, 0.0) for r in lat]
    assert keys == sorted(keys)
    assert model.row_of_index(4242) is not None
    assert model.result_at(model.row_of_index(4242)).index == 4242


def test_a_million_csv_rows_append_cheaply_while_sorted_and_filtered(qtbot):
    """Sixteen CSV chunks of 65,536 rows, sorted by latency (descending) and filtered: each append merges its
    rows into the order the table already has instead of sorting everything again."""
    model = ResultsModel()
    view = sorted_view(qtbot, model, COL_LATENCY)
    model.set_filter(text="rows.csv · row 1", status="ok")
    view.show()
    chunk, n = 65_536, 1_048_576
    times = []
    for start in range(0, n, chunk):
        batch = fake_batch(start, chunk, csv="/data/rows.csv")
        t = time.perf_counter()
        model.append(batch)
        times.append(time.perf_counter() - t)
        qtbot.wait(1)
    i = np.arange(n)
    row = i + 1
    expected = (i % 97 != 0) & np.char.startswith(row.astype(str), "1")
    assert model.total == n and model.rowCount() == int(expected.sum())
    # worst append of 65,536 rows into up to a million: well under a second, nowhere near a full re-sort each time
    assert max(times) < 1.0, [round(t * 1000) for t in times]
    latency = [float(model.result_at(r).timings.total) for r in range(0, model.rowCount(), 9973)]
    assert latency == sorted(latency, reverse=True)
    # ties (equal latency) stay in run order: read from the end, descending shows the latest first
    top = [model.result_at(r).index for r in range(50)]
    same = [p for p in top if (p % 13) == 12]
    assert same == sorted(same, reverse=True)
    # re-sorting and refiltering a million rows at once is one argsort and one mask
    t = time.perf_counter()
    model.sort(COL_INPUT, Qt.AscendingOrder)
    model.set_filter(text="", status="all")
    assert time.perf_counter() - t < 3.0
    assert model.rowCount() == n and model.result_at(0).row == 1 and model.result_at(n - 1).row == n


def _reference_rows(results, column, passthrough=None):
    """The order the table should show, from the Results themselves (ties by position)."""
    def key(r):
        if column == COL_INDEX:
            return (0, r.index)
        if column == COL_INPUT:
            return (os.path.basename(r.input).lower(), r.row or 0)
        if column == COL_LABEL:
            if r.ok and r.top:
                return (0, r.top[0].label.lower())
            return (1, "")
        if column == COL_SCORE:
            return (0, r.top_score) if r.ok and r.top else (1, 0.0)
        if column == COL_STATUS:
            return (0 if r.ok else 1,)
        if column == COL_LATENCY:
            return (0, r.timings.total) if r.ok else (1, 0.0)
        if column == COL_MESSAGE:
            return (0, (r.error or "").lower())
        value = r.passthrough[passthrough]
        return (0, float(value)) if value.lstrip("-").replace(".", "", 1).isdigit() else (0, value.lower())
    return [r.index for r in sorted(results, key=lambda r: key(r) + (r.index,))]


def test_every_column_sorts_as_it_reads_and_appends_keep_the_order():
    batches = [fake_batch(0, 40, csv="/d/b.csv", passthrough=True), fake_batch(40, 30, csv="/d/c.csv", passthrough=True),
               fake_batch(70, 60, csv="/d/A.csv", passthrough=True)]
    results = [r for b in batches for r in b.results()]
    model = ResultsModel()
    for b in batches:
        model.append(b)
    assert model.passthrough_names == ("patient_id", "age")
    columns = [COL_INDEX, COL_INPUT, COL_LABEL, COL_SCORE, COL_STATUS, COL_LATENCY, COL_MESSAGE,
               COL_PASSTHROUGH, COL_PASSTHROUGH + 1]
    for logical in columns:
        name = model.passthrough_names[logical - COL_PASSTHROUGH] if logical >= COL_PASSTHROUGH else None
        expected = _reference_rows(results, logical, name)
        for order in (Qt.AscendingOrder, Qt.DescendingOrder):
            model.sort(model.view_column(logical), order)
            got = shown(model)
            if order == Qt.AscendingOrder:
                assert got == expected, logical
            else:  # the same order read from the end
                assert got == expected[::-1], logical
    # sorted by patient id, rows appended later are merged into place
    model3 = ResultsModel()
    model3.append(batches[0])
    model3.sort(model3.view_column(COL_PASSTHROUGH), Qt.AscendingOrder)
    for b in batches[1:]:
        model3.append(b)
    assert shown(model3) == _reference_rows(results, COL_PASSTHROUGH, "patient_id")
    # ages are numbers: 9 sorts before 10
    model3.sort(model3.view_column(COL_PASSTHROUGH + 1), Qt.AscendingOrder)
    ages = [int(a) for a in shown(model3, model3.view_column(COL_PASSTHROUGH + 1))]
    assert ages == sorted(ages)


def test_pass_through_columns_are_shown_after_the_answer_and_its_status():
    model = ResultsModel()
    model.append(fake_batch(0, 5, csv="/d/rows.csv"))  # a first chunk without pass-through columns
    assert model.columns == ("#", "Input", "Result", "Score", "Status", "Latency (ms)", "Message")
    inserted = []
    model.columnsInserted.connect(lambda _p, a, b: inserted.append((a, b)))
    model.append(fake_batch(5, 5, csv="/d/rows.csv", passthrough=True))
    assert inserted == [(6, 7)]
    # Status and Latency stay where a narrow window still shows them; the CSV's columns come after
    assert model.columns == ("#", "Input", "Result", "Score", "Status", "Latency (ms)", "patient_id", "age",
                             "Message")
    assert model.headerData(6, Qt.Horizontal, Qt.ToolTipRole).startswith("A column of the CSV file")
    assert model.view_column(COL_STATUS) == 4 and model.logical_column(6) == COL_PASSTHROUGH
    assert model.index(0, 6).data() == "" and model.index(7, 6).data() == f"P{(7 * 31) % 1000:04d}"
    assert model.index(7, 7).data() == "27" and model.index(7, 2).data() == "7"
    assert model.index(7, 4).data() == "✔ OK" and model.index(7, 4).data(Qt.ToolTipRole) is None
    assert "patient_id: P0217" in model.index(7, 6).data(Qt.ToolTipRole)
    assert model.result_at(7).passthrough == {"patient_id": "P0217", "age": "27"}
    model.set_filter(text="p0217")  # the filter looks into pass-through values too
    assert shown(model) == [7]


def test_text_filter_matches_what_the_cells_show():
    batches = [fake_batch(0, 300, csv="/d/rows.csv"), fake_batch(300, 200)]
    results = [r for b in batches for r in b.results()]
    model = ResultsModel()
    for b in batches:
        model.append(b)

    def hay(r):
        text = r.top_label if r.ok else "failed"
        return " | ".join([r.display_name, text, r.error or ""]).lower()

    for text in ("row 12", "v · row 2", "12", "05", "0", "w 1", "rows.csv", "img_0003", "truncated", "fail",
                 "7", " ", "csv · ro", "empty", "row 300", "zzz"):
        model.set_filter(text=text)
        assert shown(model) == [r.index for r in results if text.strip().lower() in hay(r)], text
    model.set_filter(text="row 1", status="failed")
    assert shown(model) == [r.index for r in results if "row 1" in hay(r) and not r.ok]


def test_regression_values_filter_and_sort_by_their_text():
    results = [Result(i, "/d/diabetes.csv", i + 1, i != 3, None if i != 3 else "row 4: empty",
                      values=(v,) if i != 3 else (), timings=Timings(0, 0, 1, 0))
               for i, v in enumerate([152.3, -0.5, 12.0, 0.0, 99.95, 1.5e-5])]
    model = ResultsModel()
    model.append(ResultBatch.from_results(results, "regression"))
    assert shown(model, COL_LABEL) == [fmt.score(r.values[0]) if r.ok else "" for r in results]
    model.sort(COL_LABEL, Qt.AscendingOrder)
    assert shown(model) == [1, 5, 2, 4, 0, 3]  # by value; the failed row last
    model.set_filter(text="12.0")
    assert shown(model) == [2]


def test_digit_matching_without_strings():
    rows = np.arange(1, 3000)
    for digits in ("1", "0", "05", "12", "100", "999", "2999", "3000"):
        within = [r for r in rows.tolist() if digits in str(r)]
        start = [r for r in rows.tolist() if str(r).startswith(digits)]
        assert rows[_digits_within(rows, digits)].tolist() == within, digits
        assert rows[_digits_start(rows, digits)].tolist() == start, digits


def test_string_ranks_grow_without_reranking_when_new_strings_sort_last():
    def order(s):
        return [s.values[i] for i in np.argsort(s.rank(), kind="stable")]

    text = _Strings()
    text.codes(["10", "2", "b"])
    first = text.rank().copy()
    text.codes(["c", "D"])
    assert text.version == 0 and np.array_equal(text.rank()[:3], first)  # the earlier ranks stand
    assert order(text) == ["10", "2", "b", "c", "D"]
    text.codes(["a"])  # sorts before others: every string is ranked again, and keys made before are stale
    assert order(text) == ["10", "2", "a", "b", "c", "D"] and text.version == 1

    numbers = _Strings(numeric=True)
    numbers.codes(["10", "2", "7", ""])
    numbers.codes(["11", "3"])
    assert order(numbers) == ["2", "3", "7", "10", "11", ""] and numbers.version == 0  # blank last
    numbers.codes(["n/a"])  # not a number: ranked as text from now on
    assert order(numbers) == ["", "10", "11", "2", "3", "7", "n/a"] and numbers.version == 1
