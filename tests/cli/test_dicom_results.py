"""history export --format dicom-seg|dicom-sr|dicom-sc: objects read back by pydicom and highdicom reference the
de-identified source images by the same replaced UIDs, hold the masks' pixels and say they are not for diagnosis."""

from __future__ import annotations

import json
import os
import shutil

import numpy as np
import pytest

pydicom = pytest.importorskip("pydicom")
hd = pytest.importorskip("highdicom")
from pydicom.data import get_testdata_file  # noqa: E402

from desktop.cli import main  # noqa: E402
from desktop.engine.dicom_deid import installation_salt, replace_uid  # noqa: E402
from desktop.engine.store import ResultStore  # noqa: E402
from tests.conftest import MODELS, SAMPLES  # noqa: E402
from tests.engine.test_detection import ULTRALYTICS, constant_model, yolov8_output  # noqa: E402
from tests.engine.test_segmentation import _yolo  # noqa: E402

DIGITS = str(MODELS / "digits.onnx")


@pytest.fixture
def dicoms(tmp_path):
    """Two CT slices of one series (the second a copy with its own instance UID) and an MR slice."""
    folder = tmp_path / "in"
    folder.mkdir()
    ct = folder / "ct1.dcm"
    shutil.copyfile(get_testdata_file("CT_small.dcm"), ct)
    second = pydicom.dcmread(ct)
    second.SOPInstanceUID = second.SOPInstanceUID + ".2"
    second.file_meta.MediaStorageSOPInstanceUID = second.SOPInstanceUID
    second.InstanceNumber = 2
    second.ImagePositionPatient = [float(v) for v in second.ImagePositionPatient[:2]] + [
        float(second.ImagePositionPatient[2]) + 5.0]
    second.save_as(folder / "ct2.dcm")
    mr = folder / "mr.dcm"
    shutil.copyfile(get_testdata_file("MR_small.dcm"), mr)
    return [str(folder / "ct1.dcm"), str(folder / "ct2.dcm"), str(mr)]


def _score(capsys, model, inputs) -> str:
    code = main(["score", str(model), *map(str, inputs), "-q"])
    capsys.readouterr()
    assert code in (0, 1)
    assert main(["history", "--json"]) == 0
    return json.loads(capsys.readouterr().out)[0]["id"]


def _export(capsys, run, fmt, out, *flags):
    code = main(["history", "export", run, "--format", fmt, "--out", str(out), *flags])
    return code, capsys.readouterr().err


def _read(folder):
    return {os.path.basename(p): pydicom.dcmread(os.path.join(folder, p)) for p in sorted(os.listdir(folder))}


def _results(run):
    with ResultStore() as store:
        return {r.input: r for b in store.batches(store.run(run).id) for r in (b.result(i) for i in range(len(b)))}


def test_seg_references_the_deidentified_sources_and_holds_their_masks(tmp_path, capsys, dicoms):
    run = _score(capsys, _yolo(tmp_path), dicoms)
    code, err = _export(capsys, run, "dicom-seg", tmp_path / "seg")
    assert code == 0, err
    assert "wrote 2 DICOM SEG objects" in err and "de-identified (PS3.15 Basic Profile)" in err
    salt = installation_salt()
    objects = _read(tmp_path / "seg")
    assert sorted(objects) == ["seg-ct1.dcm", "seg-mr.dcm"]  # one per source series
    results = _results(run)
    for name, sources in (("seg-ct1.dcm", dicoms[:2]), ("seg-mr.dcm", dicoms[2:])):
        seg = hd.seg.segread(tmp_path / "seg" / name)
        originals = [pydicom.dcmread(p) for p in sources]
        assert seg.SegmentationType == "BINARY" and seg.Modality == "SEG"
        assert seg.StudyInstanceUID == replace_uid(originals[0].StudyInstanceUID, salt)  # the same (replaced) study
        assert seg.SeriesInstanceUID not in {o.SeriesInstanceUID for o in originals}
        assert "NOT FOR DIAGNOSTIC USE" in seg.SeriesDescription and "NOT FOR DIAGNOSTIC USE" in seg.ContentDescription
        assert seg.PatientIdentityRemoved == "YES" and seg.PatientName == "" and seg.PatientID == ""
        refs = seg.ReferencedSeriesSequence[0]
        assert refs.SeriesInstanceUID == replace_uid(originals[0].SeriesInstanceUID, salt)
        want = {replace_uid(o.SOPInstanceUID, salt) for o in originals}
        assert {r.ReferencedSOPInstanceUID for r in refs.ReferencedInstanceSequence} == want
        frames = {f.DerivationImageSequence[0].SourceImageSequence[0].ReferencedSOPInstanceUID
                  for f in seg.PerFrameFunctionalGroupsSequence}
        assert frames == want  # each frame names its (replaced) source image
        algo = seg.SegmentSequence[0].SegmentationAlgorithmIdentificationSequence[0]
        assert algo.AlgorithmName == os.path.basename(_yolo(tmp_path)) and algo.AlgorithmFamilyCodeSequence[0] \
            .CodeMeaning == "Artificial Intelligence"
        assert [s.SegmentLabel for s in seg.SegmentSequence] == ["person", "bicycle"]
        for original, path in zip(originals, sources):
            label_map, names = results[path].label_map()
            uid = replace_uid(original.SOPInstanceUID, salt)
            for number, label in ((1, "person"), (2, "bicycle")):
                got = seg.get_pixels_by_source_instance([uid], segment_numbers=[number])[0, :, :, 0] \
                    if hasattr(seg, "get_pixels_by_source_instance") else \
                    seg.get_pixels_by_source_frame(original.StudyInstanceUID, [uid], segment_numbers=[number])[0, :, :, 0]
                np.testing.assert_array_equal(got.astype(bool), label_map == names.index(label))
            assert (label_map > 0).any()


