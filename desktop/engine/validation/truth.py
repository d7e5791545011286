"""Ground truth in: a CSV column, class-named folders, a sidecar ``input,label`` CSV, COCO JSON or YOLO txt.

Whatever the source, a :class:`Truth` answers one question: what is the truth for the result
of ``input`` (a file) and ``row`` (its CSV data row, from 1; None for an image)? Paths are
compared absolute and normalised, so a run recorded in the history (absolute inputs) and one
scored from a relative path find the same truth. A sidecar's or a COCO file's names may be
bare file names: they are then matched by name, unless two of them share a name (then only by
path: a guess between two files is no truth).

Labels are matched to the model's class names by :func:`match_labels`: by name (exactly, then
ignoring case and surrounding space), or by class index when the value is a whole number that
is no class name. Anything else is *unmatched*: counted and listed, never guessed.
"""

from __future__ import annotations

import csv
import json
import os
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import EngineError

#: CSV columns offered as the truth without being named (compared ignoring case and space)
TRUTH_COLUMN_NAMES = ("label", "target", "class", "diagnosis", "y", "truth")
#: a sidecar's column naming the input, first found wins (else its first column)
_INPUT_COLUMNS = ("input", "file", "path", "image", "filename", "file_name")
_IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp", ".gif", ".dcm", ".dicom"}


class TruthError(EngineError):
    """The truth asked for cannot be read or does not fit the inputs; the message says which and why."""


def norm(path) -> str:
    """A path as truth keys compare it: absolute, normalised, case-folded where the file system folds."""
    return os.path.normcase(os.path.abspath(os.fspath(path)))


@dataclass
class Box:
    """One ground-truth box: its class (a name or a 0-based index, as the source gave it), xywh in pixels."""

    label: object
    bbox: tuple  # x, y, width, height, from the top-left corner, original-image pixels
    iscrowd: int = 0


@dataclass
class Truth:
    """The truth for each result, by ``(input, row)``.

    Attributes
    ----------
    source
        The source in words, for the report: "column 'diagnosis' of breast_cancer.csv".
    kind
        "column" (read from each CSV row's pass-through column ``column``), "files" (by file:
        folders, a sidecar, COCO, YOLO).
    values
        ``(norm(path), row)`` -> the raw truth (text, or a list of :class:`Box` for detection).
    names
        ``(file name, row)`` -> the raw truth, for sources that name files without folders.
    yolo
        A YOLO folder's truth is in boxes relative to the image's size: ``norm(image)`` lookups
        read the image's size when asked (see :meth:`lookup`).
    """

    source: str
    kind: str = "files"
    column: str | None = None
    values: dict = field(default_factory=dict)
    names: dict = field(default_factory=dict)
    yolo: dict = field(default_factory=dict)  # file stem -> [(class index, cx, cy, w, h)] (relative)
    columns: dict = field(default_factory=dict)  # a column truth: csv path -> its header
    stems: dict = field(default_factory=dict)  # file stem -> truth (segmentation masks by image stem)
    overrides: dict = field(default_factory=dict)  # (norm(path), row) -> a reviewer's correct answer: wins

    def lookup(self, input, row=None, passthrough=None):
        """The raw truth for one result (a reviewer's override first, when given), or None when there is none."""
        if self.overrides:
            found = self.overrides.get((norm(input), row))
            if found is not None:
                return found
        if self.kind == "column":
            if passthrough is None:
                return None
            value = passthrough.get(self.column)
            return None if value is None or str(value).strip() == "" else value
        key = (norm(input), row)
        if key in self.values:
            return self.values[key]
        name = (os.path.basename(os.fspath(input)), row)
        if name in self.names:
            return self.names[name]
        if self.stems:
            return self.stems.get(Path(os.fspath(input)).stem)
        if self.yolo:
            rel = self.yolo.get(Path(os.fspath(input)).stem)
            if rel is None:
                return None
            width, height = _image_size(input)
            return [Box(c, ((cx - w / 2) * width, (cy - h / 2) * height, w * width, h * height))
                    for c, cx, cy, w, h in rel]
        return None

    def __len__(self) -> int:
        return len(self.values) + len(self.names) + len(self.yolo) + len(self.stems) + len(self.overrides)


