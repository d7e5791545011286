"""Help ▸ Execution Providers: what this onnxruntime offers, the provider asked for and the one that runs the model."""

from __future__ import annotations


from PySide6.QtCore import Qt
from PySide6.QtWidgets import QDialog, QDialogButtonBox, QFormLayout, QLabel, QVBoxLayout

from desktop.engine.session import build_info, canonical_provider, short_name

#: where the other onnxruntime builds come from (the README's "Execution providers" says more)
INSTALL_NOTE = ("Other providers come with another onnxruntime build, which replaces this one: "
                "<code>pip uninstall onnxruntime</code>, then <code>pip install 'inferdesk[gpu]'</code> (CUDA), "
                "<code>'inferdesk[openvino]'</code> or <code>'inferdesk[directml]'</code>. The installers "
                "(the bundle and the .deb) carry the CPU build only.")


class ProvidersDialog(QDialog):
    """Read-only facts: the build's providers, version and package; the requested and the running provider.

    ``settings``: the window's preferences (``provider``, ``no_fallback``); ``engine``: the loaded
    model's Engine, or None.
    """

    def __init__(self, settings, engine=None, parent=None):
        super().__init__(parent)
        self.setWindowTitle("Execution Providers")
        info = build_info()
        lay = QVBoxLayout(self)
        form = QFormLayout()
        lay.addLayout(form)

        def row(title, text):
            label = QLabel(text)
            label.setTextInteractionFlags(Qt.TextSelectableByMouse)
            label.setWordWrap(True)
            form.addRow(title, label)
            return label

        self.available = row("Available", ", ".join(info["providers"]))
        self.build = row("onnxruntime", f"{info['onnxruntime']} · package {info['package']} · device {info['device']}")
        requested = canonical_provider(settings.provider) if settings.provider else "best available"
        if settings.no_fallback:
            requested += " (no fallback: refused when it is missing or does not start)"
        self.requested = row("Requested", requested)
        self.running = row("Runs on", engine.provider if engine is not None else "no model loaded")
        fallback = getattr(engine, "fallback", None)
        self.fallback = row("Fallback", f"{fallback}" if fallback is not None else "none")
        if fallback is not None:
            self.fallback.setToolTip(f"onnxruntime ran {short_name(fallback.actual)} instead of "
                                     f"{short_name(fallback.requested)} without raising an error. Turn on "
                                     "Settings ▸ Refuse to run when the chosen provider is not available "
                                     "to be stopped instead.")
        note = QLabel(INSTALL_NOTE)
        note.setTextFormat(Qt.RichText)
        note.setWordWrap(True)
        lay.addWidget(note)
        buttons = QDialogButtonBox(QDialogButtonBox.Close)
        buttons.rejected.connect(self.reject)
        lay.addWidget(buttons)

    def text(self) -> str:
        """The dialog's facts as plain text (``title: value`` lines)."""
        rows = (("Available", self.available), ("onnxruntime", self.build), ("Requested", self.requested),
                ("Runs on", self.running), ("Fallback", self.fallback))
        return "\n".join(f"{title}: {label.text()}" for title, label in rows)


