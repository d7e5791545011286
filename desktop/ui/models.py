"""Qt item models: the results table over ResultBatch columns (sorted and filtered inside, to a million rows)
and the input queue."""

from __future__ import annotations

import bisect
import copy
import os
from collections.abc import Sequence

import numpy as np
from PySide6.QtCore import QAbstractListModel, QAbstractTableModel, QModelIndex, QSize, Qt
from PySide6.QtGui import QColor, QFont, QImageReader, QPalette, QPixmap
from PySide6.QtWidgets import QApplication, QStyle

from desktop.engine.decoders.classification import review_marks, score_meaning
from desktop.engine.inputs import InputKind
from desktop.engine.resultbatch import NO_ROW, ResultBatch
from desktop.engine.results import review_reason
from desktop.runs import fmt
from desktop.runs.review import decision_text

RESULT_ROLE = Qt.UserRole + 1

# roles as plain ints: comparing PySide6's enum members costs microseconds a time, and a table
# asks for several roles of every painted cell
_DISPLAY, _TOOLTIP, _FOREGROUND, _FONT, _ALIGN = (int(x) for x in (
    Qt.DisplayRole, Qt.ToolTipRole, Qt.ForegroundRole, Qt.FontRole, Qt.TextAlignmentRole))
_RESULT = int(RESULT_ROLE)
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
PASSTHROUGH_TIP = "A column of the CSV file that is not a model feature, passed through with its row"
COL_PASSTHROUGH = 100  # logical id of the first pass-through column (shown after Latency)
STATUS_FILTERS = ("all", "ok", "failed", "review",  # review: scored, top score under the profile's review_below
                  "unreviewed", "accepted", "overridden", "flagged")  # a reviewer's decisions (desktop.runs.review)
REVIEW_TEXT = "⚑ Review"
#: each reviewer's decision: its code in the model's column, and the badge after the Status text
DECISION_CODES = {"accept": 1, "override": 2, "flag": 3}
_STATE_CODES = {"unreviewed": 0, "accepted": 1, "overridden": 2, "flagged": 3}
DECISION_BADGES = {1: "☑ Accepted", 2: "✎ Overridden", 3: "⚐ Flagged"}
_ROW_SCALE = float(2 ** 31)  # the Input column's key: name rank · 2³¹ + row (exact in a float64)
_CACHE = 20000  # formatted rows kept (a screenful is a few dozen)


def error_color(palette: QPalette | None = None) -> QColor:
    """A red that reads on both light and dark backgrounds."""
    palette = palette or QApplication.palette()
    dark = palette.color(QPalette.Base).lightness() < 128
    return QColor("#ff8a80") if dark else QColor("#c62828")


class TitledColumns:
    """Column count and header titles/tooltips from the model's ``columns`` and ``column_tips``."""

    columns: tuple = ()
    column_tips: tuple = ()

    def columnCount(self, parent=QModelIndex()):  # Qt override
        return 0 if parent.isValid() else len(self.columns)

    def headerData(self, section, orientation, role=Qt.DisplayRole):  # Qt override
        if orientation == Qt.Horizontal and 0 <= section < len(self.columns):
            if role == Qt.DisplayRole:
                return self.columns[section]
            if role == Qt.ToolTipRole:
                return self.column_tips[section]
        return None


class _Grow:
    """A numpy column that doubles its capacity: appending n items costs O(n)."""

    __slots__ = ("data", "n")

    def __init__(self, dtype):
        self.data = np.empty(1024, dtype=dtype)
        self.n = 0

    def extend(self, values) -> None:
        values = np.asarray(values, dtype=self.data.dtype)
        need = self.n + len(values)
        if need > len(self.data):
            grown = np.empty(max(need, 2 * len(self.data)), dtype=self.data.dtype)
            grown[:self.n] = self.data[:self.n]
            self.data = grown
        self.data[self.n:need] = values
        self.n = need

    def set(self, values) -> None:
        self.n = 0
        self.extend(values)

    def reserve(self, capacity: int) -> None:
        """Room for ``capacity`` items now (pages are touched only when written), so no later growth copies."""
        if capacity > len(self.data):
            grown = np.empty(capacity, dtype=self.data.dtype)
            grown[:self.n] = self.data[:self.n]
            self.data = grown

    @property
    def a(self) -> np.ndarray:
        return self.data[:self.n]


