"""Each non-label column: its encoding, or a reason to drop it; and slices.

Drop rules, first match wins (thresholds in rules.py):
  * blank in every row, or in >= MOSTLY_BLANK_FRACTION of rows;
  * one value in every row (constant). A column with one value where filled
    but blanks elsewhere is kept: whether it is filled is the signal;
  * identifier-like: nearly every value distinct (text always; integers when
    dense like a row number or named like an id; never decimals).
Encodings (the vocabulary of pipeline/project.py):
  * text -> categorical, top_k = its number of values, at most
    CATEGORICAL_TOP_K (the rest share an out-of-vocabulary bucket);
  * integers spanning <= INTEGER_CATEGORICAL_MAX_SPAN values ->
    integer_categorical(low, high), one-hot over the seen range;
  * other integers with <= INTEGER_CODE_MAX_VALUES distinct values ->
    categorical (codes such as 100/200/500 are labels, not amounts);
  * other numbers -> log_numeric when non-negative and skewness >=
    LOG_MIN_SKEWNESS, else numeric.
"""
import dataclasses
import re
from typing import Optional

from pipeline.init import rules
from pipeline.init.profile import Column
from pipeline.init.stats import FLOAT, INT, STRING


@dataclasses.dataclass(frozen=True)
class Choice:
    """What init proposes for one column: an encoding or a drop, and why."""
    column: Column
    encoding: Optional[str]          # None: dropped
    why: str
    top_k: Optional[int] = None
    low: Optional[int] = None
    high: Optional[int] = None

    @property
    def name(self) -> str:
        return self.column.name

    @property
    def dropped(self) -> bool:
        return self.encoding is None

    def spec(self):
        """The project file's value: an encoding name, or a mapping."""
        extra = {k: v for k, v in (("top_k", self.top_k), ("low", self.low),
                                   ("high", self.high)) if v is not None}
        return {"encoding": self.encoding, **extra} if extra else self.encoding


def _words(name: str) -> list[str]:
    """'customerID' -> ['customer', 'id']; 'row_index' -> ['row', 'index']."""
    return [w.lower() for w in
            re.findall(r"[A-Z]+(?![a-z])|[A-Z]?[a-z]+|\d+", name)]


def _looks_like_id(column: Column) -> Optional[str]:
    if column.type == FLOAT or column.present < rules.ID_MIN_ROWS:
        return None
    share = column.distinct / column.present
    if column.overflow and column.type == STRING:
        return (f"more than {rules.DISTINCT_CAP:,} distinct values: an "
                f"identifier or free text")
    if share < rules.ID_DISTINCT_FRACTION:
        return None
    seen = f"{column.distinct} distinct values in {column.present} rows"
    if column.type == STRING:
        return f"{seen}: an identifier or free text"
    words = _words(column.name)
    if column.span <= rules.ID_MAX_SPAN_PER_VALUE * column.distinct:
        return (f"{seen}, dense in {int(column.min)}..{int(column.max)}: a "
                f"row number or identifier")
    if words and words[-1] in rules.ID_NAME_WORDS:
        return f"{seen}, named like an id: an identifier"
    return None


def drop_reason(column: Column) -> Optional[str]:
    if column.present == 0:
        return "blank in every row"
    blank_share = column.blank / column.rows
    if blank_share >= rules.MOSTLY_BLANK_FRACTION:
        return (f"blank in {blank_share:.0%} of rows (>= "
                f"{rules.MOSTLY_BLANK_FRACTION:.0%}): too little to learn from")
    if column.distinct == 1 and not column.blank and not column.overflow:
        return (f"the same value ({next(iter(column.values))!r}) in every "
                f"row: nothing to learn")
    return _looks_like_id(column)


def _numeric(column: Column) -> Choice:
    seen = f"{column.min:g}..{column.max:g}, skewness {column.skewness:.2f}"
    if column.min >= 0 and column.skewness >= rules.LOG_MIN_SKEWNESS:
        return Choice(column, "log_numeric",
                      f"{seen} (>= {rules.LOG_MIN_SKEWNESS:g}, no negatives): "
                      f"heavily right-skewed, log1p first")
    return Choice(column, "numeric", f"{seen}: z-score")


def choose(column: Column) -> Choice:
    """The proposal for one feature column (not the label)."""
    reason = drop_reason(column)
    if reason:
        return Choice(column, None, reason)
    filled = ("" if column.distinct > 1 else
              f" (one value where filled, blank in {column.blank} rows: "
              f"whether it is filled is the signal)")
    if column.type == STRING:
        top_k = min(column.distinct, rules.CATEGORICAL_TOP_K)
        kept = ("every value" if top_k == column.distinct
                else f"the {top_k} most frequent, the rest out-of-vocabulary")
        return Choice(column, "categorical",
                      f"text, {column.distinct} values: vocabulary of {kept}"
                      + filled, top_k=top_k)
    if column.type == INT:
        low, high = int(column.min), int(column.max)
        if column.span <= rules.INTEGER_CATEGORICAL_MAX_SPAN:
            return Choice(column, "integer_categorical",
                          f"integers {low}..{high} (<= "
                          f"{rules.INTEGER_CATEGORICAL_MAX_SPAN} values): "
                          f"one-hot" + filled, low=low, high=high)
        if column.distinct <= rules.INTEGER_CODE_MAX_VALUES:
            return Choice(column, "categorical",
                          f"{column.distinct} distinct integers spread over "
                          f"{low}..{high}: codes, not amounts",
                          top_k=column.distinct)
    return _numeric(column)


def slices(choices: list[Choice]) -> list[str]:
    """Up to MAX_SLICES categorical features with few values, fewest first."""
    candidates = [c for c in choices
                  if c.encoding in ("categorical", "integer_categorical")
                  and 2 <= c.column.distinct <= rules.SLICE_MAX_VALUES]
    candidates.sort(key=lambda c: (c.column.distinct, c.name))
    return [c.name for c in candidates[:rules.MAX_SLICES]]
