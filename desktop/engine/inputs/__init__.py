"""Input readers: images, DICOM files and CSV tables, and expansion of folders into items."""

from __future__ import annotations

import os
import re
import stat
from enum import Enum
from pathlib import Path
from typing import NamedTuple

from ..files import regular_file_problem
from .dicomseries import group_series, has_dicom_preamble, may_be_dicom, read_header, series_items, split_frame
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
    series: object = None  # the dicomseries.Series a DICOM slice or frame belongs to; None otherwise


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


def _folder_scan(folder: Path, tables: list | None = None) -> tuple[list[Path], list[InputItem]]:
    """The images and DICOM files in a folder, and the entries that are refused rather than read.

    ``tables``, when given, collects the folder's CSV and TSV files (not scored from a folder
    unless the caller asks: see :func:`expand_inputs`).

    A folder stands for what is inside it: a file reached through a symbolic link that
    resolves outside the folder is refused with a reason rather than read, and a linked
    sub-folder is not followed (one that leads outside is reported, so nothing goes missing
    without a word). A link to a file inside the folder is read as usual. An entry named as
    an image that is not a regular file (a FIFO, a device, a socket) is refused too: reading
    it would block or never end.

    The walk uses ``os.scandir``, whose entries know their type from the listing itself:
    a regular file costs no system call of its own; a link is followed with one ``stat``.
    """
    root = folder.resolve()
    found, refused = [], []
    pending = [str(folder)]
    while pending:
        try:
            with os.scandir(pending.pop()) as listing:
                entries = list(listing)
        except OSError:
            continue  # an unreadable sub-folder is skipped, as os.walk does
        for entry in entries:
            name = entry.name
            if name.startswith("."):
                continue
            try:
                is_dir = entry.is_dir()
            except OSError:
                is_dir = False
            if is_dir:
                if not entry.is_symlink():
                    pending.append(entry.path)
                    continue
                sub = Path(entry.path)
                target = _target(sub)
                if not _inside(target, root):
                    refused.append(InputItem(
                        path=str(sub), kind=InputKind.INVALID,
                        problem=f"{name}: a link to the folder {target or '(a loop)'}, outside {folder.name}; "
                                "not followed (add that folder itself to score it)"))
                continue
            kind = kind_of(name)
            if kind is None and may_be_dicom(name) and has_dicom_preamble(entry.path):
                kind = InputKind.DICOM  # a DICOM file named by its UID or without an extension
            if kind not in (InputKind.IMAGE, InputKind.DICOM):
                if kind == InputKind.TABLE and tables is not None:
                    tables.append(Path(entry.path))
                continue
            path = Path(entry.path)  # normalised as the items' paths always were ("./a" is "a")
            if entry.is_symlink():
                target = _target(path)
                if not _inside(target, root):
                    refused.append(InputItem(
                        path=str(path), kind=InputKind.INVALID,
                        problem=f"{name}: a link to {target or '(a loop)'}, outside {folder.name}; not read "
                                "(add that file itself to score it)"))
                    continue
            try:
                regular = entry.is_file()  # the listing's type; one stat for a link
            except OSError:
                regular = True  # let the decoder say what is wrong with it
            if not regular:
                problem = regular_file_problem(path, name=name)
                if problem:  # None: a broken link, which the decoder reports as a missing file
                    refused.append(InputItem(path=str(path), kind=InputKind.INVALID, problem=problem))
                    continue
            found.append(path)
    key = lambda p: natural_key(str(Path(p).relative_to(folder)))  # noqa: E731
    return sorted(found, key=key), sorted(refused, key=lambda i: key(i.path))


def _folder_items(folder: Path, folder_tables="auto", left_out: list | None = None) -> list[InputItem]:
    """A folder's items in natural order: its images and DICOM files, and its refused links in place;
    its CSV files too as ``folder_tables`` says (see :func:`expand_inputs`), else into ``left_out``."""
    tables: list = []
    files, refused = _folder_scan(folder, tables)
    images = [f for f in files if kind_of(f) == InputKind.IMAGE]
    dicom = [f for f in files if kind_of(f) != InputKind.IMAGE]  # named .dcm, or found by their preamble
    items = [InputItem(path=str(f), kind=InputKind.IMAGE) for f in images] + refused
    take = folder_tables is True or (folder_tables == "auto" and not files)
    if take:
        items += [InputItem(path=str(t), kind=InputKind.TABLE, rows=max(_count_rows(t), 1)) for t in tables
                  if t.is_file()]
    elif left_out is not None:
        left_out.extend(str(t) for t in tables)
    items = sorted(items, key=lambda i: natural_key(str(Path(i.path).relative_to(folder))))
    return items + _dicom_items(dicom)


