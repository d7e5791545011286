"""DICOM series: files grouped by study and series, slices ordered by position, multi-frame files split into frames.

A folder's DICOM files (named ``.dcm``, or any name whose content starts with the ``DICM``
preamble) are grouped by StudyInstanceUID and SeriesInstanceUID. A series' slices are
ordered by ImagePositionPatient projected onto the slice normal (the cross product of
ImageOrientationPatient's row and column directions), not by InstanceNumber, and uneven
spacing is reported. A multi-frame file gives one item per frame, ``file.dcm#frame=3``
(frames count from 1, as DICOM's frame numbers do), placed by its per-frame functional
groups' PlanePositionSequence where present.

The profile's ``dicom`` section chooses what is scored: a rule on the series' header
(:func:`series_matches`) and a range of each series' ordered slices (:func:`parse_frames`).
Everything here is plain functions on header values, with no Qt, so that tests call them directly.
"""

from __future__ import annotations

import math
import os
import re
from dataclasses import dataclass, field

import numpy as np

FRAME_MARK = "#frame="
_FRAME_RE = re.compile(r"^(.*)#frame=(\d+)$", re.S)

#: the header fields a profile's series rule may test, and how: "exact" (case-insensitive, one of the
#: values), "any" (a multi-valued field such as ImageType: any of its values), "contains" (free text)
RULE_FIELDS = {
    "Modality": "exact", "ImageType": "any", "SeriesDescription": "contains", "ProtocolName": "contains",
    "BodyPartExamined": "exact", "SeriesNumber": "exact", "Manufacturer": "contains",
    "SeriesInstanceUID": "exact", "StudyInstanceUID": "exact",
}

#: extensions other than .dcm under which scanners and archives write DICOM files (none, a UID's last
#: number, Siemens' .ima): such files are opened to look for the DICM preamble
_SNIFFED_EXTENSIONS = (".ima", ".dic", ".dc3")

#: the Media Storage SOP Class of a DICOMDIR (PS3.3 F), a folder's index rather than an image
DICOMDIR_CLASS = "1.2.840.10008.1.3.10"

#: the relative spread of the gaps between slices over which the spacing is reported as irregular
SPACING_TOLERANCE = 0.01


def split_frame(path: str) -> tuple[str, int | None]:
    """(the file, the frame number counting from 1) of an item's path: ``a.dcm#frame=3`` -> ("a.dcm", 3);
    a path without the mark, or whose file with the mark exists as it is, gives (path, None)."""
    text = os.fspath(path)
    m = _FRAME_RE.match(text)
    if not m or int(m.group(2)) < 1 or os.path.exists(text):
        return text, None
    return m.group(1), int(m.group(2))


def frame_path(path: str, frame: int | None) -> str:
    """The item's path for a frame (counting from 1) of ``path``; the path itself for None."""
    return path if frame is None else f"{path}{FRAME_MARK}{frame}"


def file_of(path: str) -> str:
    """The file an item's path names (``a.dcm#frame=3`` -> ``a.dcm``)."""
    return split_frame(path)[0]


def may_be_dicom(name: str) -> bool:
    """Whether a file of this name, not named .dcm, is worth opening for the DICM preamble: no extension,
    a number as extension (files named by UID), or a scanner's own (.ima)."""
    ext = os.path.splitext(name)[1].lower()
    return not ext or ext[1:].isdigit() or ext in _SNIFFED_EXTENSIONS


def has_dicom_preamble(path) -> bool:
    """Whether the file holds ``DICM`` at byte 128, after the preamble (PS3.10 7.1); False when unreadable."""
    from ..files import open_regular

    try:
        with open_regular(os.fspath(path)) as fh:
            head = fh.read(132)
    except (OSError, ValueError, Exception):  # noqa: BLE001 - not a regular file, no permission: not DICOM here
        return False
    return len(head) == 132 and head[128:132] == b"DICM"


# --------------------------------------------------------------------------- geometry (pure)
def slice_normal(orientation) -> np.ndarray | None:
    """The unit normal of a slice from ImageOrientationPatient (row direction, column direction); None
    when it is not six finite numbers or the directions are parallel."""
    try:
        v = np.asarray([float(x) for x in orientation], dtype=np.float64)
    except (TypeError, ValueError):
        return None
    if v.shape != (6,) or not np.all(np.isfinite(v)):
        return None
    n = np.cross(v[:3], v[3:])
    norm = float(np.linalg.norm(n))
    return n / norm if norm > 1e-6 else None


