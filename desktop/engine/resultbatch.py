"""ResultBatch: the one result contract, columnar, from the engine to the store, the writers and the window.

A batch holds the results of one inference call or one CSV chunk as numpy columns (position,
source, CSV row, ok, per-stage timings, the task's answer, each model output with the batch
axis first), with sparse per-item errors. Per-item code reads a row view, :meth:`result`,
which is the :class:`~desktop.engine.results.Result` the window's detail pane and older
callers know; :meth:`record` is the command line's ``jsonl`` record, field for field.

Variable-length answers (a list of boxes per image) are a *ragged group* of answer columns:
an answer column named ``<group>_offsets`` (int64, n+1, from 0, never decreasing) makes every
other answer column named ``<group>_*`` a flat column of M rows, of which item ``i`` owns
rows ``offsets[i]:offsets[i+1]`` (detection's ``det_offsets``, ``det_box``, ``det_score``...).
:meth:`ResultBatch.take`, :meth:`ResultBatch.concat`, the digests and the store keep such
groups whole; every other answer column has the items on axis 0. Dense per-item arrays
(masks, maps) are output columns, which the store keeps in content-addressed files rather
than in its rows.
"""

from __future__ import annotations

import hashlib
import io
import json
from collections.abc import Mapping

import numpy as np

from .decoders import decoder_for
from .decoders.segmentation import detection_masks, rle_json
from .postprocess import no_cycle_collection
from .results import STAGES, Detection, Prediction, Result, RowValues, Timings, finite, to_jsonable

NO_ROW = -1  # the ``row`` of an image: it has no CSV row


