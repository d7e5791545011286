"""The Drift tab on the real window: scikit-learn's breast-cancer rows against a reference half of them (issue 17)."""

from __future__ import annotations

import csv
import shutil

import numpy as np
import pytest
from uihelpers import CANCER_MODEL, ROOT, load, run


@pytest.fixture
def halves(tmp_path):
    """The model beside its own profile in a folder of its own (a reference is saved beside it), a reference half
    of the 569 rows, and the other half with mean radius one standard deviation up."""
    from sklearn.datasets import load_breast_cancer

    model = tmp_path / "model" / "breast_cancer.onnx"
    model.parent.mkdir()
    shutil.copy(CANCER_MODEL, model)
    shutil.copy(CANCER_MODEL.with_name("breast_cancer.profile.json"), model.with_name("breast_cancer.profile.json"))
    data = load_breast_cancer()
    idx = np.random.default_rng(0).permutation(len(data.data))
    ref, cur = data.data[idx[:285]], data.data[idx[285:]].copy()
    cur[:, 0] += ref[:, 0].std()

    def write(path, rows):
        with open(path, "w", newline="") as fh:
            w = csv.writer(fh)
            w.writerow([str(n) for n in data.feature_names])
            w.writerows(rows.tolist())
        return path

    return model, write(tmp_path / "reference.csv", ref), write(tmp_path / "shifted.csv", cur)


def _check(qtbot, window, reference):
    window.tabs.setCurrentWidget(window.drift)
    window.drift.set_reference(str(reference))
    with qtbot.waitSignal(window.drift_done, timeout=60000) as blocker:
        window.drift.check_button.click()
    return blocker.args[0]


def test_a_shifted_feature_is_drifted_in_the_tab_and_the_reference_is_saved_beside_the_model(qtbot, window, halves):
    model, reference, shifted = halves
    load(qtbot, window, model, [shifted])
    run(qtbot, window)
    report = _check(qtbot, window, reference)
    assert report is not None and not report["dataset_drift"]  # one feature of thirty
    view = window.drift
    assert view.stack.currentIndex() == 1 and "Dataset not drifted" in view.verdict.text()
    rows = {view.table.item(r, 1).text(): view.table.item(r, 0).text() for r in range(view.table.rowCount())}
    assert rows["mean radius"] == "✖ drifted" and "● stable" in rows.values()
    saved = model.with_name("breast_cancer.reference.json")
    assert saved.is_file() and str(saved) in view.message.text()
    # the distributions of the selected feature are drawn, and the run is on the chart over time
    view.table.setCurrentCell([view.table.item(r, 1).text() for r in range(view.table.rowCount())].index("mean radius"), 1)
    assert len(view.dist.listDataItems()) == 2
    assert len(view.history.listDataItems()) == 1
    # the next check reuses the saved reference
    again = _check(qtbot, window, saved)
    assert again["columns"][0]["name"] == "mean radius"


def test_drift_needs_a_reference_and_a_run(qtbot, window):
    window.tabs.setCurrentWidget(window.drift)
    window.drift.check_button.click()
    assert "Choose a reference first" in window.drift.message.text()
    window.drift.set_reference(str(ROOT / "resources" / "samples" / "breast_cancer.csv"))
    window.drift.check_button.click()
    assert "Score some inputs first" in window.drift.message.text()
