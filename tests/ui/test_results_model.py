"""The results table model: sorting, filtering and appending in groups stay fast at 100,000 rows."""

from __future__ import annotations

import time

from PySide6.QtCore import QItemSelectionModel, Qt
from PySide6.QtWidgets import QTableView

from desktop.engine.results import Prediction, Result, Timings
from desktop.ui.models import COL_LATENCY, COL_SCORE, ResultsModel


def fake_results(n, start=0):
    out = []
    for i in range(start, start + n):
        ok = i % 97 != 0
        score = ((i * 7919) % 1000) / 1000.0
        out.append(Result(i, f"/data/img_{i:06d}.png", None, ok, None if ok else f"img_{i:06d}.png: truncated",
                          top=(Prediction(str(i % 10), i % 10, score),) if ok else (),
                          timings=Timings(0.1, 0.1, (i % 13) / 10.0, 0.01)))
    return out


def test_100k_rows_sorted_and_filtered_while_appending(qtbot):
    model = ResultsModel()
    view = QTableView()
    qtbot.addWidget(view)
    view.setModel(model)
    view.setSortingEnabled(True)
    view.sortByColumn(COL_SCORE, Qt.DescendingOrder)
    view.show()
    model.append(fake_results(50))
    view.selectionModel().setCurrentIndex(model.index(3, 0), QItemSelectionModel.ClearAndSelect |
                                          QItemSelectionModel.Rows)
    chosen = model.result_at(3)
    rest = fake_results(100_000 - 50, 50)
    times = []
    for start in range(0, len(rest), 500):
        t = time.perf_counter()
        model.append(rest[start:start + 500])
        times.append(time.perf_counter() - t)
        if start % 20_000 == 0:
            qtbot.wait(1)  # let the view paint now and then
    assert model.rowCount() == 100_000
    times.sort()
    assert times[len(times) // 2] < 0.1, f"median group of 500 rows: {times[len(times) // 2] * 1000:.0f} ms"
    scores = [model.result_at(r).top_score or -1 for r in range(0, 100_000, 997)]
    # descending by score; failed rows (no score) at the end
    ok_scores = [s for s in scores if s >= 0]
    assert ok_scores == sorted(ok_scores, reverse=True)
    # the selection stayed on the same result while rows were inserted around it
    assert model.result_at(view.selectionModel().currentIndex().row()) is chosen
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
