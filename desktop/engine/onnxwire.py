"""Read what InferDesk needs from an ONNX file straight from the protobuf wire format, without importing onnx.

Importing ``onnx`` (most of it ml_dtypes) takes longer than scoring a small CSV, whose start-up
benchmarks/throughput.py times. The parts of ``ModelProto`` that inspection and the ZipMap
shortcut need are few: versions, metadata, the graph's inputs and outputs, every tensor's data
location, and ZipMap nodes. They are read here field by field; the tensors' weights are skipped
by their length, never copied. Unknown fields are skipped as protobuf does, and anything that is
not valid wire format raises WireError. Field numbers are those of onnx/onnx.proto.
"""

from __future__ import annotations

import mmap
from dataclasses import dataclass, field

#: nesting deeper than protobuf's own default limit is refused, as protobuf refuses it
MAX_DEPTH = 100

#: TensorProto.DataType -> the element type InferDesk names ("float", "double", numpy's name for the rest)
ELEM_TYPES = {
    1: "float32", 2: "uint8", 3: "int8", 4: "uint16", 5: "int16", 6: "int32", 7: "int64", 8: "object",
    9: "bool", 10: "float16", 11: "float64", 12: "uint32", 13: "uint64", 14: "complex64", 15: "complex128",
    16: "bfloat16", 17: "float8_e4m3fn", 18: "float8_e4m3fnuz", 19: "float8_e5m2", 20: "float8_e5m2fnuz",
    21: "uint4", 22: "int4", 23: "float4_e2m1fn", 24: "float8_e8m0fnu", 25: "uint2", 26: "int2",
    27: "float6_e2m3fn", 28: "float6_e3m2fn",
}
FLOAT = 1
EXTERNAL = 1  # TensorProto.DataLocation


class WireError(ValueError):
    """The bytes are not a valid protobuf message (truncated, corrupt, or not protobuf at all)."""


@dataclass
class ValueInfo:
    """A graph input or output: its name and type as (type text, shape, element type)."""

    name: str
    type: str
    shape: tuple
    elem_type: str | None
    rank_known: bool = True  # False for a tensor declared without a shape (``shape`` is then ``()``)


@dataclass
class TensorRef:
    """Where one stored tensor keeps its data: inside the file, or in an external file."""

    name: str
    external: bool
    external_data: dict  # key -> value ("location", "offset", "length", ...)


@dataclass
class ZipMapNode:
    """A ZipMap node: the tensor it reads, the output it makes and its class keys."""

    input: str
    output: str
    keys: list


@dataclass
class WireModel:
    """The parts of an ONNX ModelProto that InferDesk reads."""

    ir_version: int = 0
    producer_name: str = ""
    producer_version: str = ""
    doc_string: str = ""
    graph_doc_string: str = ""
    opsets: list = field(default_factory=list)  # (domain, version)
    metadata: list = field(default_factory=list)  # (key, value), in file order
    has_graph: bool = False
    node_count: int = 0  # nodes of the main graph
    inputs: list = field(default_factory=list)  # ValueInfo
    outputs: list = field(default_factory=list)  # ValueInfo
    initializer_names: set = field(default_factory=set)  # of the main graph
    tensors: list = field(default_factory=list)  # TensorRef: every stored tensor, subgraphs and functions too
    zipmaps: list = field(default_factory=list)  # ZipMapNode of the main graph


# ----------------------------------------------------------------------------------- wire format

def _varint(buf, pos: int, end: int) -> tuple[int, int]:
    result = shift = 0
    while True:
        if pos >= end:
            raise WireError("truncated varint")
        b = buf[pos]
        pos += 1
        result |= (b & 0x7F) << shift
        if b < 0x80:
            return result, pos
        shift += 7
        if shift >= 70:
            raise WireError("varint longer than 10 bytes")


