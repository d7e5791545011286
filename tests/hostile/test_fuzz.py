"""Property-based fuzzing of the three parsers that take untrusted input.

(a) the CSV reader, on arbitrary bytes and on valid tables mangled cell by cell;
(b) decode_image, on real images of every supported format, bit-flipped, cut and re-headed;
(c) the profile parser, on JSON-like values built from the real keys with wrong types and values.

Each may refuse its input, but only with its own error type (InputError, ProfileError), and
whatever it accepts must be right: valid rows read back exactly, accepted profiles round-trip.
"""

from __future__ import annotations

import csv
import io
import json
import os
import struct
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from PIL import Image

from desktop.engine.errors import InputError, ProfileError
from desktop.engine.inputs import tabular
from desktop.engine.inputs.images import decode_image
from desktop.engine.inputs.tabular import TableReader, count_rows, read_table
from desktop.engine.preprocess import preprocess_image
from desktop.engine.profile import (ANCHORS, COLORS, DTYPES, INTERPOLATIONS, LAYOUTS, RESIZE_MODES, TASKS,
                                    ImageSpec, Resize, profile_from_dict, profile_from_json)

#: INFERDESK_FUZZ_SCALE=20 runs twenty times the examples (a longer hunt, by hand or nightly)
SCALE = float(os.environ.get("INFERDESK_FUZZ_SCALE", "1"))
FUZZ = dict(deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                                                   HealthCheck.filter_too_much, HealthCheck.function_scoped_fixture])

# One scratch folder for the module (hypothesis runs many examples per test function, and a
# function-scoped tmp_path would be shared between them anyway); made by pytest's tmp_path_factory.
_SCRATCH: Path | None = None


@pytest.fixture(scope="module", autouse=True)
def _scratch_dir(tmp_path_factory):
    global _SCRATCH
    _SCRATCH = tmp_path_factory.mktemp("fuzz")
    yield


def _scratch(name: str, data: bytes) -> Path:
    p = _SCRATCH / name
    p.write_bytes(data)
    return p


# =========================================================================== (a) CSV

def _read_all(path, columns, n_features=None, chunk=5):
    """Every chunk of a table, as run_batch reads it (small chunks, to cross chunk borders)."""
    with TableReader(path, columns, n_features) as reader:
        out = [(c.rows, c.values.copy(), list(c.errors)) for c in reader.chunks(chunk)]
    return out


def _only_input_errors(fn):
    try:
        fn()
    except InputError as exc:
        assert str(exc).strip(), "an InputError must say something"


@pytest.fixture(params=["pandas", "csv-module"])
def reader_path(request, monkeypatch):
    """Run a test through the pandas fast path and through the csv-module path."""
    if request.param == "csv-module":
        monkeypatch.setattr(tabular, "_pandas", lambda: None)
    else:
        monkeypatch.setattr(tabular, "SMALL_FILE_BYTES", 0)  # small files are otherwise read by the csv module
    return request.param


CSV_PREFIXES = [b"", b"a,b,c\n", b"a;b;c\r\n", b"\xef\xbb\xbfa,b,c\n", b"a\tb\tc\n", b"1,2,3\n",
                b'"a","b","c"\n', b"a,b,c\n1,2,3\n"]
CSV_ALPHABET = st.sampled_from(list("0123456789.,;\t\"'\r\n -+eEnaifINFx\\") + ["\x00", "\ufeff", "é", "\u2028"])


@settings(max_examples=int(120 * SCALE), **FUZZ)
@given(prefix=st.sampled_from(CSV_PREFIXES),
       body=st.one_of(st.binary(max_size=300), st.text(CSV_ALPHABET, max_size=300).map(lambda t: t.encode("utf-8")),
                      st.text(CSV_ALPHABET, max_size=200).map(lambda t: t.encode("cp1252", "replace"))),
       columns=st.sampled_from([None, ["a"], ["a", "c"], ["c", "b", "a"]]),
       n_features=st.sampled_from([None, 1, 3, 7]))