class _Strings:
    """Distinct strings with a code each; per code, a sort rank and the filter's matches.

    Ranks follow the case-folded text, or the number when ``numeric`` and every string reads
    as one (ids, ages: 9 before 10). New strings that sort after all earlier ones are ranked
    without touching the earlier ranks; otherwise every string is ranked again and
    ``version`` changes, so sort keys made from the old ranks are made again.
    """

    def __init__(self, numeric: bool = False):
        self.values: list[str] = []
        self._code: dict = {}
        self._lower = np.empty(0, dtype=str)
        self._numeric = numeric
        self._rank = np.empty(0)
        self._top = None  # the greatest case-folded string ranked so far
        self._rank_max = -1.0
        self.version = 0
        self._tests: dict = {}

    def codes(self, strings) -> np.ndarray:
        get = self._code.get
        out = [get(v) for v in strings]
        if None in out:
            code, values = self._code, self.values
            for k, c in enumerate(out):
                if c is None:
                    v = strings[k]
                    c = code.get(v)
                    if c is None:
                        c = code[v] = len(values)
                        values.append(v)
                    out[k] = c
        return np.asarray(out, dtype=np.int32)

    def lower(self) -> np.ndarray:
        have = len(self._lower)
        if have < len(self.values):
            new = np.strings.lower(np.array(self.values[have:], dtype=str))
            self._lower = np.concatenate([self._lower, new]) if have else new
        return self._lower

    def test(self, key, fn) -> np.ndarray:
        """``fn(case-folded strings) -> bool array``, per code; kept under ``key`` and extended to new strings."""
        done = self._tests.get(key)
        n = len(self.values)
        if done is None or len(done) < n:
            start = 0 if done is None else len(done)
            new = fn(self.lower()[start:n]) if n > start else np.zeros(0, dtype=bool)
            done = new if done is None else np.concatenate([done, new])
            self._tests[key] = done
        return done

    def contains(self, text: str) -> np.ndarray:
        return self.test(("in", text), lambda low: np.strings.find(low, text) >= 0)

    def forget_tests(self) -> None:
        self._tests = {}

    def rank(self) -> np.ndarray:
        n, have = len(self.values), len(self._rank)
        if have == n:
            return self._rank
        if self._numeric:
            try:
                nums = np.array([float(v) if v.strip() else np.nan for v in self.values[have:]])
            except ValueError:
                self._numeric = False
                self._rank, self._top = np.empty(0), None
                self.version += bool(have)
                return self.rank()
            self._rank = np.concatenate([self._rank, nums])
            return self._rank
        lower = self.lower()
        new = lower[have:n]
        if have and self._top is not None and bool((new > self._top).all()):
            uniq, inv = np.unique(new, return_inverse=True)
            self._rank = np.concatenate([self._rank, self._rank_max + 1 + inv])
        else:
            uniq, inv = np.unique(lower[:n], return_inverse=True)
            self.version += bool(have)
            self._rank, self._rank_max = inv.astype(np.float64), -1.0
        self._rank_max += len(uniq)
        self._top = uniq[-1]
        return self._rank


