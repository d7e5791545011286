"""Segmentation mask exports: PNG label maps beside a JSON legend, and the masks of a COCO export.

PNG label maps (``score --save-masks DIR``, ``history export RUN --format masks --out DIR``)
    One ``<image stem>.png`` per scored image, at the ORIGINAL image's size: each pixel's value
    is :meth:`~desktop.engine.results.Result.label_map`'s (an instance segmenter's class + 1 of
    the best-scoring detection over the threshold there, 0 none; a semantic map's class).
    8-bit greyscale (mode ``L``) when every value is under 256, else 16-bit (``I;16``). A name
    taken (two images with one stem, a folder used before) gets ``<stem>-2.png``, ``-3``...:
    a file is never written over. Beside them, ``legend.json``::

        {"kind": "instance", "values": {"0": "background", "1": "person", "2": "bicycle"},
         "colours": {"0": null, "1": "#FF3838", "2": "#FF9D97"}}

    ``colours`` are the window's (Ultralytics' palette, :mod:`desktop.engine.palette`); the
    value the window draws clear (its background) is ``null``.

COCO segmentation (``--format coco`` of a segmenter's run; :mod:`~desktop.engine.detwriters`)
    An instance segmenter's detections each get ``"segmentation": {"size": [h, w], "counts":
    str}``, pycocotools' compressed RLE as :func:`coco_segmentation` gives it. A semantic map
    gives one result per class present per image (:func:`semantic_results`): its RLE, ``bbox``
    from ``pycocotools.mask.toBbox`` and ``score`` 1.0 (the map keeps no probabilities: a class
    is where the argmax put it). The background (a one-channel map's 0, a class named
    ``background``) gets no result.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import shutil

import numpy as np

from . import writers
from .decoders.segmentation import class_masks, detection_masks, rle_json
from .errors import EngineError
from .palette import class_hex

LEGEND = "legend.json"
FORMAT = "masks"
BACKGROUND_NAMES = ("background", "__background__", "bg")


class NotMasks(EngineError):
    """Mask PNGs asked of results that have no masks."""


def safe_stem(path: str) -> str:
    stem = os.path.splitext(os.path.basename(path))[0]
    return re.sub(r"[^A-Za-z0-9._-]+", "_", stem)[:100] or "image"


def mask_view(batch, i: int):
    """Item ``i``'s MaskView (None when it has no masks: not scored, or not a segmenter's)."""
    if not batch.ok[i] or "rle_offsets" not in batch.answer:
        return None
    view = getattr(batch.decoder, "mask_view", None)
    return view(batch.answer, batch.meta, i) if view is not None else None


def background_value(kind: str, names) -> int | None:
    """The value drawn clear: 0, except for an argmax map whose class 0 is not called background."""
    if kind != "labels" or (names and str(names[0]).lower() in BACKGROUND_NAMES):
        return 0
    return None


def legend(kind: str | None, names) -> dict:
    """``legend.json``: each value's name and the window's colour for it (``None``: drawn clear)."""
    names = [str(n) for n in names]
    shift = 1 if kind == "instance" else 0
    clear = background_value(kind or "", names)
    return {"kind": kind, "values": {str(v): n for v, n in enumerate(names)},
            "colours": {str(v): None if v == clear else class_hex(v - shift) for v in range(len(names))}}


def label_image(label_map: np.ndarray):
    """The PIL image of a label map: mode ``L`` when its values are under 256, else ``I;16``."""
    from PIL import Image

    top = int(label_map.max()) if label_map.size else 0
    if top < 256:
        return Image.fromarray(np.ascontiguousarray(label_map, dtype=np.uint8))  # mode L
    if top < 65536:
        return Image.fromarray(np.ascontiguousarray(label_map, dtype=np.uint16))  # mode I;16
    raise NotMasks(f"a label map with value {top} does not fit a 16-bit PNG")


def open_new(folder: str, stem: str, suffix: str):
    """``(file, path)``: ``folder/<stem><suffix>`` made new and open for writing bytes (``<stem>-2<suffix>``...
    when the name is taken; a file is never written over)."""
    k = 1
    while True:
        target = os.path.join(folder, (stem if k == 1 else f"{stem}-{k}") + suffix)
        try:
            return open(target, "xb"), target
        except FileExistsError:
            k += 1


def _write_new(folder: str, stem: str, image) -> str:
    """Save ``image`` as ``folder/<stem>.png`` (``<stem>-2.png``... when taken; never over a file)."""
    fh, target = open_new(folder, stem, ".png")
    try:
        with fh:
            image.save(fh, format="PNG")
    except OSError as exc:
        raise writers._named(exc, target)
    return os.path.abspath(target)


def _write_legend(folder: str, doc: dict) -> None:
    path = os.path.join(folder, LEGEND)
    temp = os.path.join(folder, f".{LEGEND}.{secrets.token_hex(4)}.tmp")
    try:
        with open(temp, "w", encoding="utf-8", newline="\n") as fh:
            fh.write(json.dumps(doc, indent=1, ensure_ascii=False) + "\n")
        os.replace(temp, path)
    except OSError as exc:
        try:
            os.unlink(temp)
        except OSError:
            pass
        raise writers._named(exc, path)


class MaskSaver:
    """``--save-masks``: each scored item's label map PNG into ``folder``, and the legend beside them."""

    def __init__(self, folder: str, conf: float | None = None):
        self.folder = folder
        self.conf = conf
        self._legend = None
        os.makedirs(folder, exist_ok=True)

    def save(self, batch, i: int) -> str | None:
        """Write item ``i``'s PNG; its absolute path (None when the item has no masks)."""
        view = mask_view(batch, i)
        if view is None:
            return None
        path = _write_new(self.folder, safe_stem(batch.input_of(i)), label_image(view.label_map(self.conf)))
        doc = legend(view.kind, view.names)
        if doc != self._legend:
            _write_legend(self.folder, doc)
            self._legend = doc
        return path


