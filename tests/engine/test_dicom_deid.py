"""PS3.15 Basic Profile de-identification: the action table, UIDs replaced consistently, the method recorded,
nothing identifying left in the bytes, the options, the burned-in warning, and exports that agree with the table."""

from __future__ import annotations

import io
import json
import os
import shutil
import stat

import pytest

pydicom = pytest.importorskip("pydicom")
from pydicom.data import get_testdata_file  # noqa: E402
from pydicom.datadict import dictionary_VR, tag_for_keyword  # noqa: E402
from pydicom.dataset import Dataset  # noqa: E402
from pydicom.sequence import Sequence  # noqa: E402

from desktop.engine import dicom_deid as deid  # noqa: E402
from desktop.engine.inputs import dicomfacts  # noqa: E402

SALT = b"test-salt"


@pytest.fixture
def ct():
    ds = pydicom.dcmread(get_testdata_file("CT_small.dcm"))
    ref = Dataset()
    ref.ReferencedSOPClassUID = ds.SOPClassUID
    ref.ReferencedSOPInstanceUID = "1.2.3.4.5.6"
    ds.ReferencedImageSequence = Sequence([ref])
    ds.add_new(0x60000010, "US", 4)  # an overlay's rows: curves and overlays go
    ds.add_new(0x60003000, "OW", b"\0" * 8)
    ds.PatientAddress = "1 Hospital Road"
    ds.AccessionNumber = "ACC-778899"
    ds.DeviceSerialNumber = "SN-4242"
    return ds


def _bytes(ds) -> bytes:
    buf = io.BytesIO()
    ds.save_as(buf, enforce_file_format=True)
    return buf.getvalue()


def test_every_keyword_of_the_table_is_a_dicom_attribute_and_every_action_a_ps315_one():
    for keyword, (basic, by_option) in deid.ACTIONS.items():
        assert tag_for_keyword(keyword) is not None, keyword
        for action in (basic, *by_option.values()):
            assert set(action.replace("*", "").split("/")) <= set("DZXKCU"), (keyword, action)
        assert set(by_option) <= {f for f in deid.DeidOptions.__dataclass_fields__}, keyword
    uids = [k for k in deid.ACTIONS if dictionary_VR(tag_for_keyword(k)) == "UI"]
    assert all(deid.action_for(k) == "U" for k in uids), uids


@pytest.mark.parametrize("cell, action", [("Z/D", "Z"), ("X/Z", "Z"), ("X/D", "X"), ("X/Z/D", "Z"),
                                          ("X/Z/U*", "U"), ("D", "D"), ("K", "K"), ("U", "U")])
def test_a_cell_with_choices_resolves_to_one_action(cell, action):
    assert deid.resolve(cell) == action


def test_options_keep_what_they_name_and_nothing_else():
    dates, device, uids = (deid.DeidOptions(retain_dates=True), deid.DeidOptions(retain_device=True),
                           deid.DeidOptions(retain_uids=True))
    assert deid.action_for("StudyDate") == "Z" and deid.action_for("StudyDate", dates) == "K"
    assert deid.action_for("DeviceSerialNumber") == "Z" and deid.action_for("DeviceSerialNumber", device) == "K"
    assert deid.action_for("SOPInstanceUID") == "U" and deid.action_for("SOPInstanceUID", uids) == "K"
    for options in (dates, device, uids):
        assert deid.action_for("PatientName", options) == "Z" and deid.action_for("PatientID", options) == "Z"
    assert deid.action_for("Modality") == "K" and deid.action_for("Rows") == "K"


def test_uids_are_replaced_by_a_salted_hash_under_2_25():
    a = deid.replace_uid("1.2.840.1", SALT)
    assert a.startswith("2.25.") and len(a) <= 64 and a[5:].isdigit()
    assert a == deid.replace_uid("1.2.840.1", SALT) != deid.replace_uid("1.2.840.2", SALT)
    assert a != deid.replace_uid("1.2.840.1", b"another installation")


def test_deidentify_applies_the_table_everywhere_and_records_the_method(ct):
    original = _bytes(ct)
    out = deid.deidentify(ct, salt=SALT)
    ds = out.dataset
    assert _bytes(ct) == original  # the source is not changed
    for keyword in ("PatientName", "PatientID", "PatientBirthDate", "StudyDate", "AccessionNumber", "StudyID",
                    "ReferringPhysicianName", "InstitutionName", "DeviceSerialNumber"):
        assert keyword not in ds or ds[keyword].value in (None, "", []), keyword
    for keyword in ("PatientAddress", "OtherPatientIDsSequence", "StudyDescription", "ImageComments", "SeriesDate"):
        assert keyword not in ds, keyword
    for keyword in ("StudyInstanceUID", "SeriesInstanceUID", "SOPInstanceUID", "FrameOfReferenceUID"):
        assert ds[keyword].value == deid.replace_uid(ct[keyword].value, SALT), keyword
    assert ds.file_meta.MediaStorageSOPInstanceUID == ds.SOPInstanceUID
    assert ds.ReferencedImageSequence[0].ReferencedSOPInstanceUID == deid.replace_uid("1.2.3.4.5.6", SALT)
    assert ds.ReferencedImageSequence[0].ReferencedSOPClassUID == ct.SOPClassUID  # a standard UID stays
    assert ds.SOPClassUID == ct.SOPClassUID and ds.Modality == "CT" and ds.Rows == 128
    assert not [e for e in ds.iterall() if e.tag.is_private] and out.private_removed > 0
    assert 0x60003000 not in ds and 0x60000010 not in ds
    assert ds.PatientIdentityRemoved == "YES" and ds.LongitudinalTemporalInformationModified == "REMOVED"
    assert [(c.CodeValue, c.CodingSchemeDesignator, c.CodeMeaning) for c in ds.DeidentificationMethodCodeSequence] \
        == [("113100", "DCM", "Basic Application Confidentiality Profile")]
    assert ds.DeidentificationMethod == "PS3.15 Basic Profile"
    written = _bytes(ds)
    for text in ("CompressedSamples", "1CT1", "ACC-778899", "1 Hospital Road", "SN-4242", "20040119",
                 ct.StudyInstanceUID, ct.SOPInstanceUID, ct.SeriesInstanceUID, "1.2.3.4.5.6"):
        assert text.encode() not in written, text
    again = pydicom.dcmread(io.BytesIO(written))
    assert again.SOPInstanceUID == ds.SOPInstanceUID and again.pixel_array.shape == (128, 128)


