"""The History tab and the resume banner, on the real window and the real results store."""

from __future__ import annotations

import json
import shutil
import sqlite3

import pytest
from PySide6.QtCore import Qt
from uihelpers import DIGITS_DIR, DIGITS_MODEL, load, run

from desktop.engine import Engine, run_batch
from desktop.engine.results import Result, Timings
from desktop.engine.resultbatch import ResultBatch
from desktop.engine.store import ResultStore
from desktop.ui.widgets.history import (COL_FAILED, COL_INPUTS, COL_OK, COL_STATUS, RunsModel, inputs_text,
                                        when_text)

DEAD_PID = 2147483646


@pytest.fixture
def scans(tmp_path):
    """The ten digit samples and one file that is not an image (one failure)."""
    folder = tmp_path / "scans"
    shutil.copytree(DIGITS_DIR, folder)
    (folder / "zz_broken.png").write_bytes(b"not a png")
    return folder


def _records(run_id):
    with ResultStore() as store:
        out = []
        for rec in store.records(run_id):
            rec.pop("input_sha256")
            out.append(rec)
        return out


def _history(qtbot, window):
    """Show the History tab and wait until its list is read."""
    with qtbot.waitSignal(window.history.runs_loaded, timeout=5000):
        window.tabs.setCurrentWidget(window.history)
        window.history.refresh()
    return window.history


def _scored_run(qtbot, window, inputs, model=DIGITS_MODEL):
    load(qtbot, window, model, inputs)
    summary = run(qtbot, window)
    assert summary["run_id"]
    return summary["run_id"]


def _interrupted_run(model=DIGITS_MODEL, n_done=4):
    """A run of the digit samples left 'running' by a process that no longer exists, with ``n_done`` results."""
    engine = Engine(model)
    with ResultStore() as store:
        rec = store.start_run(engine, [str(DIGITS_DIR)], total=10)
        for i, r in enumerate(run_batch(engine, [str(DIGITS_DIR)])):
            if i == n_done:
                break
            rec.add(r)
        rec.commit()
    with sqlite3.connect(str(store.path)) as db:
        db.execute("UPDATE runs SET pid=? WHERE id=?", (DEAD_PID, rec.run_id))
    return rec.run_id


def _new_window(qtbot, settings_file, offer_resume=True):
    """A window as ``run_app`` opens it; waits until it has looked for interrupted runs."""
    from desktop.settings import Settings
    from desktop.ui.app import create_window

    w = create_window(None, [], settings=Settings(), settings_file=settings_file, open_sample_if_empty=False,
                      offer_resume=offer_resume)
    qtbot.addWidget(w)
    w.resize(1280, 800)
    if offer_resume:  # the answer is queued: it cannot arrive before the event loop runs
        with qtbot.waitSignal(w.resume_checked, timeout=5000):
            pass
    return w


def test_empty_history_teaches(qtbot, window):
    history = _history(qtbot, window)
    assert history.stack.currentIndex() == 0
    text = history.empty_label.text()
    assert "Runs you score appear here" in text and str(history.store_path) in text
    assert not history.open_button.isEnabled() and "select a run first" in history.open_button.toolTip()
    assert not window.banner.isVisible()


