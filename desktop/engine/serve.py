"""A local inference server speaking the Open Inference Protocol (KServe v2, as Triton does), standard library only.

Endpoints (every one answers JSON; errors are ``{"error": "..."}`` with a 4xx status, 500 for a bug,
and the server keeps serving):

- ``GET /v2/health/live``, ``GET /v2/health/ready``, ``GET /v2/models/{name}/ready``
- ``GET /v2`` (server metadata), ``GET /v2/models/{name}`` (inputs and outputs, -1 for a dynamic dimension)
- ``POST /v2/models/{name}/infer``: JSON tensors, and the binary tensor extension both ways
  (``Inference-Header-Content-Length`` with ``binary_data_size``; ``binary_data_output`` or an
  output's ``binary_data: true`` asks for binary outputs). The tensors go to the engine's
  onnxruntime session as they are: no profile is applied.
- ``POST /v2/models/{name}/score``: InferDesk's own. The body is an image file, or one CSV row
  under its header; the model's profile is applied and the answer is the record
  ``inferdesk score --format jsonl`` writes.

Only tensor outputs are served: a scikit-learn ZipMap (a sequence of maps) is left out, and the
probability tensor in front of it, which the engine's session exposes, is served in its place.
"""

from __future__ import annotations

import hmac
import ipaddress
import json
import math
import os
import shutil
import struct
import tempfile
import threading
import time
from collections import deque
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import unquote, urlsplit

import numpy as np

from .errors import EngineError

MiB = 1024 * 1024
DEFAULT_MAX_BODY = 64 * MiB

#: KServe v2 datatype -> numpy type
DATATYPES = {
    "BOOL": np.bool_, "UINT8": np.uint8, "UINT16": np.uint16, "UINT32": np.uint32, "UINT64": np.uint64,
    "INT8": np.int8, "INT16": np.int16, "INT32": np.int32, "INT64": np.int64,
    "FP16": np.float16, "FP32": np.float32, "FP64": np.float64, "BYTES": np.object_,
}
#: onnxruntime element type ("tensor(float)" without the wrapper) -> KServe v2 datatype
_ONNX_TO_V2 = {
    "bool": "BOOL", "uint8": "UINT8", "uint16": "UINT16", "uint32": "UINT32", "uint64": "UINT64",
    "int8": "INT8", "int16": "INT16", "int32": "INT32", "int64": "INT64",
    "float16": "FP16", "float": "FP32", "double": "FP64", "string": "BYTES",
}
_NUMPY_TO_V2 = {np.dtype(t).str: name for name, t in DATATYPES.items() if t is not np.object_}


class ServeError(EngineError):
    """The server cannot start as asked (a network address without a token, a port in use)."""


class RequestError(Exception):
    """A request the server refuses: its HTTP status and a message for the client."""

    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status = status


# ------------------------------------------------------------------------------------------ models
class _Tensor:
    """One served input or output: name, KServe datatype, shape with -1 for a dynamic dimension."""

    def __init__(self, name: str, datatype: str, shape: list | None):
        self.name, self.datatype, self.shape = name, datatype, shape  # shape None: rank not declared

    def to_dict(self) -> dict:
        return {"name": self.name, "datatype": self.datatype, "shape": self.shape if self.shape is not None else [-1]}


def _tensors(args) -> list[_Tensor]:
    """The tensor inputs or outputs of an onnxruntime session (NodeArg list); other types are left out."""
    found = []
    for arg in args:
        kind = arg.type or ""
        if not (kind.startswith("tensor(") and kind.endswith(")")):
            continue
        datatype = _ONNX_TO_V2.get(kind[len("tensor("):-1])
        if datatype is None:
            continue
        shape = arg.shape
        dims = None if shape is None else [d if isinstance(d, int) and d >= 0 else -1 for d in shape]
        found.append(_Tensor(arg.name, datatype, dims))
    return found


