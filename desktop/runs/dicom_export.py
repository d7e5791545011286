"""``history export RUN --format dicom-seg|dicom-sr|dicom-sc``: a run's results as DICOM objects in a folder (no Qt).

Each object is built from the run's source DICOM file as it is now (which must still be there,
and unchanged: its SHA-256 is checked against the one recorded when it was scored), de-identified
first by the PS3.15 Basic Profile with the options chosen (:mod:`desktop.engine.dicom_deid`),
unless ``include_phi``. An item that cannot give an object (gone, changed, not DICOM, failed,
nothing to report) is named with the reason and the others are written.

A multi-frame file's frames are items of their own (``file.dcm#frame=3``): each gets its SR and
Secondary Capture, naming the frame it is of (ReferencedFrameNumber), and the file one SEG of
the frames scored.
"""

from __future__ import annotations

import hashlib
import os
from contextlib import closing
from dataclasses import dataclass, field

from desktop.engine.dicom_deid import DeidOptions, burned_in_warning, deidentify, derived_uid, installation_salt, \
    method_text
from desktop.engine.errors import EngineError

#: the formats, and what each object is called in messages and file names
FORMATS = {"dicom-seg": ("SEG", "seg"), "dicom-sr": ("SR", "sr"), "dicom-sc": ("Secondary Capture", "sc")}


class NotExportable(EngineError):
    """A DICOM export that cannot be made at all (a run that is not a segmenter's for SEG, an --out that is a file)."""


@dataclass
class DicomExported:
    """What a DICOM export did: the files ``written`` into ``folder``, the items ``skipped`` (input, why), the
    ``warnings`` (input, why: text burnt into the pixels), and how the objects were de-identified."""

    folder: str
    fmt: str
    written: list = field(default_factory=list)
    skipped: list = field(default_factory=list)
    warnings: list = field(default_factory=list)
    deidentified: str | None = None  # the DeidentificationMethod, None with include_phi

    @property
    def what(self) -> str:
        return FORMATS[self.fmt][0]


def _sha256(path: str) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _read_source(path: str, recorded_sha: str | None):
    """The source's full dataset, or raise ValueError saying why it cannot be used."""
    import pydicom
    from pydicom.errors import InvalidDicomError

    from desktop.engine.files import open_regular

    if not os.path.exists(path):
        raise ValueError("the file is no longer there")
    try:
        if recorded_sha and _sha256(path) != recorded_sha:
            raise ValueError("the file has changed since it was scored (its SHA-256 differs)")
        with open_regular(path) as fh:
            return pydicom.dcmread(fh)
    except InvalidDicomError:
        raise ValueError("not a DICOM file") from None
    except OSError as exc:
        raise ValueError(f"cannot be read ({exc.strerror or exc})") from None
    except ValueError:
        raise
    except Exception as exc:  # noqa: BLE001 - pydicom raises many types for a broken file
        raise ValueError(f"the DICOM file is corrupt ({exc})") from None


class _Sources:
    """Each source file read (SHA-256 checked) and de-identified once, though a multi-frame file's frames are
    items of their own: the last file is kept, as a file's frames come one after another."""

    def __init__(self, options: DeidOptions, include_phi: bool, salt: bytes):
        self.options, self.include_phi, self.salt = options, include_phi, salt
        self._file = None
        self._got = None  # (source, dataset to build from) or the ValueError

    def get(self, file: str, recorded_sha: str | None, frame: int | None):
        """(the source, the dataset an object is built from, its burnt-in text warning the first time it is read);
        raise ValueError why the file, or its frame ``frame`` (from 1), cannot be used."""
        warning = None
        if file != self._file:
            self._file = file
            try:
                source = _read_source(file, recorded_sha)
            except ValueError as exc:
                self._got = exc
            else:
                warning = None if self.include_phi else burned_in_warning(source)
                self._got = (source, source if self.include_phi else
                             deidentify(source, self.options, self.salt).dataset)
        if isinstance(self._got, ValueError):
            raise ValueError(str(self._got))
        source, ds = self._got
        if frame is not None:
            count = _frames(source)
            if frame > count:
                raise ValueError(f"the file has {count:,} frame{'s' if count != 1 else ''}, no frame {frame}")
        return source, ds, warning


def _frames(ds) -> int:
    try:
        return max(int(ds.get("NumberOfFrames", 1) or 1), 1)
    except (TypeError, ValueError):
        return 1


def _scored_window(meta: dict):
    """The window the run's profile decoded DICOM through (``dicom.window``; None, the file's own, without one
    or when the recorded profile cannot be read)."""
    from desktop.engine.errors import ProfileError
    from desktop.engine.profile import profile_from_dict

    raw = meta.get("profile")
    if not isinstance(raw, dict) or not raw.get("dicom"):
        return None
    try:
        dicom = profile_from_dict(raw).dicom
    except ProfileError:
        return None
    return dicom.window if dicom is not None else None


