"""history export --format dicom-seg|dicom-sr|dicom-sc of a multi-frame file's frames (items ``file.dcm#frame=N``):
each object read back by pydicom and highdicom names the (de-identified) source and the frame it is of, the SEG holds
each scored frame's mask, the Secondary Capture that frame's pixels."""

from __future__ import annotations

import copy
import os
import shutil

import numpy as np
import pytest

pydicom = pytest.importorskip("pydicom")
hd = pytest.importorskip("highdicom")
from pydicom.data import get_testdata_file  # noqa: E402
from pydicom.dataset import Dataset  # noqa: E402
from pydicom.sequence import Sequence  # noqa: E402
from pydicom.uid import generate_uid  # noqa: E402

from desktop.engine.dicom_deid import installation_salt, replace_uid  # noqa: E402
from desktop.engine.inputs.images import decode_dicom  # noqa: E402
from tests.cli.test_dicom_results import DIGITS, _export, _results, _score  # noqa: E402
from tests.engine.test_segmentation import _yolo  # noqa: E402

ENHANCED_CT = "1.2.840.10008.5.1.4.1.1.2.1"


def enhanced_ct(path, n=4):
    """CT_small's pixels as an ``n``-frame Enhanced CT (frame k rolled 7k columns), 10 mm apart along z, with the
    per-frame plane positions and the shared orientation and pixel measures highdicom derives a SEG from."""
    base = pydicom.dcmread(get_testdata_file("CT_small.dcm"))
    frames = [np.roll(base.pixel_array, 7 * k, axis=1) for k in range(n)]
    ds = copy.deepcopy(base)
    ds.SOPClassUID = ds.file_meta.MediaStorageSOPClassUID = ENHANCED_CT
    ds.SOPInstanceUID = ds.file_meta.MediaStorageSOPInstanceUID = generate_uid()
    ds.NumberOfFrames = n
    ds.PixelData = np.stack(frames).tobytes()
    per_frame = []
    for k in range(n):
        group, plane = Dataset(), Dataset()
        plane.ImagePositionPatient = [0.0, 0.0, 10.0 * k]
        group.PlanePositionSequence = Sequence([plane])
        per_frame.append(group)
    ds.PerFrameFunctionalGroupsSequence = Sequence(per_frame)
    shared, orientation, measures = Dataset(), Dataset(), Dataset()
    orientation.ImageOrientationPatient = [1, 0, 0, 0, 1, 0]
    measures.PixelSpacing = list(base.PixelSpacing)
    measures.SliceThickness = base.SliceThickness
    shared.PlaneOrientationSequence = Sequence([orientation])
    shared.PixelMeasuresSequence = Sequence([measures])
    ds.SharedFunctionalGroupsSequence = Sequence([shared])
    for keyword in ("ImagePositionPatient", "ImageOrientationPatient", "PixelSpacing", "SliceThickness"):
        delattr(ds, keyword)
    path.parent.mkdir(parents=True, exist_ok=True)
    ds.save_as(path, enforce_file_format=True)
    return str(path)


@pytest.fixture
def enhanced(tmp_path):
    return enhanced_ct(tmp_path / "in" / "enhanced.dcm")


def frames_of(path, *numbers):
    return [f"{path}#frame={n}" for n in numbers]


