"""The Lab tab: a variant of the loaded model made, then compared with it on the queued inputs (issue 18)."""

from __future__ import annotations

import shutil

import pytest
from uihelpers import DIGITS_DIR, DIGITS_MODEL, load


@pytest.fixture
def digits_copy(tmp_path):
    """The digit model and its profile in a folder of their own: the variants are written beside it."""
    folder = tmp_path / "model"
    folder.mkdir()
    shutil.copy(DIGITS_MODEL, folder / "digits.onnx")
    shutil.copy(DIGITS_MODEL.with_name("digits.profile.json"), folder / "digits.profile.json")
    return folder / "digits.onnx"


def test_a_static_variant_is_made_on_the_queue_and_compared_with_a_verdict(qtbot, window, digits_copy):
    load(qtbot, window, digits_copy, [DIGITS_DIR])
    window.tabs.setCurrentWidget(window.lab)
    lab = window.lab
    assert lab.model_a.currentData() == str(digits_copy) and lab.model_b.count() == 0
    lab.method.setCurrentIndex(lab.method.findData("static"))
    with qtbot.waitSignal(window.variant_made, timeout=120000) as made:
        lab.make_button.click()
    variant = made.args[0]
    assert variant is not None and variant.path == str(digits_copy.with_name("digits.static.onnx"))
    assert digits_copy.with_name("digits.static.profile.json").is_file()
    assert variant.note["method"] == "static" and variant.note["source_sha256"]
    assert lab.model_b.currentData() == variant.path and "Saved" in lab.message.text()
    with qtbot.waitSignal(window.models_compared, timeout=120000) as compared:
        lab.compare_button.click()
    comparison = compared.args[0]
    assert comparison is not None and comparison["n"] == 10
    assert comparison["verdict"]["text"] and lab.verdict.text()
    rows = [lab.table.item(r, 0).text() for r in range(lab.table.rowCount())]
    assert "Top-1 agreement" in rows and "Latency p50" in rows and "File size" in rows
    # exportable, and in the report of a run of the model
    import json

    out = digits_copy.parent / "comparison.json"
    lab.export_to(out)
    assert json.loads(out.read_text())["verdict"] == comparison["verdict"] and "saved" in lab.message.text()
    from uihelpers import run

    window.tabs.setCurrentIndex(0)
    run(qtbot, window)
    report = digits_copy.parent / "report.html"
    with qtbot.waitSignal(window.report_written, timeout=60000):
        window.save_report(report)
    text = report.read_text()
    assert "Model comparison" in text and "digits.static.onnx" in text


def test_the_lab_refuses_with_nothing_loaded_or_queued(qtbot, window, digits_copy):
    window.tabs.setCurrentWidget(window.lab)
    window.lab.make_button.click()
    assert "Load a model first" in window.lab.message.text()
    load(qtbot, window, digits_copy)
    window.lab.method.setCurrentIndex(window.lab.method.findData("static"))
    window.lab.make_button.click()
    assert "Static INT8 is calibrated on inputs" in window.lab.message.text()