def _algorithm(meta: dict):
    from desktop import __version__
    from desktop.engine.dicom_results import Algorithm

    model = meta.get("model") or {}
    sha = str(model.get("sha256") or "unknown")
    profile = meta.get("profile") or {}
    version = str(model.get("version") or profile.get("model_version") or f"sha256:{sha[:12]}")
    return Algorithm(name=str(model.get("file_name") or "model"), version=version, sha256=sha,
                     software=f"InferDesk {__version__}")


def _write(folder: str, stem: str, obj) -> str:
    """Save ``obj`` as ``folder/<stem>.dcm`` (``<stem>-2.dcm``... when the name is taken by another object)."""
    from desktop.engine.maskwriters import open_new, safe_stem

    fh, target = open_new(folder, safe_stem(stem), ".dcm")
    with fh:
        obj.save_as(fh, enforce_file_format=True)
    return os.path.abspath(target)


def export_dicom(run_ref: str, folder, fmt: str, *, options: DeidOptions = DeidOptions(), include_phi: bool = False,
                 store_path=None, salt: bytes | None = None, exported_by: str = "InferDesk window") -> DicomExported:
    """Write one ``fmt`` object per scored DICOM source image (per source series for ``dicom-seg``) into ``folder``.

    Parameters
    ----------
    run_ref
        The run's id or its first characters.
    folder
        Where the objects go (made when missing); a file there is never overwritten.
    fmt
        ``dicom-seg`` (a segmenter's run), ``dicom-sr`` or ``dicom-sc``.
    options
        The PS3.15 options on top of the Basic Profile (ignored with ``include_phi``).
    include_phi
        Write the objects with the source's identity and UIDs, not de-identified.
    salt
        The UID salt (:func:`~desktop.engine.dicom_deid.installation_salt` by default).

    Returns
    -------
    DicomExported
        What was written and what was skipped, and why; the export is noted in the run's trail.
    """
    from desktop.engine import dicom_results
    from desktop.engine.inputs import InputKind
    from desktop.engine.inputs.dicomseries import split_frame
    from desktop.engine.inputs.images import decode_dicom
    from desktop.engine.maskwriters import safe_stem

    from .history import _store

    if fmt not in FORMATS:
        raise NotExportable(f"not a DICOM export format: {fmt}")
    folder = os.path.abspath(os.fspath(folder))
    if os.path.exists(folder) and not os.path.isdir(folder):
        raise NotExportable(f"Will not write DICOM objects to {folder}: it is a file; name a folder")
    salt = installation_salt() if salt is None else salt
    done = DicomExported(folder, fmt, deidentified=None if include_phi else method_text(options))
    with _store(store_path) as store:
        run = store.run(run_ref)
        meta = store.run_metadata(run.id)
        algorithm = _algorithm(meta)
        window = _scored_window(meta)
        series: dict = {}  # SEG: (series UID, rows, columns) or a multi-frame file's SOP UID -> its items
        sources = _Sources(options, include_phi, salt)
        os.makedirs(folder, exist_ok=True)
        with closing(store.batches(run.id)) as batches:
            for batch in batches:
                if fmt == "dicom-seg" and "rle_offsets" not in batch.answer and batch.n_ok:
                    raise NotExportable(f"DICOM SEG holds a segmenter's masks, and this run ({batch.task}) has none: "
                                        "use --format dicom-sr or dicom-sc")
                for i in range(len(batch)):
                    result = batch.result(i)
                    path = result.input
                    if not result.ok:
                        done.skipped.append((path, f"it was not scored ({result.error})"))
                        continue
                    if result.kind != InputKind.DICOM:
                        done.skipped.append((path, "not a DICOM input"))
                        continue
                    file, frame = split_frame(path)
                    try:
                        source, ds, warning = sources.get(file, result.input_sha256, frame)
                    except ValueError as exc:
                        done.skipped.append((path, str(exc)))
                        continue
                    if warning:
                        done.warnings.append((file, warning))
                    key = str(source.get("SOPInstanceUID", file))
                    ids = (key,) if frame is None else (key, f"frame={frame}")
                    stem = f"{FORMATS[fmt][1]}-{os.path.basename(file)}" if frame is None else \
                        f"{FORMATS[fmt][1]}-{safe_stem(file)}-frame{frame}.dcm"
                    try:
                        if fmt == "dicom-seg":
                            got = result.label_map()
                            if got is None:
                                raise ValueError("it has no masks")
                            label_map, names = got
                            background = _background(result, names)
                            rows, cols = int(ds.Rows), int(ds.Columns)
                            if label_map.shape != (rows, cols):
                                raise ValueError(f"its mask is {label_map.shape[1]}×{label_map.shape[0]} and the "
                                                 f"image {cols}×{rows}")
                            where = (str(ds.get("SeriesInstanceUID", "")), rows, cols) if frame is None else \
                                ("frames", key)  # a multi-frame file: a SEG of its own, of the frames scored
                            series.setdefault(where, []).append((path, ds, label_map, names, background, frame))
                            continue
                        if fmt == "dicom-sr":
                            obj = dicom_results.report(
                                ds, result, algorithm, series_uid=derived_uid(salt, run.id, "sr", ds.SeriesInstanceUID),
                                sop_uid=derived_uid(salt, run.id, "sr", *ids), observer_uid=derived_uid(
                                    salt, "observer", algorithm.sha256), frame=frame,
                                tracking_uids=lambda name, ids=ids: derived_uid(salt, run.id, "sr", *ids, name))
                        else:
                            # the frame's pixels alone for a frame's item, through the window it was scored with
                            image = decode_dicom(path, window=window)
                            obj = dicom_results.secondary_capture(
                                ds, dicom_results.overlay_rgb(image, result), algorithm,
                                series_uid=derived_uid(salt, run.id, "sc", ds.SeriesInstanceUID),
                                sop_uid=derived_uid(salt, run.id, "sc", *ids), frame=frame)
                    except (ValueError, EngineError) as exc:
                        done.skipped.append((path, str(exc)))
                        continue
                    done.written.append(_write(folder, stem, obj))
        for where, items in series.items():
            paths = [p for p, *_ in items]
            frames = None
            if where[0] == "frames":
                items = sorted(items, key=lambda item: item[-1])
                paths = [p for p, *_ in items]
                frames = [f for *_, f in items]
            datasets = [d for _, d, *_ in items] if frames is None else [items[0][1]]
            try:
                obj = dicom_results.segmentation(
                    datasets, [m for _, _, m, *_ in items], items[0][3], algorithm,
                    background=items[0][4], series_uid=derived_uid(salt, run.id, "seg", str(datasets[0].get(
                        "SeriesInstanceUID", ""))),
                    sop_uid=derived_uid(salt, run.id, "seg", *(
                        (where[0], *sorted(str(d.SOPInstanceUID) for d in datasets)) if frames is None else
                        ("frames", where[1], *map(str, frames)))), frames=frames)
            except ValueError as exc:
                done.skipped.extend((p, str(exc)) for p in paths)
                continue
            except Exception as exc:  # noqa: BLE001 - highdicom refuses sources it cannot derive from, with its reason
                done.skipped.extend((p, f"highdicom cannot make a SEG of it ({exc})") for p in paths)
                continue
            first = split_frame(paths[0])[0]
            done.written.append(_write(folder, f"seg-{os.path.basename(first)}", obj))
        store.note_export(run.id, folder, fmt)
    return done


