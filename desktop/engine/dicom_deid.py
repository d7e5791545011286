"""De-identification of DICOM headers: the PS3.15 Basic Application Level Confidentiality Profile, as data.

DICOM PS3.15 Annex E ("Attribute Confidentiality Profiles"), Table E.1-1, says for each
attribute that may identify a patient, a person or an institution what a de-identifier does
with it. The action codes (Table E.1-1a):

``D``  replace with a non-zero length dummy value
``Z``  replace with a zero length (empty) value
``X``  remove
``K``  keep
``C``  clean (replace identifying text with text of the same meaning): only under the Clean
       Descriptors Option, which InferDesk does not offer, so ``C`` never applies here
``U``  replace a UID with another one, consistently within the set of instances
``Z/D``, ``X/Z``, ``X/D``, ``X/Z/D``, ``X/Z/U*``: one or the other, depending on the IOD's type
       for the attribute; :func:`resolve` picks the one that keeps a conformant object without
       keeping the value (an empty value rather than a dummy one, a replaced UID rather than none).

The options (Table E.1-1's columns, each with its code from CID 7050) turn some of those
actions into ``K``: :class:`DeidOptions`. Private attributes, curves (50xx) and overlays
(60xx) are removed (the Basic Profile's rules for them, E.3.1 and E.3.10, without the Retain
Safe Private Option). UIDs become ``2.25.<integer>`` (PS3.5 B.2), the integer the first 128
bits of SHA-256 over a per-installation salt and the UID, so one source UID gives one
replacement in every object and export written on this computer and cannot be reversed
without the salt. The salt lives in the user's config folder (:func:`installation_salt`).

This module is pure (pydicom datasets in, copies out); it reads no pixels and draws no text,
so it cannot find text burnt into the pixels: :func:`burned_in_warning` says when to look.
"""

from __future__ import annotations

import copy
import hashlib
import os
import secrets
from dataclasses import dataclass, fields
from pathlib import Path

