"""DICOM series: grouping by study and series, slice order by position, frames as items, what is chosen."""

from __future__ import annotations

import copy
import re
import random
import warnings

import numpy as np
import pytest

pydicom = pytest.importorskip("pydicom")
from pydicom.data import get_testdata_files  # noqa: E402
from pydicom.dataset import Dataset  # noqa: E402
from pydicom.pixels import apply_modality_lut  # noqa: E402
from pydicom.sequence import Sequence  # noqa: E402
from pydicom.uid import ExplicitVRLittleEndian, generate_uid  # noqa: E402

from desktop.engine.errors import InputError  # noqa: E402
from desktop.engine.inputs import InputKind, expand_inputs  # noqa: E402
from desktop.engine.inputs.dicomseries import (  # noqa: E402
    apply_selection, frame_dataset, order_slices, parse_frames, series_matches, series_of, slice_normal,
    slice_position, spacing_problem, split_frame, Slice,
)
from desktop.engine.inputs.images import decode_dicom  # noqa: E402


def local(name: str) -> str:
    """A file pydicom ships in its wheel (get_testdata_file with a name would download the others)."""
    found = [p for p in get_testdata_files() if p.replace("\\", "/").rsplit("/", 1)[-1] == name]
    if not found:
        pytest.skip(f"{name} is not among pydicom's installed test files")
    return found[0]


def read(name: str):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return pydicom.dcmread(local(name))


def name_of(item) -> str:
    return item.path.replace("\\", "/").rsplit("/", 1)[-1]


# --------------------------------------------------------------------------- pure functions
def test_split_frame():
    assert split_frame("a/b.dcm#frame=3") == ("a/b.dcm", 3)
    assert split_frame("a/b.dcm") == ("a/b.dcm", None)
    assert split_frame("a/b.dcm#frame=0") == ("a/b.dcm#frame=0", None)  # frames count from 1
    assert split_frame("a/b.dcm#frame=x") == ("a/b.dcm#frame=x", None)


def test_a_file_really_named_with_the_mark_is_itself(tmp_path):
    odd = tmp_path / "scan#frame=2"
    odd.write_bytes(b"x")
    assert split_frame(str(odd)) == (str(odd), None)


def test_position_is_projected_on_the_normal():
    axial = slice_normal([1, 0, 0, 0, 1, 0])
    np.testing.assert_allclose(axial, [0, 0, 1])
    assert slice_position([10, 20, -30.5], axial) == -30.5
    # an oblique plane tilted 30° about x: the normal is not z, and z alone would order wrongly
    c, s = np.cos(np.pi / 6), np.sin(np.pi / 6)
    tilted = slice_normal([1, 0, 0, 0, c, s])
    np.testing.assert_allclose(tilted, [0, -s, c])
    assert slice_position([0, -s * 4, c * 4], tilted) == pytest.approx(4.0)
    assert slice_normal([1, 0, 0, 1, 0, 0]) is None  # parallel directions
    assert slice_normal(None) is None and slice_normal([1, 2]) is None
    assert slice_position(None, axial) is None and slice_position([0, 0, 0], None) is None


def test_spacing_problem():
    assert spacing_problem([0, 2.5, 5.0, 7.5]) is None
    assert spacing_problem([0.0, 2.5]) is None
    assert "irregular slice spacing: 2.5–5 mm" in spacing_problem([0, 2.5, 5.0, 10.0, 12.5])
    assert "uneven after slice 3" in spacing_problem([0, 2.5, 5.0, 10.0, 12.5])
    assert "at the same position" in spacing_problem([0, 2.5, 2.5, 5.0])
    assert "at the same position" in spacing_problem([1.0, 1.0])