def _signed(value: int) -> int:
    """An int64 field's value: varints carry negative numbers in two's complement over 64 bits."""
    value &= (1 << 64) - 1
    return value - (1 << 64) if value >= 1 << 63 else value


def _skip_group(buf, pos: int, end: int, number: int, depth: int) -> int:
    """Past the end of a (deprecated) group that started just before ``pos``."""
    if depth > MAX_DEPTH:
        raise WireError("nested too deeply")
    while True:
        key, pos = _varint(buf, pos, end)
        wire = key & 7
        if wire == 4:
            if key >> 3 != number:
                raise WireError("mismatched end of group")
            return pos
        pos = _skip(buf, pos, end, key >> 3, wire, depth + 1)


def _skip(buf, pos: int, end: int, number: int, wire: int, depth: int) -> int:
    if wire == 0:
        return _varint(buf, pos, end)[1]
    if wire == 1:
        pos += 8
    elif wire == 2:
        n, pos = _varint(buf, pos, end)
        pos += n
    elif wire == 5:
        pos += 4
    elif wire == 3:
        return _skip_group(buf, pos, end, number, depth)
    else:
        raise WireError(f"invalid wire type {wire}")
    if pos > end:
        raise WireError("truncated field")
    return pos


def _fields(buf, pos: int, end: int, depth: int = 0):
    """(field number, wire type, value) of each field in buf[pos:end].

    The value is the integer of a varint field, the (start, end) span of a length-delimited
    one, and None for the other wire types (skipped).
    """
    if depth > MAX_DEPTH:
        raise WireError("nested too deeply")
    while pos < end:
        key, pos = _varint(buf, pos, end)
        number, wire = key >> 3, key & 7
        if number == 0:
            raise WireError("field number 0")
        if wire == 0:
            value, pos = _varint(buf, pos, end)
        elif wire == 2:
            n, pos = _varint(buf, pos, end)
            value = (pos, pos + n)
            pos += n
            if pos > end:
                raise WireError("truncated field")
        else:
            value = None
            pos = _skip(buf, pos, end, number, wire, depth)
        yield number, wire, value


def _text(buf, span) -> str:
    return bytes(buf[span[0]:span[1]]).decode("utf-8", errors="replace")


def _ints(buf, wire: int, value) -> list:
    """A repeated int64 field's occurrence: one varint, or a packed run of them."""
    if wire == 0:
        return [_signed(value)]
    out, (pos, end) = [], value
    while pos < end:
        v, pos = _varint(buf, pos, end)
        out.append(_signed(v))
    return out


def _entry(buf, span, depth: int) -> tuple[str, str]:
    """A StringStringEntryProto: (key, value)."""
    key = value = ""
    for number, wire, v in _fields(buf, *span, depth):
        if wire == 2 and number == 1:
            key = _text(buf, v)
        elif wire == 2 and number == 2:
            value = _text(buf, v)
    return key, value


# ------------------------------------------------------------------------------------ messages

def _type(buf, span, depth: int) -> tuple[str, tuple, str | None]:
    """(type text, shape, element type) of a TypeProto, as InferDesk writes them: 'tensor(float)'.

    Every occurrence of the oneof ``value`` is read (protobuf checks them all); the last one wins.
    """
    found = ("unknown", (), None)
    for number, wire, v in _fields(buf, *span, depth):
        if wire != 2:
            continue
        if number == 1:
            found = _tensor_type(buf, v, depth + 1)
        elif number == 4:
            text = "unknown"
            for n, w, x in _fields(buf, *v, depth + 1):
                if w == 2 and n == 1:
                    text = _type(buf, x, depth + 2)[0]
            found = (f"seq({text})", (), None)
        elif number == 5:
            key, text = 0, "unknown"
            for n, w, x in _fields(buf, *v, depth + 1):
                if w == 0 and n == 1:
                    key = x
                elif w == 2 and n == 2:
                    text = _type(buf, x, depth + 2)[0]
            found = (f"map({ELEM_TYPES.get(key, '?') if key else '?'},{text})", (), None)
        elif number in (7, 8, 9):
            for _ in _fields(buf, *v, depth + 1):  # checked, not read
                pass
            found = ({7: "opaque_type", 8: "sparse_tensor_type", 9: "optional_type"}[number], (), None)
    return found


