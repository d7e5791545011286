"""Case review in the window: A / O / F on the selected result, badges and filters, decisions kept in History."""

from __future__ import annotations

import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QInputDialog
from uihelpers import DIABETES_CSV, DIABETES_MODEL, DIGITS_DIR, DIGITS_MODEL, load, run

from desktop.runs import review
from desktop.ui.models import COL_STATUS


def _scored(qtbot, window, model=DIGITS_MODEL, inputs=(DIGITS_DIR,)):
    load(qtbot, window, model, list(inputs))
    summary = run(qtbot, window)
    assert summary["run_id"]
    qtbot.waitUntil(lambda: window.results_tab.reviewable, timeout=5000)
    return summary["run_id"]


def _status(window, row):
    return window.results.index(row, window.results.view_column(COL_STATUS)).data()


def _press(qtbot, window, key):
    with qtbot.waitSignal(window.review.decided, timeout=5000) as blocker:
        qtbot.keyClick(window.table, key)
    return blocker.args[0]


def _select(window, row):
    from PySide6.QtCore import QItemSelectionModel

    window.table.selectionModel().setCurrentIndex(window.results.index(row, 0),
                                                  QItemSelectionModel.ClearAndSelect | QItemSelectionModel.Rows)


def _filter(window, key):
    combo = window.results_tab.status_filter
    combo.setCurrentIndex(combo.findData(key))


def test_a_accepts_the_selected_result_its_badge_shows_and_the_filter_finds_it(qtbot, window):
    run_id = _scored(qtbot, window)
    window.table.setFocus()
    _select(window, 2)
    d = _press(qtbot, window, Qt.Key_A)
    assert (d.run_id, d.index, d.decision) == (run_id, 2, "accept")
    assert _status(window, 2) == "☑ Accepted" and _status(window, 1) == "✔ OK"
    assert review.decisions(run_id)[2].decision == "accept"
    bar = window.detail.review_bar
    assert bar.isVisibleTo(window.detail) and bar.state.text().startswith("Accepted by ")
    assert "1 reviewed" in window.results_tab.counts_label.text()
    _filter(window, "accepted")
    assert window.results.rowCount() == 1 and window.selected_result().index == 2
    _filter(window, "unreviewed")
    assert window.results.rowCount() == 9
    _filter(window, "all")
    window.results_tab.filter_edit.setText("accepted")
    assert window.results.rowCount() == 1


def test_o_overrides_with_the_label_picked_and_f_flags_with_a_reason(qtbot, window, monkeypatch):
    run_id = _scored(qtbot, window)
    asked = []

    def get_item(parent, title, label, items, current, editable):
        asked.append((title, list(items), current))
        return "7", True

    monkeypatch.setattr(QInputDialog, "getItem", staticmethod(get_item))
    monkeypatch.setattr(QInputDialog, "getText", staticmethod(lambda parent, title, label: ("stroke of a 7", True)))
    window.table.setFocus()
    _select(window, 0)
    d = _press(qtbot, window, Qt.Key_O)
    assert asked and asked[0][1] == [str(i) for i in range(10)]
    assert (d.decision, d.label, d.reason) == ("override", "7", "stroke of a 7")
    assert _status(window, 0).endswith("✎ Overridden")
    assert review.as_truth(run_id) == {0: "7"}
    qtbot.keyClick(window.table, Qt.Key_Down)
    assert window.selected_result().index == 1
    d = _press(qtbot, window, Qt.Key_F)
    assert (d.index, d.decision, d.reason) == (1, "flag", "stroke of a 7")
    _filter(window, "flagged")
    assert [window.results.result_at(r).index for r in range(window.results.rowCount())] == [1]
    _filter(window, "overridden")
    assert window.results.rowCount() == 1


def test_cancelling_the_label_picker_decides_nothing(qtbot, window, monkeypatch):
    run_id = _scored(qtbot, window)
    monkeypatch.setattr(QInputDialog, "getItem", staticmethod(lambda *a: ("", False)))
    window.table.setFocus()
    qtbot.keyClick(window.table, Qt.Key_O)
    qtbot.wait(50)
    assert review.decisions(run_id) == {}


def test_a_regressions_override_asks_for_a_value(qtbot, window, monkeypatch):
    run_id = _scored(qtbot, window, DIABETES_MODEL, [DIABETES_CSV])
    monkeypatch.setattr(QInputDialog, "getDouble", staticmethod(lambda *a: (151.25, True)))
    monkeypatch.setattr(QInputDialog, "getText", staticmethod(lambda *a: ("", True)))
    window.table.setFocus()
    d = _press(qtbot, window, Qt.Key_O)
    assert d.value == 151.25 and review.as_truth(run_id) == {0: 151.25}


def test_the_detail_bar_decides_and_a_reopened_run_shows_its_decisions(qtbot, window, tmp_path):
    run_id = _scored(qtbot, window)
    _select(window, 3)
    with qtbot.waitSignal(window.review.decided, timeout=5000):
        window.detail.review_bar.buttons["accept"].click()
    assert _status(window, 3).endswith("☑ Accepted")
    # the window's own export carries the decision
    window.export_to(tmp_path / "shown.csv")
    assert "decision" in (tmp_path / "shown.csv").read_text(encoding="utf-8").splitlines()[0]

    window.clear_results()
    assert window.results.rowCount() == 0
    with qtbot.waitSignal(window.review.loaded, timeout=10000) as loaded:
        window.open_run(run_id)
    assert list(loaded.args[0]) == [3]
    assert _status(window, 3).endswith("☑ Accepted") and _status(window, 2) == "✔ OK"
    _select(window, 3)
    assert window.detail.review_bar.state.text().startswith("Accepted by ")


def test_results_not_kept_in_history_cannot_be_reviewed(qtbot, window):
    _scored(qtbot, window)
    window.controller.shown.run_id = None  # as results that were not saved
    window.review._update()
    assert not window.results_tab.reviewable
    assert window.review_selected("accept") is None
    assert not window.results_tab.request_review("accept")
    assert window.results.decisions == {}


def test_filter_to_shows_only_the_cases_given_and_none_restores(qtbot, window):
    _scored(qtbot, window)
    window.results_tab.filter_to([4, 7])
    assert [window.results.result_at(r).index for r in range(window.results.rowCount())] == [4, 7]
    assert window.selected_result().index == 4
    assert "2 cases picked" in window.results_tab.counts_label.text()
    _filter(window, "failed")
    assert window.results.rowCount() == 0
    _filter(window, "all")
    window.results_tab.filter_to(None)
    assert window.results.rowCount() == 10