def test_order_falls_back_to_instance_number_then_name():
    def s(name, position, instance):
        return Slice(name, name, None, position, instance, (2, 2))

    ordered, by = order_slices([s("b", 5.0, 1), s("a", -5.0, 2)])
    assert [x.path for x in ordered] == ["a", "b"] and by == "position"
    ordered, by = order_slices([s("b", None, 1), s("a", -5.0, 2)])
    assert [x.path for x in ordered] == ["b", "a"] and by == "instance number"
    ordered, by = order_slices([s("img10", None, None), s("img9", None, 3)])
    assert [x.path for x in ordered] == ["img9", "img10"] and by == "file name"


@pytest.mark.parametrize("text,expected", [("3", (3, 3)), ("1-10", (1, 10)), (" 5 - ", (5, None)), (7, (7, 7))])
def test_parse_frames(text, expected):
    assert parse_frames(text) == expected


@pytest.mark.parametrize("text", ["0", "10-2", "a-b", "1-2-3", "", "-4"])
def test_parse_frames_refuses(text):
    with pytest.raises(ValueError):
        parse_frames(text)


# --------------------------------------------------------------------------- a shuffled series
SPACING = 2.5


def write_series(folder, n=6, gaps=None, seed=3, bare=(1, 4), series_uid=None, sizes=None, prefix="slice"):
    """Copies of CT_small.dcm as one series: positions along the slice normal at ``gaps`` (mm, default
    even), InstanceNumber shuffled, written in a shuffled order, some (``bare``) without an extension.

    Returns the paths in true slice order."""
    base = read("CT_small.dcm")
    normal = slice_normal(base.ImageOrientationPatient)
    origin = np.asarray([float(v) for v in base.ImagePositionPatient])
    offsets = np.cumsum([0.0] + list(gaps if gaps is not None else [SPACING] * (n - 1)))
    instance_numbers = list(range(1, n + 1))
    random.Random(seed).shuffle(instance_numbers)
    series_uid = series_uid or generate_uid()
    folder.mkdir(parents=True, exist_ok=True)
    names = [f"{prefix}_{k:02d}" for k in range(n)]
    order = list(range(n))
    random.Random(seed + 1).shuffle(order)
    names = [names[i] for i in order]  # file names do not follow the slices either
    paths = []
    for k in range(n):
        ds = copy.deepcopy(base)  # Dataset.copy() shares the elements: setting Rows would change base
        ds.SeriesInstanceUID = series_uid
        ds.SOPInstanceUID = generate_uid()
        ds.InstanceNumber = instance_numbers[k]
        ds.ImagePositionPatient = [float(v) for v in origin + offsets[k] * normal]
        if sizes and sizes.get(k):
            rows, cols = sizes[k]
            ds.Rows, ds.Columns = rows, cols
            ds.PixelData = base.pixel_array[:rows, :cols].tobytes()
        path = folder / (names[k] if k in bare else names[k] + ".dcm")
        ds.save_as(path, enforce_file_format=True)
        paths.append(str(path))
    return paths


def test_shuffled_series_is_ordered_by_position(tmp_path):
    truth = write_series(tmp_path / "study")
    (tmp_path / "study" / "notes").write_text("not DICOM, no extension")  # looked at, left out
    items = expand_inputs([tmp_path / "study"])
    assert [i.path for i in items] == truth
    assert all(i.kind == InputKind.DICOM for i in items)
    [series] = series_of(items)
    assert series.modality == "CT" and series.files == 6 and series.frames == 6
    assert series.ordered_by == "position" and series.problem is None
    # InstanceNumber was shuffled: it is not what orders them
    numbers = [int(pydicom.dcmread(p, stop_before_pixels=True).InstanceNumber) for p in truth]
    assert numbers != sorted(numbers)


def test_irregular_spacing_is_reported(tmp_path):
    write_series(tmp_path / "s", n=5, gaps=[2.5, 2.5, 5.0, 2.5])
    [series] = series_of(expand_inputs([tmp_path / "s"]))
    assert series.problem.startswith("irregular slice spacing: 2.5–5 mm")