#: DICOM PS3.15 Table E.1-1 (2024 edition), the attributes that matter for the images InferDesk scores:
#: keyword -> (the Basic Profile's action, {option: action under that option}). Option names are
#: DeidOptions' fields. Attributes the table does not name are kept, as the profile allows.
ACTIONS: dict[str, tuple[str, dict]] = {
    # -- the patient (Patient module, Patient Study module)
    "PatientName": ("Z", {}),
    "PatientID": ("Z", {}),
    "IssuerOfPatientID": ("X", {}),
    "TypeOfPatientID": ("X", {}),
    "OtherPatientIDs": ("X", {}),
    "OtherPatientIDsSequence": ("X", {}),
    "OtherPatientNames": ("X", {}),
    "PatientBirthName": ("X", {}),
    "PatientMotherBirthName": ("X", {}),
    "PatientBirthDate": ("Z", {}),
    "PatientBirthTime": ("X", {}),
    "PatientSex": ("Z", {"retain_patient_characteristics": "K"}),
    "PatientSexNeutered": ("X/Z", {"retain_patient_characteristics": "K"}),
    "PatientAge": ("X", {"retain_patient_characteristics": "K"}),
    "PatientSize": ("X", {"retain_patient_characteristics": "K"}),
    "PatientWeight": ("X", {"retain_patient_characteristics": "K"}),
    "EthnicGroup": ("X", {"retain_patient_characteristics": "K"}),
    "SmokingStatus": ("X", {"retain_patient_characteristics": "K"}),
    "PregnancyStatus": ("X", {"retain_patient_characteristics": "K"}),
    "PatientAddress": ("X", {}),
    "PatientTelephoneNumbers": ("X", {}),
    "CountryOfResidence": ("X", {}),
    "RegionOfResidence": ("X", {}),
    "MilitaryRank": ("X", {}),
    "BranchOfService": ("X", {}),
    "Occupation": ("X", {}),
    "PatientReligiousPreference": ("X", {}),
    "MedicalRecordLocator": ("X", {}),
    "PatientInsurancePlanCodeSequence": ("X", {}),
    "PatientPrimaryLanguageCodeSequence": ("X", {}),
    "ResponsiblePerson": ("X", {}),
    "ResponsibleOrganization": ("X", {}),
    "AdditionalPatientHistory": ("X", {}),
    "PatientComments": ("X", {}),
    "PatientState": ("X", {}),
    "MedicalAlerts": ("X", {}),
    "Allergies": ("X", {}),
    "SpecialNeeds": ("X", {}),
    "PatientTransportArrangements": ("X", {}),
    "CurrentPatientLocation": ("X", {}),
    "PatientInstitutionResidence": ("X", {}),
    "PersonName": ("D", {}),
    # -- the study, the visit and the request
    "StudyInstanceUID": ("U", {"retain_uids": "K"}),
    "StudyDate": ("Z", {"retain_dates": "K"}),
    "StudyTime": ("Z", {"retain_dates": "K"}),
    "AccessionNumber": ("Z", {}),
    "StudyID": ("Z", {}),
    "StudyDescription": ("X", {}),
    "StudyComments": ("X", {}),
    "ReferringPhysicianName": ("Z", {}),
    "ReferringPhysicianAddress": ("X", {}),
    "ReferringPhysicianTelephoneNumbers": ("X", {}),
    "ReferringPhysicianIdentificationSequence": ("X", {}),
    "ConsultingPhysicianName": ("X", {}),
    "ConsultingPhysicianIdentificationSequence": ("X", {}),
    "PhysiciansOfRecord": ("X", {}),
    "PhysiciansOfRecordIdentificationSequence": ("X", {}),
    "NameOfPhysiciansReadingStudy": ("X", {}),
    "PhysiciansReadingStudyIdentificationSequence": ("X", {}),
    "RequestingPhysician": ("X", {}),
    "RequestingService": ("X", {}),
    "AdmittingDiagnosesDescription": ("X", {}),
    "AdmittingDiagnosesCodeSequence": ("X", {}),
    "AdmissionID": ("X", {}),
    "ReasonForStudy": ("X", {}),
    "RequestedProcedureDescription": ("X", {}),
    "RequestedProcedureID": ("X", {}),
    "ReasonForTheRequestedProcedure": ("X", {}),
    "ScheduledProcedureStepDescription": ("X", {}),
    "PerformedProcedureStepDescription": ("X", {}),
    "PerformedProcedureStepID": ("X", {}),
    "PerformedProcedureStepStartDate": ("X", {"retain_dates": "K"}),
    "PerformedProcedureStepStartTime": ("X", {"retain_dates": "K"}),
    "PerformedProcedureStepEndDate": ("X", {"retain_dates": "K"}),
    "PerformedProcedureStepEndTime": ("X", {"retain_dates": "K"}),
    "RequestAttributesSequence": ("X", {}),
    "ReferencedStudySequence": ("X/Z", {}),
    "ReferencedPatientSequence": ("X", {}),
    "ProcedureCodeSequence": ("X/Z", {}),
    "FillerOrderNumberImagingServiceRequest": ("Z", {}),
    "PlacerOrderNumberImagingServiceRequest": ("Z", {}),
    "OrderEnteredBy": ("X", {}),
    "OrderEntererLocation": ("X", {}),
    "OrderCallbackPhoneNumber": ("X", {}),
    "ServiceEpisodeID": ("X", {}),
    "ServiceEpisodeDescription": ("X", {}),
    "VisitComments": ("X", {}),
    "LastMenstrualDate": ("X", {"retain_dates": "K"}),
    "TimezoneOffsetFromUTC": ("X", {"retain_dates": "K"}),
    # -- the series, the acquisition and the image
    "SeriesInstanceUID": ("U", {"retain_uids": "K"}),
    "SOPInstanceUID": ("U", {"retain_uids": "K"}),
    "MediaStorageSOPInstanceUID": ("U", {"retain_uids": "K"}),
    "FrameOfReferenceUID": ("U", {"retain_uids": "K"}),
    "SynchronizationFrameOfReferenceUID": ("U", {"retain_uids": "K"}),
    "ReferencedSOPInstanceUID": ("U", {"retain_uids": "K"}),
    "ReferencedFrameOfReferenceUID": ("U", {"retain_uids": "K"}),
    "RelatedFrameOfReferenceUID": ("U", {"retain_uids": "K"}),
    "InstanceCreatorUID": ("U", {"retain_uids": "K"}),
    "StorageMediaFileSetUID": ("U", {"retain_uids": "K"}),
    "IrradiationEventUID": ("U", {"retain_uids": "K"}),
    "DimensionOrganizationUID": ("U", {"retain_uids": "K"}),
    "ConcatenationUID": ("U", {"retain_uids": "K"}),
    "UID": ("U", {"retain_uids": "K"}),
    "FiducialUID": ("U", {"retain_uids": "K"}),
    "DoseReferenceUID": ("U", {"retain_uids": "K"}),
    "TemplateExtensionOrganizationUID": ("U", {"retain_uids": "K"}),
    "ReferencedImageSequence": ("X/Z/U*", {}),
    "SourceImageSequence": ("X/Z/U*", {}),
    "ReferencedPerformedProcedureStepSequence": ("X/Z/D", {}),
    "SeriesDate": ("X", {"retain_dates": "K"}),
    "SeriesTime": ("X", {"retain_dates": "K"}),
    "AcquisitionDate": ("X/Z", {"retain_dates": "K"}),
    "AcquisitionTime": ("X/Z", {"retain_dates": "K"}),
    "AcquisitionDateTime": ("X/Z/D", {"retain_dates": "K"}),
    "ContentDate": ("Z/D", {"retain_dates": "K"}),
    "ContentTime": ("Z/D", {"retain_dates": "K"}),
    "InstanceCreationDate": ("X/D", {"retain_dates": "K"}),
    "InstanceCreationTime": ("X/Z/D", {"retain_dates": "K"}),
    "OverlayDate": ("X", {"retain_dates": "K"}),
    "OverlayTime": ("X", {"retain_dates": "K"}),
    "CurveDate": ("X", {"retain_dates": "K"}),
    "CurveTime": ("X", {"retain_dates": "K"}),
    "SeriesDescription": ("X", {}),
    "ProtocolName": ("X/D", {}),
    "ImageComments": ("X", {}),
    "AcquisitionComments": ("X", {}),
    "DerivationDescription": ("X", {}),
    "ContrastBolusAgent": ("Z/D", {}),
    "PerformingPhysicianName": ("X", {}),
    "PerformingPhysicianIdentificationSequence": ("X", {}),
    "OperatorsName": ("X/Z/D", {}),
    "OperatorIdentificationSequence": ("X/D", {}),
    "ContentCreatorName": ("Z", {}),
    "VerifyingObserverName": ("D", {}),
    "VerifyingObserverSequence": ("D", {}),
    "VerifyingOrganization": ("X", {}),
    "VerifyingObserverIdentificationCodeSequence": ("Z", {}),
    "AuthorObserverSequence": ("X", {}),
    "ParticipantSequence": ("X", {}),
    "ContentSequence": ("X", {}),
    "GraphicAnnotationSequence": ("D", {}),
    "IconImageSequence": ("X", {}),
    "DigitalSignaturesSequence": ("X", {}),
    "MACParametersSequence": ("X", {}),
    "EncryptedAttributesSequence": ("X", {}),
    "OriginalAttributesSequence": ("X", {}),
    "DataSetTrailingPadding": ("X", {}),
    # -- the institution
    "InstitutionName": ("X/Z/D", {"retain_institution": "K"}),
    "InstitutionAddress": ("X", {"retain_institution": "K"}),
    "InstitutionalDepartmentName": ("X", {"retain_institution": "K"}),
    "InstitutionCodeSequence": ("X/Z/D", {"retain_institution": "K"}),
    # -- the device
    "StationName": ("X/Z/D", {"retain_device": "K"}),
    "DeviceSerialNumber": ("X/Z/D", {"retain_device": "K"}),
    "DeviceUID": ("U", {"retain_device": "K"}),
    "DeviceDescription": ("X", {"retain_device": "K"}),
    "DetectorID": ("X/D", {"retain_device": "K"}),
    "PlateID": ("X", {"retain_device": "K"}),
    "GeneratorID": ("X", {"retain_device": "K"}),
    "CassetteID": ("X", {"retain_device": "K"}),
    "GantryID": ("X", {"retain_device": "K"}),
    "ScheduledStationName": ("X", {"retain_device": "K"}),
    "ScheduledStationAETitle": ("X", {"retain_device": "K"}),
    "PerformedStationName": ("X", {"retain_device": "K"}),
    "PerformedStationAETitle": ("X", {"retain_device": "K"}),
}


