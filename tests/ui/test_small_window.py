"""At 1024×700, the smallest window the layout is made for, every label and primary button can be read and the
results' Status and Latency columns are in view (issue 15, item 9)."""

from __future__ import annotations

import pytest
from PySide6.QtWidgets import QAbstractButton, QLabel, QWidget
from uihelpers import CANCER_CSV, CANCER_MODEL, DIGITS_DIR, DIGITS_MODEL, load, run

from desktop.ui.models import COL_LATENCY, COL_STATUS
from desktop.ui.widgets.history import COL_FAILED, COL_OK


def _shown_whole(widget: QWidget) -> bool:
    """Visible, and as wide as its text needs (a button's label is not cut to "n benchm")."""
    return widget.isVisible() and widget.width() >= widget.sizeHint().width() - 1


def _cut(root: QWidget) -> list:
    """The buttons and one-line labels under ``root`` that are on screen but narrower than their text."""
    out = []
    for w in root.findChildren(QAbstractButton) + root.findChildren(QLabel):
        if not w.isVisible() or (isinstance(w, QLabel) and (w.wordWrap() or not w.text())):
            continue
        if w.objectName().startswith("qt_") or not w.text():
            continue  # the tab bar's scroll arrows, the spin boxes' own parts
        if not _shown_whole(w):
            out.append((type(w).__name__, w.text(), w.width(), w.sizeHint().width()))
    return out


def _columns_in_view(table, columns) -> bool:
    view = table.viewport().width()
    return all(0 <= table.columnViewportPosition(c) and
               table.columnViewportPosition(c) + table.columnWidth(c) <= view for c in columns)


@pytest.fixture
def small(window, qtbot):
    window.resize(1024, 700)
    qtbot.waitUntil(lambda: window.width() == 1024 and window.splitter.sizes()[1] >= window.CENTRE_COMFORT - 1,
                    timeout=5000)
    return window


def test_the_run_bar_and_the_results_fit_at_1024(qtbot, small):
    load(qtbot, small, DIGITS_MODEL, [DIGITS_DIR])
    run(qtbot, small)
    qtbot.wait(50)
    assert _shown_whole(small.run_button) and small.progress.isVisible() and small.progress.width() >= 80
    assert small.progress_label.isVisible() and small.progress_label.width() >= 150
    table = small.table
    assert _columns_in_view(table, [small.results.view_column(COL_STATUS), small.results.view_column(COL_LATENCY)])
    left, centre, right = small.splitter.sizes()
    assert centre >= small.CENTRE_COMFORT - 1 and left >= 236 and right >= 250
    for panel in (small.model_panel, small.queue, small.results_tab):
        assert _cut(panel) == [], panel


def test_a_csv_runs_pass_through_columns_never_push_status_out(qtbot, small):
    load(qtbot, small, CANCER_MODEL, [CANCER_CSV])
    run(qtbot, small)
    qtbot.wait(50)
    assert _columns_in_view(small.table, [small.results.view_column(COL_STATUS),
                                          small.results.view_column(COL_LATENCY)])


def test_the_benchmark_form_keeps_its_labels_at_1024(qtbot, small):
    load(qtbot, small, DIGITS_MODEL)
    small.tabs.setCurrentWidget(small.bench_view)
    qtbot.wait(50)
    assert _cut(small.bench_view) == []
    assert _shown_whole(small.bench_view.start_button) and small.bench_view.start_button.text() == "Run benchmark"
    assert small.bench_view.progress.width() >= 60


def test_history_keeps_ok_and_failed_in_view_at_1024(qtbot, small):
    load(qtbot, small, DIGITS_MODEL, [DIGITS_DIR])
    run(qtbot, small)
    small.tabs.setCurrentWidget(small.history)
    qtbot.waitUntil(lambda: small.history.model.rowCount() == 1, timeout=10000)
    qtbot.wait(50)
    assert _columns_in_view(small.history.table, [COL_OK, COL_FAILED])
    assert _cut(small.history) == []


def test_the_detail_pane_never_scrolls_sideways_at_1024(qtbot, small):
    load(qtbot, small, DIGITS_MODEL, [DIGITS_DIR])
    run(qtbot, small)
    small.select_result(0)
    qtbot.wait(100)
    pane = small.detail
    room = pane.width() - 20  # less its vertical scroll bar
    for name in ("explain", "review_bar", "overlay_bar"):
        widget = getattr(pane, name)
        assert widget.minimumSizeHint().width() <= room, name
