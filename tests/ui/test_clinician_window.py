"""The window as a clinician meets it (issue 15): whose results are shown, and what a run going asks first."""

from __future__ import annotations

from uihelpers import CANCER_CSV, CANCER_MODEL, DIGITS_DIR, DIGITS_MODEL, load, run


def _strip(window):
    strip = window.results_tab.origin
    return strip.isVisible(), strip.foreign, strip.label.text()


def test_a_run_is_labelled_with_its_run_model_and_profile(qtbot, window):
    assert not window.results_tab.origin.isVisible()  # nothing shown: nothing to label
    load(qtbot, window, DIGITS_MODEL, [DIGITS_DIR])
    summary = run(qtbot, window)
    visible, foreign, text = _strip(window)
    assert visible and not foreign
    assert f"Run {summary['run_id']}" in text and "digits.onnx" in text and "profile: sidecar" in text
    assert not window.results_tab.origin.clear_button.isVisible()
    assert not window.detail.origin.isVisible()


def test_another_model_keeps_the_results_labelled_as_the_other_models(qtbot, window):
    load(qtbot, window, DIGITS_MODEL, [DIGITS_DIR])
    summary = run(qtbot, window)
    n = window.results.rowCount()
    load(qtbot, window, CANCER_MODEL)
    assert window.engine.info.file_name == "breast_cancer.onnx"
    visible, foreign, text = _strip(window)
    assert visible and foreign
    assert text.startswith("⚠ Not the loaded model's results") and "digits.onnx" in text
    assert summary["run_id"] in text
    assert "breast_cancer.onnx" in window.results_tab.origin.toolTip()
    assert window.results.rowCount() == n  # kept, but labelled
    # the detail pane says it too, and does not show the result through the new model
    assert window.detail.result is not None and window.detail.engine is None
    assert window.detail.origin.isVisible() and "digits.onnx" in window.detail.origin.text()

    # Clear empties the table; the strip and the detail's warning go with the results
    window.results_tab.origin.clear_button.click()
    assert window.results.rowCount() == 0 and not window.results_tab.origin.isVisible()
    assert window.detail.result is None and not window.detail.origin.isVisible()
    assert window.results_tab.stack.currentIndex() == 0  # the empty state teaches again


def test_an_edited_profile_marks_earlier_results(qtbot, window):
    load(qtbot, window, CANCER_MODEL, [CANCER_CSV])
    run(qtbot, window)
    window._apply_profile(window.engine.profile.with_labels(("bad", "good")), "edited, not saved")
    visible, foreign, text = _strip(window)
    assert visible and foreign and text.startswith("⚠ Scored with an earlier profile")
    assert "edited, not saved" in window.results_tab.origin.toolTip()


def test_a_run_opened_from_history_names_its_model_not_the_loaded_one(qtbot, window):
    load(qtbot, window, DIGITS_MODEL, [DIGITS_DIR])
    summary = run(qtbot, window)
    load(qtbot, window, CANCER_MODEL)
    window.clear_results()
    with qtbot.waitSignal(window.run_opened, timeout=10000):
        window.open_run(summary["run_id"])
    visible, foreign, text = _strip(window)
    assert visible and foreign
    assert f"Run {summary['run_id']}" in text and "digits.onnx" in text and "opened from History" in text
    assert window.detail.origin.isVisible()
    # with its own model loaded again, the same run is simply labelled
    load(qtbot, window, DIGITS_MODEL)
    visible, foreign, text = _strip(window)
    assert visible and not foreign and "opened from History" in text


# ---------------------------------------------------------------- a run going: one Cancel, and asking first
def _running(qtbot, window, many_digits):
    load(qtbot, window, DIGITS_MODEL, [many_digits])
    seen = []
    window.controller.results_arrived.connect(lambda batch, _produced: seen.append(len(batch)))
    job = window.start_run()
    qtbot.waitUntil(lambda: sum(seen) > 0, timeout=30000)
    return job


