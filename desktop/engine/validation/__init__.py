"""Check a model on labelled cases: ground truth in (:mod:`.truth`), metrics with intervals out (:mod:`.metrics`).

No Qt here: the command line (``inferdesk evaluate``), the window's Validation tab and the
report all read the same :class:`~.metrics.Evaluation`.
"""

from .metrics import METRIC_TITLES, Evaluation, OperatingPoint, evaluate, metric_title, parse_operating_point
from .truth import TRUTH_COLUMN_NAMES, Truth, TruthError, guess_truth_column, load_truth, match_labels

__all__ = ["METRIC_TITLES", "metric_title", "Evaluation", "OperatingPoint", "TRUTH_COLUMN_NAMES", "Truth", "TruthError", "evaluate",
           "guess_truth_column", "load_truth", "match_labels", "parse_operating_point"]