def _image_size(path) -> tuple:
    from PIL import Image

    try:
        with Image.open(path) as im:
            return im.size
    except OSError as exc:
        raise TruthError(f"{os.path.basename(os.fspath(path))}: cannot read the image's size for its YOLO "
                         f"labels ({exc})") from exc


def guess_truth_column(columns) -> str | None:
    """The first column named like a truth column (label, target, class, diagnosis, y, truth), or None."""
    folded = {str(c).strip().casefold(): c for c in columns}
    for name in TRUTH_COLUMN_NAMES:
        if name in folded:
            return folded[name]
    return None


def csv_header(path) -> list:
    """A CSV file's column names, read as the engine reads them (its delimiter and encoding)."""
    from ..inputs.tabular import TableReader

    reader = TableReader(path)
    try:
        return list(reader.header)
    finally:
        reader.close()


# ---------------------------------------------------------------------- the sources
def truth_from_column(column: str, csv_paths) -> Truth:
    """The truth in column ``column`` of each CSV input (read from the rows' pass-through columns).

    Raises TruthError naming the file and its columns when one of them has no such column.
    """
    headers = {}
    for path in csv_paths:
        header = csv_header(path)
        if column not in header:
            folded = [h for h in header if h.strip().casefold() == column.strip().casefold()]
            hint = f"; did you mean '{folded[0]}'?" if folded else ""
            raise TruthError(f"--truth {column}: no such column in {os.path.basename(path)}; its columns are "
                             f"{_listing(header)}{hint}")
        headers[path] = header
    if not headers:
        raise TruthError(f"--truth {column}: a column needs CSV inputs, and none was given")
    names = ", ".join(os.path.basename(p) for p in headers)
    return Truth(source=f"column '{column}' of {names}", kind="column", column=column, columns=headers)


def truth_from_folders(root) -> Truth:
    """Each image under ``root/<class>/...`` is of class ``<class>`` (the first folder below ``root``)."""
    root = Path(root)
    values = {}
    for sub in sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith(".")):
        for f in sorted(sub.rglob("*")):
            if f.is_file() and not f.name.startswith("."):
                values[(norm(f), None)] = sub.name
    if not values:
        raise TruthError(f"--truth {root}: no class folders with files in it (expected {root.name}/<class>/<image>)")
    return Truth(source=f"folder names under {root.name}/", values=values)


def _split_names(entries: dict) -> tuple[dict, dict]:
    """(by path, by bare name) from ``{(written path, row): value}``; a name two entries share is by path only."""
    values, names, count = {}, {}, {}
    for (written, row), v in entries.items():
        if os.path.dirname(written):
            values[(norm(written), row)] = v
        base = (os.path.basename(written), row)
        count[base] = count.get(base, 0) + 1
        names[base] = v
    return values, {k: v for k, v in names.items() if count[k] == 1}


def truth_from_sidecar(path) -> Truth:
    """A CSV of ``input,label`` (or ``input,value``): the input by path (relative to the CSV) or file name.

    An optional ``row`` column keys a CSV input's rows. Raises TruthError when the file has no
    label column.
    """
    path = Path(path)
    header = csv_header(path)
    if len(header) < 2:
        raise TruthError(f"--truth {path.name}: a truth CSV needs two columns, the input and its label "
                         f"(it has {_listing(header)})")
    folded = [h.strip().casefold() for h in header]
    i_in = next((folded.index(c) for c in _INPUT_COLUMNS if c in folded), 0)
    i_row = folded.index("row") if "row" in folded else None
    i_label = next((folded.index(c) for c in TRUTH_COLUMN_NAMES + ("value",) if c in folded and folded.index(c) != i_in),
                   next(j for j in range(len(header)) if j not in (i_in, i_row)))
    entries = {}
    from ..inputs.tabular import TableReader

    reader = TableReader(path)
    delimiter, encoding = reader.delimiter, reader.encoding
    reader.close()
    with open(path, encoding=encoding, newline="", errors="replace") as fh:
        rows = csv.reader(fh, delimiter=delimiter)
        next(rows, None)
        for record in rows:
            if not record or not any(c.strip() for c in record) or len(record) <= max(i_in, i_label):
                continue
            written = record[i_in].strip()
            if not written:
                continue
            row = None
            if i_row is not None and i_row < len(record) and record[i_row].strip():
                try:
                    row = int(record[i_row])
                except ValueError:
                    raise TruthError(f"--truth {path.name}: row '{record[i_row]}' is not a whole number") from None
            label = record[i_label].strip()
            if label == "":
                continue
            if os.path.dirname(written) and not os.path.isabs(written):
                written = str(path.parent / written)
            entries[(written, row)] = label
    if not entries:
        raise TruthError(f"--truth {path.name}: no rows with an input and a label")
    values, names = _split_names(entries)
    return Truth(source=f"{path.name} ({header[i_in]}, {header[i_label]})", values=values, names=names)