# ---------------------------------------------------------------------------------------- the folder export
def _refuse(batch) -> None:
    if "rle_offsets" not in batch.answer and batch.n_ok:
        raise NotMasks(f"--format masks writes a segmenter's masks, and these results ({batch.task}) have none: "
                       "use jsonl, json or csv")


def check_folder(path, *, model=None, inputs=(), store=None) -> None:
    """Refuse a masks folder that exists and is not empty, or is, holds or lies in what is protected."""
    out = os.path.abspath(writers.check_output_folder(path, "masks", model=model, inputs=inputs, store=store))
    if os.path.isdir(out) and any(True for _ in os.scandir(out)):
        raise writers.OutputRefused(f"Will not write masks to {out}: the folder holds files; name a new or "
                                    "empty folder")


def export(batches, path, provenance: dict | None = None, *, protect=None, model=None, inputs=(),
           conf: float | None = None) -> int:
    """Write the label map PNGs and ``legend.json`` of ``batches`` into the new folder ``path``; images written.

    The folder is made under a temporary name beside ``path`` (``.<name>.<random>.tmp``) and
    renamed into place once complete; a refusal (:class:`NotMasks`: results without masks) or
    a failed write leaves nothing. ``path`` must not exist or be empty (:func:`check_folder`).
    The provenance sidecar ``<path>.provenance.json`` names each file's image (``files``).
    """
    if hasattr(path, "write"):
        raise writers.OutputRefused("--format masks writes a folder: give --out")
    check_folder(path, model=model, inputs=inputs, store=protect)
    out = os.path.abspath(os.fspath(path)).rstrip(os.sep) or os.sep
    parent, name = os.path.split(out)
    if not os.path.isdir(parent):
        raise writers.OutputRefused(f"Cannot write masks to {out}: there is no folder {parent}")
    temp = os.path.join(parent, f".{name}.{secrets.token_hex(4)}.tmp")
    os.mkdir(temp)
    saver = MaskSaver(temp, conf)
    files, rows, failed = {}, 0, 0
    try:
        for batch in batches:
            _refuse(batch)
            for i in np.flatnonzero(batch.ok).tolist():
                written = saver.save(batch, i)
                if written is not None:
                    files[os.path.basename(written)] = batch.input_of(i)
                    rows += 1
            failed += len(batch) - batch.n_ok
        if saver._legend is None:
            _write_legend(temp, legend(None, []))
        if os.path.isdir(out):
            os.rmdir(out)  # empty (checked); a folder filled meanwhile is not removed, and the rename fails
        os.rename(temp, out)
    except BaseException:
        shutil.rmtree(temp, ignore_errors=True)
        raise
    writers.write_sidecar(out, {**(provenance or {}), "failed": failed, "files": files}, FORMAT, rows)
    return rows


# ---------------------------------------------------------------------------------------- COCO
def coco_segmentation(batch, i: int, rows) -> list | None:
    """A :data:`~desktop.engine.detwriters.COCO_FIELDS` hook: each detection's ``segmentation`` RLE."""
    if "det_mask_len" not in batch.answer:
        return None
    masks = detection_masks(batch.answer, i)
    a = int(batch.answer["det_offsets"][i])
    return [{"segmentation": rle_json(masks[int(r) - a])} for r in np.asarray(rows).tolist()]


def semantic_results(batch, i: int) -> list[tuple[int, dict, list, float]]:
    """Item ``i``'s (class index, RLE as JSON, bbox ``[x, y, w, h]``, score 1.0) per class present, background left out."""
    from .decoders.segmentation import _mask_api

    names = list(batch.meta.get("names") or [])
    clear = background_value(batch.meta.get("kind") or "", names)
    out = []
    for c, rle in class_masks(batch.answer, i):
        if c == clear:
            continue
        box = [round(float(v), 3) for v in _mask_api().toBbox(rle).tolist()]
        out.append((c, rle_json(rle), box, 1.0))
    return out
