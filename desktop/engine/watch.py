"""Watching a folder for new files, each handed on once it is completely written (no Qt).

watchdog's Observer (its PollingObserver with ``poll=True``, for network shares, where native
change events do not arrive) says which paths changed; :class:`FolderWatcher` keeps each of them
until its size and modification time have stayed the same for ``settle_s`` and it opens for
reading. Only then is it *ready*: a file still being copied keeps changing, and is never ready.
"""

from __future__ import annotations

import os
import stat
import threading
import time
from pathlib import Path
from typing import Callable, Iterable

from watchdog.events import FileSystemEventHandler
from watchdog.observers import Observer
from watchdog.observers.polling import PollingObserver

from .errors import EngineError

TEMPORARY_SUFFIXES = (".part", ".tmp", ".crdownload", ".partial", ".download")


def is_temporary(path: str | os.PathLike) -> bool:
    """True for a hidden file or one a copy or download is still writing (``.x``, ``~x``, ``x~``, ``x.part``...)."""
    name = Path(path).name
    return (not name or name.startswith((".", "~")) or name.endswith("~")
            or name.lower().endswith(TEMPORARY_SUFFIXES))


class _Handler(FileSystemEventHandler):
    def __init__(self, watcher: "FolderWatcher"):
        self.watcher = watcher

    def on_created(self, event):
        if not event.is_directory:
            self.watcher._seen(event.src_path)

    def on_modified(self, event):
        if not event.is_directory:
            self.watcher._seen(event.src_path)

    def on_closed(self, event):
        if not event.is_directory:
            self.watcher._seen(event.src_path)

    def on_moved(self, event):
        if not event.is_directory:
            self.watcher._seen(event.dest_path)  # a download renamed from x.part to x arrives here


