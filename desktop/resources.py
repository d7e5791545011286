"""Where bundled files live (sample models, sample inputs, icons), from a checkout or a PyInstaller bundle."""

from __future__ import annotations

import sys
from pathlib import Path

SAMPLE_MODEL = "models/digits.onnx"
SAMPLE_INPUTS = ("resources/samples/digits",)


def resource_root() -> Path:
    """The folder that holds ``models/`` and ``resources/``.

    In a PyInstaller bundle this is ``sys._MEIPASS``; otherwise the folder above the
    ``desktop`` package (the repository root, or the install prefix with data files).
    """
    frozen = getattr(sys, "_MEIPASS", None)
    if getattr(sys, "frozen", False) and frozen:
        return Path(frozen)
    import desktop

    return Path(desktop.__file__).resolve().parent.parent


def resource_path(relative: str) -> Path:
    """A bundled file by its path relative to :func:`resource_root`."""
    return resource_root() / relative


def sample_model() -> Path | None:
    """The model the window opens with when started without arguments, or None if it is not bundled."""
    p = resource_path(SAMPLE_MODEL)
    return p if p.is_file() else None


def sample_inputs() -> list[Path]:
    """The sample inputs queued with :func:`sample_model` (those that exist)."""
    return [p for p in (resource_path(s) for s in SAMPLE_INPUTS) if p.exists()]


def icon_path(ext: str = "svg") -> Path:
    """The application icon (``svg`` or ``png``)."""
    return resource_path(f"resources/icons/inferdesk.{ext}")
