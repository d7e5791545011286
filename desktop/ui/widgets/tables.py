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