def test_while_running_the_primary_button_cancels(qtbot, window, many_digits, confirmations):
    load(qtbot, window, DIGITS_MODEL, [many_digits])
    assert window.run_button.text().startswith("Run") and window.cancel_button.isVisible()
    job = window.start_run()
    assert window.run_button.text() == "Cancel  ■" and window.run_button.isEnabled()
    assert not window.cancel_button.isVisible()  # one Cancel, in the prominent place
    assert "Esc" in window.run_button.toolTip()
    with qtbot.waitSignal(window.run_finished, timeout=60000) as blocker:
        window.run_button.click()
        assert window.run_button.text() == "Cancelling…" and not window.run_button.isEnabled()
    assert blocker.args[0]["cancelled"] and job.should_stop()
    assert not confirmations  # cancelling is what was asked for: no question
    assert window.run_button.text().startswith("Run") and window.run_button.isEnabled()
    assert window.cancel_button.isVisible()


def test_starting_another_run_asks_and_keeping_it_running_changes_nothing(qtbot, window, many_digits,
                                                                          confirmations):
    job = _running(qtbot, window, many_digits)
    confirmations.answer = False
    assert window.start_run() is None  # Ctrl+R during a run
    [(title, text, accept)] = confirmations
    assert "of 2,000 items are scored" in text and "results so far are kept" in text
    assert accept == "Stop It and Run Again"
    assert not job.should_stop() and window.is_running()
    assert window.load_model(CANCER_MODEL) is None  # opening another model stops the run too: asked first
    assert len(confirmations) == 2 and "Opening breast_cancer.onnx" in confirmations[1][1]
    assert not job.should_stop() and window.engine.info.file_name == "digits.onnx"
    confirmations.answer = True
    with qtbot.waitSignal(window.run_finished, timeout=60000):
        window.act_cancel.trigger()


def test_closing_mid_run_asks_and_can_be_refused(qtbot, window, many_digits, confirmations):
    job = _running(qtbot, window, many_digits)
    confirmations.answer = False
    assert not window.close()  # "Keep Running"
    assert window.isVisible() and window.is_running() and not job.should_stop()
    assert confirmations[0][0] == "Quit while scoring?" and "resume" in confirmations[0][1]
    confirmations.answer = True
    assert window.close()
    assert not job.worker.is_running


def test_the_question_defaults_to_keeping_the_run(qtbot, window, confirmations):
    """The real dialog: Enter (its default) keeps the run; only the named button stops it."""
    from PySide6.QtCore import QTimer
    from PySide6.QtWidgets import QApplication, QMessageBox

    answers = []

    def press(button_text):
        box = QApplication.activeModalWidget()
        if not isinstance(box, QMessageBox):
            QTimer.singleShot(20, lambda: press(button_text))
            return
        answers.append((box.defaultButton().text(), box.escapeButton().text()))
        if button_text is None:
            box.defaultButton().click()
        else:
            next(b for b in box.buttons() if b.text() == button_text).click()

    QTimer.singleShot(20, lambda: press(None))
    assert confirmations.real(window, "Stop?", "A run is going.", "Stop and Quit") is False
    QTimer.singleShot(20, lambda: press("Stop and Quit"))
    assert confirmations.real(window, "Stop?", "A run is going.", "Stop and Quit") is True
    assert answers == [("Keep Running", "Keep Running")] * 2


# ---------------------------------------------------------------- one set of counts
def test_an_input_the_model_cannot_take_counts_as_one_failed_item_everywhere(qtbot, window, tmp_path):
    import shutil

    folder = tmp_path / "scans"
    shutil.copytree(DIGITS_DIR, folder)
    (folder / "bad.png").write_bytes(b"x")
    load(qtbot, window, DIGITS_MODEL, [folder, CANCER_CSV])  # a 20-row CSV this image model cannot take
    queue = window.queue
    assert queue.title.text() == "INPUTS (12)"
    assert queue.summary.text().startswith("10 items to score · ") and "2 inputs the model cannot take" in \
        queue.summary.text()
    assert "Score the 12 queued items" in window.act_run.toolTip()
    summary = run(qtbot, window)
    assert window.progress_label.text().startswith("12 / 12 · done")
    assert window.statusBar().currentMessage() == "Scored 12 items: 10 OK, 2 failed"
    assert window.results_tab.counts_label.text().startswith("10 OK · 2 failed")
    assert window.progress.value() == window.progress.maximum() == 12
    assert summary["cancelled"] is False


