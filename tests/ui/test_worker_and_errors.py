"""The worker pattern and the one error path."""

from __future__ import annotations

import sys
import threading

import numpy as np
import pytest
from PySide6.QtCore import QThreadPool
from uihelpers import DIGITS_DIR, DIGITS_MODEL

from desktop.engine import Engine, expand_inputs
from desktop.engine.errors import InputError
from desktop.ui.errors import ErrorDialog, install_hooks, report_error, reporter, uninstall_hooks
from desktop.ui.worker import BatchWorker, Worker


@pytest.fixture
def pool():
    p = QThreadPool()
    yield p
    p.waitForDone()


def test_batch_worker_signals_in_order(qtbot, pool):
    engine = Engine(DIGITS_MODEL)
    worker = BatchWorker(engine, expand_inputs([str(DIGITS_DIR)]), interval_s=60)
    groups = []
    worker.signals.yielded.connect(groups.append)
    s = worker.signals
    with qtbot.waitSignals([s.started, s.yielded, s.progress, s.returned, s.finished], order="strict",
                           timeout=20000):
        worker.start(pool)
    assert len(groups) == 1  # one group, not one signal per row
    batch, produced = groups[0]
    assert len(batch) == len(produced) == 10 and batch.position.tolist() == list(range(10))
    assert bool((np.diff(produced) >= 0).all())  # each item's arrival, in run order
    assert [r.index for r in batch.results()] == list(range(10))


def test_batch_worker_groups_results(qtbot, pool, tmp_path):
    import shutil

    for n in range(300):
        shutil.copyfile(DIGITS_DIR / "digit_1_442.png", tmp_path / f"{n:04d}.png")
    worker = BatchWorker(Engine(DIGITS_MODEL), expand_inputs([str(tmp_path)]), interval_s=0.005)
    groups = []
    worker.signals.yielded.connect(groups.append)
    with qtbot.waitSignal(worker.signals.finished, timeout=30000):
        worker.start(pool)
    assert sum(len(batch) for batch, _ in groups) == 300
    assert len(groups) < 300
    positions = np.concatenate([batch.position for batch, _ in groups])
    assert positions.tolist() == list(range(300))


def test_worker_errors_reach_errored(qtbot, pool):
    def boom():
        raise ValueError("bad")

    worker = Worker(boom)
    errors = []
    worker.signals.errored.connect(errors.append)
    with qtbot.waitSignals([worker.signals.errored, worker.signals.finished], order="strict"):
        worker.start(pool)
    assert len(errors) == 1 and isinstance(errors[0], ValueError)


def test_engine_error_is_inline_and_other_errors_open_a_dialog(qtbot):
    shown = []
    with qtbot.waitSignal(reporter().reported) as blocker:
        report_error(InputError("scan.png: truncated"), inline=shown.append)
    assert shown == ["scan.png: truncated"] and blocker.args[1] is True
    try:
        raise RuntimeError("unexpected thing")
    except RuntimeError as exc:
        err = exc
    with qtbot.waitSignal(reporter().reported) as blocker:
        report_error(err, inline=shown.append)
    assert blocker.args[1] is False and len(shown) == 1
    dialog = reporter().dialogs[-1]
    assert isinstance(dialog, ErrorDialog) and dialog.isVisible()
    assert "RuntimeError: unexpected thing" in dialog.details and "Traceback" in dialog.details
    dialog.copy_button.click()
    from PySide6.QtGui import QGuiApplication

    assert QGuiApplication.clipboard().text() == dialog.details
    dialog.close()


def test_hooks_route_uncaught_exceptions(qtbot):
    install_hooks()
    try:
        with qtbot.waitSignal(reporter().reported, timeout=5000) as blocker:
            try:
                raise KeyError("main thread")
            except KeyError:
                sys.excepthook(*sys.exc_info())
        assert isinstance(blocker.args[0], KeyError)

        def fail():
            raise LookupError("from a thread")

        with qtbot.waitSignal(reporter().reported, timeout=5000) as blocker:
            t = threading.Thread(target=fail)
            t.start()
            t.join()
        assert isinstance(blocker.args[0], LookupError)
    finally:
        uninstall_hooks()
        for d in list(reporter().dialogs):
            d.close()
    assert sys.excepthook is not None
