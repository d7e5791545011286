"""Build the hostile-input corpus: broken images, mangled CSVs and booby-trapped models.

Everything is generated (nothing is committed, nothing is downloaded), with fixed seeds, so
the tests can build it once per session into a temporary folder::

    python tests/hostile/build_corpus.py [FOLDER]          # default: a new temporary folder
    python tests/hostile/build_corpus.py FOLDER --long-line  # also the 100 MB-line CSV

``build_corpus(folder)`` returns ``{name: path}``. Names are ``<group>/<file>`` (for example
``images/truncated.png``); the folders themselves are there too (``images``, ``csv``...).
The big-but-small-on-disk files are written without holding their pixels in memory: the
20,000 × 20,000 PNG is a hand-written IDAT stream (about 400 kB for 400 M pixels).

Layout::

    models/     rgb.onnx (x[N,3,8,8] -> mean colour, labels red/green/blue), sum3.onnx
                (features[N,3] -> sum, sidecar profile with columns a, b, c), positional.onnx
                (the same without a sidecar: columns by position), and the broken models
    images/     a mixed folder: two good images, then every broken or odd image
    csv/        the CSV cases, each scored with sum3.onnx
    dicom/      a 3-frame DICOM and one whose header claims 65,535 × 65,535 pixels
    links/      a folder with symlinks leaving it (a file and a sub-folder), plus one inside it
    outside/    the files those links point to (never to be read through the links)
    special/    FIFOs and links to /dev/zero, and JPEGs with absurd metadata (build_special_files)
"""

from __future__ import annotations

import io
import json
import os
import random
import struct
import sys
import tempfile
import zlib
from pathlib import Path

import numpy as np
from PIL import Image

ROOT = Path(__file__).resolve().parents[2]

#: the model's colours, one per class: the first frame of every multi-frame file is RED
RED, GREEN, BLUE = (250, 5, 5), (5, 250, 5), (5, 5, 250)

LONG_LINE_BYTES = 100 * 1024 * 1024


# --------------------------------------------------------------------------- PNG by hand

def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)


def _ihdr(width: int, height: int, bit_depth=8, colour_type=0) -> bytes:
    return _chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, bit_depth, colour_type, 0, 0, 0))


PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def write_zero_png(path, width: int, height: int, rows_per_block: int = 200) -> Path:
    """A valid 8-bit greyscale PNG of zeros, width × height, written without building its pixels.

    A block of ``rows_per_block`` zero rows is deflated once with a full flush (so the
    compressed block stands alone and can be repeated); the zlib stream is those blocks
    repeated, an empty final block and the Adler-32 of the whole (computed block by block).
    """
    block_rows = min(rows_per_block, height)
    raw_row = b"\x00" * (width + 1)  # filter byte 0, then the pixels
    block = raw_row * block_rows
    comp = zlib.compressobj(9, zlib.DEFLATED, -15)
    segment = comp.compress(block) + comp.flush(zlib.Z_FULL_FLUSH)
    full, rest = divmod(height, block_rows)
    tail_segment = b""
    if rest:
        comp = zlib.compressobj(9, zlib.DEFLATED, -15)
        tail_segment = comp.compress(raw_row * rest) + comp.flush(zlib.Z_FULL_FLUSH)
    final = zlib.compressobj(9, zlib.DEFLATED, -15).flush()  # an empty last block
    adler = 1
    for _ in range(full):
        adler = zlib.adler32(block, adler)
    if rest:
        adler = zlib.adler32(raw_row * rest, adler)
    stream = b"\x78\xda" + segment * full + tail_segment + final + struct.pack(">I", adler)
    with open(path, "wb") as fh:
        fh.write(PNG_SIGNATURE + _ihdr(width, height))
        for i in range(0, len(stream), 1 << 16):  # several IDAT chunks, as encoders write them
            fh.write(_chunk(b"IDAT", stream[i:i + (1 << 16)]))
        fh.write(_chunk(b"IEND", b""))
    return Path(path)


def write_header_only_png(path, width: int, height: int, idat: bytes | None = None) -> Path:
    """A PNG whose header claims width × height, followed by a tiny (or garbage) IDAT."""
    body = idat if idat is not None else zlib.compress(b"\x00" * 64)
    with open(path, "wb") as fh:
        fh.write(PNG_SIGNATURE + _ihdr(width, height, 8, 2) + _chunk(b"IDAT", body) + _chunk(b"IEND", b""))
    return Path(path)


# --------------------------------------------------------------------------- models

def _model(nodes, inputs, outputs, initializers=(), opset=17, metadata=None, ir_version=8,
           domain_opsets=None):
    if str(ROOT) not in sys.path:  # run as a script
        sys.path.insert(0, str(ROOT))
    from tests.onnx_models import model_proto

    return model_proto(nodes, inputs, outputs, initializers, opset, metadata, ir_version, domain_opsets,
                       producer="inferdesk-hostile")


def _save(model, path) -> Path:
    import onnx

    onnx.save(model, str(path))
    return Path(path)


