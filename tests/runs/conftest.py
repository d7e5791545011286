"""Fixtures of the runs layer's tests (plain pytest, no Qt)."""

from __future__ import annotations

import pytest


def drive(gen):
    """All the steps of a generator, and what it returned."""
    steps = []
    while True:
        try:
            steps.append(next(gen))
        except StopIteration as end:
            return steps, end.value


@pytest.fixture(name="drive")
def drive_fixture():
    return drive