def test_sr_has_the_classification_and_references_the_source(tmp_path, capsys, dicoms):
    run = _score(capsys, DIGITS, dicoms[2:])
    code, err = _export(capsys, run, "dicom-sr", tmp_path / "sr")
    assert code == 0, err
    salt = installation_salt()
    source = pydicom.dcmread(dicoms[2])
    sr = hd.sr.srread(tmp_path / "sr" / "sr-mr.dcm")
    assert sr.StudyInstanceUID == replace_uid(source.StudyInstanceUID, salt)
    evidence = sr.CurrentRequestedProcedureEvidenceSequence[0].ReferencedSeriesSequence[0]
    assert evidence.ReferencedSOPSequence[0].ReferencedSOPInstanceUID == replace_uid(source.SOPInstanceUID, salt)
    assert "NOT FOR DIAGNOSTIC USE" in sr.SeriesDescription and sr.PatientIdentityRemoved == "YES"
    top = _results(run)[dicoms[2]].top[0]
    (group,) = sr.content.get_image_measurement_groups()
    (evaluation,) = group.get_qualitative_evaluations()
    assert evaluation.name.meaning.startswith("Classification") and evaluation.value.meaning == top.label
    assert group.get_measurements()[0].value == pytest.approx(top.score, rel=1e-6)
    (observer,) = sr.content.get_observer_contexts()
    assert observer.observer_type.meaning == "Device" and "digits.onnx" in str(observer)
    text = (tmp_path / "sr" / "sr-mr.dcm").read_bytes()  # the algorithm's parameters
    assert b"sha256=" + _results(run)[dicoms[2]].input_sha256.encode() not in text  # the input's hash is not the model's
    assert b"sha256=" in text and b"NOT FOR DIAGNOSTIC USE" in text


def test_sr_of_a_segmenter_has_the_areas_in_mm2(tmp_path, capsys, dicoms):
    run = _score(capsys, _yolo(tmp_path), dicoms[2:])
    code, err = _export(capsys, run, "dicom-sr", tmp_path / "sr")
    assert code == 0, err
    sr = hd.sr.srread(tmp_path / "sr" / "sr-mr.dcm")
    areas = {g.finding_type.meaning: g.get_measurements()[0] for g in sr.content.get_image_measurement_groups()
             if g.finding_type is not None and g.get_measurements()[0].name.meaning == "Area"}
    want = _results(run)[dicoms[2]].areas()
    assert set(areas) == set(want) - {"background"} and areas
    for label, measurement in areas.items():
        assert measurement.unit.value == "mm2" and measurement.value == pytest.approx(want[label]["mm2"], rel=1e-6)
    assert len(sr.content.get_planar_roi_measurement_groups()) == len(_results(run)[dicoms[2]].detections)


def test_sr_of_detections_has_image_regions_on_the_source(tmp_path, capsys, dicoms):
    model = constant_model(tmp_path / "det.onnx", {"output0": yolov8_output()}, ULTRALYTICS)
    run = _score(capsys, model, dicoms[:1])
    code, err = _export(capsys, run, "dicom-sr", tmp_path / "sr")
    assert code == 0, err
    salt = installation_salt()
    uid = replace_uid(pydicom.dcmread(dicoms[0]).SOPInstanceUID, salt)
    sr = hd.sr.srread(tmp_path / "sr" / "sr-ct1.dcm")
    detections = _results(run)[dicoms[0]].detections
    groups = sr.content.get_planar_roi_measurement_groups()
    assert len(groups) == len(detections) > 0
    for group, det in zip(groups, detections):
        region = group.roi
        assert region.value_type.value == "SCOORD" and region.graphic_type.value == "POLYLINE"
        x1, y1, x2, y2 = det.box
        np.testing.assert_allclose(region.value[0], [x1, y1], atol=1e-3)
        np.testing.assert_allclose(region.value[2], [x2, y2], atol=1e-3)
        assert region.ContentSequence[0].ReferencedSOPSequence[0].ReferencedSOPInstanceUID == uid
        assert group.finding_type.meaning == det.label


