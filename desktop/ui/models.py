"""Qt item models: the results table (filter + sort kept inside, fast to 100,000 rows) and the input queue."""

from __future__ import annotations

import bisect
import os

from PySide6.QtCore import QAbstractListModel, QAbstractTableModel, QModelIndex, QSize, Qt
from PySide6.QtGui import QColor, QFont, QImageReader, QPalette, QPixmap
from PySide6.QtWidgets import QApplication, QStyle

from . import fmt

RESULT_ROLE = Qt.UserRole + 1
SORT_ROLE = Qt.UserRole + 2

# roles as plain ints: comparing PySide6's enum members costs microseconds a time, and a table
# asks for several roles of every painted cell
_DISPLAY, _TOOLTIP, _FOREGROUND, _FONT, _ALIGN = (int(x) for x in (
    Qt.DisplayRole, Qt.ToolTipRole, Qt.ForegroundRole, Qt.FontRole, Qt.TextAlignmentRole))
_RESULT, _SORT = int(RESULT_ROLE), int(SORT_ROLE)
_RIGHT = int(Qt.AlignRight | Qt.AlignVCenter)

COLUMNS = ("#", "Input", "Result", "Score", "Status", "Latency (ms)", "Message")
COL_INDEX, COL_INPUT, COL_LABEL, COL_SCORE, COL_STATUS, COL_LATENCY, COL_MESSAGE = range(len(COLUMNS))
COLUMN_TIPS = (
    "Position in the run",
    "The image file, or the CSV file and row",
    "The top label (classification) or the predicted value (regression)",
    "The top label's score (3 significant digits; full precision in the detail pane and exports)",
    "Scored, or failed with a reason",
    "Time for this item: decode + preprocess + inference + postprocess",
    "Why the item failed",
)
STATUS_FILTERS = ("all", "ok", "failed")


def error_color(palette: QPalette | None = None) -> QColor:
    """A red that reads on both light and dark backgrounds."""
    palette = palette or QApplication.palette()
    dark = palette.color(QPalette.Base).lightness() < 128
    return QColor("#ff8a80") if dark else QColor("#c62828")


def result_text(result) -> str:
    """What the Result column shows: the top label, or the value(s) of a regression."""
    if not result.ok:
        return "failed"
    if result.top:
        return result.top[0].label
    if result.values:
        return ", ".join(fmt.score(v) for v in result.values[:3]) + ("…" if len(result.values) > 3 else "")
    return "—"


def _sort_key(result, column: int):
    """A total order for a column: ties are broken by the run position, so every key is unique."""
    return _column_key(result, column) + (result.index,)


def _column_key(result, column: int):
    if column == COL_INDEX:
        return (0, result.index)
    if column == COL_INPUT:
        return (0, result.display_name.lower(), result.row or 0)
    if column == COL_LABEL:
        if result.top:
            return (1, result.top[0].label.lower())
        if result.values:
            return (0, float(result.values[0]))
        return (2, "")
    if column == COL_SCORE:
        s = result.top_score
        return (0, float(s)) if s is not None else (1, 0.0)
    if column == COL_STATUS:
        return (0 if result.ok else 1, result.index)
    if column == COL_LATENCY:
        return (0, result.timings.total) if result.ok else (1, 0.0)
    if column == COL_MESSAGE:
        return (0, result.error or "")
    return (0, result.index)


class TitledColumns:
    """Column count and header titles/tooltips from the class's ``columns`` and ``column_tips``."""

    columns: tuple = ()
    column_tips: tuple = ()

    def columnCount(self, parent=QModelIndex()):  # Qt override
        return 0 if parent.isValid() else len(self.columns)

    def headerData(self, section, orientation, role=Qt.DisplayRole):  # Qt override
        if orientation == Qt.Horizontal:
            if role == Qt.DisplayRole:
                return self.columns[section]
            if role == Qt.ToolTipRole:
                return self.column_tips[section]
        return None


