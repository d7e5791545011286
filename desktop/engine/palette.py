"""Class colours shared by the window's overlay and the mask exports' legend (no Qt)."""

from __future__ import annotations

#: per-class colours, as Ultralytics' ``Colors`` palette gives them (class i takes PALETTE[i % 20])
PALETTE = ("FF3838", "FF9D97", "FF701F", "FFB21D", "CFD231", "48F90A", "92CC17", "3DDB86", "1A9334", "00D4BB",
           "2C99A8", "00C2FF", "344593", "6473FF", "0018EC", "8438FF", "520085", "CB38FF", "FF95C8", "FF37C7")


def class_hex(index: int) -> str:
    """``"#RRGGBB"`` of class ``index``, as the overlay draws it."""
    return "#" + PALETTE[int(index) % len(PALETTE)]
