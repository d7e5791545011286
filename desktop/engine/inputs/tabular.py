"""Read CSV tables: match columns to the model's features by name, parse rows in vectorised chunks."""

from __future__ import annotations

import csv
import io
import os
from dataclasses import dataclass, field

import numpy as np

from ..errors import InputError

_SAMPLE = 64 * 1024
FIELD_LIMIT = 1 << 20  # one cell may hold at most 1 MiB of text


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


def count_rows(path: str | os.PathLike) -> int:
    """Number of non-blank lines after the header (the rows a table will give)."""
    n = 0
    try:
        with open(path, "rb") as fh:
            for line in fh:
                if line.strip():
                    n += 1
    except OSError:
        return 1
    return max(n - 1, 0)


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
    lines: list  # line numbers in the file
    values: np.ndarray  # (len(rows), n_features) float64; rows with an error hold zeros
    errors: list  # None or a message, per row
    cells: list = field(default_factory=list)  # raw cell text of the used columns, per row


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
    """

    def __init__(self, path, columns=None, n_features: int | None = None):
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
        if b"\x00" in head:
            raise InputError(f"{self.name}: this is a binary file, not a CSV text file")
        self.encoding = _encoding(head)
        lines = head.decode(self.encoding, errors="replace").lstrip("\ufeff").splitlines()
        first_line = next((line for line in lines if line.strip()), lines[0] if lines else "")
        self.delimiter = self._delimiter(first_line)
        self.decimal_comma = self.delimiter == ";"
        csv.field_size_limit(max(csv.field_size_limit(), FIELD_LIMIT))
        self._fh = open(path, "r", encoding=self.encoding, newline="", errors="strict")
        self._reader = csv.reader(self._fh, delimiter=self.delimiter)
        try:
            header = next(self._reader)
            while not any(c.strip() for c in header):  # blank lines above the header row
                header = next(self._reader)
        except (csv.Error, UnicodeDecodeError) as exc:
            self.close()
            raise InputError(f"{self.name}: the header line cannot be read ({exc})") from exc
        except StopIteration:
            self.close()
            raise InputError(f"{self.name}: the file is empty") from None
        self.header = [h.strip() for h in header]
        self._resolve(columns, n_features)

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
                self._fh = open(self.path, "r", encoding=self.encoding, newline="", errors="strict")
                self._reader = csv.reader(self._fh, delimiter=self.delimiter)
                self.header = [f"column {i + 1}" for i in range(len(header))]
                idx = list(range(len(header)))
            else:
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
            self.extra_columns = [h for i, h in enumerate(self.header) if i not in idx]
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
            folded.setdefault(" ".join(h.lower().split()), i)
        idx, missing = [], []
        for col in columns:
            if col in position:
                idx.append(position[col])
            elif " ".join(col.lower().split()) in folded:
                idx.append(folded[" ".join(col.lower().split())])
            else:
                missing.append(col)
        if missing:
            self.close()
            shown = ", ".join(f"'{m}'" for m in missing[:8]) + (f" and {len(missing) - 8} more" if len(missing) > 8 else "")
            raise InputError(
                f"{self.name}: missing column{'s' if len(missing) > 1 else ''} {shown} that the model needs"
            )
        self.columns = list(columns)
        self.indices = idx
        used = set(idx)
        self.extra_columns = [h for i, h in enumerate(header) if i not in used and h]

    def close(self):
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
        """Yield TableChunk objects of up to ``size`` rows, in file order."""
        n_cols = len(self.header)
        row = 0
        need = max(self.indices) + 1 if self.indices else 0
        while True:
            rows, lines, texts, errors = [], [], [], []
            while len(rows) < size:
                try:
                    record = next(self._reader)
                except StopIteration:
                    break
                except csv.Error as exc:
                    row += 1
                    line = self._reader.line_num
                    rows.append(row)
                    lines.append(line)
                    texts.append([""] * len(self.indices))
                    errors.append(f"row {row} (line {line}): the CSV line cannot be read ({exc})")
                    continue
                except UnicodeDecodeError as exc:
                    raise InputError(
                        f"{self.name}: line {self._reader.line_num + 1} is not valid {self.encoding} text"
                    ) from exc
                if not record or all(not c.strip() for c in record):
                    continue
                row += 1
                line = self._reader.line_num
                rows.append(row)
                lines.append(line)
                if len(record) < need:
                    texts.append([""] * len(self.indices))
                    errors.append(
                        f"row {row} (line {line}): has {len(record)} cells, the header has {n_cols}"
                    )
                    continue
                texts.append([record[i] for i in self.indices])
                errors.append(None)
            if not rows:
                return
            yield TableChunk(rows, lines, self._parse(rows, lines, texts, errors), errors, texts)

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