def truth_from_coco(path) -> Truth:
    """A COCO instances JSON (``images``, ``annotations``, ``categories``): each image's boxes, by file name.

    Category names are kept (matched to the model's class names later); images without
    annotations have no boxes (a true negative image), which is truth too.
    """
    path = Path(path)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        images = {int(im["id"]): str(im["file_name"]) for im in data["images"]}
        cats = {int(c["id"]): str(c["name"]) for c in data.get("categories", [])}
        anns = data.get("annotations", [])
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise TruthError(f"--truth {path.name}: not a COCO instances file ({type(exc).__name__}: {exc}); it needs "
                         "'images' (id, file_name), 'annotations' and 'categories'") from exc
    boxes = {i: [] for i in images}
    for a in anns:
        try:
            image, cat, bbox = int(a["image_id"]), int(a["category_id"]), tuple(float(v) for v in a["bbox"])
        except (KeyError, TypeError, ValueError) as exc:
            raise TruthError(f"--truth {path.name}: an annotation without image_id, category_id and bbox "
                             f"({exc})") from exc
        if image not in boxes or len(bbox) != 4:
            raise TruthError(f"--truth {path.name}: annotation {a.get('id')} names image {image}, which is not in "
                             "'images'" if image not in boxes else f"--truth {path.name}: a bbox needs 4 numbers")
        boxes[image].append(Box(cats.get(cat, str(cat)), bbox, int(a.get("iscrowd", 0) or 0)))
    entries = {}
    for i, name in images.items():
        written = name if os.path.isabs(name) or not os.path.dirname(name) else str(path.parent / name)
        entries[(written, None)] = boxes[i]
    values, names = _split_names(entries)
    return Truth(source=f"COCO annotations {path.name}", values=values, names=names)


def truth_from_yolo(folder) -> Truth:
    """A folder of YOLO ``<image stem>.txt`` label files: ``class cx cy w h`` relative to the image's size."""
    folder = Path(folder)
    found = {}
    for f in sorted(folder.glob("*.txt")):
        if f.name == "classes.txt":
            continue
        rows = []
        for n, line in enumerate(f.read_text(encoding="utf-8", errors="replace").splitlines(), 1):
            parts = line.split()
            if not parts:
                continue
            try:
                c, cx, cy, w, h = int(float(parts[0])), *(float(v) for v in parts[1:5])
            except (ValueError, TypeError):
                raise TruthError(f"--truth {folder.name}: {f.name} line {n} is not 'class cx cy w h' "
                                 f"({line.strip()[:60]!r})") from None
            rows.append((c, cx, cy, w, h))
        found[f.stem] = rows
    if not found:
        raise TruthError(f"--truth {folder.name}: no YOLO label files (<image stem>.txt) in it")
    return Truth(source=f"YOLO labels in {folder.name}/", yolo=found)


