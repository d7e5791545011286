"""Input readers: image decoding, DICOM, folder expansion and CSV tables."""

from __future__ import annotations

import csv
import io
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image, features

from desktop.engine.errors import InputError
from desktop.engine.inputs import expand_inputs
from desktop.engine.inputs.images import decode_dicom, decode_image
from desktop.engine.inputs.tabular import TableReader, count_rows, read_table


def save(img: Image.Image, path, **kw):
    img.save(path, **kw)
    return path


def arr(img: Image.Image) -> np.ndarray:
    return np.asarray(img)


# 4 wide × 2 high RGB with distinct pixels
RGB42 = np.array([[[255, 0, 0], [0, 255, 0], [0, 0, 255], [10, 20, 30]],
                  [[40, 50, 60], [70, 80, 90], [100, 110, 120], [255, 255, 255]]], dtype=np.uint8)


# --------------------------------------------------------------------------- images: formats

def test_png_rgb_roundtrip(tmp_path):
    p = save(Image.fromarray(RGB42, "RGB"), tmp_path / "a.png")
    img = decode_image(p)
    assert img.mode == "RGB"
    assert img.size == (4, 2)
    np.testing.assert_array_equal(arr(img), RGB42)


def test_png_rgba_drops_alpha_keeps_colour(tmp_path):
    rgba = np.dstack([RGB42, np.array([[0, 64, 128, 255], [255, 0, 1, 2]], dtype=np.uint8)])
    p = save(Image.fromarray(rgba, "RGBA"), tmp_path / "a.png")
    img = decode_image(p)
    assert img.mode == "RGB"
    np.testing.assert_array_equal(arr(img), RGB42)


def test_png_palette_with_transparency(tmp_path):
    pal = Image.new("P", (3, 1))
    pal.putpalette([255, 0, 0, 0, 255, 0, 0, 0, 255] + [0] * (256 * 3 - 9))
    pal.putdata([0, 1, 2])
    p = save(pal, tmp_path / "p.png", transparency=0)
    assert Image.open(p).mode == "P" and "transparency" in Image.open(p).info
    img = decode_image(p)
    assert img.mode == "RGB"
    np.testing.assert_array_equal(arr(img), [[[255, 0, 0], [0, 255, 0], [0, 0, 255]]])


def test_png_greyscale_l_and_one_bit(tmp_path):
    grey = np.array([[0, 7, 128], [200, 254, 255]], dtype=np.uint8)
    img = decode_image(save(Image.fromarray(grey, "L"), tmp_path / "l.png"))
    assert img.mode == "L"
    np.testing.assert_array_equal(arr(img), grey)

    bits = Image.new("1", (3, 2), 0)
    bits.putpixel((1, 0), 1)
    bits.putpixel((2, 1), 1)
    p = save(bits, tmp_path / "b.png")
    assert Image.open(p).mode == "1"
    img = decode_image(p)
    assert img.mode == "L"
    np.testing.assert_array_equal(arr(img), [[0, 255, 0], [0, 0, 255]])


def test_png_16bit_greyscale(tmp_path):
    a = np.array([[0, 257], [65535, 32896]], dtype=np.uint16)
    img = decode_image(save(Image.fromarray(a), tmp_path / "g16.png"))
    assert img.mode == "F"
    np.testing.assert_allclose(arr(img), [[0.0, 1.0], [255.0, 128.0]], rtol=1e-6)


def test_jpeg_exif_orientation_6_rotates_clockwise(tmp_path):
    # stored 32 wide × 16 high: left half red, right half blue; orientation 6 = rotate 90° clockwise
    stored = np.zeros((16, 32, 3), dtype=np.uint8)
    stored[:, :16] = (255, 0, 0)
    stored[:, 16:] = (0, 0, 255)
    im = Image.fromarray(stored, "RGB")
    exif = im.getexif()
    exif[0x0112] = 6
    p = save(im, tmp_path / "photo.jpg", exif=exif, quality=95)
    img = decode_image(p)
    assert img.mode == "RGB"
    assert img.size == (16, 32)  # width and height swapped
    a = arr(img).astype(int)
    # the stored left (red) half is now on top, the right (blue) half at the bottom
    assert a[4, 8, 0] > 200 and a[4, 8, 2] < 50
    assert a[27, 8, 2] > 200 and a[27, 8, 0] < 50
    assert a[:12, :, 0].mean() > 200 and a[20:, :, 2].mean() > 200


