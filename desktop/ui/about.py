"""The About box, the Execution Providers box and the status bar's line on what runs the model (a part of MainWindow)."""

from __future__ import annotations

from PySide6.QtCore import Qt, QUrl
from PySide6.QtGui import QDesktopServices, QIcon
from PySide6.QtWidgets import QMessageBox

from desktop import __version__

#: what InferDesk is for, in the About box (and the README's first lines)
INTENDED_USE = ("scoring your own images, DICOM files and tables with an ONNX model you have chosen, on this "
                "computer, and checking, reviewing and recording the results. It is not a medical device: a model's "
                "results are for a qualified person to review, not a diagnosis.")
LICENCE = "MIT, open source (the models you open keep their own licences, shown on the model card)"


def versions() -> dict:
    """Versions shown in the About box."""
    import platform

    import onnxruntime
    import pyqtgraph
    import PySide6
    from PySide6.QtCore import qVersion

    return {"InferDesk": __version__, "onnxruntime": onnxruntime.__version__, "Qt": qVersion(),
            "PySide6": PySide6.__version__, "pyqtgraph": pyqtgraph.__version__,
            "Python": platform.python_version()}


class AboutMixin:
    """MainWindow's About box and status line."""

    def _update_status_info(self):
        import onnxruntime

        s = self.settings
        provider = (self.engine.provider if self.engine else (s.provider or "best available"))
        fallback = getattr(self.engine, "fallback", None)
        shown = fallback.short if fallback is not None else provider.replace("ExecutionProvider", "")
        parts = [f"onnxruntime {onnxruntime.__version__}", shown,
                 f"threads {s.threads or 'automatic'}", f"optimisation {s.opt_level}", f"top-{s.top_k}"]
        # the profile is on the model card and above the results: here it only made the line too
        # long for a 1024-pixel window, hiding the run's own message
        tip = "What runs the model: " + " · ".join(parts)
        if self.engine is not None:
            tip += f"\nProfile: {self.engine.profile_source}"
        if fallback is not None:
            tip += f"\nFallback: {fallback} (Help ▸ Execution Providers…)"
        self.status_info.setText(" · ".join(parts))
        self.status_info.setToolTip(tip)

    def providers_dialog(self):
        """Help ▸ Execution Providers: the build's providers, the one asked for and the one running."""
        from .widgets.providers_dialog import ProvidersDialog

        ProvidersDialog(self.settings, self.engine, self).exec()

    def about_text(self) -> str:
        from desktop.resources import resource_path

        rows = "".join(f"<tr><td>{k}</td><td>&nbsp;&nbsp;{val}</td></tr>" for k, val in versions().items())
        readme = resource_path("README.md")
        docs = (f"<a href='{QUrl.fromLocalFile(str(readme)).toString()}'>the README</a> ({readme})"
                if readme.is_file() else "the README that came with InferDesk")
        return (f"<h3>InferDesk {__version__}</h3><p>Score images and tables with an ONNX model on your own "
                "workstation. Nothing leaves this computer.</p>"
                f"<p><b>Intended use</b>: {INTENDED_USE}</p>"
                f"<p><b>Licence</b>: {LICENCE}. <b>Documentation</b>: {docs}.</p>"
                f"<table>{rows}</table>")

    def about(self):
        from desktop.resources import icon_path

        box = QMessageBox(self)
        box.setWindowTitle("About InferDesk")
        box.setTextFormat(Qt.RichText)
        box.setText(self.about_text())
        box.setTextInteractionFlags(Qt.TextBrowserInteraction)  # the documentation link opens
        png = icon_path("png")
        if png.is_file():
            box.setIconPixmap(QIcon(str(png)).pixmap(64, 64))
        box.setAttribute(Qt.WA_DeleteOnClose)
        box.open()
        self.about_box = box
        return box

    def open_settings_folder(self):
        QDesktopServices.openUrl(QUrl.fromLocalFile(str(self.settings_file.parent)))
