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


class ColumnFitter:
    """Keeps a table's columns inside its width, so that none is pushed off-screen in a small window.

    ``elastic`` gives, for the columns that may give up room, their smallest width in em (the
    callable is asked each time, as columns can move). When the columns are wider than the view,
    the elastic ones shrink towards their smallest, the widest first; as the view grows again
    they get back up to the width they had. A column the user resized by hand is left to them.
    """

    def __init__(self, table: QTableView, elastic):
        from PySide6.QtCore import QEvent, QObject

        self.table, self.elastic = table, elastic
        self._wanted: dict = {}  # column -> the width it would have with room enough
        self._fitting = False
        self.user_resized: set = set()
        header = table.horizontalHeader()
        header.sectionResized.connect(self._on_resized)

        fitter = self

        class _Watch(QObject):
            def eventFilter(self, obj, event):  # noqa: N802 - Qt's name
                if event.type() == QEvent.Resize:
                    fitter.fit()
                return False

        self._watch = _Watch(table)
        table.viewport().installEventFilter(self._watch)

    def _on_resized(self, column: int, _old: int, new: int) -> None:
        if self._fitting:
            return
        self._wanted[column] = new  # set by the program (or by the user: then it is theirs)
        if self.table.horizontalHeader().underMouse():
            self.user_resized.add(column)

    def fit(self) -> None:
        """Shrink (or restore) the elastic columns to the view's width now."""
        table, header = self.table, self.table.horizontalHeader()
        em = table.fontMetrics().horizontalAdvance("m")
        mins = {c: int(m * em) for c, m in self.elastic().items()
                if c not in self.user_resized and not header.isSectionHidden(c)}
        if not mins:
            return
        last = header.count() - 1 if header.stretchLastSection() else None
        width = {c: (self._wanted.get(c, header.sectionSize(c)) if c in mins else header.sectionSize(c))
                 for c in range(header.count()) if not header.isSectionHidden(c)}
        if last in width:  # a stretched last column fills what is left: count it at its smallest
            width[last] = mins.pop(last, header.minimumSectionSize())
        over = sum(width.values()) - table.viewport().width()
        target = {c: width[c] for c in mins}
        while over > 0:  # take from the widest elastic column that can still give
            give = [c for c in target if target[c] > mins[c]]
            if not give:
                break
            c = max(give, key=lambda k: target[k] - mins[k])
            step = min(over, target[c] - mins[c], max(1, em))
            target[c] -= step
            over -= step
        self._fitting = True
        try:
            for c, w in target.items():
                if c != last and header.sectionSize(c) != w:
                    header.resizeSection(c, w)
        finally:
            self._fitting = False


def analysis_area(lay, empty_html: str):
    """What an analysis tab (Validation, Drift) puts under its controls, added to ``lay``: an inline message,
    a summary line, and a stack of the empty state (index 0, saying ``empty_html``) and a vertical splitter
    for the results (index 1). Returns ``(message, summary, stack, splitter)``."""
    from PySide6.QtCore import Qt
    from PySide6.QtWidgets import QLabel, QSplitter, QStackedWidget

    from .panels import InlineMessage

    message = InlineMessage()
    lay.addWidget(message)
    summary = QLabel()
    summary.setWordWrap(True)
    summary.setTextInteractionFlags(Qt.TextSelectableByMouse)
    lay.addWidget(summary)
    stack = QStackedWidget()
    lay.addWidget(stack, 1)
    empty, label = empty_state(1.1)
    label.setText(empty_html)
    stack.addWidget(empty)
    body = QSplitter(Qt.Vertical)
    body.setChildrenCollapsible(False)
    stack.addWidget(body)
    return message, summary, stack, body
