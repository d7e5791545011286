"""Adding inputs to the window: the file dialogs, drag and drop, and pasted paths (a part of MainWindow)."""

from __future__ import annotations

import os

from PySide6.QtGui import QGuiApplication
from PySide6.QtWidgets import QFileDialog

from desktop.engine import expand_inputs
from desktop.runs import fmt

MODEL_EXTENSIONS = (".onnx", ".ort")


class InputsMixin:
    """MainWindow's ways of taking files: a dropped or pasted model is loaded, everything else is queued."""

    def add_inputs_dialog(self):
        paths, _ = QFileDialog.getOpenFileNames(
            self, "Add inputs", self.settings.last_input_dir or "",
            "Images, DICOM and CSV (*.png *.jpg *.jpeg *.bmp *.tif *.tiff *.webp *.gif *.dcm *.csv *.tsv);;"
            "All files (*)")
        if paths:
            self.settings.last_input_dir = os.path.dirname(paths[0])
            self.add_inputs(paths)

    def add_folder_dialog(self):
        path = QFileDialog.getExistingDirectory(self, "Add a folder of images, DICOM or CSV files", self.settings.last_input_dir or "")
        if path:
            self.settings.last_input_dir = path
            self.add_inputs([path])

    def add_inputs(self, paths) -> None:
        """Add files and folders to the queue (folders expand to their images, CSVs count their rows).

        A folder's CSV files are queued for a model that takes tables, or when the folder has no
        images; left out otherwise, and the status bar says so.
        """
        paths = [str(p) for p in paths]
        if not paths:
            return
        engine = self.engine
        takes_tables = engine is not None and engine.profile.table is not None
        left_out: list = []
        items = expand_inputs(paths, folder_tables=True if takes_tables else "auto", left_out=left_out)
        items = self._queue_dicom_series(items)
        self.queue.add_items(items)
        if left_out:
            names = ", ".join(os.path.basename(p) for p in left_out[:3]) + (" …" if len(left_out) > 3 else "")
            self.statusBar().showMessage(
                f"Left out {len(left_out):,} CSV file{'s' if len(left_out) != 1 else ''} in the folder ({names}): "
                "the folder's images are queued; add a CSV file itself to score its rows", 12000)

    def _queue_dicom_series(self, items) -> list:
        """The items to queue: the DICOM series the profile's ``dicom`` section chooses (all without one),
        with every series found shown in the queue's series list, ticked when chosen."""
        from desktop.engine.inputs.dicomseries import choose_for_profile, series_of

        series = series_of(items)
        if not series:
            return items
        dicom = self.engine.profile.dicom if self.engine is not None else None
        chosen, left = choose_for_profile(items, dicom)
        self.queue.add_series(series, chosen, dicom.frames if dicom is not None else None)
        if left:
            self.statusBar().showMessage(
                f"Queued {fmt.plural(len(series) - len(left), 'DICOM series', 'DICOM series')} of {len(series):,}: "
                f"the profile's series rule leaves out {len(left):,}; tick one under DICOM SERIES to score it", 12000)
        return chosen

    def open_paths(self, paths) -> None:
        """What a drop or a paste does: a model is loaded, everything else is queued."""
        paths = [str(p) for p in paths]
        models = [p for p in paths if p.lower().endswith(MODEL_EXTENSIONS) and os.path.isfile(p)]
        others = [p for p in paths if p not in models]
        if models:
            self.load_model(models[0])
            if len(models) > 1:
                self.statusBar().showMessage(f"Loaded {os.path.basename(models[0])}; one model at a time", 8000)
        if others:
            self.add_inputs(others)

    def paste_paths(self):
        mime = QGuiApplication.clipboard().mimeData()
        paths = _paths_from_mime(mime)
        if not paths and mime is not None and mime.hasText():
            paths = [line.strip().strip('"') for line in mime.text().splitlines() if line.strip()]
            paths = [p[7:] if p.startswith("file://") else p for p in paths]
        if paths:
            self.open_paths(paths)
        else:
            self.statusBar().showMessage("The clipboard holds no file paths", 5000)

    def dragEnterEvent(self, event):
        if _paths_from_mime(event.mimeData()):
            event.acceptProposedAction()
        else:
            event.ignore()

    def dragMoveEvent(self, event):
        if _paths_from_mime(event.mimeData()):
            event.acceptProposedAction()

    def dropEvent(self, event):
        paths = _paths_from_mime(event.mimeData())
        if not paths:
            event.ignore()
            return
        event.acceptProposedAction()
        self.open_paths(paths)


def _paths_from_mime(mime) -> list[str]:
    if mime is None or not mime.hasUrls():
        return []
    return [u.toLocalFile() for u in mime.urls() if u.isLocalFile()]
