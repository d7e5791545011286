"""Explaining one result in the detail pane: the map over the image, progress, cancel, the sanity check (issue 17)."""

from __future__ import annotations

import numpy as np
from uihelpers import CANCER_CSV, CANCER_MODEL, load, run

from tests.explain_models import H, W, conv_model, write_image


def test_an_image_result_explained_with_rise_lays_its_map_over_the_image(qtbot, window, tmp_path):
    model = conv_model(tmp_path / "quadrant.onnx")
    image = write_image(tmp_path / "case.png")
    load(qtbot, window, model, [image])
    run(qtbot, window)
    window.select_result(0)
    panel = window.detail.explain
    assert panel.isVisibleTo(window.detail) and panel.method.currentData() == "rise"
    assert [panel.method.itemData(i) for i in range(panel.method.count())] == ["rise", "occlusion"]
    with qtbot.waitSignal(window.explained, timeout=60000) as blocker:
        window.explain_selected("rise", 1)
        assert not panel.explain_button.isEnabled() and panel.cancel_button.isVisibleTo(panel)
    explanation = blocker.args[0]
    assert explanation is not None and explanation.map.shape == (H, W)
    top_left = explanation.map[: H // 2, : W // 2].mean()
    assert top_left > explanation.map[H // 2:, W // 2:].mean()  # the one region that matters comes first
    heat = window.detail.heat_choice
    assert heat.isVisibleTo(window.detail) and heat.currentText().startswith("Explanation: rise for on")
    assert window.detail.image.heat is not None and window.detail.image.heat.shape == (H, W)
    assert "rise" in panel.info.text() and "seed 0" in panel.info.text()
    # the sanity check: randomising the weights destroys the map
    with qtbot.waitSignal(window.explanation_checked, timeout=120000) as checked:
        panel.check_button.click()
    check = checked.args[0]
    assert check is not None and check["rank_correlation"]
    assert ("reliable" in panel.verdict.text()) and "rank correlation" in panel.verdict.text()


def test_cancel_returns_a_partial_map(qtbot, window, tmp_path):
    model = conv_model(tmp_path / "quadrant.onnx")
    load(qtbot, window, model, [write_image(tmp_path / "case.png")])
    run(qtbot, window)
    window.select_result(0)
    panel = window.detail.explain
    stopped = []
    shown = panel.set_progress

    def cancel_at_first_progress(done, total):
        shown(done, total)
        if done and not stopped:
            stopped.append((done, total))
            panel.cancel_button.click()

    panel.set_progress = cancel_at_first_progress
    with qtbot.waitSignal(window.explained, timeout=60000) as blocker:
        window.explain_selected("rise", None)  # 4,000 masks by default: many batches
    explanation = blocker.args[0]
    assert stopped and explanation is not None and explanation.cancelled
    assert explanation.done < explanation.total == 4000
    assert "partial" in panel.info.text() and panel.explain_button.isEnabled()


def test_a_csv_row_gets_its_feature_attributions_as_bars(qtbot, window):
    load(qtbot, window, CANCER_MODEL, [CANCER_CSV])
    run(qtbot, window)
    window.select_result(0)
    panel = window.detail.explain
    assert [panel.method.itemData(i) for i in range(panel.method.count())] == ["kernelshap"]
    with qtbot.waitSignal(window.explained, timeout=120000) as blocker:
        window.explain_selected("kernelshap", None)
    explanation = blocker.args[0]
    assert explanation is not None and len(explanation.features) == 30
    attributions = np.asarray([a for _, _, a in explanation.features])
    assert np.all(np.abs(attributions[:-1]) >= np.abs(attributions[1:]))  # largest first
    assert panel.bars.isVisibleTo(panel) and len(panel.bars.getPlotItem().items) >= 1


def test_a_detectors_box_is_chosen_and_explained_with_d_rise(qtbot, window, tmp_path):
    from tests.explain_models import tiny_detector

    model = tiny_detector(tmp_path / "det.onnx")
    load(qtbot, window, model, [write_image(tmp_path / "page.png")])
    run(qtbot, window)
    window.select_result(0)
    panel = window.detail.explain
    assert [panel.method.itemData(i) for i in range(panel.method.count())] == ["drise", "occlusion"]
    boxes = [panel.target.itemText(i) for i in range(panel.target.count())]
    assert len(boxes) == 2 and boxes[0].startswith("Box 1: a ") and boxes[1].startswith("Box 2: b ")
    with qtbot.waitSignal(window.explained, timeout=60000) as blocker:
        window.explain_selected("drise", 0)
    explanation = blocker.args[0]
    assert explanation is not None and explanation.method == "drise" and explanation.target["label"] == "a"
    m = explanation.map
    assert m[: H // 2, : W // 2].mean() > m[H // 2:, W // 2:].mean()  # the region behind box 1 first


def test_the_methods_settings_are_passed_and_recorded_with_the_map(qtbot, window, tmp_path):
    model = conv_model(tmp_path / "quadrant.onnx")
    load(qtbot, window, model, [write_image(tmp_path / "case.png")])
    run(qtbot, window)
    window.select_result(0)
    panel = window.detail.explain
    panel.settings_button.setChecked(True)
    assert panel.settings.isVisibleTo(panel) and panel.fields["n"].isVisibleTo(panel)
    assert not panel.fields["patch"].isVisibleTo(panel)  # occlusion's, not RISE's
    panel.fields["n"].setValue(600)
    panel.fields["grid"].setValue(5)
    panel.fields["seed"].setValue(7)
    with qtbot.waitSignal(window.explained, timeout=60000) as blocker:
        panel.explain_button.click()
    explanation = blocker.args[0]
    assert (explanation.params["n"], explanation.params["grid"], explanation.params["seed"]) == (600, 5, 7)
    assert "seed 7" in panel.info.text() and "n 600" in panel.info.text()
    panel.method.setCurrentIndex(panel.method.findData("occlusion"))
    assert panel.fields["patch"].isVisibleTo(panel) and not panel.fields["n"].isVisibleTo(panel)
    assert panel.params() == {"baseline": "mean"}


def test_a_rows_baseline_is_the_drift_tabs_reference_csv_when_one_is_chosen(qtbot, window, tmp_path):
    import csv

    rows = list(csv.reader(open(CANCER_CSV, newline="")))
    reference = tmp_path / "reference.csv"
    with open(reference, "w", newline="") as fh:
        csv.writer(fh).writerows(rows[:11])  # the header and ten rows
    load(qtbot, window, CANCER_MODEL, [CANCER_CSV])
    run(qtbot, window)
    window.drift.set_reference(str(reference))
    window.select_result(0)
    with qtbot.waitSignal(window.explained, timeout=120000) as blocker:
        window.explain_selected("kernelshap", None)
    explanation = blocker.args[0]
    assert explanation is not None and "reference.csv" in str(explanation.params.get("reference"))
