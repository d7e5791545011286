"""Pacer: the reader of a past run waits for the window's acknowledgement, at most a timeout."""

from __future__ import annotations

import threading
import time

from desktop.runs.pacing import Pacer


def test_wait_returns_at_once_after_an_ack_and_then_rearms():
    pacer = Pacer(timeout_s=0.2)
    pacer.ack()
    t0 = time.monotonic()
    assert pacer.wait() is True
    assert time.monotonic() - t0 < 0.1
    t0 = time.monotonic()
    assert pacer.wait() is False  # re-armed: no ack since the last wait, so it waits out the timeout
    assert 0.18 <= time.monotonic() - t0 < 1.0


def test_the_first_wait_needs_an_ack_too():
    pacer = Pacer(timeout_s=0.05)
    t0 = time.monotonic()
    assert pacer.wait() is False
    assert time.monotonic() - t0 >= 0.045


def test_an_ack_from_another_thread_wakes_the_waiter_early():
    pacer = Pacer(timeout_s=5.0)
    timer = threading.Timer(0.05, pacer.ack)
    timer.start()
    t0 = time.monotonic()
    assert pacer.wait() is True
    elapsed = time.monotonic() - t0
    timer.join()
    assert 0.04 <= elapsed < 2.0


def test_several_acks_count_once():
    pacer = Pacer(timeout_s=0.05)
    pacer.ack()
    pacer.ack()
    assert pacer.wait() is True
    assert pacer.wait() is False


def test_release_frees_a_current_waiter_and_every_later_wait():
    pacer = Pacer(timeout_s=10.0)
    returned = []
    waiter = threading.Thread(target=lambda: returned.append(pacer.wait()))
    waiter.start()
    time.sleep(0.05)
    assert waiter.is_alive()  # blocked: no ack yet
    pacer.release()
    waiter.join(2.0)
    assert not waiter.is_alive() and returned == [True]
    assert pacer.released
    t0 = time.monotonic()
    assert all(pacer.wait() for _ in range(100))  # never blocks again
    assert time.monotonic() - t0 < 1.0


def test_statistics_read_as_people_write_them():
    from desktop.runs import fmt

    assert fmt.stat(0.95341) == "0.953" and fmt.stat(3.05e-35) == "3.05e-35" and fmt.stat(1204.4) == "1,204"
    assert fmt.stat(None) == fmt.stat(float("nan")) == fmt.stat(float("inf")) == "—"
    assert fmt.stat("ks") == "ks" and fmt.stat(0) == "0.000"