class ResultsModel(TitledColumns, QAbstractTableModel):
    """One row per Result. Filtering and sorting happen here (no proxy), so appending groups of
    rows to a sorted, filtered table of 100,000 rows costs O(group · log n).

    Internally ``_rows`` holds result positions in ascending key order; a descending sort
    is the same list read from the end.
    """


    columns, column_tips = COLUMNS, COLUMN_TIPS

    def __init__(self, parent=None):
        super().__init__(parent)
        self._results: list = []
        self._rows: list[int] = []
        self._pending: list[int] = []  # rows just inserted at the end, before they move into sort order
        self._text = ""
        self._status = "all"
        self._sort_column: int | None = None
        self._descending = False
        self.n_ok = 0
        self.n_failed = 0
        self._bold = QFont()
        self._bold.setBold(True)
        self._texts: dict = {}  # id(result) -> its cells' display texts

    # ------------------------------------------------------------------ data in
    def clear(self) -> None:
        self.beginResetModel()
        self._results, self._rows = [], []
        self._texts = {}
        self.n_ok = self.n_failed = 0
        self.endResetModel()

    def append(self, results) -> None:
        """Add a group of Results (one view update for the whole group)."""
        if not results:
            return
        start = len(self._results)
        self._results.extend(results)
        for r in results:
            if r.ok:
                self.n_ok += 1
            else:
                self.n_failed += 1
        new = [i for i in range(start, len(self._results)) if self._accepts(self._results[i])]
        if not new:
            return
        if self._sort_column is None or self._sorts_after(new):
            # the common case while a run streams in (sorted by #, or by nothing): the new rows
            # belong at the end of the order, so they are inserted there, without a relayout
            # (a layout change makes the view re-measure every row: quadratic over a long run)
            first = len(self._rows)
            if self._descending and self._sort_column is not None:
                self.beginInsertRows(QModelIndex(), 0, len(new) - 1)
            else:
                self.beginInsertRows(QModelIndex(), first, first + len(new) - 1)
            self._rows.extend(new)
            self.endInsertRows()
            return
        # show them at the end first, then move them into place in one layout change
        first = len(self._rows)
        self.beginInsertRows(QModelIndex(), first, first + len(new) - 1)
        self._pending = new
        self.endInsertRows()
        ascending = list(self._rows)
        for i in new:
            bisect.insort(ascending, i, key=self._key_of)
        self._relayout(ascending)

    def _sorts_after(self, new: list[int]) -> bool:
        """True when ``new`` is already in key order and sorts after every row shown."""
        keys = [self._key_of(i) for i in new]
        if any(b < a for a, b in zip(keys, keys[1:])):
            return False
        return not self._rows or self._key_of(self._rows[-1]) <= keys[0]

    # ------------------------------------------------------------------ view order helpers
    def _key_of(self, i: int):
        return _sort_key(self._results[i], self._sort_column)

    def _ordered_rows(self) -> list[int]:
        return self._rows[::-1] if self._descending else self._rows

    def _view_row_of(self, pos: int) -> int | None:
        """The view row of result position ``pos`` (keys are unique, so bisect finds it exactly)."""
        if self._sort_column is None:
            n = bisect.bisect_left(self._rows, pos)
        else:
            n = bisect.bisect_left(self._rows, self._key_of(pos), key=self._key_of)
        if n >= len(self._rows) or self._rows[n] != pos:
            return None
        return len(self._rows) - 1 - n if self._descending else n

    def _relayout(self, ascending: list[int]) -> None:
        """Replace the order, keeping selections and the current row on the same results."""
        self.layoutAboutToBeChanged.emit()
        old = self.persistentIndexList()
        old_pos = [self._result_pos(ix.row()) for ix in old]
        self._pending = []
        self._rows = ascending
        new = []
        for ix, pos in zip(old, old_pos):
            row = self._view_row_of(pos) if pos is not None else None
            new.append(self.index(row, ix.column()) if row is not None else QModelIndex())
        self.changePersistentIndexList(old, new)
        self.layoutChanged.emit()

    def _result_pos(self, view_row: int):
        n = len(self._rows)
        if 0 <= view_row < n:
            return self._rows[n - 1 - view_row] if self._descending else self._rows[view_row]
        if n <= view_row < n + len(self._pending):
            return self._pending[view_row - n]
        return None

    # ------------------------------------------------------------------ filter and sort
    def _accepts(self, r) -> bool:
        if self._status == "ok" and not r.ok:
            return False
        if self._status == "failed" and r.ok:
            return False
        if self._text:
            hay = " ".join(x for x in (r.display_name, result_text(r), r.error or "") if x).lower()
            return self._text in hay
        return True

    def set_filter(self, text: str | None = None, status: str | None = None) -> None:
        """Show only rows whose input, result or message contains ``text`` and whose status matches."""
        if text is not None:
            self._text = text.strip().lower()
        if status is not None:
            if status not in STATUS_FILTERS:
                raise ValueError(status)
            self._status = status
        self.beginResetModel()
        rows = [i for i, r in enumerate(self._results) if self._accepts(r)]
        if self._sort_column is not None:
            rows.sort(key=self._key_of)
        self._rows = rows
        self.endResetModel()

    def sort(self, column: int, order: Qt.SortOrder = Qt.AscendingOrder) -> None:  # Qt override
        self._sort_column = column
        self._descending = order == Qt.DescendingOrder
        self._relayout(sorted(self._rows, key=self._key_of))

    # ------------------------------------------------------------------ access
    @property
    def results(self) -> list:
        """All results received, in run order (filter and sort ignored)."""
        return self._results

    def visible_results(self) -> list:
        """The results the table shows, in the order it shows them."""
        return [self._results[i] for i in self._ordered_rows()]

    def result_at(self, row: int):
        pos = self._result_pos(row)
        return self._results[pos] if pos is not None else None

    def row_of_index(self, result_index: int) -> int | None:
        """The table row showing the result with ``Result.index == result_index`` (None if filtered out)."""
        pos = result_index if 0 <= result_index < len(self._results) and \
            self._results[result_index].index == result_index else \
            next((i for i, r in enumerate(self._results) if r.index == result_index), None)
        return self._view_row_of(pos) if pos is not None else None

    # ------------------------------------------------------------------ Qt overrides
    def rowCount(self, parent=QModelIndex()):
        if parent.isValid():
            return 0
        return len(self._rows) + len(self._pending)

    _PAINT_ROLES = frozenset(int(x) for x in (Qt.DisplayRole, Qt.ForegroundRole, Qt.FontRole, Qt.TextAlignmentRole))

    def multiData(self, index, span) -> None:  # Qt override: one Python call per painted cell, not per role
        # While a batch runs, worker threads hold the GIL much of the time and each call from C++
        # into Python waits for it; the views ask ~8 roles per cell, so answering them together
        # makes painting the table several times cheaper.
        if not index.isValid():
            return
        r = self.result_at(index.row())
        if r is None:
            return
        column = index.column()
        for i in range(span.size()):
            rd = span[i]
            role = int(rd.role())
            value = self._value(r, column, role) if role in self._PAINT_ROLES else None
            if value is None:
                rd.clearData()  # the span is reused from cell to cell: never leave a stale value
            else:
                rd.setData(value)

    def data(self, index, role=Qt.DisplayRole):
        if not index.isValid():
            return None
        r = self.result_at(index.row())
        if r is None:
            return None
        return self._value(r, index.column(), role)

    def _display(self, r) -> tuple:
        """The display texts of one result's cells, made once (results never change)."""
        texts = self._texts.get(id(r))
        if texts is None:
            ok = r.ok
            texts = (
                fmt.count(r.index + 1),
                r.display_name,
                result_text(r) if ok else "",
                fmt.score(r.top_score) if ok and r.top_score is not None else "",
                "✔ OK" if ok else "✖ Failed",
                fmt.ms(r.timings.total) if ok else "",
                r.error or "",
            )
            self._texts[id(r)] = texts
        return texts

    def _value(self, r, c, role):
        role = int(role)
        if role == _DISPLAY:
            return self._display(r)[c] if 0 <= c < len(COLUMNS) else None
        if role == _FOREGROUND:
            return None if r.ok else error_color()
        if role == _ALIGN:
            return _RIGHT if c in (COL_INDEX, COL_SCORE, COL_LATENCY) else None
        if role == _FONT:
            return self._bold if c == COL_STATUS and not r.ok else None
        if role == _TOOLTIP:
            if c == COL_INPUT:
                return r.input + (f"\nrow {r.row}" if r.row is not None else "")
            if c == COL_SCORE and r.top_score is not None:
                return repr(float(r.top_score))
            if c == COL_LATENCY:
                t = r.timings
                return (f"total {t.total:.4f} ms\ndecode {t.decode:.4f} · preprocess {t.preprocess:.4f} · "
                        f"inference {t.infer:.4f} · postprocess {t.postprocess:.4f}")
            if c in (COL_MESSAGE, COL_STATUS) and r.error:
                return r.error
            return None
        if role == _RESULT:
            return r
        if role == _SORT:
            return _sort_key(r, c)
        return None