def slice_position(position, normal) -> float | None:
    """ImagePositionPatient projected on the slice normal (mm); None without both."""
    if normal is None or position is None:
        return None
    try:
        p = np.asarray([float(x) for x in position], dtype=np.float64)
    except (TypeError, ValueError):
        return None
    if p.shape != (3,) or not np.all(np.isfinite(p)):
        return None
    return float(np.dot(p, normal))


def spacing_problem(positions) -> str | None:
    """What is wrong with the spacing of sorted slice positions (mm), in words; None when even.

    Two slices at the same position, or gaps that differ by more than :data:`SPACING_TOLERANCE`
    of the median gap, are reported, with the slices (counting from 1) where it happens.
    """
    pos = [float(p) for p in positions]
    if len(pos) < 3 and not (len(pos) == 2 and abs(pos[1] - pos[0]) < 1e-3):
        return None
    gaps = np.diff(pos)
    same = [i + 1 for i, g in enumerate(gaps) if abs(g) < 1e-3]
    if same:
        where = ", ".join(str(i) for i in same[:5]) + (" …" if len(same) > 5 else "")
        return f"{len(same)} slice(s) at the same position as the one before (after slice {where})"
    median = float(np.median(np.abs(gaps)))
    odd = [i + 1 for i, g in enumerate(gaps) if abs(abs(g) - median) > SPACING_TOLERANCE * median]
    if not odd:
        return None
    where = ", ".join(str(i) for i in odd[:5]) + (" …" if len(odd) > 5 else "")
    return (f"irregular slice spacing: {float(np.min(np.abs(gaps))):.3g}–{float(np.max(np.abs(gaps))):.3g} mm "
            f"(median {median:.3g} mm; uneven after slice {where})")


# --------------------------------------------------------------------------- per-frame values
def _first(seq, keyword: str):
    """The first item of a functional group's ``keyword`` sequence, or None."""
    try:
        inner = getattr(seq, keyword, None) if seq is not None else None
        return inner[0] if inner else None
    except (IndexError, TypeError, AttributeError):
        return None


def _group(ds, index: int, keyword: str):
    """A frame's functional-group macro item (``keyword``, e.g. PlanePositionSequence): its per-frame one,
    else the shared one, else None."""
    for seq_name, i in (("PerFrameFunctionalGroupsSequence", index), ("SharedFunctionalGroupsSequence", 0)):
        try:
            groups = ds.get(seq_name)
            if groups is not None and len(groups) > i:
                item = _first(groups[i], keyword)
                if item is not None:
                    return item
        except Exception:  # noqa: BLE001 - a malformed group is treated as absent
            continue
    return None


#: the functional-group macros whose attributes a frame's view lifts to the top level (PS3.3 C.7.6.16)
_FRAME_MACROS = {
    "PlanePositionSequence": ("ImagePositionPatient",),
    "PlaneOrientationSequence": ("ImageOrientationPatient",),
    "PixelMeasuresSequence": ("PixelSpacing", "SliceThickness"),
    "PixelValueTransformationSequence": ("RescaleSlope", "RescaleIntercept", "RescaleType"),
    "FrameVOILUTSequence": ("WindowCenter", "WindowWidth", "VOILUTFunction"),
}


def frame_dataset(ds, index: int):
    """The dataset as frame ``index`` (from 0) sees it: the per-frame (else shared) functional groups'
    position, orientation, spacing, rescale and window lifted to the top level, for pydicom's
    ``apply_modality_lut`` and ``apply_voi_lut``, which read only top-level attributes. The
    dataset itself when it has no functional groups; else a shallow copy without the pixel data."""
    if "PerFrameFunctionalGroupsSequence" not in ds and "SharedFunctionalGroupsSequence" not in ds:
        return ds
    from pydicom.dataset import Dataset

    view = Dataset()
    for elem in ds:
        if elem.keyword not in ("PixelData", "PerFrameFunctionalGroupsSequence", "FloatPixelData",
                                "DoubleFloatPixelData"):
            view.add(elem)
    if hasattr(ds, "file_meta"):
        view.file_meta = ds.file_meta
    for macro, keywords in _FRAME_MACROS.items():
        item = _group(ds, index, macro)
        if item is None:
            continue
        for keyword in keywords:
            if keyword in item:
                view.add(item[keyword])
    return view


