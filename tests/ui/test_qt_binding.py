"""The installed Qt binding keeps Python's reference counts right (PySide6 6.12.0 on Python 3.11 does not)."""

from __future__ import annotations

import sys

from PySide6.QtCore import QObject, Signal


class _Probe(QObject):
    ping = Signal()


def test_void_calls_and_emits_keep_none_and_true_alive(qapp):
    probe = _Probe()
    none0, true0 = sys.getrefcount(None), sys.getrefcount(True)
    for _ in range(2000):
        probe.setObjectName("probe")
        probe.ping.emit()
    # a leaking binding loses one reference per call: thousands here, an abort in a long session
    assert none0 - sys.getrefcount(None) < 100
    assert true0 - sys.getrefcount(True) < 100