@dataclass(frozen=True)
class DeidOptions:
    """The PS3.15 options chosen on top of the Basic Profile (all off: the Basic Profile alone).

    ``retain_dates`` (Retain Longitudinal Temporal Information with Full Dates),
    ``retain_device`` (Retain Device Identity), ``retain_uids`` (Retain UIDs),
    ``retain_patient_characteristics`` (sex, age, size, weight...), ``retain_institution``
    (Retain Institution Identity).
    """

    retain_dates: bool = False
    retain_device: bool = False
    retain_uids: bool = False
    retain_patient_characteristics: bool = False
    retain_institution: bool = False

    def chosen(self) -> list[str]:
        return [f.name for f in fields(self) if getattr(self, f.name)]


#: DICOM CID 7050 "De-identification Method": the code of the profile and of each option (scheme DCM)
PROFILE_CODE = ("113100", "Basic Application Confidentiality Profile")
OPTION_CODES = {
    "retain_dates": ("113106", "Retain Longitudinal Temporal Information Full Dates Option"),
    "retain_patient_characteristics": ("113108", "Retain Patient Characteristics Option"),
    "retain_device": ("113109", "Retain Device Identity Option"),
    "retain_uids": ("113110", "Retain UIDs Option"),
    "retain_institution": ("113112", "Retain Institution Identity Option"),
}