class ResultBatch:
    """The results of one inference call (or one CSV chunk, or one failed item), in columns.

    Columns (``n`` rows each)
    -------------------------
    position : int64     position in the run, from 0
    source : int32       index into ``sources`` (the input files)
    row : int64          the CSV data row, from 1; ``NO_ROW`` (-1) for images
    ok : bool
    timings : float64 (n, 4)   ms per stage: decode, preprocess, infer, postprocess
    answer : dict        the task decoder's columns (``top_col``/``top_score``, ``values``...)
    outputs : dict       each tensor output, batch axis first; failed rows hold zeros
    maps : dict          each ZipMap output: (label names, scores (n, K))
    features : float64 (n, F) or None   a CSV row's values in ``feature_names`` order
    passthrough : dict   a CSV's other columns, as text, by column name

    Per item, sparse: ``errors`` and ``saved_input`` (dicts by row of the batch), ``cells``
    (a failed CSV row's raw text by column). Per source: ``sources``, ``source_kinds``,
    ``source_sha256``. Per batch: ``task``, ``meta`` (the decoder's facts, such as class
    names), ``shared`` (outputs without a batch axis: kept for runs stored before every output got a row
    per item; the engine no longer makes them), ``output_names`` (the model's order).

    A cluster run's batches also have ``host`` (int32, n: an index into ``hosts``, the names of
    the workers' machines): which worker scored each item. Batches scored here have neither
    (``host`` None), so their records, payloads and digests are what they always were.
    """

    __slots__ = ("task", "position", "source", "row", "ok", "timings", "errors", "sources", "source_kinds",
                 "source_sha256", "saved_input", "mask_file", "features", "feature_names", "cells", "passthrough",
                 "answer", "meta", "outputs", "shared", "maps", "output_names", "host", "hosts", "_where")

    def __init__(self, *, task: str, position, source, row, ok, timings, sources, source_kinds,
                 source_sha256=None, errors=None, saved_input=None, features=None, feature_names=(),
                 cells=None, passthrough=None, answer=None, meta=None, outputs=None, shared=None, maps=None,
                 output_names=(), mask_file=None, host=None, hosts=()):
        self.task = task
        self.position = np.asarray(position, dtype=np.int64)
        n = len(self.position)
        self.source = np.asarray(source, dtype=np.int32).reshape(n)
        self.row = np.asarray(row, dtype=np.int64).reshape(n)
        self.ok = np.asarray(ok, dtype=bool).reshape(n)
        self.timings = np.asarray(timings, dtype=np.float64).reshape(n, len(STAGES))
        self.sources = tuple(sources)
        self.source_kinds = tuple(source_kinds)
        self.source_sha256 = tuple(source_sha256) if source_sha256 is not None else (None,) * len(self.sources)
        self.errors = dict(errors or {})
        self.saved_input = dict(saved_input or {})
        self.mask_file = dict(mask_file or {})  # --save-masks: the item's label map PNG
        self.features = None if features is None else np.asarray(features, dtype=np.float64)
        self.feature_names = tuple(feature_names)
        self.cells = dict(cells or {})
        self.passthrough = dict(passthrough or {})
        self.answer = dict(answer or {})
        self.meta = dict(meta or {})
        self.outputs = dict(outputs or {})
        self.shared = dict(shared or {})
        self.maps = dict(maps or {})
        self.output_names = tuple(output_names)
        self.host = None if host is None else np.asarray(host, dtype=np.int32).reshape(n)
        self.hosts = tuple(hosts)
        self._where = None  # feature name -> column, made once for the row views

    # ------------------------------------------------------------------ basics
    def __len__(self) -> int:
        return len(self.position)

    def __repr__(self) -> str:
        return (f"ResultBatch({len(self)} items, task={str(self.task)!r}, ok={int(self.ok.sum())}, "
                f"positions {self.position[:1].tolist()}…{self.position[-1:].tolist()})")

    @property
    def n_ok(self) -> int:
        return int(np.count_nonzero(self.ok))

    @property
    def n_failed(self) -> int:
        return len(self) - self.n_ok

    @property
    def total_ms(self) -> np.ndarray:
        """Each item's latency: the sum of its stages (ms)."""
        return self.timings.sum(axis=1)

    def input_of(self, i: int) -> str:
        return self.sources[int(self.source[i])]

    def kind_of(self, i: int) -> str:
        return self.source_kinds[int(self.source[i])]

    def sha256_of(self, i: int) -> str | None:
        return self.source_sha256[int(self.source[i])]

    def worker_of(self, i: int) -> str | None:
        """The host of the cluster worker that scored item ``i``; None when it was scored here."""
        return None if self.host is None else self.hosts[int(self.host[i])]

    def with_worker(self, hostname: str) -> "ResultBatch":
        """The same batch with every item marked as scored by the worker on ``hostname``."""
        return self.replace(host=np.zeros(len(self), dtype=np.int32), hosts=(hostname,))

    def row_of(self, i: int) -> int | None:
        r = int(self.row[i])
        return None if r == NO_ROW else r

    @property
    def decoder(self):
        return decoder_for(self.task)

    def summary(self, i: int, conf: float | None = None) -> tuple[str, float | None]:
        """What the results table shows for item ``i``: ('failed', None) or the decoder's text and score.

        ``conf``: a detector's threshold to show instead of the run's (its stored candidates
        re-filtered: nothing is scored again).
        """
        if not self.ok[i]:
            return "failed", None
        meta = self.meta if conf is None or "conf" not in self.meta else {**self.meta, "conf": conf}
        whole = getattr(self.decoder, "batch_summary", None)  # a decoder that reads the outputs themselves (raw)
        if whole is not None:
            return whole(self, i)
        return self.decoder.summary(self.answer, meta, i)

    # ------------------------------------------------------------------ row views
    def output_of(self, name: str, i: int):
        """Item ``i``'s value of output ``name``: an array, or {label: score} for a ZipMap."""
        if name in self.maps:
            labels, scores = self.maps[name]
            return dict(zip(labels, scores[i].tolist()))
        if name in self.outputs:
            return self.outputs[name][i]
        return self.shared.get(name)

    def item_outputs(self, i: int) -> dict:
        if not self.ok[i]:
            return {}
        return {name: self.output_of(name, i) for name in self.output_names
                if name in self.maps or name in self.outputs or name in self.shared}

    def record(self, i: int) -> dict:
        """Item ``i``'s ``jsonl`` record: the fields ``Result.to_json`` has always had, in its order."""
        ok = bool(self.ok[i])
        d = {"input": self.input_of(i), "row": self.row_of(i), "ok": ok, "error": self.errors.get(i),
             "outputs": {name: to_jsonable(v) for name, v in self.item_outputs(i).items()}}
        answer = self.decoder.record(self.answer, self.meta, i) if ok else {"top": []}
        d["top"] = answer.pop("top", [])
        d["timings_ms"] = {s: round(v, 4) for s, v in zip(STAGES, self.timings[i].tolist())}
        d.update(answer)
        if i in self.saved_input:
            d["saved_input"] = self.saved_input[i]
        if i in self.mask_file:
            d["mask_file"] = self.mask_file[i]
        if self.passthrough and self.row[i] != NO_ROW:  # a CSV row's (an image has none)
            d["passthrough"] = {name: col[i] for name, col in self.passthrough.items()}
        if self.host is not None:  # a cluster run's: the machine that scored it
            d["worker"] = self.hosts[int(self.host[i])]
        return d

    def records(self):
        for i in range(len(self)):
            yield self.record(i)

    def result(self, i: int) -> Result:
        """Item ``i`` as a Result (the row view the detail pane and per-item callers read)."""
        ok = bool(self.ok[i])
        top: tuple = ()
        values: tuple = ()
        if ok:
            cols = self.answer.get("top_col")
            if cols is not None:
                labels, indices = self.meta["labels"], self.meta["indices"]
                new = tuple.__new__
                top = tuple(new(Prediction, (labels[c], indices[c], s))
                            for c, s in zip(cols[i].tolist(), self.answer["top_score"][i].tolist()))
            vals = self.answer.get("values")
            if vals is not None:
                values = tuple(vals[i].tolist())
        candidates, conf, masks = (), None, None
        if "det_offsets" in self.answer:
            conf = float(self.meta.get("conf", 0.0))
            if ok:
                candidates = self._candidates(i)
        if ok and "rle_offsets" in self.answer:
            view = getattr(self.decoder, "mask_view", None)
            masks = view(self.answer, self.meta, i) if view is not None else None
        features = None
        if self.features is not None and ok:
            if self._where is None:
                self._where = {c: j for j, c in enumerate(self.feature_names)}
            features = RowValues(self.feature_names, self._where, self.features[i])
        elif i in self.cells:
            features = self.cells[i]
        extra = ({name: col[i] for name, col in self.passthrough.items()}
                 if self.passthrough and self.row[i] != NO_ROW else None)
        return Result(index=int(self.position[i]), input=self.input_of(i), row=self.row_of(i), ok=ok,
                      error=self.errors.get(i), outputs=self.item_outputs(i), top=top, values=values,
                      timings=Timings(*self.timings[i].tolist()), kind=self.kind_of(i),
                      saved_input=self.saved_input.get(i), mask_file=self.mask_file.get(i), features=features, input_sha256=self.sha256_of(i),
                      passthrough=extra, candidates=candidates, conf=conf, masks=masks,
                      review_below=self.meta.get("review_below") if top else None,
                      score_kind=self.meta.get("scores") if top else None, worker=self.worker_of(i))

    def _candidates(self, i: int) -> tuple:
        """Item ``i``'s stored detection candidates as Detection tuples, best first."""
        a, b = (int(v) for v in self.answer["det_offsets"][i:i + 2])
        labels = self.meta.get("labels") or []
        boxes = self.answer["det_box"][a:b].tolist()
        classes = self.answer["det_class"][a:b].tolist()
        masks = [None] * (b - a)
        if "det_mask_len" in self.answer:  # an instance segmenter's: COCO RLE, as the record gives them
            masks = [rle_json(m) for m in detection_masks(self.answer, i)]
        return tuple(Detection(labels[c] if 0 <= c < len(labels) else str(c), c, s, tuple(box), m)
                     for box, s, c, m in zip(boxes, self.answer["det_score"][a:b].tolist(), classes, masks))

    def results(self) -> list[Result]:
        with no_cycle_collection():
            return [self.result(i) for i in range(len(self))]

    # ------------------------------------------------------------------ flat columns (writers, table)
    def answer_columns(self) -> list[tuple[str, object]]:
        """The decoder's flat CSV columns (label/score pairs, values...), ``n`` cells each."""
        return self.decoder.columns(self.answer, self.meta, len(self))

    # ------------------------------------------------------------------ building
    @classmethod
    def failed(cls, task: str, position: int, path: str, kind: str, message: str, row: int | None = None,
               timings=(0.0, 0.0, 0.0, 0.0), sha256: str | None = None, cells: dict | None = None,
               passthrough: dict | None = None) -> "ResultBatch":
        """A batch of one item that was not scored, with its message."""
        return cls(task=task, position=[position], source=[0], row=[NO_ROW if row is None else row], ok=[False],
                   timings=[timings], sources=[path], source_kinds=[kind], source_sha256=[sha256],
                   errors={0: message}, cells={0: cells} if cells else None,
                   passthrough={k: [v] for k, v in (passthrough or {}).items()})

    @classmethod
    def from_results(cls, results: list, task: str, output_names=()) -> "ResultBatch":
        """A batch made from Result objects (a v1 store's records, tests, hand-made results).

        Class columns come from the labels and indices the results carry; tensor outputs
        are stacked when their shapes agree (else kept per item), ZipMap dicts become maps.
        """
        results = list(results)
        n = len(results)
        lookup: dict = {}
        sources, kinds, shas, source = [], [], [], []
        for r in results:
            key = (r.input, r.kind, r.input_sha256)
            if key not in lookup:
                lookup[key] = len(sources)
                sources.append(r.input), kinds.append(r.kind), shas.append(r.input_sha256)
            source.append(lookup[key])
        answer: dict = {}
        meta: dict = {}
        k = max((len(r.top) for r in results), default=0)
        if k:
            names: dict = {}
            for r in results:
                for p in r.top:
                    names.setdefault(int(p.index), p.label)
            indices = sorted(names)
            column = {idx: j for j, idx in enumerate(indices)}
            top_col = np.zeros((n, k), dtype=np.int32)
            top_score = np.zeros((n, k), dtype=np.float64)
            for i, r in enumerate(results):
                for j, p in enumerate(r.top):
                    top_col[i, j], top_score[i, j] = column[int(p.index)], p.score
            answer = {"top_col": top_col, "top_score": top_score}
            meta = {"labels": [names[idx] for idx in indices], "indices": indices}
            review = next((r.review_below for r in results if r.review_below is not None), None)
            if review is not None:
                meta["review_below"] = review
        m = max((len(r.values) for r in results), default=0)
        if m:
            values = np.zeros((n, m), dtype=np.float64)
            for i, r in enumerate(results):
                values[i, :len(r.values)] = r.values
            answer["values"] = values
        outputs: dict = {}
        maps: dict = {}
        names_seen = list(output_names) or _union(r.outputs for r in results)
        for name in names_seen:
            present = [r.outputs.get(name) if r.ok else None for r in results]
            first = next((v for v in present if v is not None), None)
            if first is None:
                continue
            if isinstance(first, dict):
                labels = list(first)
                scores = np.zeros((n, len(labels)), dtype=np.float64)
                for i, v in enumerate(present):
                    if v is not None:
                        scores[i] = [v.get(lab, np.nan) for lab in labels]
                maps[name] = (labels, scores)
                continue
            arrays = [np.asarray(v) if v is not None else None for v in present]
            shape, dtype = np.shape(first), np.asarray(first).dtype
            if all(a is None or a.shape == shape for a in arrays):
                col = np.zeros((n,) + shape, dtype=np.result_type(*[a.dtype for a in arrays if a is not None]))
                for i, a in enumerate(arrays):
                    if a is not None:
                        col[i] = a
            else:
                col = np.empty(n, dtype=object)
                for i, a in enumerate(arrays):
                    col[i] = a if a is not None else np.zeros(0, dtype=dtype)
            outputs[name] = col
        passthrough: dict = {}
        for name in _union((r.passthrough or {}) for r in results):
            passthrough[name] = [str((r.passthrough or {}).get(name, "")) for r in results]
        return cls(
            task=task, position=[r.index for r in results], source=source,
            row=[NO_ROW if r.row is None else r.row for r in results], ok=[r.ok for r in results],
            timings=[[r.timings.decode, r.timings.preprocess, r.timings.infer, r.timings.postprocess]
                     for r in results] if n else np.zeros((0, 4)),
            sources=sources, source_kinds=kinds, source_sha256=shas,
            errors={i: r.error for i, r in enumerate(results) if r.error is not None},
            saved_input={i: r.saved_input for i, r in enumerate(results) if r.saved_input is not None},
            mask_file={i: r.mask_file for i, r in enumerate(results) if r.mask_file is not None},
            cells={i: dict(r.features) for i, r in enumerate(results)
                   if not r.ok and isinstance(r.features, dict)},
            passthrough=passthrough, answer=answer, meta=meta, outputs=outputs, maps=maps,
            output_names=names_seen)

    def replace(self, **changes) -> "ResultBatch":
        """The same batch with some fields replaced (constructor names); the others are shared, not copied."""
        fields = {name: getattr(self, name) for name in self.__slots__ if not name.startswith("_")}
        fields.update(changes)
        return ResultBatch(**fields)

    def without_features(self) -> "ResultBatch":
        """The same batch without the CSV rows' values (the store keeps answers, not the input data).

        A shallow copy: the other columns are shared, not copied.
        """
        out = ResultBatch.__new__(ResultBatch)
        for name in ResultBatch.__slots__:
            setattr(out, name, getattr(self, name))
        out.features, out.feature_names, out._where = None, (), None
        return out

    def take(self, index) -> "ResultBatch":
        """A batch of the rows ``index`` (an array of positions in this batch, or a boolean mask)."""
        idx = np.arange(len(self))[index] if np.asarray(index).dtype == bool else np.asarray(index, dtype=np.int64)

        def sparse(d):
            """The entries of a sparse per-item dict for the rows taken, renumbered (no per-row work)."""
            if not d:
                return {}
            keys = np.fromiter(d, dtype=np.int64, count=len(d))
            hits = np.flatnonzero(np.isin(idx, keys))
            return {int(new): d[int(idx[new])] for new in hits.tolist()}

        return ResultBatch(
            task=self.task, position=self.position[idx], source=self.source[idx], row=self.row[idx],
            ok=self.ok[idx], timings=self.timings[idx], sources=self.sources, source_kinds=self.source_kinds,
            source_sha256=self.source_sha256, errors=sparse(self.errors), saved_input=sparse(self.saved_input),
            mask_file=sparse(self.mask_file),
            features=None if self.features is None else self.features[idx], feature_names=self.feature_names,
            cells=sparse(self.cells), passthrough={k: _take(v, idx) for k, v in self.passthrough.items()},
            answer=take_answer(self.answer, idx), meta=self.meta,
            outputs={k: v[idx] for k, v in self.outputs.items()}, shared=self.shared,
            maps={k: (labels, s[idx]) for k, (labels, s) in self.maps.items()}, output_names=self.output_names,
            host=None if self.host is None else self.host[idx], hosts=self.hosts)

    @classmethod
    def concat(cls, batches: list["ResultBatch"]) -> "ResultBatch":
        """One batch of several, in order (a run's chunk in the store, a group sent to the window).

        Columns that some batches lack (a failed item has no outputs) are filled with zeros,
        which their ``ok`` of False marks as meaningless; outputs without a batch axis are
        spread to every item when batches disagree on them.
        """
        batches = [b for b in batches if len(b)]
        if not batches:
            raise ValueError("nothing to concatenate")
        if len(batches) == 1:
            return batches[0]
        sizes = [len(b) for b in batches]
        offsets = np.concatenate([[0], np.cumsum(sizes)[:-1]]).tolist()
        sources: list = []
        kinds: list = []
        shas: list = []
        lookup: dict = {}
        source_cols = []
        for b in batches:
            remap = []
            for path, kind, sha in zip(b.sources, b.source_kinds, b.source_sha256):
                key = (path, kind, sha)
                if key not in lookup:
                    lookup[key] = len(sources)
                    sources.append(path), kinds.append(kind), shas.append(sha)
                remap.append(lookup[key])
            source_cols.append(np.asarray(remap, dtype=np.int32)[b.source] if len(remap) else b.source)

        def sparse(attr):
            out = {}
            for off, b in zip(offsets, batches):
                out.update({off + k: v for k, v in getattr(b, attr).items()})
            return out

        def stacked(getter):
            """Concatenate a per-batch column, zero-filling batches that lack it (template from one that has it)."""
            present = [getter(b) for b in batches]
            template = next((a for a in present if a is not None), None)
            if template is None:
                return None
            parts = [a if a is not None else np.zeros((len(b),) + template.shape[1:], dtype=template.dtype)
                     for a, b in zip(present, batches)]
            if any(p.shape[1:] != template.shape[1:] for p in parts):
                return _ragged(parts)
            return np.concatenate(parts)

        task = batches[0].task
        meta = _merged_meta(batches)
        grouped = {name for b in batches for g, names in ragged_groups(b.answer).items()
                   for name in names + [g + OFFSETS]}
        answer_names = [name for name in _union(b.answer for b in batches) if name not in grouped]
        output_names = _union(b.outputs for b in batches)
        shared_names = _union(b.shared for b in batches)
        outputs = {name: stacked(lambda b, name=name: b.outputs.get(name)) for name in output_names}
        shared = {}
        for name in shared_names:
            values = [b.shared.get(name) for b in batches if name in b.shared]
            if all(np.array_equal(values[0], v) for v in values[1:]):
                shared[name] = values[0]
            else:  # spread to every item
                outputs[name] = stacked(lambda b, name=name: (np.broadcast_to(b.shared[name], (len(b),) + np.shape(
                    b.shared[name])).copy() if name in b.shared else None))
        maps = {}
        for name in _union(b.maps for b in batches):
            labels = next(b.maps[name][0] for b in batches if name in b.maps)
            maps[name] = (labels, stacked(lambda b, name=name: b.maps[name][1] if name in b.maps else None))
        feature_names = next((b.feature_names for b in batches if b.features is not None), ())
        features = stacked(lambda b: b.features if b.features is not None and b.feature_names == feature_names
                           else None) if feature_names else None
        passthrough = {}
        for name in _union(b.passthrough for b in batches):
            col: list = []
            for b in batches:
                col.extend(b.passthrough[name] if name in b.passthrough else [""] * len(b))
            passthrough[name] = col
        return cls(
            task=task, position=np.concatenate([b.position for b in batches]), source=np.concatenate(source_cols),
            row=np.concatenate([b.row for b in batches]), ok=np.concatenate([b.ok for b in batches]),
            timings=np.concatenate([b.timings for b in batches]), sources=sources, source_kinds=kinds,
            source_sha256=shas, errors=sparse("errors"), saved_input=sparse("saved_input"), mask_file=sparse("mask_file"), features=features,
            feature_names=feature_names, cells=sparse("cells"), passthrough=passthrough,
            answer={**{name: stacked(lambda b, name=name: _answer_in(b, name, meta)) for name in answer_names},
                    **_concat_ragged(batches)},
            meta=meta, outputs=outputs, shared=shared, maps=maps,
            output_names=next((b.output_names for b in batches if b.output_names), ()), **_concat_hosts(batches))

    # ------------------------------------------------------------------ serialising (store, files)
    def to_payload(self) -> tuple[dict, dict]:
        """(header, arrays): a JSON-able header and a dict of plain numpy arrays; no pickling needed."""
        arrays = {"position": self.position, "source": self.source, "row": self.row, "ok": self.ok,
                  "timings": self.timings}
        for name, a in self.answer.items():
            arrays[f"answer/{name}"] = a
        ragged = []
        for name, a in self.outputs.items():
            if a.dtype == object:  # per-item arrays of differing shapes: one array each
                ragged.append(name)
                for i, item in enumerate(a):
                    arrays[f"ragged/{name}/{i}"] = np.asarray(item)
            else:
                arrays[f"output/{name}"] = a
        for name, a in self.shared.items():
            arrays[f"shared/{name}"] = np.asarray(a)
        for name, (_, s) in self.maps.items():
            arrays[f"map/{name}"] = s
        if self.features is not None:
            arrays["features"] = self.features
        if self.host is not None:
            arrays["host"] = self.host
        header = {
            "task": self.task, "sources": list(self.sources), "source_kinds": list(self.source_kinds),
            "source_sha256": list(self.source_sha256), "errors": {str(k): v for k, v in self.errors.items()},
            "saved_input": {str(k): v for k, v in self.saved_input.items()},
            **({"mask_file": {str(k): v for k, v in self.mask_file.items()}} if self.mask_file else {}),
            "cells": {str(k): v for k, v in self.cells.items()}, "feature_names": list(self.feature_names),
            "passthrough": [[k, list(v)] for k, v in self.passthrough.items()],  # a list: the file's order
            "meta": self.meta,
            "maps": {name: list(labels) for name, (labels, _) in self.maps.items()},
            "output_names": list(self.output_names), "ragged": ragged,
            **({"hosts": list(self.hosts)} if self.host is not None else {}),
        }
        return header, arrays

    @classmethod
    def from_payload(cls, header: dict, arrays: Mapping) -> "ResultBatch":
        def group(prefix):
            return {k[len(prefix):]: arrays[k] for k in arrays if k.startswith(prefix)}

        outputs = group("output/")
        for name in header.get("ragged", ()):
            n = len(arrays["position"])
            col = np.empty(n, dtype=object)
            for i in range(n):
                col[i] = arrays[f"ragged/{name}/{i}"]
            outputs[name] = col
        return cls(
            task=header["task"], position=arrays["position"], source=arrays["source"], row=arrays["row"],
            ok=arrays["ok"], timings=arrays["timings"], sources=header["sources"],
            source_kinds=header["source_kinds"], source_sha256=header["source_sha256"],
            errors={int(k): v for k, v in header["errors"].items()},
            saved_input={int(k): v for k, v in header["saved_input"].items()},
            mask_file={int(k): v for k, v in header.get("mask_file", {}).items()},
            features=arrays.get("features"), feature_names=header["feature_names"],
            cells={int(k): v for k, v in header["cells"].items()},
            passthrough=dict(header["passthrough"]) if isinstance(header["passthrough"], list) else header["passthrough"],
            answer=group("answer/"), meta=header["meta"], outputs=outputs, shared=group("shared/"),
            maps={name: (labels, arrays[f"map/{name}"]) for name, labels in header["maps"].items()},
            output_names=header["output_names"], host=arrays.get("host"), hosts=header.get("hosts", ()))

    def to_bytes(self) -> bytes:
        """The batch as one ``.npz`` blob (its header as JSON inside): what the store keeps per chunk."""
        header, arrays = self.to_payload()
        buf = io.BytesIO()
        np.savez(buf, __header__=np.frombuffer(_canonical(header).encode("utf-8"), dtype=np.uint8), **arrays)
        return buf.getvalue()

    @classmethod
    def from_bytes(cls, blob: bytes) -> "ResultBatch":
        with np.load(io.BytesIO(blob), allow_pickle=False) as z:
            arrays = {k: z[k] for k in z.files}
        header = json.loads(arrays.pop("__header__").tobytes().decode("utf-8"))
        return cls.from_payload(header, arrays)

    # ------------------------------------------------------------------ audit
    def header_digest(self) -> str:
        """SHA-256 of what the batch's items share (sources, task, class names, shared outputs)."""
        # the header's shared fields only: to_payload() would also copy every error, cell and pass-through text
        keep = {"task": self.task, "sources": list(self.sources), "source_kinds": list(self.source_kinds),
                "source_sha256": list(self.source_sha256), "feature_names": list(self.feature_names),
                "meta": self.meta, "maps": {name: list(labels) for name, (labels, _) in self.maps.items()},
                "output_names": list(self.output_names)}
        keep["shared"] = {k: hashlib.sha256(np.ascontiguousarray(v).tobytes()).hexdigest() + str(v.dtype)
                          + str(v.shape) for k, v in self.shared.items()}
        keep["columns"] = {k: [str(a.dtype), list(a.shape[1:])] for k, a in self._item_columns()}
        keep["ragged"] = sorted(k for k, a in self.outputs.items() if a.dtype == object)
        if self.host is not None:  # only then, as below
            keep["hosts"] = list(self.hosts)
        groups = ragged_groups(self.answer)
        if groups:  # only then, so batches without one keep the digests they always had
            keep["ragged_answer"] = {k: [str(self.answer[k].dtype), list(self.answer[k].shape[1:])]
                                     for names in groups.values() for k in names}
        return hashlib.sha256(_canonical(keep).encode("utf-8")).hexdigest()

    def _item_columns(self) -> list[tuple[str, np.ndarray]]:
        cols = [("position", self.position), ("source", self.source), ("row", self.row),
                ("ok", self.ok), ("timings", self.timings)]
        groups = ragged_groups(self.answer)
        grouped = {k for g, names in groups.items() for k in names + [g + OFFSETS]}
        cols += [(f"answer/{k}", self.answer[k]) for k in sorted(self.answer) if k not in grouped]
        cols += [(f"answer/{g}{OFFSETS}", np.diff(self.answer[g + OFFSETS])) for g in sorted(groups)]  # counts
        cols += [(f"output/{k}", self.outputs[k]) for k in sorted(self.outputs)]
        cols += [(f"map/{k}", self.maps[k][1]) for k in sorted(self.maps)]
        if self.features is not None:
            cols.append(("features", self.features))
        if self.host is not None:
            cols.append(("host", self.host))
        return cols

    def _parts(self) -> list[np.ndarray]:
        """Every column's rows as bytes, one (n, width) uint8 array a column, and the text columns after them.

        Text fields (errors, saved-input paths, a failed row's cells, pass-through columns) are
        laid out as fixed-width UTF-32 code points, so no Python loop runs over the items when
        the batch has no errors. Columns are kept apart (not joined row by row), so making them
        costs no copy for the columns that are contiguous already.
        """
        n = len(self)
        parts = [np.ascontiguousarray(a.reshape(n, -1)).view(np.uint8).reshape(n, -1)
                 for _, a in self._item_columns() if a.dtype != object]
        return parts

    def _text_columns(self) -> list[np.ndarray]:
        n = len(self)
        cols = []
        sparse: dict = {}
        for attr in ("errors", "saved_input", "mask_file", "cells"):
            for i, v in getattr(self, attr).items():
                sparse.setdefault(i, []).append(f"{attr}={_canonical(v)}")
        for g, names in sorted(ragged_groups(self.answer).items()):  # each item's rows of the group, hashed
            offsets = self.answer[g + OFFSETS].tolist()
            for i in range(n):
                h = hashlib.sha256()
                for name in sorted(names):
                    h.update(np.ascontiguousarray(self.answer[name][offsets[i]:offsets[i + 1]]).data)
                sparse.setdefault(i, []).append(f"{g}:{h.hexdigest()}")
        for name in sorted(k for k, a in self.outputs.items() if a.dtype == object):
            for i, item in enumerate(self.outputs[name]):
                a = np.ascontiguousarray(item)
                sparse.setdefault(i, []).append(
                    f"{name}:{a.dtype}:{a.shape}:{hashlib.sha256(a.tobytes()).hexdigest()}")
        if sparse:
            col = [""] * n
            for i, v in sparse.items():
                col[i] = "\x1f".join(v)
            cols.append(np.array(col, dtype=str))
        for name in sorted(self.passthrough):
            cols.append(np.array(self.passthrough[name], dtype=str).reshape(n))
        return cols

    def digests(self) -> tuple[np.ndarray, str]:
        """``(item_digests(), content_digest())`` from one pass over the columns (what the store writes)."""
        parts, texts = self._parts(), self._text_columns()
        return self._item_digests(parts, texts), self._content_digest(parts, texts)

    def item_digests(self) -> np.ndarray:
        """A 64-bit checksum of each item's content (uint64, n): names the item that changed.

        Vectorised (a keyed multiply-and-add over each column's bytes as 64-bit words, then a
        mixing step), so no Python code runs per item. It locates; :meth:`content_digest`,
        a SHA-256 over all the bytes, is what makes a chunk tamper-evident.
        """
        return self._item_digests(self._parts(), self._text_columns())

    def _item_digests(self, parts, texts) -> np.ndarray:
        n = len(self)
        h = np.zeros(n, dtype=np.uint64)
        with np.errstate(over="ignore"):
            for j, part in enumerate(parts):
                h ^= row_checksums(part) * np.uint64(4 * j + 1) + np.uint64(j)
            for j, text in enumerate(texts, start=len(parts)):
                # text is padded to the batch's longest cell: its checksum ignores that padding, so
                # an item's digest does not change when another item's text grows
                t = row_checksums(np.ascontiguousarray(text).view(np.uint8).reshape(n, -1), padded=True)
                h ^= t * np.uint64(4 * j + 3) + np.uint64(j)
        return h

    def content_digest(self) -> str:
        """SHA-256 of the header and of every item's content: the hash the audit trail chains."""
        return self._content_digest(self._parts(), self._text_columns())

    def _content_digest(self, parts, texts) -> str:
        h = hashlib.sha256(self.header_digest().encode("ascii"))
        h.update(np.asarray([len(self), len(parts), len(texts)], dtype="<i8").tobytes())
        for part in parts + [np.ascontiguousarray(t) for t in texts]:
            h.update(np.asarray(part.shape + (part.dtype.itemsize,), dtype="<i8").tobytes())
            h.update(np.ascontiguousarray(part).data)
        return h.hexdigest()


