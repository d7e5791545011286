"""Read CSV tables: match columns to the model's features by name, parse rows in vectorised chunks."""

from __future__ import annotations

import contextlib
import csv
import io
import os
import queue
import threading
import warnings
from dataclasses import dataclass, field

import numpy as np

from ..errors import InputError

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

    n = 0
    held = False  # the record read so far (it began in an earlier block) holds something
    quoted = False  # inside a quoted cell where the last block ended
    before, closed_before = 10, False  # the last byte read, and whether it closed a quoted cell
    try:
        with open(path, "rb") as fh:
            if fh.read(3) != b"\xef\xbb\xbf":  # a UTF-8 byte order mark is not part of the first cell
                fh.seek(0)
            while chunk := fh.read(block):
                raw = np.frombuffer(chunk, dtype=np.uint8)
                ends = np.flatnonzero(raw == 10)
                if quoted or b'"' in chunk:
                    inside, quoted, closed_before = quoted_breaks(raw, ends, quoted, before, closed_before)
                    ends = ends[~inside]
                else:
                    closed_before = False
                before = int(raw[-1])
                solid = ~_WHITE[raw]
                if not len(ends):
                    held = held or bool(solid.any())
                    continue
                # whether each record holds something: the records start at 0 and after each end (a record's
                # own line break is white, so each piece up to the next start says it)
                starts = np.concatenate(([0], ends + 1))
                tail = starts[-1] < len(raw)
                full = np.logical_or.reduceat(solid, starts if tail else starts[:-1])
                n += int(held or full[0]) + int(full[1:len(ends)].sum())
                held = bool(tail and full[-1])
            n += held
    except OSError:
        return 1
    return max(n - 1, 0)


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
    values: np.ndarray  # (len(rows), n_features) float64; rows with an error hold zeros
    errors: list  # None or a message, per row
    cells: dict = field(default_factory=dict)  # chunk index -> raw cell text of the used columns, failed rows only
    #: pass-through column name -> the text of its cell in every row (failed rows too), file order
    passthrough: dict = field(default_factory=dict)


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

    def __init__(self, path, columns=None, n_features: int | None = None, passthrough=True):
        self.path = str(path)
        self.name = _name(path)
        try:
            size = os.path.getsize(path)
            with open(path, "rb") as fh:
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
        self.encoding = _encoding(head)
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
        self._use_pandas = size > SMALL_FILE_BYTES and _pandas() is not None  # imported now, not in the first chunk

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
        for col, cell in zip(self.columns, cells):
            text = cell.strip()
            if not text:
                return f"row {row} (line {line}): column '{col}' is empty"
            if not _is_number(text, self.decimal_comma):
                shown = text if len(text) <= 40 else text[:37] + "..."
                return f"row {row} (line {line}): column '{col}' is not a number: '{shown}'"
            value = float(text.replace(",", ".") if self.decimal_comma else text)
            if not np.isfinite(value):
                return f"row {row} (line {line}): column '{col}' is not a finite number: '{text}'"
        return f"row {row} (line {line}): cannot read the values"

    def chunks(self, size: int = 4096):
        """Yield TableChunk objects of up to ``size`` rows, in file order.

        pandas' C parser reads a file over SMALL_FILE_BYTES (it parses the numbers in C, where the
        csv module makes a Python string of every cell); a line it cannot take (more cells than
        the header, or text that is not in the file's encoding) hands the rest of the file to the
        csv module, which gives each such row its own message.
        """
        done = 0
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
        self._reopen(skip=done)

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
        order = self.indices
        features = set(order)
        # Every column is read (no usecols) and index_col=False: a row with more cells than the
        # header then stops pandas (an error, or a ParserWarning made one) instead of being cut
        # silently, and the csv module, which refuses such rows one by one, takes over.
        # A file up to WHOLE_READ_BYTES is read in one call (faster than pandas' chunked reader)
        # and handed out in slices; a larger one is read chunk by chunk.
        whole = os.path.getsize(self.path) <= WHOLE_READ_BYTES
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("error", pd.errors.ParserWarning)
                reader = pd.read_csv(
                    self.path, sep=self.delimiter, header=None if self._no_header else 0, index_col=False,
                    chunksize=None if whole else size, encoding=self.encoding,
                    decimal="," if self.decimal_comma else ".", keep_default_na=False, na_values=[""],
                    # the other columns as text: kept as written, and cheaper than guessing their type
                    dtype={i: str for i in range(len(self.header)) if i not in features} or None,
                    skip_blank_lines=True, engine="c", skipinitialspace=True, encoding_errors="strict",
                )
        except (ValueError, pd.errors.ParserError, pd.errors.ParserWarning, pd.errors.EmptyDataError,
                UnicodeDecodeError) as exc:
            raise _Fallback from exc
        if whole:
            table = reader
            frames = (table.iloc[i:i + size] for i in range(0, len(table), size))
            reader = contextlib.nullcontext()
        row = seen = 0  # data rows given out; rows pandas has read (including bare-delimiter lines)
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
                first = seen
                seen += n
                bad = ~np.isfinite(values).all(axis=1)
                keep = np.ones(n, dtype=bool)
                for i in np.flatnonzero(np.isnan(values).all(axis=1)):
                    keep[i] = not self._blank_line(first + i)  # a line of bare delimiters: no data
                if not keep.all():
                    values, bad = values[keep], bad[keep]
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
                for i in np.flatnonzero(bad):
                    errors[i], cells[i] = self._diagnose(rows[i], first + int(where[i]))
                    values[i] = 0.0
                yield TableChunk(rows=rows, values=values, errors=errors, cells=cells,
                                 passthrough=self._pandas_passthrough(df, keep))

    def _pandas_passthrough(self, df, keep: np.ndarray) -> dict:
        """The pass-through columns of a frame (read as text) for its kept rows: name -> list of str."""
        out = {}
        every = keep.all()
        for name, k in zip(self.passthrough_columns, self.passthrough_indices):
            texts = df.iloc[:, k].to_numpy(dtype=object, na_value="")
            out[name] = list(map(str.strip, texts if every else texts[keep]))
        return out

    def _numbers(self, df, order: list) -> np.ndarray:
        """The model's columns of a pandas frame as an (n, features) float64 array; NaN where not a number."""
        pd = _pandas()
        if all(df.dtypes.iloc[k].kind in "fiu" for k in order):  # the usual case: one copy in row order
            values = df.iloc[:, order].to_numpy(dtype=np.float64)
            # a view of pandas' own block may be read-only (copy-on-write); bad rows are zeroed later
            return values if values.flags.c_contiguous and values.flags.writeable else np.array(values, order="C")
        # filled column by column (contiguous writes), then turned to row order once
        by_column = np.empty((len(order), len(df)), dtype=np.float64)
        for j, k in enumerate(order):
            col = df.iloc[:, k]
            if col.dtype.kind in "fiu":
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
        line_no, offset = self._offsets[index]
        with open(self.path, "rb") as fh:
            fh.seek(offset)
            raw = fh.readline()
        return line_no, raw.decode(self.encoding, errors="replace").lstrip("\ufeff")

    def _blank_line(self, index: int) -> bool:
        found = self._line(index)
        return found is not None and not found[1].strip().replace(self.delimiter, "").strip()

    def _diagnose(self, row: int, index: int) -> tuple[str, list]:
        """The message for one bad data row, read again from its line (the rare path)."""
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
        return self._cell_error(row, line_no, texts), texts

    def _csv_chunks(self, size: int, start_row: int = 0):
        """The csv-module reader: slower, takes anything; row numbers continue after ``start_row``."""
        n_cols = len(self.header)
        row = start_row
        need = max(self.indices) + 1 if self.indices else 0
        while True:
            rows, lines, texts, errors = [], [], [], []
            records = []  # each row's cells (the pass-through columns are taken from them), or () when unread
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
                    records.append(())
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
                    records.append(())
                    texts.append([""] * len(self.indices))
                    errors.append(f"row {row} (line {line}): the line is {self._too_long[line]:,} characters long, "
                                  f"over the {LINE_LIMIT:,}-character limit for one row; not read")
                    continue
                records.append(record)
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
                if len(record) > n_cols and any(c.strip() for c in record[n_cols:]):
                    # more values than column names: which value belongs to which column is a guess
                    texts.append([record[i] for i in self.indices])
                    hint = (" (a decimal comma in a comma-separated file?)" if self.delimiter == ","
                            else " (a separator inside an unquoted value?)")
                    errors.append(f"row {row} (line {line}): has {len(record)} cells, the header has {n_cols}{hint}")
                    continue
                texts.append([record[i] for i in self.indices])
                errors.append(None)
            if not rows:
                return
            values = self._parse(rows, lines, texts, errors)
            cells = {i: texts[i] for i, e in enumerate(errors) if e is not None}
            passthrough = {name: [r[k].strip() if k < len(r) else "" for r in records]
                           for name, k in zip(self.passthrough_columns, self.passthrough_indices)}
            yield TableChunk(rows=rows, values=values, errors=errors, cells=cells, passthrough=passthrough)

    def _parse(self, rows, lines, texts, errors) -> np.ndarray:
        n_features = len(self.indices)
        values = np.zeros((len(rows), n_features), dtype=np.float64)
        ok = [i for i, e in enumerate(errors) if e is None]
        if not ok:
            return values
        block = [texts[i] for i in ok]
        if self.decimal_comma:
            block = [[c.replace(",", ".") for c in cells] for cells in block]
        try:
            parsed = np.array(block, dtype=np.float64).reshape(len(ok), n_features)
            finite = np.isfinite(parsed).all(axis=1)
            values[ok] = np.where(finite[:, None], parsed, 0.0)
            bad = [ok[j] for j in np.flatnonzero(~finite)]
        except ValueError:
            bad = []
            for j, i in enumerate(ok):
                try:
                    v = np.array(block[j], dtype=np.float64)
                    if not np.isfinite(v).all():
                        raise ValueError
                    values[i] = v
                except ValueError:
                    bad.append(i)
        for i in bad:
            errors[i] = self._cell_error(rows[i], lines[i], texts[i])
            values[i] = 0.0
        return values


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


def _blank(record: list) -> bool:
    """A line with no data: empty, spaces, or bare delimiters."""
    return not any(c.strip() for c in record)


def _data_line_offsets(path, skip_header: bool) -> list[tuple[int, int]]:
    """(line number, byte offset) of each non-blank line after the header line."""
    out = []
    header_seen = not skip_header
    offset = 0
    with open(path, "rb") as fh:
        for number, line in enumerate(fh, start=1):
            if line.strip(b" \t\r\n\xef\xbb\xbf"):
                if header_seen:
                    out.append((number, offset))
                else:
                    header_seen = True
            offset += len(line)
    return out


def read_table(path, columns=None, n_features=None) -> tuple[list, np.ndarray, list]:
    """Read a whole table at once: (row numbers, values, errors). Convenience for small files and tests."""
    with TableReader(path, columns, n_features) as reader:
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