def test_two_series_are_apart_and_ordered_by_number(tmp_path):
    a = write_series(tmp_path / "mixed", n=3, seed=1, prefix="a")
    b = write_series(tmp_path / "mixed", n=2, seed=2, prefix="b")
    for path, number in [(p, 7) for p in a] + [(p, 2) for p in b]:
        ds = pydicom.dcmread(path)
        ds.SeriesNumber = number
        ds.save_as(path)
    items = expand_inputs([tmp_path / "mixed"])
    assert [s.number for s in series_of(items)] == ["2", "7"]
    assert [i.path for i in items] == b + a


def test_a_slice_of_another_size_gets_its_own_message(tmp_path):
    paths = write_series(tmp_path / "sizes", n=4, sizes={2: (64, 64)})
    items = expand_inputs([tmp_path / "sizes"])
    odd = [i for i in items if i.kind == InputKind.INVALID]
    assert [i.path for i in odd] == [paths[2]]
    assert odd[0].problem.endswith("64×64 pixels, where the rest of its series (CT series 1) is 128×128; left "
                                   "out of the series")
    [series] = series_of(items)
    assert series.frames == 3 and series.files == 3


def test_bad_files_each_get_a_row(tmp_path):
    write_series(tmp_path / "bad", n=3)
    good = pydicom.dcmread(local("CT_small.dcm"))
    no_pixels = copy.deepcopy(good)
    del no_pixels.PixelData
    no_pixels.save_as(tmp_path / "bad" / "no_pixels.dcm")
    report = Dataset()
    report.Modality = "SR"
    report.SOPClassUID = "1.2.840.10008.5.1.4.1.1.88.22"
    report.SOPInstanceUID = generate_uid()
    report.file_meta = pydicom.dataset.FileMetaDataset()
    report.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    report.save_as(tmp_path / "bad" / "report.dcm", enforce_file_format=True)
    whole = open(local("CT_small.dcm"), "rb").read()
    (tmp_path / "bad" / "truncated.dcm").write_bytes(whole[: len(whole) - 5000])
    (tmp_path / "bad" / "garbage.dcm").write_bytes(b"\0" * 128 + b"DICM" + b"\xff" * 40)
    items = expand_inputs([tmp_path / "bad"])
    by_name = {name_of(i): i for i in items}
    assert by_name["report.dcm"].problem == ("report.dcm: the DICOM file holds no image (no Rows, Columns or Pixel "
                                             "Data; modality SR)")
    messages = {}
    for name in ("no_pixels.dcm", "truncated.dcm", "garbage.dcm"):
        with pytest.raises(InputError) as info:
            decode_dicom(by_name[name].path)
        messages[name] = str(info.value)
    assert messages["no_pixels.dcm"] == "no_pixels.dcm: the DICOM file holds no image (no Pixel Data)"
    assert messages["truncated.dcm"].startswith("truncated.dcm: the DICOM pixel data is truncated (")
    assert messages["garbage.dcm"].startswith("garbage.dcm: ")
    # the two copies of CT_small (no pixels, truncated) keep its series UID: they are a series of their own,
    # at one position; the written series is whole
    assert len([i for i in items if i.series is not None]) == 5
    assert sorted(s.frames for s in series_of(items)) == [2, 3]


def test_a_dicomdir_is_named_as_such():
    folder = local("DICOMDIR").rsplit("/", 1)[0]
    items = expand_inputs([folder + "/TINY_ALPHA/DICOMDIR"])  # named directly: read when scored
    assert items[0].kind == InputKind.DICOM
    items = expand_inputs([folder])
    dirs = [i for i in items if name_of(i) == "DICOMDIR"]
    assert dirs and dirs[0].problem.startswith("DICOMDIR: a DICOMDIR (the index of a disc's or folder's files)")


def test_study_folder_of_files_without_extension():
    """pydicom's dicomdirtests: a study tree whose files are named by number, with no extension."""
    folder = local("DICOMDIR").rsplit("/", 1)[0]
    items = expand_inputs([folder])
    series = series_of(items)
    labels = [s.label() for s in series]
    assert "CR · series 1 · Cervical LAT · 1 instance, 1 frame" in labels
    assert any(s.modality == "MR" and s.number == "700" and s.files == 7 for s in series)
    assert all("." not in name_of(i) for s in series for i in items if i.series is s)


