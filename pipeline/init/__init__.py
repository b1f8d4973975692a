"""`tfx-prod init`: turn a CSV with a label column into a project.

    init_project(DIR, csv=FILE, label=COLUMN) -> InitResult

lays out DIR/span-1/data.csv (the CSV, verbatim), infers and curates
DIR/schema/schema.pbtxt from TFDV statistics (no Transform, no training) and
writes DIR/tfx-prod.yaml, which pipeline.project.load accepts. Bad input
raises InitError (exit 2) before anything is written.

Layout (imports run one way, this module -> the rest; rules is shared):
  rules.py         every threshold, with why it has its value
  csv_scan.py      check the CSV; count each column; the blanked copy for TFDV
  stats.py         TFDV statistics: types, numeric ranges
  profile.py       one Column of facts per CSV column (scan + TFDV)
  task.py          the label's task and facts (positive, classes)
  encodings.py     each feature's encoding, or why to drop it; slices
  gates.py         default gates per task
  schema_text.py   the commented schema
  project_file.py  the commented project file
  layout.py        where files go; refusal without --force; backups
"""
import dataclasses
import pathlib
import re
import shlex
import shutil
import tempfile
from typing import Optional

from pipeline.init.errors import InitError

__all__ = ["InitError", "InitResult", "init_project", "project_name"]


@dataclasses.dataclass(frozen=True)
class InitResult:
    directory: pathlib.Path
    project_file: pathlib.Path
    lines: tuple[str, ...]            # one per column: what and why
    hints: tuple[str, ...]            # things the user may want to change
    backup: Optional[pathlib.Path]

    @property
    def next_command(self) -> str:
        return f"tfx-prod run --config {self.project_file}"

    def report(self) -> str:
        text = list(self.lines)
        if self.hints:
            text += ["", "Check:"] + [f"  * {hint}" for hint in self.hints]
        if self.backup:
            text += ["", f"The previous project's files are in {self.backup}"]
        text += ["", f"Wrote {self.project_file.parent}/{{tfx-prod.yaml, "
                     f"schema/schema.pbtxt, span-1/data.csv}}.",
                 "Look at the project file (every choice has its reason), "
                 "then run:", f"  {self.next_command}"]
        return "\n".join(text)


def project_name(given: Optional[str], csv_path: str) -> str:
    """--name, or the CSV's file name lowercased to [a-z0-9-]."""
    from pipeline import project
    if given is not None:
        if not project.NAME.fullmatch(given):
            raise InitError(
                f"--name {given!r}: use lowercase letters, digits and '-', "
                f"starting with a letter or digit, at most 63 characters (it "
                f"names the pipeline and the served model), e.g. "
                f"{project_name(None, given + '.csv')!r}")
        return given
    stem = pathlib.Path(csv_path).stem.lower()
    name = re.sub(r"[^a-z0-9]+", "-", stem).strip("-")[:63].rstrip("-")
    return name or "dataset"


def _cells(n: int) -> str:
    return f"{n} cell" if n == 1 else f"{n} cells"


def _hints(columns, null_values) -> list[str]:
    from pipeline.init import rules
    from pipeline.init.stats import STRING
    hints = []
    for column in columns:
        others = column.non_numeric
        if (column.type == STRING and column.present and others
                and column.numeric_cells / column.present
                >= rules.NUMERIC_BUT_FOR_FRACTION
                and len(others) <= rules.NUMERIC_BUT_FOR_MAX_TOKENS):
            tokens = ", ".join(f"{t!r} ({_cells(n)})"
                               for t, n in others.items())
            hints.append(f"{column.name!r} is text only because of {tokens}; "
                         f"if that means missing, re-run with --null-values "
                         f"{shlex.quote(','.join(others))} (and --force)")
            continue
        common = [t for t in rules.COMMON_NULL_TOKENS if t in column.values
                  and t not in null_values]
        if common:
            tokens = ", ".join(f"{t!r} ({_cells(column.values[t])})"
                               for t in common)
            hints.append(f"{column.name!r} holds {tokens}; if that means "
                         f"missing, re-run with --null-values "
                         f"{shlex.quote(','.join(common))} (and --force)")
    return hints