class ServedModel:
    """An Engine as the server offers it: its session's tensor inputs and outputs."""

    def __init__(self, name: str, engine):
        self.name, self.engine = name, engine
        self.session = engine.session
        self.inputs = _tensors(self.session.get_inputs())
        self.outputs = _tensors(self.session.get_outputs())
        self._lock = None if getattr(engine, "concurrent_runs", False) else threading.Lock()
        # the engine (the convenience endpoint) decides its batch size on the first call: one at a time
        self.score_lock = threading.Lock()

    def metadata(self) -> dict:
        return {"name": self.name, "versions": ["1"], "platform": "onnxruntime_onnx",
                "inputs": [t.to_dict() for t in self.inputs], "outputs": [t.to_dict() for t in self.outputs]}

    def run(self, names: list[str], feeds: dict) -> list:
        if self._lock is None:
            return self.session.run(names, feeds)
        with self._lock:
            return self.session.run(names, feeds)

    def run_recorded(self, names: list[str], feeds: dict) -> tuple[list, list, float]:
        """:meth:`Engine.run_named`: the engine's outputs to record, the named ones to answer with, ms."""
        if self._lock is None:
            return self.engine.run_named(feeds, names)
        with self._lock:
            return self.engine.run_named(feeds, names)


# ---------------------------------------------------------------------------------- request parsing
def _parse_json(raw: bytes, what: str):
    try:
        return json.loads(raw.decode("utf-8"))
    except UnicodeDecodeError:
        raise RequestError(400, f"the {what} is not UTF-8 text") from None
    except (ValueError, RecursionError) as exc:
        raise RequestError(400, f"the {what} is not valid JSON: {str(exc)[:200]}") from None


def _flatten(data, limit: int) -> list:
    """A nested JSON list flattened, without recursion (hostile nesting), refusing more than ``limit`` items."""
    out, stack = [], [iter([data])]
    while stack:
        for value in stack[-1]:
            if isinstance(value, list):
                stack.append(iter(value))
                break
            out.append(value)
            if len(out) > limit:
                raise RequestError(400, f"more values than the shape holds ({limit:,})")
        else:
            stack.pop()
    return out


def _check_values(values: list, datatype: str, name: str) -> np.ndarray:
    """JSON values as an array of ``datatype``, each value checked to be of the right kind and range."""
    dtype = DATATYPES[datatype]
    if datatype == "BOOL":
        ok = all(isinstance(v, bool) for v in values)
        kind = "true or false"
    elif datatype == "BYTES":
        ok = all(isinstance(v, str) for v in values)
        kind = "strings"
    elif datatype.startswith("FP"):
        ok = all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in values)
        kind = "numbers"
    else:
        ok = all(isinstance(v, int) and not isinstance(v, bool) for v in values)
        kind = "integers"
        if ok and values:
            info = np.iinfo(dtype)
            lo, hi = min(values), max(values)
            if lo < info.min or hi > info.max:
                raise RequestError(400, f"input '{name}': {datatype} holds {info.min}..{info.max}, got "
                                        f"{lo if lo < info.min else hi}")
    if not ok:
        raise RequestError(400, f"input '{name}' is {datatype}: its data must be {kind}")
    if datatype == "BYTES":
        return np.array(values, dtype=object)
    return np.array(values, dtype=dtype)


def _decode_bytes(raw: bytes, n: int, name: str) -> np.ndarray:
    """A binary BYTES tensor: each element a 4-byte little-endian length, then its bytes."""
    out, at = [], 0
    for _ in range(n):
        if at + 4 > len(raw):
            raise RequestError(400, f"input '{name}': the binary BYTES data ends inside an element's length")
        (size,) = struct.unpack_from("<I", raw, at)
        at += 4
        if at + size > len(raw):
            raise RequestError(400, f"input '{name}': a BYTES element of {size} bytes runs past the data")
        out.append(raw[at:at + size].decode("utf-8", errors="replace"))
        at += size
    if at != len(raw):
        raise RequestError(400, f"input '{name}': {len(raw) - at} bytes after the {n} BYTES elements")
    return np.array(out, dtype=object)


def _encode_bytes(arr: np.ndarray) -> bytes:
    parts = []
    for v in arr.ravel().tolist():
        b = v if isinstance(v, bytes) else str(v).encode("utf-8")
        parts.append(struct.pack("<I", len(b)) + b)
    return b"".join(parts)


