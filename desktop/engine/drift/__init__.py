"""Data drift: a model's reference statistics and the comparison of new inputs with them (no Qt).

:func:`build_reference` reads a reference set (a CSV, an image folder: typically the
validation data) into a :class:`Reference` of per-column distributions and of the model's
predictions on it; :func:`detect_drift` compares current data (a :class:`Frame`) with it and
returns a :class:`DriftReport`. The tests follow Evidently's defaults; see :mod:`.stats`.
"""

from .reference import (DEFAULT_CAP, DriftError, Frame, Reference, build_reference, default_reference_path,
                        load_reference, read_frame)
from .stats import DriftReport, choose_test, detect_drift, psi_band, psi_categorical, psi_numeric

__all__ = ["DEFAULT_CAP", "DriftError", "DriftReport", "Frame", "Reference", "build_reference", "choose_test",
           "default_reference_path", "detect_drift", "load_reference", "psi_band", "psi_categorical",
           "psi_numeric", "read_frame"]
