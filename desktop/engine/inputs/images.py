"""Decode image files (PNG, JPEG, BMP, TIFF, WebP, GIF) and DICOM into Pillow images in RGB, L or F mode."""

from __future__ import annotations

import os
import re
import warnings

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from ..errors import InputError
from ..files import open_regular

#: the key of ``Image.info`` holding a DICOM's PixelSpacing: (row spacing, column spacing) in mm, floats
PIXEL_SPACING = "inferdesk.pixel_spacing_mm"

# Pillow's decompression-bomb guard stays on: images over Image.MAX_IMAGE_PIXELS warn, over twice that fail.


def _name(path) -> str:
    return os.path.basename(str(path))


def _normalise_mode(img: Image.Image) -> Image.Image:
    """Bring any Pillow mode to RGB (colour), L (8-bit grey) or F (high-precision grey, 0-255 range)."""
    mode = img.mode
    if mode in ("RGB", "L"):
        return img
    if mode.startswith("I;16") or mode in ("I", "I;16B", "I;16L", "I;16N"):
        arr = np.asarray(img, dtype=np.float32)
        # 16-bit images keep their precision, mapped to the 0-255 range every profile assumes
        return Image.fromarray(np.clip(arr, 0, 65535) / np.float32(257.0), mode="F")
    if mode == "F":
        return img
    if mode in ("1", "LA", "La"):
        return img.convert("L")
    if mode in ("P", "PA"):
        return img.convert("RGBA").convert("RGB")
    return img.convert("RGB")  # RGBA, RGBa, CMYK, YCbCr, LAB, HSV: alpha dropped as Image.convert does


def _header_size(path) -> tuple | None:
    """(width, height) read from the file's header, for messages only.

    Image.open refuses images over twice the safety limit before returning them, so it cannot
    say how big they are; the format plugins are asked directly, without the size check.
    """
    try:
        Image.init()
        with open_regular(path) as fp, warnings.catch_warnings():
            warnings.simplefilter("ignore")
            prefix = fp.read(16)
            for fmt in Image.ID:
                factory, accept = Image.OPEN[fmt]
                if accept is not None and not accept(prefix):
                    continue
                fp.seek(0)
                try:
                    im = factory(fp, str(path))
                except Exception:  # noqa: BLE001 - not this format
                    continue
                return im.size
    except Exception:  # noqa: BLE001 - only for the message
        pass
    return None


#: the most a JPEG may carry before its pixels: segments (EXIF, XMP, ICC, comments, tables) and
#: bytes of metadata (APPn and COM segments). Cameras and editors write a few segments and
#: well under a megabyte (EXIF fits one 64 kB segment; ICC profiles and extended XMP are split
#: over several); Pillow's parsing time grows with the square of the segment count, so far
#: more is refused before Pillow sees it
MAX_JPEG_SEGMENTS = 512
MAX_JPEG_METADATA_BYTES = 16 << 20


def _check_jpeg_markers(fh, name: str) -> None:
    """Walk a JPEG's segments up to its first scan, refusing one with more metadata than the limits.

    Only the two-byte markers and lengths are read; the segments are skipped by seeking, so a
    file of 64 MB of segments is walked in milliseconds. What is not a well-formed marker
    ends the walk: Pillow then says what is wrong.
    """
    read, seek = fh.read, fh.seek
    seek(2)
    segments = metadata = 0
    while True:
        if read(1) != b"\xff":
            return
        marker = read(1)
        while marker == b"\xff":  # fill bytes
            marker = read(1)
        if not marker:
            return
        code = marker[0]
        if code in (0xDA, 0xD9):  # start of scan, end of image
            return
        if code in (0x00, 0x01) or 0xD0 <= code <= 0xD8:  # no length follows
            continue
        length = read(2)
        if len(length) < 2:
            return
        n = (length[0] << 8) | length[1]
        segments += 1
        if 0xE0 <= code <= 0xEF or code == 0xFE:
            metadata += n
        if segments > MAX_JPEG_SEGMENTS:
            raise InputError(f"{name}: the JPEG has over {MAX_JPEG_SEGMENTS:,} segments of metadata and tables "
                             "before its image data, far more than any camera or editor writes; refused")
        if metadata > MAX_JPEG_METADATA_BYTES:
            raise InputError(f"{name}: the JPEG carries over {MAX_JPEG_METADATA_BYTES >> 20} MB of metadata (EXIF "
                             "and other APP segments) before its image data; refused")
        seek(n - 2, 1)


def decode_image(path: str | os.PathLike, exif: bool = True) -> Image.Image:
    """Open an image file, apply its EXIF orientation, take its first frame; raise InputError if unreadable.

    The file is opened once, refused unless it is a regular file (a FIFO or a device would
    block or never end), and a JPEG's segments are walked first (:data:`MAX_JPEG_SEGMENTS`).
    ``exif`` False leaves the pixels as stored, as ``PIL.Image.open`` gives them (a profile's
    ``image.exif: ignore``).
    """
    name = _name(path)
    with _open_image_file(path, name) as fh:
        return _decode_open_image(fh, path, name, exif)