def test_sc_is_the_overlay_in_the_same_study(tmp_path, capsys, dicoms):
    run = _score(capsys, DIGITS, dicoms[:1])
    code, err = _export(capsys, run, "dicom-sc", tmp_path / "sc")
    assert code == 0, err
    salt = installation_salt()
    source = pydicom.dcmread(dicoms[0])
    sc = pydicom.dcmread(tmp_path / "sc" / "sc-ct1.dcm")
    assert sc.SOPClassUID == "1.2.840.10008.5.1.4.1.1.7"  # Secondary Capture Image Storage
    assert sc.StudyInstanceUID == replace_uid(source.StudyInstanceUID, salt)
    assert sc.SourceImageSequence[0].ReferencedSOPInstanceUID == replace_uid(source.SOPInstanceUID, salt)
    assert "NOT FOR DIAGNOSTIC USE" in sc.ImageComments and "digits.onnx" in sc.ImageComments
    assert sc.BurnedInAnnotation == "YES" and sc.PatientIdentityRemoved == "YES"
    pixels = sc.pixel_array
    assert pixels.shape == (source.Rows, source.Columns, 3)
    top = pixels[:20].astype(int)
    assert ((top[..., 0] > 200) & (top[..., 1] > 200) & (top[..., 2] < 60)).sum() > 50  # the yellow answer on top
    assert (pixels[40:].max(axis=-1) == pixels[40:].min(axis=-1)).all()  # below it, the grey image as it was


def test_one_object_per_source_and_the_uids_agree_across_objects(tmp_path, capsys, dicoms):
    """SR and SC of one run name the same replaced study, series and instance UIDs; a second export writes the same."""
    run = _score(capsys, DIGITS, dicoms)
    assert _export(capsys, run, "dicom-sr", tmp_path / "sr")[0] == 0
    assert _export(capsys, run, "dicom-sc", tmp_path / "sc")[0] == 0
    assert _export(capsys, run, "dicom-sr", tmp_path / "sr2")[0] == 0
    sr, sc, again = _read(tmp_path / "sr"), _read(tmp_path / "sc"), _read(tmp_path / "sr2")
    assert len(sr) == len(sc) == 3
    for name in ("ct1", "ct2", "mr"):
        a, b = sr[f"sr-{name}.dcm"], sc[f"sc-{name}.dcm"]
        ref = a.CurrentRequestedProcedureEvidenceSequence[0].ReferencedSeriesSequence[0]
        assert a.StudyInstanceUID == b.StudyInstanceUID
        assert ref.ReferencedSOPSequence[0].ReferencedSOPInstanceUID == b.SourceImageSequence[0].ReferencedSOPInstanceUID
        assert again[f"sr-{name}.dcm"].SOPInstanceUID == a.SOPInstanceUID  # the same object, not a new copy
    assert sr["sr-ct1.dcm"].StudyInstanceUID == sr["sr-ct2.dcm"].StudyInstanceUID
    assert main(["history", "export", run, "--format", "jsonl", "--out", str(tmp_path / "r.jsonl")]) == 0
    records = [json.loads(line) for line in (tmp_path / "r.jsonl").read_text().splitlines()]
    for record, name in zip(records, ("ct1", "ct2", "mr")):  # the jsonl export names the objects' UIDs
        replaced = record["dicom"]["replaced_uids"]
        assert replaced["StudyInstanceUID"] == sc[f"sc-{name}.dcm"].StudyInstanceUID
        assert replaced["SOPInstanceUID"] == sc[f"sc-{name}.dcm"].SourceImageSequence[0].ReferencedSOPInstanceUID


