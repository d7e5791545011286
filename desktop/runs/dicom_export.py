"""``history export RUN --format dicom-seg|dicom-sr|dicom-sc``: a run's results as DICOM objects in a folder (no Qt).

Each object is built from the run's source DICOM file as it is now (which must still be there,
and unchanged: its SHA-256 is checked against the one recorded when it was scored), de-identified
first by the PS3.15 Basic Profile with the options chosen (:mod:`desktop.engine.dicom_deid`),
unless ``include_phi``. An item that cannot give an object (gone, changed, not DICOM, failed,
nothing to report) is named with the reason and the others are written.
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
    from desktop.engine.inputs.images import decode_dicom

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
        series: dict = {}  # SEG: (series UID, rows, columns) -> [(input, dataset, label map, names, background)]
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
                    try:
                        source = _read_source(path, result.input_sha256)
                    except ValueError as exc:
                        done.skipped.append((path, str(exc)))
                        continue
                    warning = None if include_phi else burned_in_warning(source)
                    if warning:
                        done.warnings.append((path, warning))
                    ds = source if include_phi else deidentify(source, options, salt).dataset
                    key = str(source.get("SOPInstanceUID", path))
                    try:
                        if fmt == "dicom-seg":
                            got = result.label_map()
                            if got is None:
                                raise ValueError("it has no masks")
                            label_map, names = got
                            background = _background(result, names)
                            where = (str(ds.get("SeriesInstanceUID", "")), int(ds.Rows), int(ds.Columns))
                            if label_map.shape != where[1:]:
                                raise ValueError(f"its mask is {label_map.shape[1]}×{label_map.shape[0]} and the "
                                                 f"image {where[2]}×{where[1]}")
                            series.setdefault(where, []).append((path, ds, label_map, names, background))
                            continue
                        if fmt == "dicom-sr":
                            obj = dicom_results.report(
                                ds, result, algorithm, series_uid=derived_uid(salt, run.id, "sr", ds.SeriesInstanceUID),
                                sop_uid=derived_uid(salt, run.id, "sr", key), observer_uid=derived_uid(
                                    salt, "observer", algorithm.sha256),
                                tracking_uids=lambda name, key=key: derived_uid(salt, run.id, "sr", key, name))
                        else:
                            image = decode_dicom(path)
                            obj = dicom_results.secondary_capture(
                                ds, dicom_results.overlay_rgb(image, result), algorithm,
                                series_uid=derived_uid(salt, run.id, "sc", ds.SeriesInstanceUID),
                                sop_uid=derived_uid(salt, run.id, "sc", key))
                    except (ValueError, EngineError) as exc:
                        done.skipped.append((path, str(exc)))
                        continue
                    done.written.append(_write(folder, f"{FORMATS[fmt][1]}-{os.path.basename(path)}", obj))
        for (series_uid, _, _), items in series.items():
            paths = [p for p, *_ in items]
            try:
                obj = dicom_results.segmentation(
                    [d for _, d, *_ in items], [m for *_, m, _, _ in items], items[0][3], algorithm,
                    background=items[0][4], series_uid=derived_uid(salt, run.id, "seg", series_uid),
                    sop_uid=derived_uid(salt, run.id, "seg", series_uid, *sorted(str(d.SOPInstanceUID)
                                                                                for _, d, *_ in items)))
            except ValueError as exc:
                done.skipped.extend((p, str(exc)) for p in paths)
                continue
            except Exception as exc:  # noqa: BLE001 - highdicom refuses sources it cannot derive from, with its reason
                done.skipped.extend((p, f"highdicom cannot make a SEG of it ({exc})") for p in paths)
                continue
            done.written.append(_write(folder, f"seg-{os.path.basename(paths[0])}", obj))
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
    how = f"de-identified: {done.deidentified}" if done.deidentified else "with patient details"
    text = f"Wrote {n:,} DICOM {done.what} object{'s' if n != 1 else ''} to {done.folder} ({how}; not for diagnostic use)"
    if done.skipped:
        path, why = done.skipped[0]
        more = f" and {len(done.skipped) - 1:,} more" if len(done.skipped) > 1 else ""
        text += f" · skipped {os.path.basename(path)}: {why}{more}"
    if done.warnings:
        text += (f" · {len(done.warnings):,} may show text burnt into the pixels "
                 f"({os.path.basename(done.warnings[0][0])}: check before sharing)")
    return text