def _check_shape(shape, spec: _Tensor) -> list[int]:
    if not isinstance(shape, list) or not all(isinstance(d, int) and not isinstance(d, bool) for d in shape):
        raise RequestError(400, f"input '{spec.name}': shape must be a list of integers")
    if any(d < 0 for d in shape):
        raise RequestError(400, f"input '{spec.name}': shape {shape} has a negative dimension")
    if spec.shape is not None:
        if len(shape) != len(spec.shape):
            raise RequestError(400, f"input '{spec.name}' has {len(spec.shape)} dimensions {spec.shape}, "
                                    f"the request gives {len(shape)}: {shape}")
        for i, (got, want) in enumerate(zip(shape, spec.shape)):
            if want != -1 and got != want:
                raise RequestError(400, f"input '{spec.name}' needs size {want} at dimension {i} "
                                        f"(shape {spec.shape}), got {got}")
    return shape


def _parameters(obj, where: str) -> dict:
    params = obj.get("parameters", {})
    if not isinstance(params, dict):
        raise RequestError(400, f"{where}: 'parameters' must be an object")
    return params


def parse_infer(model: ServedModel, body: bytes, header_length: str | None):
    """An infer request's feeds and wanted outputs: (feeds, [(output, binary)], request id)."""
    binary = b""
    if header_length is not None:
        try:
            n = int(header_length)
        except ValueError:
            raise RequestError(400, "Inference-Header-Content-Length is not a number") from None
        if not 0 <= n <= len(body):
            raise RequestError(400, f"Inference-Header-Content-Length {n} is beyond the body's {len(body)} bytes")
        body, binary = body[:n], body[n:]
    request = _parse_json(body, "request")
    if not isinstance(request, dict):
        raise RequestError(400, "the request must be a JSON object with 'inputs'")
    inputs = request.get("inputs")
    if not isinstance(inputs, list) or not inputs:
        raise RequestError(400, "the request needs 'inputs', a list of tensors")
    specs = {t.name: t for t in model.inputs}
    feeds, at = {}, 0
    for item in inputs:
        if not isinstance(item, dict):
            raise RequestError(400, "each input must be an object with name, datatype, shape and data")
        name = item.get("name")
        if not isinstance(name, str):
            raise RequestError(400, "an input has no 'name'")
        spec = specs.get(name)
        if spec is None:
            raise RequestError(400, f"model '{model.name}' has no input '{name[:100]}'; its inputs: "
                                    f"{', '.join(specs)}")
        if name in feeds:
            raise RequestError(400, f"input '{name}' is given twice")
        datatype = item.get("datatype")
        if datatype not in DATATYPES:
            raise RequestError(400, f"input '{name}': datatype {str(datatype)[:30]!r} is not one of "
                                    f"{', '.join(DATATYPES)}")
        if datatype != spec.datatype:
            raise RequestError(400, f"input '{name}' is {spec.datatype}, the request gives {datatype}")
        shape = _check_shape(item.get("shape"), spec)
        count = math.prod(shape)
        params = _parameters(item, f"input '{name}'")
        size = params.get("binary_data_size")
        if size is not None:
            if not isinstance(size, int) or isinstance(size, bool) or size < 0:
                raise RequestError(400, f"input '{name}': binary_data_size must be a non-negative integer")
            if at + size > len(binary):
                raise RequestError(400, f"input '{name}': binary_data_size {size} runs past the binary data "
                                        f"({len(binary) - at} bytes left); the body is truncated")
            raw, at = binary[at:at + size], at + size
            if datatype == "BYTES":
                arr = _decode_bytes(raw, count, name)
            else:
                itemsize = np.dtype(DATATYPES[datatype]).itemsize
                if size != count * itemsize:
                    raise RequestError(400, f"input '{name}': shape {shape} of {datatype} needs "
                                            f"{count * itemsize} bytes, binary_data_size is {size}")
                arr = np.frombuffer(raw, dtype=np.dtype(DATATYPES[datatype]).newbyteorder("<")).astype(
                    DATATYPES[datatype], copy=True)
        else:
            if "data" not in item:
                raise RequestError(400, f"input '{name}' has neither 'data' nor a binary_data_size parameter")
            values = _flatten(item["data"], count)
            if len(values) != count:
                raise RequestError(400, f"input '{name}': shape {shape} holds {count} values, data has {len(values)}")
            arr = _check_values(values, datatype, name)
        feeds[name] = arr.reshape(shape)
    if at != len(binary):
        raise RequestError(400, f"{len(binary) - at} bytes of binary data that no input's binary_data_size claims")
    missing = [n for n in specs if n not in feeds]
    if missing:
        raise RequestError(400, f"model '{model.name}' needs input(s) {', '.join(missing)}")

    params = _parameters(request, "the request")
    all_binary = params.get("binary_data_output", False) is True
    outs = {t.name: t for t in model.outputs}
    wanted = request.get("outputs")
    if wanted is None:
        chosen = [(t, all_binary) for t in model.outputs]
    else:
        if not isinstance(wanted, list):
            raise RequestError(400, "'outputs' must be a list of objects with a 'name'")
        chosen = []
        for item in wanted:
            name = item.get("name") if isinstance(item, dict) else None
            if not isinstance(name, str):
                raise RequestError(400, "each requested output needs a 'name'")
            if name not in outs:
                raise RequestError(400, f"model '{model.name}' has no output '{name[:100]}'; its outputs: "
                                        f"{', '.join(outs)}")
            p = _parameters(item, f"output '{name}'")
            chosen.append((outs[name], p.get("binary_data", all_binary) is True))
    request_id = request.get("id")
    return feeds, chosen, request_id if isinstance(request_id, str) else None


