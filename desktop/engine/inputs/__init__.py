"""Input readers: images, DICOM files and CSV tables, and expansion of folders into items."""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path

IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".jpe", ".bmp", ".dib", ".tif", ".tiff", ".webp", ".gif")
DICOM_EXTENSIONS = (".dcm", ".dicom")
TABLE_EXTENSIONS = (".csv", ".tsv")
SUPPORTED_EXTENSIONS = IMAGE_EXTENSIONS + DICOM_EXTENSIONS + TABLE_EXTENSIONS


@dataclass(frozen=True)
class InputItem:
    """One thing the user gave: an image, a DICOM file or a table file (with its row count)."""

    path: str
    kind: str  # "image" | "dicom" | "table" | "invalid"
    rows: int = 1  # results this item will give (CSV data rows; 1 otherwise)
    problem: str | None = None  # why it cannot be scored, known before scoring


def kind_of(path: str | os.PathLike) -> str | None:
    ext = os.path.splitext(str(path))[1].lower()
    if ext in IMAGE_EXTENSIONS:
        return "image"
    if ext in DICOM_EXTENSIONS:
        return "dicom"
    if ext in TABLE_EXTENSIONS:
        return "table"
    return None


def natural_key(text: str):
    """Sort key that puts img2 before img10 and ignores case."""
    return [int(part) if part.isdigit() else part.lower() for part in re.split(r"(\d+)", text)]


def _folder_files(folder: Path) -> list[Path]:
    found = []
    for root, dirs, files in os.walk(folder, followlinks=False):
        dirs[:] = [d for d in dirs if not d.startswith(".")]
        for name in files:
            if name.startswith("."):
                continue
            if kind_of(name) in ("image", "dicom"):
                found.append(Path(root) / name)
    return sorted(found, key=lambda p: natural_key(str(p.relative_to(folder))))


def expand_inputs(paths, count_rows: bool = True) -> list[InputItem]:
    """Turn what the user gave (files, folders) into items, in order.

    Folders expand to the images and DICOM files inside them (recursively, natural sort);
    CSV files are taken only when named directly. Paths that cannot be read, and files
    of unsupported types named directly, become ``invalid`` items carrying the reason.
    """
    from .tabular import count_rows as _count

    items: list[InputItem] = []
    for raw in paths:
        p = Path(raw)
        if p.is_dir():
            files = _folder_files(p)
            if not files:
                items.append(InputItem(str(p), "invalid", 1, f"Folder {p.name} holds no supported images"))
            items.extend(InputItem(str(f), kind_of(f)) for f in files)
            continue
        if not p.exists():
            items.append(InputItem(str(p), "invalid", 1, f"File not found: {p}"))
            continue
        kind = kind_of(p)
        if kind is None:
            items.append(InputItem(
                str(p), "invalid", 1,
                f"{p.name}: not a supported input; use images ({', '.join(e[1:] for e in IMAGE_EXTENSIONS[:4])}, "
                "TIFF, WebP, GIF), DICOM (.dcm) or CSV files",
            ))
            continue
        if kind == "table":
            rows = _count(p) if count_rows else 1
            items.append(InputItem(str(p), kind, max(rows, 1)))
        else:
            items.append(InputItem(str(p), kind))
    return items