def _digits_within(rows: np.ndarray, digits: str) -> np.ndarray:
    """Whether ``digits`` occurs in each row number written in decimal (integer arithmetic, no strings)."""
    size, value = len(digits), int(digits)
    lead = digits[0] == "0"  # a match that starts with 0 cannot be a number's first digits
    top = int(rows.max()) if len(rows) else 0
    out = np.zeros(len(rows), dtype=bool)
    for shift in range(19):
        least = 10 ** (shift + size - 1 + lead)
        if least > top:
            break
        out |= ((rows // 10 ** shift) % 10 ** size == value) & (rows >= least)
    return out


def _digits_start(rows: np.ndarray, digits: str) -> np.ndarray:
    """Whether each row number, in decimal, starts with ``digits``."""
    out = np.zeros(len(rows), dtype=bool)
    if digits[0] == "0" or not len(rows):
        return out
    value, top, scale = int(digits), int(rows.max()), 1
    while scale <= top:
        out |= rows // scale == value
        scale *= 10
    return out


def _without_features(batch: ResultBatch) -> ResultBatch:
    """The batch without its CSV values (sharing every other column): what an export needs."""
    if batch.features is None:
        return batch
    lean = copy.copy(batch)
    lean.features, lean.feature_names = None, ()
    return lean


class _ResultsView(Sequence):
    """The model's results in run order, as Result row views made on demand."""

    def __init__(self, model: "ResultsModel"):
        self._model = model

    def __len__(self) -> int:
        return self._model.total

    def __getitem__(self, k):
        if isinstance(k, slice):
            return [self._model.result(s) for s in range(*k.indices(len(self)))]
        n = len(self)
        if k < 0:
            k += n
        if not 0 <= k < n:
            raise IndexError(k)
        return self._model.result(k)


class ResultsModel(TitledColumns, QAbstractTableModel):
    """The results table: one row per item, over the run's ResultBatch columns.

    The batches are kept as they came. What the table sorts and filters on (position, input,
    row, ok, label, score, value, latency, message, pass-through text) is copied into flat
    numpy columns, so a sort is one argsort, a filter one vectorised mask, and only the cells
    that are drawn are formatted. ``_order`` holds the rows shown (indices into the stored
    rows) in ascending key order, ties in run order; a descending sort reads it from the end.
    Rows appended while sorted are merged in with ``searchsorted``, without sorting again.

    A CSV's pass-through columns (``batch.passthrough``) are shown after Score, beside the answer
    (after Input they pushed the answer out of sight in a 1024-pixel window); their logical ids
    are ``COL_PASSTHROUGH + j``, and :meth:`view_column` says where a column is shown.
    """

    def __init__(self, parent=None):
        super().__init__(parent)
        self._text = ""
        self._status = "all"
        self._sort: int | None = None
        self._desc = False
        self._bold = QFont()
        self._bold.setBold(True)
        self._reset()

    def _reset(self) -> None:
        self._batches: list[ResultBatch] = []
        self._starts: list[int] = []  # the first stored row of each batch
        self._pos, self._ok, self._src, self._row = (_Grow(np.int64), _Grow(bool), _Grow(np.int32),
                                                     _Grow(np.int64))
        self._label, self._score, self._value0 = _Grow(np.int32), _Grow(np.float64), _Grow(np.float64)
        self._total, self._err = _Grow(np.float64), _Grow(np.int32)
        self._review = _Grow(bool)  # scored with its top score under the run's review_below
        self.n_review = 0
        self._decided = _Grow(np.int8)  # the reviewer's current decision on each stored row (DECISION_CODES; 0 none)
        self._decisions: dict = {}  # result position -> its current Decision (desktop.runs.review)
        self._only: np.ndarray | None = None  # filter_to: the sorted result positions shown, or None for all
        self._score_tip = COLUMN_TIPS[COL_SCORE]
        self._names, self._labels, self._messages = _Strings(), _Strings(), _Strings()
        self._pass: dict[str, list] = {}  # pass-through column -> its text per stored row
        self._pass_codes: dict = {}  # pass-through column -> (_Strings, codes), made when sorted or filtered on
        self._summaries: list[str] = []  # the Result column's text, case-folded, made when the filter needs it
        self.detection_conf: float | None = None  # a detector's threshold the window shows instead of the run's
        self._order, self._keys = _Grow(np.int64), _Grow(np.float64)
        self._keys_version = 0
        self._pending = np.empty(0, dtype=np.int64)  # rows just inserted at the end, before they move into place
        self._texts: dict = {}
        self._results: dict = {}
        self.n_ok = self.n_failed = 0
        self._set_columns(())

    def _set_columns(self, passthrough) -> None:
        self.passthrough_names = tuple(passthrough)
        k = len(self.passthrough_names)
        # the model's answer and its status first, then the CSV's own columns: in a small window
        # those scroll out of sight, never the Status and Latency columns
        self._logical = [COL_INDEX, COL_INPUT, COL_LABEL, COL_SCORE, COL_STATUS, COL_LATENCY,
                         *range(COL_PASSTHROUGH, COL_PASSTHROUGH + k), COL_MESSAGE]
        self.columns = COLUMNS[:6] + self.passthrough_names + COLUMNS[6:]
        self.column_tips = COLUMN_TIPS[:3] + (self._score_tip,) + COLUMN_TIPS[4:6] + (PASSTHROUGH_TIP,) * k \
            + COLUMN_TIPS[6:]

    def view_column(self, logical: int) -> int:
        """Where a column (``COL_*``, or ``COL_PASSTHROUGH + j``) is shown."""
        return self._logical.index(logical)

    def logical_column(self, column: int) -> int:
        return self._logical[column]

    # ------------------------------------------------------------------ data in
    @property
    def total(self) -> int:
        """Rows received (filter ignored)."""
        return self._pos.n

    def set_detection_conf(self, conf: float | None) -> None:
        """Show detectors' results at ``conf`` (None: each run's own): texts re-made from the stored candidates."""
        if conf == self.detection_conf:
            return
        self.detection_conf = conf
        self._texts = {}
        self._summaries = []
        if self.rowCount():
            first, last = self.view_column(COL_LABEL), self.view_column(COL_SCORE)
            self.dataChanged.emit(self.index(0, first), self.index(self.rowCount() - 1, last))

    def clear(self) -> None:
        self.beginResetModel()
        self._reset()
        self.endResetModel()

    def reserve(self, rows: int) -> None:
        """Make room for ``rows`` results in all, when a run says how many it will have: growing a column by
        copying half a million rows at once held the window for a visible moment."""
        for column in (self._pos, self._ok, self._src, self._row, self._label, self._score, self._value0,
                       self._total, self._err, self._order, self._review, self._decided):
            column.reserve(rows)

    def append(self, batch: ResultBatch) -> None:
        """Add a ResultBatch (one view update for the whole batch)."""
        n = len(batch)
        if not n:
            return
        lo = self._pos.n
        self._batches.append(batch)
        self._starts.append(lo)
        ok = batch.ok
        self._pos.extend(batch.position)
        self._ok.extend(ok)
        self._row.extend(batch.row)
        self._src.extend(self._names.codes([os.path.basename(p) for p in batch.sources])[batch.source])
        self._total.extend(batch.total_ms)
        label, score, value = np.full(n, -1, np.int32), np.full(n, np.nan), np.full(n, np.nan)
        top = batch.answer.get("top_col")
        if top is not None and top.ndim == 2 and top.shape[1]:
            codes = self._labels.codes([str(x) for x in batch.meta.get("labels", ())])
            label = np.where(ok, codes[top[:, 0]], -1)
            score = np.where(ok, batch.answer["top_score"][:, 0], np.nan)
        values = batch.answer.get("values")
        if values is not None and values.ndim == 2 and values.shape[1]:
            value = np.where(ok, values[:, 0], np.nan)
        review = np.zeros(n, dtype=bool)
        if top is not None and batch.meta.get("review_below") is not None:
            review = ok & review_marks(batch.answer, batch.meta)
        self._review.extend(review)
        self.n_review += int(np.count_nonzero(review))
        decided = np.zeros(n, dtype=np.int8)
        if self._decisions:
            for i, p in enumerate(batch.position.tolist()):
                d = self._decisions.get(p)
                if d is not None:
                    decided[i] = DECISION_CODES.get(d.decision, 0)
        self._decided.extend(decided)
        meaning = score_meaning(batch.meta)
        if meaning is not None and self._score_tip == COLUMN_TIPS[COL_SCORE]:
            self._score_tip = f"{COLUMN_TIPS[COL_SCORE]}. The score is {meaning}."
            self._set_columns(self.passthrough_names)
            self.headerDataChanged.emit(Qt.Horizontal, 0, len(self.columns) - 1)
        self._label.extend(label)
        self._score.extend(score)
        self._value0.extend(value)
        err = np.full(n, -1, np.int32)
        if batch.errors:
            at = list(batch.errors)
            err[at] = self._messages.codes([str(batch.errors[i] or "") for i in at])
        self._err.extend(err)
        self.n_ok += batch.n_ok
        self.n_failed += n - batch.n_ok
        self._add_passthrough(batch, lo, n)
        self._show_new(lo, lo + n)

    def _add_passthrough(self, batch: ResultBatch, lo: int, n: int) -> None:
        for name, column in self._pass.items():
            given = batch.passthrough.get(name)
            column.extend(given if given is not None else [""] * n)
        new = [name for name in batch.passthrough if name not in self._pass]
        if not new:
            return
        for name in new:
            self._pass[name] = [""] * lo + list(batch.passthrough[name])
        first = self.view_column(COL_MESSAGE)  # after the pass-through columns there are
        self.beginInsertColumns(QModelIndex(), first, first + len(new) - 1)
        self._set_columns(self.passthrough_names + tuple(new))
        self._texts = {}
        self.endInsertColumns()

    def _show_new(self, lo: int, hi: int) -> None:
        new = lo + np.flatnonzero(self._accepts(lo, hi))
        if not len(new):
            return
        if self._sort is None:
            self._insert_at_end(new, None)
            return
        self._refresh_keys()
        keys = self._key(self._sort, new)
        o = np.argsort(keys, kind="stable")
        new, keys = new[o], keys[o]
        at = np.searchsorted(self._keys.a, keys, side="right")  # after equal keys: new rows come later in the run
        if at[0] == self._order.n:
            # the common case while a run streams in sorted by #, or by latency of a steady model: the
            # new rows belong at the end of the order, so they are inserted there, without a relayout
            # (a layout change makes the view re-measure every row)
            self._insert_at_end(new, keys)
            return
        # show them at the end first, then move them into place in one layout change
        first = self.rowCount()
        self.beginInsertRows(QModelIndex(), first, first + len(new) - 1)
        self._pending = new
        self.endInsertRows()
        self._relayout(np.insert(self._order.a, at, new), np.insert(self._keys.a, at, keys))

    def _insert_at_end(self, new: np.ndarray, keys) -> None:
        n, m = self._order.n, len(new)
        if self._desc:
            self.beginInsertRows(QModelIndex(), 0, m - 1)
        else:
            self.beginInsertRows(QModelIndex(), n, n + m - 1)
        self._order.extend(new)
        if keys is not None:
            self._keys.extend(keys)
        self.endInsertRows()

    # ------------------------------------------------------------------ sort keys
    def _strings_of(self, column: int):
        if column == COL_INPUT:
            return self._names
        if column == COL_LABEL:
            return self._labels
        if column == COL_MESSAGE:
            return self._messages
        if column >= COL_PASSTHROUGH:
            return self._pass_column(self.passthrough_names[column - COL_PASSTHROUGH])[0]
        return None

    def _pass_column(self, name: str):
        strings, codes = self._pass_codes.setdefault(name, (_Strings(numeric=True), _Grow(np.int32)))
        if codes.n < self._pos.n:
            codes.extend(strings.codes(self._pass[name][codes.n:self._pos.n]))
        return strings, codes.a

    def _key(self, column: int, idx: np.ndarray) -> np.ndarray:
        """Each row's sort key in ``column`` (float64; NaN, for nothing to show, sorts last)."""
        if column == COL_INDEX:
            return self._pos.a[idx].astype(np.float64)
        if column == COL_INPUT:
            return self._names.rank()[self._src.a[idx]] * _ROW_SCALE + (self._row.a[idx] + 1)
        ok = self._ok.a[idx]
        if column == COL_LABEL:
            label = self._label.a[idx]
            rank = self._labels.rank()
            named = rank[np.maximum(label, 0)] if len(rank) else np.zeros(len(idx))
            return np.where(ok, np.where(label >= 0, named, self._value0.a[idx]), np.nan)
        if column == COL_SCORE:
            return self._score.a[idx].copy()
        if column == COL_STATUS:  # OK, then for review, then failed
            return (~ok).astype(np.float64) + 0.5 * self._review.a[idx]
        if column == COL_LATENCY:
            return np.where(ok, self._total.a[idx], np.nan)
        if column == COL_MESSAGE:
            err = self._err.a[idx]
            rank = self._messages.rank()
            return np.where(err >= 0, rank[np.maximum(err, 0)] if len(rank) else 0.0, -1.0)
        strings, codes = self._pass_column(self.passthrough_names[column - COL_PASSTHROUGH])
        return strings.rank()[codes[idx]]

    def _refresh_keys(self) -> None:
        """Make the kept keys again if a text column's ranks changed (the order itself stays right)."""
        strings = self._strings_of(self._sort) if self._sort is not None else None
        if strings is None:
            return
        strings.rank()
        if strings.version != self._keys_version:
            self._keys.set(self._key(self._sort, self._order.a))
            self._keys_version = strings.version

    def _sorted(self, rows: np.ndarray):
        """(order, keys) of ``rows`` (stored-row indices, ascending) under the current sort."""
        if self._sort is None:
            return rows, np.empty(0)
        keys = self._key(self._sort, rows)
        strings = self._strings_of(self._sort)
        self._keys_version = strings.version if strings is not None else 0
        o = np.argsort(keys, kind="stable")
        return rows[o], keys[o]

    # ------------------------------------------------------------------ view order helpers
    def _stored(self, view_row: int) -> int | None:
        n = self._order.n
        if 0 <= view_row < n:
            return int(self._order.data[n - 1 - view_row] if self._desc else self._order.data[view_row])
        if n <= view_row < n + len(self._pending):
            return int(self._pending[view_row - n])
        return None

    def _view_row_of(self, s: int) -> int | None:
        """The view row of stored row ``s`` (keys tie in stored order, so a binary search finds it)."""
        order = self._order.a
        if self._sort is None:
            j = int(np.searchsorted(order, s))
        else:
            self._refresh_keys()
            k = self._key(self._sort, np.array([s]))[0]
            keys = self._keys.a
            lo, hi = int(np.searchsorted(keys, k, "left")), int(np.searchsorted(keys, k, "right"))
            j = lo + int(np.searchsorted(order[lo:hi], s))
        if j >= len(order) or order[j] != s:
            return None
        return len(order) - 1 - j if self._desc else j

    def _view_order(self) -> np.ndarray:
        return self._order.a[::-1] if self._desc else self._order.a

    def _relayout(self, order: np.ndarray, keys: np.ndarray) -> None:
        """Replace the order, keeping selections and the current row on the same results."""
        self.layoutAboutToBeChanged.emit()
        old = self.persistentIndexList()
        old_rows = [self._stored(ix.row()) for ix in old]
        self._pending = np.empty(0, dtype=np.int64)
        self._order.set(order)
        self._keys.set(keys)
        new = []
        for ix, s in zip(old, old_rows):
            row = self._view_row_of(s) if s is not None else None
            new.append(self.index(row, ix.column()) if row is not None else QModelIndex())
        self.changePersistentIndexList(old, new)
        self.layoutChanged.emit()

    # ------------------------------------------------------------------ filter and sort
    def _accepts(self, lo: int, hi: int) -> np.ndarray:
        mask = np.ones(hi - lo, dtype=bool)
        if self._status == "ok":
            mask &= self._ok.a[lo:hi]
        elif self._status == "failed":
            mask &= ~self._ok.a[lo:hi]
        elif self._status == "review":
            mask &= self._review.a[lo:hi]
        elif self._status in _STATE_CODES:
            mask &= self._decided.a[lo:hi] == _STATE_CODES[self._status]
        if self._only is not None:
            mask &= np.isin(self._pos.a[lo:hi], self._only)
        if self._text:
            mask &= self._matches(self._text, lo, hi)
        return mask

    def _matches(self, text: str, lo: int, hi: int) -> np.ndarray:
        """Rows whose input (as shown), result, message or pass-through text contains ``text`` (case-folded)."""
        src, row, ok = self._src.a[lo:hi], self._row.a[lo:hi], self._ok.a[lo:hi]
        names = self._names
        found = names.contains(text)[src]
        table = row != NO_ROW
        if table.any():  # a CSV row shows as "name · row N"
            in_prefix = names.test(("in·row", text), lambda low: np.strings.find(np.strings.add(low, " · row "),
                                                                                  text) >= 0)
            found = np.where(table, in_prefix[src], found)
            if any(c.isdigit() for c in text):
                if text.isdigit():
                    found |= table & _digits_within(row, text)
                for cut in range(1, len(text)):  # the text runs from the name into the row number
                    head, tail = text[:cut], text[cut:]
                    if tail.isdigit():
                        ends = names.test(("ends·row", head), lambda low: np.strings.endswith(
                            np.strings.add(low, " · row "), head))
                        found |= table & ends[src] & _digits_start(row, tail)
        label = self._label.a[lo:hi]
        if self._labels.values:
            found |= (label >= 0) & self._labels.contains(text)[np.maximum(label, 0)]
        other = ok & (label < 0)  # regression values, or "—": the decoder's text
        if other.any():
            found |= other & self._summary_contains(text, lo, hi)
        if text in "failed":
            found |= ~ok
        if text in REVIEW_TEXT.lower():  # "review", as the Status cell reads
            found |= self._review.a[lo:hi]
        decided = self._decided.a[lo:hi]
        for code, badge in DECISION_BADGES.items():  # "accepted", "overridden", "flagged", as the badge reads
            if text in badge.lower():
                found |= decided == code
        err = self._err.a[lo:hi]
        if self._messages.values:
            found |= (err >= 0) & self._messages.contains(text)[np.maximum(err, 0)]
        for name in self.passthrough_names:
            strings, codes = self._pass_column(name)
            found |= strings.contains(text)[codes[lo:hi]]
        return found

    def _summary_contains(self, text: str, lo: int, hi: int) -> np.ndarray:
        while len(self._summaries) < hi:
            b, i = self._locate(len(self._summaries))
            self._summaries.extend(b.summary(j, self.detection_conf)[0].lower() for j in range(i, len(b)))
        return np.fromiter((text in s for s in self._summaries[lo:hi]), dtype=bool, count=hi - lo)

    def set_filter(self, text: str | None = None, status: str | None = None) -> None:
        """Show only rows whose input, result, message or pass-through value contains ``text`` and whose
        status matches."""
        if text is not None:
            self._text = text.strip().lower()
        if status is not None:
            if status not in STATUS_FILTERS:
                raise ValueError(status)
            self._status = status
        for strings in (self._names, self._labels, self._messages, *(s for s, _ in self._pass_codes.values())):
            strings.forget_tests()
        self.beginResetModel()
        self._pending = np.empty(0, dtype=np.int64)
        order, keys = self._sorted(np.flatnonzero(self._accepts(0, self._pos.n)))
        self._order.set(order)
        self._keys.set(keys)
        self.endResetModel()

    def filter_to(self, indices=None) -> None:
        """Show only the results with these indices (``Result.index``, positions in the run), within the text
        and status filters; None shows every result again (the Validation tab's "click a confusion cell")."""
        self._only = None if indices is None else np.unique(np.asarray(list(indices), dtype=np.int64))
        self.set_filter()

    @property
    def filtered_to(self) -> np.ndarray | None:
        """The result indices :meth:`filter_to` keeps to, or None."""
        return self._only

    # ------------------------------------------------------------------ review decisions
    def set_decisions(self, decisions: dict) -> None:
        """Show a run's current review decisions, {result index: Decision} (replacing those shown)."""
        self._decisions = dict(decisions)
        codes = np.zeros(self._pos.n, dtype=np.int8)
        if self._decisions:
            positions = self._pos.a
            for p, d in self._decisions.items():
                codes[positions == p] = DECISION_CODES.get(d.decision, 0)
        self._decided.set(codes)
        self._texts = {}
        if self.rowCount():
            self.dataChanged.emit(self.index(0, 0), self.index(self.rowCount() - 1, len(self._logical) - 1))

    def set_decision(self, decision) -> None:
        """Show one new decision (a Decision) on its result; the filter is not applied again until it changes."""
        self._decisions[decision.index] = decision
        hits = np.flatnonzero(self._pos.a == decision.index)
        self._decided.a[hits] = DECISION_CODES.get(decision.decision, 0)
        for s in hits.tolist():
            self._texts.pop(s, None)
            row = self._view_row_of(s)
            if row is not None:
                self.dataChanged.emit(self.index(row, 0), self.index(row, len(self._logical) - 1))

    def decision_of(self, result_index: int):
        """The current Decision on the result with this index, or None."""
        return self._decisions.get(result_index)

    @property
    def decisions(self) -> dict:
        """The current decisions shown, {result index: Decision}."""
        return dict(self._decisions)

    def sort(self, column: int, order: Qt.SortOrder = Qt.AscendingOrder) -> None:  # Qt override
        self._sort = self._logical[column] if 0 <= column < len(self._logical) else None
        self._desc = self._sort is not None and order == Qt.DescendingOrder
        self._relayout(*self._sorted(np.sort(self._order.a)))

    # ------------------------------------------------------------------ access
    def _locate(self, s: int) -> tuple[ResultBatch, int]:
        k = bisect.bisect_right(self._starts, s) - 1
        return self._batches[k], s - self._starts[k]

    def result(self, s: int):
        """Stored row ``s`` (run order) as a Result, made when first asked for."""
        r = self._results.get(s)
        if r is None:
            b, i = self._locate(s)
            r = b.result(i)
            if len(self._results) >= _CACHE:
                del self._results[next(iter(self._results))]
            self._results[s] = r
        return r

    @property
    def results(self) -> Sequence:
        """All results received, in run order (filter and sort ignored), as Results made on demand."""
        return _ResultsView(self)

    @property
    def batches(self) -> list[ResultBatch]:
        """The batches received, in run order."""
        return list(self._batches)

    def visible_rows(self) -> np.ndarray:
        """The stored rows (run order indices) the table shows, in the order it shows them."""
        return self._view_order().copy()

    def visible_batch(self) -> ResultBatch | None:
        """The results the table shows, in its order, as one ResultBatch (None when it shows nothing)."""
        rows = self.visible_rows()
        if not len(rows):
            return None
        return ResultBatch.concat([_without_features(b) for b in self._batches]).take(rows)

    def visible_results(self) -> list:
        """The results the table shows, in the order it shows them."""
        return [self.result(int(s)) for s in self.visible_rows()]

    def result_at(self, row: int):
        s = self._stored(row)
        return self.result(s) if s is not None else None

    def row_of_index(self, result_index: int) -> int | None:
        """The table row showing the result with ``Result.index == result_index`` (None if filtered out)."""
        pos = self._pos.a
        if 0 <= result_index < len(pos) and pos[result_index] == result_index:
            s = result_index
        else:
            hits = np.flatnonzero(pos == result_index)
            if not len(hits):
                return None
            s = int(hits[0])
        return self._view_row_of(s)

    # ------------------------------------------------------------------ Qt overrides
    def rowCount(self, parent=QModelIndex()):
        if parent.isValid():
            return 0
        return self._order.n + len(self._pending)

    _PAINT_ROLES = frozenset(int(x) for x in (Qt.DisplayRole, Qt.ForegroundRole, Qt.FontRole, Qt.TextAlignmentRole))

    def multiData(self, index, span) -> None:  # Qt override: one Python call per painted cell, not per role
        # While a batch runs, worker threads hold the GIL much of the time and each call from C++
        # into Python waits for it; the views ask ~8 roles per cell, so answering them together
        # makes painting the table several times cheaper.
        if not index.isValid():
            return
        s = self._stored(index.row())
        if s is None:
            return
        column = index.column()
        for i in range(span.size()):
            rd = span[i]
            role = int(rd.role())
            value = self._value(s, column, role) if role in self._PAINT_ROLES else None
            if value is None:
                rd.clearData()  # the span is reused from cell to cell: never leave a stale value
            else:
                rd.setData(value)

    def data(self, index, role=Qt.DisplayRole):
        if not index.isValid():
            return None
        s = self._stored(index.row())
        if s is None:
            return None
        return self._value(s, index.column(), role)

    def _display(self, s: int) -> tuple:
        """The display texts of one row's cells, in view order, made when the row is first drawn."""
        texts = self._texts.get(s)
        if texts is None:
            b, i = self._locate(s)
            ok = bool(b.ok[i])
            text, score = b.summary(i, self.detection_conf) if ok else ("", None)
            name = self._names.values[self._src.data[s]]
            row = b.row_of(i)
            status = (REVIEW_TEXT if self._review.data[s] else "✔ OK") if ok else "✖ Failed"
            badge = DECISION_BADGES.get(int(self._decided.data[s]))
            if badge:  # a scored result's decision says all (its tooltip the rest); a failed one stays failed
                status = badge if ok else f"{status} · {badge}"
            texts = (fmt.count(int(b.position[i]) + 1), f"{name} · row {row}" if row is not None else name,
                     text, fmt.score(score) if score is not None else "", status,
                     fmt.ms(self._total.data[s]) if ok else "",
                     *(column[s] for column in self._pass.values()), b.errors.get(i) or "")
            if len(self._texts) >= _CACHE:
                self._texts = {}
            self._texts[s] = texts
        return texts

    def _value(self, s: int, c: int, role):
        role = int(role)
        if role == _DISPLAY:
            return self._display(s)[c] if 0 <= c < len(self._logical) else None
        ok = bool(self._ok.data[s])
        if role == _FOREGROUND:
            return None if ok else error_color()
        logical = self._logical[c] if 0 <= c < len(self._logical) else None
        if role == _ALIGN:
            return _RIGHT if logical in (COL_INDEX, COL_SCORE, COL_LATENCY) else None
        if role == _FONT:
            return self._bold if logical == COL_STATUS and not ok else None
        if role == _TOOLTIP:
            return self._tooltip(s, logical)
        if role == _RESULT:
            return self.result(s)
        return None

    def _tooltip(self, s: int, logical: int | None) -> str | None:
        b, i = self._locate(s)
        if logical == COL_INPUT:
            row = b.row_of(i)
            return b.input_of(i) + (f"\nrow {row}" if row is not None else "")
        if logical == COL_STATUS and self._decided.data[s]:
            d = self._decisions.get(int(b.position[i]))
            if d is not None:
                return decision_text(d)
        if logical in (COL_SCORE, COL_STATUS) and self._review.data[s]:
            reason = review_reason(self._score.data[s], b.meta["review_below"])
            return f"{float(self._score.data[s])!r}\n{reason}" if logical == COL_SCORE else reason
        if logical == COL_SCORE and self._label.data[s] >= 0:
            return repr(float(self._score.data[s]))
        if logical == COL_LATENCY:
            d, p, n, q = b.timings[i].tolist()
            return (f"total {d + p + n + q:.4f} ms\ndecode {d:.4f} · preprocess {p:.4f} · "
                    f"inference {n:.4f} · postprocess {q:.4f}")
        if logical in (COL_MESSAGE, COL_STATUS) and b.errors.get(i):
            return b.errors[i]
        if logical is not None and logical >= COL_PASSTHROUGH:
            name = self.passthrough_names[logical - COL_PASSTHROUGH]
            return f"{name}: {self._pass[name][s]}\n{PASSTHROUGH_TIP}"
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

    @property
    def expected_results(self) -> int:
        """The rows a run of the queue will show: each input the check refused is one failed row, the
        rest one row per image or CSV row. The queue, the progress and the summary all count these."""
        return sum(1 if n in self.problems else item.rows for n, item in enumerate(self.items))

    @property
    def scoreable_rows(self) -> int:
        """The rows of the inputs the check did not refuse."""
        return sum(item.rows for n, item in enumerate(self.items) if n not in self.problems)

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
            detail = f"CSV · {fmt.plural(item.rows, 'row')}" if item.kind == InputKind.TABLE else {
                InputKind.IMAGE: "image", InputKind.DICOM: "DICOM", InputKind.INVALID: "cannot be used"}.get(
                item.kind, str(item.kind))
            if item.series is not None and item.kind == InputKind.DICOM:
                detail = f"DICOM · {item.series.short_name()} · {item.series.slice_text(item.path)}"
            if problem:
                detail = "⚠ " + problem
            return f"{name}\n{detail}"
        if role == Qt.ToolTipRole:
            return item.path + (f"\n\n{problem}" if problem else "")
        if role == Qt.ForegroundRole and problem:
            return error_color()
        if role == Qt.DecorationRole:
            if item.kind == InputKind.IMAGE:
                pix = self._thumbnail(item.path)
                return pix if pix is not None else self._icons["invalid"]
            return self._icons.get(item.kind, self._icons["invalid"])
        if role == RESULT_ROLE:
            return item
        return None
