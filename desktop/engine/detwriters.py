"""Detection exports: COCO results JSON and YOLO label folders, from a detector's ResultBatches.

Both take the detections over a threshold (the run's ``conf`` from the batch's meta unless
``conf`` is given: the window's slider), as :func:`~desktop.engine.decoders.detection.filter_detections`
gives them, with boxes in the original image's pixels. Only scored items are written; a failed
item has no size and no detections, and is counted in the provenance sidecar (``failed``).

``coco`` (a file, ``results.json``)
    The results list ``pycocotools.coco.COCO.loadRes`` reads, one detection per line::

        [{"image_id": 1, "category_id": 1, "bbox": [100.0, 50.0, 400.0, 200.0], "score": 0.9},
         ...]

    ``bbox`` is ``[x, y, width, height]`` from the top-left corner, in original-image pixels
    (rounded to 0.001 px, as the jsonl record's boxes); ``score`` the float32 score's shortest
    text. ``image_id`` is the item's position in the run plus 1 (stable whatever order the
    table shows); ``category_id`` the model's class index plus 1 (1-based, as Ultralytics'
    ``save_json`` writes for a dataset that is not COCO's own; 0 is free for "background").
    COCO results carry no file names, so a companion file ``results.images.json`` (the name
    with ``.images.json`` for its ``.json``) is a COCO dataset without annotations: ``info``
    (the provenance), ``images`` (``id``, ``file_name``, ``width``, ``height`` and ``path``, the
    input as the run read it) and ``categories`` (``id``, ``name``, ``index``, the class index).
    ``COCO("results.images.json").loadRes("results.json")`` then loads the detections (pycocotools
    refuses an empty list: a run without detections cannot be loaded that way). The provenance
    sidecar is ``results.json.provenance.json``, as for csv and jsonl.

``yolo`` (a folder, ``labels/``)
    One ``<image stem>.txt`` per scored image, one line per detection, Ultralytics' label
    format: ``class cx cy w h conf``, the class index (0-based), the box's centre and size
    divided by the original width and height, then the score, each as ``%g`` (as Ultralytics'
    ``save_txt`` with ``save_conf``). ``with_conf=False`` (``--no-conf``) leaves the score out:
    training labels. An image without detections gets an empty file (background), a failed one
    none. Two images with the same stem get ``stem.txt`` and ``stem_2.txt``; the sidecar
    ``labels.provenance.json`` beside the folder names each file's image (``files``). The names
    are ``classes.txt`` (one per line, in class order) and ``data.yaml`` (``nc`` and ``names``).

Safety: the COCO files are written through :class:`~desktop.engine.writers.AtomicFile`; a
folder is made under a temporary name beside the one asked for (``.labels.<random>.tmp``) and
renamed into place once complete, so a half-written folder never stands where a good one was.
A folder asked for must not exist, be empty, or be an earlier InferDesk YOLO export (its
sidecar says ``"format": "yolo"`` and it holds only ``.txt`` files and ``data.yaml``), which
is replaced whole; anything else is refused. Neither file nor folder is ever the model, an
input or the results database (:func:`check_target`).

Hooks for more than boxes: :data:`COCO_FIELDS` and :data:`YOLO_LINES`. A COCO field hook
``f(batch, i, rows) -> list[dict] | None`` gives each detection's extra keys (a mask's
``"segmentation": {"size": [h, w], "counts": str}``); a YOLO line hook ``f(batch, i, rows,
width, height, with_conf) -> list[str] | None`` gives the lines (a segment's polygon) in place of the box lines.

Segmenters (:mod:`~desktop.engine.maskwriters`): a YOLO-seg run's COCO results give each detection
its ``segmentation`` (the hook registered at the end of this module); a semantic map's give one
result per class present per image (``segmentation``, ``bbox`` from ``toBbox``, ``score`` 1.0).
YOLO labels stay a detector's.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil

import numpy as np

from . import writers
from .decoders.detection import filter_detections
from .errors import EngineError
from .profile import Task

DETECTION_FORMATS = writers.DETECTION_FORMATS
IMAGES_SUFFIX = ".images.json"
NAMES_FILES = ("classes.txt", "data.yaml")

#: hooks adding keys to each COCO result (masks later): f(batch, i, rows) -> [dict per row] or None
COCO_FIELDS: list = []
#: hooks giving YOLO lines instead of boxes (polygons later): f(batch, i, rows, w, h, with_conf) -> [str] or None
YOLO_LINES: list = []


class NotDetections(EngineError):
    """COCO or YOLO asked of results that are not a detector's."""