def test_jpeg_without_exif_is_not_rotated(tmp_path):
    p = save(Image.new("RGB", (32, 16), (0, 128, 0)), tmp_path / "plain.jpeg")
    img = decode_image(p)
    assert img.size == (32, 16)


def test_bmp(tmp_path):
    img = decode_image(save(Image.fromarray(RGB42, "RGB"), tmp_path / "a.bmp"))
    assert img.mode == "RGB"
    np.testing.assert_array_equal(arr(img), RGB42)


def test_tiff_16bit_greyscale_maps_to_0_255_floats(tmp_path):
    a = np.array([[0, 257, 514], [65535, 32896, 1]], dtype=np.uint16)
    p = save(Image.fromarray(a), tmp_path / "scan.tif")
    assert Image.open(p).mode == "I;16"
    img = decode_image(p)
    assert img.mode == "F"
    assert img.size == (3, 2)
    v = arr(img)
    assert v.dtype == np.float32
    assert v[1, 0] == pytest.approx(255.0)
    assert v[0, 1] == pytest.approx(1.0)
    assert v[0, 2] == pytest.approx(2.0)
    assert v[0, 0] == 0.0
    assert v[1, 1] == pytest.approx(128.0)
    assert v[1, 2] == pytest.approx(1 / 257)  # precision kept, not rounded to 8 bits
    assert v.min() >= 0 and v.max() <= 255


@pytest.mark.skipif(not features.check("webp"), reason="Pillow built without WebP")
def test_webp_lossless(tmp_path):
    p = save(Image.fromarray(RGB42, "RGB"), tmp_path / "a.webp", lossless=True)
    img = decode_image(p)
    assert img.mode == "RGB"
    np.testing.assert_array_equal(arr(img), RGB42)


def test_animated_gif_first_frame(tmp_path):
    frames = [Image.new("RGB", (4, 4), c) for c in ((255, 0, 0), (0, 0, 255), (0, 255, 0))]
    p = tmp_path / "anim.gif"
    frames[0].save(p, save_all=True, append_images=frames[1:], duration=50, loop=0)
    assert getattr(Image.open(p), "n_frames", 1) == 3
    img = decode_image(p)
    assert img.mode == "RGB"
    assert img.size == (4, 4)
    np.testing.assert_array_equal(arr(img)[0, 0], [255, 0, 0])
    np.testing.assert_array_equal(np.unique(arr(img).reshape(-1, 3), axis=0), [[255, 0, 0]])


def test_cmyk_tiff_and_jpeg(tmp_path):
    cmyk = Image.new("CMYK", (8, 8), (0, 255, 255, 0))  # no cyan, full magenta and yellow: red
    img = decode_image(save(cmyk, tmp_path / "c.tif"))
    assert img.mode == "RGB"
    np.testing.assert_array_equal(arr(img)[0, 0], [255, 0, 0])
    img = decode_image(save(cmyk, tmp_path / "c.jpg", quality=95))
    assert img.mode == "RGB"
    np.testing.assert_allclose(arr(img)[4, 4].astype(int), [255, 0, 0], atol=12)


def test_uppercase_extension_and_path_types(tmp_path):
    p = save(Image.fromarray(RGB42, "RGB"), tmp_path / "UPPER.PNG")
    assert decode_image(str(p)).size == (4, 2)
    assert decode_image(p).size == (4, 2)


# --------------------------------------------------------------------------- images: refusals

def _png_bytes() -> bytes:
    b = io.BytesIO()
    rng = np.random.default_rng(1)
    Image.fromarray(rng.integers(0, 256, (48, 48, 3), dtype=np.uint8), "RGB").save(b, "PNG")
    return b.getvalue()