def test_the_latency_readout_says_items_per_second_and_what_it_cannot_measure(qtbot, window):
    from desktop.ui.widgets.latency import latency_stats

    load(qtbot, window, DIGITS_MODEL, [DIGITS_DIR])
    summary = run(qtbot, window)
    window.latency.refresh()
    assert " items/s</b>" in window.latency.readout.text() and "/s</b> items" not in window.latency.readout.text()
    with qtbot.waitSignal(window.run_opened, timeout=10000):
        window.open_run(summary["run_id"])
    window.latency.refresh()
    text = window.latency.readout.text()
    assert "items/s" not in text and "— items" not in text and "not measured" in text
    # a resumed run: the rows opened first have no arrival times; the rate is that of the rest
    nan = float("nan")
    stats = latency_stats([1.0] * 20, [nan] * 10 + [100.0 + i * 0.5 for i in range(10)])
    assert abs(stats["items_per_s"] - 2.0) < 1e-9


# ---------------------------------------------------------------- the keyboard
def test_window_shortcuts_work_with_the_focus_in_a_text_field(qtbot, window):
    """On X11 a line edit claims Ctrl+E (end of line) for itself; the window's Export must win."""
    from PySide6.QtCore import QEvent, Qt
    from PySide6.QtGui import QKeySequence
    from PySide6.QtWidgets import QLineEdit

    from desktop.ui.actions import pass_shortcuts

    class EmacsLineEdit(QLineEdit):  # what X11's key bindings make of every QLineEdit
        def event(self, e):
            if e.type() == QEvent.ShortcutOverride and e.modifiers() == Qt.ControlModifier and \
                    e.key() in (Qt.Key_E, Qt.Key_B, Qt.Key_F, Qt.Key_A):
                e.accept()
                return True
            return super().event(e)

    load(qtbot, window, DIGITS_MODEL, [DIGITS_DIR])
    run(qtbot, window)
    fired = []
    window.act_export.triggered.connect(lambda: fired.append("export"))
    window.act_filter.triggered.connect(lambda: fired.append("filter"))
    field = EmacsLineEdit(window.results_tab)
    field.show()
    qtbot.keyClick(field, Qt.Key_E, Qt.ControlModifier)
    assert fired == []  # without the pass-through, the field keeps Ctrl+E
    pass_shortcuts(window, [field])
    window.act_export.triggered.disconnect()  # the spy alone: no file dialog
    window.act_export.triggered.connect(lambda: fired.append("export"))
    qtbot.keyClick(field, Qt.Key_E, Qt.ControlModifier)
    qtbot.keyClick(field, Qt.Key_F, Qt.ControlModifier)
    assert fired == ["export", "filter"]
    field.setText("abc")
    qtbot.keyClick(field, Qt.Key_A, Qt.ControlModifier)  # select all stays the field's
    assert field.selectedText() == "abc" and len(fired) == 2
    qtbot.keyClicks(field, "e")  # and plain typing
    assert field.text() == "e"
    # the window's own text fields all pass them through
    for widget in (window.results_tab.filter_edit, window.bench_view.runs):
        assert widget.property("passesShortcuts") is True
    assert QKeySequence("Ctrl+E") in window.act_export.shortcuts()


def test_after_a_run_and_after_the_preprocessing_dialog_the_keyboard_is_in_the_table(qtbot, window):
    load(qtbot, window, DIGITS_MODEL, [DIGITS_DIR])
    window.activateWindow()
    window.results_tab.filter_edit.setFocus()
    run(qtbot, window)
    assert window.focusWidget() is window.table
    window.results_tab.filter_edit.setFocus()
    dialog = window.edit_profile()
    dialog.reject()
    assert window.focusWidget() is window.table
    # someone typing a filter keeps it
    window.results_tab.filter_edit.setFocus()
    window.results_tab.filter_edit.setText("digit_3")
    dialog = window.edit_profile()
    dialog.reject()
    assert window.focusWidget() is window.results_tab.filter_edit


