"""The Results tab: the filter, the counts, the CSV columns line and the table of results (or the empty state)."""

from __future__ import annotations

from PySide6.QtCore import QEvent, QItemSelectionModel, QModelIndex, QObject, Qt, Signal, Slot
from PySide6.QtWidgets import (QComboBox, QFrame, QHBoxLayout, QLabel, QLineEdit, QPushButton, QStackedWidget,
                               QTableView, QVBoxLayout, QWidget)

from desktop.runs import fmt

from .models import (COL_INPUT, COL_LABEL, COL_LATENCY, COL_MESSAGE, COL_PASSTHROUGH, COL_SCORE, COL_STATUS,
                     ResultsModel)
from .widgets.history import strip_style
from .widgets.tables import ColumnFitter, empty_state, setup_table

STATUS_CHOICES = (("All results", "all"), ("Scored", "ok"), ("Failed", "failed"), ("For review", "review"),
                  ("Unreviewed", "unreviewed"), ("Accepted", "accepted"), ("Overridden", "overridden"),
                  ("Flagged", "flagged"))
#: the review keys of the results table (with a row selected, in a recorded run)
REVIEW_KEYS = {Qt.Key_A: "accept", Qt.Key_O: "override", Qt.Key_F: "flag"}


class ResultsTab(QWidget):
    """The results of the shown run, one row per image or CSV row, filtered and sorted by the user."""

    current_changed = Signal(object)  # the Result now selected, or None
    sample_requested = Signal()  # the empty state's "Open the sample model"
    clear_requested = Signal()  # the origin strip's "Clear": results of another model are not wanted
    review_requested = Signal(object, str)  # (the selected Result, "accept" | "override" | "flag"): A, O or F

    def __init__(self, parent=None):
        super().__init__(parent)
        self.extra_columns: dict = {}  # CSV path -> its columns that are not model features, for the run shown
        self.reviewable = False  # whether A / O / F decide on the selected result (a recorded run, not scoring)
        self._selected_first = False
        rl = QVBoxLayout(self)
        rl.setContentsMargins(0, 6, 0, 0)
        self.use_notice = QLabel()  # the model maker's intended use or disclaimer, above its results
        self.use_notice.setObjectName("useNotice")
        self.use_notice.setWordWrap(True)
        self.use_notice.setTextInteractionFlags(Qt.TextSelectableByMouse)
        self.use_notice.setVisible(False)
        rl.addWidget(self.use_notice)
        self.origin = OriginStrip()
        self.origin.clear_button.clicked.connect(self.clear_requested)
        rl.addWidget(self.origin)
        filt = QHBoxLayout()
        self.filter_edit = QLineEdit()
        self.filter_edit.setPlaceholderText("Filter by file name, label or message (Ctrl+F)")
        self.filter_edit.setClearButtonEnabled(True)
        self.filter_edit.setToolTip("Show only the results whose input, label or message contains this text")
        self.filter_edit.textChanged.connect(self._on_filter_changed)
        self.status_filter = QComboBox()
        for text, key in STATUS_CHOICES:
            self.status_filter.addItem(text, key)
        self.status_filter.setToolTip("Show all results, only the scored ones, only the failed ones, only those "
                                      "for review (top score under the model's review threshold, profile key "
                                      "review_below; set it in Preprocessing…), or those a reviewer has not yet "
                                      "decided on, accepted (A), overridden (O) or flagged (F)")
        self.status_filter.currentIndexChanged.connect(self._on_filter_changed)
        self.counts_label = QLabel()
        self.counts_label.setToolTip("How many results there are, and how many the filter shows")
        filt.addWidget(self.filter_edit, 1)
        filt.addWidget(self.status_filter)
        filt.addWidget(self.counts_label)
        self.show_all_button = QPushButton("Show all")
        self.show_all_button.setToolTip("Show every result again, not only the cases picked in the Validation tab")
        self.show_all_button.clicked.connect(lambda: self.filter_to(None))
        self.show_all_button.setVisible(False)
        filt.addWidget(self.show_all_button)
        rl.addLayout(filt)
        self.columns_label = QLabel()
        self.columns_label.setObjectName("columnsLabel")
        self.columns_label.setWordWrap(True)
        self.columns_label.setTextInteractionFlags(Qt.TextSelectableByMouse)
        small = self.columns_label.font()
        small.setPointSizeF(small.pointSizeF() * 0.9)
        self.columns_label.setFont(small)
        self.columns_label.setToolTip("The CSV columns that are not model features: shown beside each row and kept "
                                      "in exports (passed through), or left out (ignored)")
        self.columns_label.setVisible(False)
        rl.addWidget(self.columns_label)
        self.stack = QStackedWidget()
        rl.addWidget(self.stack, 1)
        self.empty_sample_button = QPushButton("Open the sample model")
        self.empty_sample_button.setToolTip("Load the bundled digit classifier and queue its sample images")
        self.empty_sample_button.clicked.connect(self.sample_requested)
        empty, self.empty_label = empty_state(1.25, self.empty_sample_button)
        self.stack.addWidget(empty)
        self.model = ResultsModel(self)
        self.table = QTableView()
        self.table.setModel(self.model)
        self.table.setSortingEnabled(True)
        self.table.horizontalHeader().setSortIndicator(-1, Qt.AscendingOrder)
        setup_table(self.table, "One row per image or CSV row; click a column title to sort. ↑/↓ move the detail.")
        self.table.setTextElideMode(Qt.ElideMiddle)  # "screening_w…csv · row 5" keeps the row number in sight
        hh = self.table.horizontalHeader()
        hh.setStretchLastSection(True)
        em = self.fontMetrics().horizontalAdvance("m")
        for col, width in ((0, 4), (COL_INPUT, 14), (COL_LABEL, 8), (COL_SCORE, 6), (COL_STATUS, 6),
                           (COL_LATENCY, 8), (COL_MESSAGE, 16)):
            self.table.setColumnWidth(col, width * em)
        self.fitter = ColumnFitter(self.table, self._elastic_columns)
        self.table.selectionModel().currentRowChanged.connect(self._on_current_row_changed)
        self._review_keys = _ReviewKeys(self)
        self.table.installEventFilter(self._review_keys)
        self.model.columnsInserted.connect(self._on_result_columns_inserted)
        self.stack.addWidget(self.table)

    # ------------------------------------------------------------------ filling
    def clear(self, extra_columns: dict | None = None) -> None:
        self.model.clear()
        self.extra_columns = dict(extra_columns or {})
        self._selected_first = False
        self.update_columns_label()
        self.update_counts()

    def set_use_notice(self, text: str | None, model_name: str = "") -> None:
        """Show the model's own intended-use or disclaimer text in a banner above its results (None: hide)."""
        self.use_notice.setVisible(bool(text))
        if text:
            import html

            self.use_notice.setText(f"<b>ⓘ {html.escape(model_name)} says:</b> {html.escape(text)}")
            self.use_notice.setToolTip("From the model's metadata (its intended use or disclaimer)")
            self.use_notice.setStyleSheet(strip_style(self.use_notice))

    def show_table(self) -> None:
        self.stack.setCurrentIndex(1)

    def show_empty(self, html: str, offer_sample: bool) -> None:
        self.stack.setCurrentIndex(0)
        self.empty_label.setText(html)
        self.empty_sample_button.setVisible(offer_sample)

    def add(self, batch) -> None:
        """Add a batch to the table; select the first row once there is one."""
        had = self.model.passthrough_names, self.model.total
        self.model.append(batch)
        self.update_counts()
        if self.model.passthrough_names != had[0] or not had[1]:
            self.update_columns_label()
        if not self._selected_first and self.model.rowCount() and not self.table.selectionModel().hasSelection():
            self._selected_first = True
            self._fit_result_column()
            self.table.selectionModel().setCurrentIndex(
                self.model.index(0, 0), QItemSelectionModel.ClearAndSelect | QItemSelectionModel.Rows)

    def _fit_result_column(self) -> None:
        """Widen the Result column to its first rows' texts ("7 detections · figure_caption 0.95"), up to 24 em;
        never narrower than it is (a user's width stays)."""
        em = self.fontMetrics().horizontalAdvance("m")
        column = self.model.view_column(COL_LABEL)
        rows = min(self.model.rowCount(), 50)
        texts = [self.model.index(r, column).data() or "" for r in range(rows)]
        want = max((self.table.fontMetrics().horizontalAdvance(t) for t in texts), default=0) + em
        self.table.setColumnWidth(column, int(min(max(self.table.columnWidth(column), want), 24 * em)))

    # ------------------------------------------------------------------ selection
    @Slot(int)
    def select_result(self, result_index: int) -> bool:
        """Select the table row of the Result with this index (from a click on the latency plot)."""
        row = self.model.row_of_index(result_index)
        if row is None:
            return False
        ix = self.model.index(row, 0)
        self.table.selectionModel().setCurrentIndex(ix, QItemSelectionModel.ClearAndSelect | QItemSelectionModel.Rows)
        self.table.scrollTo(ix)
        return True

    def selected_result(self):
        ix = self.table.selectionModel().currentIndex()
        return self.model.result_at(ix.row()) if ix.isValid() else None

    def refresh_current(self) -> None:
        """Show the selected result again (the engine it is shown through may have changed)."""
        self.current_changed.emit(self.selected_result())

    def request_review(self, decision: str) -> bool:
        """Ask to decide on the selected result (``review_requested``); False when there is none or it cannot be."""
        result = self.selected_result()
        if result is None or not self.reviewable:
            return False
        self.review_requested.emit(result, decision)
        return True

    def set_decisions(self, decisions: dict) -> None:
        """Show a run's current review decisions ({result index: Decision}) as badges in the table."""
        self.model.set_decisions(decisions)

    def set_decision(self, decision) -> None:
        """Show a decision just made; the detail of the selected result is shown again."""
        self.model.set_decision(decision)
        self.update_counts()
        self.refresh_current()

    def filter_to(self, indices=None) -> None:
        """Show only the results with these indices (``Result.index``), e.g. a confusion matrix cell's cases;
        None shows all again. The text and status filters still apply."""
        shown = self.selected_result()
        self.model.filter_to(indices)
        self.update_counts()
        self._follow_selection(shown)

    def focus_filter(self) -> None:
        self.filter_edit.setFocus()
        self.filter_edit.selectAll()

    @Slot()
    def _on_current_row_changed(self, current, _previous=None):
        self.current_changed.emit(self.model.result_at(current.row()) if current.isValid() else None)

    # ------------------------------------------------------------------ words around the table
    def _on_filter_changed(self, *_):
        shown = self.selected_result()
        self.model.set_filter(self.filter_edit.text(), self.status_filter.currentData())
        self.update_counts()
        self._follow_selection(shown)

    def _follow_selection(self, shown) -> None:
        """After the rows shown changed: the first row is selected when none is, and the detail follows the
        table (``shown`` was selected before): a row a filter hid is not left in it."""
        sm = self.table.selectionModel()
        if not sm.currentIndex().isValid() and self.model.rowCount():
            sm.setCurrentIndex(self.model.index(0, 0), QItemSelectionModel.ClearAndSelect | QItemSelectionModel.Rows)
        now = self.selected_result()
        if now is not shown or now is None:
            self.current_changed.emit(now)

    def _elastic_columns(self) -> dict:
        """The columns that give up room in a narrow window, and their smallest width (em)."""
        m = self.model
        out = {m.view_column(COL_INPUT): 8, m.view_column(COL_LABEL): 7, m.view_column(COL_MESSAGE): 8}
        for j in range(len(m.passthrough_names)):
            out[m.view_column(COL_PASSTHROUGH + j)] = 5
        return out

    @Slot(QModelIndex, int, int)
    def _on_result_columns_inserted(self, _parent, first, last):
        em = self.fontMetrics().horizontalAdvance("m")
        for col in range(first, last + 1):
            self.table.setColumnWidth(col, 10 * em)

    def update_counts(self) -> None:
        self.show_all_button.setVisible(self.model.filtered_to is not None)
        total, shown = self.model.total, self.model.rowCount()
        if not total:
            self.counts_label.setText("")
            return
        text = f"{fmt.count(self.model.n_ok)} OK · {fmt.count(self.model.n_failed)} failed"
        reviewed = len(self.model.decisions)
        if reviewed:
            text += f" · {fmt.count(reviewed)} reviewed"
        if self.model.filtered_to is not None:
            text = f"{fmt.plural(len(self.model.filtered_to), 'case')} picked · " + text
        if shown != total:
            text = f"showing {fmt.count(shown)} of {fmt.count(total)} · " + text
        self.counts_label.setText(text)

    def update_columns_label(self) -> None:
        """Say which CSV columns travel with their rows and which were left out (as ``inferdesk score`` does)."""
        passed = list(self.model.passthrough_names)
        ignored = []
        if self.model.total:  # what was passed through is known once rows arrived
            ignored = list(dict.fromkeys(c for cols in self.extra_columns.values() for c in cols if c not in passed))
        if not passed and not ignored:
            self.columns_label.setVisible(False)
            return

        def names(cols, limit=8):
            shown = ", ".join(cols[:limit])
            return shown + (f" and {fmt.count(len(cols) - limit)} more" if len(cols) > limit else "")

        parts = []
        if passed:
            parts.append(f"CSV columns passed through (in the table and exports): {names(passed)}")
        if ignored:
            parts.append(f"{'ignored' if passed else 'CSV columns ignored (not model features)'}: {names(ignored)}")
        self.columns_label.setText(" · ".join(parts))
        tip = []
        if passed:
            tip.append("Passed through, not model features:\n  " + "\n  ".join(passed))
        if ignored:
            tip.append("Ignored, not model features:\n  " + "\n  ".join(ignored))
        self.columns_label.setToolTip("\n".join(tip))
        self.columns_label.setVisible(True)