def infer_response(model: ServedModel, values: list, chosen: list, request_id: str | None) -> tuple[bytes, int | None]:
    """The response body, and the JSON header's length when binary tensors follow it (else None)."""
    outputs, blobs = [], []
    for (spec, binary), value in zip(chosen, values):
        arr = np.asarray(value)
        datatype = "BYTES" if arr.dtype.kind in "OUS" else _NUMPY_TO_V2.get(arr.dtype.str, spec.datatype)
        out = {"name": spec.name, "datatype": datatype, "shape": list(arr.shape)}
        if binary:
            blob = _encode_bytes(arr) if datatype == "BYTES" else np.ascontiguousarray(arr).astype(
                arr.dtype.newbyteorder("<"), copy=False).tobytes()
            out["parameters"] = {"binary_data_size": len(blob)}
            blobs.append(blob)
        else:
            flat = arr.ravel()
            out["data"] = [str(v) for v in flat.tolist()] if datatype == "BYTES" else flat.tolist()
        outputs.append(out)
    doc = {"model_name": model.name, "model_version": "1", "outputs": outputs}
    if request_id is not None:
        doc["id"] = request_id
    head = json.dumps(doc).encode("utf-8")
    if not blobs:
        return head, None
    return head + b"".join(blobs), len(head)


# ---------------------------------------------------------------------------------- the convenience path
_MAGIC = ((b"\x89PNG\r\n\x1a\n", ".png"), (b"\xff\xd8\xff", ".jpg"), (b"GIF8", ".gif"), (b"BM", ".bmp"),
          (b"II*\x00", ".tif"), (b"MM\x00*", ".tif"))


def _image_suffix(body: bytes) -> str | None:
    for magic, suffix in _MAGIC:
        if body.startswith(magic):
            return suffix
    if body[:4] == b"RIFF" and body[8:12] == b"WEBP":
        return ".webp"
    if len(body) > 132 and body[128:132] == b"DICM":
        return ".dcm"
    return None


def score_body(model: ServedModel, body: bytes, workdir: str, top_k: int = 5) -> tuple[dict, object]:
    """One image or one CSV row (under its header) scored with the model's profile.

    Returns its jsonl record and its ResultBatch (the input named ``request.<suffix>``).
    """
    from . import writers
    from .batch import run_batches

    engine = model.engine
    if not body:
        raise RequestError(400, "the body is empty; send an image file or a CSV header and one row")
    suffix = _image_suffix(body)
    if suffix is None:
        if engine.profile.table is None and engine.profile.image is not None:
            raise RequestError(400, "this model takes images; the body is not a PNG, JPEG, GIF, BMP, TIFF, "
                                    "WebP or DICOM file")
        suffix = ".csv"
    elif engine.profile.image is None:
        raise RequestError(400, "this model takes a table; send a CSV header and one row, not an image")
    folder = tempfile.mkdtemp(dir=workdir)
    try:
        path = os.path.join(folder, "request" + suffix)
        with open(path, "wb") as fh:
            fh.write(body)
        with model.score_lock:
            batches = list(run_batches(engine, [path], top_k=top_k, workers=0, hash_inputs=True))
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    from .resultbatch import ResultBatch

    batch = ResultBatch.concat(batches) if len(batches) != 1 else batches[0]
    batch = batch.replace(sources=["request" + suffix for _ in batch.sources])
    recs = list(writers.records(batch))
    if len(recs) != 1:
        raise RequestError(400, f"send one CSV row under its header; the body has {len(recs)} rows")
    rec = recs[0]
    if not rec.get("ok"):
        raise RequestError(400, rec.get("error") or "the input could not be scored")
    return rec, batch