# ---------------------------------------------------------------- the model card
def test_a_guessed_profile_is_said_on_the_card_with_one_click_to_the_editor(qtbot, window, tmp_path):
    import shutil

    from uihelpers import ROOT

    model = tmp_path / "ppocrv4_det.onnx"  # alone: no sidecar profile, so the profile is a guess
    shutil.copy(ROOT / "models" / "ppocrv4_det.onnx", model)
    load(qtbot, window, model)
    notice = window.model_panel.guess
    assert notice.isVisible()
    text = notice.text.text()
    assert "Preprocessing guessed" in text and "own size rounded to 32" in text
    notice.button.click()
    assert window.profile_editor.isVisible()
    window.profile_editor.reject()
    # a model with its own profile shows no notice
    load(qtbot, window, DIGITS_MODEL)
    assert not window.model_panel.guess.isVisible()


def test_the_card_shows_the_models_description_intended_use_and_licence(qtbot, window, tmp_path):
    import onnx

    proto = onnx.load(str(DIGITS_MODEL))
    for key, value in (("description", "Handwritten digit classifier trained on scikit-learn's 8×8 digits"),
                       ("intended_use", "Teaching and demonstration only"), ("license", "CC0-1.0"),
                       ("author", "InferDesk tests")):
        entry = proto.metadata_props.add()
        entry.key, entry.value = key, value
    model = tmp_path / "digits_meta.onnx"
    onnx.save(proto, str(model))
    load(qtbot, window, model)
    card = window.model_panel.card_text()
    assert "Handwritten digit classifier trained on" in card
    assert "Intended use: Teaching and demonstration only" in card
    assert "Licence: CC0-1.0" in card and "Author: InferDesk tests" in card


def test_symbolic_dimensions_are_shortened_to_their_names_with_the_full_form_in_the_tooltip(qtbot, window):
    from desktop.engine.model import TensorSpec
    from desktop.ui.widgets.panels import short_dim, short_shape, short_type

    expr = "(floor(floor(floor(height/2 - 1/2)/2)/2) + 1)*(floor(floor(floor(width/2 - 1/2)/2)/2) + 1)"
    assert short_dim(expr) == "f(height, width)"
    assert short_dim("batch") == "batch" and short_dim(None) == "?" and short_dim(3) == "3"
    assert short_dim("p2o.DynamicDimension.0") == "?" and short_dim("unk__1042") == "?"
    spec = TensorSpec("logits", "tensor(float)", ("batch", expr, 4), "float")
    assert short_shape(spec) == ("[batch, f(height, width), 4]", True)
    zipmap = TensorSpec("output_probability", "seq(map(int64,tensor(float)))", (), None)
    assert short_type(zipmap) == "list of map int64→float"
    load(qtbot, window, CANCER_MODEL)
    card = window.model_panel.card_text()
    assert "list of map int64→float" in card and "seq(map(int64,tens" not in card
    assert "seq(map(int64,tensor(float)))" in window.model_panel.card.toolTip()  # the full form


def test_the_about_box_says_what_inferdesk_is_for_its_licence_and_where_the_documentation_is(window):
    box = window.about()
    text = box.text()
    assert "Intended use" in text and "not a medical device" in text
    assert "Licence</b>: MIT" in text and "Documentation" in text
    assert "README" in text
    box.close()


# ---------------------------------------------------------------- smaller things
def test_a_folders_csv_files_are_queued_for_a_table_model_and_said_left_out_for_an_image_model(qtbot, window,
                                                                                              tmp_path):
    import shutil

    mixed = tmp_path / "mixed"
    shutil.copytree(DIGITS_DIR, mixed)
    shutil.copy(CANCER_CSV, mixed / "rows.csv")
    tables = tmp_path / "tables"
    tables.mkdir()
    shutil.copy(CANCER_CSV, tables / "ward3.csv")

    load(qtbot, window, DIGITS_MODEL)
    window.add_inputs([mixed])
    kinds = [i.kind.value for i in window.queue.model.items]
    assert kinds.count("image") == 10 and "table" not in kinds
    assert "Left out 1 CSV file in the folder (rows.csv)" in window.statusBar().currentMessage()
    window.queue.clear()
    window.add_inputs([tables])  # a folder of tables alone: its CSV files are what it holds
    assert [(i.kind.value, i.rows) for i in window.queue.model.items] == [("table", 20)]
    window.queue.clear()
    load(qtbot, window, CANCER_MODEL)
    window.add_inputs([mixed])
    assert [i.path for i in window.queue.model.items if i.kind.value == "table"] == [str(mixed / "rows.csv")]


