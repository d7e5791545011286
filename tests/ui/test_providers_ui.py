"""The window's side of execution providers: the no-fallback setting, the status line and Help ▸ Execution Providers."""

from __future__ import annotations

import json

import onnxruntime as ort
import pytest
from uihelpers import DIGITS_MODEL, drop, load

from desktop.settings import Settings, load_settings, save_settings

lacks_cuda = pytest.mark.skipif("CUDAExecutionProvider" in ort.get_available_providers(),
                                reason="this onnxruntime build has CUDA; the fallback needs a provider it lacks")


def test_no_fallback_checkbox_round_trips(qtbot, settings_file):
    from desktop.ui.widgets.settings_dialog import SettingsDialog

    dialog = SettingsDialog(Settings(), ort.get_available_providers())
    qtbot.addWidget(dialog)
    box = dialog.no_fallback
    assert box.text() == "Refuse to run when the chosen provider is not available (no silent fallback to CPU)"
    assert not box.isChecked() and "--no-fallback" in box.toolTip()
    box.setChecked(True)
    new = dialog.result_settings()
    assert new.no_fallback is True
    save_settings(new)
    assert load_settings().no_fallback is True
    again = SettingsDialog(load_settings(), ort.get_available_providers())
    qtbot.addWidget(again)
    assert again.no_fallback.isChecked()


def test_a_settings_file_without_no_fallback_still_loads(settings_file):
    settings_file.parent.mkdir(parents=True, exist_ok=True)
    settings_file.write_text(json.dumps({"schema_version": 2, "provider": "CPUExecutionProvider", "threads": 2}))
    s = load_settings()
    assert s.provider == "CPUExecutionProvider" and s.threads == 2 and s.no_fallback is False


def test_providers_dialog_without_a_model(qtbot, window):
    from desktop.ui.widgets.providers_dialog import ProvidersDialog

    dialog = ProvidersDialog(window.settings, None, window)
    qtbot.addWidget(dialog)
    assert "CPUExecutionProvider" in dialog.available.text()
    assert dialog.build.text().startswith(f"{ort.__version__} · package onnxruntime")
    assert dialog.requested.text() == "best available" and dialog.running.text() == "no model loaded"
    assert dialog.fallback.text() == "none"
    assert any(a.text() == "&Execution Providers…" for a in window.actions())


@lacks_cuda
def test_a_fallback_shows_in_the_status_line_and_the_dialog(qtbot, window):
    from desktop.ui.widgets.providers_dialog import ProvidersDialog

    window.settings.provider = "CUDAExecutionProvider"
    load(qtbot, window, DIGITS_MODEL)
    assert window.engine.provider == "CPUExecutionProvider"
    assert "CPU (asked for CUDA: not available)" in window.status_info.text()
    assert "Fallback: asked for CUDA, ran on CPU: not in this onnxruntime build" in window.status_info.toolTip()
    dialog = ProvidersDialog(window.settings, window.engine, window)
    qtbot.addWidget(dialog)
    assert dialog.requested.text() == "CUDAExecutionProvider"
    assert dialog.running.text() == "CPUExecutionProvider"
    assert dialog.fallback.text() == "asked for CUDA, ran on CPU: not in this onnxruntime build"
    assert "Runs on: CPUExecutionProvider" in dialog.text()


@lacks_cuda
def test_no_fallback_in_the_window_refuses_with_the_message(qtbot, window):
    from desktop.ui.errors import reporter

    window.settings.provider = "CUDAExecutionProvider"
    window.settings.no_fallback = True
    with qtbot.waitSignal(reporter().reported, timeout=20000) as blocker:
        drop(window, [DIGITS_MODEL])
    assert blocker.args[1] is True  # inline, no dialog
    assert window.engine is None
    assert window.model_panel.message.toolTip().startswith("CUDAExecutionProvider is not in this onnxruntime build")
    assert "install inferdesk[gpu] for CUDA" in window.model_panel.message.toolTip()