def _refuse_task(task, fmt: str) -> None:
    allowed = (Task.DETECTION.value, Task.SEGMENTATION.value) if fmt == "coco" else (Task.DETECTION.value,)
    if str(task) not in allowed:
        what = "detections or masks" if fmt == "coco" else "detections"
        raise NotDetections(f"--format {fmt} writes {what}, and these results are {task}: "
                            "use jsonl, json or csv")


def check_task(task, fmt: str) -> None:
    """Refuse (NotDetections) a YOLO export of a run that is not a detector's, a COCO one of neither a detector's nor a segmenter's."""
    if fmt in DETECTION_FORMATS:
        _refuse_task(task, fmt)


def images_path(path) -> str:
    """The COCO companion of ``path``: ``results.json`` -> ``results.images.json``."""
    path = os.fspath(path)
    stem = path[:-5] if path.lower().endswith(".json") else path
    return stem + IMAGES_SUFFIX


# ---------------------------------------------------------------------------------------- the detections
def _items(batch, conf, fmt):
    """(item index, its detection rows) for each scored item of ``batch`` (a refusal when not a detector's)."""
    _refuse_task(batch.task, fmt)
    if not batch.n_ok:
        return []
    answer = batch.answer
    if "det_offsets" not in answer:
        if str(batch.task) == Task.SEGMENTATION.value:
            raise NotDetections(f"--format {fmt}: the model's outputs were read as neither detections nor masks"
                                + (" (a semantic map has no boxes: use coco or --format masks)"
                                   if "seg_offsets" in answer else ""))
        raise NotDetections(f"--format {fmt}: the model's outputs were not read as detections "
                            "(set the profile's detection.family)")
    t = batch.meta.get("conf", 0.0) if conf is None else conf
    rows = filter_detections(answer, t)
    return [(i, rows[i]) for i in np.flatnonzero(batch.ok).tolist()]


def _labels(meta) -> list:
    return [str(x) for x in (meta.get("labels") or ())]


def _score_text(v) -> float:
    """The float32 score as its shortest text gives it (0.9, not 0.8999999761581421)."""
    return float(str(np.float32(v)))


def _g(v: float) -> str:
    return "%g" % v


class _Names:
    """Class names seen so far: the model's labels, and any class index past them (named by its number)."""

    def __init__(self):
        self.labels: list = []
        self.top = -1

    def see(self, batch, classes) -> None:
        labels = _labels(batch.meta)
        if len(labels) > len(self.labels):
            self.labels = labels
        if len(classes):
            self.top = max(self.top, int(np.max(classes)))

    def names(self) -> list:
        n = max(len(self.labels), self.top + 1)
        return [self.labels[k] if k < len(self.labels) else str(k) for k in range(n)]


