"""The window's geometry, pane sizes and tab, kept apart from preferences in an INI beside the settings file."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QByteArray, QSettings
from PySide6.QtGui import QGuiApplication

from desktop.settings import settings_path


def window_state_store(settings_file: Path | None = None) -> QSettings:
    """The INI store of the window's state (``window-state.ini`` beside the settings file)."""
    path = (settings_file or settings_path()).with_name("window-state.ini")
    return QSettings(str(path), QSettings.IniFormat)


def restore_window_state(window, settings_file: Path) -> None:
    """Geometry, dock state, splitters and tab as the user left them; a sensible size the first time."""
    store = window_state_store(settings_file)
    geo = store.value("geometry")
    if isinstance(geo, QByteArray) and not geo.isEmpty():
        window.restoreGeometry(geo)
    else:
        screen = QGuiApplication.primaryScreen()
        if screen is not None:
            avail = screen.availableGeometry()
            window.resize(min(1360, int(avail.width() * 0.9)), min(840, int(avail.height() * 0.9)))
        else:
            window.resize(1360, 840)
    state = store.value("windowState")
    if isinstance(state, QByteArray) and not state.isEmpty():
        window.restoreState(state)
    for key, splitter in (("splitter", window.splitter), ("leftSplitter", window.left_splitter)):
        value = store.value(key)
        if isinstance(value, QByteArray) and not value.isEmpty():
            splitter.restoreState(value)
    tab = store.value("tab")
    if tab is not None:
        try:
            window.tabs.setCurrentIndex(int(tab))
        except (TypeError, ValueError):
            pass


def save_window_state(window, settings_file: Path) -> None:
    store = window_state_store(settings_file)
    store.setValue("geometry", window.saveGeometry())
    store.setValue("windowState", window.saveState())
    store.setValue("splitter", window.splitter.saveState())
    store.setValue("leftSplitter", window.left_splitter.saveState())
    store.setValue("tab", window.tabs.currentIndex())
    store.sync()
