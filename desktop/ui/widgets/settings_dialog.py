"""The Settings dialog: execution provider (only those available), no fallback, threads, optimisation, top-k, CSV guard."""

from __future__ import annotations

from PySide6.QtWidgets import (QCheckBox, QComboBox, QDialog, QDialogButtonBox, QFormLayout, QLabel, QSpinBox,
                               QVBoxLayout)

from desktop.settings import OPT_LEVELS, Settings

OPT_NAMES = {"all": "All (fastest, default)", "extended": "Extended", "basic": "Basic",
             "disable": "None (as exported)"}


class SettingsDialog(QDialog):
    """Edits a copy of the settings; ``result_settings()`` returns it after OK."""

    def __init__(self, settings: Settings, providers, parent=None):
        super().__init__(parent)
        self.setWindowTitle("Settings")
        self._settings = settings
        lay = QVBoxLayout(self)
        form = QFormLayout()
        lay.addLayout(form)
        self.provider = QComboBox()
        self.provider.addItem("Best available", None)
        for p in providers:
            self.provider.addItem(p.replace("ExecutionProvider", ""), p)
        i = self.provider.findData(settings.provider)
        self.provider.setCurrentIndex(max(i, 0))
        self.provider.setToolTip("Where the model runs. Only providers this installation can use are listed.")
        form.addRow("Execution provider", self.provider)
        self.no_fallback = QCheckBox("Refuse to run when the chosen provider is not available (no silent fallback to CPU)")
        self.no_fallback.setChecked(settings.no_fallback)
        self.no_fallback.setToolTip("When the chosen provider is missing from this onnxruntime or fails to start, "
                                    "onnxruntime runs the model on the CPU instead. With this on, the model is not "
                                    "loaded and the message says why. The command line's --no-fallback does the same.")
        form.addRow("", self.no_fallback)
        self.threads = QSpinBox()
        self.threads.setRange(0, 256)
        self.threads.setSpecialValueText("automatic")
        self.threads.setValue(settings.threads)
        self.threads.setToolTip("Threads used inside one inference; automatic lets onnxruntime decide")
        form.addRow("Threads", self.threads)
        self.opt = QComboBox()
        for level in reversed(OPT_LEVELS):
            self.opt.addItem(OPT_NAMES[level], level)
        self.opt.setCurrentIndex(max(self.opt.findData(settings.opt_level), 0))
        self.opt.setToolTip("How much onnxruntime may rewrite the model's graph to run it faster")
        form.addRow("Graph optimisation", self.opt)
        self.top_k = QSpinBox()
        self.top_k.setRange(1, 100)
        self.top_k.setValue(settings.top_k)
        self.top_k.setToolTip("How many labels to keep per result (classification models)")
        form.addRow("Labels per result (top-k)", self.top_k)
        self.formula_guard = QCheckBox("Protect CSV exports from spreadsheet formulas")
        self.formula_guard.setChecked(settings.formula_guard)
        self.formula_guard.setToolTip("A text cell that begins with =, +, - or @ (a file name, a CSV value) gets a ' in "
                                      "front, so that Excel or LibreOffice shows it instead of running it as a "
                                      "formula. Numbers are never changed. The command line's --no-formula-guard "
                                      "turns it off there.")
        form.addRow("Exports", self.formula_guard)
        note = QLabel("Changing the provider, threads or optimisation reloads the model.")
        note.setWordWrap(True)
        lay.addWidget(note)
        buttons = QDialogButtonBox(QDialogButtonBox.Ok | QDialogButtonBox.Cancel)
        buttons.button(QDialogButtonBox.Ok).setToolTip("Keep these settings (remembered between launches)")
        buttons.button(QDialogButtonBox.Cancel).setToolTip("Close without changing anything")
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        lay.addWidget(buttons)

    def result_settings(self) -> Settings:
        from dataclasses import replace

        return replace(self._settings, provider=self.provider.currentData(),
                       no_fallback=self.no_fallback.isChecked(), threads=self.threads.value(),
                       opt_level=self.opt.currentData(), top_k=self.top_k.value(),
                       formula_guard=self.formula_guard.isChecked(), recent_models=list(self._settings.recent_models))