def _jpeg_bytes() -> bytes:
    b = io.BytesIO()
    rng = np.random.default_rng(2)
    Image.fromarray(rng.integers(0, 256, (48, 48, 3), dtype=np.uint8), "RGB").save(b, "JPEG", quality=90)
    return b.getvalue()


def test_empty_file_refused(tmp_path):
    p = tmp_path / "empty.png"
    p.write_bytes(b"")
    with pytest.raises(InputError, match=r"^empty\.png: the file is empty"):
        decode_image(p)


def test_missing_file_refused(tmp_path):
    with pytest.raises(InputError, match=r"^gone\.png: cannot read the file"):
        decode_image(tmp_path / "gone.png")


@pytest.mark.parametrize("name, make", [("half.png", _png_bytes), ("half.jpg", _jpeg_bytes)])
def test_truncated_file_refused(tmp_path, name, make):
    data = make()
    p = tmp_path / name
    p.write_bytes(data[: len(data) // 2])
    with pytest.raises(InputError) as err:
        decode_image(p)
    msg = str(err.value)
    assert msg.startswith(f"{name}: ")
    assert "truncated" in msg


def test_random_bytes_refused(tmp_path):
    p = tmp_path / "noise.jpg"
    p.write_bytes(np.random.default_rng(3).integers(0, 256, 4096, dtype=np.uint8).tobytes())
    with pytest.raises(InputError, match=r"^noise\.jpg: not a readable image"):
        decode_image(p)


def test_text_file_named_png_refused(tmp_path):
    p = tmp_path / "notes.png"
    p.write_text("this is not an image\n", encoding="utf-8")
    with pytest.raises(InputError, match=r"^notes\.png: not a readable image"):
        decode_image(p)


@pytest.mark.parametrize("size", [(15, 10), (40, 30)])  # over the limit (a warning), over twice it (an error)
def test_decompression_bomb_guard_kept_on(tmp_path, monkeypatch, size):
    p = save(Image.new("RGB", size, (1, 2, 3)), tmp_path / "bomb.png")
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 100)
    with pytest.raises(InputError) as err:
        decode_image(p)
    msg = str(err.value)
    assert msg.startswith("bomb.png: ")
    assert "too large" in msg
    assert f"{size[0]}×{size[1]}" in msg
    assert "100" in msg


def test_decompression_bomb_limit_allows_small_images(tmp_path, monkeypatch):
    p = save(Image.new("RGB", (10, 10), (1, 2, 3)), tmp_path / "ok.png")
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 100)
    assert decode_image(p).size == (10, 10)


# --------------------------------------------------------------------------- DICOM

def test_dicom_ct_small():
    pydicom_data = pytest.importorskip("pydicom.data")
    path = pydicom_data.get_testdata_file("CT_small.dcm")
    if path is None:
        pytest.skip("pydicom's test files are not installed")
    img = decode_dicom(path)
    assert img.mode == "F"
    assert img.size == (128, 128)
    a = arr(img)
    assert a.dtype == np.float32
    assert np.isfinite(a).all()
    assert a.min() >= 0.0 and a.max() <= 255.0
    assert a.max() - a.min() > 100  # the full range is used, not a flat image


def test_dicom_window_applied(tmp_path):
    pydicom = pytest.importorskip("pydicom")
    path = pydicom.data.get_testdata_file("CT_small.dcm")
    ds = pydicom.dcmread(path)
    hu = pydicom.pixels.apply_modality_lut(ds.pixel_array, ds).astype(np.float64)
    center = float(np.median(hu))
    ds.WindowCenter = center
    ds.WindowWidth = 100
    out = tmp_path / "windowed.dcm"
    ds.save_as(out)
    a = arr(decode_dicom(out)).astype(np.float64)
    # PS3.3 C.11.2.1.2.1 LINEAR: center - 0.5 and width - 1, as pydicom's apply_voi_lut (until issue 20 the
    # window was clipped to center ± width / 2, up to 1% of the range off the standard's)
    c, w = center - 0.5, 99.0
    expected = np.clip(((hu - c) / w + 0.5) * 255.0, 0, 255)
    np.testing.assert_allclose(a, expected, atol=1e-3)


