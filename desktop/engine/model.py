"""Load and inspect an ONNX model file: inputs, outputs, metadata, labels, checksums."""

from __future__ import annotations

import ast
import hashlib
import json
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path

from .errors import ModelError
from .files import require_regular_file
from .onnxwire import WireError, read_model

#: metadata keys that commonly hold class labels, in order of preference
LABEL_KEYS = ("labels", "classes", "names", "class_names", "character")

# First bytes of common files that people mistake for a model.
_SIGNATURES = (
    (b"\x89PNG", "a PNG image"),
    (b"\xff\xd8\xff", "a JPEG image"),
    (b"GIF8", "a GIF image"),
    (b"BM", None),  # too short to be sure; checked below with the size field
    (b"PK\x03\x04", "a ZIP archive (a PyTorch .pt checkpoint or a Keras .keras file is one); "
                    "export the model to ONNX first"),
    (b"\x89HDF", "an HDF5 file (a Keras .h5 model?); convert it to ONNX first"),
    (b"GGUF", "a GGUF language-model file, which InferDesk does not run"),
    (b"%PDF", "a PDF document"),
    (b"\x7fELF", "a program (ELF binary)"),
    (b"MZ", "a Windows program"),
)


@dataclass(frozen=True)
class TensorSpec:
    """One model input or output."""

    name: str
    type: str  # e.g. "tensor(float)", "seq(map(int64,tensor(float)))"
    shape: tuple  # ints for fixed dims, strings for symbolic ones, None when unknown
    elem_type: str | None = None  # "float", "int64"... for tensors, else None
    rank_known: bool = True  # False for a tensor declared with no shape at all (``shape`` is then ``()``)

    @property
    def shape_text(self) -> str:
        """'[N, 3]', 'scalar' (declared rank 0), 'unknown rank' (no shape declared), or '—' (not a tensor)."""
        if not self.type.startswith("tensor"):
            return "—"
        if not self.rank_known:
            return "unknown rank"
        if not self.shape:
            return "scalar"
        return "[" + ", ".join("?" if d is None else str(d) for d in self.shape) + "]"

    @property
    def is_tensor(self) -> bool:
        return self.type.startswith("tensor(")

    @property
    def is_zipmap(self) -> bool:
        return self.type.startswith("seq(map(")


@dataclass(frozen=True, kw_only=True)
class ModelInfo:
    """Everything a user wants to know about a model file before scoring with it."""

    path: str
    file_name: str
    size_bytes: int
    sha256: str  # of the .onnx file alone, as a file manager or sha256sum shows it
    ir_version: int
    producer: str
    opsets: dict = field(default_factory=dict)  # domain -> version ("" is ai.onnx)
    inputs: tuple = ()
    outputs: tuple = ()
    metadata: dict = field(default_factory=dict)
    labels: tuple = ()
    labels_source: str | None = None  # metadata key the labels came from
    description: str = ""
    external_data: tuple = ()  # relative paths of external tensor files
    warnings: tuple = ()  # what may be wrong with the model though it loads (labels that do not fit its outputs)
    #: the model with its weights: ``sha256`` when it has no external data, else model_identity()'s hash of
    #: the .onnx file's and each external data file's; what a run records and a resume compares
    weights_sha256: str = ""

    def input(self, name: str) -> TensorSpec:
        for spec in self.inputs:
            if spec.name == name:
                return spec
        raise KeyError(name)

    def to_dict(self) -> dict:
        d = asdict(self)
        d["inputs"] = [_spec_dict(s) for s in self.inputs]
        d["outputs"] = [_spec_dict(s) for s in self.outputs]
        d["labels"] = list(self.labels)
        d["external_data"] = list(self.external_data)
        d["warnings"] = list(self.warnings)
        return d


def _spec(vi) -> TensorSpec:
    """The TensorSpec of a graph input or output as onnxwire reads it."""
    return TensorSpec(name=vi.name, type=vi.type, shape=vi.shape, elem_type=vi.elem_type, rank_known=vi.rank_known)


def _spec_dict(spec: TensorSpec) -> dict:
    return {"name": spec.name, "type": spec.type, "shape": list(spec.shape), "elem_type": spec.elem_type}


def human_size(n: int) -> str:
    """A file size as people read it, in decimal units as file managers show them: '69.4 kB'."""
    value = float(n)
    for unit in ("bytes", "kB", "MB", "GB"):
        if value < 1000 or unit == "GB":
            return f"{int(value):,} {unit}" if unit == "bytes" else f"{value:.1f} {unit}"
        value /= 1000
    return f"{n:,} bytes"


def sha256_file(path: str | os.PathLike, chunk: int = 1 << 20) -> str:
    """Hex SHA-256 of a file, read in chunks."""
    require_regular_file(path, OSError)  # a FIFO or /dev/zero would be read forever
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        while block := fh.read(chunk):
            h.update(block)
    return h.hexdigest()