def _rgb_model(shape=("N", 3, 8, 8)):
    from onnx import TensorProto, helper

    nodes = [helper.make_node("ReduceMean", ["x"], ["scores"], axes=[2, 3], keepdims=0)]
    return _model(nodes, [("x", TensorProto.FLOAT, list(shape))], [("scores", TensorProto.FLOAT, ["N", 3])],
                  metadata={"labels": '["red", "green", "blue"]'})


def _sum_model(n_features=3, weight_name="w", external: str | None = None):
    """features [N, F] -> sum of the features as [N, 1]; ``external`` stores the weights in that file."""
    from onnx import TensorProto, helper, numpy_helper

    w = numpy_helper.from_array(np.ones((n_features, 1), dtype=np.float32), weight_name)
    nodes = [helper.make_node("MatMul", ["features", weight_name], ["total"])]
    model = _model(nodes, [("features", TensorProto.FLOAT, ["N", n_features])],
                   [("total", TensorProto.FLOAT, ["N", 1])], [w])
    if external is not None:
        t = model.graph.initializer[0]
        t.ClearField("raw_data")
        t.data_location = TensorProto.EXTERNAL
        for k, v in (("location", external), ("offset", "0"), ("length", str(4 * n_features))):
            e = t.external_data.add()
            e.key, e.value = k, v
    return model


def _write_weights(path, n_features=3) -> Path:
    Path(path).write_bytes(np.ones((n_features, 1), dtype=np.float32).tobytes())
    return Path(path)


def _symlink(target, link, is_dir=False) -> bool:
    try:
        os.symlink(target, link, target_is_directory=is_dir)
        return True
    except (OSError, NotImplementedError):  # Windows without the privilege
        return False