def test_scored_run_is_listed_and_reopens_into_the_table(qtbot, window, scans):
    run_id = _scored_run(qtbot, window, [scans])
    live = [r.to_json() for r in window.results.results]
    history = _history(qtbot, window)
    assert history.stack.currentIndex() == 1 and history.model.rowCount() == 1
    listed = history.model.runs[0]
    assert listed.id == run_id and listed.status == "finished" and (listed.ok, listed.failed) == (10, 1)
    cell = lambda c: history.model.index(0, c).data()  # noqa: E731
    assert cell(COL_OK) == "10" and cell(COL_FAILED) == "1" and cell(COL_STATUS) == "✔ finished"
    assert cell(COL_INPUTS) == "scans/ · 11 files"
    assert history.selected_run().id == run_id and history.open_button.isEnabled()
    assert "1 run" in history.summary.text()

    # Open: the table, detail pane and latency tab show the stored run
    window.results.clear()
    with qtbot.waitSignal(window.run_opened, timeout=5000) as blocker:
        history.open_button.click()
    assert blocker.args[0]["done"] == 11
    assert window.tabs.currentIndex() == 0
    got = [r.to_json() for r in window.results.results]
    assert got == _records(run_id) == live
    assert [r.index for r in window.results.results] == list(range(11))
    assert window.results.rowCount() == 11 and window.results_tab.stack.currentIndex() == 1
    assert "from History" in window.run_label.text() and "digits.onnx" in window.run_label.text()
    assert window.selected_result() is window.results.results[0]
    assert window.detail.result is window.results.results[0]
    qtbot.waitUntil(window.detail.image.has_image, timeout=10000)
    window.table.setFocus()
    qtbot.keyClick(window.table, Qt.Key_Down)
    assert window.detail.result is window.results.results[1]
    assert window.latency.stats()["n"] == 10 - 1  # 10 OK, one warm-up excluded
    assert "10 OK · 1 failed" in window.results_tab.counts_label.text()


def test_rename_and_delete(qtbot, window):
    run_id = _scored_run(qtbot, window, [DIGITS_DIR])
    history = _history(qtbot, window)
    dialog = history.rename_dialog()
    assert "digits.onnx" in dialog.labelText()
    dialog.setTextValue("  Ward 3, week 12 ")
    with qtbot.waitSignal(history.runs_loaded, timeout=5000):
        dialog.accept()
    with ResultStore() as store:
        assert store.run(run_id).name == "Ward 3, week 12"
    assert history.model.index(0, 1).data() == "Ward 3, week 12 · digits.onnx"
    assert history.selected_run().id == run_id

    box = history.delete_dialog()
    assert "audit trail keeps a record" in box.informativeText() and "10 results" in box.informativeText()
    assert not box.isModal() or box.windowModality() != Qt.ApplicationModal
    delete = next(b for b in box.buttons() if b.text() == "Delete run")
    with qtbot.waitSignal(history.runs_loaded, timeout=5000):
        delete.click()
    assert history.model.rowCount() == 0 and history.stack.currentIndex() == 0
    with ResultStore() as store:
        assert store.runs() == []
        assert store.verify().ok
        kinds = [k for (k,) in store._db.execute(
            "SELECT kind FROM ledger WHERE run_id=? AND kind NOT IN ('result', 'chunk') ORDER BY seq", (run_id,))]
    assert kinds == ["run", "finish", "rename", "delete"]


def test_context_menu_and_keys(qtbot, window):
    run_id = _scored_run(qtbot, window, [DIGITS_DIR])
    history = _history(qtbot, window)
    actions = [a.text() for a in history.table.actions() if not a.isSeparator()]
    assert actions == ["Open", "Resume", "Export…", "Rename…", "Copy Run ID", "Delete…"]
    assert history.table.contextMenuPolicy() == Qt.ActionsContextMenu
    assert all(a.toolTip() for a in history.table.actions() if not a.isSeparator())
    assert not history.act_resume.isEnabled() and history.act_delete.isEnabled()
    history.act_copy.trigger()
    from PySide6.QtGui import QGuiApplication

    assert QGuiApplication.clipboard().text() == run_id
    window.results.clear()
    history.table.setFocus()
    with qtbot.waitSignal(window.run_opened, timeout=5000):
        qtbot.keyClick(history.table, Qt.Key_Return)
    assert len(window.results.results) == 10