def _open_image_file(path, name: str):
    """The file open for reading, refused unless it is a regular file; InputError naming it otherwise."""
    try:
        return open_regular(path, InputError, name)
    except OSError as exc:
        raise InputError(f"{name}: cannot read the file ({exc.strerror or exc})") from exc


def check_image(path: str | os.PathLike) -> tuple[int, int]:
    """The image's (width, height) from its header, refused as :func:`decode_image` would refuse it
    before decoding (not a regular file, empty, too much JPEG metadata, over the pixel limit,
    unreadable); raises InputError. The queue's check before a run: cheap, no pixels decoded."""
    name = _name(path)
    with _open_image_file(path, name) as fh:
        return _decode_open_image(fh, path, name, load=False)


def _decode_open_image(fh, path, name: str, exif: bool = True, load: bool = True):
    """The image in the open file ``fh`` (of ``path``, for messages), as :func:`decode_image` returns it;
    with ``load`` False only its header is read, and its size returned."""
    try:
        head = fh.read(3)
        if not head:
            raise InputError(f"{name}: the file is empty (0 bytes)")
        if head == b"\xff\xd8\xff":  # a JPEG, whatever its name says: Pillow goes by the content too
            _check_jpeg_markers(fh, name)
        fh.seek(0)
    except OSError as exc:
        raise InputError(f"{name}: cannot read the file ({exc.strerror or exc})") from exc
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            img = Image.open(fh)
            if not load:
                return img.size
            try:
                img.seek(0)
            except EOFError:
                pass
            img.load()
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        size = _header_size(path)
        dims = f"{size[0]:,}×{size[1]:,} pixels, " if size else ""
        raise InputError(
            f"{name}: image is too large ({dims}over the {Image.MAX_IMAGE_PIXELS:,}-pixel safety limit)"
        ) from exc
    except UnidentifiedImageError as exc:
        raise InputError(f"{name}: not a readable image (the format is unknown or the file is corrupt)") from exc
    except (OSError, SyntaxError, ValueError, EOFError) as exc:
        msg = str(exc) or type(exc).__name__
        if "truncated" in msg.lower():
            raise InputError(f"{name}: the image file is truncated (incomplete download or copy?)") from exc
        raise InputError(f"{name}: the image data is corrupt ({msg})") from exc
    except MemoryError as exc:
        raise InputError(f"{name}: not enough memory to decode this image") from exc
    except InputError:
        raise
    except Exception as exc:  # noqa: BLE001 - Pillow's parsers raise TypeError, KeyError, struct.error... on broken files
        raise InputError(f"{name}: the image data is corrupt ({type(exc).__name__}: {exc})") from exc
    if exif:
        try:
            # in place: without an orientation tag this is a no-op, where the default copies every image
            ImageOps.exif_transpose(img, in_place=True)
        except Exception:  # noqa: BLE001 - a broken EXIF block must not lose the image
            pass
    return _normalise_mode(img)


def _int_tag(ds, keyword: str, default: int) -> int:
    """A whole-number DICOM attribute, or ``default`` when it is missing or malformed."""
    try:
        return int(getattr(ds, keyword, default) or default)
    except (TypeError, ValueError, OverflowError):
        return default  # a malformed value (an element pydicom cannot parse at all raises, see decode_dicom)


def decode_dicom(path: str | os.PathLike, window=None) -> Image.Image:
    """Read a DICOM frame, apply its modality LUT, window and MONOCHROME1 inversion; an F (grey) or RGB image.

    ``path`` is a file (its first frame) or one frame of it, ``file.dcm#frame=3`` (counting
    from 1; see :mod:`.dicomseries`). ``window`` is the profile's ``dicom.window``: None or
    "file" (the file's own window), "none", a preset name or a :class:`~.windowing.Window`
    (see :func:`~.windowing.grey_frame`).
    """
    from .dicomseries import split_frame

    file, frame = split_frame(os.fspath(path))
    name = _name(path)
    path = file
    try:  # imported with the first DICOM file: the many runs and commands that read none never pay for it
        import pydicom
        from pydicom.errors import InvalidDicomError
    except ImportError as exc:  # pragma: no cover - pydicom is a dependency
        raise InputError(f"{name}: reading DICOM needs the pydicom package") from exc
    with _open_image_file(path, name) as fh:  # a FIFO or a device would block or never end
        if not fh.read(1):
            raise InputError(f"{name}: the file is empty (0 bytes)")
        fh.seek(0)
        try:
            ds = pydicom.dcmread(fh)
        except InvalidDicomError as exc:
            raise InputError(f"{name}: not a DICOM file (no DICM header)") from exc
        except Exception as exc:  # noqa: BLE001 - pydicom raises many types for broken files
            raise InputError(f"{name}: the DICOM file is corrupt ({exc})") from exc
        return _decoded_dicom(ds, name, (frame or 1) - 1, window)


