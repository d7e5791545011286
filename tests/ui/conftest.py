"""pytest-qt fixtures for the window: offscreen Qt, settings in a temporary file, no thread left running."""

from __future__ import annotations

import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import shutil
import threading
import time

import pytest

from uihelpers import DIGITS_DIR


@pytest.fixture(scope="session", autouse=True)
def _test_app_identity(qapp):
    """A QSettings organisation/application of its own, so no test touches real user state."""
    qapp.setOrganizationName("InferDeskTests")
    qapp.setApplicationName("InferDeskTests")
    yield


@pytest.fixture(autouse=True)
def settings_file(tmp_path, monkeypatch):
    path = tmp_path / "config" / "settings.json"
    monkeypatch.setenv("INFERDESK_SETTINGS", str(path))
    return path


def _busy_threads():
    from desktop.ui.jobs import active_jobs

    running = [job.slot for job in active_jobs()]
    decode = [t.name for t in threading.enumerate() if t.name.startswith("inferdesk-decode") and t.is_alive()]
    return running, decode


@pytest.fixture(autouse=True)
def no_dangling_threads(qapp):
    """Fail any test that leaves a worker or an engine decode thread running."""
    yield
    from PySide6.QtCore import QThreadPool

    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        qapp.processEvents()
        running, decode = _busy_threads()
        if not running and not decode and QThreadPool.globalInstance().activeThreadCount() == 0:
            break
        time.sleep(0.01)
    running, decode = _busy_threads()
    assert not running, f"test left workers running: {running}"
    assert not decode, f"test left engine threads running: {decode}"
    assert QThreadPool.globalInstance().activeThreadCount() == 0


@pytest.fixture(autouse=True)
def confirmations(monkeypatch):
    """The questions the window asked (title, text, accept button), each answered ``answer`` (default: yes),
    so that no test waits on a modal dialog; a test of the dialog itself calls ``confirmations.real``."""
    from desktop.ui.main_window import MainWindow

    asked = _Asked()
    asked.real = MainWindow.confirm

    def confirm(self, title, text, accept, reject="Keep Running"):
        asked.append((title, text, accept))
        return asked.answer

    monkeypatch.setattr(MainWindow, "confirm", confirm)
    return asked


class _Asked(list):
    answer = True


@pytest.fixture
def window(qtbot, settings_file):
    from desktop.settings import Settings
    from desktop.ui.main_window import MainWindow

    w = MainWindow(Settings(), settings_file)
    qtbot.addWidget(w)
    w.resize(1280, 800)
    w.show()
    yield w
    w.close()
    for d in list(__import__("desktop.ui.errors", fromlist=["reporter"]).reporter().dialogs):
        d.close()


@pytest.fixture
def many_digits(tmp_path):
    """A folder with 2,000 digit images (copies of the samples)."""
    folder = tmp_path / "many"
    folder.mkdir()
    samples = sorted(DIGITS_DIR.glob("*.png"))
    for n in range(2000):
        shutil.copyfile(samples[n % len(samples)], folder / f"img_{n:05d}.png")
    return folder