def test_export_from_history_writes_what_the_table_export_writes(qtbot, window, scans, tmp_path):
    run_id = _scored_run(qtbot, window, [scans])
    history = _history(qtbot, window)
    for ext in ("csv", "json", "jsonl"):
        table_file, history_file = tmp_path / f"table.{ext}", tmp_path / f"history.{ext}"
        assert window.export_to(table_file) == 11
        with qtbot.waitSignal(history.task_done, timeout=5000) as blocker:
            history.export_run(run_id, history_file)
        assert blocker.args[0] == "export" and (blocker.args[1].n, blocker.args[1].path) == (11, str(history_file))
        if ext == "json":  # the same document but for the time of the export
            table_doc, history_doc = (json.loads(f.read_text(encoding="utf-8")) for f in (table_file, history_file))
            for doc in (table_doc, history_doc):
                doc["provenance"].pop("exported_at")
                doc["provenance"].pop("exported_by", None)
            assert history_doc == table_doc
        else:
            assert history_file.read_text(encoding="utf-8") == table_file.read_text(encoding="utf-8"), ext
    assert "Exported 11 results" in history.message.text()
    header = (tmp_path / "history.csv").read_text(encoding="utf-8").splitlines()[0]
    assert header.startswith("input,row,ok,error,label,score,label_2,score_2")
    assert json.loads((tmp_path / "history.json").read_text())["results"][0]["input"].endswith("digit_0_386.png")
    with ResultStore() as store:
        exports = [json.loads(p) for (p,) in store._db.execute(
            "SELECT payload FROM ledger WHERE run_id=? AND kind='export' ORDER BY seq", (run_id,))]
        assert store.verify().ok
    assert [e["format"] for e in exports] == ["csv", "csv", "json", "json", "jsonl", "jsonl"]


def test_verify_shows_the_verdict_inline(qtbot, window):
    run_id = _scored_run(qtbot, window, [DIGITS_DIR])
    history = _history(qtbot, window)
    with qtbot.waitSignal(history.task_done, timeout=5000):
        history.verify_button.click()
    assert history.message.isVisible() and "intact" in history.message.text()
    assert "✖" not in history.message.text()
    # someone edits a stored result by hand: the verdict says where, as an error
    with ResultStore() as store:
        path = store.path
    with sqlite3.connect(str(path)) as db:  # the chunk holding result 2: its score changed
        chunk, first, data = db.execute("SELECT chunk, first_position, data FROM chunks WHERE run_id=? AND "
                                        "first_position <= 2 ORDER BY chunk DESC", (run_id,)).fetchone()
        batch = ResultBatch.from_bytes(data)
        batch.answer["top_score"][2 - first, 0] = 0.25
        db.execute("UPDATE chunks SET data=? WHERE run_id=? AND chunk=?", (batch.to_bytes(), run_id, chunk))
    with qtbot.waitSignal(history.task_done, timeout=5000):
        history.verify_button.click()
    text = history.message.text()
    assert "✖" in text and "BROKEN" in text and "result 2" in text


def test_interrupted_run_is_offered_and_resumed(qtbot, settings_file):
    run_id = _interrupted_run()
    window = _new_window(qtbot, settings_file)
    try:
        banner = window.banner
        assert banner.isVisible()
        text = banner.text.text()
        assert "digits.onnx" in text and "interrupted" in text and "after 4 of 10 items" in text
        assert when_text(ResultStore().run(run_id).started_at) in text
        # Show in History selects it there, marked distinctly
        with qtbot.waitSignal(window.history.runs_loaded, timeout=5000):
            banner.show_button.click()
        assert window.tabs.currentWidget() is window.history
        assert window.history.selected_run().id == run_id
        status = window.history.model.index(0, COL_STATUS)
        assert status.data() == "⚠ interrupted · 4 / 10" and status.data(Qt.ForegroundRole) is not None
        assert window.history.resume_button.isEnabled()

        stored = _records(run_id)
        with qtbot.waitSignal(window.run_finished, timeout=30000) as blocker:
            banner.resume_button.click()
        summary = blocker.args[0]
        assert summary["run_id"] == run_id and summary["cancelled"] is False
        assert summary["done"] == 6  # only what was left
        assert not banner.isVisible()
        assert window.engine.info.file_name == "digits.onnx"
        results = window.results.results
        assert [r.index for r in results] == list(range(10))
        assert [r.to_json() for r in results[:4]] == stored
        assert len({r.input for r in results}) == 10
        with ResultStore() as store:
            done = store.run(run_id)
            assert done.status == "finished" and (done.ok, done.failed) == (10, 0)
            records = list(store.records(run_id))
            assert sorted(r["input"] for r in records) == sorted({r["input"] for r in records})
            assert len(records) == 10
            assert store.verify().ok
            assert store.unfinished() == []
        qtbot.waitUntil(lambda: window.history.model.runs and window.history.model.runs[0].status == "finished",
                        timeout=5000)
    finally:
        window.close()