def test_non_dicom_file_refused(tmp_path):
    p = tmp_path / "scan.dcm"
    p.write_bytes(b"hello, this is a text file and not a DICOM file\n" * 4)
    with pytest.raises(InputError, match=r"^scan\.dcm: not a DICOM file"):
        decode_dicom(p)


# --------------------------------------------------------------------------- expand_inputs

def test_expand_folder_natural_sorted_images_only(tmp_path):
    folder = tmp_path / "batch"
    (folder / "sub" / "deeper").mkdir(parents=True)
    (folder / ".cache").mkdir()
    tiny = Image.new("RGB", (2, 2))
    for name in ("img10.png", "img2.png", "IMG1.PNG", ".hidden.png", "sub/img3.png", "sub/deeper/a1.jpg",
                 ".cache/c.png"):
        tiny.save(folder / name, format="PNG" if name.lower().endswith("png") else "JPEG")
    (folder / "notes.txt").write_text("hello\n")
    (folder / "data.csv").write_text("a,b\n1,2\n")
    items = expand_inputs([folder])
    rel = [Path(i.path).relative_to(folder).as_posix() for i in items]
    assert rel == ["IMG1.PNG", "img2.png", "img10.png", "sub/deeper/a1.jpg", "sub/img3.png"]
    assert all(i.kind == "image" and i.problem is None and i.rows == 1 for i in items)


def test_expand_empty_folder_is_invalid(tmp_path):
    (tmp_path / "nothing").mkdir()
    (tmp_path / "nothing" / "readme.txt").write_text("x")
    [item] = expand_inputs([tmp_path / "nothing"])
    assert item.kind == "invalid"
    assert "no supported images" in item.problem


def test_expand_missing_and_unsupported_become_invalid_items(tmp_path):
    notes = tmp_path / "notes.txt"
    notes.write_text("hello\n")
    good = tmp_path / "x.png"
    Image.new("RGB", (2, 2)).save(good)
    missing = tmp_path / "missing.png"
    items = expand_inputs([missing, notes, good])
    assert [i.kind for i in items] == ["invalid", "invalid", "image"]
    assert items[0].path == str(missing)
    assert "not found" in items[0].problem.lower() and "missing.png" in items[0].problem
    assert "notes.txt" in items[1].problem and "not a supported input" in items[1].problem
    assert items[2].problem is None


def test_expand_csv_named_directly_counts_data_rows(tmp_path):
    t = tmp_path / "data.csv"
    t.write_bytes(b"a,b\r\n1,2\r\n\r\n3,4\r\n5,6\r\n")
    d = tmp_path / "scan.DCM"
    d.write_bytes(b"x")
    items = expand_inputs([t, d])
    assert items[0].kind == "table"
    assert items[0].rows == 3
    assert count_rows(t) == 3
    assert items[1].kind == "dicom"


# --------------------------------------------------------------------------- tables

def write(tmp_path, text: str, name="t.csv", encoding="utf-8", newline="\n"):
    p = tmp_path / name
    p.write_bytes(text.replace("\n", newline).encode(encoding))
    return p


def test_columns_matched_by_name_in_any_order(tmp_path):
    p = write(tmp_path, "c,a,b,extra\n3,1,2,9\n30,10,20,90\n")
    with TableReader(p, ["a", "b", "c"]) as r:
        assert r.extra_columns == ["extra"]
        chunks = list(r.chunks())
    values = np.concatenate([c.values for c in chunks])
    np.testing.assert_array_equal(values, [[1, 2, 3], [10, 20, 30]])
    rows, values2, errors = read_table(p, ["a", "b", "c"])
    assert rows == [1, 2] and errors == [None, None]
    np.testing.assert_array_equal(values2, values)