def test_seg_of_scored_frames_is_one_object_referencing_each_frame(tmp_path, capsys, enhanced):
    items = frames_of(enhanced, 2, 4)  # frames 1 and 3 are not scored
    run = _score(capsys, _yolo(tmp_path), items)
    code, err = _export(capsys, run, "dicom-seg", tmp_path / "seg")
    assert code == 0, err
    assert "wrote 1 DICOM SEG object" in err and "skipped" not in err
    assert os.listdir(tmp_path / "seg") == ["seg-enhanced.dcm"]
    salt = installation_salt()
    source = pydicom.dcmread(enhanced)
    uid = replace_uid(source.SOPInstanceUID, salt)
    seg = hd.seg.segread(tmp_path / "seg" / "seg-enhanced.dcm")
    assert seg.StudyInstanceUID == replace_uid(source.StudyInstanceUID, salt) and seg.PatientIdentityRemoved == "YES"
    (ref,) = seg.ReferencedSeriesSequence[0].ReferencedInstanceSequence
    assert ref.ReferencedSOPInstanceUID == uid
    referenced = sorted((f.DerivationImageSequence[0].SourceImageSequence[0].ReferencedSOPInstanceUID,
                         int(f.DerivationImageSequence[0].SourceImageSequence[0].ReferencedFrameNumber))
                        for f in seg.PerFrameFunctionalGroupsSequence)
    segments = [s.SegmentLabel for s in seg.SegmentSequence]
    assert segments == ["person", "bicycle"]
    assert referenced == sorted([(uid, 2), (uid, 4)] * len(segments))  # a frame per segment per scored frame
    positions = {int(f.DerivationImageSequence[0].SourceImageSequence[0].ReferencedFrameNumber):
                 [float(v) for v in f.PlanePositionSequence[0].ImagePositionPatient]
                 for f in seg.PerFrameFunctionalGroupsSequence}
    assert positions == {2: [0.0, 0.0, 10.0], 4: [0.0, 0.0, 30.0]}  # each at its source frame's position
    results = _results(run)
    for item, number in zip(items, (2, 4)):
        label_map, names = results[item].label_map()
        assert label_map.shape == (source.Rows, source.Columns) and (label_map > 0).any()
        for segment, label in enumerate(segments, 1):
            got = seg.get_pixels_by_source_frame(uid, source_frame_numbers=[number], segment_numbers=[segment])
            np.testing.assert_array_equal(got[0, :, :, 0].astype(bool), label_map == names.index(label))


def test_every_frame_scored_gives_the_same_seg_as_the_file(tmp_path, capsys, enhanced):
    """Named as a file, the multi-frame source gives its four frames as items: one SEG of four frames."""
    run = _score(capsys, _yolo(tmp_path), [enhanced])
    code, err = _export(capsys, run, "dicom-seg", tmp_path / "seg")
    assert code == 0, err
    seg = hd.seg.segread(tmp_path / "seg" / "seg-enhanced.dcm")
    numbers = {int(f.DerivationImageSequence[0].SourceImageSequence[0].ReferencedFrameNumber)
               for f in seg.PerFrameFunctionalGroupsSequence}
    assert numbers == {1, 2, 3, 4}


def test_sr_of_a_frame_references_it_by_frame_number(tmp_path, capsys, enhanced):
    items = frames_of(enhanced, 3, 1)
    run = _score(capsys, DIGITS, items)
    code, err = _export(capsys, run, "dicom-sr", tmp_path / "sr")
    assert code == 0, err
    assert sorted(os.listdir(tmp_path / "sr")) == ["sr-enhanced-frame1.dcm", "sr-enhanced-frame3.dcm"]
    uid = replace_uid(pydicom.dcmread(enhanced).SOPInstanceUID, installation_salt())
    results = _results(run)
    sops = set()
    for item, number in zip(items, (3, 1)):
        sr = hd.sr.srread(tmp_path / "sr" / f"sr-enhanced-frame{number}.dcm")
        sops.add(sr.SOPInstanceUID)
        evidence = sr.CurrentRequestedProcedureEvidenceSequence[0].ReferencedSeriesSequence[0]
        assert evidence.ReferencedSOPSequence[0].ReferencedSOPInstanceUID == uid
        (group,) = sr.content.get_image_measurement_groups()
        (image,) = group.source_images
        assert image.referenced_sop_instance_uid == uid and list(image.referenced_frame_numbers) == [number]
        (evaluation,) = group.get_qualitative_evaluations()
        assert evaluation.value.meaning == results[item].top[0].label
    assert len(sops) == 2  # an object per frame, not one written over the other