# --------------------------------------------------------------------------- series
@dataclass(frozen=True)
class Slice:
    """One scored image of a series: a single-frame file, or one frame of a multi-frame file."""

    path: str  # the item's path: the file, or ``file#frame=N``
    file: str
    frame: int | None  # counting from 1; None for a single-frame file
    position: float | None  # mm along the slice normal; None without ImagePositionPatient/Orientation
    instance: int | None  # InstanceNumber
    size: tuple  # (rows, columns)


@dataclass(eq=False)
class Series:
    """A series found in the inputs: its header facts, its slices in order, and what is wrong with it.

    ``fields`` holds the header values a series rule tests (:data:`RULE_FIELDS`), as text
    (ImageType as a tuple of its values). ``problem`` notes irregular spacing or an order that
    fell back to InstanceNumber; ``refused`` the files left out of it (another size), each an
    invalid item with its reason.
    """

    study_uid: str
    series_uid: str
    fields: dict
    slices: list = field(default_factory=list)
    files: int = 0
    ordered_by: str = "position"
    problem: str | None = None
    refused: list = field(default_factory=list)

    @property
    def modality(self) -> str:
        return self.fields.get("Modality", "")

    @property
    def description(self) -> str:
        return self.fields.get("SeriesDescription", "")

    @property
    def number(self) -> str:
        return self.fields.get("SeriesNumber", "")

    @property
    def frames(self) -> int:
        return len(self.slices)

    @property
    def size(self) -> tuple | None:
        return self.slices[0].size if self.slices else None

    def slice_text(self, path: str) -> str:
        """Where an item sits in the series: 'slice 4 of 120' (or 'frame 4 of 30' for one multi-frame file)."""
        index = self.__dict__.get("_index")
        if index is None or len(index) != len(self.slices):
            index = self.__dict__["_index"] = {s.path: n for n, s in enumerate(self.slices, 1)}
        n = index.get(path)
        what = "frame" if self.files == 1 and len(self.slices) > 1 else "slice"
        return f"{what} {n:,} of {len(self.slices):,}" if n else "left out of the series"

    def short_name(self) -> str:
        """'CT series 3', 'CT CHEST', or the series UID: how a message names the series."""
        what = self.modality or "DICOM"
        if self.number:
            return f"{what} series {self.number}"
        return f"{what} {self.description}" if self.description else f"{what} {self.series_uid}"

    def label(self) -> str:
        """One line: 'CT · series 3 · CHEST 1.25mm · 120 instances, 120 frames'."""
        parts = [self.modality or "?"]
        if self.number:
            parts.append(f"series {self.number}")
        if self.description:
            parts.append(self.description)
        parts.append(f"{self.files:,} instance{'s' if self.files != 1 else ''}, "
                     f"{self.frames:,} frame{'s' if self.frames != 1 else ''}")
        return " · ".join(parts)

    def to_dict(self) -> dict:
        """The series as the CLI's JSON writes it (no identifying fields but the UIDs)."""
        return {"study_uid": self.study_uid, "series_uid": self.series_uid, "modality": self.modality,
                "series_number": self.number or None, "description": self.description or None,
                "image_type": list(self.fields.get("ImageType", ())), "instances": self.files,
                "frames": self.frames, "size": list(self.size) if self.size else None,
                "ordered_by": self.ordered_by, "problem": self.problem,
                "refused": [i.problem for i in self.refused]}


def _text(ds, keyword: str) -> str:
    try:
        value = ds.get(keyword)
        if value is None:
            return ""
        return " ".join(str(value).split())
    except Exception:  # noqa: BLE001 - a malformed field is treated as absent
        return ""


def _int_or_none(ds, keyword: str) -> int | None:
    try:
        value = ds.get(keyword)
        return int(value) if value not in (None, "") else None
    except (TypeError, ValueError, OverflowError):
        return None
    except Exception:  # noqa: BLE001 - pydicom parses a field when it is read
        return None


def _rule_fields(ds) -> dict:
    out = {key: _text(ds, key) for key in RULE_FIELDS if key != "ImageType"}
    try:
        image_type = ds.get("ImageType")
        if image_type is None:
            values: tuple = ()
        elif isinstance(image_type, str):
            values = tuple(v for v in image_type.split("\\") if v)
        else:
            values = tuple(str(v) for v in image_type)
    except Exception:  # noqa: BLE001
        values = ()
    out["ImageType"] = values
    return out


