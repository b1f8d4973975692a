"""The project file (`tfx-prod.yaml`) as commented YAML.

Written by hand rather than by yaml.dump so every choice carries its reason
as a comment. Every string is written JSON-quoted (valid YAML): a label value
such as `yes`, `NA` or `1` must stay text, and column names may hold spaces,
colons or parentheses. `init` loads the result with pipeline.project.load
before placing it, so a file it writes is always one `run` accepts.
"""
import json
import textwrap

from pipeline.init.encodings import Choice
from pipeline.init.task import LabelPlan


def _q(text: str) -> str:
    return json.dumps(text, ensure_ascii=False)


def _spec(choice: Choice) -> str:
    spec = choice.spec()
    if isinstance(spec, str):
        return spec
    return "{" + ", ".join(f"{k}: {v}" for k, v in spec.items()) + "}"


def _entry(line: str, why: str, indent: str = "  ") -> list[str]:
    """`line  # why` when it fits in 79 characters, else the reason above."""
    inline = f"{line}  # {why}"
    if len(inline) <= 79:
        return [inline]
    return textwrap.wrap(why, 79, initial_indent=indent + "# ",
                         subsequent_indent=indent + "# ",
                         break_on_hyphens=False) + [line]


def _gate(value: float) -> str:
    return f"{value:.6g}" if value else "0.0"


def render(*, name: str, source: str, rows: int, label: LabelPlan,
           null_values: tuple[str, ...], choices: list[Choice],
           slices: list[str], gates: list[tuple[str, float, str]]) -> str:
    kept = [c for c in choices if not c.dropped]
    dropped = [c for c in choices if c.dropped]
    lines = [
        f"# tfx-prod project, written by `tfx-prod init` from {source}",
        f"# ({rows} rows). Edit freely: `tfx-prod run --config <this file>` "
        f"reads it and",
        "# pipeline/project.py checks every key. Re-running init needs "
        "--force (it keeps",
        "# the old files in init-backup-*/).",
        "",
        "# Names the pipeline (tfx-prod-NAME), its ML Metadata context and "
        "the served model.",
        f"name: {_q(name)}",
        "# Where the span-N/ folders of CSV files are, relative to this file. "
        "New data is",
        "# a new span: span-2/data.csv, ... (the newest span is trained on).",
        "data: .",
        "# The curated raw schema; its comments say what each constraint "
        "guards.",
        "schema: schema/schema.pbtxt",
        "",
        f"label: {_q(label.name)}",
        f"# Inferred: {label.rule}.",
        f"task: {label.task}",
    ]
    if label.task == "binary":
        lines += textwrap.wrap(
            f"The label value that counts as positive (1), the other is 0 "
            f"({label.positive_why}).", 79, initial_indent="# ",
            subsequent_indent="# ", break_on_hyphens=False)
        lines += [f"positive: {_q(label.positive)}"]
    elif label.task == "multiclass":
        lines += ["# Sorted by value, not frequency: this is the model's "
                  "output order, and it must",
                  "# not change when tomorrow's mix of classes does.",
                  "classes: [" + ", ".join(_q(c) for c in label.classes) + "]"]
    lines += [
        "# Whole cells equal to one of these are read as blank (at "
        "ingestion, by our",
        "# CsvExampleGen; the CSV itself is never rewritten).",
        "null_values: [" + ", ".join(_q(t) for t in null_values) + "]",
        "",
        "# Model inputs and their encodings: numeric (z-score), log_numeric "
        "(log1p, then",
        "# z-score), integer_categorical (one-hot over low..high), "
        "categorical (vocabulary",
        "# of the top_k values + out-of-vocabulary).",
        "features:",
    ]
    for c in kept:
        lines += _entry(f"  {_q(c.name)}: {_spec(c)}", c.why)
    lines += ["# Columns that are not model inputs (the schema still checks "
              "their type)."]
    if dropped:
        lines += ["drop:"]
        for c in dropped:
            lines += _entry(f"  - {_q(c.name)}", c.why)
    else:
        lines += ["drop: []"]
    lines += [
        "# The Evaluator reports metrics per value of these (gates apply to "
        "all rows).",
        "slices: [" + ", ".join(_q(s) for s in slices) + "]",
        "",
        "# Blessing and shipping thresholds (Evaluator, Quantizer).",
        "gates:",
    ]
    for key, value, why in gates:
        lines += _entry(f"  {key}: {_gate(value)}", why)
    return "\n".join(lines) + "\n"