#: modalities whose images usually carry text burnt into the pixels (PS3.15 E.3.1 and the
#: "Clean Pixel Data" option's examples: ultrasound, secondary capture, photography, endoscopy...)
BURNS_TEXT_MODALITIES = {"US": "ultrasound", "SC": "secondary capture", "XC": "external-camera photography",
                         "ES": "endoscopy", "GM": "general microscopy", "OP": "ophthalmic photography",
                         "SM": "slide microscopy", "DOC": "a scanned document", "OT": "other"}


def resolve(action: str) -> str:
    """One action of a Table E.1-1 cell: ``U`` when it may replace a UID, else ``Z`` when it may be
    emptied (the value goes, the attribute stays for IODs that require it), ``X``, then ``D``."""
    parts = set(action.replace("*", "").split("/"))
    for choice in ("K", "U", "Z", "X", "D"):
        if choice in parts:
            return choice
    raise ValueError(f"not a PS3.15 action: {action!r}")


def action_for(keyword: str, options: DeidOptions = DeidOptions()) -> str:
    """The one action (``K``, ``U``, ``Z``, ``X`` or ``D``) the profile, with ``options``, takes on ``keyword``."""
    entry = ACTIONS.get(keyword)
    if entry is None:
        return "K"
    basic, by_option = entry
    for option in options.chosen():
        if option in by_option:
            return resolve(by_option[option])
    return resolve(basic)


def withheld(keyword: str, options: DeidOptions = DeidOptions()) -> bool:
    """Whether the profile (with ``options``) changes or removes ``keyword``: an export without
    ``include_phi`` leaves such a field out (:mod:`desktop.engine.inputs.dicomfacts`)."""
    return action_for(keyword, options) != "K"


def replace_uid(uid: str, salt: bytes) -> str:
    """``2.25.<integer>``: the first 128 bits of SHA-256(salt, uid); the same UID and salt give the same one."""
    digest = hashlib.sha256(salt + b"\0" + str(uid).strip().encode("ascii", "replace")).digest()
    return "2.25." + str(int.from_bytes(digest[:16], "big"))


def derived_uid(salt: bytes, *parts) -> str:
    """A new ``2.25.`` UID made from ``parts`` (e.g. run id, object kind, source UID): the same parts, the same UID,
    so exporting a run again writes the same objects rather than new copies of them."""
    return replace_uid("|".join(str(p) for p in parts), salt)


#: the salt's file in the config folder (``$INFERDESK_CONFIG_DIR``)
SALT_FILE = "deid-salt"


def installation_salt(folder=None) -> bytes:
    """This installation's salt for :func:`replace_uid`: 32 random bytes kept (hex) in ``folder/deid-salt``,
    made the first time (readable by the user only). ``folder``: the config folder by default."""
    if folder is None:
        from .store import default_config_dir

        folder = default_config_dir()
    path = Path(folder) / SALT_FILE
    try:
        return bytes.fromhex(path.read_text(encoding="ascii").strip())
    except (OSError, ValueError):
        pass
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:  # another process made it meanwhile: use theirs
        return bytes.fromhex(path.read_text(encoding="ascii").strip())
    with os.fdopen(fd, "w", encoding="ascii") as fh:
        fh.write(secrets.token_hex(32) + "\n")
    return bytes.fromhex(path.read_text(encoding="ascii").strip())


@dataclass
class Deidentified:
    """What :func:`deidentify` made: the de-identified copy, and what it did (keyword -> action taken)."""

    dataset: object
    actions: dict
    private_removed: int = 0


_DUMMY = {"DA": "19000101", "TM": "000000", "DT": "19000101000000", "PN": "ANONYMIZED", "IS": "0", "DS": "0",
          "AS": "000D"}


def _dummy(vr: str):
    if vr in _DUMMY:
        return _DUMMY[vr]
    if vr in ("US", "SS", "UL", "SL", "FL", "FD", "UV", "SV"):
        return 0
    return "ANONYMIZED"