def _header_slices(ds, path: str) -> list:
    """The slices a read header gives: one, or one per frame (positions from the functional groups)."""
    rows, cols = _int_or_none(ds, "Rows") or 0, _int_or_none(ds, "Columns") or 0
    frames = _int_or_none(ds, "NumberOfFrames") or 1
    instance = _int_or_none(ds, "InstanceNumber")
    if frames <= 1:
        normal = slice_normal(ds.get("ImageOrientationPatient"))
        return [Slice(path, path, None, slice_position(ds.get("ImagePositionPatient"), normal), instance,
                      (rows, cols))]
    out = []
    top_normal = slice_normal(ds.get("ImageOrientationPatient"))
    for i in range(frames):
        plane = _group(ds, i, "PlanePositionSequence")
        orient = _group(ds, i, "PlaneOrientationSequence")
        normal = slice_normal(orient.get("ImageOrientationPatient")) if orient is not None else top_normal
        position = slice_position(plane.get("ImagePositionPatient"), normal) if plane is not None else None
        out.append(Slice(frame_path(path, i + 1), path, i + 1, position, instance, (rows, cols)))
    return out


def read_header(path: str):
    """The DICOM header of ``path`` (a frame's item: its file) up to its pixel data, or None when it is not
    DICOM or cannot be read."""
    from pydicom import dcmread

    from ..files import open_regular

    try:
        with open_regular(file_of(os.fspath(path))) as fh:
            return dcmread(fh, stop_before_pixels=True)
    except Exception:  # noqa: BLE001 - not DICOM, unreadable, or broken
        return None


def order_slices(slices: list) -> tuple[list, str]:
    """The slices in order, and by what: "position" (all have one, along the normal), else "instance number"
    (InstanceNumber, then frame), else "file name". Ties in position keep the instance order."""
    from . import natural_key

    def by_instance(s):
        return (s.instance if s.instance is not None else math.inf, natural_key(s.file), s.frame or 0)

    if slices and all(s.position is not None for s in slices):
        return sorted(slices, key=lambda s: (s.position, by_instance(s))), "position"
    if slices and all(s.instance is not None for s in slices):
        return sorted(slices, key=by_instance), "instance number"
    return sorted(slices, key=lambda s: (natural_key(s.file), s.frame or 0)), "file name"


def group_series(paths, headers: dict | None = None) -> tuple[list, list]:
    """Group DICOM files into series: (the series in order, the items for files that are not usable images).

    ``paths`` are DICOM files; ``headers`` (path -> read header) saves reading them again.
    A file whose header cannot be read, or that holds no image (no Rows/Columns: a structured
    report, a presentation state), becomes an invalid item with its reason. Within a series,
    the slices whose size differs from the series' most common size are refused, each with
    its reason. Series are ordered by study, series number and description.
    """
    from . import InputItem, InputKind, natural_key

    groups: dict = {}
    bad: list = []
    for path in paths:
        path = str(path)
        name = os.path.basename(path)
        ds = (headers or {}).get(path) or read_header(path)
        if ds is None:
            # decoding says what is wrong with it (truncated, not DICOM), on its own row
            bad.append(InputItem(path=path, kind=InputKind.DICOM))
            continue
        if _text(getattr(ds, "file_meta", {}), "MediaStorageSOPClassUID") == DICOMDIR_CLASS:
            bad.append(InputItem(path=path, kind=InputKind.INVALID,
                                 problem=f"{name}: a DICOMDIR (the index of a disc's or folder's files), not an "
                                         "image; the files it lists are read from the folder itself"))
            continue
        if _int_or_none(ds, "Rows") is None or _int_or_none(ds, "Columns") is None:
            what = _text(ds, "Modality")
            bad.append(InputItem(path=path, kind=InputKind.INVALID,
                                 problem=f"{name}: the DICOM file holds no image (no Rows, Columns or Pixel Data"
                                         f"{'; modality ' + what if what else ''})"))
            continue
        key = (_text(ds, "StudyInstanceUID"), _text(ds, "SeriesInstanceUID"))
        if not key[1]:
            key = (key[0], "", path)  # no SeriesInstanceUID: a series of its own, not grouped with others
        if key not in groups:
            groups[key] = Series(key[0], key[1], _rule_fields(ds))
        series = groups[key]
        series.files += 1
        series.slices.extend(_header_slices(ds, path))
    out = []
    for series in groups.values():
        sizes: dict = {}
        for s in series.slices:
            sizes[s.size] = sizes.get(s.size, 0) + 1
        common = max(sizes, key=lambda k: (sizes[k], k))
        if len(sizes) > 1:
            kept = []
            for s in series.slices:
                if s.size == common:
                    kept.append(s)
                else:
                    series.refused.append(InputItem(
                        path=s.path, kind=InputKind.INVALID, series=series,
                        problem=f"{os.path.basename(s.path)}: {s.size[1]:,}×{s.size[0]:,} pixels, where the rest "
                                f"of its series ({series.short_name()}) is {common[1]:,}×{common[0]:,}; left out of "
                                "the series"))
            series.slices = kept
            series.files = len({s.file for s in kept})
        series.slices, series.ordered_by = order_slices(series.slices)
        if series.ordered_by == "position":
            series.problem = spacing_problem([s.position for s in series.slices])
        elif len(series.slices) > 1:
            series.problem = f"no ImagePositionPatient on every slice: ordered by {series.ordered_by}"
        out.append(series)

    def number(s):
        try:
            return (0, float(s.number))
        except ValueError:
            return (1, 0.0)

    out.sort(key=lambda s: (s.study_uid, number(s), natural_key(s.description), s.series_uid))
    return out, bad