# ---------------------------------------------------------------------- choosing the source
def load_truth(spec, inputs=(), *, task: str = "classification") -> Truth:
    """The truth from what the user gave: a column name, a folder, a sidecar CSV or a COCO JSON.

    Parameters
    ----------
    spec
        ``--truth``'s value; None offers a CSV column named like a truth column
        (:data:`TRUTH_COLUMN_NAMES`), or, for one folder input, its class folders.
    inputs
        The inputs scored (files or folders): a column is looked for in their CSV files.
    task
        The model's task: for detection, a folder of ``.txt`` files is YOLO labels.
    """
    inputs = [os.fspath(p) for p in inputs]
    csvs = _csv_inputs(inputs)
    if spec is None:
        for path in csvs:
            column = guess_truth_column(csv_header(path))
            if column is not None:
                return truth_from_column(column, csvs)
        dirs = [p for p in inputs if os.path.isdir(p)]
        if len(dirs) == 1 and any(p.is_dir() for p in Path(dirs[0]).iterdir()):
            return truth_from_folders(dirs[0])
        raise TruthError("no truth given: name it with --truth COLUMN, FOLDER or FILE (no CSV column is named "
                         f"{', '.join(TRUTH_COLUMN_NAMES)})")
    spec = str(spec)
    if csvs and all(spec in csv_header(p) for p in csvs):
        return truth_from_column(spec, csvs)
    if os.path.isdir(spec):
        if task == "detection" and any(Path(spec).glob("*.txt")):
            return truth_from_yolo(spec)
        if task == "segmentation":
            return truth_from_masks(spec)
        return truth_from_folders(spec)
    if os.path.isfile(spec):
        if spec.lower().endswith(".json"):
            return truth_from_coco(spec)
        return truth_from_sidecar(spec)
    if csvs:
        return truth_from_column(spec, csvs)  # raises: no such column, with the file's columns
    raise TruthError(f"--truth {spec}: no such file or folder (and no CSV input has a column of that name)")


def _csv_inputs(inputs) -> list:
    out = []
    for p in inputs:
        if os.path.isfile(p) and Path(p).suffix.lower() in (".csv", ".tsv", ".txt"):
            out.append(p)
        elif os.path.isdir(p):
            out.extend(str(f) for f in sorted(Path(p).glob("*.csv")))
    return out


def _listing(names, shown: int = 12) -> str:
    names = list(names)
    text = ", ".join(names[:shown])
    return text + (f" and {len(names) - shown} more" if len(names) > shown else "")


# ---------------------------------------------------------------------- labels
@dataclass
class LabelMatch:
    """How truth values map to the model's classes: ``index`` (raw text -> class index) and ``unmatched``."""

    index: dict
    unmatched: list  # the raw values that are no class, sorted

    def __call__(self, raw) -> int | None:
        return self.index.get(_text(raw))


def _text(raw) -> str:
    return str(raw).strip()


def _whole(text: str) -> int | None:
    try:
        f = float(text)
    except ValueError:
        return None
    return int(f) if f.is_integer() else None


def match_labels(values, labels) -> LabelMatch:
    """Match raw truth values to class names: by name, then ignoring case, then by 0-based index.

    A number is read as a class index only when it is no class's name (the digits model's
    classes are named "0".."9": "3" is the class named "3"). Values that match nothing are
    returned in ``unmatched``, not guessed.
    """
    labels = [str(x) for x in labels]
    exact = {name: i for i, name in enumerate(labels)}
    folded: dict = {}
    for i, name in enumerate(labels):
        folded.setdefault(name.strip().casefold(), []).append(i)
    index, unmatched = {}, []
    for raw in {_text(v) for v in values}:
        if raw in exact:
            index[raw] = exact[raw]
        elif len(folded.get(raw.casefold(), ())) == 1:
            index[raw] = folded[raw.casefold()][0]
        elif (k := _whole(raw)) is not None and 0 <= k < len(labels):
            index[raw] = k
        else:
            unmatched.append(raw)
    return LabelMatch(index, sorted(unmatched))


def to_number(raw) -> float | None:
    """A regression truth as a float, or None when it is no finite number."""
    try:
        f = float(str(raw).strip())
    except ValueError:
        return None
    return f if f == f and abs(f) != float("inf") else None


def truth_from_masks(folder) -> Truth:
    """A folder of label-map images, ``<image stem>.png``, the class value in each pixel (as --save-masks writes)."""
    folder = Path(folder)
    entries = {}
    for f in sorted(folder.iterdir()):
        if f.is_file() and f.suffix.lower() in (".png", ".tif", ".tiff", ".bmp"):
            entries[f.stem] = str(f)
    if not entries:
        raise TruthError(f"--truth {folder.name}: no mask images (<image stem>.png) in it")
    return Truth(source=f"masks in {folder.name}/", stems=entries)
