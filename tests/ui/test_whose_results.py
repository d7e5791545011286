"""The results on screen always say which run, model and profile produced them (issue 15, item 1)."""

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