def series_items(series: Series) -> list:
    """The series' items in slice order, then the items refused from it (another size)."""
    from . import InputItem, InputKind

    return [InputItem(path=s.path, kind=InputKind.DICOM, series=series) for s in series.slices] + list(series.refused)


# --------------------------------------------------------------------------- choosing what is scored
def series_matches(series: Series, rule: dict | None) -> bool:
    """Whether the series passes a profile's rule: every key's test holds (see :data:`RULE_FIELDS`).

    A value may be a text or a list of texts (any of them). ``ImageType`` passes when any of
    the series' ImageType values is one of them; SeriesDescription, ProtocolName and
    Manufacturer when the text contains one of them; the others when equal. All ignore case.
    """
    for key, wanted in (rule or {}).items():
        options = [str(w).strip().lower() for w in (wanted if isinstance(wanted, (list, tuple)) else [wanted])]
        how = RULE_FIELDS.get(key, "exact")
        value = series.fields.get(key, () if how == "any" else "")
        if how == "any":
            have = {str(v).strip().lower() for v in value}
            ok = any(o in have for o in options)
        elif how == "contains":
            ok = any(o in str(value).lower() for o in options)
        else:
            ok = str(value).strip().lower() in options
        if not ok:
            return False
    return True


def rule_text(rule: dict | None) -> str:
    """A series rule in words, as the profile editor shows it and :func:`parse_rule_text` reads it back:
    ``{"Modality": "CT", "ImageType": ["ORIGINAL", "PRIMARY"]}`` -> 'Modality CT, ImageType ORIGINAL or PRIMARY'.
    A value holding a comma or the word "or" (or starting or ending in a space) is written in double quotes."""
    def quoted(value) -> str:
        v = str(value)
        return f'"{v}"' if ("," in v or re.search(r"\s+or\s+", v, re.I) or v != v.strip() or not v) else v

    parts = []
    for key, wanted in (rule or {}).items():
        values = wanted if isinstance(wanted, (list, tuple)) else [wanted]
        parts.append(f"{key} " + " or ".join(quoted(v) for v in values))
    return ", ".join(parts)


def _split_outside_quotes(text: str, separator: str) -> list:
    """``text`` split on ``separator`` (a regular expression) where it is not inside double quotes."""
    out, start, inside, i = [], 0, False, 0
    pattern = re.compile(separator, re.I)
    while i < len(text):
        if text[i] == '"':
            inside = not inside
            i += 1
            continue
        m = None if inside else pattern.match(text, i)
        if m and m.end() > i:
            out.append(text[start:i])
            start = i = m.end()
            continue
        i += 1
    if inside:
        raise ValueError("a double quote is not closed")
    out.append(text[start:])
    return out