class _ReviewKeys(QObject):
    """The results table's review keys: A accepts, O overrides, F flags the selected result (no modifier)."""

    def __init__(self, tab: ResultsTab):
        super().__init__(tab)
        self.tab = tab

    def eventFilter(self, obj, event):  # Qt override
        if event.type() == QEvent.KeyPress and event.key() in REVIEW_KEYS and not (
                event.modifiers() & (Qt.ControlModifier | Qt.AltModifier | Qt.MetaModifier)):
            if self.tab.request_review(REVIEW_KEYS[event.key()]):
                return True
        return False


class OriginStrip(QFrame):
    """One line above the table saying whose results it holds: the run, the model and the profile.

    When another model (or another profile of this one) produced them, it says so in a warning
    strip with a Clear button, so results are never read as the loaded model's.
    """

    def __init__(self, parent=None):
        super().__init__(parent)
        self.setObjectName("originStrip")
        self.foreign = False
        lay = QHBoxLayout(self)
        lay.setContentsMargins(6, 2, 2, 2)
        self.label = QLabel()
        self.label.setObjectName("originLabel")
        self.label.setWordWrap(True)
        self.label.setTextInteractionFlags(Qt.TextSelectableByMouse)
        lay.addWidget(self.label, 1)
        self.clear_button = QPushButton("Clear")
        self.clear_button.setToolTip("Remove these results from the table (they stay in History)")
        lay.addWidget(self.clear_button, 0, Qt.AlignTop)
        self.set_origin(None)

    def set_origin(self, origin) -> None:
        """Show a :class:`~desktop.ui.controller.Origin` (None: hide the strip)."""
        self.setVisible(origin is not None)
        if origin is None:
            return
        self.foreign = origin.foreign
        self.label.setText(("⚠ " if origin.foreign else "") + origin.text)
        self.label.setToolTip(origin.detail)
        self.setToolTip(origin.detail)
        self.clear_button.setVisible(origin.foreign)
        if origin.foreign:
            self.setStyleSheet(strip_style(self))
        else:
            self.setStyleSheet("#originLabel { color: palette(mid); }")