def test_closing_the_window_mid_run_leaves_the_run_to_resume(qtbot, settings_file, many_digits):
    """Closing is not cancelling: the run is recorded as interrupted, and the next start offers it."""
    window = _new_window(qtbot, settings_file, offer_resume=False)
    load(qtbot, window, DIGITS_MODEL, [many_digits])
    seen = []
    window.controller.results_arrived.connect(lambda batch, _produced: seen.append(len(batch)))
    window.start_run()
    qtbot.waitUntil(lambda: sum(seen) > 0, timeout=30000)
    window.close()
    with ResultStore() as store:
        [run] = store.runs()
    assert run.status == "interrupted" and 0 < run.ok < 2000
    again = _new_window(qtbot, settings_file)
    try:
        assert again.banner.isVisible() and again.banner.run.id == run.id
    finally:
        again.close()


def test_resume_is_refused_when_the_model_changed(qtbot, settings_file, tmp_path):
    model = tmp_path / "digits.onnx"
    shutil.copyfile(DIGITS_MODEL, model)
    run_id = _interrupted_run(model)
    with open(model, "ab") as fh:
        fh.write(b"\0")  # a different file now
    window = _new_window(qtbot, settings_file)
    try:
        from desktop.ui.errors import reporter

        with qtbot.waitSignal(reporter().reported, timeout=5000) as blocker:
            window.banner.resume_button.click()
        assert blocker.args[1] is True  # inline, no dialog
        text = window.banner.text.text()
        assert window.banner.isVisible() and "has changed since this run scored with it" in text
        assert "new run" in text and not window.banner.resume_button.isEnabled()
        assert window.engine is None and not window.is_running()
        with ResultStore() as store:
            assert store.run(run_id).status == "interrupted"
        window.banner.dismiss_button.click()
        assert not window.banner.isVisible()
    finally:
        window.close()


def test_no_banner_without_interrupted_runs_or_when_turned_off(qtbot, settings_file):
    window = _new_window(qtbot, settings_file)
    assert not window.banner.isVisible()
    window.close()
    _interrupted_run()
    window = _new_window(qtbot, settings_file, offer_resume=False)
    assert not window.banner.isVisible()
    window.close()


def _large_run(n: int, chunk: int) -> str:
    """A finished run of ``n`` recorded results (one in a hundred failed), committed every ``chunk``."""
    engine = Engine(DIGITS_MODEL)
    with ResultStore() as store:
        rec = store.start_run(engine, ["/data/scans"], total=n)
        for i in range(n):
            ok = i % 100 != 7
            rec.add(Result(i, f"/data/scans/img_{i:05d}.png", None, ok, None if ok else "truncated PNG file",
                           timings=Timings(0.1, 0.2, 1.5 + (i % 13) / 10, 0.05)))
            if i % chunk == chunk - 1:
                rec.commit()
        rec.finish()
    return rec.run_id


def test_a_large_run_opens_in_groups(qtbot, window):
    n = 20000
    run_id = _large_run(n, 5000)
    groups = []
    window.controller.results_arrived.connect(lambda batch, _produced: groups.append(len(batch)))
    with qtbot.waitSignal(window.run_opened, timeout=20000):
        window.open_run(run_id)
    assert len(groups) > 1 and sum(groups) == n
    assert len(window.results.results) == n and window.results.n_failed == n // 100
    assert "19,800 OK · 200 failed" in window.results_tab.counts_label.text()