def test_missing_columns_all_named(tmp_path):
    p = write(tmp_path, "a,b\n1,2\n")
    with pytest.raises(InputError) as err:
        TableReader(p, ["a", "age", "bmi", "b"])
    msg = str(err.value)
    assert msg.startswith("t.csv: ")
    assert "'age'" in msg and "'bmi'" in msg
    assert "'a'" not in msg


def test_utf8_bom_and_crlf(tmp_path):
    p = write(tmp_path, "\ufeffx,y\n1.5,2\n3,4.25\n", newline="\r\n")
    assert p.read_bytes().startswith(b"\xef\xbb\xbf")
    rows, values, errors = read_table(p, ["x", "y"])
    assert rows == [1, 2] and errors == [None, None]
    np.testing.assert_array_equal(values, [[1.5, 2], [3, 4.25]])


def test_cp1252_fallback_for_accented_header(tmp_path):
    p = write(tmp_path, "café,âge\n1,2\n", encoding="cp1252")
    with pytest.raises(UnicodeDecodeError):
        p.read_bytes().decode("utf-8")
    with TableReader(p, ["âge", "café"]) as r:
        assert r.encoding == "cp1252"
        values = next(r.chunks()).values
    np.testing.assert_array_equal(values, [[2, 1]])


def test_blank_lines_skipped(tmp_path):
    p = write(tmp_path, "a,b\n\n1,2\n   \n,\n3,4\n\n")
    rows, values, errors = read_table(p, ["a", "b"])
    assert rows == [1, 2]
    assert errors == [None, None]
    np.testing.assert_array_equal(values, [[1, 2], [3, 4]])


@pytest.mark.parametrize("cell, words", [
    ("", ["is empty"]),
    ("abc", ["not a number", "'abc'"]),
    ("nan", ["not a finite number", "'nan'"]),
    ("inf", ["not a finite number", "'inf'"]),
    ("-Infinity", ["not a finite number", "'-Infinity'"]),
    ("1.2.3", ["not a number", "'1.2.3'"]),
])
def test_bad_cell_refuses_only_its_row(tmp_path, cell, words):
    p = write(tmp_path, f"id,score,weight\n1,0.5,10\n2,{cell},20\n3,1.5,30\n")
    rows, values, errors = read_table(p, ["score", "weight"])
    assert rows == [1, 2, 3]
    assert errors[0] is None and errors[2] is None
    msg = errors[1]
    assert msg is not None
    assert "row 2" in msg
    assert "line 3" in msg
    assert "'score'" in msg
    for w in words:
        assert w in msg
    np.testing.assert_array_equal(values[[0, 2]], [[0.5, 10], [1.5, 30]])
    np.testing.assert_array_equal(values[1], [0, 0])


def test_several_bad_rows_each_reported(tmp_path):
    p = write(tmp_path, "a,b\n1,x\n2,3\n,4\n5,6\n")
    rows, values, errors = read_table(p, ["a", "b"])
    assert rows == [1, 2, 3, 4]
    assert "row 1" in errors[0] and "'b'" in errors[0] and "'x'" in errors[0]
    assert errors[1] is None
    assert "row 3" in errors[2] and "'a'" in errors[2] and "empty" in errors[2]
    assert errors[3] is None
    np.testing.assert_array_equal(values[[1, 3]], [[2, 3], [5, 6]])


def test_ragged_short_row_refused(tmp_path):
    p = write(tmp_path, "a,b,c\n1,2,3\n4,5\n7,8,9\n")
    rows, values, errors = read_table(p, ["a", "b", "c"])
    assert errors[0] is None and errors[2] is None
    assert "row 2" in errors[1] and "2 cells" in errors[1] and "3" in errors[1]
    np.testing.assert_array_equal(values[[0, 2]], [[1, 2, 3], [7, 8, 9]])


