"""Input readers: images, DICOM files and CSV tables, and expansion of folders into items."""

from __future__ import annotations

import os
import re
from enum import Enum
from pathlib import Path
from typing import NamedTuple

from .tabular import count_rows as _count_rows

IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".jpe", ".bmp", ".dib", ".tif", ".tiff", ".webp", ".gif")
DICOM_EXTENSIONS = (".dcm", ".dicom")
TABLE_EXTENSIONS = (".csv", ".tsv")
SUPPORTED_EXTENSIONS = IMAGE_EXTENSIONS + DICOM_EXTENSIONS + TABLE_EXTENSIONS


class InputKind(str, Enum):
    """What an input is (``InputItem.kind``, ``Result.kind``, a ResultBatch's ``source_kinds``).

    Valued by its text and a ``str`` itself, so it equals, hashes, formats and is written to
    JSON and the store as that text: code comparing with ``"image"`` keeps working.
    """

    IMAGE = "image"
    DICOM = "dicom"
    TABLE = "table"  # a CSV or TSV file, one result per data row
    TENSOR = "tensor"  # an already-made input tensor (batch.run_tensors)
    INVALID = "invalid"  # cannot be scored; ``InputItem.problem`` says why

    __str__ = str.__str__
    __format__ = str.__format__


class InputItem(NamedTuple):
    """One thing the user gave: an image, a DICOM file or a table file (with its row count).

    A NamedTuple, not a frozen dataclass: folders of many thousands of files make one each,
    and a tuple is made without a frozen dataclass's ``object.__setattr__`` for every field.
    """

    path: str
    kind: InputKind
    rows: int = 1  # results this item will give (CSV data rows; 1 otherwise)
    problem: str | None = None  # why it cannot be scored, known before scoring


def kind_of(path: str | os.PathLike) -> InputKind | None:
    ext = os.path.splitext(str(path))[1].lower()
    if ext in IMAGE_EXTENSIONS:
        return InputKind.IMAGE
    if ext in DICOM_EXTENSIONS:
        return InputKind.DICOM
    if ext in TABLE_EXTENSIONS:
        return InputKind.TABLE
    return None


def natural_key(text: str):
    """Sort key that puts img2 before img10 and ignores case."""
    return [int(part) if part.isdigit() else part.lower() for part in re.split(r"(\d+)", text)]


def _inside(path: Path | None, root: Path) -> bool:
    return path is not None and (path == root or root in path.parents)


def _target(link: Path) -> Path | None:
    """Where a symbolic link leads, or None when it cannot be followed (a loop)."""
    try:
        return link.resolve()
    except (OSError, RuntimeError):
        return None


def _folder_scan(folder: Path) -> tuple[list[Path], list[InputItem]]:
    """The images and DICOM files in a folder, and the links leaving it (which are not read).

    A folder stands for what is inside it: a file reached through a symbolic link that
    resolves outside the folder is refused with a reason rather than read, and a linked
    sub-folder is not followed (one that leads outside is reported, so nothing goes missing
    without a word). A link to a file inside the folder is read as usual.
    """
    root = folder.resolve()
    found, refused = [], []
    for where, dirs, files in os.walk(folder, followlinks=False):
        base = Path(where)
        dirs[:] = [d for d in dirs if not d.startswith(".")]
        for d in dirs:
            sub = base / d
            if sub.is_symlink():
                target = _target(sub)
                if not _inside(target, root):
                    refused.append(InputItem(
                        path=str(sub), kind=InputKind.INVALID,
                        problem=f"{d}: a link to the folder {target or '(a loop)'}, outside {folder.name}; "
                                "not followed (add that folder itself to score it)"))
        for name in files:
            if name.startswith("."):
                continue
            if kind_of(name) in (InputKind.IMAGE, InputKind.DICOM):
                path = base / name
                if path.is_symlink():
                    target = _target(path)
                    if not _inside(target, root):
                        refused.append(InputItem(
                            path=str(path), kind=InputKind.INVALID,
                            problem=f"{name}: a link to {target or '(a loop)'}, outside {folder.name}; not read "
                                    "(add that file itself to score it)"))
                        continue
                found.append(path)
    key = lambda p: natural_key(str(Path(p).relative_to(folder)))  # noqa: E731
    return sorted(found, key=key), sorted(refused, key=lambda i: key(i.path))


def _folder_items(folder: Path) -> list[InputItem]:
    """A folder's items in natural order: its images and DICOM files, and its refused links in place."""
    files, refused = _folder_scan(folder)
    items = [InputItem(path=str(f), kind=kind_of(f)) for f in files] + refused
    return sorted(items, key=lambda i: natural_key(str(Path(i.path).relative_to(folder))))


def expand_inputs(paths) -> list[InputItem]:
    """Turn what the user gave (files, folders) into items, in order.

    Folders expand to the images and DICOM files inside them (recursively, natural sort),
    with an ``invalid`` item in place of each symbolic link that leads out of the folder;
    CSV files are taken only when named directly. Paths that cannot be read, and files
    of unsupported types named directly, become ``invalid`` items carrying the reason.
    """
    items: list[InputItem] = []
    for raw in paths:
        p = Path(raw)
        if p.is_dir():
            found = _folder_items(p)
            if not found:
                items.append(InputItem(path=str(p), kind=InputKind.INVALID,
                                       problem=f"Folder {p.name} holds no supported images"))
            items.extend(found)
            continue
        if not p.exists():
            items.append(InputItem(path=str(p), kind=InputKind.INVALID, problem=f"File not found: {p}"))
            continue
        kind = kind_of(p)
        if kind is None:
            items.append(InputItem(
                path=str(p), kind=InputKind.INVALID,
                problem=f"{p.name}: not a supported input; use images "
                        f"({', '.join(e[1:] for e in IMAGE_EXTENSIONS[:4])}, TIFF, WebP, GIF), "
                        "DICOM (.dcm) or CSV files",
            ))
            continue
        if kind == InputKind.TABLE:
            items.append(InputItem(path=str(p), kind=kind, rows=max(_count_rows(p), 1)))
        else:
            items.append(InputItem(path=str(p), kind=kind))
    return items