def model_identity(onnx_sha256: str, folder: str | os.PathLike, external: tuple) -> str:
    """SHA-256 of a model with its weights: two models that differ only in an external data file differ here.

    Without external data it is the .onnx file's own SHA-256. With it, the SHA-256 of the text
    ``onnx <sha256 of the .onnx file>`` then ``<location> <sha256 of that file>`` for each
    external data file, one per line in the order the model names them (``external`` are those
    locations, relative to ``folder``, the model's real folder).
    """
    if not external:
        return onnx_sha256
    lines = [f"onnx {onnx_sha256}"] + [f"{loc} {sha256_file(Path(folder) / loc)}" for loc in external]
    return hashlib.sha256(("\n".join(lines) + "\n").encode("utf-8")).hexdigest()


def parse_labels(raw: str) -> list[str]:
    """Labels from a metadata value.

    Accepts a JSON list, a JSON or Python-literal ``{index: name}`` dict (as YOLO exporters
    write), one label per line (as OCR ``character`` tables are), or a comma-separated line.
    """
    text = raw.strip()
    if not text:
        return []
    value = None
    if text[0] in "[{(":
        try:
            value = json.loads(text)
        except ValueError:
            try:
                value = ast.literal_eval(text)
            except (ValueError, SyntaxError, MemoryError, RecursionError):
                value = None
    if isinstance(value, dict):
        def order(key):
            try:
                return (0, int(key), "")
            except (TypeError, ValueError):
                return (1, 0, str(key))
        return [str(value[k]) for k in sorted(value, key=order)]
    if isinstance(value, (list, tuple)):
        return [str(v) for v in value]
    if "\n" in text:
        return [line.strip() for line in text.splitlines() if line.strip()]
    if "," in text:
        return [part.strip() for part in text.split(",") if part.strip()]
    return [text]


def label_mismatch(labels, outputs, source: str = "the profile") -> str | None:
    """Why ``labels`` cannot name the classes of a model with these outputs, or None when they can (or it is unknown).

    The classes are the last axis of the outputs shaped ``[N, classes]``; a model with none
    such (a detector, a ZipMap, a symbolic axis) is not judged.
    """
    n = len(labels)
    widths = {o.shape[-1]: o.name for o in outputs
              if o.is_tensor and len(o.shape) == 2 and isinstance(o.shape[-1], int) and o.shape[-1] > 1}
    if not n or not widths or n in widths:
        return None
    classes, name = min(widths.items())
    return (f"{source} lists {n:,} label{'s' if n != 1 else ''}, but output '{name}' has {classes:,} classes: "
            "the labels shown will not be this model's classes")


def model_warnings(info: "ModelInfo", profile=None, source: str = "the profile") -> list[str]:
    """What may be wrong though the model loads: ``info.warnings``, the profile's notes (a deprecated
    interpolation name), and the profile's labels when they do not fit the outputs (a profile in a
    sidecar or given is not seen by :func:`inspect_model`)."""
    found = list(info.warnings) + list(getattr(profile, "notes", ()))
    mismatch = label_mismatch(profile.labels, info.outputs, source) if profile is not None and profile.labels else None
    if mismatch and not any(w.split(" lists ", 1)[-1] == mismatch.split(" lists ", 1)[-1] for w in found):
        found.append(mismatch)
    return found


def _sniff_non_onnx(head: bytes, size: int) -> str | None:
    for magic, what in _SIGNATURES:
        if head.startswith(magic):
            if magic == b"BM":
                if len(head) >= 6 and int.from_bytes(head[2:6], "little") == size:
                    return "a BMP image"
                continue
            return what
    if head[:1] == b"\x80" and head[1:2] in (b"\x02", b"\x03", b"\x04", b"\x05"):
        return "a Python pickle (a scikit-learn or PyTorch object?); convert it to ONNX first"
    if len(head) > 8 and head[8:10] == b'{"' and int.from_bytes(head[:8], "little") < size:
        return "a safetensors weights file, not a runnable model"
    stripped = head.lstrip()
    if stripped[:1] in (b"{", b"[", b"<") or stripped[:6].lower() in (b"ir_ver",):
        try:
            stripped[:256].decode("utf-8")
            return "a text file (JSON, XML or similar), not a binary ONNX model"
        except UnicodeDecodeError:
            pass
    return None


def _text_start(head: bytes) -> str | None:
    """The first words of ``head`` when it is plain text (UTF-8, printable), else None."""
    text = ""
    for cut in (0, 1, 2, 3):  # the 64 bytes read may end inside a character
        try:
            text = head[:len(head) - cut].decode("utf-8")
            break
        except UnicodeDecodeError:
            continue
    if not text or not all(c.isprintable() or c in "\t\r\n" for c in text):
        return None
    first = " ".join(text.split())
    return (first[:40] + "…") if len(first) > 40 else first