def _dicom_items(files) -> list[InputItem]:
    """A folder's DICOM files as series (see :mod:`.dicomseries`): each series' slices and frames in
    order, then the files that are not usable images, each with its reason."""
    if not files:
        return []
    series, bad = group_series(files)
    out: list[InputItem] = []
    for s in series:
        out += series_items(s)
    return out + bad


def _named_dicom(path: Path) -> list[InputItem]:
    """A DICOM file named directly: itself, or one item per frame when it holds several."""
    ds = read_header(str(path))
    try:
        frames = int(ds.get("NumberOfFrames", 1) or 1) if ds is not None else 1
    except (TypeError, ValueError):
        frames = 1
    if frames <= 1:
        return [InputItem(path=str(path), kind=InputKind.DICOM)]
    series, bad = group_series([str(path)], {str(path): ds})
    return [i for s in series for i in series_items(s)] + bad


def expand_inputs(paths, folder_tables="auto", left_out: list | None = None) -> list[InputItem]:
    """Turn what the user gave (files, folders) into items, in order.

    Folders expand to the images and DICOM files inside them (recursively, natural sort),
    the DICOM files (named .dcm, or any name holding the DICM preamble) grouped into series,
    each in slice order with a multi-frame file's frames as items ``file.dcm#frame=N`` (see
    :mod:`.dicomseries`; each such item's ``series`` is its Series), after the images; with an ``invalid`` item in place of each symbolic link that leads out of the folder and
    of each entry that is not a regular file. A folder's CSV files are taken as
    ``folder_tables`` says: True (for a model that takes tables), False (only when named
    directly), or "auto": when the folder holds no image or DICOM file. Those not taken are
    added to ``left_out``, for the caller to say so.
    A multi-frame DICOM file named directly gives its frames too, and a frame's own path
    (``file.dcm#frame=3``) is taken as it is.
    Paths that cannot be read, paths that are not regular files (a FIFO, a device such as
    ``/dev/zero``, a socket: reading one would block or never end), and files of unsupported
    types named directly, become ``invalid`` items carrying the reason.
    """
    items: list[InputItem] = []
    for raw in paths:
        p = Path(raw)
        try:
            st = p.stat()  # one stat answers whether it exists, is a folder, is a regular file
        except (FileNotFoundError, NotADirectoryError, ValueError):
            st = None
        except OSError as exc:  # no permission, a link loop
            items.append(InputItem(path=str(p), kind=InputKind.INVALID,
                                   problem=f"{p.name}: cannot read the file ({exc.strerror or exc})"))
            continue
        if st is not None and stat.S_ISDIR(st.st_mode):
            found = _folder_items(p, folder_tables, left_out)
            if not found:
                items.append(InputItem(path=str(p), kind=InputKind.INVALID,
                                       problem=f"Folder {p.name} holds no supported images, DICOM or CSV "
                                               "files"))
            items.extend(found)
            continue
        if st is None:
            file, frame = split_frame(str(raw))
            if frame is not None and os.path.isfile(file):  # one frame of a multi-frame file, as items name it
                items.append(InputItem(path=str(raw), kind=InputKind.DICOM))
                continue
            items.append(InputItem(path=str(p), kind=InputKind.INVALID, problem=f"File not found: {p}"))
            continue
        problem = regular_file_problem(p, st)
        if problem:
            items.append(InputItem(path=str(p), kind=InputKind.INVALID, problem=problem))
            continue
        kind = kind_of(p)
        if kind is None and may_be_dicom(p.name) and has_dicom_preamble(p):
            kind = InputKind.DICOM
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
        elif kind == InputKind.DICOM:
            items.extend(_named_dicom(p))
        else:
            items.append(InputItem(path=str(p), kind=kind))
    return items
