"""The raw decoder: no answer beyond the tensors themselves (tasks without a decoder of their own)."""

from __future__ import annotations

from . import register
from ..profile import Task


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