def test_semicolon_delimiter_with_decimal_commas(tmp_path):
    p = write(tmp_path, "height;weight;name\n1,75;70,5;ann\n1,6;55;bob\n")
    with TableReader(p, ["weight", "height"]) as r:
        assert r.delimiter == ";"
        assert r.extra_columns == ["name"]
        values = np.concatenate([c.values for c in r.chunks()])
    np.testing.assert_allclose(values, [[70.5, 1.75], [55, 1.6]])


def test_tab_separated(tmp_path):
    p = write(tmp_path, "a\tb\n1.5\t2\n", name="t.tsv")
    rows, values, errors = read_table(p, ["b", "a"])
    np.testing.assert_array_equal(values, [[2, 1.5]])


def test_header_only_file_gives_zero_rows(tmp_path):
    p = write(tmp_path, "a,b,c\n")
    rows, values, errors = read_table(p, ["a", "b"])
    assert rows == [] and errors == []
    assert values.shape == (0, 2)
    assert count_rows(p) == 0


def test_header_only_file_without_names_gives_zero_rows_of_its_width(tmp_path):
    p = write(tmp_path, "a,b\n")
    rows, values, errors = read_table(p, None)
    assert rows == [] and errors == []
    assert values.shape == (0, 2)


def test_blank_lines_above_the_header_skipped(tmp_path):
    p = write(tmp_path, "\n\nb;a\n1,5;2\n\n3;4,25\n", newline="\r\n")
    with TableReader(p, ["a", "b"]) as r:
        assert r.delimiter == ";"
        chunks = list(r.chunks())
    assert [row for c in chunks for row in c.rows] == [1, 2]
    np.testing.assert_allclose(np.concatenate([c.values for c in chunks]), [[2, 1.5], [4.25, 3]])
    assert count_rows(p) == 2
    bad = write(tmp_path, "\n\nb;a\n1,5;2\n\n3;x\n", newline="\r\n")
    rows, values, errors = read_table(bad, ["a", "b"])
    assert errors[1] == "row 2 (line 6): column 'a' is not a number: 'x'"


def test_no_header_refused_when_names_required(tmp_path):
    p = write(tmp_path, "1,2,3\n4,5,6\n")
    with pytest.raises(InputError) as err:
        TableReader(p, ["a", "b", "c"])
    msg = str(err.value)
    assert msg.startswith("t.csv: ")
    assert "numbers" in msg and "header" in msg


def test_no_header_read_by_position_when_no_names(tmp_path):
    p = write(tmp_path, "1,2,3\n4,5,6\n")
    rows, values, errors = read_table(p, None, n_features=2)
    assert rows == [1, 2]
    np.testing.assert_array_equal(values, [[1, 2], [4, 5]])


def test_empty_and_binary_files_refused(tmp_path):
    p = write(tmp_path, "")
    with pytest.raises(InputError, match=r"^t\.csv: the file is empty"):
        TableReader(p, ["a"])
    b = tmp_path / "b.csv"
    b.write_bytes(b"a,b\n\x00\x01\x02")
    with pytest.raises(InputError, match="binary"):
        TableReader(b, ["a"])


def test_chunks_split_correctly(tmp_path):
    lines = "\n".join(f"{i},{i * 10}" for i in range(1, 11))
    p = write(tmp_path, "a,b\n" + lines + "\n")
    with TableReader(p, ["b", "a"]) as r:
        chunks = list(r.chunks(3))
    assert [len(c.rows) for c in chunks] == [3, 3, 3, 1]
    assert [c.rows for c in chunks] == [[1, 2, 3], [4, 5, 6], [7, 8, 9], [10]]
    for c in chunks:
        assert c.values.shape == (len(c.rows), 2)
        assert c.errors == [None] * len(c.rows)
    values = np.concatenate([c.values for c in chunks])
    np.testing.assert_array_equal(values, [[i * 10, i] for i in range(1, 11)])


def test_chunk_size_one_and_bigger_than_file(tmp_path):
    p = write(tmp_path, "a\n1\n2\n")
    with TableReader(p, ["a"]) as r:
        assert [c.rows for c in r.chunks(1)] == [[1], [2]]
    with TableReader(p, ["a"]) as r:
        assert [c.rows for c in r.chunks(1000)] == [[1, 2]]