def _background(result, names) -> int | None:
    from desktop.engine.maskwriters import background_value

    return background_value(result.masks.kind or "", names)


def summary(done: DicomExported) -> list[str]:
    """The lines a command or the status bar says of an export: what was written, skipped and warned of."""
    lines = [f"skipped {p}: {why}" for p, why in done.skipped]
    lines += [f"warning: {p}: {why}" for p, why in done.warnings]
    n = len(done.written)
    how = f"de-identified ({done.deidentified})" if done.deidentified else "with patient details (--include-phi)"
    lines.append(f"wrote {n:,} DICOM {done.what} object{'s' if n != 1 else ''} to {done.folder}, {how}; "
                 "not for diagnostic use")
    return lines



def status_text(done: DicomExported) -> str:
    """One line for the window's status bar and the History tab: what was written, then what was skipped and warned."""
    n = len(done.written)
    # what was written and where first, then how, shortly: the status bar has half the window's width
    how = "with patient details" if not done.deidentified else "de-identified" + (
        done.deidentified.removeprefix("PS3.15 Basic Profile").replace(" + Retain ", ", keeping ", 1)
        if done.deidentified.startswith("PS3.15 Basic Profile") else f" ({done.deidentified})")
    text = f"Wrote {n:,} DICOM {done.what} object{'s' if n != 1 else ''} to {done.folder} · {how} · " \
           "not for diagnostic use"
    if done.skipped:
        path, why = done.skipped[0]
        more = f" and {len(done.skipped) - 1:,} more" if len(done.skipped) > 1 else ""
        text += f" · skipped {os.path.basename(path)}: {why}{more}"
    if done.warnings:
        text += (f" · {len(done.warnings):,} may show text burnt into the pixels "
                 f"({os.path.basename(done.warnings[0][0])}: check before sharing)")
    return text