# ---------------------------------------------------------------------------------------- COCO
class CocoWriter:
    """The COCO results list, streamed to a text file; ``images`` and :meth:`categories` for the companion."""

    format = "coco"

    def __init__(self, fh, conf: float | None = None):
        self.fh = fh
        self.conf = conf
        self.rows = 0  # images written
        self.failed = 0
        self.detections = 0
        self.images: list = []
        self.columns = None
        self._names = _Names()
        self.closed = False
        fh.write("[")

    def _image(self, batch, i: int) -> int:
        image_id = int(batch.position[i]) + 1
        width, height = (int(v) for v in batch.answer["image_size"][i])
        path = batch.input_of(i)
        self.images.append({"id": image_id, "file_name": os.path.basename(path), "width": width,
                            "height": height, "path": path})
        return image_id

    def _add(self, parts: list, ann: dict) -> None:
        parts.append(("," if self.detections else "") + "\n " + writers.dumps(ann))
        self.detections += 1

    def _write_semantic(self, batch) -> None:
        """A semantic map's results: one per class present per image (maskwriters.semantic_results)."""
        from . import maskwriters

        parts = []
        names = [str(x) for x in (batch.meta.get("names") or ())]
        if len(names) > len(self._names.labels):
            self._names.labels = names
        for i in np.flatnonzero(batch.ok).tolist():
            image_id = self._image(batch, i)
            for c, rle, box, score in maskwriters.semantic_results(batch, i):
                self._names.top = max(self._names.top, c)
                self._add(parts, {"image_id": image_id, "category_id": c + 1, "bbox": box, "score": score,
                                  "segmentation": rle})
            self.rows += 1
        self.failed += len(batch) - batch.n_ok
        self.fh.write("".join(parts))

    def write(self, batch) -> None:
        answer = batch.answer
        if "seg_offsets" in answer and "det_offsets" not in answer and str(batch.task) == Task.SEGMENTATION.value:
            self._write_semantic(batch)
            return
        parts = []
        for i, rows in _items(batch, self.conf, self.format):
            image_id = self._image(batch, i)
            boxes = answer["det_box"][rows].astype(np.float64)
            classes = answer["det_class"][rows]
            self._names.see(batch, classes)
            extras = [None] * len(rows)
            for hook in COCO_FIELDS:
                got = hook(batch, i, rows)
                if got is not None:
                    extras = [{**(e or {}), **g} for e, g in zip(extras, got)]
            for box, c, s, extra in zip(boxes.tolist(), classes.tolist(), answer["det_score"][rows].tolist(), extras):
                x1, y1, x2, y2 = box
                ann = {"image_id": image_id, "category_id": int(c) + 1,
                       "bbox": [round(x1, 3), round(y1, 3), round(x2 - x1, 3), round(y2 - y1, 3)],
                       "score": _score_text(s)}
                if extra:
                    ann.update(extra)
                self._add(parts, ann)
            self.rows += 1
        self.failed += len(batch) - batch.n_ok
        self.fh.write("".join(parts))

    def categories(self) -> list:
        return [{"id": k + 1, "name": name, "index": k} for k, name in enumerate(self._names.names())]

    def close(self) -> None:
        if not self.closed:
            self.fh.write("\n]\n" if self.detections else "]\n")
            self.closed = True


class CocoExport:
    """``results.json`` and ``results.images.json`` (see the module's docstring), each written atomically.

    :meth:`write` batches as they come, :meth:`close` ends the documents, :meth:`commit`
    puts both in place (the companion first) and writes the provenance sidecar; :meth:`discard`
    leaves what was there.
    """

    format = "coco"

    def __init__(self, path, provenance: dict | None = None, *, conf: float | None = None):
        self.path = os.fspath(path)
        self.companion = images_path(self.path)
        self.provenance = provenance or {}
        self._file = writers.AtomicFile(self.path)
        try:
            self._fh = self._file.open()
        except BaseException:
            self._file.discard()
            raise
        self.writer = CocoWriter(self._fh, conf)

    @property
    def rows(self) -> int:
        return self.writer.rows

    columns = None

    def write(self, batch) -> None:
        try:
            self.writer.write(batch)
        except OSError as exc:
            raise writers._named(exc, self.path)

    def flush(self) -> None:
        if not self._fh.closed:
            self._fh.flush()

    def close(self) -> None:
        try:
            self.writer.close()
            self._fh.close()
        except OSError as exc:
            raise writers._named(exc, self.path)

    def commit(self) -> None:
        self.close()
        doc = {"info": {**self.provenance, "results": os.path.basename(self.path)}, "images": self.writer.images,
               "categories": self.writer.categories(), "annotations": []}
        try:
            with writers.AtomicFile(self.companion) as side:
                with open(side.temp, "w", encoding="utf-8", newline="\n") as fh:
                    fh.write(writers.dumps(doc, indent=1) + "\n")
        except OSError as exc:
            self.discard()
            raise writers._named(exc, self.companion)
        self._file.commit()
        writers.write_sidecar(self.path, {**self.provenance, "images_file": os.path.basename(self.companion),
                                          "detections": self.writer.detections, "failed": self.writer.failed},
                              self.format, self.rows)

    def discard(self) -> None:
        try:
            self._fh.close()
        except OSError:
            pass
        self._file.discard()