def test_sc_of_a_frame_burns_the_overlay_on_that_frames_pixels(tmp_path, capsys, enhanced):
    items = frames_of(enhanced, 1, 3)
    run = _score(capsys, DIGITS, items)
    code, err = _export(capsys, run, "dicom-sc", tmp_path / "sc")
    assert code == 0, err
    uid = replace_uid(pydicom.dcmread(enhanced).SOPInstanceUID, installation_salt())
    grey = {}
    for item, number in zip(items, (1, 3)):
        sc = pydicom.dcmread(tmp_path / "sc" / f"sc-enhanced-frame{number}.dcm")
        (ref,) = sc.SourceImageSequence
        assert ref.ReferencedSOPInstanceUID == uid and int(ref.ReferencedFrameNumber) == number
        assert [float(v) for v in sc.PixelSpacing] == [float(v) for v in pydicom.dcmread(
            get_testdata_file("CT_small.dcm")).PixelSpacing]  # from the shared functional groups
        pixels = sc.pixel_array
        want = np.clip(np.asarray(decode_dicom(item)), 0, 255).astype(np.uint8)
        below = slice(40, None)  # under the answer along the top
        np.testing.assert_array_equal(pixels[below, :, 0], want[below])
        assert (pixels[below].max(axis=-1) == pixels[below].min(axis=-1)).all()
        grey[number] = pixels[below, :, 0]
    assert not np.array_equal(grey[1], grey[3])  # each is its own frame (rolled 14 columns apart)


def test_a_frame_of_a_changed_file_is_refused(tmp_path, capsys, enhanced):
    """The SHA-256 recorded for a frame's item is its file's, checked against the file as it is now."""
    run = _score(capsys, DIGITS, frames_of(enhanced, 2))
    ds = pydicom.dcmread(enhanced)
    ds.PatientName = "Changed^Meanwhile"
    ds.save_as(enhanced)
    code, err = _export(capsys, run, "dicom-sc", tmp_path / "sc")
    assert code == 2 and f"skipped {enhanced}#frame=2: the file has changed since it was scored" in err


def test_ultrasound_clip_has_sr_and_sc_per_frame_and_seg_is_refused_with_the_reason(tmp_path, capsys):
    """examples_ybr_color.dcm: a 30-frame ultrasound clip with no frame of reference."""
    clip = tmp_path / "in" / "clip.dcm"
    clip.parent.mkdir()
    shutil.copyfile(get_testdata_file("examples_ybr_color.dcm"), clip)
    items = frames_of(clip, 5, 6)
    run = _score(capsys, DIGITS, items)
    code, err = _export(capsys, run, "dicom-sc", tmp_path / "sc")
    assert code == 0, err
    assert sorted(os.listdir(tmp_path / "sc")) == ["sc-clip-frame5.dcm", "sc-clip-frame6.dcm"]
    assert err.count(f"warning: {clip}: it is ultrasound (US)") == 1  # once for the file, not for each frame
    code, err = _export(capsys, run, "dicom-sr", tmp_path / "sr")
    assert code == 0, err
    sr = hd.sr.srread(tmp_path / "sr" / "sr-clip-frame6.dcm")
    (group,) = sr.content.get_image_measurement_groups()
    assert list(group.source_images[0].referenced_frame_numbers) == [6]
    seg_run = _score(capsys, _yolo(tmp_path), items)
    code, err = _export(capsys, seg_run, "dicom-seg", tmp_path / "seg")
    assert code == 2
    why = "a SEG of a multi-frame file places each frame by its position in a frame of reference"
    assert f"skipped {items[0]}: {why}" in err and f"skipped {items[1]}: {why}" in err and "wrote 0 DICOM SEG" in err


def test_frames_of_a_single_frame_class_file_get_sr_and_sc_and_the_seg_says_why_not(tmp_path, capsys):
    """A CT Image (a single-frame SOP class) holding four frames: SR and SC name the frame; highdicom makes no SEG."""
    from tests.engine.test_dicom_series import write_multiframe

    path = tmp_path / "in" / "legacy.dcm"
    write_multiframe(path)
    items = frames_of(path, 1, 2)
    run = _score(capsys, _yolo(tmp_path), items)
    code, err = _export(capsys, run, "dicom-sr", tmp_path / "sr")
    assert code == 0 and "wrote 2 DICOM SR objects" in err
    sr = hd.sr.srread(tmp_path / "sr" / "sr-legacy-frame2.dcm")
    assert list(sr.content.get_image_measurement_groups()[0].source_images[0].referenced_frame_numbers) == [2]
    code, err = _export(capsys, run, "dicom-sc", tmp_path / "sc")
    assert code == 0 and int(pydicom.dcmread(tmp_path / "sc" / "sc-legacy-frame1.dcm")
                             .SourceImageSequence[0].ReferencedFrameNumber) == 1
    code, err = _export(capsys, run, "dicom-seg", tmp_path / "seg")
    assert code == 2 and "its SOP class (CT Image Storage) is a single-frame one" in err