OFFSETS = "_offsets"  # the suffix of a ragged group's offsets column


def ragged_groups(answer: Mapping) -> dict[str, list[str]]:
    """The ragged groups of an answer: ``{group: [its flat columns]}`` for each ``<group>_offsets`` column."""
    groups = {}
    for key in answer:
        if key.endswith(OFFSETS) and len(key) > len(OFFSETS):
            g = key[:-len(OFFSETS)]
            groups[g] = [k for k in answer if k != key and k.startswith(g + "_")]
    return groups


def _rows_of_items(offsets: np.ndarray, idx: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(the flat rows items ``idx`` own, in that order; their new offsets)."""
    starts, counts = offsets[idx], offsets[idx + 1] - offsets[idx]
    new = np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)
    rows = np.repeat(starts - new[:-1], counts) + np.arange(new[-1], dtype=np.int64)
    return rows, new


def take_answer(answer: Mapping, idx: np.ndarray) -> dict:
    """The answer columns of items ``idx``: per-item columns indexed, ragged groups cut to those items' rows."""
    out = {}
    groups = ragged_groups(answer)
    for g, names in groups.items():
        rows, out[g + OFFSETS] = _rows_of_items(np.asarray(answer[g + OFFSETS], dtype=np.int64), idx)
        for name in names:
            out[name] = answer[name][rows]
    grouped = set(out)
    out.update({k: v[idx] for k, v in answer.items() if k not in grouped})
    return {k: out[k] for k in answer}


def spread_answer(answer: Mapping, where: np.ndarray, n: int) -> dict:
    """Answer columns of some items spread over ``n`` (the others empty: zeros, or no rows of a ragged group)."""
    out = {}
    for g, names in ragged_groups(answer).items():
        counts = np.zeros(n, dtype=np.int64)
        counts[where] = np.diff(answer[g + OFFSETS])
        out[g + OFFSETS] = np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)
        out.update({name: answer[name] for name in names})  # ``where`` is in order: the rows stay as they are
    for k, v in answer.items():
        if k not in out:
            full = np.zeros((n,) + v.shape[1:], dtype=v.dtype)
            full[where] = v
            out[k] = full
    return out