# -------------------------------------------------------------------------------------------- stats
class RequestStats:
    """The latency and outcome of each model request the server answered (thread-safe).

    What the window's Server panel and Latency tab show while serving: requests per second,
    latency percentiles and the failures, from the time a request's headers were read to the
    time its answer was written. Health and metadata requests are not counted.
    """

    def __init__(self, keep: int = 20_000):
        self._lock = threading.Lock()
        self._recent: deque = deque(maxlen=keep)  # (monotonic end, ms, model, status)
        self.total = 0
        self.failed = 0
        self.started = time.monotonic()

    def add(self, model: str, ms: float, status: int) -> None:
        with self._lock:
            self._recent.append((time.monotonic(), ms, model, status))
            self.total += 1
            if status >= 400:
                self.failed += 1

    def latencies(self) -> np.ndarray:
        """The kept requests' latencies in ms, oldest first."""
        with self._lock:
            return np.fromiter((r[1] for r in self._recent), dtype=np.float64, count=len(self._recent))

    def snapshot(self, window_s: float = 10.0) -> dict:
        """``{"requests", "failed", "per_s", "p50", "p95", "p99", "mean", "last"}``; ms, None before a request.

        ``per_s`` counts the requests of the last ``window_s`` seconds (fewer since the start).
        """
        with self._lock:
            recent = list(self._recent)
            total, failed = self.total, self.failed
        now = time.monotonic()
        span = max(1e-3, min(window_s, now - self.started))
        doc = {"requests": total, "failed": failed,
               "per_s": sum(1 for r in recent if now - r[0] <= span) / span,
               "p50": None, "p95": None, "p99": None, "mean": None, "last": None}
        if recent:
            ms = np.array([r[1] for r in recent])
            p50, p95, p99 = np.percentile(ms, [50, 95, 99])
            doc.update(p50=float(p50), p95=float(p95), p99=float(p99), mean=float(ms.mean()), last=float(ms[-1]))
        return doc


# ------------------------------------------------------------------------------------------- server
def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


