"""The QGuiApplication the report's fonts and painting need: the window's own, or one made here, offscreen."""

from __future__ import annotations

from PySide6.QtGui import QGuiApplication

_app = None  # a QGuiApplication made here (the command line has none), kept alive


def ensure_gui_application():
    """The running QGuiApplication, or a new one on the offscreen platform (the command line has no window)."""
    global _app
    app = QGuiApplication.instance()
    if app is None:
        _app = app = QGuiApplication(["inferdesk", "-platform", "offscreen"])
    return app
