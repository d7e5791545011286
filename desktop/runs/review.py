"""Case review: a reviewer accepts, overrides or flags a recorded run's results, one at a time (no Qt).

Each decision is kept in the results store with the run (:meth:`ResultStore.review`): in its
reviews table and as a record of the audit trail, with the reviewer (the OS user) and the time,
so ``inferdesk audit verify`` catches a decision edited or deleted by hand. Every decision is
kept; a result's latest is its current one. The window (A, O, F in the results table), the
command line (``inferdesk review``) and the Validation tab's metrics (:func:`as_truth`) use these
functions. Like :mod:`desktop.runs.history`, each opens a store connection of its own and closes
it before it returns; ``store_path`` None is the default database.
"""

from __future__ import annotations

from desktop.engine.store import DECISIONS, ReviewDecision

from .history import RunRefused, _store, when_text

#: a result's decision, as the ReviewDecision the store keeps
Decision = ReviewDecision

#: what the results table's filter offers beside all / ok / failed / review, and the state of each decision
REVIEW_STATES = ("unreviewed", "accepted", "overridden", "flagged")
STATE_OF = {"accept": "accepted", "override": "overridden", "flag": "flagged"}

__all__ = ["DECISIONS", "Decision", "REVIEW_STATES", "STATE_OF", "answer_of", "as_truth", "decide", "decision_text",
           "decisions", "history", "override_choices"]


def decide(run_id: str, index: int, decision: str, *, label: str | None = None, value: float | None = None,
           reason: str = "", store_path=None) -> Decision:
    """Record a decision on result ``index`` (its position in the run) of a recorded run; returns it.

    Parameters
    ----------
    run_id
        The run's id, or its first characters.
    index
        The result's position in the run (``Result.index``), from 0.
    decision
        ``accept``, ``override`` or ``flag``.
    label, value
        An override's correct class name (a classifier's run: one of its labels when the
        profile lists them) or number (a regression's); ignored for accept and flag.
    reason
        Free text, stripped (may be empty).

    Raises
    ------
    RunRefused
        An override without a label or value, or with a label the run's model does not have.
    StoreError
        The run is not in the history, has no result ``index``, or the store cannot be written.
    """
    decision = str(decision or "").strip().lower()
    if decision not in DECISIONS:
        raise RunRefused(f"'{decision}' is not a review decision: use accept, override or flag.")
    with _store(store_path) as store:
        run = store.run(run_id)
        if decision == "override":
            if label is None and value is None:
                raise RunRefused(f"Overriding result {index} of run {run.id} needs the correct label or value.")
            labels = [str(x) for x in (store.run_metadata(run.id).get("profile") or {}).get("labels") or ()]
            if label is not None and labels and str(label) not in labels:
                shown = ", ".join(labels[:12]) + (f" and {len(labels) - 12} more" if len(labels) > 12 else "")
                raise RunRefused(f"'{label}' is not one of the labels of run {run.id}'s model ({shown}).")
        return store.review(run.id, index, decision, label=label, value=value, reason=reason)


def answer_of(run_id: str, text: str, store_path=None) -> tuple:
    """An override's answer typed as text: (label, None) for a classifier's run, (None, value) for a regression's.

    Raises RunRefused when a regression's run is given text that is not a number.
    """
    with _store(store_path) as store:
        run = store.run(run_id)
        task = str((store.run_metadata(run.id).get("profile") or {}).get("task", ""))
    if task != "regression":
        return str(text), None
    try:
        return None, float(text)
    except ValueError:
        raise RunRefused(f"Run {run.id} is a regression: an override gives the correct value, a number "
                         f"(not '{text}').") from None


def override_choices(run_id: str, store_path=None) -> tuple:
    """What an override of this run's results asks for: ("value", ()) for a regression's run, else
    ("label", its model's labels, which may be empty: then any text)."""
    with _store(store_path) as store:
        profile = store.run_metadata(store.run(run_id).id).get("profile") or {}
    if str(profile.get("task", "")) == "regression":
        return "value", ()
    return "label", tuple(str(x) for x in profile.get("labels") or ())


def decisions(run_id: str, store_path=None) -> dict:
    """The run's current decisions: {result index: Decision} (the latest made on each result)."""
    with _store(store_path) as store:
        return store.reviews(store.run(run_id).id)


def history(run_id: str, store_path=None) -> list:
    """Every decision made on the run's results, in the order they were made."""
    with _store(store_path) as store:
        return store.reviews(store.run(run_id).id, history=True)


def as_truth(run_id: str, store_path=None) -> dict:
    """The run's current overrides as ground truth: {result index: the correct label (text) or value (float)}.

    For the metrics, when the user asks that overrides count as ground truth.
    """
    return {i: d.truth for i, d in decisions(run_id, store_path).items() if d.decision == "override"}


def decision_text(d: Decision | None) -> str:
    """'Accepted by ana · Today 14:22', 'Overridden to 7 by ana · 3 May 09:05 — the stroke is a seven'."""
    if d is None:
        return "Not reviewed"
    what = STATE_OF.get(d.decision, d.decision).capitalize()
    if d.decision == "override" and d.truth is not None:
        what += f" to {d.truth:g}" if isinstance(d.truth, float) else f" to {d.truth}"
    text = f"{what} by {d.reviewer} · {when_text(d.at)}"
    return text + (f" — {d.reason}" if d.reason else "")