# --------------------------------------------------------------------------- multi-frame files
def write_multiframe(path, n=4, shuffle=True, per_frame=True):
    """CT_small's pixels as ``n`` frames in one file, with per-frame functional groups: a position
    along z that runs backwards from the frame order (when ``shuffle``) and a rescale intercept of
    its own for each frame."""
    base = read("CT_small.dcm")
    path.parent.mkdir(parents=True, exist_ok=True)
    pixels = base.pixel_array
    frames = [np.roll(pixels, 7 * k, axis=1) for k in range(n)]
    ds = copy.deepcopy(base)
    ds.NumberOfFrames = n
    ds.PixelData = np.stack(frames).tobytes()
    ds.SOPInstanceUID = generate_uid()
    zs = [float(10 * (n - k)) if shuffle else float(10 * k) for k in range(n)]
    if per_frame:
        groups = []
        for k in range(n):
            g = Dataset()
            plane = Dataset()
            plane.ImagePositionPatient = [0.0, 0.0, zs[k]]
            g.PlanePositionSequence = Sequence([plane])
            rescale = Dataset()
            rescale.RescaleSlope = 1
            rescale.RescaleIntercept = -1024 + 100 * k
            rescale.RescaleType = "HU"
            g.PixelValueTransformationSequence = Sequence([rescale])
            groups.append(g)
        ds.PerFrameFunctionalGroupsSequence = Sequence(groups)
        shared = Dataset()
        orient = Dataset()
        orient.ImageOrientationPatient = [1, 0, 0, 0, 1, 0]
        shared.PlaneOrientationSequence = Sequence([orient])
        ds.SharedFunctionalGroupsSequence = Sequence([shared])
        del ds.ImagePositionPatient
    ds.save_as(path, enforce_file_format=True)
    return frames, zs


def test_multiframe_file_is_one_item_per_frame_in_position_order(tmp_path):
    frames, zs = write_multiframe(tmp_path / "cine" / "enhanced.dcm")
    items = expand_inputs([tmp_path / "cine"])
    assert [name_of(i) for i in items] == [f"enhanced.dcm#frame={k}" for k in (4, 3, 2, 1)]
    [series] = series_of(items)
    assert series.files == 1 and series.frames == 4 and series.ordered_by == "position"
    # named directly, the file gives its frames too
    assert [name_of(i) for i in expand_inputs([tmp_path / "cine" / "enhanced.dcm"])] == [
        name_of(i) for i in items]
    # and a frame's own path is an item as it is (the queue hands these to the scoring process)
    [again] = expand_inputs([items[0].path])
    assert again.kind == InputKind.DICOM and again.path == items[0].path


def test_each_frame_has_its_own_rescale(tmp_path):
    """Frame k's pixels through its own PixelValueTransformationSequence, as pydicom's apply_modality_lut
    gives them once that frame's values are at the top level."""
    path = tmp_path / "enhanced.dcm"
    frames, _ = write_multiframe(path)
    ds = pydicom.dcmread(path)
    for k in (1, 3):
        view = frame_dataset(ds, k)
        assert float(view.RescaleIntercept) == -1024 + 100 * k
        assert "PixelData" not in view
        single = pydicom.dcmread(path)
        single.RescaleIntercept = -1024 + 100 * k
        hu = apply_modality_lut(frames[k], single).astype(np.float64)
        got = np.asarray(decode_dicom(f"{path}#frame={k + 1}"), dtype=np.float64)
        lo, hi = hu.min(), hu.max()
        np.testing.assert_allclose(got, (hu - lo) / (hi - lo) * 255.0, atol=1e-3)


def test_frame_out_of_range(tmp_path):
    path = tmp_path / "enhanced.dcm"
    write_multiframe(path, n=2)
    with pytest.raises(InputError, match=r"^enhanced\.dcm#frame=5: the file has 2 frames, no frame 5$"):
        decode_dicom(f"{path}#frame=5")