@example(prefix=b"a,b,c\n", body=b'1,"2\n' + b"3,4,5\n" * 3, columns=["a", "b"], n_features=None)
@example(prefix=b"", body=b"\xff\xfea\x00,\x00b\x00", columns=None, n_features=None)  # UTF-16
@example(prefix=b"a,b,c\n", body=b"1,2,3\n" + b"9" * 5000, columns=None, n_features=3)
def test_arbitrary_bytes_never_crash_the_table_reader(reader_path, prefix, body, columns, n_features):
    p = _scratch("arbitrary.csv", prefix + body)
    _only_input_errors(lambda: _read_all(p, columns, n_features))
    _only_input_errors(lambda: read_table(p, columns, n_features))
    assert count_rows(p) >= 0


def _is_float(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


# column names ("nan", "inf" and "infinity" read as numbers, so a header of them reads as data)
NAME = st.from_regex(r"[A-Za-z_][A-Za-z0-9_ ]{0,6}[A-Za-z0-9_]", fullmatch=True).filter(lambda s: not _is_float(s))
FINITE = st.floats(allow_nan=False, allow_infinity=False, width=64)
CELL_VALUE = st.one_of(FINITE, st.integers(-10**6, 10**6).map(float), st.sampled_from([0.0, -0.0, 1e-300, 1e300]))


def _format(value: float, decimal_comma: bool) -> str:
    text = repr(float(value))
    return text.replace(".", ",") if decimal_comma else text


@st.composite
def tables(draw):
    """A valid table: (names, values, file layout options)."""
    names = draw(st.lists(NAME, min_size=1, max_size=5, unique_by=lambda s: " ".join(s.lower().split())))
    n_rows = draw(st.integers(1, 12))
    values = np.array(draw(st.lists(st.lists(CELL_VALUE, min_size=len(names), max_size=len(names)),
                                    min_size=n_rows, max_size=n_rows)), dtype=np.float64)
    extra = draw(st.sampled_from([[], ["id"], ["note", "id"]]))
    layout = {
        # a header of one name has no delimiter to detect, so such files use commas
        "delimiter": draw(st.sampled_from([",", ";", "\t"])) if len(names) + len(extra) > 1 else ",",
        "crlf": draw(st.booleans()),
        "bom": draw(st.booleans()),
        "quote_all": draw(st.booleans()),
        "extra": extra,
        "order": draw(st.permutations(range(len(names)))),
        "blank_every": draw(st.sampled_from([0, 0, 2, 3])),
    }
    return names, values, layout


def _write_table(names, values, layout, mangle=None) -> tuple[bytes, dict]:
    """The CSV bytes; ``mangle(row, cells) -> cells`` may spoil a data row. Returns (bytes, data line per row)."""
    delim = layout["delimiter"]
    decimal_comma = delim == ";"
    header = [names[i] for i in layout["order"]] + layout["extra"]
    buf = io.StringIO()
    w = csv.writer(buf, delimiter=delim, lineterminator="\r\n" if layout["crlf"] else "\n",
                   quoting=csv.QUOTE_ALL if layout["quote_all"] else csv.QUOTE_MINIMAL)
    w.writerow(header)
    line = 1
    lines = {}
    for r, row in enumerate(values, start=1):
        if layout["blank_every"] and r % layout["blank_every"] == 0:
            buf.write("\r\n" if layout["crlf"] else "\n")
            line += 1
        cells = [_format(row[i], decimal_comma) for i in layout["order"]]
        cells += [f"x{r}" if e == "note" else f"P{r:03d}" for e in layout["extra"]]
        if mangle is not None:
            cells = mangle(r, cells)
        w.writerow(cells)
        line += 1
        lines[r] = line
    text = ("\ufeff" if layout["bom"] else "") + buf.getvalue()
    return text.encode("utf-8"), lines


@settings(max_examples=int(60 * SCALE), **FUZZ)
@given(table=tables())
def test_valid_tables_round_trip_exactly(reader_path, table):
    names, values, layout = table
    data, _ = _write_table(names, values, layout)
    p = _scratch("valid.csv", data)
    rows, got, errors = read_table(p, names)
    assert errors == [None] * len(values)
    assert rows == list(range(1, len(values) + 1))
    np.testing.assert_array_equal(got, values)  # bit for bit: repr() round-trips a float
    chunks = _read_all(p, names, chunk=3)
    assert [r for c in chunks for r in c[0]] == rows
    np.testing.assert_array_equal(np.concatenate([c[1] for c in chunks]), values)
    assert count_rows(p) == len(values)


# how a cell can be spoiled, and the words its message must hold
MANGLES = {
    "text": ("abc", "is not a number: 'abc'"),
    "empty": ("", "is empty"),
    "nan": ("nan", "is not a finite number: 'nan'"),
    "inf": ("-inf", "is not a finite number: '-inf'"),
    "thousands": ("1 000 000", "is not a number: '1 000 000'"),
    "short": (None, "cells, the header has"),  # the row stops before cell j
}


@settings(max_examples=int(60 * SCALE), **FUZZ)
@given(table=tables(), data=st.data())
def test_mangled_cells_fail_only_their_row_with_row_and_column(reader_path, table, data):
    names, values, layout = table
    n_rows = len(values)
    spoiled = data.draw(st.dictionaries(st.integers(1, n_rows),
                                        st.tuples(st.sampled_from(sorted(MANGLES)), st.integers(0, len(names) - 1)),
                                        min_size=1, max_size=n_rows), label="spoiled rows")
    expected = {}  # row -> (message words, column name or None)

    def mangle(r, cells):
        if r not in spoiled:
            return cells
        how, j = spoiled[r]
        if how == "short":
            keep = max(1, j)
            if keep < len(names):  # a column the model reads is missing
                expected[r] = (f"has {keep} cells, the header has {len(names) + len(layout['extra'])}", None)
            return cells[:keep]
        new = cells[:j] + [MANGLES[how][0]] + cells[j + 1:]
        if not any(c.strip() for c in new):  # that would be a blank line, which holds no row
            how, new = "text", cells[:j] + ["abc"] + cells[j + 1:]
        expected[r] = (MANGLES[how][1], names[layout["order"][j]])
        return new

    data_bytes, lines = _write_table(names, values, layout, mangle)
    p = _scratch("mangled.csv", data_bytes)
    rows, got, errors = read_table(p, names)
    assert rows == list(range(1, n_rows + 1))
    for r in rows:
        err = errors[r - 1]
        if r not in expected:
            assert err is None, f"row {r} was fine but got: {err}"
            np.testing.assert_array_equal(got[r - 1], values[r - 1])
            continue
        words, column = expected[r]
        assert err is not None, f"row {r} was spoiled ({spoiled[r]}) but scored"
        assert err.startswith(f"row {r} (line {lines[r]}): "), err
        assert words in err, err
        if column is not None:
            assert f"column '{column}'" in err, err  # the column the model reads from that cell
        assert not got[r - 1].any()


# =========================================================================== (b) images

def _encode(img: Image.Image, fmt: str, **kw) -> bytes:
    buf = io.BytesIO()
    img.save(buf, fmt, **kw)
    return buf.getvalue()


def _seed_images() -> dict:
    rng = np.random.default_rng(7)
    rgb = Image.fromarray(rng.integers(0, 256, (12, 20, 3), dtype=np.uint8), "RGB")
    grey = rgb.convert("L")
    rgba = rgb.convert("RGBA")
    pal = rgb.convert("P")
    i16 = Image.fromarray((rng.integers(0, 65536, (12, 20))).astype(np.uint16))
    frames = [rgb, grey.convert("RGB"), pal.convert("RGB")]
    seeds = {
        "png-rgb": _encode(rgb, "PNG"), "png-grey": _encode(grey, "PNG"), "png-rgba": _encode(rgba, "PNG"),
        "png-palette": _encode(pal, "PNG", transparency=0), "png-16bit": _encode(i16, "PNG"),
        "png-interlaced": _encode(rgb, "PNG", interlace=1),
        "apng": _encode(rgb, "PNG", save_all=True, append_images=frames[1:]),
        "jpeg": _encode(rgb, "JPEG", quality=80), "jpeg-grey": _encode(grey, "JPEG"),
        "jpeg-progressive": _encode(rgb, "JPEG", progressive=True),
        "jpeg-cmyk": _encode(rgb.convert("CMYK"), "JPEG"),
        "jpeg-exif-rotated": _encode(rgb, "JPEG", exif=_exif_orientation(6)),
        "gif": _encode(pal, "GIF"), "gif-animated": _encode(rgb, "GIF", save_all=True, append_images=frames[1:]),
        "tiff": _encode(rgb, "TIFF"), "tiff-lzw": _encode(rgb, "TIFF", compression="tiff_lzw"),
        "tiff-deflate": _encode(rgb, "TIFF", compression="tiff_adobe_deflate"),
        "tiff-packbits": _encode(grey, "TIFF", compression="packbits"),
        "tiff-16bit": _encode(i16, "TIFF"), "tiff-pages": _encode(rgb, "TIFF", save_all=True, append_images=frames[1:]),
        "bmp": _encode(rgb, "BMP"), "bmp-palette": _encode(pal, "BMP"), "bmp-grey": _encode(grey, "BMP"),
        "webp": _encode(rgb, "WEBP", quality=80), "webp-lossless": _encode(rgba, "WEBP", lossless=True),
    }
    try:
        seeds["webp-animated"] = _encode(rgb, "WEBP", save_all=True, append_images=frames[1:])
    except (OSError, ValueError):  # a Pillow without WebP animation
        pass
    return seeds


def _exif_orientation(value: int) -> bytes:
    exif = Image.Exif()
    exif[0x0112] = value
    return exif.tobytes()


SEEDS = _seed_images()
EXTENSIONS = {"png": ".png", "apng": ".png", "jpeg": ".jpg", "gif": ".gif", "tiff": ".tif", "bmp": ".bmp",
              "webp": ".webp"}


@st.composite
def mutated_images(draw):
    name = draw(st.sampled_from(sorted(SEEDS)), label="seed")
    data = bytearray(SEEDS[name])
    for _ in range(draw(st.integers(1, 4), label="mutations")):
        how = draw(st.sampled_from(["flip", "byte", "header", "cut", "insert", "delete", "dims"]))
        n = len(data)
        if n == 0:
            break
        if how == "flip":  # single bit flips anywhere
            for pos in draw(st.lists(st.integers(0, n - 1), min_size=1, max_size=8)):
                data[pos] ^= 1 << draw(st.integers(0, 7))
        elif how == "byte":
            data[draw(st.integers(0, n - 1))] = draw(st.integers(0, 255))
        elif how == "header":  # the first 64 bytes hold the signature, sizes, bit depths
            pos = draw(st.integers(0, min(n, 64) - 1))
            data[pos:pos + 4] = draw(st.binary(min_size=1, max_size=4))
        elif how == "cut":
            del data[draw(st.integers(1, n)):]
        elif how == "insert":
            pos = draw(st.integers(0, n))
            data[pos:pos] = draw(st.binary(min_size=1, max_size=32))
        elif how == "delete":
            pos = draw(st.integers(0, n - 1))
            del data[pos:pos + draw(st.integers(1, 32))]
        else:  # a plausible but wrong size word where formats keep theirs (PNG IHDR, BMP, GIF)
            value = draw(st.sampled_from([0, 1, 255, 256, 65535, 65536, 2**31 - 1, 2**32 - 1]))
            pos = draw(st.sampled_from([6, 8, 16, 18, 20, 22]))
            packed = struct.pack(">I", value) if draw(st.booleans()) else struct.pack("<I", value)
            data[pos:pos + 4] = packed
    ext = draw(st.sampled_from([EXTENSIONS[name.split("-")[0]], ".png", ".jpg", ".tif"]), label="extension")
    return name, bytes(data), ext


#: fuzz with a lower decompression-bomb limit, so a flipped size field costs milliseconds, not seconds
FUZZ_PIXEL_LIMIT = 4_000_000


@pytest.mark.filterwarnings("ignore::UserWarning")
@pytest.mark.filterwarnings("ignore::DeprecationWarning")
@settings(max_examples=int(400 * SCALE), **FUZZ)
@given(case=mutated_images())
def test_mutated_images_decode_or_raise_input_error(case, monkeypatch_pixels):
    name, data, ext = case
    p = _scratch("mutated" + ext, data)
    try:
        img = decode_image(p)
    except InputError as exc:
        assert str(exc).startswith(p.name + ": "), str(exc)
        return
    assert img.mode in ("RGB", "L", "F"), (name, img.mode)
    assert img.width * img.height <= FUZZ_PIXEL_LIMIT
    # what decodes must preprocess: colour, resize, normalise
    spec = ImageSpec(color="RGB", resize=Resize("stretch", (8, 8)))
    x = preprocess_image(img, spec, (3, 8, 8))
    assert x.shape == (3, 8, 8) and np.isfinite(x).all()


@pytest.fixture(scope="module")
def monkeypatch_pixels():
    mp = pytest.MonkeyPatch()
    mp.setattr(Image, "MAX_IMAGE_PIXELS", FUZZ_PIXEL_LIMIT)
    yield
    mp.undo()


def test_every_seed_image_decodes():
    for name, data in SEEDS.items():
        p = _scratch("seed" + EXTENSIONS[name.split("-")[0]], data)
        img = decode_image(p)
        assert img.size == (20, 12) or name == "jpeg-exif-rotated" and img.size == (12, 20), name


# =========================================================================== (c) profiles

JSON_SCALAR = st.one_of(st.none(), st.booleans(), st.integers(-10**30, 10**30), st.integers(),
                        st.floats(allow_nan=True, allow_infinity=True), st.text(max_size=12))
JSON_ANY = st.recursive(JSON_SCALAR, lambda kids: st.lists(kids, max_size=4)
                        | st.dictionaries(st.text(max_size=8), kids, max_size=4), max_leaves=10)


def _words(allowed):
    """The allowed words, in other cases and with spaces, plus near misses."""
    return st.one_of(st.sampled_from(list(allowed)), st.sampled_from(list(allowed)).map(str.upper),
                     st.sampled_from(list(allowed)).map(lambda s: f"  {s.title()} "),
                     st.sampled_from(list(allowed)).map(lambda s: s[:-1]))


def _exact(allowed):
    """The allowed words in any case, with spaces around: all accepted."""
    return st.one_of(st.sampled_from(list(allowed)), st.sampled_from(list(allowed)).map(str.upper),
                     st.sampled_from(list(allowed)).map(lambda s: f"  {s.title()} "))


def _or_junk(good):
    """Mostly a plausible value, sometimes anything at all."""
    return st.one_of(*([good] * 5), JSON_ANY)


NUMBER = st.one_of(st.integers(-1000, 1000), st.floats(-1e6, 1e6), st.sampled_from([0, 0.0, 1e308, -1e308]),
                   st.sampled_from([float("inf"), float("nan"), 10**400, True]))
SIZE_INT = st.one_of(st.integers(1, 4096), st.sampled_from([0, -1, 65536, 65537, 2.0, 2.5, 1e300, float("inf"),
                                                             float("nan"), 10**400, True]))
SIZE = st.one_of(st.lists(SIZE_INT, min_size=2, max_size=2), SIZE_INT, st.lists(SIZE_INT, max_size=3))
NUMBERS = st.one_of(NUMBER, st.lists(NUMBER, min_size=0, max_size=4))


def _object(required: dict, optional: dict, junk_keys=True):
    extra = {"x-note": JSON_ANY}
    if junk_keys:
        extra["colour"] = JSON_ANY  # a near miss of a real key
    return st.fixed_dictionaries(required, optional={**optional, **extra})


PAD = _object({}, {"anchor": _or_junk(_words(ANCHORS + ("centre", "topleft"))), "value": _or_junk(NUMBERS)})
RESIZE = _object({}, {"mode": _or_junk(_words(RESIZE_MODES + ("letterbox", "shorter"))), "size": _or_junk(SIZE),
                      "shorter": _or_junk(SIZE_INT), "interpolation": _or_junk(_words(INTERPOLATIONS + ("cubic",))),
                      "pad": _or_junk(PAD)})
IMAGE = _object({}, {"color": _or_junk(_words(COLORS + ("grey", "mono"))),
                     "layout": _or_junk(_words(LAYOUTS + ("hwc",))),
                     "dtype": _or_junk(_words(DTYPES + ("fp16", "half"))), "resize": _or_junk(RESIZE),
                     "crop": _or_junk(SIZE), "scale": _or_junk(NUMBER), "mean": _or_junk(NUMBERS),
                     "std": _or_junk(NUMBERS)})
COLUMN_LIST = st.lists(st.text(max_size=6), max_size=4)
TABLE = _object({}, {"columns": _or_junk(st.one_of(COLUMN_LIST, st.none()))})
LABELS = st.one_of(st.lists(st.one_of(st.text(max_size=6), JSON_SCALAR), max_size=5),
                   st.dictionaries(st.one_of(st.integers(0, 20).map(str), st.text(max_size=3)), st.text(max_size=6),
                                   max_size=5))
PROFILE = st.one_of(
    _object({}, {"input": _or_junk(st.text(max_size=8)), "task": _or_junk(_words(TASKS + ("classify",))),
                 "labels": _or_junk(LABELS), "image": _or_junk(IMAGE), "table": _or_junk(TABLE),
                 "schema_version": JSON_ANY}),
    JSON_ANY,
)


def _round_trips(profile):
    again = profile_from_dict(profile.to_dict())
    assert again == profile
    assert again.to_dict() == profile.to_dict() or json.dumps(again.to_dict()) == json.dumps(profile.to_dict())
    text = profile.to_json()
    assert profile_from_json(text) == profile
    assert profile_from_json(text).sha256() == profile.sha256()


@settings(max_examples=int(600 * SCALE), **FUZZ)
@given(raw=PROFILE)
@example(raw={"image": {"crop": [float("inf"), 4]}})
@example(raw={"image": {"crop": [float("nan"), 4]}})
@example(raw={"image": {"resize": {"mode": "shorter-side", "shorter": float("inf")}}})
@example(raw={"image": {"scale": 10**400}})
@example(raw={"image": {"resize": [None]}})  # a stage that is no object
@example(raw={"image": {"mean": [10**400]}})
@example(raw={"labels": {"1": "b", "0": "a"}})
@example(raw={"labels": {"a": "b"}})
def test_profile_parser_only_raises_profile_error_and_round_trips(raw):
    try:
        profile = profile_from_dict(raw)
    except ProfileError as exc:
        assert str(exc).startswith("Profile"), str(exc)
        return
    _round_trips(profile)


@settings(max_examples=int(300 * SCALE), **FUZZ)
@given(text=st.one_of(st.text(max_size=200), PROFILE.map(lambda v: json.dumps(v, allow_nan=True)),
                      st.text(alphabet="[]{}\":,0123456789.-eEtruefalsnIiy ", max_size=200)))
@example(text="[" * 100_000)
@example(text='{"image": {"crop": [Infinity, 1]}}')
@example(text='{"image": {"crop": [NaN, 1]}}')
@example(text='{"image": {"scale": 1' + "0" * 400 + "}}")
@example(text='{"labels": {"' + "9" * 5000 + '": "x"}}')
def test_profile_json_only_raises_profile_error(text):
    try:
        profile = profile_from_json(text, "fuzz.json")
    except ProfileError:
        return
    _round_trips(profile)


@st.composite
def well_formed_profiles(draw):
    """Profiles that are right in every part (in any spelling the parser allows): all must be accepted."""
    raw: dict = {}
    if draw(st.booleans()):
        raw["input"] = draw(st.text(max_size=8))
    if draw(st.booleans()):
        raw["task"] = draw(_exact(TASKS + ("classify", "regress")))
    if draw(st.booleans()):
        raw["labels"] = draw(st.one_of(st.lists(st.text(max_size=6), max_size=4),
                                       st.lists(st.text(max_size=4), max_size=4).map(
                                           lambda xs: {str(i): x for i, x in enumerate(xs)})))
    if draw(st.booleans()):
        raw["x-origin"] = draw(JSON_ANY.filter(lambda v: v == v))  # extras travel along (NaN never equals itself)
    kind = draw(st.sampled_from(["image", "table", "none"]))
    if kind == "table":
        raw["table"] = {"columns": draw(st.one_of(st.none(), st.lists(st.text(max_size=6), min_size=1, max_size=5,
                                                                         unique=True)))}
    elif kind == "image":
        color = draw(st.sampled_from(COLORS))
        channels = 1 if color == "L" else 3
        per_channel = lambda positive: st.one_of(  # noqa: E731
            st.floats(0.01 if positive else -1e3, 1e3),
            st.lists(st.floats(0.01 if positive else -1e3, 1e3), min_size=channels, max_size=channels))
        image = {"color": draw(_exact((color,) + tuple(k for k, v in {"grey": "L", "mono": "L"}.items()
                                                        if v == color)))}
        size = st.lists(st.integers(1, 4096), min_size=2, max_size=2)
        mode = draw(st.sampled_from(RESIZE_MODES + ("none",)))
        if mode != "none":
            resize = {"mode": draw(_exact((mode,))), "interpolation": draw(_exact(INTERPOLATIONS))}
            if mode == "shorter-side":
                resize["shorter"] = draw(st.integers(1, 4096))
            elif mode == "limit-side":  # PaddleOCR's limit_side_len: no fixed size, a limit
                resize["limit"] = draw(st.integers(1, 4096))
            else:
                resize["size"] = draw(size)
            if draw(st.booleans()):
                resize["pad"] = {"anchor": draw(_exact(ANCHORS)), "value": draw(per_channel(False))}
            image["resize"] = resize
        for key, strategy in (("layout", _exact(LAYOUTS)), ("dtype", _exact(DTYPES)), ("crop", size),
                              ("scale", st.floats(-1e6, 1e6)), ("mean", per_channel(False)),
                              ("std", per_channel(True))):
            if draw(st.booleans()):
                image[key] = draw(strategy)
        raw["image"] = image
    return raw


@settings(max_examples=int(200 * SCALE), **FUZZ)
@given(raw=well_formed_profiles())
def test_well_formed_profiles_are_accepted_and_round_trip(raw):
    profile = profile_from_dict(raw)
    _round_trips(profile)
    assert (profile.image is not None) == ("image" in raw)
    assert (profile.table is not None) == ("table" in raw)


# =========================================================================== (b') DICOM

def _dicom_seeds() -> dict:
    from tests.hostile.build_corpus import _dicom

    ramp = np.tile(np.arange(8, dtype=np.uint8) * 30, (8, 1)).tobytes()
    seeds = {"mono8-frames": _dicom(8, 8, [ramp, b"\x80" * 64, b"\xff" * 64]), "mono8": _dicom(8, 8, [ramp])}
    try:
        from pydicom.data import get_testdata_file

        ct = get_testdata_file("CT_small.dcm")  # 16-bit, rescale slope and intercept
        if ct:
            seeds["ct16"] = Path(ct).read_bytes()
    except Exception:  # noqa: BLE001 - pydicom's test files are optional
        pass
    return seeds


DICOM_SEEDS = _dicom_seeds()


@pytest.mark.filterwarnings("ignore::UserWarning")
@settings(max_examples=int(150 * SCALE), **FUZZ)
@given(seed=st.sampled_from(sorted(DICOM_SEEDS)), data=st.data())
def test_mutated_dicom_decodes_or_raises_input_error(seed, data, monkeypatch_pixels):
    from desktop.engine.inputs.images import decode_dicom

    blob = bytearray(DICOM_SEEDS[seed])
    for _ in range(data.draw(st.integers(1, 4), label="mutations")):
        pos = data.draw(st.integers(128, len(blob) - 1), label="position")  # past the preamble
        how = data.draw(st.sampled_from(["flip", "bytes", "cut"]))
        if how == "flip":
            blob[pos] ^= 1 << data.draw(st.integers(0, 7))
        elif how == "bytes":
            blob[pos:pos + 4] = data.draw(st.binary(min_size=1, max_size=4))
        else:
            del blob[max(pos, 132):]
            break
    p = _scratch("mutated.dcm", bytes(blob))
    try:
        img = decode_dicom(p)
    except InputError as exc:
        assert str(exc).startswith("mutated.dcm: "), str(exc)
        return
    assert img.mode in ("RGB", "L", "F")
    arr = np.asarray(img, dtype=np.float32)
    assert np.isfinite(arr).all() or img.mode == "F"
