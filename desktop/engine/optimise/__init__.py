"""The optimisation lab: optimised variants of a model, and two models compared with a verdict (no Qt)."""

from .compare import Comparison, Side, Verdict, box_agreement, compare, match_boxes, verdict
from .variants import (CALIBRATIONS, METHODS, Variant, calibration_set_sha256, cpu_facts, iter_feeds, make_variant,
                       read_note, recommend_dynamic, suggest_keep_float)

__all__ = ["CALIBRATIONS", "Comparison", "METHODS", "Side", "Variant", "Verdict", "box_agreement",
           "calibration_set_sha256", "compare", "cpu_facts", "iter_feeds", "make_variant", "match_boxes",
           "read_note", "recommend_dynamic", "suggest_keep_float", "verdict"]