def _concat_ragged(batches) -> dict:
    """The ragged groups of several batches joined (a batch without a group, a failed item, owns no rows)."""
    out = {}
    for g in _union(ragged_groups(b.answer) for b in batches):
        names = _union(ragged_groups(b.answer).get(g, ()) for b in batches)
        offsets, base = [np.zeros(1, dtype=np.int64)], 0
        for b in batches:
            off = b.answer.get(g + OFFSETS)
            off = np.zeros(len(b) + 1, dtype=np.int64) if off is None else np.asarray(off, dtype=np.int64)
            offsets.append(off[1:] + base)
            base += int(off[-1])
        out[g + OFFSETS] = np.concatenate(offsets)
        for name in names:
            template = next(b.answer[name] for b in batches if name in b.answer)
            parts = []
            for b in batches:
                if name in b.answer:
                    parts.append(b.answer[name])
                else:  # zeros for any rows it has (none when it lacks the group)
                    off = b.answer.get(g + OFFSETS)
                    parts.append(np.zeros((int(off[-1]) if off is not None else 0,) + template.shape[1:],
                                          template.dtype))
            out[name] = np.concatenate(parts)
    return out


_KEYS: dict = {}


def row_checksums(matrix: np.ndarray, padded: bool = False) -> np.ndarray:
    """A 64-bit checksum per row of a (n, width) uint8 matrix, vectorised over the rows.

    ``padded``: the rows end in zero padding that is not part of the content, so trailing
    zero words and the width leave the checksum unchanged.
    """
    n, width = matrix.shape
    pad = (-width) % 8
    if pad:
        matrix = np.concatenate([matrix, np.zeros((n, pad), np.uint8)], axis=1)
    words = np.ascontiguousarray(matrix).view("<u8").reshape(n, -1)
    k = words.shape[1]
    keys = _KEYS.get(k)
    if keys is None:  # the same keys for every width: column j always has key j
        keys = _KEYS[k] = np.random.default_rng(0x1DE5C).integers(1, 2**63, size=max(k, 1 << 10),
                                                                   dtype=np.uint64)[:k] | np.uint64(1)
    with np.errstate(over="ignore"):
        mixed = words ^ (words >> np.uint64(29))  # high bits reach the low ones before the multiply
        h = np.add.reduce(mixed * keys, axis=1, dtype=np.uint64)
        if not padded:
            h += np.uint64(width) * np.uint64(0x9E3779B97F4A7C15)
        h ^= h >> np.uint64(32)
        h *= np.uint64(0x94D049BB133111EB)
        h ^= h >> np.uint64(29)
    return h


