"""A reader that waits for its viewer: the next chunk of a past run is read once the last is shown (no Qt)."""

from __future__ import annotations

import threading


class Pacer:
    """Lets a reading thread go one step at a time, as fast as the window shows what it read.

    The reader calls :meth:`wait` after handing over a chunk; the window calls :meth:`ack`
    once it has shown it. ``wait`` returns as soon as an ``ack`` came since the last ``wait``
    (at once if it came before), or after ``timeout_s`` at the latest, and then re-arms.

    Why: reading a stored chunk (SQLite, ``np.load``, building columns) is Python work, and
    while the window appends and paints on its own thread the two take turns at the
    interpreter lock, so reading ahead makes both slower; and chained on the window's thread
    instead, one chunk per turn of the event loop, the reading starved its timers and paints
    (one tick in about 100 ms while a million-row run opened). A ``threading.Event`` is set
    by ``ack`` and cleared by ``wait``: the reader sleeps in the kernel, holding no lock.
    The timeout keeps a reader whose window missed an ``ack`` going, slowly.

    :meth:`release` (on cancel) makes every wait, current and later, return at once, so a
    reader asked to stop notices without waiting out the timeout.
    """

    def __init__(self, timeout_s: float = 0.5):
        self.timeout_s = timeout_s
        self._ack = threading.Event()
        self._lock = threading.Lock()  # release() and wait()'s re-arming: a release is never undone
        self._released = False

    def wait(self) -> bool:
        """Block until :meth:`ack` was called since the last wait (or since this Pacer was made), at most
        ``timeout_s``, then re-arm; True if it was acknowledged (or released), False on the timeout."""
        acked = self._ack.wait(self.timeout_s)
        with self._lock:
            if not self._released:
                self._ack.clear()
        return acked

    def ack(self) -> None:
        """The last chunk is shown: the reader may read the next."""
        self._ack.set()

    def release(self) -> None:
        """Never block again (the reading is cancelled)."""
        with self._lock:
            self._released = True
            self._ack.set()

    @property
    def released(self) -> bool:
        return self._released
