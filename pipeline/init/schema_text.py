"""The curated raw schema, as commented text (like data/taxi/schema/).

Conventions (the file's header repeats them for its reader):
  * `type` is what CsvExampleGen infers (TFDV's inference is the same code).
  * `value_count {min: 1 max: 1}` for columns filled in every row;
    `value_count {max: 1}` for columns with blanks: CsvExampleGen writes a
    blank cell (and a null token, in our CsvExampleGen) as a present feature
    with zero values, which `min: 1` would reject.
  * No `shape`: Transform must parse every feature as VarLen (a fixed shape
    makes it dense and rejects the blanks).
  * Presence, ranges and string domains follow rules.py (see its comments).
  * The label: filled in every row, its classes closed (a new class is an
    anomaly: the model cannot predict it).
  * Dropped columns stay in the schema (ExampleValidator sees every column)
    with their type only.
"""
import math
import textwrap
from typing import Optional

from google.protobuf import text_encoding

from pipeline.init import rules
from pipeline.init.encodings import Choice
from pipeline.init.profile import Column
from pipeline.init.stats import FLOAT, INT, STRING
from pipeline.init.task import LabelPlan

SCHEMA_TYPE = {INT: "INT", FLOAT: "FLOAT", STRING: "BYTES"}


def comment(text: str, indent: str = "") -> str:
    """`text` as `# ` lines of at most 79 characters."""
    return textwrap.fill(text, 79, initial_indent=indent + "# ",
                         subsequent_indent=indent + "# ",
                         break_on_hyphens=False, break_long_words=False)


def _line(field: str, why: str) -> list[str]:
    """`  field  # why` when it fits in 79 characters, else the reason above."""
    inline = f"  {field}  # {why}"
    if len(inline) <= 79:
        return [inline]
    return [comment(why, "  "), f"  {field}"]


def _quote(text: str) -> str:
    return '"' + text_encoding.CEscape(text, as_utf8=True) + '"'


def _number(value: float, kind: str) -> str:
    return str(int(value)) if kind == INT else repr(float(value))


def presence(column: Column) -> tuple[float, int, str]:
    """(min_fraction, min_count, comment) from what was seen."""
    seen = column.present_fraction
    detail = f"seen {seen:.1%}"
    if column.blank:
        tokens = ", ".join(f"{n} {t!r}" for t, n in column.null_tokens.items())
        detail += f" ({column.blank} blank" + (f", of them {tokens}"
                                              if tokens else "") + ")"
    if column.blank == 0:
        return 1.0, 1, detail
    margin = max(rules.PRESENCE_MARGIN, rules.PRESENCE_SIGMAS * math.sqrt(
        seen * (1 - seen) / column.rows))
    floor = math.floor((seen - margin) * 100) / 100
    if floor <= 0:
        return 0.0, 0, detail + "; optional"
    return floor, 1, detail + f"; less max({rules.PRESENCE_MARGIN:g}, " \
                              f"{rules.PRESENCE_SIGMAS:g} standard errors)"


def _outward(low: float, high: float, width: float,
             kind: str) -> tuple[float, float]:
    if kind == INT:
        return math.floor(low), math.ceil(high)
    digits = 1 - math.floor(math.log10(width))   # a tenth of the width
    step = 10.0 ** -digits
    return (round(math.floor(low / step) * step, max(digits, 0)),
            round(math.ceil(high / step) * step, max(digits, 0)))


def numeric_domain(column: Column) -> tuple[Optional[float], Optional[float],
                                           str]:
    """(min or None, max or None, comment): the seen range with headroom."""
    lo, hi = column.min, column.max
    width = (hi - lo) or max(abs(hi), 1.0)
    low, high = _outward(lo - rules.RANGE_HEADROOM * width,
                         hi + rules.RANGE_HEADROOM * width, width, column.type)
    widened = f"widened by {rules.RANGE_HEADROOM:g}x its width"
    low_why = high_why = widened
    tail = f"skewness {column.skewness:.1f}, |.| >= {rules.TAIL_MIN_SKEWNESS:g}"
    if column.skewness >= rules.TAIL_MIN_SKEWNESS:
        high, high_why = None, f"none (long right tail: {tail})"
    if lo >= 0 and low < 0:
        low, low_why = 0, "0 (never negative)"
    elif lo < 0 and -column.skewness >= rules.TAIL_MIN_SKEWNESS:
        low, low_why = None, f"none (long left tail: {tail})"
    if low_why == high_why:
        return low, high, f"seen {lo:g}..{hi:g}, {widened} each side"
    return low, high, f"seen {lo:g}..{hi:g}; min {low_why}; max {high_why}"


