"""How InferDesk's tables look and select: one row at a time, compact fixed-height rows."""

from __future__ import annotations

from PySide6.QtWidgets import QAbstractItemView, QHeaderView, QTableView


def setup_table(table: QTableView, tooltip: str) -> None:
    """Whole-row single selection, alternating colours, no wrapping, no row numbers, fixed row height."""
    table.setSelectionBehavior(QAbstractItemView.SelectRows)
    table.setSelectionMode(QAbstractItemView.SingleSelection)
    table.setAlternatingRowColors(True)
    table.setWordWrap(False)
    table.setToolTip(tooltip)
    vh = table.verticalHeader()
    vh.setVisible(False)
    vh.setSectionResizeMode(QHeaderView.Fixed)
    vh.setDefaultSectionSize(table.fontMetrics().height() + 8)
    table.horizontalHeader().setSectionResizeMode(QHeaderView.Interactive)


def empty_state(scale: float = 1.25, button=None):
    """A centred, larger-than-body message for a view with nothing to show yet (and an optional button).

    Returns ``(widget, label)``; the caller sets the label's text.
    """
    from PySide6.QtCore import Qt
    from PySide6.QtWidgets import QLabel, QVBoxLayout, QWidget

    widget = QWidget()
    lay = QVBoxLayout(widget)
    lay.addStretch(1)
    label = QLabel()
    label.setAlignment(Qt.AlignCenter)
    label.setWordWrap(True)
    font = label.font()
    font.setPointSizeF(font.pointSizeF() * scale)
    label.setFont(font)
    lay.addWidget(label)
    if button is not None:
        lay.addWidget(button, 0, Qt.AlignHCenter)
    lay.addStretch(2)
    return widget, label
