"""The window's review flow: A / O / F in the results table and the detail's review bar, dispatched to
:mod:`desktop.runs.review` on a worker; a recorded run's decisions shown as badges once it is opened."""

from __future__ import annotations

import itertools

from PySide6.QtCore import QObject, Signal
from PySide6.QtWidgets import QInputDialog

from desktop.runs import review

from .errors import report_error

#: why a result cannot be reviewed now, by what the table shows
NOT_RECORDED = "Only a run kept in History can be reviewed: these results are not saved."
STILL_GOING = "Wait until the run has finished (or has been opened) to review its results."


class ReviewFlow(QObject):
    """Decides on the selected result of the shown run: asks what is needed, writes it, shows it.

    The window holds one (``window.review``); it connects itself to the controller, the results
    tab and the detail pane, so the window only forwards :meth:`review_selected`.
    """

    decided = Signal(object)  # the Decision just recorded (after the table shows it)
    loaded = Signal(object)  # {result index: Decision}: the shown run's decisions, once read

    def __init__(self, window):
        super().__init__(window)
        self.window = window
        self.controller = c = window.controller
        self.tab = window.results_tab
        self.bar = window.detail.review_bar
        self._ids = itertools.count()
        self.tab.review_requested.connect(lambda result, decision: self.review_selected(decision, result))
        self.bar.review_requested.connect(self.review_selected)
        self.tab.current_changed.connect(self._on_current_changed)
        c.shown_changed.connect(self._on_shown_changed)
        c.run_opened.connect(lambda info: self.load(info["run"].id))
        c.run_ended.connect(self._on_run_ended)
        c.busy_changed.connect(self._update)

    # ------------------------------------------------------------------ state
    def why_not(self) -> str:
        """Why the shown results cannot be reviewed now ('' when they can)."""
        c = self.controller
        if not c.shown.run_id:
            return NOT_RECORDED
        if c.is_running() or c.is_opening():
            return STILL_GOING
        return ""

    def _update(self, *_) -> None:
        why = self.why_not()
        self.tab.reviewable = not why
        result = self.tab.selected_result()
        self.bar.setVisible(result is not None and bool(self.controller.shown.run_id))
        if result is not None:
            self.bar.show_decision(self.tab.model.decision_of(result.index), not why, why)

    def _on_current_changed(self, _result) -> None:
        self._update()

    def _on_shown_changed(self, _shown) -> None:
        self._update()

    def _on_run_ended(self, summary) -> None:
        if summary.get("run_id"):
            self.load(summary["run_id"])  # a resumed run's earlier results may have decisions
        self._update()

    def load(self, run_id: str):
        """Read the run's current decisions on a worker and show them (if it is still the run shown)."""
        def shown(found):
            if self.controller.shown.run_id == run_id:
                self.tab.set_decisions(found)
                self.tab.update_counts()
                self._update()
                self.loaded.emit(found)

        return self.controller.jobs.start("review-load", review.decisions, run_id,
                                          store_path=self.controller.store_path, on_returned=shown,
                                          on_errored=lambda exc: report_error(exc, inline=self.window.show_status_error))

    # ------------------------------------------------------------------ deciding
    def review_selected(self, decision: str, result=None):
        """Decide ``decision`` (accept, override, flag) on ``result`` (default: the selected one).

        Override asks for the correct label (a list of the model's) or value, then a reason; flag
        asks for a reason. Cancelling a question decides nothing. Returns the job writing it, or None.
        """
        result = result if result is not None else self.tab.selected_result()
        if result is None:
            return None
        why = self.why_not()
        if why:
            self.window.show_status_error(why)
            return None
        run_id = self.controller.shown.run_id
        asked = self._ask(decision, result, run_id)
        if asked is None:
            return None
        label, value, reason = asked
        return self.controller.jobs.start(
            f"review-{next(self._ids)}", review.decide, run_id, result.index, decision, label=label, value=value,
            reason=reason, store_path=self.controller.store_path,
            on_returned=lambda d: self._on_decided(run_id, d),
            on_errored=lambda exc: report_error(exc, inline=self.window.show_status_error))

    def _ask(self, decision: str, result, run_id: str):
        """(label, value, reason) for the decision, asked of the user where needed; None when cancelled."""
        w = self.window
        name = f"result {result.index + 1}"
        if decision == "accept":
            return None, None, ""
        if decision == "flag":
            reason, ok = QInputDialog.getText(w, "Flag", f"Why is {name} flagged?")
            return (None, None, reason) if ok else None
        kind, labels = review.override_choices(run_id, store_path=self.controller.store_path)
        label = value = None
        if kind == "value":
            now = result.values[0] if getattr(result, "values", None) else 0.0
            value, ok = QInputDialog.getDouble(w, "Override", f"The correct value of {name}:", float(now),
                                               -1e15, 1e15, 6)
        elif labels:
            current = labels.index(result.top_label) if result.top_label in labels else 0
            label, ok = QInputDialog.getItem(w, "Override", f"The correct label of {name}:", list(labels),
                                             current, False)
        else:
            label, ok = QInputDialog.getText(w, "Override", f"The correct label of {name}:")
            ok = ok and bool(label.strip())
        if not ok:
            return None
        reason, ok = QInputDialog.getText(w, "Override", f"Why is {name} overridden? (may be left empty)")
        return (label, value, reason) if ok else None

    def _on_decided(self, run_id: str, decision) -> None:
        if self.controller.shown.run_id != run_id:
            return  # another run is shown now: its table has no place for it
        self.tab.set_decision(decision)
        self._update()
        self.decided.emit(decision)