class FolderWatcher:
    """Say which files in ``folder`` are new and completely written, each once.

    Parameters
    ----------
    folder
        The folder to watch; the files already in it count as new too.
    settle_s
        How long a file's size and modification time must stay unchanged before it is ready.
    poll
        Use watchdog's PollingObserver (a listing every ``poll_interval_s``) instead of the
        system's change events: for network shares, where those events do not arrive.
    recursive
        Watch the folder's subfolders too (hidden ones are left alone).
    on_ready
        Called as ``on_ready(path)`` from the watcher's own thread for each ready file. Without
        it, ask with :meth:`ready_files`.
    ignore
        Folders whose files are never reported (say, the done and failed folders inside ``folder``).
    poll_interval_s
        How often the polling observer lists the folder and the watcher looks at waiting files
        (default: a quarter of ``settle_s``, between 0.05 and 0.5 s).

    A file rewritten after it was reported (new size or modification time) is reported again.
    Hidden and temporary files (:func:`is_temporary`) are ignored. Use as a context manager, or
    call :meth:`start` and :meth:`stop`.
    """

    def __init__(self, folder: str | os.PathLike, *, settle_s: float = 1.0, poll: bool = False,
                 recursive: bool = False, on_ready: Callable[[str], None] | None = None,
                 ignore: Iterable[str | os.PathLike] = (), poll_interval_s: float | None = None):
        self.folder = os.path.abspath(folder)
        if not os.path.isdir(self.folder):
            raise EngineError(f"Cannot watch {self.folder}: it is not a folder")
        self.settle_s = float(settle_s)
        self.poll = poll
        self.recursive = recursive
        self.on_ready = on_ready
        self.ignore = tuple(os.path.abspath(p) for p in ignore if p)
        self.interval_s = poll_interval_s or max(0.05, min(0.5, self.settle_s / 4))
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._stopped = threading.Event()
        self._waiting: dict[str, tuple] = {}  # path -> (size, mtime_ns, monotonic time it last changed)
        self._reported: dict[str, tuple] = {}  # path -> (size, mtime_ns) when it was reported
        self._observer = None
        self._thread = None

    # ------------------------------------------------------------------ life
    def start(self) -> "FolderWatcher":
        """Begin watching, and take the files already in the folder as new."""
        observer = PollingObserver(timeout=self.interval_s) if self.poll else Observer()
        observer.schedule(_Handler(self), self.folder, recursive=self.recursive)
        try:
            observer.start()
        except OSError as exc:  # inotify's watch limit, a folder gone meanwhile
            raise EngineError(f"Cannot watch {self.folder}: {exc.strerror or exc}"
                              + ("" if self.poll else " (polling, as for a network share, may work)")) from exc
        self._observer = observer
        for path in self._listing():
            self._seen(path)
        if self.on_ready is not None:
            self._thread = threading.Thread(target=self._run, name="inferdesk-watch", daemon=True)
            self._thread.start()
        return self

    def stop(self) -> None:
        """Stop watching (waits for the watcher's threads)."""
        self._stopped.set()
        self._wake.set()
        if self._observer is not None:
            self._observer.stop()
            self._observer.join()
            self._observer = None
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join()
            self._thread = None

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()

    def _run(self) -> None:
        while not self._stopped.is_set():
            for path in self._check():
                if self._stopped.is_set():
                    return
                self.on_ready(path)
            self._wake.wait(self.interval_s)
            self._wake.clear()

    # ------------------------------------------------------------------ files
    def _listing(self) -> list[str]:
        if self.recursive:
            found = []
            for root, dirs, files in os.walk(self.folder):
                dirs[:] = sorted(d for d in dirs if not d.startswith(".")
                                 and not self._ignored(os.path.join(root, d)))
                found += [os.path.join(root, f) for f in sorted(files)]
            return found
        try:
            return [e.path for e in sorted(os.scandir(self.folder), key=lambda e: e.name) if e.is_file()]
        except OSError:
            return []

    def _ignored(self, path: str) -> bool:
        return any(path == d or path.startswith(d + os.sep) for d in self.ignore)

    def _seen(self, path) -> None:
        path = os.path.abspath(os.fsdecode(path))
        if is_temporary(path) or self._ignored(path):
            return
        rel = os.path.relpath(path, self.folder)
        if rel.startswith(os.pardir) or (os.sep in rel and (not self.recursive or any(
                part.startswith(".") for part in rel.split(os.sep)[:-1]))):
            return
        with self._lock:
            self._waiting.setdefault(path, (None, None, time.monotonic()))
        self._wake.set()

    def _check(self) -> list[str]:
        """The waiting files that are ready now, each taken off the waiting list."""
        now = time.monotonic()
        ready = []
        with self._lock:
            for path, (size, mtime, since) in list(self._waiting.items()):
                try:
                    st = os.stat(path)
                except OSError:  # gone (moved away, deleted) before it was ready
                    del self._waiting[path]
                    self._reported.pop(path, None)
                    continue
                if not stat.S_ISREG(st.st_mode):
                    del self._waiting[path]
                    continue
                key = (st.st_size, st.st_mtime_ns)
                if key != (size, mtime):
                    self._waiting[path] = (*key, now)
                    continue
                if now - since < self.settle_s:
                    continue
                if self._reported.get(path) == key:  # an event for what was already reported
                    del self._waiting[path]
                    continue
                try:
                    with open(path, "rb"):  # on Windows a file still being copied does not open
                        pass
                except OSError:
                    self._waiting[path] = (*key, now)
                    continue
                del self._waiting[path]
                self._reported[path] = key
                ready.append(path)
        return sorted(ready)

    @property
    def waiting(self) -> int:
        """How many files have changed and are not yet ready."""
        with self._lock:
            return len(self._waiting)

    def ready_files(self, timeout: float | None = None) -> list[str]:
        """The files that became ready, waiting up to ``timeout`` seconds (None: until one is, or stop).

        Returns an empty list when none became ready in time. Not for use with ``on_ready``.
        """
        end = None if timeout is None else time.monotonic() + timeout
        while True:
            ready = self._check()
            if ready or self._stopped.is_set():
                return ready
            left = None if end is None else end - time.monotonic()
            if left is not None and left <= 0:
                return []
            self._wake.wait(self.interval_s if left is None else min(self.interval_s, left))
            self._wake.clear()