class InferenceServer:
    """A KServe v2 server for some Engines, on a thread of its own.

    Parameters
    ----------
    models
        ``{name: Engine}``; each is served under its name.
    host, port
        Where to listen; port 0 picks a free port (read :attr:`port` after :meth:`start`).
        A host that is not a loopback address needs a ``token``.
    token
        When given, every request needs ``Authorization: Bearer <token>`` (else 401).
    max_body
        The largest request body in bytes (else 413).
    log
        Called with one line per request (None: quiet).
    on_result
        Called as ``on_result(model_name, make_batch)`` for each answered infer or score
        request; ``make_batch()`` gives its ResultBatch. It is called on the request's thread
        and must return at once (the history's :class:`~desktop.runs.serve.ServedHistory` queues
        it and makes the batch on its own thread). None: nothing is recorded.
    """

    def __init__(self, models: dict, host: str = "127.0.0.1", port: int = 0, token: str | None = None,
                 max_body: int = DEFAULT_MAX_BODY, log=None, on_result=None):
        if not models:
            raise ServeError("no model to serve")
        if token is not None and not token.strip():
            raise ServeError("the token is empty")
        if not is_loopback(host) and not token:
            raise ServeError(f"serving on {host} reaches other machines: it needs a bearer token "
                             f"(--token-file); without one, serve on 127.0.0.1")
        self.models = {name: ServedModel(name, engine) for name, engine in models.items()}
        self.host, self._port, self.token, self.max_body, self.log = host, port, token, max_body, log
        self.on_result = on_result
        self.stats = RequestStats()
        self._count = 0
        self._count_lock = threading.Lock()
        self._httpd = None
        self._thread = None
        self._workdir = None

    @property
    def port(self) -> int:
        return self._httpd.server_address[1] if self._httpd is not None else self._port

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    def start(self) -> "InferenceServer":
        handler = type("Handler", (_Handler,), {"app": self})
        server_class = ThreadingHTTPServer
        if ":" in self.host:
            import socket

            server_class = type("Server6", (ThreadingHTTPServer,), {"address_family": socket.AF_INET6})
        try:
            self._httpd = server_class((self.host.strip("[]"), self._port), handler)
        except OSError as exc:
            raise ServeError(f"cannot listen on {self.host}:{self._port}: {exc.strerror or exc}") from exc
        self._httpd.daemon_threads = True
        self._workdir = tempfile.mkdtemp(prefix="inferdesk-serve-")
        self._thread = threading.Thread(target=self._httpd.serve_forever, name="inferdesk-serve", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._httpd is None:
            return
        self._httpd.shutdown()
        self._httpd.server_close()
        self._thread.join(timeout=10)
        self._port = self._httpd.server_address[1]
        self._httpd = self._thread = None
        if self._workdir:
            shutil.rmtree(self._workdir, ignore_errors=True)
            self._workdir = None

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()

    # ---------------------------------------------------------------- routing
    def model(self, name: str) -> ServedModel:
        model = self.models.get(name)
        if model is None:
            raise RequestError(404, f"no model '{name[:100]}' here; served: {', '.join(self.models)}")
        return model

    def get(self, parts: list[str]) -> tuple[int, dict | None]:
        if parts == ["v2", "health", "live"] or parts == ["v2", "health", "ready"]:
            return 200, None
        if parts == ["v2"]:
            from .. import __version__

            return 200, {"name": "inferdesk", "version": __version__, "extensions": ["binary_tensor_data"]}
        if len(parts) >= 3 and parts[:2] == ["v2", "models"]:
            rest = _strip_version(parts[3:])
            model = self.model(parts[2])
            if rest == []:
                return 200, model.metadata()
            if rest == ["ready"]:
                return 200, None
        raise RequestError(404, f"no such path: GET /{'/'.join(parts)[:200]}")

    def post(self, parts: list[str], body: bytes, headers) -> tuple[int, dict | None, bytes | None, int | None]:
        if len(parts) >= 4 and parts[:2] == ["v2", "models"]:
            rest = _strip_version(parts[3:])
            if rest == ["infer"]:
                model = self.model(parts[2])
                feeds, chosen, request_id = parse_infer(model, body, headers.get("Inference-Header-Content-Length"))
                names = [spec.name for spec, _ in chosen]
                try:
                    if self.on_result is None:
                        values = model.run(names, feeds)
                    else:
                        outputs, values, ms = model.run_recorded(names, feeds)
                        self._record_outputs(model, outputs, ms, body, request_id)
                except Exception as exc:  # onnxruntime's own exception types: a value the model refuses
                    from .core import _explain_run_error
                    from .errors import InputError

                    raise RequestError(400, str(exc) if isinstance(exc, InputError) else _explain_run_error(exc)) from exc
                raw, header_length = infer_response(model, values, chosen, request_id)
                return 200, None, raw, header_length
            if rest == ["score"]:
                model = self.model(parts[2])
                rec, batch = score_body(model, body, self._workdir)
                if self.on_result is not None:
                    name = self._request_name(model, "score")
                    self.on_result(model.name, lambda: batch.replace(sources=[name for _ in batch.sources]))
                return 200, rec, None, None
        raise RequestError(404, f"no such path: POST /{'/'.join(parts)[:200]}")


    def _request_name(self, model: ServedModel, endpoint: str, request_id: str | None = None) -> str:
        """How a recorded request is named: its URL, numbered, with the client's id when it gave one."""
        from urllib.parse import quote

        with self._count_lock:
            self._count += 1
            n = self._count
        tail = f"&id={quote(request_id[:100], safe='')}" if request_id else ""
        return f"{self.url}/v2/models/{quote(model.name, safe='')}/{endpoint}#request={n}{tail}"

    def _record_outputs(self, model: ServedModel, outputs: list, ms: float, body: bytes, request_id) -> None:
        """Hand an infer request's outputs to ``on_result``, as ``infer request N [id]`` with the body's SHA-256."""
        from .batch import outputs_batch

        source = self._request_name(model, "infer", request_id)

        def make():
            import hashlib

            return outputs_batch(model.engine, outputs, source=source, sha256=hashlib.sha256(body).hexdigest(),
                                 infer_ms=ms)

        self.on_result(model.name, make)


def _strip_version(rest: list[str]) -> list[str] | None:
    """``versions/{v}/...`` -> ``...`` (one version, "1", is served; any is accepted)."""
    if len(rest) >= 2 and rest[0] == "versions":
        return rest[2:]
    return rest


class _Handler(BaseHTTPRequestHandler):
    app: InferenceServer
    protocol_version = "HTTP/1.1"  # keep-alive: tritonclient reuses its connections
    # TCP_NODELAY: a small answer goes at once, not after the client's delayed ACK (40 ms on Linux)
    disable_nagle_algorithm = True
    timeout = 30  # seconds a connection may sit without sending (a slow or stalled client)
    server_version = "InferDesk"

    def log_message(self, format, *args):
        if self.app.log is not None:
            self.app.log(f"{self.address_string()} {format % args}")

    def do_GET(self):
        self._handle(False)

    def do_POST(self):
        self._handle(True)

    def _handle(self, post: bool):
        t0 = time.perf_counter()
        status = 500
        try:
            status = self._answer(post)
        finally:
            parts = self.path.split("?", 1)[0].split("/")
            if post and len(parts) >= 4 and parts[1:3] == ["v2", "models"]:  # a model's request, answered
                self.app.stats.add(unquote(parts[3]), (time.perf_counter() - t0) * 1e3, status)

    def _answer(self, post: bool) -> int:
        """Read, route and answer one request; its HTTP status."""
        try:
            self._authorise()
            parts = [unquote(p) for p in urlsplit(self.path).path.split("/") if p]
            if post:
                body = self._body()
                status, doc, raw, header_length = self.app.post(parts, body, self.headers)
            else:
                self._discard_body()
                (status, doc), raw, header_length = self.app.get(parts), None, None
            if raw is not None:
                self._send(status, raw, "application/octet-stream" if header_length is not None else "application/json",
                           {"Inference-Header-Content-Length": str(header_length)} if header_length is not None else None)
            else:
                self._send(status, b"" if doc is None else json.dumps(doc).encode("utf-8"), "application/json")
            return status
        except RequestError as exc:
            self._error(exc.status, str(exc))
            return exc.status
        except (ConnectionError, TimeoutError):
            self.close_connection = True
            return 499  # the client went away
        except Exception as exc:  # a bug: answered, and the server goes on
            self._error(500, f"internal error: {type(exc).__name__}: {str(exc)[:300]}")
            return 500

    def _authorise(self):
        token = self.app.token
        if token is None:
            return
        got = self.headers.get("Authorization", "")
        scheme, _, value = got.partition(" ")
        if scheme.lower() != "bearer" or not hmac.compare_digest(value.strip().encode(), token.encode()):
            self.close_connection = True  # the body (if any) is not read
            raise RequestError(401, "a bearer token is needed: send 'Authorization: Bearer <token>'"
                               if not got else "the bearer token is wrong")

    def _length(self) -> int | None:
        if self.headers.get("Transfer-Encoding"):
            self.close_connection = True
            raise RequestError(411, "send the body with a Content-Length (chunked transfer is not accepted)")
        text = self.headers.get("Content-Length")
        if text is None:
            return None
        try:
            n = int(text)
        except ValueError:
            n = -1
        if n < 0:
            self.close_connection = True
            raise RequestError(400, f"Content-Length {text[:30]!r} is not a size")
        return n

    def _body(self) -> bytes:
        n = self._length()
        if n is None:
            self.close_connection = True
            raise RequestError(411, "a POST needs a Content-Length")
        if n > self.app.max_body:
            self._refuse_oversized(n)
        body = self.rfile.read(n)
        if len(body) != n:
            self.close_connection = True
            raise RequestError(400, f"the body ended after {len(body):,} of its {n:,} bytes")
        return body

    def _discard_body(self):
        n = self._length()
        if n:
            if n > self.app.max_body:
                self._refuse_oversized(n)
            self.rfile.read(n)

    def _refuse_oversized(self, n: int):
        """413, the connection closed after it. A body up to twice the limit is read and dropped first, in
        pieces, so that a client still sending it reads the answer instead of a broken connection; a
        larger one is not read at all."""
        self.close_connection = True
        if n <= 2 * self.app.max_body:
            left = n
            while left > 0:
                got = self.rfile.read(min(left, MiB))
                if not got:
                    break
                left -= len(got)
        raise RequestError(413, f"the body is {n:,} bytes; this server takes at most {self.app.max_body:,}")

    def _error(self, status: int, message: str):
        extra = {"WWW-Authenticate": "Bearer"} if status == 401 else None
        try:
            self._send(status, json.dumps({"error": message}).encode("utf-8"), "application/json", extra)
        except (ConnectionError, TimeoutError):
            self.close_connection = True

    def _send(self, status: int, raw: bytes, content_type: str, extra: dict | None = None):
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(raw)))
        for k, v in (extra or {}).items():
            self.send_header(k, v)
        if self.close_connection:
            self.send_header("Connection", "close")
        self._headers_buffer.append(b"\r\n" + raw)  # the headers and the body in one write
        self.flush_headers()