# ---------------------------------------------------------------------------------------- YOLO
def _box_lines(boxes, classes, scores, width: int, height: int, with_conf: bool) -> list:
    b = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
    cx = (b[:, 0] + b[:, 2]) / 2 / width
    cy = (b[:, 1] + b[:, 3]) / 2 / height
    w = (b[:, 2] - b[:, 0]) / width
    h = (b[:, 3] - b[:, 1]) / height
    cols = [cx, cy, w, h] + ([np.asarray(scores, dtype=np.float32).astype(np.float64)] if with_conf else [])
    vals = np.stack(cols, axis=1).tolist() if len(b) else []
    return [" ".join([str(int(c))] + [_g(v) for v in row]) for c, row in zip(np.asarray(classes).tolist(), vals)]


def _yaml_text(text: str) -> str:
    return json.dumps(text)  # a JSON string is a YAML double-quoted scalar


def _is_earlier_export(folder: str) -> bool:
    """True when ``folder`` is an InferDesk YOLO export: its sidecar says so and it holds only our kinds of file."""
    try:
        with open(writers.sidecar_path(folder), encoding="utf-8") as fh:
            side = json.load(fh)
    except (OSError, ValueError):
        return False
    if not isinstance(side, dict) or side.get("format") != "yolo" or side.get("app") != "InferDesk":
        return False
    with os.scandir(folder) as it:
        return all(e.is_file(follow_symlinks=False) and (e.name.endswith(".txt") or e.name == "data.yaml")
                   for e in it)


def check_folder(path, *, model=None, inputs=(), store=None) -> None:
    """Refuse a YOLO folder that is a file, holds or lies in what is protected, or holds what is not ours.

    Raises
    ------
    writers.OutputRefused
        With one line naming the folder and why.
    """
    out = writers.check_output_folder(path, "YOLO labels", model=model, inputs=inputs, store=store)
    if os.path.isdir(out) and any(True for _ in os.scandir(out)) and not _is_earlier_export(out):
        raise writers.OutputRefused(f"Will not write YOLO labels to {out}: the folder holds other files; "
                                    "name a new or empty folder, or an earlier InferDesk YOLO export")


class YoloExport:
    """A folder of YOLO label files (see the module's docstring), made under a temporary name and renamed in."""

    format = "yolo"
    columns = None

    def __init__(self, path, provenance: dict | None = None, *, conf: float | None = None, with_conf: bool = True):
        self.path = os.path.abspath(os.fspath(path)).rstrip(os.sep) or os.sep
        self.provenance = provenance or {}
        self.conf = conf
        self.with_conf = with_conf
        self.rows = 0
        self.failed = 0
        self.detections = 0
        self.files: dict = {}  # label file name -> the image it is for
        self._used = {NAMES_FILES[0]}  # file names taken, lower-cased
        self._names = _Names()
        parent, name = os.path.split(self.path)
        if not os.path.isdir(parent):
            raise writers.OutputRefused(f"Cannot write YOLO labels to {self.path}: there is no folder {parent}")
        self.temp = os.path.join(parent, f".{name}.{secrets.token_hex(4)}.tmp")
        try:
            os.mkdir(self.temp)
        except OSError as exc:
            exc.filename = self.path
            raise
        self.done = False

    def _file_name(self, image: str) -> str:
        """``<stem>.txt``, or ``<stem>_2.txt`` ... when an earlier image (or a names file) has that name."""
        stem = os.path.splitext(os.path.basename(image))[0] or "image"
        k = 1
        while True:
            name = (stem if k == 1 else f"{stem}_{k}") + ".txt"
            if name.lower() not in self._used:  # case-folded: a Windows or macOS folder would merge them
                self._used.add(name.lower())
                return name
            k += 1

    def _put(self, name: str, text: str) -> None:
        path = os.path.join(self.temp, name)
        try:
            with open(path, "w", encoding="utf-8", newline="\n") as fh:
                fh.write(text)
                fh.flush()
                os.fsync(fh.fileno())  # a full disk shows here, before the folder is renamed in
        except OSError as exc:
            raise writers._named(exc, os.path.join(self.path, name))

    def write(self, batch) -> None:
        answer = batch.answer
        for i, rows in _items(batch, self.conf, self.format):
            width, height = (int(v) for v in answer["image_size"][i])
            classes = answer["det_class"][rows]
            self._names.see(batch, classes)
            lines = None
            for hook in YOLO_LINES:
                lines = hook(batch, i, rows, width, height, self.with_conf)
                if lines is not None:
                    break
            if lines is None:
                lines = _box_lines(answer["det_box"][rows], classes, answer["det_score"][rows], max(width, 1),
                                   max(height, 1), self.with_conf)
            image = batch.input_of(i)
            name = self._file_name(image)
            self._put(name, "".join(line + "\n" for line in lines))
            self.files[name] = image
            self.rows += 1
            self.detections += len(lines)
        self.failed += len(batch) - batch.n_ok

    def flush(self) -> None:
        pass

    def close(self) -> None:
        pass

    def commit(self) -> None:
        """Write the names files, put the folder in place (an earlier export there is replaced) and the sidecar."""
        if self.done:
            return
        names = self._names.names()
        try:
            self._put("classes.txt", "".join(n.replace("\n", " ") + "\n" for n in names))
            self._put("data.yaml", "# class names of these labels (InferDesk YOLO export)\n"
                                   f"nc: {len(names)}\nnames:\n"
                      + "".join(f"  {k}: {_yaml_text(n)}\n" for k, n in enumerate(names)))
            self._replace()
        except BaseException:
            self.discard()
            raise
        self.done = True
        writers.write_sidecar(self.path, {**self.provenance, "detections": self.detections, "failed": self.failed,
                                          "with_conf": self.with_conf, "files": self.files}, self.format, self.rows)

    def _replace(self) -> None:
        old = None
        if os.path.lexists(self.path):
            if os.path.isdir(self.path) and not os.path.islink(self.path) and (
                    not any(True for _ in os.scandir(self.path)) or _is_earlier_export(self.path)):
                parent, name = os.path.split(self.path)
                old = os.path.join(parent, f".{name}.{secrets.token_hex(4)}.old")
                os.rename(self.path, old)
            else:
                raise writers.OutputRefused(f"Will not write YOLO labels to {self.path}: it is not a new, empty "
                                            "or earlier InferDesk YOLO export folder any more")
        try:
            os.rename(self.temp, self.path)
        except OSError as exc:
            if old is not None:
                os.rename(old, self.path)
            exc.filename, exc.filename2 = self.path, None
            raise
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)

    def discard(self) -> None:
        self.done = True
        shutil.rmtree(self.temp, ignore_errors=True)