def _numeric_lines(column: Column, exact: bool) -> list[str]:
    field = "int_domain" if column.type == INT else "float_domain"
    if exact:
        return _line(f"{field} {{ min: {_number(column.min, column.type)} "
                     f"max: {_number(column.max, column.type)} }}",
                     "the classes seen; a new one is an anomaly")
    low, high, why = numeric_domain(column)
    bounds = " ".join(f"{key}: {_number(value, column.type)}"
                      for key, value in (("min", low), ("max", high))
                      if value is not None)
    if not bounds:
        return [comment(f"No range: {why}.", "  ")]
    return _line(f"{field} {{ {bounds} }}", why)


def _string_domain_lines(column: Column, closed: bool) -> list[str]:
    values = column.sorted_values()
    shares = ", ".join(f"{v} {column.share(v):.0%}"
                       for v, _ in column.values.most_common(6))
    lines = [comment(f"Every value seen ({shares}"
                     f"{', ...' if len(values) > 6 else ''}).", "  ")]
    lines.append("  string_domain {")
    lines += [f"    value: {_quote(v)}" for v in values]
    lines.append("  }")
    if not closed:
        lines += _line(f"distribution_constraints {{ min_domain_mass: "
                       f"{rules.STRING_DOMAIN_MIN_MASS:g} }}",
                       f"a new value under "
                       f"{1 - rules.STRING_DOMAIN_MIN_MASS:.0%} of rows "
                       f"passes, a new major one does not")
    return lines


def string_domain_fits(column: Column) -> bool:
    return (column.type == STRING and not column.overflow
            and 2 <= column.distinct <= rules.STRING_DOMAIN_MAX_VALUES
            and column.present >= rules.STRING_DOMAIN_MIN_ROWS_PER_VALUE
            * column.distinct)


def _feature(column: Column, lines: list[str]) -> str:
    return "\n".join(["feature {", f"  name: {_quote(column.name)}",
                      f"  type: {SCHEMA_TYPE[column.type]}", *lines, "}"])


def _value_count(column: Column) -> str:
    if column.blank:
        return "  value_count { max: 1 }  # blank cell = present with 0 values"
    return "  value_count { min: 1 max: 1 }"


def label_feature(column: Column, label: LabelPlan) -> str:
    lines = [*_line('not_in_environment: "SERVING"',
                    "a prediction request does not carry its label"),
             "  value_count { min: 1 max: 1 }",
             *_line("presence { min_fraction: 1.0 min_count: 1 }",
                    "seen 100%; every row needs its label")]
    if label.task == "regression":
        lines += _numeric_lines(column, exact=False)
    elif column.type == STRING:
        lines += _string_domain_lines(column, closed=True)
    else:
        lines += _numeric_lines(column, exact=True)
    return (comment(f"The label ({label.task}: {label.rule}).") + "\n"
            + _feature(column, lines))


def feature(choice: Choice) -> str:
    column = choice.column
    if choice.dropped:
        return (comment(f"Dropped from the model: {choice.why}. Only its "
                        f"type is checked.") + "\n" + _feature(column, [
                    "  value_count { max: 1 }",
                    "  presence { min_fraction: 0.0 min_count: 0 }"]))
    fraction, count, why = presence(column)
    lines = [_value_count(column),
             *_line(f"presence {{ min_fraction: {fraction!r} min_count: "
                    f"{count} }}", why)]
    lines += _line(_drift_comparator(column), "vs the served model's data")
    if column.type in (INT, FLOAT):
        lines += _numeric_lines(column, exact=False)
    elif string_domain_fits(column):
        lines += _string_domain_lines(column, closed=False)
    else:
        lines.append(comment(
            f"No domain: {column.distinct} values (a closed domain needs <= "
            f"{rules.STRING_DOMAIN_MAX_VALUES} and >= "
            f"{rules.STRING_DOMAIN_MIN_ROWS_PER_VALUE} rows per value); "
            f"unseen values go to the out-of-vocabulary bucket.", "  "))
    return (comment(f"{choice.encoding}: {choice.why}.") + "\n"
            + _feature(column, lines))


