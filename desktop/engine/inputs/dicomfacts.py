"""What a DICOM file's header says about its image, with the patient-identifying fields kept apart.

:func:`dicom_facts` reads the header only (``stop_before_pixels``), so it costs a fraction of
decoding. Each field is read on its own: a malformed one is left out, never raised, and a
file that is not DICOM gives None. The detail pane shows :attr:`DicomFacts.facts` and, on
request, :attr:`DicomFacts.identifying`; an export writes :meth:`DicomFacts.record`, which
leaves out the identifying fields, and the dates, unless asked.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import datetime

from ..dicom_deid import withheld

#: the fields that describe the image, in the order shown: DICOM keyword -> label. Free-text descriptions
#: (StudyDescription) are not among them: they may name the patient
FACT_LABELS = {
    "Modality": "Modality",
    "BodyPartExamined": "Body part",
    "StudyDate": "Study date",
    "Rows": "Rows",
    "Columns": "Columns",
    "NumberOfFrames": "Frames",
    "PixelSpacing": "Pixel spacing",
    "WindowCenter": "Window center",
    "WindowWidth": "Window width",
    "PhotometricInterpretation": "Photometric",
    "BitsStored": "Bits stored",
    "Manufacturer": "Manufacturer",
    "ManufacturerModelName": "Model",
}

#: what a clinician checks of the item's own image, shown (not exported) before the file's facts: the series,
#: the instance and the frame, where it lies, and the window used. SeriesDescription is free text that the
#: PS3.15 Basic Profile removes, so it stays out of every export; the series list shows it too
ITEM_LABELS = {
    "SeriesDescription": "Series",
    "SeriesNumber": "Series number",
    "InstanceNumber": "Instance",
    "Frame": "Frame",
    "SliceLocation": "Slice location",
    "ImagePositionPatient": "Position (patient)",
    "SliceThickness": "Slice thickness",
    "Window": "Window used",
}

#: the fields that identify the patient (HIPAA's identifiers that a header carries), in the order shown
IDENTIFYING_LABELS = {
    "PatientName": "Patient name",
    "PatientID": "Patient ID",
    "OtherPatientIDs": "Other patient IDs",
    "PatientBirthDate": "Birth date",
    "PatientSex": "Sex",
    "PatientAge": "Age",
    "PatientAddress": "Address",
    "PatientTelephoneNumbers": "Telephone",
    "OtherPatientNames": "Other names",
    "PatientBirthName": "Birth name",
    "PatientMotherBirthName": "Mother's birth name",
    "MedicalRecordLocator": "Medical record locator",
    "AccessionNumber": "Accession number",
    "StudyID": "Study ID",
    "StudyInstanceUID": "Study UID",
    "SeriesInstanceUID": "Series UID",
    "SOPInstanceUID": "Instance UID",
    "InstitutionName": "Institution",
    "InstitutionAddress": "Institution address",
    "InstitutionalDepartmentName": "Department",
    "ReferringPhysicianName": "Referring physician",
    "ReferringPhysicianAddress": "Referring physician's address",
    "PerformingPhysicianName": "Performing physician",
    "PhysiciansOfRecord": "Physician of record",
    "NameOfPhysiciansReadingStudy": "Reading physician",
    "RequestingPhysician": "Requesting physician",
    "OperatorsName": "Operator",
    "StationName": "Station",
    "DeviceSerialNumber": "Device serial number",
}

#: fields shown on screen with the image's facts that an export still treats as identifying (dates are, in HIPAA,
#: and in PS3.15's Basic Profile). Exports leave out whatever :func:`desktop.engine.dicom_deid.withheld` says the
#: profile changes or removes, which covers these and every identifying field above (tests/engine/test_dicom_deid.py)
EXPORT_IDENTIFYING = ("StudyDate",)

_DATES = {"StudyDate", "PatientBirthDate"}
_NUMBERS = {"Rows", "Columns", "NumberOfFrames", "BitsStored"}
_ORDINALS = {"InstanceNumber", "SeriesNumber"}  # may be 0
_FLOATS = {"SliceLocation", "SliceThickness"}
_PEOPLE = {"PatientName", "ReferringPhysicianName", "PerformingPhysicianName", "OperatorsName", "OtherPatientNames",
           "PatientBirthName", "PatientMotherBirthName", "PhysiciansOfRecord", "NameOfPhysiciansReadingStudy",
           "RequestingPhysician"}


@dataclass(frozen=True)
class DicomFacts:
    """A DICOM header's fields: ``facts`` about the image, ``identifying`` the patient's; keyword -> value.

    Values are JSON types: text, whole numbers, and lists of floats (PixelSpacing, mm; a
    window's centers and widths when there are several, else one float); dates are
    ``YYYY-MM-DD`` text. Absent and malformed fields are left out.
    """

    facts: dict = field(default_factory=dict)
    identifying: dict = field(default_factory=dict)
    #: the item's own (:data:`ITEM_LABELS`), shown, never exported: for a frame of a multi-frame file its
    #: number and position from the per-frame functional groups; "Window" only when the window was known
    item: dict = field(default_factory=dict)

    def rows(self, include_identifying: bool = False) -> list:
        """(label, text) pairs to show: modality and body part, then the item's series, instance, frame and
        position, then the file's other facts (the window used after the stored one); Rows and Columns as one
        row; the number of frames only when the item is not one of them."""
        f, item = self.facts, self.item
        head = [k for k in ("Modality", "BodyPartExamined") if k in f]
        out = [(FACT_LABELS[k], display_text(k, f[k])) for k in head]
        out += [(label, display_text(k, item[k])) for k, label in ITEM_LABELS.items() if k in item and k != "Window"]
        window_at = None
        for key, label in FACT_LABELS.items():
            if key in head or key not in f or (key == "Columns" and "Rows" in f) or \
                    (key == "NumberOfFrames" and "Frame" in item):
                continue
            if key == "Rows" and "Columns" in f:
                out.append(("Rows × columns", f"{f['Rows']:,} × {f['Columns']:,}"))
            else:
                out.append((label, display_text(key, f[key])))
            if key in ("WindowCenter", "WindowWidth"):
                window_at = len(out)
        if "Window" in item:
            out.insert(len(out) if window_at is None else window_at, (ITEM_LABELS["Window"], item["Window"]))
        if include_identifying:
            out += [(label, display_text(key, self.identifying[key]))
                    for key, label in IDENTIFYING_LABELS.items() if key in self.identifying]
        return out

    def record(self, include_phi: bool = False) -> tuple[dict, list]:
        """(the fields an export writes, the keywords it left out): without ``include_phi`` the
        identifying fields and :data:`EXPORT_IDENTIFYING` (the study date) are left out: every field the
        PS3.15 Basic Profile changes or removes (:func:`desktop.engine.dicom_deid.withheld`)."""
        if include_phi:
            return {**self.facts, **self.identifying}, []
        every = {**self.facts, **self.identifying}
        kept = {k: v for k, v in every.items() if not withheld(k)}
        left_out = [k for k in every if withheld(k)]
        return kept, left_out


def display_text(key: str, value) -> str:
    """A field's value as the detail pane writes it."""
    if key == "PixelSpacing":
        return f"{_g(value[0])} × {_g(value[1])} mm"
    if key in _ORDINALS:
        return str(value)  # a number that names, not a count: no thousands separator
    if key == "ImagePositionPatient":
        return ", ".join(f"{axis} {_g(v)}" for axis, v in zip("xyz", value)) + " mm"
    if key in ("SliceLocation", "SliceThickness"):
        return f"{_g(value)} mm"
    if isinstance(value, list):
        return ", ".join(_g(v) if isinstance(v, float) else str(v) for v in value)
    if isinstance(value, float):
        return _g(value)
    if isinstance(value, int):
        return f"{value:,}"
    return str(value)


def _g(x: float) -> str:
    return f"{x:g}"


_NOT_GIVEN = object()


def dicom_facts(source, frame: int | None = None, window=_NOT_GIVEN) -> DicomFacts | None:
    """The header fields of a DICOM file (a path) or a read dataset; None when it is not DICOM or cannot be read.

    A path is read up to its pixel data and no further; a frame's item (``file.dcm#frame=3``)
    is its file's header as that frame sees it: the pixel spacing, window and position its
    per-frame (else shared) functional groups give, and the frame's number in
    :attr:`DicomFacts.item` ("3 of 30"). ``frame`` (from 1) does the same for a dataset.
    ``window``, the profile's ``dicom.window`` setting (None: the file's own), adds the window
    used ("Window"). Never raises for a broken file: a field that cannot be parsed is left out.
    """
    try:
        from pydicom.dataset import Dataset
    except ImportError:  # pragma: no cover - pydicom is a dependency
        return None
    from .dicomseries import frame_dataset, split_frame

    if isinstance(source, Dataset):
        ds = source
    else:
        path, frame = split_frame(str(source))
        ds = _read_header(path)
        if ds is None:
            return None
    try:
        frames = max(int(ds.get("NumberOfFrames", 1) or 1), 1)
    except (TypeError, ValueError):
        frames = 1
    try:
        view = frame_dataset(ds, (frame or 1) - 1)
    except Exception:  # noqa: BLE001 - malformed functional groups: the file's top level
        view = ds
    facts, identifying = {}, {}
    item: dict = {}
    for keys, into in ((FACT_LABELS, facts), (IDENTIFYING_LABELS, identifying), (ITEM_LABELS, item)):
        for key in keys:
            try:
                value = _value(view, key)
            except Exception:  # noqa: BLE001 - pydicom parses a field when it is read: a malformed one raises
                continue
            if value is not None:
                into[key] = value
    if frame is not None or frames > 1:
        item["Frame"] = f"{frame or 1:,} of {frames:,}"
        item.pop("SliceLocation", None)  # the file's, not the frame's: the frame's place is its position
    if window is not _NOT_GIVEN:
        from .windowing import window_used

        try:
            item["Window"] = window_used(window, view)
        except Exception:  # noqa: BLE001 - a malformed stored window: said as unknown rather than raised
            item["Window"] = "unknown (the file's window cannot be read)"
    return DicomFacts(facts, identifying, item)


def _read_header(path):
    from .dicomseries import read_header

    return read_header(path)


def _value(ds, key: str):
    """One field as a JSON value, or None when absent or empty; raises when it is malformed."""
    elem = ds.get(key)
    if elem is None:
        return None
    value = elem.value if hasattr(elem, "value") else elem
    if value is None or value == "" or (hasattr(value, "__len__") and not isinstance(value, str) and not len(value)):
        return None
    if key in _DATES:
        return datetime.strptime(str(value).strip()[:8], "%Y%m%d").date().isoformat()
    if key in _NUMBERS:
        n = int(value)
        return n if n > 0 else None
    if key in _ORDINALS:
        return int(value)
    if key in _FLOATS:
        number = float(value)
        return number if math.isfinite(number) else None
    if key == "ImagePositionPatient":
        position = [float(v) for v in value]
        return position if len(position) == 3 and all(math.isfinite(v) for v in position) else None
    if key == "PixelSpacing":
        spacing = [float(v) for v in value]
        if len(spacing) != 2 or not all(math.isfinite(v) and v > 0 for v in spacing):
            return None
        return spacing
    if key in ("WindowCenter", "WindowWidth"):
        numbers = [float(v) for v in (value if _is_multi(value) else [value])]
        if not numbers or not all(math.isfinite(v) for v in numbers):
            return None
        return numbers[0] if len(numbers) == 1 else numbers
    if _is_multi(value):
        texts = [_text(key, v) for v in value]
        texts = [t for t in texts if t]
        return ", ".join(texts) or None
    return _text(key, value) or None


def _is_multi(value) -> bool:
    from pydicom.multival import MultiValue

    return isinstance(value, (MultiValue, list, tuple))


def _text(key: str, value) -> str:
    text = str(value)
    if key in _PEOPLE:
        text = " ".join(part for part in text.split("^") if part)  # Family^Given^Middle -> Family Given Middle
    return " ".join(text.split())  # one line: a header's line breaks and tabs become spaces


#: the acquisition fields a drift check compares as categories (keyword -> column name)
ACQUISITION_COLUMNS = {"Manufacturer": "dicom_manufacturer", "ManufacturerModelName": "dicom_model",
                       "KVP": "dicom_kvp", "SliceThickness": "dicom_slice_thickness",
                       "PixelSpacing": "dicom_pixel_spacing"}


def acquisition_facts(path) -> dict:
    """The header's acquisition fields as text, by :data:`ACQUISITION_COLUMNS` column name; "(missing)" for
    an absent or malformed field. A file that is not DICOM gives every column "(missing)"."""
    ds = _read_header(path)
    out = {}
    for key, column in ACQUISITION_COLUMNS.items():
        text = "(missing)"
        if ds is not None:
            try:
                elem = ds.get(key)  # a keyword gives the value itself
                value = elem.value if hasattr(elem, "value") else elem
                if key == "PixelSpacing" and value is not None and len(value) == 2:
                    text = " x ".join(f"{float(v):g}" for v in value)
                elif key in ("KVP", "SliceThickness") and value not in (None, ""):
                    text = f"{float(value):g}"
                elif value not in (None, ""):
                    text = _text(key, value) or "(missing)"
            except Exception:  # noqa: BLE001 - pydicom parses a field when it is read: a malformed one raises
                text = "(missing)"
        out[column] = text
    return out