def _walk(ds, options: DeidOptions, salt: bytes, done: dict) -> None:
    """Apply the table to ``ds`` and, recursively, to the items of the sequences it keeps."""
    from pydicom.sequence import Sequence

    for elem in list(ds):
        keyword = elem.keyword
        action = action_for(keyword, options) if keyword else "K"
        if action == "X":
            del ds[elem.tag]
        elif action == "Z" or (action == "D" and elem.VR == "SQ"):
            elem.value = Sequence([]) if elem.VR == "SQ" else None
        elif action == "D":
            elem.value = replace_uid(str(elem.value), salt) if elem.VR == "UI" else _dummy(elem.VR)
        elif action == "U" and elem.VR == "UI":
            if elem.value:
                values = elem.value if elem.VM > 1 else [elem.value]
                new = [replace_uid(str(v), salt) for v in values]
                elem.value = new if elem.VM > 1 else new[0]
        if action != "K" and keyword:
            done.setdefault(keyword, action)
        if elem.VR == "SQ" and action in ("K", "U") and elem.tag in ds:
            for item in elem.value:
                _walk(item, options, salt, done)


def deidentify(ds, options: DeidOptions = DeidOptions(), salt: bytes = b"") -> Deidentified:
    """A de-identified copy of ``ds`` (the original is not changed), per PS3.15 Table E.1-1 and ``options``.

    Private attributes, curves and overlays are removed, the table's actions applied at every
    level of nesting, UIDs replaced with :func:`replace_uid` (the file meta's
    MediaStorageSOPInstanceUID too), and the profile recorded as E.3 asks:
    PatientIdentityRemoved ``YES``, DeidentificationMethod (text) and
    DeidentificationMethodCodeSequence (CID 7050 codes of the profile and each option), with
    LongitudinalTemporalInformationModified ``UNMODIFIED`` or ``REMOVED``.
    """
    from pydicom.dataset import Dataset
    from pydicom.sequence import Sequence

    out = copy.deepcopy(ds)
    before = sum(1 for e in out.iterall() if e.tag.is_private)
    out.remove_private_tags()
    for tag in [t for t in out.keys() if (t.group & 0xFF00) in (0x5000, 0x6000)]:
        del out[tag]  # curves and overlays (repeating groups 50xx, 60xx): may hold burnt-in text
    done: dict = {}
    _walk(out, options, salt, done)
    meta = getattr(out, "file_meta", None)
    if meta is not None and "MediaStorageSOPInstanceUID" in meta and "SOPInstanceUID" in out:
        meta.MediaStorageSOPInstanceUID = out.SOPInstanceUID
    out.PatientIdentityRemoved = "YES"
    codes = [PROFILE_CODE] + [OPTION_CODES[o] for o in options.chosen() if o in OPTION_CODES]
    out.DeidentificationMethod = method_text(options)[:64]
    items = []
    for value, meaning in codes:
        item = Dataset()
        item.CodeValue, item.CodingSchemeDesignator, item.CodeMeaning = value, "DCM", meaning
        items.append(item)
    out.DeidentificationMethodCodeSequence = Sequence(items)
    out.LongitudinalTemporalInformationModified = "UNMODIFIED" if options.retain_dates else "REMOVED"
    return Deidentified(out, done, before)


def method_text(options: DeidOptions = DeidOptions()) -> str:
    """DeidentificationMethod's text: the profile and the options chosen, as PS3.15 names them."""
    names = {"retain_dates": "Full Dates", "retain_device": "Device Id", "retain_uids": "UIDs",
             "retain_patient_characteristics": "Patient Chars", "retain_institution": "Inst Id"}
    chosen = [names[o] for o in options.chosen()]
    return "PS3.15 Basic Profile" + (" + Retain " + ", ".join(chosen) if chosen else "")


def burned_in_warning(ds) -> str | None:
    """Why ``ds``'s pixels may show text that identifies the patient, or None: its BurnedInAnnotation
    says YES, or its modality is one that usually burns text in (:data:`BURNS_TEXT_MODALITIES`)
    and it does not say NO. De-identification changes the header only."""
    burned = str(ds.get("BurnedInAnnotation", "") or "").strip().upper()
    if burned == "YES":
        return "its BurnedInAnnotation is YES: the pixels show text that may identify the patient"
    modality = str(ds.get("Modality", "") or "").strip().upper()
    if modality in BURNS_TEXT_MODALITIES and burned != "NO":
        return (f"it is {BURNS_TEXT_MODALITIES[modality]} ({modality}), whose images often have text burnt into "
                "the pixels that may identify the patient; de-identification changes the header only")
    return None