def client_examples(url: str, name: str, metadata: dict, *, token: bool = False, takes: str = "image") -> dict:
    """Ready-to-run calls of a served model: ``{"curl": text, "python": text}`` (the Server panel's examples).

    ``metadata`` is :meth:`ServedModel.metadata`; ``takes`` is "image" or "table" (what the
    score endpoint is sent); with ``token`` the calls send ``Authorization: Bearer $INFERDESK_TOKEN``.
    A dynamic dimension is given as 1.
    """
    auth = ' -H "Authorization: Bearer $INFERDESK_TOKEN"' if token else ""
    sample = "image.png" if takes == "image" else "row.csv"
    what = "an image file" if takes == "image" else "a CSV header line and one row"
    curl = (f"# what the model takes and gives\ncurl{auth} {url}/v2/models/{name}\n"
            f"# score {what} with the model's own preprocessing: the record inferdesk score writes\n"
            f"curl{auth} --data-binary @{sample} {url}/v2/models/{name}/score\n")
    inputs = [t for t in metadata.get("inputs", []) if t["datatype"] in DATATYPES]
    outputs = metadata.get("outputs", [])
    np_types = {"FP32": "float32", "FP64": "float64", "FP16": "float16", "INT64": "int64", "INT32": "int32",
                "INT16": "int16", "INT8": "int8", "UINT8": "uint8", "UINT16": "uint16", "BOOL": "bool_",
                "BYTES": "object_"}
    host = url.split("://", 1)[-1]
    lines = ["import numpy as np", "import tritonclient.http as httpclient", "",
             f'client = httpclient.InferenceServerClient("{host}")']
    names = []
    for k, t in enumerate(inputs):
        shape = [d if d >= 0 else 1 for d in t["shape"]]
        var = f"x{k}" if len(inputs) > 1 else "x"
        names.append(var)
        lines += [f'{var} = httpclient.InferInput("{t["name"]}", {shape}, "{t["datatype"]}")',
                  f"{var}.set_data_from_numpy(np.zeros({tuple(shape)}, dtype=np.{np_types.get(t['datatype'], 'float32')}))"]
    headers = ', headers={"Authorization": "Bearer " + token}' if token else ""
    if token:
        lines[:0] = ["import os"]
        lines.insert(4, 'token = os.environ["INFERDESK_TOKEN"]  # the token the server was given')
    lines.append(f'result = client.infer("{name}", [{", ".join(names)}]{headers})')
    if outputs:
        lines.append(f'print(result.as_numpy("{outputs[0]["name"]}"))')
    return {"curl": curl, "python": "\n".join(lines) + "\n"}
