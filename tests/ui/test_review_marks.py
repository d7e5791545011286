"""Results under the profile's review_below are marked in the table, filtered as "For review", explained in the
detail pane; the score says what it is; the editor writes review_below."""

from __future__ import annotations

import numpy as np
from uihelpers import DIGITS_MODEL

from desktop.engine import Engine
from desktop.engine.resultbatch import NO_ROW, ResultBatch
from desktop.ui.models import COL_SCORE, COL_STATUS, REVIEW_TEXT, ResultsModel
from desktop.ui.widgets.detail import NUMBERED_CLASSES_HINT, DetailPane
from desktop.ui.widgets.profile_editor import ProfileEditor

SCORES = [0.95, 0.54, 0.7, 0.3]


def batch(review_below=0.6, labels=("cat", "dog"), scores="softmax") -> ResultBatch:
    n = len(SCORES)
    top = np.array(SCORES)[:, None]
    meta = {"labels": list(labels), "indices": list(range(len(labels))), "scores": scores}
    if review_below is not None:
        meta["review_below"] = review_below
    return ResultBatch(task="classification", position=np.arange(n), source=np.arange(n), row=np.full(n, NO_ROW),
                       ok=np.ones(n, bool), timings=np.zeros((n, 4)), sources=[f"/d/{i}.png" for i in range(n)],
                       source_kinds=["image"] * n, answer={"top_col": np.zeros((n, 1), np.int32), "top_score": top},
                       meta=meta)


def test_rows_under_the_threshold_are_marked_with_the_reason(qtbot):
    model = ResultsModel()
    model.append(batch())
    status, score = model.view_column(COL_STATUS), model.view_column(COL_SCORE)
    assert [model.index(r, status).data() for r in range(4)] == ["✔ OK", REVIEW_TEXT, "✔ OK", REVIEW_TEXT]
    assert model.index(1, status).data(0x03) == ("Top score 0.540 is below this model's review threshold 0.6 "
                                                 "(profile key review_below)")  # Qt.ToolTipRole
    assert "review threshold 0.6" in model.index(1, score).data(0x03)
    assert model.n_review == 2


def test_the_for_review_filter_shows_only_the_marked_rows(qtbot):
    from desktop.ui.results_tab import STATUS_CHOICES

    assert ("For review", "review") in STATUS_CHOICES
    model = ResultsModel()
    model.append(batch())
    model.set_filter(status="review")
    assert [model.result_at(r).index for r in range(model.rowCount())] == [1, 3]
    model.set_filter(status="all")
    assert model.rowCount() == 4


def test_without_review_below_nothing_is_marked(qtbot):
    model = ResultsModel()
    model.append(batch(review_below=None))
    status = model.view_column(COL_STATUS)
    assert {model.index(r, status).data() for r in range(4)} == {"✔ OK"}
    model.set_filter(status="review")
    assert model.rowCount() == 0


def test_the_score_header_says_what_the_score_is(qtbot):
    from PySide6.QtCore import Qt

    model = ResultsModel()
    model.append(batch())
    tip = model.headerData(model.view_column(COL_SCORE), Qt.Horizontal, Qt.ToolTipRole)
    assert "softmax of the model's raw scores (logits), computed by InferDesk" in tip


def test_the_detail_pane_explains_the_mark_the_score_and_numbered_classes(qtbot):
    pane = DetailPane()
    qtbot.addWidget(pane)
    pane.show()
    pane.show_result(batch(labels=("0", "1")).result(1), None)
    text = pane.score_note.text()
    assert pane.score_note.isVisible()
    assert "For review:</b> Top score 0.540 is below this model's review threshold 0.6" in text
    assert "Score: softmax of the model's raw scores" in text
    assert NUMBERED_CLASSES_HINT in text
    pane.show_result(batch(labels=("cat", "dog"), scores="probabilities").result(0), None)
    text = pane.score_note.text()
    assert "For review" not in text and NUMBERED_CLASSES_HINT not in text
    assert "Score: the probability from the model's own output" in text


def test_the_editor_writes_review_below_and_zero_leaves_it_out(qtbot):
    engine = Engine(DIGITS_MODEL)
    editor = ProfileEditor(engine)
    qtbot.addWidget(editor)
    assert editor.review_below.value() == 0 and "review_below" not in editor.to_dict()
    editor.review_below.setValue(0.6)
    assert editor.to_dict()["review_below"] == 0.6
    assert editor.build_profile().review_below == 0.6
    from dataclasses import replace

    again = ProfileEditor(engine.with_profile(replace(engine.profile, review_below=0.35)))
    qtbot.addWidget(again)
    assert again.review_below.value() == 0.35
    again.review_below.setValue(0)
    assert "review_below" not in again.to_dict()