def test_shipped_multiframe_without_functional_groups():
    """rtdose.dcm: 15 frames and no per-frame groups: ordered by frame number, each frame decoded alone."""
    path = local("rtdose.dcm")
    items = expand_inputs([path])
    assert [name_of(i) for i in items] == [f"rtdose.dcm#frame={k}" for k in range(1, 16)]
    from pydicom.pixels import pixel_array

    third = pixel_array(path, index=2).astype(np.float64)
    got = np.asarray(decode_dicom(items[2].path), dtype=np.float64)
    hu = apply_modality_lut(third, pydicom.dcmread(path))
    np.testing.assert_allclose(got, (hu - hu.min()) / (hu.max() - hu.min()) * 255.0, atol=1e-3)


# --------------------------------------------------------------------------- choosing series and frames
def test_series_rule():
    folder = local("DICOMDIR").rsplit("/", 1)[0]
    items = expand_inputs([folder])
    everything = series_of(items)
    ct = [s for s in everything if series_matches(s, {"Modality": "CT"})]
    assert ct and all(s.modality == "CT" for s in ct)
    original = [s for s in everything if series_matches(s, {"Modality": "CT", "ImageType": "ORIGINAL"})]
    assert original and all("ORIGINAL" in s.fields["ImageType"] for s in original)
    assert [s.number for s in everything if series_matches(s, {"SeriesDescription": "cervical lat"})] == ["1"]
    assert all(series_matches(s, {"Modality": ["ct", "MR"]}) == (s.modality in ("CT", "MR")) for s in everything)
    kept, left = apply_selection(items, {"Modality": "CR"})
    chosen = series_of(kept)
    assert {s.modality for s in chosen} == {"CR"}
    assert len(left) == len(everything) - len(chosen)
    assert all(reason == "does not match the profile's series rule" for _, reason in left)
    # the rows that belong to no series (the DICOMDIRs, files without an image) stay
    assert sum(1 for i in kept if i.series is None) == sum(1 for i in items if i.series is None)


def test_frame_range(tmp_path):
    truth = write_series(tmp_path / "s", n=6)
    items = expand_inputs([tmp_path / "s"])
    kept, left = apply_selection(items, None, "2-4")
    assert [i.path for i in kept] == truth[1:4] and not left
    kept, _ = apply_selection(items, None, "5-")
    assert [i.path for i in kept] == truth[4:]
    kept, left = apply_selection(items, None, "9-12")
    assert kept == [] and left[0][1] == "has 6 frame(s), none in the range 9-12"


# --------------------------------------------------------------------------- a series rule in words (the editor's field)
@pytest.mark.parametrize("text, rule", [
    ("Modality CT, ImageType ORIGINAL", {"Modality": "CT", "ImageType": "ORIGINAL"}),
    ("modality CT or MR", {"Modality": ["CT", "MR"]}),
    ('SeriesDescription "CHEST, 1.25mm" or HEAD', {"SeriesDescription": ["CHEST, 1.25mm", "HEAD"]}),
    ('ProtocolName "lungs or heart"', {"ProtocolName": "lungs or heart"}),
    ("  ", {}),
])
def test_a_rule_in_words_reads_back_as_written(text, rule):
    from desktop.engine.inputs.dicomseries import parse_rule_text, rule_text

    assert parse_rule_text(text) == rule
    assert parse_rule_text(rule_text(rule)) == rule


@pytest.mark.parametrize("text, message", [
    ("Modalty CT", "'Modalty' is not a keyword a series rule tests; use Modality, ImageType"),
    ("Modality", "Modality needs a value"),
    ("Modality CT, Modality MR", 'Modality is given twice; write its values as "Modality A or B"'),
    ('SeriesDescription "CHEST', "a double quote is not closed"),
])
def test_a_rule_in_words_refused(text, message):
    from desktop.engine.inputs.dicomseries import parse_rule_text

    with pytest.raises(ValueError, match=re.escape(message)):
        parse_rule_text(text)
