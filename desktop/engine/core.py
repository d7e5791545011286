"""The Engine: a model, its profile and an onnxruntime session, with the three stages split apart."""

from __future__ import annotations

import re
import time
from typing import Callable

import numpy as np

from .errors import InputError, ModelError
from .inputs import InputKind
from .inputs.images import decode_dicom, decode_image
from .inputs.tabular import TableReader
from .model import ModelInfo, inspect_model, model_warnings
from .onnxwire import read_model, with_float_outputs
from .postprocess import Postprocessor, TensorSequence, ZipMapScores
from .preprocess import preprocess_image
from .profile import Profile, check_profile, fed_inputs, resolve_profile
from .session import SessionSettings, detect_fallback, open_session

_NP_TYPES = {
    "float": np.float32, "float32": np.float32, "double": np.float64, "float64": np.float64,
    "float16": np.float16, "int64": np.int64, "int32": np.int32, "uint8": np.uint8, "int8": np.int8,
    "bool": np.bool_, "int16": np.int16, "uint16": np.uint16, "uint32": np.uint32, "uint64": np.uint64,
    "object": np.object_, "string": np.object_,  # a string tensor: fed an object array of str
}


class Engine:
    """Everything needed to score: the model's description, its profile and a live session.

    Parameters
    ----------
    model_path
        The ``.onnx`` file.
    profile
        A Profile, a path to a profile JSON file, or None to use the model's own
        (sidecar, embedded, or a default guessed from its input).
    settings
        Provider, threads, optimisation level and whether a fallback to another provider is allowed.
    session
        A ready-made session (tests pass a fake one); created from ``settings`` when None.

    ``provider`` is the provider the session actually runs on; ``fallback`` a
    :class:`~desktop.engine.session.Fallback` when that is not the one asked for (else None).
    """

    def __init__(self, model_path, profile=None, settings: SessionSettings | None = None,
                 session=None, info: ModelInfo | None = None):
        self.info = info or inspect_model(model_path)
        self.model_path = self.info.path
        if isinstance(profile, Profile):
            if not profile.labels and self.info.labels:
                profile = profile.with_labels(self.info.labels)
            self.profile, self.profile_source = check_profile(profile, self.info), "given"
        elif profile:
            self.profile, self.profile_source = resolve_profile(model_path, self.info, explicit=profile)
        else:
            self.profile, self.profile_source = resolve_profile(model_path, self.info)
        self.settings = settings or SessionSettings()
        self._zipmaps: dict = {}  # ZipMap output -> (the probability tensor behind it, class keys)
        if session is None:
            model_bytes = None
            if any(o.is_zipmap for o in self.info.outputs) and not self.info.external_data:
                model_bytes, self._zipmaps = _expose_zipmap_inputs(self.model_path)
            session, self.fallback = open_session(self.model_path, self.settings, model_bytes)
        else:
            self.fallback = detect_fallback(self.settings, session)
        self.session = session
        self._run_names = [self._zipmaps[n][0] if n in self._zipmaps else n
                           for n in (o.name for o in self.info.outputs)] if self._zipmaps else None
        providers = list(self.session.get_providers()) if hasattr(self.session, "get_providers") else []
        self.provider = providers[0] if providers else "unknown"
        self.input_spec = self.info.input(self.profile.input)
        self._check_other_inputs()
        self._dtype = _input_type(self.input_spec)
        self._fed = self._table_input_order()
        self.output_names = [o.name for o in self.info.outputs]
        # the seq(tensor) outputs, by position, with their element type (for an empty sequence)
        self._sequences = {i: _NP_TYPES.get(o.type[len("seq(tensor("):-2], np.float32)
                           for i, o in enumerate(self.info.outputs) if o.type.startswith("seq(tensor(")}
        # whether every output's first axis is the batch axis, so stacked items' outputs can be split
        # per item: True (declared so, or seen), False (seen not to be, or an output that is neither a
        # tensor nor a ZipMap, such as a tensor sequence: one item per call), None (not known yet: the
        # first stacked call is checked against its first item alone)
        self.splits_batches: bool | None = (
            False if any(not (o.is_tensor or o.is_zipmap) for o in self.info.outputs)
            else True if _declares_batch_first(self.info, self._fed_inputs()) else None)

    # ------------------------------------------------------------------ facts
    @property
    def warnings(self) -> list[str]:
        """What may be wrong with the model and its profile though both load (see :func:`model_warnings`)."""
        return model_warnings(self.info, self.profile)

    @property
    def batchable(self) -> bool:
        """True when items can be stacked in one call: the input's first dimension is symbolic, and the
        outputs have not been seen to keep the batch anywhere but on their first axis."""
        shape = self.input_spec.shape
        return bool(shape) and not (isinstance(shape[0], int) and shape[0] > 0) and self.splits_batches is not False

    def _fed_inputs(self) -> list:
        names = self.table_inputs or [self.profile.input]
        return [self.info.input(name) for name in names]

    @property
    def concurrent_runs(self) -> bool:
        """True when several threads may run this session at once and gain from it: the CPU provider.

        (DirectML forbids concurrent runs on one session; GPU providers serialise them anyway.)
        """
        return self.provider == "CPUExecutionProvider"

    @property
    def has_batch_axis(self) -> bool:
        shape = self.input_spec.shape
        if self.profile.image is not None:
            return len(shape) == 4 or not shape
        return len(shape) >= 2 or not shape

    @property
    def table_inputs(self) -> list[str] | None:
        """For models with one input per feature (scikit-learn with named inputs): those inputs' names."""
        ins = self.info.inputs
        if len(ins) > 1 and all(len(s.shape) == 2 and s.shape[-1] == 1 for s in ins):
            return [s.name for s in ins]
        return None

    @property
    def n_features(self) -> int | None:
        if self.table_inputs:
            return len(self.table_inputs)
        shape = self.input_spec.shape
        if len(shape) == 2 and isinstance(shape[1], int):
            return shape[1]
        if self.profile.table and self.profile.table.columns:
            return len(self.profile.table.columns)
        return None

    def _table_input_order(self) -> list[str] | None:
        """For a model with one input per feature: the input each table column feeds, in column order
        (by name, see profile.fed_inputs)."""
        if not self.table_inputs:
            return None
        table = self.profile.table
        return [spec.name for spec in fed_inputs(table.columns if table else None, self.info.inputs)]

    def _check_other_inputs(self):
        others = [s.name for s in self.info.inputs if s.name != self.profile.input]
        if others and not self.table_inputs:
            raise ModelError(
                f"{self.info.file_name} needs {len(self.info.inputs)} inputs ({', '.join(s.name for s in self.info.inputs)}); "
                f"InferDesk feeds one ('{self.profile.input}'), so the others ({', '.join(others)}) would be missing"
            )

    def describe(self) -> dict:
        return {"model": self.info.file_name, "sha256": self.info.sha256, "provider": self.provider,
                "profile": self.profile.to_dict(), "profile_source": self.profile_source,
                "settings": self.settings.to_dict()}

    # ------------------------------------------------------------------ stages
    def load_image(self, path: str, kind: InputKind = InputKind.IMAGE):
        """Decode one image file: (PIL image, milliseconds)."""
        t0 = time.perf_counter()
        image = self.profile.image
        exif = image is None or image.exif == "apply"
        if kind == InputKind.DICOM:
            dicom = self.profile.dicom
            img = decode_dicom(path, window=dicom.window if dicom is not None else None)
        else:
            img = decode_image(path, exif=exif)
        return img, (time.perf_counter() - t0) * 1e3

    def preprocess(self, img) -> tuple[np.ndarray, float]:
        """The tensor for one image, without the batch axis: (tensor, milliseconds)."""
        if self.profile.image is None:
            raise InputError(
                "this model takes a table, not an image; drop a CSV file, or set an image profile"
                if self.profile.table is not None else "the profile has no image section for this model"
            )
        t0 = time.perf_counter()
        shape = self.input_spec.shape
        expected = shape[1:] if len(shape) == 4 else (shape if len(shape) == 3 else None)
        x = preprocess_image(img, self.profile.image, expected)
        return x, (time.perf_counter() - t0) * 1e3

    def table_reader(self, path, **options) -> TableReader:
        """A CSV file opened for this model: its feature columns and pass-through columns from the profile.

        ``options``: TableReader's ``first_row``, ``parser`` and ``encoding``, for a piece of a file.
        """
        table = self.profile.table
        return TableReader(path, table.columns if table else None, self.n_features,
                           passthrough=table.passthrough if table else True, types=self.table_types, **options)

    @property
    def table_types(self):
        """The numpy type the feature columns are fed as: one per column (one input each), or one for all.

        The table reader refuses a row with a value its type cannot hold, before it is converted,
        and reads a column that feeds a string input as text.
        """
        if self._fed:
            return [_input_type(self.info.input(name)) for name in self._fed]
        return self._dtype

    def table_feeds(self, values: np.ndarray, texts: dict | None = None) -> dict:
        """Feeds for a block of table rows (n, features) in model feature order.

        ``texts`` holds the columns read as text (feature index -> object array of str, as
        ``TableChunk.texts``), for string inputs; without it they are fed empty strings (a
        benchmark's generated rows).
        """
        texts = texts or {}

        def column(j: int, dtype) -> np.ndarray:
            if dtype is np.object_:
                return texts[j] if j in texts else np.full(len(values), "", dtype=object)
            return values[:, j].astype(dtype)

        if self._fed:
            return {name: column(j, _input_type(self.info.input(name)))[:, None] for j, name in enumerate(self._fed)}
        if self._dtype is np.object_:
            x = np.stack([column(j, np.object_) for j in range(values.shape[1])], axis=1)
        else:
            x = values.astype(self._dtype)
        if len(self.input_spec.shape) == 1:
            x = x[:, 0]
        return {self.profile.input: x}

    def image_feeds(self, tensors: list[np.ndarray]) -> dict:
        if self.has_batch_axis:
            x = np.stack(tensors) if len(tensors) > 1 else tensors[0][None]
        else:
            x = tensors[0]
        if x.dtype != self._dtype and self.profile.image.dtype != "uint8":
            x = x.astype(self._dtype)
        return {self.profile.input: x}

    def run(self, feeds: dict) -> tuple[list, float]:
        """session.run on prepared feeds: (outputs, milliseconds); errors become InputError."""
        t0 = time.perf_counter()
        try:
            out = self.session.run(self._run_names, feeds)
        except Exception as exc:  # onnxruntime raises its own private exception types
            raise InputError(_explain_run_error(exc)) from exc
        return self._wrapped(out), (time.perf_counter() - t0) * 1e3

    def run_named(self, feeds: dict, names: list[str]) -> tuple[list, list, float]:
        """One session call for :meth:`run`'s outputs and the session outputs ``names`` as they are.

        Returns (``run``'s outputs, the named values in order, milliseconds): the server answers
        a request with the named tensors and records the same call's outputs as a result.
        """
        own = list(self._run_names or self.output_names)
        extra = [n for n in names if n not in own]
        t0 = time.perf_counter()
        try:
            out = self.session.run(own + extra, feeds)
        except Exception as exc:
            raise InputError(_explain_run_error(exc)) from exc
        ms = (time.perf_counter() - t0) * 1e3
        by_name = dict(zip(own + extra, out))
        return self._wrapped(out[:len(own)]), [by_name[n] for n in names], ms

    def _wrapped(self, out: list) -> list:
        """Session outputs in the model's order as the postprocessor reads them (ZipMaps, sequences)."""
        if self._zipmaps:
            out = [ZipMapScores(self._zipmaps[o.name][1], value) if o.name in self._zipmaps else value
                   for o, value in zip(self.info.outputs, out)]
        if self._sequences:
            out = [TensorSequence(value, self._sequences[i]) if i in self._sequences and isinstance(value, list)
                   else value for i, value in enumerate(out)]
        return out

    def run_stacked(self, feeds: dict, n: int, first: Callable[[], dict]) -> tuple[list, float] | None:
        """session.run on ``n`` items stacked on the batch axis, when its outputs split per item.

        Returns (outputs, milliseconds) when every output has the items on its first axis, one
        row each; None when the outputs cannot be split so (the caller scores the items one by
        one: a row that held other items' values would give one patient's record another's data).
        The first time a model's outputs have no declared batch axis, its first item is scored
        alone too (``first()`` gives its feeds) and the verdict is kept: the outputs split when
        each has one more row for the stacked items than for the item alone, and the item's row
        is the same both ways. A declared batch axis is believed, and each call's rows counted.
        """
        if self.splits_batches is False:
            return None
        alone = self.run(first())[0] if self.splits_batches is None else None
        out, ms = self.run(feeds)
        if alone is not None:
            self.splits_batches = _split_per_item(alone, out, n)
        elif not all(_rows(value) == n for value in out):
            self.splits_batches = False
        return (out, ms) if self.splits_batches else None

    def postprocessor(self, top_k: int = 5) -> Postprocessor:
        return Postprocessor(self.info, self.profile, top_k)

    def with_profile(self, profile: Profile) -> "Engine":
        """The same session with another profile (after editing it), without reloading the model."""
        engine = Engine(self.model_path, profile=profile, settings=self.settings, session=self.session, info=self.info)
        engine._zipmaps, engine._run_names = self._zipmaps, self._run_names  # the session was made for them
        engine.splits_batches = self.splits_batches  # a fact of the model, not of the profile
        return engine