def build_models(folder: Path) -> dict:
    from onnx import TensorProto, helper

    out = {}
    folder.mkdir(parents=True, exist_ok=True)
    out["models/rgb.onnx"] = _save(_rgb_model(), folder / "rgb.onnx")
    out["models/sum3.onnx"] = _save(_sum_model(), folder / "sum3.onnx")
    (folder / "sum3.profile.json").write_text(json.dumps(
        {"input": "features", "task": "regression", "table": {"columns": ["a", "b", "c"]}}), encoding="utf-8")
    out["models/positional.onnx"] = _save(_sum_model(), folder / "positional.onnx")

    good = (folder / "rgb.onnx").read_bytes()
    out["models/truncated.onnx"] = folder / "truncated.onnx"
    out["models/truncated.onnx"].write_bytes(good[: len(good) // 2])
    out["models/random.onnx"] = folder / "random.onnx"
    out["models/random.onnx"].write_bytes(random.Random(1234).randbytes(4096))
    out["models/empty.onnx"] = folder / "empty.onnx"
    out["models/empty.onnx"].write_bytes(b"")
    buf = io.BytesIO()
    Image.new("RGB", (4, 4), RED).save(buf, "PNG")
    out["models/image_named.onnx"] = folder / "image_named.onnx"
    out["models/image_named.onnx"].write_bytes(buf.getvalue())

    x = [("x", TensorProto.FLOAT, ["N", 4])]
    y = [("y", TensorProto.FLOAT, ["N", 4])]
    out["models/unknown_op.onnx"] = _save(
        _model([helper.make_node("FrobnicateTensor", ["x"], ["y"])], x, y), folder / "unknown_op.onnx")
    out["models/unknown_domain.onnx"] = _save(
        _model([helper.make_node("Frob", ["x"], ["y"], domain="com.example.secret")], x, y,
               domain_opsets={"com.example.secret": 1}), folder / "unknown_domain.onnx")
    out["models/unknown_opset.onnx"] = _save(
        _model([helper.make_node("Relu", ["x"], ["y"])], x, y, opset=99), folder / "unknown_opset.onnx")
    out["models/future_ir.onnx"] = _save(
        _model([helper.make_node("Relu", ["x"], ["y"])], x, y, ir_version=99), folder / "future_ir.onnx")

    # declared dimensions that would need a 480 GB tensor per image (3 × 200,000 × 200,000 float32)
    out["models/absurd_dims.onnx"] = _save(_rgb_model(("N", 3, 200000, 200000)), folder / "absurd_dims.onnx")
    # a feature count no CSV has: refused by the table reader, nothing allocated
    out["models/absurd_features.onnx"] = _save(_absurd_features_model(), folder / "absurd_features.onnx")

    # external data: beside the model (fine), then escaping the folder in three ways
    secret = folder / "outside_secret.bin"
    _write_weights(secret)
    for name, location in (("ext_ok", "weights.bin"), ("ext_dotdot", "../outside_secret.bin"),
                           ("ext_absolute", str(secret.resolve())), ("ext_symlink", "weights.bin"),
                           ("ext_missing", "nowhere.bin")):
        sub = folder / name
        sub.mkdir(exist_ok=True)
        _save(_sum_model(external=location), sub / "model.onnx")
        (sub / "model.profile.json").write_text(json.dumps(
            {"input": "features", "task": "regression", "table": {"columns": ["a", "b", "c"]}}), encoding="utf-8")
        out[f"models/{name}/model.onnx"] = sub / "model.onnx"
    _write_weights(folder / "ext_ok" / "weights.bin")
    if not _symlink(os.path.join("..", "outside_secret.bin"), folder / "ext_symlink" / "weights.bin"):
        del out["models/ext_symlink/model.onnx"]
    # a model file that is itself a link: its external data is looked up beside the real file
    real = folder / "ext_real"
    real.mkdir(exist_ok=True)
    _save(_sum_model(external="weights.bin"), real / "model.onnx")
    _symlink(os.path.join("..", "outside_secret.bin"), real / "weights.bin")  # the real folder's link escapes
    linked = folder / "ext_linked"
    linked.mkdir(exist_ok=True)
    _write_weights(linked / "weights.bin")  # a harmless file where the link sits
    if _symlink(os.path.join("..", "ext_real", "model.onnx"), linked / "model.onnx"):
        out["models/ext_linked/model.onnx"] = linked / "model.onnx"
    # and a link to a good model: its weights are found beside the real file, not beside the link
    linked_ok = folder / "ext_linked_ok"
    linked_ok.mkdir(exist_ok=True)
    if _symlink(os.path.join("..", "ext_ok", "model.onnx"), linked_ok / "model.onnx"):
        out["models/ext_linked_ok/model.onnx"] = linked_ok / "model.onnx"
    return out


def _absurd_features_model():
    from onnx import TensorProto, helper

    nodes = [helper.make_node("ReduceSum", ["features"], ["total"], keepdims=1)]
    return _model(nodes, [("features", TensorProto.FLOAT, ["N", 2_000_000_000])],
                  [("total", TensorProto.FLOAT, [1, 1])], opset=13)


# --------------------------------------------------------------------------- images

def _png_bytes(img: Image.Image, fmt="PNG", **kw) -> bytes:
    buf = io.BytesIO()
    img.save(buf, fmt, **kw)
    return buf.getvalue()


def _noise(size=(32, 24), seed=0) -> Image.Image:
    rng = np.random.default_rng(seed)
    return Image.fromarray(rng.integers(0, 256, (size[1], size[0], 3), dtype=np.uint8), "RGB")


def _frames():
    return [Image.new("RGB", (8, 8), c) for c in (RED, GREEN, BLUE)]


def build_images(folder: Path) -> dict:
    """The mixed folder: good_*.png/jpg score; every other file is broken or odd in its own way."""
    folder.mkdir(parents=True, exist_ok=True)
    out = {}

    def put(name, data: bytes):
        p = folder / name
        p.write_bytes(data)
        out[f"images/{name}"] = p

    put("good_green.png", _png_bytes(Image.new("RGB", (16, 16), GREEN)))
    put("good_blue.jpg", _png_bytes(Image.new("RGB", (16, 16), BLUE), "JPEG", quality=95))

    png = _png_bytes(_noise((64, 48), 1))
    jpg = _png_bytes(_noise((64, 48), 2), "JPEG", quality=90)
    put("truncated.png", png[: len(png) // 2])
    put("truncated.jpg", jpg[: len(jpg) // 2])
    put("truncated.gif", _png_bytes(_noise((64, 48), 3).convert("P"), "GIF")[:200])
    put("empty.png", b"")
    put("empty.jpg", b"")
    put("text_named.jpg", b"name,score\nalice,3\n")  # wrong extension: a CSV named .jpg
    put("html_named.png", b"<!DOCTYPE html><html><body>404 Not Found</body></html>\n")
    put("jpeg_named.png", _png_bytes(Image.new("RGB", (8, 8), RED), "JPEG", quality=95))  # wrong extension, valid
    put("signature_only.png", PNG_SIGNATURE)
    put("zero_width.png", PNG_SIGNATURE + _ihdr(0, 16) + _chunk(b"IEND", b""))
    put("no_idat.png", PNG_SIGNATURE + _ihdr(16, 16, 8, 2) + _chunk(b"IEND", b""))
    bad_crc = bytearray(_png_bytes(Image.new("RGB", (8, 8), RED)))
    bad_crc[29] ^= 0xFF  # the IHDR's CRC
    put("bad_crc.png", bytes(bad_crc))

    # a header claiming 65,535 × 65,535 RGB (12.9 GB of pixels), with a garbage IDAT
    write_header_only_png(folder / "claims_65535.png", 65535, 65535, idat=b"\x78\x9c garbage, not deflate")
    out["images/claims_65535.png"] = folder / "claims_65535.png"
    # a real, valid 20,000 × 20,000 PNG (400 M pixels) that is a few hundred kB on disk
    write_zero_png(folder / "huge_20000.png", 20000, 20000)
    out["images/huge_20000.png"] = folder / "huge_20000.png"

    # animated and multi-frame: the first frame is red, the others green and blue
    frames = _frames()
    put("animated.gif", _png_bytes(frames[0], "GIF", save_all=True, append_images=frames[1:], duration=50, loop=0))
    put("animated.png", _png_bytes(frames[0], "PNG", save_all=True, append_images=frames[1:], duration=50))
    put("multipage.tif", _png_bytes(frames[0], "TIFF", save_all=True, append_images=frames[1:]))
    try:
        put("animated.webp", _png_bytes(frames[0], "WEBP", save_all=True, append_images=frames[1:],
                                        duration=50, lossless=True))
    except (OSError, ValueError, KeyError):  # a Pillow without WebP animation support
        pass
    return out


# --------------------------------------------------------------------------- DICOM

def _dicom(rows: int, cols: int, frames: list[bytes], number_of_frames: int | None = None) -> bytes:
    from pydicom.dataset import Dataset, FileMetaDataset
    from pydicom.uid import ExplicitVRLittleEndian, SecondaryCaptureImageStorage, generate_uid

    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = SecondaryCaptureImageStorage
    meta.MediaStorageSOPInstanceUID = generate_uid(entropy_srcs=["inferdesk-hostile", str(rows), str(len(frames))])
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds = Dataset()
    ds.file_meta = meta
    ds.SOPClassUID = meta.MediaStorageSOPClassUID
    ds.SOPInstanceUID = meta.MediaStorageSOPInstanceUID
    ds.Modality = "OT"
    ds.Rows, ds.Columns = rows, cols
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = "MONOCHROME2"
    ds.BitsAllocated = ds.BitsStored = 8
    ds.HighBit = 7
    ds.PixelRepresentation = 0
    n = number_of_frames if number_of_frames is not None else len(frames)
    if n > 1:
        ds.NumberOfFrames = n
    data = b"".join(frames)
    ds.PixelData = data + (b"\x00" if len(data) % 2 else b"")
    buf = io.BytesIO()
    ds.save_as(buf, enforce_file_format=True)
    return buf.getvalue()


def build_dicom(folder: Path) -> dict:
    folder.mkdir(parents=True, exist_ok=True)
    out = {}
    # frame 0: a gradient; frames 1 and 2 flat (the reader must take the first)
    first = np.tile(np.arange(8, dtype=np.uint8) * 30, (8, 1)).tobytes()
    p = folder / "multiframe.dcm"
    p.write_bytes(_dicom(8, 8, [first, b"\x80" * 64, b"\xff" * 64]))
    out["dicom/multiframe.dcm"] = p
    p = folder / "claims_65535.dcm"
    p.write_bytes(_dicom(65535, 65535, [b"\x00" * 64]))
    out["dicom/claims_65535.dcm"] = p
    p = folder / "truncated.dcm"
    p.write_bytes(out["dicom/multiframe.dcm"].read_bytes()[:-100])
    out["dicom/truncated.dcm"] = p
    return out


# --------------------------------------------------------------------------- CSV

CSV_CASES = {
    # name: text (str is written UTF-8; bytes as they are)
    "ragged.csv": "a,b,c\n1,2,3\n4,5\n6,7,8,9\n10,11,12\n",
    "missing_column.csv": "a,b\n1,2\n3,4\n",
    "extra_columns.csv": "id,c,note,b,a\nP1,3,fine,2,1\nP2,30,\"has, comma\",20,10\n",
    "text_in_numeric.csv": "a,b,c\n1,2,3\n4,five,6\n7,8,9\n",
    "empty_cell.csv": "a,b,c\n1,2,3\n4,,6\n",
    "nan_inf.csv": "a,b,c\n1,2,3\n4,nan,6\n7,8,inf\n",
    "semicolon_decimal_comma.csv": "a;b;c\n1,5;2,25;3\n-0,5;0;1e2\n",
    "bom.csv": "\ufeffa,b,c\n1,2,3\n",
    "crlf_bom_semicolon.csv": "\ufeffa;b;c\r\n1;2;3\r\n",
    "header_only.csv": "a,b,c\n",
    "header_only_no_newline.csv": "a,b,c",
    "no_header.csv": "1,2,3\n4,5,6\n",
    "blank_lines.csv": "\n\na,b,c\n\n1,2,3\n,,\n\n4,5,6\n",
    "unterminated_quote.csv": "a,b,c\n1,2,3\n4,\"5,6\n7,8,9\n",
    "empty.csv": "",
    "whitespace_only.csv": "  \n\t\n",
    "cp1252.csv": "a,b,c,caf\xe9\n1,2,3,cr\xe8me\n".encode("cp1252"),
    "binary.csv": PNG_SIGNATURE + b"\x00\x00\x00\rIHDR" + bytes(range(256)),
    "utf16.csv": "a,b,c\n1,2,3\n".encode("utf-16"),
    "huge_cell.csv": "a,b,c\n1,2,3\n4," + "9" * (2 << 20) + ",6\n7,8,9\n",  # a 2 MiB cell
}


def build_csv(folder: Path) -> dict:
    folder.mkdir(parents=True, exist_ok=True)
    out = {}
    for name, text in CSV_CASES.items():
        p = folder / name
        p.write_bytes(text if isinstance(text, bytes) else text.encode("utf-8"))
        out[f"csv/{name}"] = p
    return out


def write_long_line_csv(path, size: int = LONG_LINE_BYTES) -> Path:
    """A CSV whose second data row is one line of ``size`` bytes: ``1,`` repeated (tens of millions of cells).

    Written in 1 MiB pieces. The rows around it are fine and must still score.
    """
    piece = b"1," * (1 << 19)
    with open(path, "wb") as fh:
        fh.write(b"a,b,c\n1,2,3\n")
        left = size
        while left > 0:
            n = min(left, len(piece))
            fh.write(piece[:n])
            left -= n
        fh.write(b"1\n4,5,6\n")
    return Path(path)


# --------------------------------------------------------------------------- links

def build_links(folder: Path, outside: Path) -> dict:
    """``links/`` holds an image, a link to an image inside it, and links leaving it (file and folder)."""
    folder.mkdir(parents=True, exist_ok=True)
    outside.mkdir(parents=True, exist_ok=True)
    out = {"links": folder, "outside": outside}
    (outside / "secret.png").write_bytes(_png_bytes(Image.new("RGB", (8, 8), RED)))
    (outside / "album").mkdir(exist_ok=True)
    (outside / "album" / "private.png").write_bytes(_png_bytes(Image.new("RGB", (8, 8), RED)))
    out["outside/secret.png"] = outside / "secret.png"
    out["outside/album/private.png"] = outside / "album" / "private.png"
    (folder / "own.png").write_bytes(_png_bytes(Image.new("RGB", (8, 8), GREEN)))
    (folder / "sub").mkdir(exist_ok=True)
    (folder / "sub" / "deep.png").write_bytes(_png_bytes(Image.new("RGB", (8, 8), BLUE)))
    out["links/own.png"] = folder / "own.png"
    out["links/sub/deep.png"] = folder / "sub" / "deep.png"
    rel_out = os.path.relpath(outside, folder)
    if _symlink(os.path.join(rel_out, "secret.png"), folder / "escape.png"):
        out["links/escape.png"] = folder / "escape.png"
    if _symlink(os.path.abspath(outside / "secret.png"), folder / "escape_absolute.png"):
        out["links/escape_absolute.png"] = folder / "escape_absolute.png"
    if _symlink(os.path.join(rel_out, "album"), folder / "album_link", is_dir=True):
        out["links/album_link"] = folder / "album_link"
    if _symlink("own.png", folder / "alias.png"):  # stays inside: read as usual
        out["links/alias.png"] = folder / "alias.png"
    return out


# --------------------------------------------------------------------------- all

def build_corpus(folder=None, long_line: bool = False) -> dict:
    """Write the whole corpus into ``folder`` (a new temporary folder when None); return ``{name: path}``.

    The 100 MB-line CSV is left out unless ``long_line`` is set; tests make it with
    :func:`write_long_line_csv` only when they need it, and delete it afterwards.
    """
    root = Path(folder) if folder is not None else Path(tempfile.mkdtemp(prefix="inferdesk-hostile-"))
    root.mkdir(parents=True, exist_ok=True)
    out = {"root": root}
    for group, builder in (("models", build_models), ("images", build_images), ("csv", build_csv),
                           ("dicom", build_dicom)):
        out[group] = root / group
        out.update(builder(root / group))
    out.update(build_links(root / "links", root / "outside"))
    out.update(build_output_models(root / "outputs"))
    out.update(build_input_models(root / "input_models"))
    out.update(build_special_files(root / "special"))
    if long_line:
        out["csv/long_line.csv"] = write_long_line_csv(root / "csv" / "long_line.csv")
    return out


# --------------------------------------------------------------------------- input types

#: CSVs for the input-type models, ``input_models/<name>``: values an input's type cannot hold, text columns
INPUT_CSVS = {
    # for models/sum3.onnx (float32): 1e39 would become infinity, 3e38 stays finite
    "float_range.csv": "a,b,c\n1,2,3\n1e39,0,0\n4,5,6\n-3e38,0,0\n0,-1e39,0\n",
    # for int_sum.onnx (int64)
    "int_values.csv": ("a,b,c\n1,2,3\n71.7,0,0\n9223372036854775813,0,0\n1e30,0,0\n-5,0.0,7\n"
                       "9007199254740993,0,0\n4,5,6\n"),
    # for categorical.onnx: its inputs' names in another order and case, an id, empty and odd cells
    "patients.csv": ("id,Ward,visits,sex,age\nP1,ICU,2,M,50\nP2,A,0,F,61.5\nP3,B,1,,40\nP4,ICU,3,M,\n"
                     "P5,A,1.5,F,30\nP6, B ,1,M,45\nP7,Z,1,F,45\nP8,A,2,M,abc\n"),
}

#: categorical.onnx: what its graph computes, for the tests to compare with
CATEGORICAL = {
    "sex": ["F", "M"], "ward": ["A", "B", "ICU"],  # one-hot, in this order; an unknown value is all zeros
    "offset": [50.0, 2.0], "scale": [0.1, 0.5],  # (age, visits) scaled as (x - offset) * scale
    "weights": [0.4, -0.3, 0.2, -0.5, 0.9, 0.7, -0.6], "bias": -0.1,  # sex, ward, age, visits
}


def _int_sum_model():
    """features int64 [N, 3] -> their sum as float [N, 1] (Cast, then ReduceSum over the features)."""
    from onnx import TensorProto, helper, numpy_helper

    axes = numpy_helper.from_array(np.array([1], dtype=np.int64), "axes")
    nodes = [helper.make_node("Cast", ["features"], ["as_float"], to=TensorProto.FLOAT),
             helper.make_node("ReduceSum", ["as_float", "axes"], ["total"], keepdims=1)]
    return _model(nodes, [("features", TensorProto.INT64, ["N", 3])], [("total", TensorProto.FLOAT, ["N", 1])],
                  [axes])


def _categorical_model():
    """A scikit-learn ColumnTransformer pipeline as skl2onnx exports it, one input per column: sex and
    ward (string [N, 1]) one-hot encoded, age (float) and visits (int64, cast) scaled, then a logistic
    regression (LinearClassifier, ZipMap) giving output_label and output_probability ({0: p, 1: p})."""
    from onnx import TensorProto, helper, numpy_helper

    c = CATEGORICAL
    w, b = list(c["weights"]), c["bias"]
    shape = numpy_helper.from_array(np.array([-1, len(c["sex"]) + len(c["ward"])], dtype=np.int64), "shape")
    ml = "ai.onnx.ml"
    nodes = [
        helper.make_node("Cast", ["visits"], ["visits_float"], to=TensorProto.FLOAT),
        helper.make_node("Concat", ["age", "visits_float"], ["numbers"], axis=1),
        helper.make_node("Scaler", ["numbers"], ["scaled"], domain=ml, offset=c["offset"], scale=c["scale"]),
        helper.make_node("OneHotEncoder", ["sex"], ["sex_hot"], domain=ml, cats_strings=c["sex"], zeros=1),
        helper.make_node("OneHotEncoder", ["ward"], ["ward_hot"], domain=ml, cats_strings=c["ward"], zeros=1),
        helper.make_node("Concat", ["sex_hot", "ward_hot"], ["hot"], axis=-1),
        helper.make_node("Reshape", ["hot", "shape"], ["categories"]),
        helper.make_node("Concat", ["categories", "scaled"], ["features"], axis=1),
        helper.make_node("LinearClassifier", ["features"], ["label", "probabilities"], domain=ml,
                         classlabels_ints=[0, 1], coefficients=[-x for x in w] + w, intercepts=[-b, b],
                         multi_class=0, post_transform="LOGISTIC"),
        helper.make_node("Cast", ["label"], ["output_label"], to=TensorProto.INT64),
        helper.make_node("ZipMap", ["probabilities"], ["output_probability"], domain=ml, classlabels_int64s=[0, 1]),
    ]
    inputs = [("age", TensorProto.FLOAT, [None, 1]), ("sex", TensorProto.STRING, [None, 1]),
              ("ward", TensorProto.STRING, [None, 1]), ("visits", TensorProto.INT64, [None, 1])]
    model = _model(nodes, inputs, [("output_label", TensorProto.INT64, [None])], [shape], opset=17,
                   domain_opsets={ml: 1})
    probability = helper.make_value_info(
        "output_probability", helper.make_sequence_type_proto(helper.make_map_type_proto(
            TensorProto.INT64, helper.make_tensor_type_proto(TensorProto.FLOAT, []))))
    model.graph.output.append(probability)
    return model


def build_input_models(folder: Path) -> dict:
    """Models whose inputs are not float32 (``input_models/int_sum.onnx``...) and the CSVs that test them."""
    folder.mkdir(parents=True, exist_ok=True)
    out = {"input_models": folder}
    out["input_models/int_sum.onnx"] = _save(_int_sum_model(), folder / "int_sum.onnx")
    (folder / "int_sum.profile.json").write_text(json.dumps(
        {"input": "features", "task": "regression", "table": {"columns": ["a", "b", "c"]}}), encoding="utf-8")
    out["input_models/categorical.onnx"] = _save(_categorical_model(), folder / "categorical.onnx")
    for name, text in INPUT_CSVS.items():
        out[f"input_models/{name}"] = folder / name
        out[f"input_models/{name}"].write_bytes(text.encode("utf-8"))
    return out


# --------------------------------------------------------------------------- special files, metadata bombs

def write_app_segments_jpeg(path, count: int, size: int, image: Image.Image | None = None) -> Path:
    """A valid JPEG with ``count`` APP1 EXIF segments of ``size`` bytes each between its SOI and the rest.

    Pillow concatenates every EXIF segment into one bytes object as it parses them, so its
    time grows with the square of their number; written a segment at a time.
    """
    base = _png_bytes(image or Image.new("RGB", (8, 8), RED), "JPEG", quality=95)
    payload = b"Exif\0\0" + b"\0" * (size - 6)
    segment = struct.pack(">BBH", 0xFF, 0xE1, size + 2) + payload
    with open(path, "wb") as fh:
        fh.write(base[:2])
        per_write = max(1, (1 << 20) // len(segment))
        for done in range(0, count, per_write):
            fh.write(segment * min(per_write, count - done))
        fh.write(base[2:])
    return Path(path)


def build_special_files(folder: Path) -> dict:
    """Files that are not regular files, and JPEGs whose metadata would take Pillow many seconds.

    ``special/`` holds, where the system allows: ``fifo.png``, ``fifo.csv`` and ``fifo.onnx``
    (FIFOs: reading one blocks until something writes), ``zero.png``, ``zero.csv`` and
    ``zero.onnx`` (links to ``/dev/zero``: read forever), and ``folder/`` with a FIFO and a
    link to ``/dev/zero`` among two good images. ``special/metadata/`` is a folder of two
    good images around ``exif_64mb.jpg`` (1,024 EXIF segments of 64 kB) and
    ``exif_many.jpg`` (300,000 tiny ones).
    """
    folder.mkdir(parents=True, exist_ok=True)
    out = {"special": folder}
    fifo = getattr(os, "mkfifo", None)
    zero = "/dev/zero" if os.path.exists("/dev/zero") else None
    inside = folder / "folder"
    inside.mkdir(exist_ok=True)
    (inside / "a_red.png").write_bytes(_png_bytes(Image.new("RGB", (8, 8), RED)))
    (inside / "z_blue.png").write_bytes(_png_bytes(Image.new("RGB", (8, 8), BLUE)))
    out.update({"special/folder": inside, "special/folder/a_red.png": inside / "a_red.png",
                "special/folder/z_blue.png": inside / "z_blue.png"})
    for name in ("fifo.png", "fifo.csv", "fifo.onnx", "folder/m_fifo.png"):
        if fifo is not None:
            fifo(folder / name)
            out[f"special/{name}"] = folder / name
    for name in ("zero.png", "zero.csv", "zero.onnx", "folder/n_zero.png"):
        if zero and _symlink(zero, folder / name):
            out[f"special/{name}"] = folder / name

    meta = folder / "metadata"
    meta.mkdir(exist_ok=True)
    (meta / "a_green.png").write_bytes(_png_bytes(Image.new("RGB", (8, 8), GREEN)))
    write_app_segments_jpeg(meta / "exif_64mb.jpg", 1024, 65533)
    write_app_segments_jpeg(meta / "exif_many.jpg", 300_000, 10)
    (meta / "z_blue.png").write_bytes(_png_bytes(Image.new("RGB", (8, 8), BLUE)))
    out["special/metadata"] = meta
    for name in ("a_green.png", "exif_64mb.jpg", "exif_many.jpg", "z_blue.png"):
        out[f"special/metadata/{name}"] = meta / name
    return out


# --------------------------------------------------------------------------- model outputs

#: the rows every output model scores (a, b, c): distinct, so a row holding another row's values shows
OUTPUT_ROWS = [(1.0, 2.0, 3.0), (4.0, 5.0, 6.0), (7.0, 8.0, 9.0), (10.0, 11.0, 12.0), (13.0, 14.0, 15.0)]
#: rows for log.onnx: row 2 has a zero (log gives -inf), row 4 a negative value (NaN); the others score
LOG_ROWS = [(1.0, 2.0, 3.0), (4.0, 0.0, 6.0), (7.0, 8.0, 9.0), (-1.0, 2.0, 3.0), (5.0, 6.0, 7.0)]


def _table_profile(path: Path, task: str = "regression") -> None:
    path.with_name(path.stem + ".profile.json").write_text(json.dumps(
        {"input": "features", "task": task, "table": {"columns": ["a", "b", "c"]}}), encoding="utf-8")


def build_output_models(folder: Path) -> dict:
    """Models whose outputs are hard to split per item, and the inputs they score (``outputs/...``).

    transposed.onnx / transposed_image.onnx  the batch on the last axis (Transpose: declared [3, N])
    unsqueezed.onnx / unsqueezed_image.onnx  an axis put in front of the batch (Unsqueeze at 0), no
                                             declared shape
    log.onnx                                 log of each feature: NaN or -inf on some rows (log_rows.csv)
    divide.onnx                              1 / a: infinite where a is 0 (log_rows.csv has none; rows.csv none)
    sequence.onnx                            seq(tensor(float)): SequenceConstruct(features, 2 * features), and
                                             the sum of the features as a plain tensor
    sequence_ragged.onnx                     SequenceConstruct(features, their sum): tensors of two shapes
    zipmap.onnx                              a classifier ending in a ZipMap, its label with no declared size
    rows.csv, log_rows.csv, divide_rows.csv  the tables; images/ five 8 × 8 images of different colours
    """
    from onnx import TensorProto, helper, numpy_helper

    folder.mkdir(parents=True, exist_ok=True)
    out = {"outputs": folder}
    features = [("features", TensorProto.FLOAT, ["N", 3])]
    image = [("x", TensorProto.FLOAT, ["N", 3, 8, 8])]
    axes0 = numpy_helper.from_array(np.array([0], dtype=np.int64), "axes0")
    mean = helper.make_node("ReduceMean", ["x"], ["m"], axes=[2, 3], keepdims=0)

    def put(name, model, profile_task=None):
        path = _save(model, folder / name)
        if profile_task:
            _table_profile(path, profile_task)
        out[f"outputs/{name}"] = path

    put("transposed.onnx", _model([helper.make_node("Transpose", ["features"], ["y"], perm=[1, 0])], features,
                                  [("y", TensorProto.FLOAT, [3, "N"])]), "regression")
    put("unsqueezed.onnx", _model([helper.make_node("Unsqueeze", ["features", "axes0"], ["y"])], features,
                                  [("y", TensorProto.FLOAT, None)], [axes0]), "regression")
    put("transposed_image.onnx", _model([mean, helper.make_node("Transpose", ["m"], ["y"], perm=[1, 0])], image,
                                        [("y", TensorProto.FLOAT, [3, "N"])]))
    put("unsqueezed_image.onnx", _model([mean, helper.make_node("Unsqueeze", ["m", "axes0"], ["y"])], image,
                                        [("y", TensorProto.FLOAT, None)], [axes0]))
    put("log.onnx", _model([helper.make_node("Log", ["features"], ["y"])], features,
                           [("y", TensorProto.FLOAT, ["N", 3])]), "regression")
    one = numpy_helper.from_array(np.ones((1, 1), dtype=np.float32), "one")
    first = numpy_helper.from_array(np.array([0], dtype=np.int64), "first")
    put("divide.onnx", _model([helper.make_node("Gather", ["features", "first"], ["a"], axis=1),
                               helper.make_node("Div", ["one", "a"], ["y"])], features,
                              [("y", TensorProto.FLOAT, ["N", 1])], [one, first]), "regression")

    two = numpy_helper.from_array(np.array(2.0, dtype=np.float32), "two")
    w = numpy_helper.from_array(np.ones((3, 1), dtype=np.float32), "w")
    seq = _model([helper.make_node("Mul", ["features", "two"], ["doubled"]),
                  helper.make_node("SequenceConstruct", ["features", "doubled"], ["pair"]),
                  helper.make_node("MatMul", ["features", "w"], ["total"])], features,
                 [("total", TensorProto.FLOAT, ["N", 1])], [two, w])
    seq.graph.output.insert(0, helper.make_tensor_sequence_value_info("pair", TensorProto.FLOAT, None))
    put("sequence.onnx", seq, "regression")
    ragged = _model([helper.make_node("MatMul", ["features", "w"], ["total"]),
                     helper.make_node("SequenceConstruct", ["features", "total"], ["pair"])], features,
                    [("total", TensorProto.FLOAT, ["N", 1])], [w])
    ragged.graph.output.insert(0, helper.make_tensor_sequence_value_info("pair", TensorProto.FLOAT, None))
    put("sequence_ragged.onnx", ragged, "regression")

    weights = numpy_helper.from_array(np.array([[1, 0, -1], [0, 1, 0], [-1, 0, 1.5]], dtype=np.float32), "wz")
    zipmap = _model([helper.make_node("MatMul", ["features", "wz"], ["logits"]),
                     helper.make_node("Softmax", ["logits"], ["probabilities"], axis=1),
                     helper.make_node("ArgMax", ["probabilities"], ["label"], axis=1, keepdims=0),
                     helper.make_node("ZipMap", ["probabilities"], ["output_probability"],
                                      classlabels_int64s=[0, 1, 2], domain="ai.onnx.ml")], features,
                    [("label", TensorProto.INT64, [None])], [weights], domain_opsets={"ai.onnx.ml": 1},
                    metadata={"labels": '["low", "middle", "high"]'})
    zipmap.graph.output.append(helper.make_value_info(
        "output_probability", helper.make_sequence_type_proto(
            helper.make_map_type_proto(TensorProto.INT64, helper.make_tensor_type_proto(TensorProto.FLOAT, [])))))
    put("zipmap.onnx", zipmap, "classification")

    for name, rows in (("rows.csv", OUTPUT_ROWS), ("log_rows.csv", LOG_ROWS),
                       ("divide_rows.csv", [(2.0, 1.0, 1.0), (0.0, 1.0, 1.0), (4.0, 1.0, 1.0)])):
        (folder / name).write_text("a,b,c\n" + "".join(",".join(f"{v:g}" for v in r) + "\n" for r in rows),
                                   encoding="utf-8")
        out[f"outputs/{name}"] = folder / name
    images = folder / "images"
    images.mkdir(exist_ok=True)
    for k, colour in enumerate((RED, GREEN, BLUE, (200, 120, 40), (30, 160, 220))):
        path = images / f"colour_{k}.png"
        path.write_bytes(_png_bytes(Image.new("RGB", (8, 8), colour)))
        out[f"outputs/images/{path.name}"] = path
    out["outputs/images"] = images
    return out


if __name__ == "__main__":  # pragma: no cover - a convenience for looking at the corpus by hand
    args = [a for a in sys.argv[1:] if not a.startswith("--")]
    built = build_corpus(args[0] if args else None, long_line="--long-line" in sys.argv)
    for key, path in sorted(built.items(), key=lambda kv: str(kv[0])):
        size = path.stat().st_size if path.is_file() else 0
        print(f"{key:40} {size:>12,}  {path}")
