"""The one background-work pattern (jobs in slots) and the one error path."""

from __future__ import annotations

import sys
import threading
import time

import pytest
from desktop.engine.errors import InputError
from desktop.runs.notifications import notifications
from desktop.ui.errors import ErrorDialog, attach_window, install_hooks, refuse, report_error, reporter, uninstall_hooks
from desktop.ui.jobs import Jobs, active_jobs


@pytest.fixture
def jobs(qapp):
    j = Jobs()
    yield j
    j.shutdown()
    j.deleteLater()


def _count(n, should_stop, pace=None, delay=0.0):
    for i in range(n):
        if should_stop():
            return "stopped"
        time.sleep(delay)
        yield i
        if pace is not None:
            pace.wait()
    return "done"


def test_a_job_yields_in_order_then_returns_then_finishes(qtbot, jobs):
    events = []
    with qtbot.waitCallback(timeout=10000) as finished:
        jobs.start("count", _count, 5, on_yielded=lambda v: events.append(("yielded", v)),
                   on_returned=lambda v: events.append(("returned", v)), on_finished=finished)
    assert events == [("yielded", i) for i in range(5)] + [("returned", "done")]
    assert not jobs.busy("count") and not active_jobs()


def test_the_outcome_handlers_see_the_slot_free(qtbot, jobs):
    """What the window shows on a result (buttons, labels) must not depend on whether the
    worker's ``finished`` has been handled yet: the slot is free once the outcome arrives."""
    seen = []

    def boom():
        raise ValueError("bad")

    with qtbot.waitCallback(timeout=10000) as done:
        jobs.start("a", _count, 3, on_returned=lambda v: seen.append(("returned", jobs.busy("a"))), on_finished=done)
    with qtbot.waitCallback(timeout=10000) as done:
        jobs.start("b", boom, on_errored=lambda e: seen.append(("errored", jobs.busy("b"))), on_finished=done)
    assert seen == [("returned", False), ("errored", False)]


def test_a_plain_function_is_a_job_too(qtbot, jobs):
    with qtbot.waitCallback(timeout=10000) as returned:
        jobs.start("sum", sum, [1, 2, 3], on_returned=returned)
    returned.assert_called_with(6)


def test_errors_reach_on_errored_and_the_job_still_finishes(qtbot, jobs):
    def boom():
        raise ValueError("bad")

    errors, finished = [], []
    with qtbot.waitCallback(timeout=10000) as done:
        jobs.start("boom", boom, on_errored=errors.append, on_finished=lambda: (finished.append(1), done()))
    assert len(errors) == 1 and isinstance(errors[0], ValueError) and finished == [1]


def test_starting_a_second_job_in_a_slot_cancels_and_disconnects_the_first(qtbot, jobs):
    first_seen, second_seen = [], []
    first = jobs.start("slot", _count, 10_000, delay=0.001, on_yielded=first_seen.append,
                       on_returned=first_seen.append)
    qtbot.waitUntil(lambda: len(first_seen) >= 3, timeout=10000)
    with qtbot.waitCallback(timeout=10000) as returned:
        second = jobs.start("slot", _count, 3, on_yielded=second_seen.append, on_returned=returned)
    returned.assert_called_with("done")
    assert first.should_stop()  # cancelled ...
    seen = len(first_seen)
    qtbot.waitUntil(lambda: first.finished, timeout=10000)  # ... it ran to its end on its own thread ...
    qtbot.wait(50)
    assert len(first_seen) == seen and "stopped" not in first_seen  # ... and nothing it emitted reached its handlers
    assert first.worker.signals.receivers("2yielded(PyObject)") == 0
    assert second_seen == [0, 1, 2] and jobs.current("slot") is None


def test_cancel_keeps_the_summary_when_asked_to_stop(qtbot, jobs):
    seen = []
    job = jobs.start("slot", _count, 10_000, delay=0.001, on_yielded=seen.append)
    qtbot.waitUntil(lambda: len(seen) >= 2, timeout=10000)
    with qtbot.waitCallback(timeout=10000) as returned:
        job.relay.handlers["returned"] = returned
        jobs.stop("slot")
    returned.assert_called_with("stopped")


def test_a_paced_job_waits_for_the_window_between_yields(qtbot, jobs):
    produced, shown = [], []

    def slow_consumer(value):
        produced.append(value)
        shown.append(len(produced))

    with qtbot.waitCallback(timeout=10000) as returned:
        jobs.start("paced", _count, 20, paced=True, pace_timeout_s=5, on_yielded=slow_consumer,
                   on_returned=returned)
    returned.assert_called_with("done")
    assert produced == list(range(20))


def test_expected_errors_are_inline_and_other_errors_open_a_dialog(qtbot):
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


def test_an_os_error_is_expected_and_names_its_file(qtbot, tmp_path):
    shown = []
    try:
        open(tmp_path / "missing" / "out.csv", "w")
    except OSError as exc:
        err = exc
    with qtbot.waitSignal(reporter().reported) as blocker:
        report_error(err, inline=shown.append)
    assert blocker.args[1] is True
    assert shown == [f"{tmp_path / 'missing' / 'out.csv'}: No such file or directory"]


def test_errors_from_other_threads_are_shown_on_the_gui_thread(qtbot):
    seen = []

    def target(text):
        from PySide6.QtCore import QThread
        from PySide6.QtWidgets import QApplication

        seen.append((text, QThread.currentThread() is QApplication.instance().thread()))

    reporter()
    with qtbot.waitSignal(reporter().reported, timeout=5000):
        t = threading.Thread(target=lambda: report_error(InputError("from a thread"), inline=target))
        t.start()
        t.join()
    assert seen == [("from a thread", True)]


def test_a_window_takes_the_errors_without_a_panel_until_it_detaches(qtbot):
    said = []
    detach = attach_window(None, said.append)
    try:
        with qtbot.waitSignal(reporter().reported):
            refuse("Load a model first.")
        assert said == ["Load a model first."]
    finally:
        detach()
    with qtbot.waitSignal(reporter().reported) as blocker:
        refuse("Nobody to tell inline.")
    assert blocker.args[1] is False  # a dialog, not lost
    for d in list(reporter().dialogs):
        d.close()


def test_routing_is_a_subscription(qtbot):
    received = []
    unsubscribe = notifications.subscribe(received.append)
    try:
        report_error(InputError("seen by every subscriber"), inline=lambda _text: None)
    finally:
        unsubscribe()
    assert [n.message for n in received] == ["seen by every subscriber"] and received[0].expected


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