def _declares_batch_first(info: ModelInfo, fed: list) -> bool:
    """True when each output declares as its first dimension, and only there, the fed inputs' batch symbol."""
    symbols = {spec.shape[0] if spec.shape else None for spec in fed}
    if len(symbols) != 1:
        return False
    symbol = symbols.pop()
    if not isinstance(symbol, str):  # fixed, or anonymous (None): nothing to match an output's dimension to
        return False
    return all(o.is_tensor and o.rank_known and o.shape and o.shape[0] == symbol and symbol not in o.shape[1:]
               for o in info.outputs)


def _rows(value) -> int | None:
    """The length of an output's first axis (a ZipMap's number of maps); None for a scalar."""
    if isinstance(value, (ZipMapScores, list)):
        return len(value)
    shape = np.shape(value)
    return shape[0] if shape else None


def _split_per_item(alone: list, stacked: list, n: int) -> bool:
    """Whether ``stacked`` (the outputs of n items, the first of them the item of ``alone``) splits per item."""
    for a, b in zip(alone, stacked):
        if _rows(a) != 1 or _rows(b) != n:
            return False
        if isinstance(a, ZipMapScores) and isinstance(b, ZipMapScores):
            if a.keys != b.keys or not _close(a.scores[0], b.scores[0]):
                return False
        elif isinstance(a, list) or isinstance(b, list):  # ZipMap dicts (the sequence of tensors never splits)
            if not (a and b and isinstance(a[0], dict) and isinstance(b[0], dict) and list(a[0]) == list(b[0])
                    and _close(np.fromiter(a[0].values(), float), np.fromiter(b[0].values(), float))):
                return False
        elif np.shape(a)[1:] != np.shape(b)[1:] or not _close(np.asarray(a)[0], np.asarray(b)[0]):
            return False
    return True


