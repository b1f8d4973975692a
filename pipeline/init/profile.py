"""One `Column` per CSV column: the text scan's counts joined with TFDV's
type and numeric summary. Everything init decides reads these facts only.

Distinct values are keyed as the pipeline will see them: integers by value
("07" and "7" are one value, written "7"), decimals by value, text verbatim.
"""
import collections
import dataclasses
from typing import Optional

from pipeline.init.csv_scan import ColumnText, Table
from pipeline.init.stats import FLOAT, INT, STRING, ColumnStats


@dataclasses.dataclass(frozen=True)
class Column:
    name: str
    type: str                      # INT, FLOAT or STRING (TFDV's)
    rows: int
    present: int
    null_tokens: dict              # token -> cells, as configured
    values: collections.Counter    # value (pipeline's view) -> rows
    overflow: bool                 # more distinct values than counted
    min: Optional[float] = None
    max: Optional[float] = None
    mean: Optional[float] = None
    std: Optional[float] = None
    skewness: float = 0.0
    non_numeric: collections.Counter = dataclasses.field(
        default_factory=collections.Counter)
    numeric_cells: int = 0

    @property
    def blank(self) -> int:
        return self.rows - self.present

    @property
    def present_fraction(self) -> float:
        return self.present / self.rows

    @property
    def distinct(self) -> int:
        """Exact unless `overflow` (then a lower bound)."""
        return len(self.values)

    @property
    def numeric(self) -> bool:
        return self.type in (INT, FLOAT) and self.present > 0

    @property
    def span(self) -> Optional[int]:
        """Integers: how many values low..high covers."""
        if self.type != INT or not self.present:
            return None
        return int(self.max) - int(self.min) + 1

    def sorted_values(self) -> list[str]:
        """Values by name (numerically for numbers): a stable order."""
        if self.type in (INT, FLOAT):
            return sorted(self.values, key=float)
        return sorted(self.values)

    def share(self, value: str) -> float:
        return self.values[value] / self.rows


def value_key(kind: str, text: str) -> str:
    """A cell's text as the pipeline sees the value (see module doc)."""
    if kind == INT:
        return str(int(text))
    if kind == FLOAT:
        return repr(float(text))
    return text


def _values(kind: str, text: ColumnText) -> collections.Counter:
    if kind == STRING:
        return text.counts
    merged = collections.Counter()
    for value, count in text.counts.items():
        merged[value_key(kind, value)] += count
    return merged


def columns(table: Table, stats: dict[str, ColumnStats]) -> list[Column]:
    """Joins the scan with TFDV, in the CSV's column order."""
    result = []
    for text in table.columns:
        stat = stats.get(text.name) or ColumnStats(text.name, STRING, 0)
        kind = stat.type if text.present else STRING
        result.append(Column(
            name=text.name, type=kind, rows=table.rows, present=text.present,
            null_tokens=dict(text.null_tokens), values=_values(kind, text),
            overflow=text.overflow, min=stat.min, max=stat.max,
            mean=stat.mean, std=stat.std, skewness=text.moments.skewness,
            non_numeric=text.non_numeric, numeric_cells=text.moments.n))
    return result