def test_cancelling_the_opening_keeps_what_was_read(qtbot, window):
    n = 20000
    run_id = _large_run(n, 2000)
    window.controller.results_arrived.connect(lambda *_: window.cancel() if window.cancel_button.isEnabled() else None)
    with qtbot.waitSignal(window.run_opened, timeout=20000) as blocker:
        window.open_run(run_id)
    info = blocker.args[0]
    assert info["cancelled"] is True and 0 < info["done"] < n
    assert len(window.results.results) == info["done"]
    assert "opening cancelled" in window.progress_label.text()
    assert not window.cancel_button.isEnabled()


def test_runs_model_is_readable():
    from desktop.engine.store import RunSummary

    def summary(status, ok, failed, total, inputs):
        return RunSummary(id="abc123", name=None, started_at="2024-03-05T08:09:10.000+00:00", finished_at=None,
                          status=status, model_name="cancer.onnx", model_path="/m/cancer.onnx", model_sha256="f" * 64,
                          provider="CPUExecutionProvider", inputs=tuple(inputs), total=total, ok=ok, failed=failed)

    model = RunsModel()
    model.set_runs([summary("finished", 12345, 1002, 13347, ["/d/rows.csv"]),
                    summary("interrupted", 40, 0, 100, ["/d/a.png", "/e/b.png", "/f/c.png"])])
    assert model.index(0, COL_OK).data() == "12,345" and model.index(0, COL_FAILED).data() == "1,002"
    assert model.index(0, COL_INPUTS).data() == "rows.csv"
    assert model.index(1, COL_STATUS).data() == "⚠ interrupted · 40 / 100"
    assert model.index(1, COL_STATUS).data(Qt.ForegroundRole) is not None
    assert model.index(0, COL_STATUS).data(Qt.ForegroundRole) is None
    assert "Resume" in model.index(1, COL_STATUS).data(Qt.ToolTipRole)
    assert model.index(1, COL_INPUTS).data() == "a.png + 2 more"
    assert inputs_text(["/x/a.png", "/x/b.png"]) == "x/ · 2 files"
    assert "2024" in model.index(0, 0).data() and "local time" in model.index(0, 0).data(Qt.ToolTipRole)


def test_the_formula_guard_is_a_setting_for_the_windows_csv_exports(qtbot, window, tmp_path):
    """Labels such as '=SUM(A1)' reach a CSV export with a ' in front, unless the setting is off."""
    from dataclasses import replace

    model = tmp_path / "digits.onnx"
    shutil.copyfile(DIGITS_MODEL, model)
    profile = Engine(DIGITS_MODEL).profile.to_dict()
    profile["labels"] = [f"=SUM(A{i})" for i in range(10)]
    (tmp_path / "digits.profile.json").write_text(json.dumps(profile), encoding="utf-8")
    run_id = _scored_run(qtbot, window, [DIGITS_DIR], model)
    assert window.settings.formula_guard and window.history.formula_guard  # on by default

    def labels(path):
        rows = path.read_text(encoding="utf-8").splitlines()
        assert rows[0].split(",")[4] == "label" and len(rows) == 11
        return {row.split(",")[4] for row in rows[1:]}

    window.export_to(tmp_path / "guarded.csv")
    assert labels(tmp_path / "guarded.csv") <= {f"'=SUM(A{i})" for i in range(10)}
    window.apply_settings(replace(window.settings, formula_guard=False))
    window.export_to(tmp_path / "as-is.csv")
    assert labels(tmp_path / "as-is.csv") <= {f"=SUM(A{i})" for i in range(10)}
    with qtbot.waitSignal(window.history.task_done, timeout=5000):
        window.history.export_run(run_id, tmp_path / "history.csv")
    assert (tmp_path / "history.csv").read_text(encoding="utf-8") == (tmp_path / "as-is.csv").read_text(
        encoding="utf-8")
    from desktop.settings import load_settings

    assert load_settings(window.settings_file).formula_guard is False