def _close(a: np.ndarray, b: np.ndarray) -> bool:
    """The same item's outputs from two calls: equal, or for floats close (batched kernels may round otherwise)."""
    a, b = np.asarray(a), np.asarray(b)
    if a.shape != b.shape:
        return False
    if a.dtype.kind not in "fc" and b.dtype.kind not in "fc":
        return bool(np.array_equal(a, b))
    finite = np.abs(a[np.isfinite(a)]) if a.dtype.kind in "fc" else np.abs(a)
    scale = float(finite.max()) if finite.size else 1.0
    return bool(np.allclose(a, b, rtol=1e-3, atol=1e-5 * max(scale, 1.0), equal_nan=True))


def _input_type(spec) -> type:
    return _NP_TYPES.get(spec.elem_type or "float", np.float32)


def _expose_zipmap_inputs(model_path: str) -> tuple[bytes | None, dict]:
    """The model with each ZipMap's probability tensor added as an output, and where they are.

    scikit-learn classifiers converted by skl2onnx end in a ZipMap that turns each row of
    probabilities into a Python dict; onnxruntime builds those dicts one by one. Asking for the
    tensor in front of it instead (onnxruntime then skips the ZipMap) gives the same numbers
    without a dict per row; the results still show ``{label: score}``.
    """
    model = read_model(model_path)
    outputs = {o.name for o in model.outputs}
    found = {z.output: (z.input, z.keys) for z in model.zipmaps if z.output in outputs}
    if not found:
        return None, {}
    added = list(dict.fromkeys(source for source, _ in found.values() if source not in outputs))
    with open(model_path, "rb") as fh:
        return with_float_outputs(fh.read(), added), found


def _explain_run_error(exc: Exception) -> str:
    text = str(exc)
    m = re.search(r"Got invalid dimensions for input: (\S+) for the following indices\s+index: (\d+) Got: (\d+) Expected: (\d+)", text)
    if m:
        return (f"the model's input '{m.group(1)}' needs size {m.group(4)} at dimension {m.group(2)}, "
                f"got {m.group(3)}; check the profile's resize and crop")
    m = re.search(r"Unexpected input data type\. Actual: \((.*?)\) , expected: \((.*?)\)", text)
    if m:
        return f"the model wants {m.group(2)} data but got {m.group(1)}; check the profile's dtype"
    first = text.strip().splitlines()[0] if text.strip() else type(exc).__name__
    first = re.sub(r"^\[ONNXRuntimeError\] : \d+ : \w+ : ", "", first)
    return f"inference failed: {first[:300]}"
