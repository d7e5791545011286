"""The DICOM series of the queue: one checkable row per series (modality, description, instances, frames, warnings)."""

from __future__ import annotations

from PySide6.QtCore import QSize, Qt, Signal
from PySide6.QtWidgets import QAbstractItemView, QLabel, QListWidget, QListWidgetItem, QVBoxLayout, QWidget

from desktop.runs import fmt

from .history import warning_color

#: the role that holds a row's Series
SERIES_ROLE = Qt.UserRole + 1


def series_text(series) -> str:
    """A series' two lines: what it is, then its size and order, and what is wrong with it."""
    head = [series.modality or "DICOM"]
    if series.number:
        head.append(f"#{series.number}")
    head.append(series.description or "(no description)")
    size = f"{series.size[1]:,}×{series.size[0]:,}" if series.size else "?"
    second = [f"{fmt.plural(series.files, 'instance')}, {fmt.plural(series.frames, 'frame')}", size]
    text = " · ".join(head) + "\n" + " · ".join(second)
    if series.problem:
        text += "\n⚠ " + series.problem
    elif series.refused:
        text += f"\n⚠ {fmt.plural(len(series.refused), 'slice')} of another size left out"
    return text


def series_tooltip(series) -> str:
    lines = [series.label(), f"Ordered by {series.ordered_by}"
             + (" (ImagePositionPatient along the slice normal)" if series.ordered_by == "position" else "")]
    if series.fields.get("ImageType"):
        lines.append("Image type: " + "\\".join(series.fields["ImageType"]))
    if series.problem:
        lines.append("⚠ " + series.problem)
    lines += ["⚠ " + item.problem for item in series.refused[:5]]
    lines.append("Untick to leave the series out of the queue; tick to put it back.")
    return "\n".join(lines)


class SeriesPanel(QWidget):
    """The series found in what was queued, each with a checkbox: ticked, its slices are in the queue."""

    toggled = Signal(object, bool)  # (the Series, whether it is now ticked)

    def __init__(self, parent=None):
        super().__init__(parent)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        self.title = QLabel()
        f = self.title.font()
        f.setBold(True)
        self.title.setFont(f)
        lay.addWidget(self.title)
        self.view = QListWidget()
        self.view.setSelectionMode(QAbstractItemView.NoSelection)
        self.view.setWordWrap(False)
        self.view.setTextElideMode(Qt.ElideRight)
        self.view.setHorizontalScrollBarPolicy(Qt.ScrollBarAlwaysOff)
        self.view.setToolTip("The DICOM series in the queue: tick the ones to score")
        lay.addWidget(self.view)
        self.series: list = []
        self.view.itemChanged.connect(self._on_item_changed)
        self._update()

    def add_series(self, series_list, ticked) -> None:
        """Add series not shown yet; ``ticked`` is the set of ``id(series)`` whose slices were queued."""
        known = {id(s) for s in self.series}
        warn = warning_color(self.palette())
        self.view.blockSignals(True)
        for s in series_list:
            if id(s) in known:
                continue
            self.series.append(s)
            row = QListWidgetItem(series_text(s))
            row.setFlags(Qt.ItemIsEnabled | Qt.ItemIsUserCheckable)
            row.setCheckState(Qt.Checked if id(s) in ticked else Qt.Unchecked)
            row.setData(SERIES_ROLE, s)
            row.setToolTip(series_tooltip(s))
            row.setSizeHint(QSize(0, self._line() * row.text().count("\n") + self._line() + 8))
            if s.problem or s.refused:
                row.setForeground(warn)
            self.view.addItem(row)
        self.view.blockSignals(False)
        self._update()

    def sync(self, queued_ids) -> None:
        """Tick exactly the series that have slices in the queue (``queued_ids``: their ids)."""
        self.view.blockSignals(True)
        for i in range(self.view.count()):
            row = self.view.item(i)
            want = Qt.Checked if id(row.data(SERIES_ROLE)) in queued_ids else Qt.Unchecked
            if row.checkState() != want:
                row.setCheckState(want)
        self.view.blockSignals(False)
        self._update()

    def clear(self) -> None:
        self.series = []
        self.view.clear()
        self._update()

    def ticked(self) -> list:
        return [self.view.item(i).data(SERIES_ROLE) for i in range(self.view.count())
                if self.view.item(i).checkState() == Qt.Checked]

    def _on_item_changed(self, row) -> None:
        self.toggled.emit(row.data(SERIES_ROLE), row.checkState() == Qt.Checked)
        self._update()

    def _line(self) -> int:
        return self.view.fontMetrics().lineSpacing()

    def _update(self) -> None:
        n = len(self.series)
        self.setVisible(n > 0)
        ticked = len(self.ticked())
        self.title.setText(f"DICOM SERIES ({ticked} of {n} to score)")
        # up to three series in view, the rest a scroll away
        shown = sum(self.view.item(i).sizeHint().height() for i in range(min(n, 3))) if n else 36
        self.view.setFixedHeight(shown + 2 * self.view.frameWidth() + 2)
