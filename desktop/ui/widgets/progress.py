"""A progress bar that never repaints synchronously.

``QProgressBar.setValue`` calls ``repaint()``, which paints every dirty widget of the window
at once (the results table included) inside the call; while a batch runs that blocked the
event loop for hundreds of milliseconds. This bar only schedules an update.
"""

from __future__ import annotations

from PySide6.QtCore import QRectF, QSize
from PySide6.QtGui import QColor, QPainter, QPalette
from PySide6.QtWidgets import QSizePolicy, QWidget


class ProgressStrip(QWidget):
    """A thin bar: ``value`` of ``maximum`` filled with the highlight colour."""

    def __init__(self, parent=None):
        super().__init__(parent)
        self._min, self._max, self._value = 0, 100, 0
        self.setSizePolicy(QSizePolicy.Expanding, QSizePolicy.Fixed)
        self.setFixedHeight(max(10, self.fontMetrics().height() // 2 + 4))

    def sizeHint(self):
        return QSize(200, self.height())

    def setRange(self, lo: int, hi: int) -> None:  # noqa: N802 - QProgressBar's API
        self._min, self._max = int(lo), max(int(lo), int(hi))
        self.update()

    def setValue(self, value: int) -> None:  # noqa: N802
        if int(value) != self._value:
            self._value = int(value)
            self.update()

    def value(self) -> int:
        return self._value

    def maximum(self) -> int:
        return self._max

    def paintEvent(self, event):
        p = QPainter(self)
        p.setRenderHint(QPainter.Antialiasing)
        pal = self.palette()
        r = QRectF(self.rect()).adjusted(0.5, 0.5, -0.5, -0.5)
        track = QColor(pal.color(QPalette.Mid))
        track.setAlpha(70)
        p.setPen(QColor(pal.color(QPalette.Mid)))
        p.setBrush(track)
        p.drawRoundedRect(r, 3, 3)
        span = self._max - self._min
        frac = (self._value - self._min) / span if span > 0 else 0.0
        if frac > 0:
            fill = QRectF(r.left(), r.top(), r.width() * min(1.0, frac), r.height())
            p.setPen(QColor(0, 0, 0, 0))
            p.setBrush(pal.color(QPalette.Highlight))
            p.drawRoundedRect(fill, 3, 3)
        p.end()
