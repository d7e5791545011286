"""Run ▸ Run on Cluster…: score the queue on worker processes here, or on a Dask scheduler's workers."""

from __future__ import annotations

import os

from PySide6.QtWidgets import QLineEdit, QRadioButton, QSpinBox

from .option_dialog import OptionDialog


class ClusterDialog(OptionDialog):
    """Asks where to score the queue; :meth:`address` gives ``local:N`` or the scheduler's address."""

    def __init__(self, settings, model_name: str, items: int, parent=None):
        super().__init__("Run on Cluster", f"<b>{model_name}</b> scores the queue ({items:,} items) with the same "
                         "profile and settings, on Dask workers: each loads the model once and scores its share, and "
                         "the results come back in order into Results and History, each with the name of the "
                         "machine that scored it.", parent)
        form = self.form
        self.local = QRadioButton("Worker processes on this computer")
        self.local.setToolTip("A Dask LocalCluster, started with the first run and kept until InferDesk closes")
        self.workers = QSpinBox()
        self.workers.setRange(1, max(64, os.cpu_count() or 1))
        self.workers.setValue(settings.cluster_workers)
        self.workers.setSuffix(" processes")
        self.workers.setToolTip("One thread each: as many as this computer has cores uses them all")
        form.addRow(self.local, self.workers)
        self.remote = QRadioButton("A Dask scheduler")
        self.remote.setToolTip("A cluster your IT runs: 'dask scheduler' on one machine, 'dask worker ADDRESS' on "
                               "others, each with InferDesk installed")
        self.scheduler = QLineEdit(settings.cluster_address)
        self.scheduler.setPlaceholderText("tcp://scheduler:8786")
        self.scheduler.setToolTip("The scheduler's address; the inputs must be at the same paths on every worker "
                                  "(a shared folder)")
        form.addRow(self.remote, self.scheduler)
        (self.local if settings.cluster_local or not settings.cluster_address else self.remote).setChecked(True)
        self.local.toggled.connect(self._sync)
        self.scheduler.textEdited.connect(lambda _: self.remote.setChecked(True))
        self.run_button = self.finish("Run on Cluster", "Score the queue there; Cancel (Esc) stops it, and History "
                                      "keeps what was scored", width=560)
        self._sync()

    def _sync(self) -> None:
        self.workers.setEnabled(self.local.isChecked())

    def address(self) -> str:
        """``local:N`` or the scheduler's address, as ``inferdesk score --cluster`` takes it."""
        return f"local:{self.workers.value()}" if self.local.isChecked() else self.scheduler.text().strip()

    def problem(self) -> str | None:
        from desktop.engine.cluster import ClusterError, parse_address

        if self.remote.isChecked() and not self.scheduler.text().strip():
            return "Type the scheduler's address, such as tcp://scheduler:8786."
        try:
            parse_address(self.address())
        except ClusterError as exc:
            return str(exc).replace("--cluster ", "", 1)
        return None

    def remember(self, settings) -> None:
        settings.cluster_local = self.local.isChecked()
        settings.cluster_workers = self.workers.value()
        settings.cluster_address = self.scheduler.text().strip()
