"""Refuse what is not a regular file (a FIFO, a device, a socket) before reading it: such a path blocks or never ends.

A FIFO blocks its reader until something writes to it, and ``/dev/zero`` (or a link to it
named ``x.png``) reads forever: hashing or counting the rows of either never returns. The
path is checked with ``stat`` when items are made (:func:`regular_file_problem`), and again
on the open descriptor when the file is read (:func:`open_regular`), since a file can be
replaced between the two.
"""

from __future__ import annotations

import hashlib
import os
import stat
from typing import BinaryIO

from .errors import InputError

# O_NONBLOCK: opening a FIFO for reading returns at once instead of waiting for a writer (the
# flag changes nothing for a regular file). O_NOCTTY: a terminal opened by mistake is not
# made the process's controlling one. Neither exists on Windows, which has no FIFOs in files.
_OPEN_FLAGS = (os.O_RDONLY | getattr(os, "O_BINARY", 0) | getattr(os, "O_NONBLOCK", 0)
               | getattr(os, "O_NOCTTY", 0))

_KINDS = ((stat.S_ISFIFO, "a FIFO"), (stat.S_ISCHR, "a character device"), (stat.S_ISBLK, "a block device"),
          (stat.S_ISSOCK, "a socket"), (stat.S_ISDIR, "a folder"))


def _what(path, mode: int) -> str:
    """What a non-regular file is, in words; through a link, where the link leads too."""
    what = next((text for test, text in _KINDS if test(mode)), "a special file")
    try:
        if os.path.islink(path):
            return f"a link to {os.path.realpath(path)}, {what}"
    except (OSError, ValueError):
        pass
    return what


def _refusal(path, mode: int, name: str | None) -> str:
    return f"{name or os.path.basename(os.fspath(path))}: not a regular file ({_what(path, mode)})"


def regular_file_problem(path, st: os.stat_result | None = None, name: str | None = None) -> str | None:
    """Why ``path`` (links followed) cannot be read as a file, or None for a regular file.

    A path that cannot be stat'ed (missing, a broken link, no permission) is None too: the
    caller's own open says why, in its words. ``st`` is a stat result already taken.

    Returns
    -------
    str or None
        ``"x.png: not a regular file (a FIFO)"`` and the like.
    """
    if st is None:
        try:
            st = os.stat(path)
        except (OSError, ValueError):
            return None
    if stat.S_ISREG(st.st_mode):
        return None
    return _refusal(path, st.st_mode, name)


def require_regular_file(path, error: type[Exception] = InputError, name: str | None = None) -> None:
    """Raise ``error`` when ``path`` exists but is not a regular file (see :func:`regular_file_problem`).

    Parameters
    ----------
    path
        The file, links followed.
    error
        The exception to raise, with the message as its one argument (``ModelError`` for a
        model; ``OSError`` where the callers already treat an unreadable file as one).
    name
        How the message names the file (default: its base name).
    """
    problem = regular_file_problem(path, name=name)
    if problem:
        raise error(problem)


def open_regular(path, error: type[Exception] = InputError, name: str | None = None) -> BinaryIO:
    """Open a file for binary reading, refusing with ``error`` what its open descriptor shows is not a regular file.

    The open itself never blocks on a FIFO. OSError from the open (missing, no permission)
    is raised as it is.
    """
    fd = os.open(path, _OPEN_FLAGS)
    try:
        mode = os.fstat(fd).st_mode
        if not stat.S_ISREG(mode):
            raise error(_refusal(path, mode, name))
        return os.fdopen(fd, "rb")
    except BaseException:
        os.close(fd)
        raise


def sha256_regular(path, chunk: int = 1 << 20) -> str:
    """Hex SHA-256 of a regular file, read in chunks; InputError for anything else (it would never end)."""
    h = hashlib.sha256()
    with open_regular(path) as fh:
        while block := fh.read(chunk):
            h.update(block)
    return h.hexdigest()
