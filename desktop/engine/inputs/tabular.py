"""Read CSV tables: match columns to the model's features by name, parse rows in vectorised chunks."""

from __future__ import annotations

import contextlib
import csv
import io
import math
import os
import queue
import re
import threading
import warnings
from dataclasses import dataclass, field

import numpy as np

from ..errors import InputError
from ..files import open_regular

_SAMPLE = 64 * 1024
FIELD_LIMIT = 1 << 20  # one cell may hold at most 1 MiB of text
WHOLE_READ_BYTES = 32 << 20  # CSV files up to this size are parsed in one pandas call
READ_AHEAD = 2  # chunks of a larger file parsed by a background thread ahead of the one being scored
#: smaller CSV files are read by the csv module: importing pandas takes longer than parsing them
SMALL_FILE_BYTES = 1 << 20
LINE_LIMIT = 4 << 20  # one line may hold at most 4 Mi characters; a longer one is skipped unread, with a message
#: what a line over LINE_LIMIT becomes for the csv module (private-use characters, never in real data)
_LONG_LINE = "\ue000inferdesk: line too long\ue000"


def _name(path) -> str:
    return os.path.basename(str(path))


def _encoding(head: bytes) -> str:
    if head.startswith(b"\xef\xbb\xbf"):
        return "utf-8-sig"
    try:
        head.decode("utf-8")
        return "utf-8-sig"
    except UnicodeDecodeError as exc:
        if exc.start >= len(head) - 3:  # a multi-byte character cut by the sample's end
            return "utf-8-sig"
        return "cp1252"  # Excel on Windows writes this when asked for plain "CSV"


_WHITE = np.zeros(256, dtype=bool)
_WHITE[list(b" \t\n\r\x0b\x0c")] = True


def count_rows(path: str | os.PathLike, block: int = 4 << 20) -> int:
    """Number of records after the header that hold something (the rows a table will give).

    A record ends at a line break outside double quotes: a quoted cell may hold line breaks,
    as spreadsheets write multi-line cells. A quote opens a cell only where a cell begins (at
    a line's start, after a delimiter, or right after the quote that closed the cell before,
    which makes an escaped ``""``); one inside an unquoted cell is a character, as the csv
    module reads it. Records that are blank (white space only) are not counted; where the
    readers disagree (an empty quoted cell alone on its line), the count is the larger.
    Reads a block at a time with numpy and holds a few flags per byte of it, whatever the
    lines' lengths; quotes are followed one by one only in a block where some quote is not
    where a cell begins.
    """
    try:
        n = _scan(path, SPAN_GRAIN, block).records
    except OSError:
        return 1
    return max(n - 1, 0)


#: the records whose ends a scan keeps (every SPAN_GRAIN-th): a cluster run's spans are multiples of it, so the
#: scan that counted a CSV's rows also says where to cut it
SPAN_GRAIN = 65536
_SCANS: dict = {}  # (path, size, mtime, grain) -> _Scan, the last few


@dataclass(frozen=True)
class _Scan:
    """A pass over a CSV's records: how many hold something, and where every ``grain``-th of them ends.

    ``marks``: {index among the records that hold something (0 is a header, if any): (the offset
    just after it, the line breaks up to there)}, for the indices ``i`` with ``i % grain`` 0 or grain-1.
    """

    records: int
    marks: dict
    grain: int


def _scan(path, grain: int, block: int = 4 << 20) -> _Scan:
    st = os.stat(path)
    key = (os.path.abspath(path), st.st_size, st.st_mtime_ns, grain)
    found = _SCANS.get(key)
    if found is not None:
        return found
    n = 0
    marks: dict = {}
    for ends, through, held in _records(path, block):
        e, t = ends[held], through[held]
        i = n + np.arange(len(e))
        keep = np.flatnonzero((i % grain == 0) | (i % grain == grain - 1))
        marks.update(zip(i[keep].tolist(), zip((e[keep] + 1).tolist(), t[keep].tolist())))
        n += len(e)
    scan = _Scan(n, marks, grain)
    if len(_SCANS) >= 8:
        _SCANS.pop(next(iter(_SCANS)))
    _SCANS[key] = scan
    return scan


def _records(path, block: int = 4 << 20):
    """The file's records, a block at a time: ``(ends, lines, held)`` arrays per block read.

    ``ends``: the absolute byte offset of each record's last byte (its line break, or the file's
    last byte for a last record without one); ``lines``: the line breaks (``\\n``, inside quotes
    too) in the file up to and including that byte; ``held``: whether the record holds
    something (not white space only). See :func:`count_rows` for what a record is.
    """
    starts_cell = np.zeros(256, dtype=bool)  # bytes after which a quote opens a cell
    starts_cell[list(b"\n\r,;\t|")] = True

    def quoted_breaks(raw, breaks, quoted: bool, before: int, closed_before: bool):
        """(each line break inside a quoted cell?, quoted at the block's end, its last byte closed a cell)."""
        quotes = np.flatnonzero(raw == 34)
        opening = quotes[(np.arange(len(quotes)) + quoted) % 2 == 0]  # by the count of quotes before each
        prev = raw[opening - 1]
        if len(opening) and opening[0] == 0:
            prev[0] = before
        ok = starts_cell[prev] | (prev == 34)  # after a quote: it closed a cell (the count says so), "" escapes
        if len(opening) and opening[0] == 0 and before == 34 and not closed_before:
            ok[0] = False  # the quote before was a character inside an unquoted cell
        if ok.all():  # every quote opens, closes or escapes: the count of quotes before a break says it
            end_quoted = bool((len(quotes) + quoted) % 2)
            closed = bool(len(quotes)) and quotes[-1] == len(raw) - 1 and not end_quoted
            return (np.searchsorted(quotes, breaks) + quoted) % 2 == 1, end_quoted, closed
        opens, closes = ([-1] if quoted else []), []
        for p in quotes.tolist():
            if quoted:
                quoted = False
                closes.append(p)
            else:
                b = int(raw[p - 1]) if p else before
                if starts_cell[b] or (b == 34 and ((closes and closes[-1] == p - 1) or (p == 0 and closed_before))):
                    quoted = True
                    opens.append(p)
        last = np.searchsorted(np.asarray(opens, dtype=np.int64), breaks) - 1  # the cell opened last before each
        closes_after = np.asarray(closes + [len(raw)], dtype=np.int64)
        inside = (last >= 0) & (closes_after[np.maximum(last, 0)] > breaks)
        return inside, quoted, bool(closes) and closes[-1] == len(raw) - 1

    held = False  # the record read so far (it began in an earlier block) holds something
    quoted = False  # inside a quoted cell where the last block ended
    before, closed_before = 10, False  # the last byte read, and whether it closed a quoted cell
    lines = 0  # line breaks in the blocks read before
    none = np.zeros(0, dtype=np.int64)
    with open(path, "rb") as fh:
        offset = 3 if fh.read(3) == b"\xef\xbb\xbf" else 0  # a UTF-8 byte order mark is not part of the first cell
        fh.seek(offset)
        while chunk := fh.read(block):
            raw = np.frombuffer(chunk, dtype=np.uint8)
            breaks = ends = np.flatnonzero(raw == 10)
            if quoted or b'"' in chunk:
                inside, quoted, closed_before = quoted_breaks(raw, ends, quoted, before, closed_before)
                ends = ends[~inside]
            else:
                closed_before = False
            before = int(raw[-1])
            solid = ~_WHITE[raw]
            if not len(ends):
                held = held or bool(solid.any())
            else:
                # whether each record holds something: the records start at 0 and after each end (a record's
                # own line break is white, so each piece up to the next start says it)
                starts = np.concatenate(([0], ends + 1))
                tail = starts[-1] < len(raw)
                full = np.logical_or.reduceat(solid, starts if tail else starts[:-1])
                flags = full[:len(ends)].copy()
                flags[0] = flags[0] or held
                held = bool(tail and full[-1])
                through = lines + np.searchsorted(breaks, ends) + 1  # ends are some of the breaks
                yield ends + offset, through, flags
            lines += len(breaks)
            offset += len(raw)
    if held:
        yield np.array([offset - 1], dtype=np.int64), np.array([lines]), np.ones(1, dtype=bool)
    else:
        yield none, none, none.astype(bool)