def _drift_comparator(column: Column) -> str:
    if column.type in (INT, FLOAT):
        return ("drift_comparator { jensen_shannon_divergence { threshold: "
                f"{rules.DRIFT_JENSEN_SHANNON:g} }} }}")
    return ("drift_comparator { infinity_norm { threshold: "
            f"{rules.DRIFT_L_INFINITY:g} }} }}")


def header(source: str, rows: int, null_values: tuple[str, ...]) -> str:
    tokens = (", ".join(repr(t) for t in null_values) if null_values
              else "none")
    bullets = [
        f"`type` is what CsvExampleGen infers from the CSV text (INT without "
        f"a decimal point, FLOAT with one, BYTES otherwise), after null "
        f"tokens ({tokens}) became blank cells. A column whose text changes "
        f"kind later is a type anomaly.",
        "`value_count {min: 1 max: 1}`: filled in every row seen. Columns "
        "with blanks get `value_count {max: 1}`: CsvExampleGen writes a blank "
        "cell as a present feature with zero values, not as an absent one.",
        "No `shape`, on purpose: Transform must parse every feature as "
        "VarLen; a fixed shape would make it dense and reject the blanks.",
        f"`presence.min_fraction`: the fraction seen, less max("
        f"{rules.PRESENCE_MARGIN:g}, {rules.PRESENCE_SIGMAS:g} standard "
        f"errors), rounded down; 1.0 when never blank.",
        f"Numeric domains: the seen range widened by "
        f"{rules.RANGE_HEADROOM:g}x its width on each side, rounded outward; "
        f"non-negative columns keep floor 0; a long tail (|skewness| >= "
        f"{rules.TAIL_MIN_SKEWNESS:g}) leaves that side open.",
        f"String domains: text columns with <= "
        f"{rules.STRING_DOMAIN_MAX_VALUES} values and >= "
        f"{rules.STRING_DOMAIN_MIN_ROWS_PER_VALUE} rows per value list every "
        f"value seen, with min_domain_mass {rules.STRING_DOMAIN_MIN_MASS:g}.",
        f"`drift_comparator` (DriftCheck: the newest span against the served "
        f"model's training data): Jensen-Shannon "
        f"{rules.DRIFT_JENSEN_SHANNON:g} on numbers, L-infinity "
        f"{rules.DRIFT_L_INFINITY:g} on text; drift is reported, and stops "
        f"a run only with --drift gate.",
    ]
    lines = [comment(
        f"Raw schema inferred by `tfx-prod init` from {source} ({rows} rows), "
        f"then curated (tensorflow_metadata Schema). ImportSchemaGen imports "
        f"it, ExampleValidator checks every span against it, Transform parses "
        f"with it. Edit it when you know better than the sample: init can "
        f"only see the data."), "#", "# Conventions for every feature:"]
    lines += [textwrap.fill(b, 79, initial_indent="#   * ",
                            subsequent_indent="#     ",
                            break_on_hyphens=False) for b in bullets]
    return "\n".join(lines) + "\n"


def render(source: str, rows: int, null_values: tuple[str, ...],
           columns: list[Column], label: LabelPlan,
           choices: list[Choice]) -> str:
    """The whole schema file, features in the CSV's column order."""
    by_name = {c.name: c for c in choices}
    parts = [label_feature(column, label) if column.name == label.name
             else feature(by_name[column.name]) for column in columns]
    environments = ("# TRAINING: the CSV spans; SERVING: what a client sends.\n"
                    'default_environment: "TRAINING"\n'
                    'default_environment: "SERVING"\n')
    return (header(source, rows, null_values) + "\n" + environments + "\n"
            + "\n\n".join(parts) + "\n")