def _tensor_type(buf, span, depth: int) -> tuple[str, tuple | None, str | None]:
    """(type text, dims or None when no shape is declared, element type) of a TensorTypeProto."""
    elem_type, shape_span = 0, None
    for number, wire, v in _fields(buf, *span, depth):
        if wire == 0 and number == 1:
            elem_type = v
        elif wire == 2 and number == 2:
            shape_span = v
    if not elem_type:
        elem = "undefined"
    else:
        elem = ELEM_TYPES.get(elem_type, f"type {elem_type}")
        elem = {"float32": "float", "float64": "double"}.get(elem, elem)
    dims = []
    if shape_span is not None:
        for number, wire, v in _fields(buf, *shape_span, depth + 1):
            if wire != 2 or number != 1:
                continue
            dim = None
            for n, w, x in _fields(buf, *v, depth + 2):
                if n == 1 and w == 0:  # the oneof "value": the last one given wins
                    dim = _signed(x)
                elif n == 2 and w == 2:
                    dim = _text(buf, x)
            dims.append(dim)
    return f"tensor({elem})", tuple(dims) if shape_span is not None else None, elem


def _value_info(buf, span, depth: int) -> ValueInfo:
    name, type_span = "", None
    for number, wire, v in _fields(buf, *span, depth):
        if wire == 2 and number == 1:
            name = _text(buf, v)
        elif wire == 2 and number == 2:
            type_span = v
    text, shape, elem = _type(buf, type_span, depth + 1) if type_span else ("unknown", (), None)
    return ValueInfo(name, text, () if shape is None else shape, elem, rank_known=shape is not None)


def _tensor(buf, span, depth: int) -> TensorRef:
    name, location, external = "", 0, {}
    for number, wire, v in _fields(buf, *span, depth):
        if wire == 2 and number == 8:
            name = _text(buf, v)
        elif wire == 0 and number == 14:
            location = v
        elif wire == 2 and number == 13:
            key, value = _entry(buf, v, depth + 1)
            external[key] = value
    return TensorRef(name, location == EXTERNAL, external)