def test_filtering_out_the_selected_row_empties_the_detail(qtbot, window, tmp_path):
    import shutil

    folder = tmp_path / "scans"
    shutil.copytree(DIGITS_DIR, folder)
    (folder / "zz_bad.png").write_bytes(b"x")
    load(qtbot, window, DIGITS_MODEL, [folder])
    run(qtbot, window)
    window.select_result(0)
    assert window.detail.result is not None and window.detail.result.ok
    window.results_tab.status_filter.setCurrentIndex(window.results_tab.status_filter.findData("failed"))
    shown = window.results.rowCount()
    assert shown == 1
    # the detail follows the table: the failed row now selected, never the row the filter hid
    assert window.detail.result is None or not window.detail.result.ok
    window.results_tab.filter_edit.setText("no such file")
    assert window.results.rowCount() == 0 and window.detail.result is None


def test_the_benchmark_legend_gives_each_setting_its_colour(qtbot, window):
    from desktop.ui.widgets.latency import CONFIG_COLORS

    view = window.bench_view
    configs = view.configs()
    view.begin(configs, 10)
    text = view.legend.text()
    assert view.legend.isVisibleTo(view)
    for n, (label, _settings) in enumerate(configs):
        assert f"color:{CONFIG_COLORS[n]}" in text and "■" in text and label in text
    assert "1 thread," in text and "1 threads" not in text
    view.finish(None)


# ---------------------------------------------------------------- DICOM in the window
def test_a_dicom_run_shows_its_facts_and_exports_leave_the_patient_out_unless_asked(qtbot, window, tmp_path,
                                                                                   confirmations):
    import json
    import shutil

    from pydicom.data import get_testdata_file

    ct = tmp_path / "ct.dcm"
    shutil.copy(get_testdata_file("CT_small.dcm"), ct)
    load(qtbot, window, DIGITS_MODEL, [ct])
    run(qtbot, window)
    window.select_result(0)
    qtbot.waitUntil(lambda: window.detail.dicom_table.isVisible(), timeout=10000)
    shown = {window.detail.dicom_table.item(r, 0).text(): window.detail.dicom_table.item(r, 1).text()
             for r in range(window.detail.dicom_table.rowCount())}
    assert shown.get("Modality") == "CT" and not any("Patient" in k for k in shown)

    out = tmp_path / "results.json"
    assert window.export_to(out) == 1
    record = json.loads(out.read_text())["results"][0]
    assert record["dicom"]["Modality"] == "CT" and "PatientName" not in record["dicom"]
    message = window.statusBar().currentMessage()
    assert "left out patient-identifying DICOM fields (" in message and "PatientName" in message
    assert "Export with Patient Details" in message

    monkey_path = tmp_path / "with_phi.json"
    window.export_dialog = lambda include_phi=False: window.export_to(monkey_path, include_phi=include_phi)
    window.export_with_patient_details()  # asks first
    assert confirmations[-1][0] == "Export patient details?"
    record = json.loads(monkey_path.read_text())["results"][0]
    assert "PatientName" in record["dicom"]


def test_the_models_disclaimer_stands_above_its_results(qtbot, window, tmp_path):
    import onnx

    proto = onnx.load(str(DIGITS_MODEL))
    entry = proto.metadata_props.add()
    entry.key, entry.value = "disclaimer", "Research use only: not for diagnosis."
    model = tmp_path / "digits_research.onnx"
    onnx.save(proto, str(model))
    load(qtbot, window, model, [DIGITS_DIR])
    run(qtbot, window)
    notice = window.results_tab.use_notice
    assert notice.isVisible() and "Research use only: not for diagnosis." in notice.text()
    assert "digits_research.onnx says" in notice.text()
    load(qtbot, window, DIGITS_MODEL)  # the results are still the disclaimed model's: the notice stays
    assert notice.isVisible()
    window.clear_results()
    assert not notice.isVisible()  # the loaded model says nothing of the kind