def test_the_options_are_recorded_with_their_cid_7050_codes(ct):
    options = deid.DeidOptions(retain_dates=True, retain_device=True, retain_uids=True)
    ds = deid.deidentify(ct, options, SALT).dataset
    assert [c.CodeValue for c in ds.DeidentificationMethodCodeSequence] == ["113100", "113106", "113109", "113110"]
    assert ds.StudyDate == ct.StudyDate and ds.DeviceSerialNumber == "SN-4242"
    assert ds.StudyInstanceUID == ct.StudyInstanceUID and ds.SOPInstanceUID == ct.SOPInstanceUID
    assert not ds.PatientName and ds.LongitudinalTemporalInformationModified == "UNMODIFIED"
    assert ds.DeidentificationMethod == "PS3.15 Basic Profile + Retain Full Dates, Device Id, UIDs"


def test_two_images_of_one_study_stay_in_one_replaced_study(ct):
    other = pydicom.dcmread(get_testdata_file("CT_small.dcm"))
    other.SOPInstanceUID = other.SOPInstanceUID + ".9"
    a, b = (deid.deidentify(d, salt=SALT).dataset for d in (ct, other))
    assert a.StudyInstanceUID == b.StudyInstanceUID and a.SeriesInstanceUID == b.SeriesInstanceUID
    assert a.SOPInstanceUID != b.SOPInstanceUID


def test_the_salt_is_made_once_in_the_config_folder_for_the_user_only(tmp_path, monkeypatch):
    monkeypatch.setenv("INFERDESK_CONFIG_DIR", str(tmp_path / "cfg"))
    first = deid.installation_salt()
    assert len(first) == 32 and deid.installation_salt() == first
    path = tmp_path / "cfg" / deid.SALT_FILE
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert deid.installation_salt(tmp_path / "elsewhere") != first


@pytest.mark.parametrize("modality, burned, warned", [("CT", None, False), ("CT", "YES", True), ("US", None, True),
                                                      ("US", "NO", False), ("SC", None, True), ("XC", "", True),
                                                      ("ES", None, True), ("MR", "NO", False)])
def test_burned_in_warning(modality, burned, warned):
    ds = Dataset()
    ds.Modality = modality
    if burned is not None:
        ds.BurnedInAnnotation = burned
    assert (deid.burned_in_warning(ds) is not None) == warned


def test_exports_leave_out_every_field_the_profile_withholds():
    """The detail pane's identifying fields and the export's left-out list are the table's, so both agree."""
    for keyword in list(dicomfacts.IDENTIFYING_LABELS) + list(dicomfacts.EXPORT_IDENTIFYING):
        assert deid.withheld(keyword), keyword
    for keyword in dicomfacts.FACT_LABELS:
        assert deid.withheld(keyword) == (keyword in dicomfacts.EXPORT_IDENTIFYING), keyword
    for keyword in ("PatientAddress", "AccessionNumber", "PatientTelephoneNumbers", "OtherPatientIDs",
                    "InstitutionAddress", "ReferringPhysicianAddress", "MedicalRecordLocator"):
        assert keyword in dicomfacts.IDENTIFYING_LABELS, keyword


def test_a_json_export_has_the_replaced_uids_the_objects_use(tmp_path, capsys):
    from desktop.cli import main
    from tests.conftest import MODELS

    ct = tmp_path / "ct.dcm"
    shutil.copyfile(get_testdata_file("CT_small.dcm"), ct)
    assert main(["score", str(MODELS / "digits.onnx"), str(ct), "--format", "json", "--out",
                 str(tmp_path / "r.json")]) == 0
    err = capsys.readouterr().err
    record = json.loads((tmp_path / "r.json").read_text())["results"][0]["dicom"]
    salt = deid.installation_salt()
    source = pydicom.dcmread(ct)
    assert record["replaced_uids"] == {k: deid.replace_uid(source[k].value, salt)
                                       for k in ("StudyInstanceUID", "SeriesInstanceUID", "SOPInstanceUID")}
    assert "StudyInstanceUID" not in record and "PatientName" not in record
    assert "Left out patient-identifying DICOM fields: " in err and "AccessionNumber" not in record
