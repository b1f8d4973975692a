"""Read the user's CSV once: check it is CSV text CsvExampleGen can read, count
what each column holds, and write the copy TFDV profiles (null tokens blanked).

The user's file is never changed. Checks follow what CsvExampleGen needs, so
a file accepted here ingests: UTF-8 text without a byte-order mark, a header
of unique, non-empty names without commas or quotes (TFX splits the header on
commas, unquoted), and every record with as many cells as the header (blank
lines are skipped, as TFX does).

Counted per column, from the text (types come from TFDV later):
present/blank cells, null tokens seen, distinct values with their counts
(exact up to rules.DISTINCT_CAP) and, over the cells that parse as numbers,
the moments for skewness (Welford/Terriberry updates: stable for large
values such as timestamps).
"""
import collections
import csv
import dataclasses
import math
import re

from pipeline.init import rules
from pipeline.init.errors import InitError

_FIX_TEXT = ("export it as comma-separated UTF-8 text (pandas: "
             "df.to_csv(path, index=False); spreadsheets: 'CSV')")


@dataclasses.dataclass
class Moments:
    """Running count, mean and 2nd/3rd central moment sums of numbers."""
    n: int = 0
    mean: float = 0.0
    m2: float = 0.0
    m3: float = 0.0

    def add(self, x: float) -> None:
        n1 = self.n
        self.n += 1
        delta = x - self.mean
        delta_n = delta / self.n
        term = delta * delta_n * n1
        self.mean += delta_n
        self.m3 += term * delta_n * (self.n - 2) - 3 * delta_n * self.m2
        self.m2 += term

    @property
    def skewness(self) -> float:
        """Fisher-Pearson g1; 0 when undefined (fewer than 3 values, or all
        equal)."""
        if self.n < 3 or self.m2 <= 0:
            return 0.0
        return math.sqrt(self.n) * self.m3 / self.m2 ** 1.5


@dataclasses.dataclass
class ColumnText:
    """What one column's cells hold, as text."""
    name: str
    present: int = 0
    blank: int = 0                    # empty cells, null tokens included
    null_tokens: collections.Counter = dataclasses.field(
        default_factory=collections.Counter)
    counts: collections.Counter = dataclasses.field(
        default_factory=collections.Counter)
    overflow: bool = False            # more than DISTINCT_CAP distinct values
    moments: Moments = dataclasses.field(default_factory=Moments)
    non_numeric: collections.Counter = dataclasses.field(
        default_factory=collections.Counter)   # capped at a few values

    def add(self, cell: str) -> None:
        self.present += 1
        if cell in self.counts or len(self.counts) < rules.DISTINCT_CAP:
            self.counts[cell] += 1
        else:
            self.overflow = True
        try:
            value = float(cell)
        except ValueError:
            if (cell in self.non_numeric
                    or len(self.non_numeric) <= rules.NUMERIC_BUT_FOR_MAX_TOKENS):
                self.non_numeric[cell] += 1
            return
        if math.isfinite(value):
            self.moments.add(value)


@dataclasses.dataclass
class Table:
    """The scan's result: row count and one ColumnText per header column."""
    rows: int
    columns: list[ColumnText]

    def column(self, name: str) -> ColumnText:
        return next(c for c in self.columns if c.name == name)