def parse_rule_text(text: str) -> dict:
    """A series rule from its words (see :func:`rule_text`): clauses separated by commas, each a DICOM keyword
    of :data:`RULE_FIELDS` (any case) then its value, alternatives separated by "or", a value in double quotes
    when it holds a comma. '' gives {} (every series). Raises ValueError saying what is wrong."""
    rule: dict = {}
    if not str(text or "").strip():
        return rule
    known = {k.lower(): k for k in RULE_FIELDS}
    for clause in _split_outside_quotes(str(text), r","):
        clause = clause.strip()
        if not clause:
            continue
        keyword, _, rest = clause.partition(" ")
        key = known.get(keyword.strip().lower())
        if key is None:
            raise ValueError(f"'{keyword}' is not a keyword a series rule tests; use {', '.join(RULE_FIELDS)}")
        values = [v.strip() for v in _split_outside_quotes(rest.strip(), r"\s+or\s+")]
        values = [v[1:-1] if len(v) >= 2 and v[0] == v[-1] == '"' else v for v in values]
        if not values or not all(v.strip() for v in values):
            raise ValueError(f"{key} needs a value, e.g. \"{key} {_RULE_EXAMPLES.get(key, 'CT')}\"")
        if key in rule:
            raise ValueError(f"{key} is given twice; write its values as \"{key} A or B\"")
        rule[key] = values[0] if len(values) == 1 else values
    return rule


_RULE_EXAMPLES = {"Modality": "CT", "ImageType": "ORIGINAL", "SeriesDescription": "CHEST", "ProtocolName": "CHEST",
                  "BodyPartExamined": "CHEST", "SeriesNumber": "3", "Manufacturer": "SIEMENS"}


def parse_frames(text) -> tuple[int, int | None]:
    """A frame range as (first, last) counting from 1, last None for 'to the end': "3" -> (3, 3), "1-10",
    "5-". Raises ValueError with a message for anything else."""
    s = str(text).strip()
    m = re.fullmatch(r"(\d+)\s*(?:-\s*(\d*))?", s)
    if not m:
        raise ValueError(f"must be a frame number or range such as \"1-10\" or \"5-\" (got {text!r})")
    first = int(m.group(1))
    last = first if m.group(2) is None and "-" not in s else (int(m.group(2)) if m.group(2) else None)
    if first < 1:
        raise ValueError(f"frames count from 1 (got {text!r})")
    if last is not None and last < first:
        raise ValueError(f"the range ends before it starts (got {text!r})")
    return first, last


def select_series(series_list: list, rule: dict | None = None, frames=None) -> tuple[list, list]:
    """(the items to score, the series left out with the reason) for a profile's rule and frame range.

    ``frames`` (a text such as "1-10") keeps those of each chosen series' ordered slices.
    """
    from . import InputItem, InputKind

    items, left = [], []
    first, last = parse_frames(frames) if frames else (1, None)
    for series in series_list:
        if not series_matches(series, rule):
            left.append((series, "does not match the profile's series rule"))
            continue
        chosen = series.slices[first - 1:last]
        if not chosen:
            left.append((series, f"has {series.frames} frame(s), none in the range {frames}"))
            continue
        items += [InputItem(path=s.path, kind=InputKind.DICOM, series=series) for s in chosen]
        items += list(series.refused)
    return items, left


def apply_selection(items: list, rule: dict | None = None, frames=None) -> tuple[list, list]:
    """Items with the series a profile does not choose taken out: (kept items, [(series, reason)]).

    Items that belong to no series (images, tables, other files) are kept where they are;
    each series' chosen items take the place of its first item.
    """
    if not rule and not frames:
        return list(items), []
    seen: dict = {}
    out, left = [], []
    for item in items:
        series = getattr(item, "series", None)
        if series is None:
            out.append(item)
            continue
        if id(series) in seen:
            continue
        chosen, dropped = select_series([series], rule, frames)
        seen[id(series)] = True
        out += chosen
        left += dropped
    return out, left


def choose_for_profile(items: list, dicom) -> tuple[list, list]:
    """:func:`apply_selection` with a profile's ``dicom`` section (a ``profile.DicomSpec``, or None: all)."""
    if dicom is None:
        return list(items), []
    return apply_selection(items, dicom.rule, dicom.frames)


def series_notes(items, left=()) -> list:
    """Lines for a terminal: each series' irregular spacing or order, and each series left out and why."""
    lines = [f"{s.short_name()}: {s.problem}" for s in series_of(items) if s.problem]
    lines += [f"{s.short_name()} ({s.frames:,} frame{'s' if s.frames != 1 else ''}) left out: it {reason}"
              for s, reason in left]
    return lines


def series_of(items) -> list:
    """The distinct series of the items, in the order they first appear."""
    seen: dict = {}
    for item in items:
        series = getattr(item, "series", None)
        if series is not None and id(series) not in seen:
            seen[id(series)] = series
    return list(seen.values())
