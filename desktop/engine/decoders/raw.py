"""The raw decoder: no answer beyond the tensors themselves (tasks without a decoder of their own).

What it shows is the outputs' values, when they are small enough to read: a compact summary
for the results table (:func:`values_text`) and every value, by index or label, for the detail
pane (:func:`value_rows`).
"""

from __future__ import annotations

import numpy as np

from . import register
from ..profile import Task
from ..results import short_number

#: outputs with up to this many values show them; larger ones show shape, min, max and mean
SMALL_OUTPUT = 1000
#: values the table's Result cell shows before "…"
_SHOWN = 4


def _flat(value):
    """An output's values as a flat numpy array, or None for a ZipMap dict (keys are the labels)."""
    if isinstance(value, dict):
        return None
    return np.asarray(value).reshape(-1)


def _cell(v) -> str:
    if isinstance(v, (bytes, np.bytes_)):
        v = v.decode("utf-8", "replace")
    if isinstance(v, (str, np.str_)):
        return str(v)
    if isinstance(v, (bool, np.bool_)):
        return "true" if v else "false"
    if isinstance(v, (int, np.integer)):
        return str(int(v))
    return short_number(v)


def values_text(value, shown: int = _SHOWN) -> str:
    """A short text of an output's values for a table cell: '[0.12, 0.88]', '10 values: 0.1, 0.2, 0.7, 0.01, …',
    '{cat: 0.9, dog: 0.1}' for a map, or its shape and type when it has more than SMALL_OUTPUT values."""
    if isinstance(value, dict):
        items = list(value.items())
        body = ", ".join(f"{k}: {_cell(v)}" for k, v in items[:shown])
        return "{" + body + (", …" if len(items) > shown else "") + "}"
    arr = np.asarray(value)
    n = arr.size
    if n > SMALL_OUTPUT:
        return f"{'×'.join(map(str, arr.shape))} {arr.dtype} values"
    flat = arr.reshape(-1)
    if n == 1:
        return _cell(flat[0])
    body = ", ".join(_cell(v) for v in flat[:shown].tolist())
    if n <= shown:
        return f"[{body}]"
    return f"{n:,} values: {body}, …"


def value_rows(value, labels=(), cap: int = SMALL_OUTPUT) -> tuple[list[tuple[str, str]], int]:
    """Every value of a small output for the detail pane, ``(rows, total)``: each row is (index or label, value in
    full precision), at most ``cap`` of them; ``total`` is how many values the output has.

    Labels name the positions along the output's last axis when it has one value per label;
    multi-dimensional outputs are indexed ``[i, j]``.
    """
    if isinstance(value, dict):
        items = list(value.items())
        return [(str(k), repr(float(v)) if isinstance(v, float) else str(v)) for k, v in items[:cap]], len(items)
    arr = np.asarray(value)
    total = int(arr.size)
    named = bool(labels) and arr.ndim >= 1 and arr.shape[-1] == len(labels)
    rows = []
    for flat_i, v in enumerate(arr.reshape(-1)[:cap].tolist()):
        where = np.unravel_index(flat_i, arr.shape) if arr.ndim > 1 else (flat_i,)
        if named:
            head = [str(int(x)) for x in where[:-1]]
            key = f"{labels[where[-1]]} ({', '.join([*head, str(int(where[-1]))])})"
        elif arr.ndim == 0:
            key = "value"
        else:
            key = str(int(where[0])) if arr.ndim == 1 else f"[{', '.join(str(int(x)) for x in where)}]"
        rows.append((key, repr(v) if isinstance(v, float) else (v.decode("utf-8", "replace") if isinstance(v, bytes)
                                                                  else str(v))))
    return rows, total


@register
class RawDecoder:
    task = Task.RAW

    def decode(self, block, n: int) -> dict:
        return {}

    def record(self, answer: dict, meta: dict, i: int) -> dict:
        return {"top": []}

    def columns(self, answer: dict, meta: dict, n: int) -> list:
        return []

    def summary(self, answer: dict, meta: dict, i: int) -> tuple[str, float | None]:
        return "—", None

    def batch_summary(self, batch, i: int) -> tuple[str, float | None]:
        """The table's text for item ``i`` of ``batch``: its outputs' values (each named when there are several)."""
        outputs = batch.item_outputs(i)
        if not outputs:
            return "—", None
        if len(outputs) == 1:
            return values_text(next(iter(outputs.values()))), None
        return " · ".join(f"{name} {values_text(v, shown=3)}" for name, v in outputs.items()), None