def read_header(path: str) -> list[str]:
    """The header, checked; InitError says what to fix."""
    try:
        with open(path, "rb") as f:
            head = f.read(64 * 1024)
    except FileNotFoundError:
        raise InitError(f"{path}: no such file; pass the path of your CSV "
                        f"with --csv") from None
    except IsADirectoryError:
        raise InitError(f"{path} is a directory; pass one CSV file with "
                        f"--csv (init copies it to DIR/span-1/data.csv)") from None
    except OSError as error:
        raise InitError(f"{path}: cannot read it ({error.strerror})") from None
    if not head.strip():
        raise InitError(f"{path} is empty; it needs a header line and rows")
    if head.startswith(b"\xef\xbb\xbf"):
        raise InitError(
            f"{path} starts with a UTF-8 byte-order mark (Excel's 'CSV UTF-8'):"
            f" CsvExampleGen would read it as part of the first column's name."
            f" Save it as plain 'CSV', or strip the first 3 bytes")
    if b"\0" in head:
        raise InitError(f"{path} is not CSV text (it contains NUL bytes: "
                        f"binary data?); {_FIX_TEXT}")
    line = head.split(b"\n", 1)[0].rstrip(b"\r")
    try:
        text = line.decode("utf-8")
    except UnicodeDecodeError as error:
        raise InitError(f"{path} is not UTF-8 text ({error.reason} at byte "
                        f"{error.start}); {_FIX_TEXT}") from None
    if '"' in text:
        raise InitError(
            f"{path}: the header has quotes ({text[:80]!r}); CsvExampleGen "
            f"splits the header on commas without unquoting, so column names "
            f"must be plain text without commas or quotes")
    names = text.split(",")
    if len(names) < 2:
        hint = next((f" It looks {name}-separated." for sep, name in
                     ((";", "semicolon"), ("\t", "tab"), ("|", "pipe"))
                     if sep in text), "")
        raise InitError(f"{path}: the header has one column ({text[:80]!r}); "
                        f"a label and at least one feature, comma-separated, "
                        f"are needed.{hint}")
    for index, name in enumerate(names, start=1):
        if not name.strip():
            raise InitError(
                f"{path}: column {index} has no name in the header; name it or "
                f"remove it (pandas writes its index that way: use "
                f"to_csv(index=False))")
    duplicates = sorted(n for n, k in collections.Counter(names).items() if k > 1)
    if duplicates:
        raise InitError(f"{path}: duplicate column names {duplicates}; every "
                        f"column needs its own name")
    from pipeline import project
    unusable = [n for n in names if not project.COLUMN.fullmatch(n)]
    if unusable:
        fixed = {n: re.sub(r"[^A-Za-z0-9_]+", "_", n).strip("_") or "column"
                 for n in unusable[:3]}
        raise InitError(
            f"{path}: column names {unusable[:5]} cannot become model input "
            "names (TensorFlow allows letters, digits, '_', '.', '-', starting "
            "with a letter or '_'); rename them in the header, e.g. "
            + ", ".join(f"{a!r} -> {b!r}" for a, b in fixed.items()))
    return names


def _records(source):
    """(first line number, text) of each CSV record after the header, grouped
    exactly as TFX's `_ReadCsvRecordsFromTextFile` does: physical lines are
    joined until the record holds an even number of quotes."""
    pending, quotes, start = [], 0, 0
    for number, line in enumerate(source, start=1):
        if number == 1:
            continue   # the header
        if not pending:
            start = number
        pending.append(line)
        quotes += line.count('"')
        if quotes % 2 == 0:
            yield start, "".join(pending)
            pending, quotes = [], 0
    if pending:
        raise InitError(
            f"line {start}: a quote opened there never closes (odd number of "
            f'" characters to the end of the file); CsvExampleGen would fail '
            f"on it. Quote cells as \"...\" and double quotes inside them")


def scan(path: str, names: list[str], null_tokens: tuple[str, ...],
         blanked_path: str) -> Table:
    """Counts every column; writes `blanked_path`: the same records with null
    tokens as empty cells (only TFDV reads it)."""
    columns = [ColumnText(name) for name in names]
    tokens = frozenset(null_tokens)
    rows = 0
    try:
        with open(path, newline="", encoding="utf-8") as source, \
                open(blanked_path, "w", newline="", encoding="utf-8") as out:
            writer = csv.writer(out, lineterminator="\n")
            writer.writerow(names)
            for line, text in _records(source):
                try:   # csv's default (lenient) dialect, as tfx_bsl's
                    record = next(csv.reader([text]), [])
                except csv.Error as error:
                    raise InitError(f"line {line} is not CSV text ({error}); "
                                    f"{_FIX_TEXT}") from None
                if not record:
                    continue   # blank line: TFX skips it too
                if len(record) != len(names):
                    raise InitError(
                        f"line {line}: {len(record)} cells where the header "
                        f"has {len(names)}; every row needs one cell per "
                        f"column (quote cells that contain commas)")
                rows += 1
                for index, (column, cell) in enumerate(zip(columns, record)):
                    if cell in tokens:
                        column.null_tokens[cell] += 1
                        record[index] = cell = ""
                    if cell == "":
                        column.blank += 1
                    else:
                        column.add(cell)
                writer.writerow(record)
    except InitError as error:
        raise InitError(f"{path}, {error}") from None
    except UnicodeDecodeError as error:
        raise InitError(f"{path} is not UTF-8 text ({error.reason}); "
                        f"{_FIX_TEXT}") from None
    if rows == 0:
        raise InitError(f"{path} has a header but no rows; add the data")
    return Table(rows=rows, columns=columns)
