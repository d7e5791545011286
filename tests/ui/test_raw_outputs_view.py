"""Raw outputs in the window: the table's Result cell and the detail pane show a small output's values."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np

from desktop.engine.profile import Profile
from desktop.engine.resultbatch import NO_ROW, ResultBatch
from desktop.ui.models import COL_LABEL, ResultsModel
from desktop.ui.widgets.detail import DetailPane


def raw_batch(outputs: dict) -> ResultBatch:
    n = len(next(iter(outputs.values())))
    return ResultBatch(task="raw", position=np.arange(n), source=np.arange(n), row=np.full(n, NO_ROW),
                       ok=np.ones(n, bool), timings=np.zeros((n, 4)), sources=[f"/d/{i}.png" for i in range(n)],
                       source_kinds=["image"] * n, outputs=outputs, output_names=tuple(outputs))


def test_the_table_shows_a_raw_results_values_not_a_dash(qtbot):
    model = ResultsModel()
    model.append(raw_batch({"y": np.array([[0.12, 0.88], [0.5, 0.5]], np.float32)}))
    column = model.view_column(COL_LABEL)
    assert model.index(0, column).data() == "[0.120, 0.880]"
    model.set_filter(text="0.880")  # the values are what the filter reads, too
    assert model.rowCount() == 1


def test_the_detail_pane_lists_a_small_outputs_values_with_labels(qtbot):
    pane = DetailPane()
    qtbot.addWidget(pane)
    pane.show()
    probs = np.array([[0.25, 0.75]], np.float32)
    result = raw_batch({"probabilities": probs}).result(0)
    pane.show_result(result, SimpleNamespace(profile=Profile(labels=("cat", "dog"))))
    assert pane.values.isVisible() and pane.values.rowCount() == 2
    cells = [tuple(pane.values.item(r, c).text() for c in range(3)) for r in range(2)]
    assert cells == [("probabilities", "cat (0)", repr(float(probs[0, 0]))),
                     ("probabilities", "dog (1)", repr(float(probs[0, 1])))]
    assert not pane.values_note.isVisible()


def test_the_detail_pane_caps_values_and_keeps_large_outputs_summarised(qtbot):
    pane = DetailPane()
    qtbot.addWidget(pane)
    pane.show()
    outputs = {"a": np.zeros((1, 800), np.float32), "b": np.ones((1, 800), np.float32),
               "map": np.zeros((1, 1, 64, 64), np.float32)}
    pane.show_result(raw_batch(outputs).result(0), None)
    assert pane.values.rowCount() == 1000  # the 4,096-value map is only summarised
    assert pane.values_note.isVisible() and pane.values_note.text() == "Showing 1,000 of 1,600 values."
    assert pane.outputs.rowCount() == 3