class _Reader:
    """Walks one model's bytes, collecting what WireModel holds."""

    def __init__(self, buf):
        self.buf = buf
        self.model = WireModel()

    def graph(self, span, depth: int, main: bool = False) -> None:
        buf, model = self.buf, self.model
        for number, wire, v in _fields(buf, *span, depth):
            if wire != 2:
                continue
            if number == 1:
                self.node(v, depth + 1, main)
            elif number == 5:
                tensor = _tensor(buf, v, depth + 1)
                model.tensors.append(tensor)
                if main:
                    model.initializer_names.add(tensor.name)
            elif main and number == 11:
                model.inputs.append(_value_info(buf, v, depth + 1))
            elif main and number == 12:
                model.outputs.append(_value_info(buf, v, depth + 1))
            elif main and number == 10:
                model.graph_doc_string = _text(buf, v)

    def node(self, span, depth: int, main: bool) -> None:
        buf = self.buf
        inputs, outputs, op_type, attributes = [], [], "", []
        for number, wire, v in _fields(buf, *span, depth):
            if wire != 2:
                continue
            if number == 1:
                inputs.append(_text(buf, v))
            elif number == 2:
                outputs.append(_text(buf, v))
            elif number == 4:
                op_type = _text(buf, v)
            elif number == 5:
                attributes.append(self.attribute(v, depth + 1))
        if not main:
            return
        self.model.node_count += 1
        if op_type == "ZipMap" and outputs and len(inputs) == 1:
            found = dict(attributes)
            if "classlabels_int64s" in found:
                keys = found["classlabels_int64s"][0]
            elif "classlabels_strings" in found:
                keys = [_text(buf, span) for span in found["classlabels_strings"][1]]
            else:
                return
            self.model.zipmaps.append(ZipMapNode(inputs[0], outputs[0], keys))

    def attribute(self, span, depth: int) -> tuple[str, tuple[list, list]]:
        """(name, (ints, string spans)) of an AttributeProto; its tensors and graphs are walked."""
        buf = self.buf
        name, ints, strings = "", [], []
        for number, wire, v in _fields(buf, *span, depth):
            if number == 1 and wire == 2:
                name = _text(buf, v)
            elif number == 8 and wire in (0, 2):
                ints += _ints(buf, wire, v)
            elif number == 9 and wire == 2:
                strings.append(v)
            elif number in (5, 10) and wire == 2:  # t, tensors
                self.model.tensors.append(_tensor(buf, v, depth + 1))
            elif number in (6, 11) and wire == 2:  # g, graphs
                self.graph(v, depth + 1)
        return name, (ints, strings)

    def read(self, end: int) -> WireModel:
        buf, model = self.buf, self.model
        for number, wire, v in _fields(buf, 0, end):
            if number == 1 and wire == 0:
                model.ir_version = _signed(v)
            elif wire != 2:
                continue
            elif number == 2:
                model.producer_name = _text(buf, v)
            elif number == 3:
                model.producer_version = _text(buf, v)
            elif number == 6:
                model.doc_string = _text(buf, v)
            elif number == 7:  # a second graph field merges into the first, as protobuf merges it
                model.has_graph = True
                self.graph(v, 1, main=True)
            elif number == 8:
                domain, version = "", 0
                for n, w, x in _fields(buf, *v, 1):
                    if n == 1 and w == 2:
                        domain = _text(buf, x)
                    elif n == 2 and w == 0:
                        version = _signed(x)
                model.opsets.append((domain, version))
            elif number == 14:
                model.metadata.append(_entry(buf, v, 1))
            elif number == 25:  # functions: only their nodes' tensors matter
                for n, w, x in _fields(buf, *v, 1):
                    if n == 7 and w == 2:
                        self.node(x, 2, main=False)
        return model


def read_model(path) -> WireModel:
    """The parts of the ONNX file at ``path`` that InferDesk needs; raises WireError or OSError.

    The file is memory-mapped, so a model of several gigabytes costs no more memory than its
    graph's structure.
    """
    with open(path, "rb") as fh:
        try:
            buf = mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_READ)
        except (OSError, ValueError):  # an empty file, or one that cannot be mapped
            return read_model_bytes(fh.read())
    with buf:
        return _Reader(buf).read(len(buf))


def read_model_bytes(data: bytes) -> WireModel:
    """:func:`read_model` for a model held in memory."""
    return _Reader(data).read(len(data))


# ------------------------------------------------------------------------------------ writing

def _varint_bytes(value: int) -> bytes:
    out = bytearray()
    while True:
        b = value & 0x7F
        value >>= 7
        if value:
            out.append(b | 0x80)
        else:
            out.append(b)
            return bytes(out)


def _delimited(number: int, payload: bytes) -> bytes:
    return _varint_bytes(number << 3 | 2) + _varint_bytes(len(payload)) + payload


def with_float_outputs(data: bytes, names) -> bytes:
    """The model ``data`` with each of ``names`` added as a float tensor output of its graph (no shape).

    A second ``graph`` field is appended: protobuf parsers merge repeated occurrences of a
    message field, so the graph's outputs gain these and nothing else changes.
    """
    outputs = b"".join(
        _delimited(12, _delimited(1, name.encode("utf-8")) + _delimited(2, _delimited(1, bytes([0x08, FLOAT]))))
        for name in names
    )
    return data + _delimited(7, outputs) if outputs else data