def _merged_meta(batches) -> dict:
    """The decoder facts of several batches: equal ones as they are; class columns merged by class index."""
    metas = [b.meta for b in batches if b.meta]
    if not metas or all(m == metas[0] for m in metas[1:]):
        return metas[0] if metas else {}
    if not all("labels" in m and "indices" in m for m in metas):
        return metas[0]
    names: dict = {}
    for m in metas:
        for label, index in zip(m["labels"], m["indices"]):
            names.setdefault(int(index), label)
    indices = sorted(names)
    return {**metas[0], "labels": [names[i] for i in indices], "indices": indices}


def _answer_in(batch, name: str, meta: dict):
    """An answer column of ``batch`` in the merged ``meta``'s class columns (``top_col`` renumbered)."""
    column = batch.answer.get(name)
    if column is None or name != "top_col" or not batch.meta or batch.meta.get("indices") == meta.get("indices"):
        return column
    where = {index: j for j, index in enumerate(meta["indices"])}
    remap = np.array([where[int(i)] for i in batch.meta["indices"]], dtype=np.int32)
    return remap[column]


def _concat_hosts(batches) -> dict:
    """``host``/``hosts`` of batches concatenated: none when none has them, else one list of names (an item
    scored here, in a batch without them, gets the name ``""``)."""
    if all(b.host is None for b in batches):
        return {}
    names: list = []
    lookup: dict = {}
    cols = []
    for b in batches:
        own = b.hosts if b.host is not None else ("",)
        remap = []
        for name in own:
            if name not in lookup:
                lookup[name] = len(names)
                names.append(name)
            remap.append(lookup[name])
        where = b.host if b.host is not None else np.zeros(len(b), dtype=np.int32)
        cols.append(np.asarray(remap, dtype=np.int32)[where])
    return {"host": np.concatenate(cols), "hosts": tuple(names)}


def _union(dicts) -> list:
    names: dict = {}
    for d in dicts:
        for k in d:
            names.setdefault(k, None)
    return list(names)


def _take(column, idx):
    if isinstance(column, np.ndarray):
        return column[idx]
    return [column[i] for i in idx.tolist()]


def _ragged(parts):
    """Rows of differing shapes (outputs with symbolic per-item sizes): an object array of per-item arrays."""
    out = np.empty(sum(len(p) for p in parts), dtype=object)
    k = 0
    for p in parts:
        for item in p:
            out[k] = item
            k += 1
    return out


def _canonical(obj) -> str:
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=_plain)


def _plain(v):
    if isinstance(v, np.generic):
        return v.item()
    if isinstance(v, float):
        return finite(v)
    raise TypeError(f"cannot serialise {type(v).__name__}")