@dataclass(frozen=True)
class Span:
    """Consecutive data rows of a CSV file, as byte offsets: one partition of a cluster run.

    ``start``/``stop``: the rows' bytes, ``[start, stop)``, whole records; ``first_row``: how many
    data rows come before them (their numbers continue from it); ``lines_before``: the line breaks
    before ``start``; ``rows``: the records it holds that are not blank; ``header_end``: where the
    header record ends (0 for a file without one); ``header_lines``: the line breaks up to there.
    """

    start: int
    stop: int
    first_row: int
    lines_before: int
    rows: int
    header_end: int
    header_lines: int


def table_spans(path, rows_per_span: int, header: bool = True, block: int = 4 << 20) -> list[Span]:
    """The file cut into spans of ``rows_per_span`` records each (the last holds the rest), from one pass
    over its bytes (:func:`_records`: a quoted line break stays inside its record), which is the one that
    counted its rows (:func:`count_rows`) when ``rows_per_span`` is a multiple of SPAN_GRAIN.

    Records are counted as :func:`count_rows` counts them. Raises OSError when the file cannot be read.
    """
    size = os.path.getsize(path)
    scan = _scan(path, SPAN_GRAIN if rows_per_span % SPAN_GRAIN == 0 else rows_per_span, block)
    first = 1 if header else 0  # the index of the first data record among those that hold something
    if header and scan.records:
        header_end, header_lines = scan.marks[0]
    else:
        header_end = header_lines = 0
    data = max(scan.records - first, 0)
    cuts = [(header_end, header_lines)]  # where each span starts
    for k in range(1, -(-data // rows_per_span)):
        cuts.append(scan.marks[first + k * rows_per_span - 1])
    spans = []
    for k, (start, lines) in enumerate(cuts):
        stop = cuts[k + 1][0] if k + 1 < len(cuts) else size
        rows = min(rows_per_span, data - k * rows_per_span)
        spans.append(Span(start, stop, k * rows_per_span, lines, max(rows, 0), header_end, header_lines))
    return spans


def span_piece(path, span: Span, target) -> None:
    """Write ``span`` of the CSV ``path`` as a CSV file of its own at ``target``: the header, then a line
    break for every line before the span (blank lines, which no reader counts as rows, so every line
    keeps its number in messages), then the span's bytes."""
    with open(path, "rb") as src, open(target, "wb") as out:
        out.write(src.read(span.header_end))
        pad = span.lines_before - span.header_lines
        while pad > 0:
            n = min(pad, 1 << 20)
            out.write(b"\n" * n)
            pad -= n
        src.seek(span.start)
        left = span.stop - span.start
        while left > 0:
            data = src.read(min(left, 4 << 20))
            if not data:
                break
            out.write(data)
            left -= len(data)


def _has_long_line(path, limit: int = LINE_LIMIT, block: int = 1 << 20) -> bool:
    """True when some line of the file is longer than ``limit`` bytes; reads in blocks, holds one.

    A line wholly inside a block is shorter than the block, so only the run of bytes since the
    last line break, carried from block to block, needs checking.
    """
    block = min(block, limit)
    run = 0  # bytes since the last line break
    with open(path, "rb") as fh:
        while chunk := fh.read(block):
            first = chunk.find(b"\n")
            if first < 0:
                run += len(chunk)
                if run > limit:
                    return True
                continue
            if run + first > limit:
                return True
            run = len(chunk) - chunk.rfind(b"\n") - 1
    return run > limit


def _guarded_lines(fh, too_long: dict):
    """The lines of a text file for the csv module; a line over LINE_LIMIT characters is read in
    pieces, dropped, and given as the _LONG_LINE marker (its length kept in ``too_long`` by line number).
    """
    number = 0
    while line := fh.readline(LINE_LIMIT + 1):
        number += 1
        if len(line) > LINE_LIMIT and not line.endswith(("\n", "\r")):
            length = len(line)
            while piece := fh.readline(LINE_LIMIT):
                length += len(piece)
                if piece.endswith(("\n", "\r")):
                    break
            too_long[number] = length
            yield _LONG_LINE + "\n"
            continue
        yield line


def _csv_problem(exc: Exception) -> str:
    text = str(exc)
    if "field larger than field limit" in text:
        return f"a cell is longer than {FIELD_LIMIT:,} characters"
    return text


#: a number as pandas' C parser reads one: ASCII digits, a point, an exponent (cells are stripped first)
_NUMBER = re.compile(r"[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?", re.ASCII)
#: what both readers take for NaN or an infinity: refused as "not a finite number"
_NOT_FINITE = re.compile(r"[+-]?(?:inf|infinity|nan)", re.ASCII | re.IGNORECASE)


def _plain(text: str) -> bool:
    """No underscore and no digit other than 0-9: numpy's float parser reads '1_000' and '٣.٥', pandas'
    does not, so the csv-module reader refuses them too."""
    return text.isascii() and "_" not in text


#: whole numbers for an integer input are read as float64, exact up to this size; larger ones are refused
EXACT_INT = 2 ** 53 - 1


@dataclass(frozen=True)
class _Bounds:
    """What the columns feeding one input type may hold: numbers from ``low`` to ``high``, whole or not."""

    dtype: np.dtype
    low: float
    high: float
    whole: bool


def _bounds(dtype) -> _Bounds | None:
    """The bounds for a column feeding an input of ``dtype``; None when any finite float64 fits."""
    dt = np.dtype(dtype)
    if dt.kind == "f":
        if dt.itemsize >= 8:
            return None
        info = np.finfo(dt)
        # half-way from the largest finite value to the next power of two is where rounding gives infinity
        top = float(np.nextafter(2.0 ** info.maxexp * (1 - 2.0 ** -(info.nmant + 2)), 0))
        return _Bounds(dt, -top, top, False)
    if dt.kind == "b":
        return _Bounds(dt, 0.0, 1.0, True)
    if dt.kind in "iu":
        info = np.iinfo(dt)
        return _Bounds(dt, float(max(int(info.min), -EXACT_INT)), float(min(int(info.max), EXACT_INT)), True)
    return None


def _is_number(text: str, decimal_comma: bool = False) -> bool:
    t = text.strip()
    if decimal_comma:
        t = t.replace(",", ".")
    try:
        float(t)
    except ValueError:
        return False
    return bool(t)


@dataclass
class TableChunk:
    """Consecutive rows of a table: their numbers, parsed values and per-row errors."""

    rows: list  # 1-based data row numbers
    #: (len(rows), n_features) float64; a text column holds NaN; rows with an error hold zeros
    values: np.ndarray
    errors: list  # None or a message, per row
    cells: dict = field(default_factory=dict)  # chunk index -> raw cell text of the used columns, failed rows only
    #: pass-through column name -> the text of its cell in every row (failed rows too), file order
    passthrough: dict = field(default_factory=dict)
    #: feature index -> its cells (stripped) as an object array of str, for the columns read as text
    texts: dict = field(default_factory=dict)


class TableReader:
    """A CSV file opened for scoring.

    Parameters
    ----------
    path
        The CSV (or TSV) file.
    columns
        The model's feature names in model order; ``None`` takes the first ``n_features``
        numeric columns in file order.
    n_features
        How many features the model takes, when known.
    passthrough
        The columns that are not model features and travel with each row as text
        (``TableChunk.passthrough``): True for all of them, False for none, or a list of names
        (matched as feature names are; a name the file lacks is refused).
    types
        The numpy type of the model input that the features feed: one for all of them, or one per
        feature column. A row with a value that type cannot hold (beyond float32's range, a
        fraction or an out-of-range number for an integer type) is refused, naming the value.
        None: any finite number. ``object`` (a string input): the column is read as text
        (``TableChunk.texts``), its cells stripped; an empty one refuses its row.
    first_row, parser, encoding
        For a piece of a larger file (:func:`span_piece`, a cluster's partition): the data rows
        before it (its rows are numbered on from there), and the reader (``"pandas"`` or ``"csv"``)
        and text encoding the whole file is read with, so its rows parse exactly as they would there.

    Attributes
    ----------
    columns, indices
        The model's feature columns and their positions in the file.
    passthrough_columns
        The kept non-feature columns, in file order.
    ignored_columns
        The other named non-feature columns (not kept; a repeated name after its first column too).
    extra_columns
        Every named non-feature column: the two lists above together.
    """

    def __init__(self, path, columns=None, n_features: int | None = None, passthrough=True, types=None, *,
                 first_row: int = 0, parser: str | None = None, encoding: str | None = None):
        self.path = str(path)
        self.first_row = first_row
        self.name = _name(path)
        try:
            with open_regular(path, InputError, self.name) as fh:  # a FIFO swapped in after listing is refused
                size = os.fstat(fh.fileno()).st_size
                head = fh.read(_SAMPLE)
        except OSError as exc:
            raise InputError(f"{self.name}: cannot read the file ({exc.strerror or exc})") from exc
        if size == 0 or not head.strip(b"\xef\xbb\xbf \t\r\n"):
            raise InputError(f"{self.name}: the file is empty")
        if head.startswith((b"\xff\xfe", b"\xfe\xff")):
            raise InputError(f"{self.name}: the file is UTF-16 text (Excel's \"Unicode Text\"); save it as "
                             "\"CSV UTF-8\" instead")
        if b"\x00" in head:
            raise InputError(f"{self.name}: this is a binary file, not a CSV text file")
        self.encoding = encoding or _encoding(head)
        lines = head.decode(self.encoding, errors="replace").lstrip("\ufeff").splitlines()
        first_line = next((line for line in lines if line.strip()), lines[0] if lines else "")
        self.delimiter = self._delimiter(first_line)
        self.decimal_comma = self.delimiter == ";"
        csv.field_size_limit(max(csv.field_size_limit(), FIELD_LIMIT))
        self._open("strict")
        try:
            header = next(self._reader)
            while not any(c.strip() for c in header):  # blank lines above the header row
                header = next(self._reader)
        except (csv.Error, UnicodeDecodeError) as exc:
            self.close()
            raise InputError(f"{self.name}: the header line cannot be read ({_csv_problem(exc)})") from exc
        except StopIteration:
            self.close()
            raise InputError(f"{self.name}: the file is empty") from None
        if header == [_LONG_LINE]:
            self.close()
            raise InputError(
                f"{self.name}: the first line is {self._too_long[self._reader.line_num]:,} characters long, over "
                f"the {LINE_LIMIT:,}-character limit for one line; is this really a CSV file?"
            )
        self.header = [h.strip() for h in header]
        self._no_header = False
        self._offsets = None
        self._ahead: _Ahead | None = None
        self._resolve(columns, n_features)
        self._choose_passthrough(passthrough)
        self._set_types(types)
        if parser is None:
            parser = "pandas" if size > SMALL_FILE_BYTES else "csv"
        self.parser = parser  # what reads the rows; a cluster's partitions are read as their whole file would be
        self._use_pandas = parser == "pandas" and _pandas() is not None  # imported now, not in the first chunk

    def _open(self, errors: str) -> None:
        """(Re)open the file for the csv module, from its start, with over-long lines guarded."""
        self._too_long: dict = {}
        self._strict = errors == "strict"
        self._fh = open(self.path, "r", encoding=self.encoding, newline="", errors=errors)
        self._reader = csv.reader(_guarded_lines(self._fh, self._too_long), delimiter=self.delimiter)

    @staticmethod
    def _delimiter(line: str) -> str:
        counts = {d: line.count(d) for d in (",", ";", "\t")}
        best = max(counts, key=counts.get)
        return best if counts[best] else ","

    def _resolve(self, columns, n_features):
        header = self.header
        if columns is None:
            if all(_is_number(h, self.decimal_comma) for h in header if h):
                # no header row and no names to match: read every line as data, columns by position
                self._fh.close()
                self._open("strict")
                self.header = [f"column {i + 1}" for i in range(len(header))]
                self._no_header = True
            idx = list(range(len(header)))
            if n_features is not None:
                idx = idx[:n_features]
            if n_features is not None and len(idx) < n_features:
                self.close()
                raise InputError(
                    f"{self.name}: the model takes {n_features} features, the file has {len(idx)} columns"
                )
            self.columns = [self.header[i] for i in idx]
            self.indices = idx
            return
        if header and all(_is_number(h, self.decimal_comma) for h in header if h) and any(header):
            self.close()
            raise InputError(
                f"{self.name}: the first line holds numbers, not column names; add a header row naming "
                f"the columns ({', '.join(list(columns)[:3])}{', …' if len(columns) > 3 else ''})"
            )
        position = {}
        folded = {}
        for i, h in enumerate(header):
            position.setdefault(h, i)
            folded.setdefault(_fold(h), i)
        idx, missing = [], []
        for col in columns:
            if col in position:
                idx.append(position[col])
            elif _fold(col) in folded:
                idx.append(folded[_fold(col)])
            else:
                missing.append(col)
        if missing:
            self.close()
            shown = ", ".join(f"'{m}'" for m in missing)
            raise InputError(
                f"{self.name}: missing column{'s' if len(missing) > 1 else ''} {shown} that the model needs"
            )
        self.columns = list(columns)
        self.indices = idx

    def _choose_passthrough(self, wanted) -> None:
        """Set passthrough_columns and ignored_columns (and the kept positions) from ``passthrough``."""
        features = set(self.indices)
        feature_names = {self.header[i] for i in self.indices} | set(self.columns)
        candidates = {}  # name -> position of each named non-feature column; a repeated name: its first column
        for i, h in enumerate(self.header):
            if i not in features and h and h not in feature_names:
                candidates.setdefault(h, i)
        if wanted is True:
            kept = set(candidates.values())
        elif not wanted:
            kept = set()
        else:
            folded = {}
            for h, i in candidates.items():
                folded.setdefault(_fold(h), i)
            folded_features = {_fold(h) for h in feature_names}
            kept, missing = set(), []
            for name in wanted:
                if name in candidates:
                    kept.add(candidates[name])
                elif _fold(name) in folded:
                    kept.add(folded[_fold(name)])
                elif _fold(name) not in folded_features:  # a feature is in every result already
                    missing.append(name)
            if missing:
                self.close()
                shown = ", ".join(f"'{m}'" for m in missing)
                raise InputError(f"{self.name}: missing pass-through column{'s' if len(missing) > 1 else ''} "
                                 f"{shown} that the profile names (table.passthrough)")
        named = [(i, h) for i, h in enumerate(self.header) if i not in features and h]
        self.passthrough_indices = sorted(kept)
        self.passthrough_columns = [self.header[i] for i in self.passthrough_indices]
        self.ignored_columns = [h for i, h in named if i not in kept]
        self.extra_columns = [h for _, h in named]

    def _set_types(self, types) -> None:
        """Which feature columns are text, the bounds of the others, and the checks grouped by bounds.

        The checks' columns count among the numeric columns only (None: all of them).
        """
        n = len(self.indices)
        if types is None or isinstance(types, (str, type, np.dtype)):
            types = [types] * n
        elif len(types) != n:
            self.close()
            raise ValueError(f"{len(types)} input types for {n} feature columns")
        types = [None if t is None else np.dtype(t) for t in types]
        self.text_features = [j for j, t in enumerate(types) if t is not None and t.kind in "OSU"]
        numeric = [j for j in range(n) if j not in self.text_features]
        self._numeric = np.array(numeric, dtype=np.intp) if self.text_features else None
        self._bounds = [None if t is None or j in self.text_features else _bounds(t) for j, t in enumerate(types)]
        groups: dict = {}
        for p, j in enumerate(numeric):
            if self._bounds[j] is not None:
                groups.setdefault(self._bounds[j], []).append(p)
        self._checks = [(None if len(cols) == len(numeric) else np.array(cols, dtype=np.intp), b)
                        for b, cols in groups.items()]

    def _unfit(self, values: np.ndarray) -> np.ndarray:
        """Which rows of an (n, features) float64 block hold a value the model cannot take: NaN, an
        infinity, or one beyond what its input type holds (the text columns are not looked at)."""
        return self._unfit_numbers(values if self._numeric is None else values[:, self._numeric])

    def _unfit_numbers(self, values: np.ndarray) -> np.ndarray:
        """:meth:`_unfit` for a block of the numeric feature columns alone.

        A block whose smallest and largest values are finite and within every float type's range
        (the usual case) costs two reductions and no temporary array.
        """
        n = len(values)
        if not values.size:
            return np.zeros(n, dtype=bool)
        low, high = values.min(), values.max()  # NaN if any value is NaN
        if (np.isfinite(low) and np.isfinite(high)
                and all(not b.whole and b.low <= low and high <= b.high for _, b in self._checks)):
            return np.zeros(n, dtype=bool)
        with np.errstate(invalid="ignore"):
            bad = ~np.isfinite(values).all(axis=1)
            for cols, b in self._checks:
                part = values if cols is None else values[:, cols]
                bad |= ((part < b.low) | (part > b.high)).any(axis=1)
                if b.whole:
                    bad |= (part != np.floor(part)).any(axis=1)
        return bad

    def close(self):
        ahead, self._ahead = getattr(self, "_ahead", None), None
        if ahead is not None:
            ahead.close()  # before the file is closed under it
        fh = getattr(self, "_fh", None)
        if fh is not None:
            fh.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def _cell_error(self, row: int, line: int, cells: list) -> str:
        """The message for a row that did not parse: its first cell that is not a usable number, by column."""
        for j, (col, cell) in enumerate(zip(self.columns, cells)):
            if j in self.text_features:
                problem = None if cell.strip() else "is empty"
            else:
                problem = self._cell_problem(cell, self._bounds[j])
            if problem:
                return f"row {row} (line {line}): column '{col}' {problem}"
        return f"row {row} (line {line}): cannot read the values"

    def _cell_problem(self, cell: str, bounds: _Bounds | None = None) -> str | None:
        """What is wrong with one numeric cell ('is empty', 'is not a number: ...'), or None."""
        text = cell.strip()
        if not text:
            return "is empty"
        number = text.replace(",", ".") if self.decimal_comma else text
        shown = text if len(text) <= 40 else text[:37] + "..."
        if _NOT_FINITE.fullmatch(number):
            return f"is not a finite number: '{shown}'"
        if not _NUMBER.fullmatch(number):
            if any(c.isdigit() and not c.isascii() for c in text):
                return f"is not a number: '{shown}' (write numbers with the digits 0-9)"
            return f"is not a number: '{shown}'"
        value = float(number)
        if not math.isfinite(value):  # 1e400: beyond even float64
            return f"is not a finite number: '{shown}'"
        if bounds is None:
            return None
        name = bounds.dtype.name
        if bounds.whole and value != math.floor(value):
            return f"is '{shown}', not a whole number (the model's input is {name})"
        if bounds.low <= value <= bounds.high:
            return None
        if not bounds.whole:
            return f"is '{shown}', beyond the range of the model's {name} input (±{bounds.high:.7g})"
        info = np.iinfo(bounds.dtype) if bounds.dtype.kind != "b" else None
        exact = int(number) if "." not in number and "e" not in number.lower() else value
        if info is not None and info.min <= exact <= info.max:
            return (f"is '{shown}', too large to be read exactly (whole numbers up to ±{EXACT_INT:,} "
                    f"for the model's {name} input)")
        span = "0 to 1" if info is None else f"{info.min} to {info.max}"
        return f"is '{shown}', outside the range of the model's {name} input ({span})"

    def chunks(self, size: int = 4096):
        """Yield TableChunk objects of up to ``size`` rows, in file order.

        pandas' C parser reads a file over SMALL_FILE_BYTES (it parses the numbers in C, where the
        csv module makes a Python string of every cell); a line it cannot take (more cells than
        the header, or text that is not in the file's encoding) hands the rest of the file to the
        csv module, which gives each such row its own message.
        """
        done = self.first_row
        if self._long_lines():
            self._reopen(skip=0)  # the csv module reads such a file, skipping the long lines unread
        elif self._use_pandas:
            source = self._pandas_chunks(size)
            if os.path.getsize(self.path) > WHOLE_READ_BYTES and READ_AHEAD:
                # pandas' tokenizer and number parser release the GIL, so the next chunks are parsed
                # while the caller scores, writes and stores this one
                self._ahead = source = _Ahead(source, READ_AHEAD)
            try:
                for chunk in source:
                    done = chunk.rows[-1]
                    yield chunk
                return
            except _Fallback as exc:
                self._fall_back(exc, done)
            finally:
                if self._ahead is not None:
                    self._ahead.close()
                    self._ahead = None
        while True:
            try:
                for chunk in self._csv_chunks(size, done):
                    done = chunk.rows[-1]
                    yield chunk
                return
            except _Fallback as exc:  # text that is not in the file's encoding, read strictly so far
                self._fall_back(exc, done)

    def _fall_back(self, exc: "_Fallback", done: int) -> None:
        """The csv module reads on after ``done`` rows, undecodable bytes replaced."""
        if isinstance(exc.__cause__, UnicodeDecodeError) and self.encoding == "utf-8-sig":
            self.encoding = "cp1252"  # UTF-8 at the start, something else later: Excel's ANSI
        self._reopen(skip=done - self.first_row)

    def _long_lines(self) -> bool:
        try:
            return _has_long_line(self.path)
        except OSError as exc:
            raise InputError(f"{self.name}: cannot read the file ({exc.strerror or exc})") from exc

    def _reopen(self, skip: int) -> None:
        """Start the csv-module reader again, after the header and ``skip`` data rows."""
        self.close()
        self._open("replace")
        skip += 0 if self._no_header else 1
        while skip:
            try:
                record = next(self._reader, None)
            except csv.Error:  # a row of its own for _csv_chunks
                skip -= 1
                continue
            if record is None:
                return
            if not _blank(record):
                skip -= 1

    def _pandas_chunks(self, size: int):
        pd = _pandas()
        features = set(self.indices)
        needed = sorted(features | set(self.passthrough_indices))
        # Usually every column is read (no usecols) with index_col=False: a row with more cells than
        # the header then stops pandas (an error, or a ParserWarning made one) instead of being cut
        # silently, and the csv module, which refuses such rows one by one, takes over.
        # When most columns are neither features nor passed through (a wide file), only the needed
        # ones are read, so memory follows them rather than the file's width; pandas then cuts long
        # rows without a word, so the lines with more delimiters than the header are found first
        # (_crowded_lines) and each is looked at again.
        # A file up to WHOLE_READ_BYTES is read in one call (faster than pandas' chunked reader)
        # and handed out in slices; a larger one is read chunk by chunk.
        crowded = None
        if 2 * len(needed) <= len(self.header):
            crowded = self._crowded_rows()
            at = {k: i for i, k in enumerate(needed)}  # a file column -> its position in the frame
        else:
            needed, at = None, {k: k for k in range(len(self.header))}
        order = [at[k] for k in self.indices]
        kept = [at[k] for k in self.passthrough_indices]
        text = {self.indices[j] for j in self.text_features}  # file columns read as text for the model
        whole = os.path.getsize(self.path) <= WHOLE_READ_BYTES
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("error", pd.errors.ParserWarning)
                reader = pd.read_csv(
                    self.path, sep=self.delimiter, header=None if self._no_header else 0, index_col=False,
                    usecols=needed, chunksize=None if whole else size, encoding=self.encoding,
                    decimal="," if self.decimal_comma else ".", keep_default_na=False, na_values=[""],
                    # the other columns as text: kept as written, and cheaper than guessing their type
                    dtype={i: str for i in (needed or range(len(self.header))) if i not in features or i in text}
                    or None,
                    skip_blank_lines=True, engine="c", skipinitialspace=True, encoding_errors="strict",
                )
        except (ValueError, pd.errors.ParserError, pd.errors.ParserWarning, pd.errors.EmptyDataError,
                UnicodeDecodeError) as exc:
            raise _Fallback from exc
        if whole:
            table = reader
            frames = (table.iloc[i:i + size] for i in range(0, len(table), size))
            reader = contextlib.nullcontext()
        row, seen = self.first_row, 0  # the last data row given out; rows pandas has read (with bare-delimiter lines)
        with reader:
            while True:
                try:
                    with warnings.catch_warnings():
                        warnings.simplefilter("error", pd.errors.ParserWarning)
                        df = next(frames if whole else reader)
                except StopIteration:
                    return
                except (ValueError, pd.errors.ParserError, pd.errors.ParserWarning, UnicodeDecodeError) as exc:
                    raise _Fallback from exc
                n = len(df)
                if n == 0:
                    continue
                values = self._numbers(df, order)
                words = self._pandas_texts(df, order)
                first = seen
                seen += n
                bad = self._unfit(values)
                empty = np.isnan(values if self._numeric is None else values[:, self._numeric]).all(axis=1)
                for cells in words.values():
                    blank = cells == ""
                    bad |= blank
                    empty &= blank
                keep = np.ones(n, dtype=bool)
                for i in np.flatnonzero(empty):
                    keep[i] = not self._blank_line(first + i)  # a line of bare delimiters: no data
                if not keep.all():
                    values, bad = values[keep], bad[keep]
                    words = {j: cells[keep] for j, cells in words.items()}
                    where = np.flatnonzero(keep)
                else:
                    where = np.arange(n)
                m = len(values)
                if m == 0:
                    continue
                rows = list(range(row + 1, row + m + 1))
                row += m
                errors: list = [None] * m
                cells: dict = {}
                check = bad
                if crowded is not None and len(crowded):
                    check = bad.copy()
                    check[np.isin(first + where, crowded)] = True
                for i in np.flatnonzero(check):
                    error, texts = self._diagnose(rows[i], first + int(where[i]), bool(bad[i]))
                    if error is not None:  # None: a long line whose extra cells are empty
                        errors[i], cells[i] = error, texts
                        values[i] = 0.0
                yield TableChunk(rows=rows, values=values, errors=errors, cells=cells,
                                 passthrough=self._pandas_passthrough(df, keep, kept), texts=words)

    def _crowded_rows(self) -> np.ndarray:
        """pandas' data-line indices of the lines with more delimiters than the header has (sorted).

        Raises _Fallback when a line is not always a record (a quote character, a lone carriage
        return): the csv module then reads the file, keeping the needed cells only.
        """
        try:
            lines = _crowded_lines(self.path, self.delimiter, len(self.header) - 1)
        except OSError as exc:
            raise InputError(f"{self.name}: cannot read the file ({exc.strerror or exc})") from exc
        if lines is None:
            raise _Fallback
        if not lines:
            return np.zeros(0, dtype=np.int64)
        if self._offsets is None:
            self._offsets = _data_line_offsets(self.path, skip_header=not self._no_header)
        numbers = np.array([number for number, _, _ in self._offsets], dtype=np.int64)
        lines = np.asarray(lines, dtype=np.int64)
        found = np.searchsorted(numbers, lines)
        inside = found < len(numbers)
        data = np.zeros(len(lines), dtype=bool)  # a crowded line above the header is no data line
        data[inside] = numbers[found[inside]] == lines[inside]
        return found[data]

    def _pandas_passthrough(self, df, keep: np.ndarray, positions: list) -> dict:
        """The pass-through columns of a frame (read as text) for its kept rows: name -> list of str."""
        out = {}
        every = keep.all()
        for name, k in zip(self.passthrough_columns, positions):
            texts = df.iloc[:, k].to_numpy(dtype=object, na_value="")
            out[name] = list(map(str.strip, texts if every else texts[keep]))
        return out

    def _pandas_texts(self, df, order: list) -> dict:
        """The text feature columns of a frame: feature index -> object array of stripped str ("" when empty)."""
        return {j: df.iloc[:, order[j]].str.strip().to_numpy(dtype=object, na_value="") for j in self.text_features}

    def _numbers(self, df, order: list) -> np.ndarray:
        """The model's columns of a pandas frame as an (n, features) float64 array; NaN where not a number
        (and in the text columns)."""
        pd = _pandas()
        if not self.text_features and all(df.dtypes.iloc[k].kind in "fiu" for k in order):
            # the usual case: one copy in row order
            values = df.iloc[:, order].to_numpy(dtype=np.float64)
            # a view of pandas' own block may be read-only (copy-on-write); bad rows are zeroed later
            return values if values.flags.c_contiguous and values.flags.writeable else np.array(values, order="C")
        # filled column by column (contiguous writes), then turned to row order once
        by_column = np.empty((len(order), len(df)), dtype=np.float64)
        for j, k in enumerate(order):
            col = df.iloc[:, k]
            if j in self.text_features:
                by_column[j] = np.nan
            elif col.dtype.kind in "fiu":
                by_column[j] = col.to_numpy(dtype=np.float64)
            elif col.dtype.kind == "b":
                by_column[j] = np.nan  # True/False are not numbers; each row says so
            else:
                if self.decimal_comma:
                    # astype(str): an object column may hold Python ints (a 20-digit number)
                    col = col.astype(str).str.replace(",", ".", regex=False)
                by_column[j] = pd.to_numeric(col, errors="coerce").to_numpy(dtype=np.float64)
        return np.ascontiguousarray(by_column.T)

    def _line(self, index: int) -> tuple[int, str] | None:
        """(line number, text) of pandas' ``index``-th data line (0-based), read again from the file."""
        if self._offsets is None:
            self._offsets = _data_line_offsets(self.path, skip_header=not self._no_header)
        if index >= len(self._offsets):
            return None
        line_no, offset, end = self._offsets[index]
        with open(self.path, "rb") as fh:
            fh.seek(offset)
            raw = fh.read(min(end - offset, LINE_LIMIT + 2))  # the whole record, a quoted cell's line breaks too
        return line_no, raw.decode(self.encoding, errors="replace").lstrip("\ufeff")

    def _blank_line(self, index: int) -> bool:
        found = self._line(index)
        return found is not None and not found[1].strip().replace(self.delimiter, "").strip()

    def _diagnose(self, row: int, index: int, unfit: bool = True) -> tuple[str | None, list]:
        """The message for one bad data row, read again from its line (the rare path).

        ``unfit``: its values did not parse. A row read from a line with more delimiters than the
        header, whose values did parse, gets None when its extra cells are empty.
        """
        found = self._line(index)
        if found is None:
            return f"row {row}: cannot read the values", [""] * len(self.indices)
        line_no, text = found
        try:
            record = next(csv.reader([text.rstrip("\r\n")], delimiter=self.delimiter))
        except (csv.Error, StopIteration) as exc:
            why = f" ({_csv_problem(exc)})" if isinstance(exc, csv.Error) else ""
            return f"row {row} (line {line_no}): the CSV line cannot be read{why}", [""] * len(self.indices)
        need = max(self.indices) + 1 if self.indices else 0
        if len(record) < need:
            return (f"row {row} (line {line_no}): has {len(record)} cells, the header has {len(self.header)}",
                    [record[i] if i < len(record) else "" for i in self.indices])
        texts = [record[i] for i in self.indices]
        if _extra_cells(record, len(self.header)):
            return self._extra_message(row, line_no, len(record)), texts
        return (self._cell_error(row, line_no, texts) if unfit else None), texts

    def _extra_message(self, row: int, line: int, n_cells: int) -> str:
        hint = (" (a decimal comma in a comma-separated file?)" if self.delimiter == ","
                else " (a separator inside an unquoted value?)")
        return f"row {row} (line {line}): has {n_cells} cells, the header has {len(self.header)}{hint}"

    def _csv_chunks(self, size: int, start_row: int = 0):
        """The csv-module reader: slower, takes anything; row numbers continue after ``start_row``."""
        n_cols = len(self.header)
        row = start_row
        need = max(self.indices) + 1 if self.indices else 0
        while True:
            rows, lines, texts, errors = [], [], [], []
            kept = []  # each row's pass-through cells, or () when unread: no more of a wide row is held
            while len(rows) < size:
                first = self._reader.line_num + 1  # the line this record starts on
                try:
                    record = next(self._reader)
                except StopIteration:
                    break
                except csv.Error as exc:
                    row += 1
                    rows.append(row)
                    lines.append(self._reader.line_num)
                    kept.append(())
                    texts.append([""] * len(self.indices))
                    errors.append(f"row {row} (line {self._reader.line_num}): the CSV line cannot be read "
                                  f"({_csv_problem(exc)})")
                    continue
                except UnicodeDecodeError as exc:
                    if self._strict:
                        raise _Fallback from exc
                    raise InputError(
                        f"{self.name}: line {self._reader.line_num + 1} is not valid {self.encoding} text"
                    ) from exc
                if _blank(record):
                    continue
                row += 1
                line = self._reader.line_num
                rows.append(row)
                lines.append(line)
                if record == [_LONG_LINE] and line in self._too_long:
                    kept.append(())
                    texts.append([""] * len(self.indices))
                    errors.append(f"row {row} (line {line}): the line is {self._too_long[line]:,} characters long, "
                                  f"over the {LINE_LIMIT:,}-character limit for one row; not read")
                    continue
                kept.append([record[k] if k < len(record) else "" for k in self.passthrough_indices])
                if len(record) < need:
                    texts.append([record[i] if i < len(record) else "" for i in self.indices])
                    if line > first and any("\n" in c or "\r" in c for c in record):  # a quote left open
                        errors.append(
                            f"row {row} (lines {first}-{line}): has {len(record)} cells, the header has {n_cols}; "
                            f"a quoted cell runs from line {first} to line {line}: is a closing quote missing?"
                        )
                    else:
                        errors.append(f"row {row} (line {line}): has {len(record)} cells, the header has {n_cols}")
                    continue
                if _extra_cells(record, n_cols):
                    # more values than column names: which value belongs to which column is a guess
                    texts.append([record[i] for i in self.indices])
                    errors.append(self._extra_message(row, line, len(record)))
                    continue
                texts.append([record[i] for i in self.indices])
                errors.append(None)
            if not rows:
                return
            values, words = self._parse(rows, lines, texts, errors)
            cells = {i: texts[i] for i, e in enumerate(errors) if e is not None}
            passthrough = {name: [r[j].strip() if r else "" for r in kept]
                           for j, name in enumerate(self.passthrough_columns)}
            yield TableChunk(rows=rows, values=values, errors=errors, cells=cells, passthrough=passthrough,
                             texts=words)

    def _parse(self, rows, lines, texts, errors) -> tuple[np.ndarray, dict]:
        """The rows' values (see TableChunk.values) and text columns; a row's message set in ``errors``."""
        n_features = len(self.indices)
        values = np.zeros((len(rows), n_features), dtype=np.float64)
        words = {j: np.array([cells[j].strip() for cells in texts], dtype=object) for j in self.text_features}
        ok = [i for i, e in enumerate(errors) if e is None]
        if not ok:
            return values, words
        numeric = None if self._numeric is None else self._numeric.tolist()
        block = [texts[i] for i in ok] if numeric is None else [[texts[i][j] for j in numeric] for i in ok]
        width = n_features if numeric is None else len(numeric)
        if self.decimal_comma:
            block = [[c.replace(",", ".") for c in cells] for cells in block]
        try:
            parsed = np.array(block, dtype=np.float64).reshape(len(ok), width)
            fit = ~self._unfit_numbers(parsed)
        except ValueError:
            parsed = np.zeros((len(ok), width), dtype=np.float64)
            fit = np.zeros(len(ok), dtype=bool)
            for j, cells in enumerate(block):
                try:
                    parsed[j] = np.array(cells, dtype=np.float64)
                except ValueError:
                    continue
                fit[j] = not self._unfit_numbers(parsed[j:j + 1])[0]
        if not _plain("".join(map("".join, block))):  # the rare case: which rows?
            fit &= [_plain("".join(cells)) for cells in block]
        for cells in words.values():
            fit &= cells[ok] != ""
        parsed[~fit] = 0.0
        if numeric is None:
            values[ok] = parsed
        else:
            values[np.ix_(ok, numeric)] = parsed
            values[np.ix_(np.asarray(ok)[fit], self.text_features)] = np.nan
        for j in np.flatnonzero(~fit):
            i = ok[j]
            errors[i] = self._cell_error(rows[i], lines[i], texts[i])
        return values, words


class _Fallback(Exception):
    """pandas cannot read the rest of this file; the csv module takes over."""


class _Ahead:
    """The items of a generator, made by a background thread up to ``depth`` items ahead of the reader.

    An exception the generator raises reaches the reader after the items made before it.
    """

    def __init__(self, source, depth: int):
        self._source = source
        self._queue: queue.Queue = queue.Queue(maxsize=depth)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._work, name="inferdesk-csv-reader", daemon=True)
        self._thread.start()

    def _put(self, entry) -> bool:
        while not self._stop.is_set():
            try:
                self._queue.put(entry, timeout=0.05)
                return True
            except queue.Full:
                continue
        return False

    def _work(self) -> None:
        try:
            for item in self._source:
                if not self._put((True, item)):
                    return
        except BaseException as exc:  # noqa: BLE001 - handed to the reader, which raises it
            self._put((False, exc))
            return
        self._put((False, None))

    def __iter__(self):
        while True:
            ok, value = self._queue.get()
            if ok:
                yield value
            elif value is None:
                return
            else:
                raise value

    def close(self) -> None:
        """Stop the thread (it finishes the item it is making) and close the generator."""
        self._stop.set()
        self._thread.join()
        self._source.close()


def _pandas():
    """pandas, imported when a file over SMALL_FILE_BYTES is first opened: a small CSV, and a command
    that reads none (``inferdesk info``), never pay for its import."""
    try:
        import pandas
    except ImportError:  # pragma: no cover - pandas is a dependency, but the csv module suffices
        return None
    return pandas


def _fold(name: str) -> str:
    """A column name compared ignoring case and runs of white space."""
    return " ".join(name.lower().split())


def _extra_cells(record: list, n_cols: int) -> bool:
    """More non-empty cells than the header has columns (trailing empty cells are harmless)."""
    return len(record) > n_cols and any(c.strip() for c in record[n_cols:])


def _crowded_lines(path, delimiter: str, limit: int, block: int = 1 << 20) -> list[int] | None:
    """The numbers (1-based) of the lines holding more than ``limit`` delimiters, read in blocks.

    None when the file holds a quote character or a carriage return not followed by a line feed:
    a record may then span lines, or a delimiter be inside a cell, and lines say nothing sure.
    """
    sep, sep_byte = delimiter.encode(), ord(delimiter)
    found: list = []
    line = 1  # the line the block starts in
    carry = 0  # delimiters of that line in the blocks before
    cr_last = False  # the block before ended with a carriage return
    with open(path, "rb") as fh:
        while chunk := fh.read(block):
            if b'"' in chunk or (cr_last and not chunk.startswith(b"\n")):
                return None
            lone = chunk.count(b"\r") - chunk.count(b"\r\n") - chunk.endswith(b"\r")
            if lone:
                return None
            cr_last = chunk.endswith(b"\r")
            raw = np.frombuffer(chunk, dtype=np.uint8)
            ends = np.flatnonzero(raw == 10)
            if not len(ends):
                carry += chunk.count(sep)
                continue
            if len(chunk) >= 256 * len(ends):  # long lines (a wide file): bytes.count, line by line
                starts = [0, *(ends[:-1] + 1).tolist()]
                per_line = np.array([chunk.count(sep, a, b) for a, b in zip(starts, ends.tolist())], dtype=np.int64)
            else:  # short ones: summed by numpy
                per_line = np.add.reduceat(raw[:ends[-1] + 1] == sep_byte, np.concatenate(([0], ends[:-1] + 1)),
                                           dtype=np.int64)
            per_line[0] += carry
            found += (line + np.flatnonzero(per_line > limit)).tolist()
            line += len(ends)
            carry = chunk.count(sep, int(ends[-1]) + 1)
    if carry > limit:
        found.append(line)
    return found


def _blank(record: list) -> bool:
    """A line with no data: empty, spaces, or bare delimiters."""
    return not any(c.strip() for c in record)


def _data_line_offsets(path, skip_header: bool) -> list[tuple[int, int, int]]:
    """(line number, byte offset, end offset) of each record after the header that holds something: the
    records pandas numbers its rows by (a quoted cell's line breaks stay inside its record, which starts
    on the line given)."""
    out = []
    header_seen = not skip_header
    with open(path, "rb") as fh:
        start = 3 if fh.read(3) == b"\xef\xbb\xbf" else 0  # where the first record begins, as _records reads it
    line = 1
    for ends, through, held in _records(path):
        for end, lines, solid in zip(ends.tolist(), through.tolist(), held.tolist()):
            if solid:
                if header_seen:
                    out.append((line, start, end + 1))
                else:
                    header_seen = True
            start, line = end + 1, lines + 1
    return out


def read_table(path, columns=None, n_features=None, types=None) -> tuple[list, np.ndarray, list]:
    """Read a whole table at once: (row numbers, values, errors). Convenience for small files and tests."""
    with TableReader(path, columns, n_features, types=types) as reader:
        n_columns = len(reader.columns)
        rows, blocks, errors = [], [], []
        for chunk in reader.chunks():
            rows += chunk.rows
            blocks.append(chunk.values)
            errors += chunk.errors
    values = np.concatenate(blocks) if blocks else np.zeros((0, n_columns))
    return rows, values, errors


def sniff_table_header(path) -> list[str]:
    """The header cells of a CSV file (for showing the column mapping), or [] if unreadable."""
    try:
        with open(path, "rb") as fh:
            head = fh.read(_SAMPLE)
        text = head.decode(_encoding(head), errors="replace").lstrip("\ufeff")
        line = text.splitlines()[0] if text else ""
        return [c.strip() for c in next(csv.reader(io.StringIO(line), delimiter=TableReader._delimiter(line)))]
    except (OSError, IndexError, StopIteration, csv.Error):
        return []
