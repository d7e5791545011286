"""Per-task decoders: a model's raw outputs for a batch become the answer columns of a ResultBatch.

A task (the profile's ``task``, a :class:`~desktop.engine.profile.Task`) with a decoder of its
own has one module here that registers itself with :func:`register`; the others get the raw
decoder. A decoder turns the outputs of one inference call
(or one CSV chunk), already read column-wise by :class:`~desktop.engine.postprocess.OutputBlock`,
into numpy columns with one row per item (or a ragged group: ``<group>_offsets`` and its
``<group>_*`` columns, see :mod:`~desktop.engine.resultbatch`), and says how one row reads: its part of the
``jsonl`` record, its flat CSV cells and the short text the results table shows. A new task's
decoder is one new module in this package, named in ``_BUILTIN``; a
task not yet in ``Task`` (heat maps) is a new member there too.
"""

from __future__ import annotations

import importlib
from typing import Protocol

import numpy as np

from ..profile import Task

_DECODERS: dict = {}
_BUILTIN = (Task.CLASSIFICATION, Task.REGRESSION, Task.DETECTION, Task.SEGMENTATION, Task.RAW)  # each decoded by the module of its name here
_loaded = False


class Decoder(Protocol):
    """What a task's decoder provides. ``answer`` is the dict of columns that :meth:`decode` made."""

    task: Task

    def decode(self, block, n: int) -> dict[str, np.ndarray]:
        """Answer columns (axis 0: the ``n`` items, or a ragged group) from an OutputBlock of ``n`` items."""

    def record(self, answer: dict, meta: dict, i: int) -> dict:
        """Item ``i``'s fields in the jsonl record (``top``, ``values``...)."""

    def columns(self, answer: dict, meta: dict, n: int) -> list[tuple[str, object]]:
        """Flat CSV columns, ``(name, column of n cells)``; failed rows are blanked by the writer."""

    def summary(self, answer: dict, meta: dict, i: int) -> tuple[str, float | None]:
        """What the results table shows for item ``i``: a short text and a score (or None)."""


def register(decoder_cls):
    """Class decorator: make ``decoder_cls()`` the decoder of its ``task``."""
    _DECODERS[decoder_cls.task] = decoder_cls()
    return decoder_cls


def decoder_for(task: Task | str):
    """The decoder registered for ``task``; tasks without one of their own keep raw tensors."""
    global _loaded
    if not _loaded:
        for name in _BUILTIN:
            importlib.import_module(f"{__name__}.{name}")
        _loaded = True
    return _DECODERS.get(task) or _DECODERS[Task.RAW]
