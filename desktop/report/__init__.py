"""The report of a run or a validation, as a PDF (Qt's own PDF writer) or one self-contained HTML file.

It may use PySide6's QtGui and QtCore (QPdfWriter, QTextDocument, QPainter, QImage), never
QtWidgets or pyqtgraph: the command line uses it too, with a QGuiApplication made on demand
on the offscreen platform. The context dict it reads is built by
:func:`desktop.runs.report_context.build_context` (or by the evaluation):

``title``, ``created``, ``run_id``, ``run`` {title, status, started_at, finished_at, ok, failed}; ``model`` {name, sha256, description, metadata, path};
``profile`` (words); ``environment`` {app, onnxruntime, provider, machine, os...};
``evaluation`` {task, n, truth_source, unmatched, missing_truth, metrics, confusion, per_class,
roc, pr, calibration, operating_point, bland_altman, subgroups}; ``cases`` [{input, image,
overlay_png, top, values, truth, decision}]; ``latency`` {n, p50, p95, p99, mean,
items_per_s, provider}; ``audit_head``. Every key may be absent.
"""

from .document import BANNER_KEYS, banner_text, build, format_ci, format_value
from .gui import ensure_gui_application
from .writer import ReportError, write_report

__all__ = ["BANNER_KEYS", "ReportError", "banner_text", "build", "ensure_gui_application", "format_ci",
           "format_value", "write_report"]