# --------------------------------------------------------------------------- properties

NAMES = st.lists(st.from_regex(r"[A-Za-z_][A-Za-z0-9_]{0,8}", fullmatch=True), min_size=1, max_size=6, unique=True)
FINITE = st.floats(allow_nan=False, allow_infinity=False, width=64)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_property_random_float_tables_roundtrip(tmp_path, data):
    names = data.draw(NAMES, label="names")
    n_rows = data.draw(st.integers(0, 8), label="rows")
    table = np.array(data.draw(st.lists(st.lists(FINITE, min_size=len(names), max_size=len(names)),
                                        min_size=n_rows, max_size=n_rows)), dtype=np.float64)
    table = table.reshape(n_rows, len(names))
    order = data.draw(st.permutations(range(len(names))), label="file order")
    crlf = data.draw(st.booleans(), label="crlf")
    bom = data.draw(st.booleans(), label="bom")
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\r\n" if crlf else "\n")
    w.writerow([names[i] for i in order])
    for row in table:
        w.writerow([repr(float(row[i])) for i in order])
    p = tmp_path / "prop.csv"
    p.write_bytes((("\ufeff" if bom else "") + buf.getvalue()).encode("utf-8"))
    rows, values, errors = read_table(p, names)
    assert rows == list(range(1, n_rows + 1))
    assert errors == [None] * n_rows
    assert values.shape == (n_rows, len(names))
    np.testing.assert_allclose(values, table, rtol=1e-15, atol=0)


def _assert_only_input_errors(fn, path):
    try:
        fn(path)
    except InputError:
        pass


def _read_all(path, columns):
    with TableReader(path, columns) as r:
        for _ in r.chunks(7):
            pass


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(blob=st.binary(max_size=400), columns=st.sampled_from([None, ["a"], ["a", "b"]]))
def test_property_random_bytes_into_table_reader(tmp_path, blob, columns):
    p = tmp_path / "fuzz.csv"
    p.write_bytes(blob)
    _assert_only_input_errors(lambda q: _read_all(q, columns), p)
    _assert_only_input_errors(lambda q: read_table(q, columns), p)


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(blob=st.binary(max_size=300), prefix=st.sampled_from([b"", b"a,b\n", b"a;b\r\n", b"\xef\xbb\xbfa,b\n"]))
def test_property_csv_like_bytes_into_table_reader(tmp_path, blob, prefix):
    p = tmp_path / "fuzz2.csv"
    p.write_bytes(prefix + blob)
    _assert_only_input_errors(lambda q: read_table(q, ["a", "b"]), p)


MAGIC = [b"", b"\x89PNG\r\n\x1a\n", b"\xff\xd8\xff\xe0", b"GIF89a", b"BM", b"II*\x00", b"MM\x00*",
         b"RIFF\x00\x00\x00\x00WEBPVP8 "]


@pytest.mark.filterwarnings("ignore::UserWarning")
@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(blob=st.binary(max_size=400), magic=st.sampled_from(MAGIC))
def test_property_random_bytes_into_decode_image(tmp_path, blob, magic):
    p = tmp_path / "fuzz.png"
    p.write_bytes(magic + blob)
    _assert_only_input_errors(decode_image, p)


@pytest.mark.filterwarnings("ignore::UserWarning")
@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(cut=st.integers(1, 10_000), fmt=st.sampled_from(["PNG", "JPEG", "GIF", "BMP", "TIFF", "WEBP"]))
def test_property_truncated_or_corrupted_real_images(tmp_path, cut, fmt):
    b = io.BytesIO()
    Image.fromarray(RGB42, "RGB").resize((16, 8)).save(b, fmt)
    data = bytearray(b.getvalue())
    p = tmp_path / "cut.img"
    # truncated at an arbitrary point
    p.write_bytes(bytes(data[: cut % len(data)]))
    _assert_only_input_errors(decode_image, p)
    # one byte flipped
    data[cut % len(data)] ^= 0xFF
    p.write_bytes(bytes(data))
    _assert_only_input_errors(decode_image, p)