def test_retain_uids_keeps_the_study_and_include_phi_the_patient(tmp_path, capsys, dicoms):
    run = _score(capsys, DIGITS, dicoms[2:])
    source = pydicom.dcmread(dicoms[2])
    assert _export(capsys, run, "dicom-sc", tmp_path / "a", "--retain-uids", "--retain-dates")[0] == 0
    sc = pydicom.dcmread(tmp_path / "a" / "sc-mr.dcm")
    assert sc.StudyInstanceUID == source.StudyInstanceUID and sc.StudyDate == source.StudyDate
    assert sc.SourceImageSequence[0].ReferencedSOPInstanceUID == source.SOPInstanceUID
    assert sc.PatientName == "" and sc.PatientIdentityRemoved == "YES"
    codes = [c.CodeValue for c in sc.DeidentificationMethodCodeSequence]
    assert codes == ["113100", "113106", "113110"]
    code, err = _export(capsys, run, "dicom-sc", tmp_path / "b", "--include-phi")
    assert code == 0 and "with patient details" in err
    sc = pydicom.dcmread(tmp_path / "b" / "sc-mr.dcm")
    assert sc.PatientName == source.PatientName and "PatientIdentityRemoved" not in sc


def test_a_source_gone_or_not_dicom_is_named_and_the_rest_written(tmp_path, capsys, dicoms):
    png = tmp_path / "in" / "digit.png"
    shutil.copyfile(SAMPLES / "digits" / "digit_7_1496.png", png)
    run = _score(capsys, DIGITS, [dicoms[0], dicoms[2], png])
    os.unlink(dicoms[2])
    code, err = _export(capsys, run, "dicom-sc", tmp_path / "sc")
    assert code == 0
    assert f"skipped {dicoms[2]}: the file is no longer there" in err
    assert f"skipped {png}: not a DICOM input" in err
    assert os.listdir(tmp_path / "sc") == ["sc-ct1.dcm"] and "wrote 1 DICOM Secondary Capture object " in err
    os.unlink(dicoms[0])
    code, err = _export(capsys, run, "dicom-sc", tmp_path / "none")
    assert code == 2 and "wrote 0 DICOM" in err


def test_a_changed_source_is_refused(tmp_path, capsys, dicoms):
    run = _score(capsys, DIGITS, dicoms[2:])
    ds = pydicom.dcmread(dicoms[2])
    ds.PatientName = "Changed^Meanwhile"
    ds.save_as(dicoms[2])
    code, err = _export(capsys, run, "dicom-sr", tmp_path / "sr")
    assert code == 2 and "has changed since it was scored" in err


def test_seg_of_a_classifier_is_refused(tmp_path, capsys, dicoms):
    run = _score(capsys, DIGITS, dicoms[2:])
    code, err = _export(capsys, run, "dicom-seg", tmp_path / "seg")
    assert code == 2 and "DICOM SEG holds a segmenter's masks" in err


def test_ultrasound_gets_the_burned_in_warning(tmp_path, capsys, dicoms):
    ds = pydicom.dcmread(dicoms[2])
    ds.Modality = "US"
    us = tmp_path / "in" / "us.dcm"
    ds.save_as(us)
    run = _score(capsys, DIGITS, [us])
    code, err = _export(capsys, run, "dicom-sc", tmp_path / "sc")
    assert code == 0
    assert f"warning: {us}: it is ultrasound (US)" in err and "burnt into the pixels" in err


def test_a_dicom_export_needs_a_folder(tmp_path, capsys, dicoms):
    run = _score(capsys, DIGITS, dicoms[2:])
    assert main(["history", "export", run, "--format", "dicom-sr"]) == 2
    assert "--format dicom-sr writes a folder: give --out" in capsys.readouterr().err


def test_sc_draws_the_image_through_the_window_it_was_scored_with(tmp_path, capsys, dicoms):
    """A profile's dicom.window (bone) is how the model saw the slice, and how the Secondary Capture shows it."""
    from desktop.engine.inputs.images import decode_dicom
    from tests.conftest import MODELS as models

    raw = json.loads((models / "digits.profile.json").read_text(encoding="utf-8"))
    profile = tmp_path / "bone.profile.json"
    profile.write_text(json.dumps({**raw, "dicom": {"window": "bone"}}), encoding="utf-8")
    assert main(["score", DIGITS, dicoms[0], "--profile", str(profile), "-q"]) in (0, 1)
    capsys.readouterr()
    assert main(["history", "--json"]) == 0
    run = json.loads(capsys.readouterr().out)[0]["id"]
    code, err = _export(capsys, run, "dicom-sc", tmp_path / "sc")
    assert code == 0, err
    pixels = pydicom.dcmread(tmp_path / "sc" / "sc-ct1.dcm").pixel_array[40:, :, 0]
    bone = np.clip(np.asarray(decode_dicom(dicoms[0], window="bone")), 0, 255).astype(np.uint8)[40:]
    np.testing.assert_array_equal(pixels, bone)
    assert not np.array_equal(pixels, np.clip(np.asarray(decode_dicom(dicoms[0])), 0, 255).astype(np.uint8)[40:])
