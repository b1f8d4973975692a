"""The label's task (binary, multiclass, regression) and what it needs.

Rules (thresholds in rules.py), applied when --task is not given:
  * 2 distinct values: binary;
  * text with 3..MULTICLASS_MAX_TEXT_CLASSES values: multiclass;
  * integers with 3..MULTICLASS_MAX_INTEGER_CLASSES values: multiclass (codes);
  * other numbers (more integers, any decimals): regression.
`--task` overrides the rule but must fit the data (binary: exactly 2 values,
multiclass: 3 or more, regression: numbers).

Label facts for the project file:
  * binary: `positive`, from --positive or when the two values read as an
    obvious pair (0/1, no/yes, false/true, ...); otherwise init stops and
    lists both values, since guessing wrong inverts every metric;
  * multiclass: `classes` sorted by value (numerically for integer codes),
    not by frequency: the order is the model's output order and must not
    change when tomorrow's mix of classes does;
  * regression: nothing (its gates use the label's standard deviation).
A label must have a value in every row: a row without one cannot train or be
evaluated, so blanks (or null tokens) in it stop init.
"""
import dataclasses
from typing import Optional

from pipeline.init import rules
from pipeline.init.errors import InitError
from pipeline.init.profile import Column, value_key
from pipeline.init.stats import INT, STRING


@dataclasses.dataclass(frozen=True)
class LabelPlan:
    name: str
    task: str
    rule: str                       # why this task, for the file and output
    positive: Optional[str] = None
    positive_why: str = ""
    classes: tuple[str, ...] = ()
    majority: Optional[str] = None  # classification: most frequent value
    majority_rate: float = 0.0
    std: Optional[float] = None     # regression: the label's spread
    mean: Optional[float] = None


def _listing(column: Column, limit: int = 8) -> str:
    shown = [f"{v!r} ({column.values[v]} rows)"
             for v, _ in column.values.most_common(limit)]
    more = column.distinct - len(shown)
    return ", ".join(shown) + (f" and {more} more" if more > 0 else "")


def check_label_cells(name: str, rows: int, blank: int, null_tokens: dict,
                      distinct_texts: int, single: Optional[str]) -> None:
    """The checks that need no types (run before TFDV, so they fail fast)."""
    if blank:
        tokens = ", ".join(f"{t!r} x{n}" for t, n in null_tokens.items())
        raise InitError(
            f"label {name!r} is blank in {blank} of {rows} rows"
            + (f" (null tokens: {tokens})" if tokens else "")
            + "; a row without a label can neither train nor be evaluated: "
            "remove those rows or fill them in, then run init again")
    if distinct_texts == 1:
        raise InitError(
            f"label {name!r} has one value ({single!r}) in all {rows} rows: "
            f"there is nothing to learn. Check --label (is it the right "
            f"column?) or the data")


def _infer(column: Column) -> tuple[str, str]:
    k = column.distinct
    if k == 2:
        return "binary", "2 distinct values -> binary"
    if column.type == STRING:
        if k > rules.MULTICLASS_MAX_TEXT_CLASSES:
            raise InitError(
                f"label {column.name!r} is text with {k} distinct values, more "
                f"than {rules.MULTICLASS_MAX_TEXT_CLASSES}: unlikely to be a "
                f"class column. Check --label, or pass --task multiclass if "
                f"these really are {k} classes")
        return "multiclass", (f"text with {k} values (3.."
                              f"{rules.MULTICLASS_MAX_TEXT_CLASSES}) -> "
                              f"multiclass")
    if column.type == INT and k <= rules.MULTICLASS_MAX_INTEGER_CLASSES:
        return "multiclass", (
            f"integers with {k} values (3.."
            f"{rules.MULTICLASS_MAX_INTEGER_CLASSES}) -> multiclass class "
            f"codes; pass --task regression if they are amounts")
    kind = "integers" if column.type == INT else "decimal numbers"
    return "regression", f"{kind} with {k} distinct values -> regression"


def _check_task(column: Column, task: str) -> None:
    k = column.distinct
    if task == "binary" and k != 2:
        raise InitError(f"--task binary needs a label with exactly 2 values; "
                        f"{column.name!r} has {k}: {_listing(column)}")
    if task == "multiclass" and k < 3:
        raise InitError(f"--task multiclass needs 3 or more label values; "
                        f"{column.name!r} has 2 ({_listing(column)}): use "
                        f"--task binary")
    if task == "regression" and not column.numeric:
        raise InitError(f"--task regression needs a numeric label; "
                        f"{column.name!r} is text ({_listing(column)}): use "
                        f"--task binary or multiclass")


def _positive(column: Column, given: Optional[str]) -> tuple[str, str]:
    """(positive value, why)."""
    values = column.sorted_values()
    if given is not None:
        try:   # as the pipeline sees it: "01" is the integer 1
            key = value_key(column.type, given)
        except ValueError:
            key = given
        if key not in column.values:
            raise InitError(f"--positive {given!r} is not a value of label "
                            f"{column.name!r}; its values: {_listing(column)}")
        return key, "from --positive"
    lowered = {v.lower(): v for v in values}
    positives = [v for w, v in lowered.items() if w in rules.POSITIVE_WORDS]
    negatives = [v for w, v in lowered.items() if w in rules.NEGATIVE_WORDS]
    if len(positives) == 1 and len(negatives) == 1:
        return positives[0], (f"inferred: {negatives[0]!r}/{positives[0]!r} "
                              f"reads as negative/positive")
    raise InitError(
        f"binary label {column.name!r} has values {_listing(column)}: which "
        f"one is the positive class (1)? Pass "
        + " or ".join(f"--positive {v}" for v in values))


def plan(column: Column, task: Optional[str],
         positive: Optional[str]) -> LabelPlan:
    """The task and label facts, or InitError saying what to pass."""
    check_label_cells(column.name, column.rows, column.blank,
                      column.null_tokens, column.distinct,
                      next(iter(column.values), None))
    if task:
        _check_task(column, task)
        rule = f"--task {task}"
    else:
        task, rule = _infer(column)
    if positive is not None and task != "binary":
        raise InitError(f"--positive is for binary labels; {column.name!r} is "
                        f"a {task} label ({rule})")
    if task == "regression":
        return LabelPlan(column.name, task, rule, std=column.std,
                         mean=column.mean)
    majority, count = column.values.most_common(1)[0]
    facts = dict(majority=majority, majority_rate=count / column.rows)
    if task == "binary":
        value, why = _positive(column, positive)
        return LabelPlan(column.name, task, rule, positive=value,
                         positive_why=why, **facts)
    return LabelPlan(column.name, task, rule,
                     classes=tuple(column.sorted_values()), **facts)