def _decoded_dicom(ds, name: str, index: int = 0, window=None) -> Image.Image:
    """:func:`_dicom_image`, with what a broken dataset raises turned into InputError.

    A dataset with a valid PixelSpacing (two positive numbers, mm) gives it to the image as
    ``info[PIXEL_SPACING]``, so that areas can be given in mm².
    """
    try:
        img = _dicom_image(ds, name, index, window)
        from .dicomseries import frame_dataset

        spacing = _pixel_spacing(frame_dataset(ds, index))
        if spacing is not None:
            img.info[PIXEL_SPACING] = spacing
        return img
    except InputError:
        raise
    except MemoryError as exc:
        raise InputError(f"{name}: not enough memory to decode this image") from exc
    except Exception as exc:  # noqa: BLE001 - pydicom parses elements lazily: a broken one raises on access
        raise InputError(f"{name}: the DICOM file is corrupt ({type(exc).__name__}: {exc})") from exc


def _pixel_spacing(ds) -> tuple | None:
    """PixelSpacing as (row spacing, column spacing) in mm, or None when missing or not two positive numbers."""
    try:
        values = [float(v) for v in ds.get("PixelSpacing", None) or ()]
    except (TypeError, ValueError):
        return None
    if len(values) != 2 or not all(np.isfinite(v) and v > 0 for v in values):
        return None
    return (values[0], values[1])


def _colour_to_8bit(pixels: np.ndarray, ds) -> np.ndarray:
    """RGB samples as uint8: 8-bit ones as they are, deeper ones (BitsStored 9 to 32) scaled to 0-255."""
    if pixels.dtype == np.uint8:
        return np.ascontiguousarray(pixels)
    bits = _int_tag(ds, "BitsStored", 8 * pixels.dtype.itemsize)
    top = float(2 ** min(max(bits, 1), 8 * pixels.dtype.itemsize) - 1)
    scaled = np.clip(pixels.astype(np.float64), 0, top) * (255.0 / top)
    return np.ascontiguousarray(np.rint(scaled).astype(np.uint8))


def _syntax_text(ds) -> str:
    """The transfer syntax in words with its UID, e.g. 'JPEG-LS Lossless Image Compression (1.2.840.10008.1.2.4.80)'."""
    syntax = getattr(getattr(ds, "file_meta", None), "TransferSyntaxUID", None)
    if not syntax:
        return "an unknown transfer syntax (none in the file's meta header)"
    name = getattr(syntax, "name", "") or ""
    return f"{name} ({syntax})" if name and name != str(syntax) else f"transfer syntax {syntax}"


def _dicom_image(ds, name: str, index: int = 0, window=None) -> Image.Image:
    """Frame ``index`` (from 0) of a read DICOM dataset as an F (grey, 0-255) or RGB image."""
    if "PixelData" not in ds:
        raise InputError(f"{name}: the DICOM file holds no image (no Pixel Data)")
    rows, cols = _int_tag(ds, "Rows", 0), _int_tag(ds, "Columns", 0)
    if Image.MAX_IMAGE_PIXELS and rows * cols > Image.MAX_IMAGE_PIXELS:  # the same limit as other images
        raise InputError(
            f"{name}: image is too large ({cols:,}×{rows:,} pixels, over the {Image.MAX_IMAGE_PIXELS:,}-pixel "
            "safety limit)"
        )
    frames = _int_tag(ds, "NumberOfFrames", 1)
    if index >= max(frames, 1):
        raise InputError(f"{name}: the file has {frames:,} frame{'s' if frames != 1 else ''}, no frame {index + 1}")
    from pydicom.pixels import pixel_array  # lazily, as pydicom itself (decode_dicom)

    try:
        # this frame alone (a multi-frame file's other frames are never decoded), and in RGB: pydicom
        # converts YBR_FULL and YBR_FULL_422 itself, and a JPEG's decoder may have already
        pixels = pixel_array(ds, index=index, as_rgb=True)
    except Exception as exc:  # noqa: BLE001
        reason = " ".join(str(exc).split()) or type(exc).__name__
        if any(word in reason.lower() for word in ("truncat", "less than expected", "too short")):
            counts = re.search(r"\((\d+) vs (\d+) bytes\)", reason)  # pydicom's "(92 vs 192 bytes)"
            detail = f"{int(counts[1]):,} of {int(counts[2]):,} bytes; " if counts else ""
            raise InputError(f"{name}: the DICOM pixel data is truncated ({detail}incomplete download or "
                             "copy?)") from exc
        raise InputError(f"{name}: {_syntax_text(ds)} cannot be decoded: {reason}") from exc
    while pixels.ndim > 3 or (pixels.ndim == 3 and pixels.shape[-1] not in (3, 4)):
        pixels = pixels[0]  # more frames than the header declares: the first
    if pixels.ndim < 2 or pixels.size == 0:
        raise InputError(f"{name}: the DICOM pixel data has no usable image (shape {pixels.shape})")
    if pixels.ndim == 3:
        return Image.fromarray(_colour_to_8bit(pixels[..., :3], ds), mode="RGB")
    from .dicomseries import frame_dataset
    from .windowing import grey_frame

    return Image.fromarray(grey_frame(pixels, frame_dataset(ds, index), window), mode="F")
