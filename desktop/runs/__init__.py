"""The use cases of InferDesk, written once and shared by the command line and the window (no Qt).

The layers, checked by import-linter (``[tool.importlinter]`` in pyproject.toml): ``desktop.ui``
(the window) above ``desktop.runs`` (what a user does with runs: score, open, resume, export,
rename, delete, verify, check a queue) above ``desktop.engine`` (models, inputs, scoring, the
results store). Nothing below ``desktop.ui`` imports Qt.

``review``: a reviewer's decisions on a run's results (accept, override, flag) and overrides as
ground truth; ``history``: recorded runs (list, show, open, resume, export, rename, delete, verify) and the
words for a run; ``pacing``: the reader of a past run paced by the window; ``export``: the
window's table to a file; ``queue_check``: what a model cannot take; ``fmt``: numbers.
"""