def init_project(directory, *, csv: str, label: str,
                 task: Optional[str] = None, positive: Optional[str] = None,
                 null_values=None, name: Optional[str] = None,
                 force: bool = False, progress=lambda message: None
                 ) -> InitResult:
    """Writes a project for `csv` into `directory`; see the module doc."""
    from components.csv_example_gen import null_values as null_values_lib
    from pipeline import project
    from pipeline.init import (csv_scan, encodings, gates, layout, profile,
                               project_file, schema_text, stats)
    from pipeline.init import task as task_lib

    directory = pathlib.Path(directory).absolute()
    if task is not None and task not in project.TASKS:
        raise InitError(f"--task {task!r}: one of {', '.join(project.TASKS)}")
    try:
        tokens = null_values_lib.parse(null_values)
    except ValueError as error:
        raise InitError(f"--null-values: {error}") from None
    name = project_name(name, csv)
    layout.check_target(directory, force)
    names = csv_scan.read_header(csv)
    if label not in names:
        raise InitError(_unknown_label(label, names, csv))

    with tempfile.TemporaryDirectory(prefix="tfx-prod-init-") as tmp:
        staging = pathlib.Path(tmp)
        copy = staging / layout.SPAN_CSV
        copy.parent.mkdir(parents=True)
        shutil.copyfile(csv, copy)   # verbatim, and safe if csv is DIR's own
        blanked = staging / "blanked.csv"
        progress(f"reading {csv}")
        table = csv_scan.scan(str(copy), names, tokens, str(blanked))
        label_text = table.column(label)
        task_lib.check_label_cells(label, table.rows, label_text.blank,
                                   dict(label_text.null_tokens),
                                   len(label_text.counts),
                                   next(iter(label_text.counts), None))
        progress(f"statistics of {table.rows} rows x {len(names)} columns "
                 f"(TFDV)")
        _, column_stats = stats.column_stats(str(blanked))
        columns = profile.columns(table, column_stats)
        label_column = next(c for c in columns if c.name == label)
        plan = task_lib.plan(label_column, task, positive)
        choices = [encodings.choose(c) for c in columns if c.name != label]
        if all(c.dropped for c in choices):
            raise InitError(
                f"no usable feature column besides the label {label!r}: "
                + "; ".join(f"{c.name!r} {c.why}" for c in choices)
                + ". Add feature columns to the CSV")
        slices = encodings.slices(choices)
        gate_list = gates.gates(plan)
        source = pathlib.Path(csv).name
        (staging / layout.SCHEMA_FILE).parent.mkdir(parents=True)
        (staging / layout.SCHEMA_FILE).write_text(schema_text.render(
            source, table.rows, tokens, columns, plan, choices),
            encoding="utf-8")
        _check_schema(staging / layout.SCHEMA_FILE)
        (staging / layout.PROJECT_FILE).write_text(project_file.render(
            name=name, source=source, rows=table.rows, label=plan,
            null_values=tokens, choices=choices, slices=slices,
            gates=gate_list), encoding="utf-8")
        project.load(str(staging / layout.PROJECT_FILE))  # never write a bad one
        backup = layout.place(staging, directory, force)

    width = max(len(c.name) for c in columns)
    lines = [f"{table.rows} rows, {len(columns)} columns"
             + (f"; null tokens {', '.join(map(repr, tokens))} read as blank"
                if tokens else "") + ":"]
    lines.append(f"  {label:<{width}}  {label_column.type:<6}  label "
                 f"{plan.task}: {plan.rule}")
    lines += [f"  {c.name:<{width}}  {c.column.type:<6}  "
              f"{c.encoding or 'drop'}: {c.why}" for c in choices]
    return InitResult(directory=directory,
                      project_file=directory / layout.PROJECT_FILE,
                      lines=tuple(lines), hints=tuple(_hints(columns, tokens)),
                      backup=backup)


def _unknown_label(label: str, names: list[str], csv: str) -> str:
    import difflib
    lowered = {n.lower(): n for n in names}
    close = ([lowered[label.lower()]] if label.lower() in lowered else
             difflib.get_close_matches(label, names, n=3, cutoff=0.5))
    guess = (f" Did you mean {' or '.join(map(repr, close))}?" if close
             else "")
    return (f"--label {label!r} is not a column of {csv}.{guess} Its "
            f"columns: {', '.join(names)}")


def _check_schema(path: pathlib.Path) -> None:
    """The schema parses, and Transform would read every feature as VarLen."""
    import tensorflow as tf
    import tensorflow_data_validation as tfdv
    from tensorflow_transform.tf_metadata import schema_utils
    spec = schema_utils.schema_as_feature_spec(
        tfdv.load_schema_text(str(path))).feature_spec
    dense = [n for n, f in spec.items() if not isinstance(f, tf.io.VarLenFeature)]
    if dense:
        raise AssertionError(f"init wrote fixed-shape features {dense}")