def test_property_helper_lets_other_exceptions_through():
    def boom(_):
        raise ValueError("x")
    with pytest.raises(ValueError):
        _assert_only_input_errors(boom, None)


def test_count_rows_counts_records_so_a_quoted_line_break_is_not_a_row(tmp_path):
    """20 records whose notes span two lines each (40 lines) are 20 rows, as the run scores them."""
    from desktop.engine.inputs.tabular import count_rows

    p = tmp_path / "notes.csv"
    p.write_text("a,b,note\n" + "".join(f'{i},{i},"first line\nsecond ""quoted"" line"\n' for i in range(20)),
                 encoding="utf-8", newline="")
    rows, _, errors = read_table(p, ["a", "b"])
    assert len(rows) == 20 and errors == [None] * 20
    assert [count_rows(p, block) for block in (1, 2, 5, 64, 1 << 22)] == [20] * 5
    assert expand_inputs([p])[0].rows == 20
    # a quote inside an unquoted cell is a character: the line break after it ends the record
    stray = tmp_path / "stray.csv"
    stray.write_bytes(b'\xef\xbb\xbf"a","b"\n1,12" screen\n2,"two\r\nlines"\n3,x""y\n\n  \n4,""\n')
    assert len(read_table(stray, ["a"])[0]) == 4
    assert [count_rows(stray, block) for block in (1, 2, 3, 7, 1 << 22)] == [4] * 5


def test_count_rows_counts_lines_that_hold_something_whatever_the_block_size(tmp_path):
    """Row counting reads in blocks; a line cut by a block's end, or blank but for spaces, counts right."""
    import random

    from desktop.engine.inputs.tabular import count_rows

    rng = random.Random(7)
    cases = [b"", b"a", b"a\n", b"a\n1\n2", b"a\n1\n\n2\n", b"a\r\n1\r\n\r\n  \r\n2\r\n", b"\n\na\n1\n",
             b"a\n \t\n1\n   ", b"a\n1\n2\n\n\n"]
    cases += [b"".join(rng.choice([b"x", b"\n", b" ", b"\r\n", b"1,2", b"\t"]) for _ in range(rng.randint(0, 60)))
              for _ in range(200)]
    for k, data in enumerate(cases):
        path = tmp_path / f"{k}.csv"
        path.write_bytes(data)
        expected = max(sum(1 for line in data.split(b"\n") if line.strip()) - 1, 0)
        assert [count_rows(path, block) for block in (1, 2, 3, 7, 1 << 22)] == [expected] * 5, data


def test_a_folders_csv_files_are_taken_as_the_caller_says(tmp_path):
    import shutil

    from desktop.engine.inputs import InputKind, expand_inputs
    from tests.conftest import SAMPLES

    mixed = tmp_path / "mixed"
    mixed.mkdir()
    shutil.copy(SAMPLES / "digits" / sorted(p.name for p in (SAMPLES / "digits").glob("*.png"))[0], mixed / "a.png")
    shutil.copy(SAMPLES / "breast_cancer.csv", mixed / "rows.csv")
    only = tmp_path / "only"
    only.mkdir()
    shutil.copy(SAMPLES / "breast_cancer.csv", only / "ward.csv")

    left: list = []
    assert [i.kind for i in expand_inputs([mixed], left_out=left)] == [InputKind.IMAGE]  # "auto": images there
    assert left == [str(mixed / "rows.csv")]
    taken = expand_inputs([mixed], folder_tables=True)
    assert [(i.kind, i.rows) for i in taken] == [(InputKind.IMAGE, 1), (InputKind.TABLE, 20)]
    assert [(i.kind, i.rows) for i in expand_inputs([only])] == [(InputKind.TABLE, 20)]  # no images: its tables
    [refused] = expand_inputs([only], folder_tables=False)
    assert refused.kind == InputKind.INVALID and "holds no supported images" in refused.problem