class QueueModel(QAbstractListModel):
    """The input queue: InputItems with a thumbnail (images) or a row count (CSV), and a problem if any."""

    THUMB = 40

    def __init__(self, parent=None):
        super().__init__(parent)
        self.items: list = []
        self.problems: dict[int, str] = {}
        self._thumbs: dict[str, QPixmap | None] = {}
        style = QApplication.style()
        self._icons = {
            "table": style.standardIcon(QStyle.SP_FileDialogDetailedView),
            "dicom": style.standardIcon(QStyle.SP_FileIcon),
            "invalid": style.standardIcon(QStyle.SP_MessageBoxWarning),
        }

    @property
    def total_rows(self) -> int:
        return sum(i.rows for i in self.items)

    def add(self, items) -> None:
        items = [i for i in items if i.path not in {x.path for x in self.items}] if self.items else list(items)
        if not items:
            return
        first = len(self.items)
        self.beginInsertRows(QModelIndex(), first, first + len(items) - 1)
        self.items.extend(items)
        self.endInsertRows()

    def remove_rows(self, rows) -> None:
        for row in sorted(set(rows), reverse=True):
            self.beginRemoveRows(QModelIndex(), row, row)
            del self.items[row]
            self.endRemoveRows()
        self.problems = {}

    def clear(self) -> None:
        self.beginResetModel()
        self.items, self.problems = [], {}
        self.endResetModel()

    def set_problems(self, problems: dict[int, str]) -> None:
        self.problems = dict(problems)
        if self.items:
            self.dataChanged.emit(self.index(0), self.index(len(self.items) - 1))

    def problem_items(self) -> list[tuple]:
        return [(self.items[i], p) for i, p in sorted(self.problems.items()) if i < len(self.items)]

    def rowCount(self, parent=QModelIndex()):
        return 0 if parent.isValid() else len(self.items)

    def _thumbnail(self, path: str):
        if path not in self._thumbs:
            reader = QImageReader(path)
            reader.setAutoTransform(True)
            size = reader.size()
            pix = None
            if size.isValid() and size.width() > 0:
                reader.setScaledSize(size.scaled(QSize(self.THUMB, self.THUMB), Qt.KeepAspectRatio))
                img = reader.read()
                if not img.isNull():
                    pix = QPixmap.fromImage(img)
            self._thumbs[path] = pix
            if len(self._thumbs) > 5000:
                self._thumbs.pop(next(iter(self._thumbs)))
        return self._thumbs[path]

    def data(self, index, role=Qt.DisplayRole):
        if not index.isValid() or index.row() >= len(self.items):
            return None
        item = self.items[index.row()]
        problem = self.problems.get(index.row()) or item.problem
        name = os.path.basename(item.path.rstrip("/\\")) or item.path
        if role == Qt.DisplayRole:
            detail = f"CSV · {fmt.plural(item.rows, 'row')}" if item.kind == "table" else {
                "image": "image", "dicom": "DICOM", "invalid": "cannot be used"}.get(item.kind, item.kind)
            if problem:
                detail = "⚠ " + problem
            return f"{name}\n{detail}"
        if role == Qt.ToolTipRole:
            return item.path + (f"\n\n{problem}" if problem else "")
        if role == Qt.ForegroundRole and problem:
            return error_color()
        if role == Qt.DecorationRole:
            if item.kind == "image":
                pix = self._thumbnail(item.path)
                return pix if pix is not None else self._icons["invalid"]
            return self._icons.get(item.kind, self._icons["invalid"])
        if role == RESULT_ROLE:
            return item
        return None
