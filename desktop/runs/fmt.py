"""Numbers as a reader wants them: 3 significant digits for scores, ms, thousands separators (no Qt)."""

from __future__ import annotations

import math

from desktop.engine.results import short_number


def score(value) -> str:
    """A score or model value to 3 significant digits ('0.973', '1.2e-05', '152')."""
    return short_number(value)


def ms(value) -> str:
    """Milliseconds: '0.42', '12.3', '1,234'."""
    if value is None:
        return ""
    v = float(value)
    if not math.isfinite(v):
        return "—"
    if v < 10:
        return f"{v:.2f}"
    if v < 100:
        return f"{v:.1f}"
    return f"{v:,.0f}"


def count(n) -> str:
    return f"{int(n):,}"


def plural(n: int, word: str, many: str | None = None) -> str:
    return f"{count(n)} {word if n == 1 else (many or word + 's')}"


def size(n: int) -> str:
    """A file size, as the command line prints it ('69.4 kB')."""
    from desktop.engine.model import human_size

    return human_size(n)


def duration(seconds: float) -> str:
    """'0:07', '2:05', '1:02:03'."""
    if seconds is None or not math.isfinite(seconds):
        return "—"
    s = int(round(max(0.0, seconds)))
    h, rem = divmod(s, 3600)
    m, s = divmod(rem, 60)
    return f"{h}:{m:02d}:{s:02d}" if h else f"{m}:{s:02d}"


def rate(per_second: float) -> str:
    if not per_second or not math.isfinite(per_second):
        return "—"
    return f"{per_second:,.0f}/s" if per_second >= 10 else f"{per_second:.1f}/s"


def stat(value, digits: int = 3) -> str:
    """A statistic, a metric or a p-value: ``0.953``, ``3.05e-35`` (a tiny one), ``1,204``; ``—`` when there is
    none (None, NaN, infinite); text as it is."""
    if value is None:
        return "—"
    try:
        v = float(value)
    except (TypeError, ValueError):
        return str(value)
    if not math.isfinite(v):
        return "—"
    if abs(v) >= 1000:
        return f"{v:,.0f}"
    return f"{v:.{digits - 1}e}" if 0 < abs(v) < 10 ** -digits else f"{v:.{digits}f}"
