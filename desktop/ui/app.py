"""Start the window: ``run_app(model, inputs)`` for ``inferdesk`` and ``inferdesk gui [MODEL] [INPUT...]``."""

from __future__ import annotations

import os
import sys

APP_NAME = "InferDesk"
ORG_NAME = "InferDesk"


def create_app(argv=None):
    """The QApplication (reused if one exists), named and with the app icon."""
    from PySide6.QtCore import QCoreApplication
    from PySide6.QtGui import QGuiApplication, QIcon
    from PySide6.QtWidgets import QApplication

    app = QApplication.instance()
    if app is None:
        QGuiApplication.setHighDpiScaleFactorRoundingPolicy(
            __import__("PySide6.QtCore", fromlist=["Qt"]).Qt.HighDpiScaleFactorRoundingPolicy.PassThrough)
        app = QApplication(list(argv if argv is not None else sys.argv[:1]))
    if not QCoreApplication.organizationName():
        QCoreApplication.setOrganizationName(ORG_NAME)
    if not QCoreApplication.applicationName() or QCoreApplication.applicationName() in ("python", "python3"):
        QCoreApplication.setApplicationName(APP_NAME)
    QGuiApplication.setApplicationDisplayName(APP_NAME)
    QGuiApplication.setDesktopFileName("inferdesk")
    from desktop.resources import icon_path

    for ext in ("svg", "png"):
        p = icon_path(ext)
        if p.is_file():
            app.setWindowIcon(QIcon(str(p)))
            break
    return app


def create_window(model_path=None, inputs=(), settings=None, settings_file=None, open_sample_if_empty=True,
                  offer_resume=True):
    """A shown MainWindow with ``model_path`` loading and ``inputs`` queued (the sample when both are empty).

    With ``offer_resume`` a banner offers to resume a run that was interrupted (tests turn it off).
    """
    from desktop.settings import load_settings

    from .main_window import MainWindow

    settings = settings if settings is not None else load_settings(settings_file)
    window = MainWindow(settings, settings_file)
    inputs = [str(p) for p in inputs or ()]
    if model_path is None and not inputs and open_sample_if_empty:
        window.open_sample()
    else:
        if model_path is not None:
            window.open_paths([os.fspath(model_path)]) if str(model_path).lower().endswith((".onnx", ".ort")) \
                else window.load_model(model_path)
        if inputs:
            window.add_inputs(inputs)
    if offer_resume:
        window.offer_resume()
    window.show()
    return window


def run_app(model_path=None, inputs=()) -> int:
    """Open the window and run the event loop until it closes; returns the exit code.

    With no model and no inputs the bundled sample model is loaded and its samples queued.
    """
    app = create_app()
    from .errors import install_hooks, uninstall_hooks

    install_hooks()
    try:
        window = create_window(model_path, inputs)
        app.aboutToQuit.connect(window.shutdown)
        return app.exec()
    finally:
        uninstall_hooks()