def _check_external_data(tensors, folder: Path, name: str = "the model") -> tuple:
    """Refuse external-data references that leave the model's folder or do not exist.

    ``tensors`` are the model's stored tensors (onnxwire.TensorRef); ``folder`` is the real
    (resolved) folder of the model file; a reference is resolved too, so a symbolic link beside
    the model that leads elsewhere is refused like a ``..`` path.
    """
    locations = []
    root = folder.resolve()
    for tensor in tensors:
        if not tensor.external:
            continue
        info = tensor.external_data
        loc = info.get("location", "")
        if not loc:
            raise ModelError(f"{name}: tensor '{tensor.name}' stores its data outside the model but names no file")
        if os.path.isabs(loc) or loc.startswith(("/", "\\")) or (len(loc) > 1 and loc[1] == ":"):
            raise ModelError(
                f"{name}: tensor '{tensor.name}' points to external data at an absolute path ({loc}); "
                "InferDesk only reads external data stored beside the model"
            )
        try:
            target = (root / loc).resolve()
        except (OSError, RuntimeError):  # a link loop
            target = None
        if target is None or (root != target and root not in target.parents):
            lexical = Path(os.path.normpath(root / loc))
            where = (f"{loc}, a link to {target or 'itself (a loop)'}"
                     if lexical == root or root in lexical.parents else loc)
            raise ModelError(
                f"{name}: tensor '{tensor.name}' points to external data outside the model's folder ({where}); refused"
            )
        if not target.is_file():
            raise ModelError(
                f"{name}: external data file '{loc}' for tensor '{tensor.name}' is missing beside the model"
            )
        if loc not in locations:
            locations.append(loc)
    return tuple(locations)


def inspect_model(path: str | os.PathLike) -> ModelInfo:
    """Read a model file and describe it, or raise ModelError saying why it cannot be used.

    Parameters
    ----------
    path
        Path to an ``.onnx`` file.

    Returns
    -------
    ModelInfo
        Inputs, outputs, metadata, labels, size and SHA-256 of the model.
    """
    p = Path(path)
    if not p.exists():
        raise ModelError(f"Model file not found: {p}")
    if p.is_dir():
        raise ModelError(f"{p} is a folder, not a model file; choose the .onnx file inside it")
    require_regular_file(p, ModelError, f"Model file {p.name}")  # a FIFO blocks, /dev/zero never ends
    size = p.stat().st_size
    if size == 0:
        raise ModelError(f"Model file {p.name} is empty (0 bytes)")
    try:
        with open(p, "rb") as fh:
            head = fh.read(64)
    except OSError as exc:
        raise ModelError(f"Cannot read model file {p.name}: {exc.strerror or exc}") from exc
    what = _sniff_non_onnx(head, size)
    if what:
        raise ModelError(f"{p.name} is not an ONNX model: it is {what}")

    try:
        model = read_model(p)
    except WireError as exc:
        text = _text_start(head)
        if text is not None:  # a note, a log, a URL saved as .onnx: not a damaged model
            raise ModelError(f"{p.name} is not an ONNX model: it is a text file (it begins \"{text}\")") from exc
        raise ModelError(
            f"{p.name} is not a valid ONNX model: the file is truncated or corrupt ({size:,} bytes could not be parsed)"
        ) from exc
    except OSError as exc:
        raise ModelError(f"Cannot read model file {p.name}: {exc.strerror or exc}") from exc
    if model.ir_version <= 0 or not model.outputs:
        raise ModelError(
            f"{p.name} is not a valid ONNX model: it has no graph (wrong file type, or the file is corrupt)"
        )

    # beside the real file: onnxruntime is given the resolved path, so a linked model's weights
    # are read from the folder the link points into, and that is the folder to check
    external = _check_external_data(model.tensors, p.resolve().parent, p.name)

    # old exporters list weights as inputs
    inputs = [_spec(vi) for vi in model.inputs if vi.name not in model.initializer_names]
    outputs = [_spec(vi) for vi in model.outputs]
    if not inputs:
        raise ModelError(f"{p.name} declares no inputs, so there is nothing to feed it")

    metadata = dict(model.metadata)
    labels: list[str] = []
    labels_source = None
    for key in LABEL_KEYS:
        if key in metadata and metadata[key].strip():
            labels = parse_labels(metadata[key])
            labels_source = key
            break
    mismatch = label_mismatch(labels, outputs, f"the model's metadata '{labels_source}'") if labels else None
    producer = " ".join(x for x in (model.producer_name, model.producer_version) if x)
    opsets = {(domain or "ai.onnx"): int(version) for domain, version in model.opsets}
    description = metadata.get("description") or model.doc_string or model.graph_doc_string or ""

    sha = sha256_file(p)
    try:
        weights = model_identity(sha, p.resolve().parent, external)
    except OSError as exc:
        raise ModelError(f"Cannot read the external data of model file {p.name}: {exc.strerror or exc}") from exc
    return ModelInfo(
        path=str(p.resolve()),
        file_name=p.name,
        size_bytes=size,
        sha256=sha,
        weights_sha256=weights,
        ir_version=model.ir_version,
        producer=producer,
        opsets=opsets,
        inputs=tuple(inputs),
        outputs=tuple(outputs),
        metadata=metadata,
        labels=tuple(labels),
        labels_source=labels_source,
        description=description.strip(),
        external_data=external,
        warnings=(mismatch,) if mismatch else (),
    )
