"""The Validation tab on the real window: the breast-cancer sample against its own diagnosis column (issue 16)."""

from __future__ import annotations

import numpy as np
from uihelpers import CANCER_CSV, CANCER_MODEL, DIGITS_DIR, DIGITS_MODEL, load, run


def _evaluate(qtbot, window, truth=None):
    window.tabs.setCurrentWidget(window.validation)
    view = window.validation
    if truth is not None:
        view.truth.setCurrentText(truth)
    with qtbot.waitSignal(window.validation_done, timeout=60000) as blocker:
        view.evaluate_button.click()
    return blocker.args[0]


def test_the_breast_cancer_sample_against_its_diagnosis_column(qtbot, window):
    from sklearn.metrics import confusion_matrix, roc_auc_score

    load(qtbot, window, CANCER_MODEL, [CANCER_CSV])
    run(qtbot, window)
    window.tabs.setCurrentWidget(window.validation)
    view = window.validation
    assert view.truth.currentText() == "diagnosis"  # offered: a column named like a truth column
    evaluation = _evaluate(qtbot, window)
    assert evaluation is not None and evaluation["n"] == 20 and view.stack.currentIndex() == 1
    results = window.results.results
    truth = [r.passthrough["diagnosis"] for r in results]
    labels = evaluation["confusion"]["labels"]
    predicted = [r.top[0].label for r in results]
    assert evaluation["confusion"]["counts"] == confusion_matrix(truth, predicted, labels=labels).tolist()
    positive = evaluation["operating_point"]["positive"] if evaluation.get("operating_point") else labels[1]
    score = [next(p.score for p in r.top if p.label == positive) for r in results]
    auc = roc_auc_score([t == positive for t in truth], score)
    assert abs(evaluation["roc"]["auc"] - auc) < 1e-9
    names = [view.metrics.item(r, 0).text() for r in range(view.metrics.rowCount())]
    assert any("AUC" in n or "auc" in n.lower() for n in names)
    # a click on a cell shows its cases in the Results tab
    counts = np.asarray(evaluation["confusion"]["counts"])
    assert view.pick_cell(0, 0)
    assert window.tabs.currentIndex() == 0 and window.results.rowCount() == counts[0, 0]
    assert window.results_tab.show_all_button.isVisible()
    window.results_tab.show_all_button.click()
    assert window.results.rowCount() == 20 and not window.results_tab.show_all_button.isVisible()
    # a calibration point: the cases whose probability of the positive class falls in its bin
    positive = evaluation["calibration"]["positive"]
    p = evaluation["calibration"]["prob_pred"][0]
    b = min(int(p * 10), 9)
    want = [c for c in evaluation["cases"] if b / 10 <= c["score"] < (b + 1) / 10 or (b == 9 and c["score"] == 1.0)]
    window.tabs.setCurrentWidget(view)
    assert view.pick_bin(p)
    assert window.results.rowCount() == len(want) > 0 and positive in window.statusBar().currentMessage()
    window.results_tab.show_all_button.click()
    # another run's results: the evaluation of this one is not left on show
    run(qtbot, window)
    assert window.validation.evaluation is None and window.validation.stack.currentIndex() == 0


def test_a_truth_that_does_not_fit_is_said_in_the_tab(qtbot, window):
    load(qtbot, window, CANCER_MODEL, [CANCER_CSV])
    run(qtbot, window)
    assert _evaluate(qtbot, window, truth="no_such_column") is None
    assert window.validation.message.isVisible() and "no_such_column" in window.validation.message.text()


def test_nothing_to_evaluate_before_a_run(qtbot, window):
    load(qtbot, window, DIGITS_MODEL, [DIGITS_DIR])
    window.tabs.setCurrentWidget(window.validation)
    window.validation.truth.setCurrentText("label")
    window.validation.evaluate_button.click()
    assert "Score labelled cases first" in window.validation.message.text()


def test_the_report_of_a_validated_run_holds_its_metrics_and_reviewed_cases(qtbot, window, tmp_path):
    import shutil
    import subprocess

    load(qtbot, window, CANCER_MODEL, [CANCER_CSV])
    run(qtbot, window)
    evaluation = _evaluate(qtbot, window)
    assert evaluation["run_id"] == window.controller.shown.run_id
    path = tmp_path / "ward3.pdf"
    with qtbot.waitSignal(window.report_written, timeout=60000) as blocker:
        window.save_report(path)
    assert blocker.args[0] == str(path) and path.read_bytes()[:5] == b"%PDF-"
    assert str(path) in window.statusBar().currentMessage()
    if shutil.which("pdftotext"):
        text = subprocess.run(["pdftotext", str(path), "-"], capture_output=True, text=True, check=True).stdout
        assert "breast_cancer.onnx" in text and "breast_cancer.csv · row 1" in text
        assert "auc" in text.lower() or "AUC" in text
