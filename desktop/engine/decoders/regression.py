"""The regression decoder: the first float output's values, at most 1,024 per item."""

from __future__ import annotations

import numpy as np

from . import register
from ..profile import Task
from ..results import finite, short_number

MAX_VALUES = 1024


@register
class RegressionDecoder:
    task = Task.REGRESSION

    def decode(self, block, n: int) -> dict:
        name = block.post.value_output
        if name in block.tensors and block.batched[name]:
            return {"values": block.tensors[name].reshape(n, -1)[:, :MAX_VALUES].astype(np.float64)}
        return {}

    def record(self, answer: dict, meta: dict, i: int) -> dict:
        values = answer.get("values")
        d = {"top": []}
        if values is not None and values.shape[1]:
            d["values"] = [finite(v) for v in values[i].tolist()]
        return d

    def columns(self, answer: dict, meta: dict, n: int) -> list:
        values = answer.get("values")
        if values is None or not values.shape[1]:
            return []
        if values.shape[1] == 1:
            return [("value", values[:, 0])]
        return [(f"value_{j + 1}", values[:, j]) for j in range(values.shape[1])]

    def summary(self, answer: dict, meta: dict, i: int) -> tuple[str, float | None]:
        values = answer.get("values")
        if values is None or not values.shape[1]:
            return "—", None
        row = values[i]
        text = ", ".join(short_number(v) for v in row[:3].tolist()) + ("…" if len(row) > 3 else "")
        return text, None