# ---------------------------------------------------------------------------------------- entry points
def check_target(fmt: str, path, *, model=None, inputs=(), store=None) -> None:
    """Refuse a COCO or YOLO output (the file and its companion, or the folder) over what is protected."""
    if fmt == "coco":
        writers.check_output(path, model=model, inputs=inputs, store=store)
        writers.check_output(images_path(path), model=model, inputs=inputs, store=store)
    elif fmt == "yolo":
        check_folder(path, model=model, inputs=inputs, store=store)
    else:
        raise ValueError(f"not a detection format: {fmt}")


def open_export(fmt: str, path, provenance: dict | None = None, *, conf: float | None = None,
                with_conf: bool = True):
    """A CocoExport or YoloExport on ``path``: ``write(batch)``, ``close()``, then ``commit()`` or ``discard()``."""
    if fmt == "coco":
        return CocoExport(path, provenance, conf=conf)
    if fmt == "yolo":
        return YoloExport(path, provenance, conf=conf, with_conf=with_conf)
    raise ValueError(f"not a detection format: {fmt}")


def export(batches, path, fmt: str, provenance: dict | None = None, *, protect=None, model=None, inputs=(),
           conf: float | None = None, with_conf: bool = True) -> int:
    """Write ``batches`` as COCO or YOLO to ``path``; return the images written (see the module's docstring).

    Checked first (:func:`check_target`); nothing is left in place of ``path`` when a batch is
    refused (:class:`NotDetections`) or a write fails.
    """
    if hasattr(path, "write"):
        raise writers.OutputRefused(f"--format {fmt} writes {'a file and its images list' if fmt == 'coco' else 'a folder'}"
                                    ": give --out")
    check_target(fmt, path, model=model, inputs=inputs, store=protect)
    out = open_export(fmt, path, provenance, conf=conf, with_conf=with_conf)
    try:
        for batch in batches:
            out.write(batch)
        out.close()
    except BaseException:
        out.discard()
        raise
    out.commit()
    return out.rows


def _register() -> None:
    from .maskwriters import coco_segmentation

    if coco_segmentation not in COCO_FIELDS:
        COCO_FIELDS.append(coco_segmentation)  # a YOLO-seg run's detections carry their masks


_register()
