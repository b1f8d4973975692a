"""What the Quantizer scores for each task, and how its report names it.

The one home of these facts: the executor scores variants with them, the
report records them, and every reader of `quantization_report.json` (the run
summary, the HTML report, the benchmarks) displays them through `readable`,
which also upgrades binary reports written before tasks existed.

Pure Python (no TensorFlow, no numpy), so readers import it for free.
"""
import math
from typing import NamedTuple, Optional


class Task(NamedTuple):
    """One task's metrics, the model output it expects and its label type."""

    name: str
    metric: str              # Row key of the gating metric.
    metric_label: str        # How displays name it.
    higher_is_better: bool
    secondary: str           # Row key of the second, informative metric.
    secondary_label: str
    output_width: Optional[int]  # Units of the one output; None: K >= 2 classes.
    output_text: str         # What that output holds, for error messages.
    label_dtype: str         # Of the label feature in the transformed examples.
    default_budget: Optional[float]  # None: the caller must choose one.


TASKS = {
    "binary": Task("binary", "auc", "AUC", True, "accuracy", "accuracy",
                   1, "P(positive)", "int64", 0.01),
    "multiclass": Task("multiclass", "macro_auc", "macro AUC", True,
                       "accuracy", "accuracy", None,
                       "softmax probabilities over the K >= 2 classes", "int64", 0.01),
    # RMSE is in the label's units: no budget fits every dataset.
    "regression": Task("regression", "rmse", "RMSE", False, "mae", "MAE",
                       1, "the predicted value", "float32", None),
}
DEFAULT_TASK = "binary"


def get(name: str) -> Task:
    if name not in TASKS:
        raise ValueError(f"task={name!r}: allowed: {', '.join(TASKS)}.")
    return TASKS[name]


def loss_label(task: Task) -> str:
    """'AUC drop', 'macro AUC drop', 'RMSE increase'."""
    return f"{task.metric_label} {'drop' if task.higher_is_better else 'increase'}"


def metric_loss(task: Task, reference: float, value: float) -> float:
    """How much worse `value` is than `reference`, in the task's metric."""
    return reference - value if task.higher_is_better else value - reference


def budget(task: Task, value: Optional[float]) -> float:
    """The allowed metric loss: `value`, else the task's default; >= 0, finite."""
    if value is None:
        value = task.default_budget
    if value is None:
        raise ValueError(
            f"task {task.name!r} needs max_metric_loss: the {loss_label(task)} a "
            f"variant may cost, in the label's units.")
    value = float(value)
    if not math.isfinite(value) or value < 0:
        raise ValueError(
            f"max_metric_loss must be a finite number >= 0 (the largest "
            f"{loss_label(task)} allowed), got {value}.")
    return value


def expected_output(task: Task) -> str:
    width = "K" if task.output_width is None else str(task.output_width)
    return f"[batch, {width}] ({task.output_text})"


def output_width(task: Task, shape: list, signature_key: str, output_name: str) -> int:
    """The output's width, or a ValueError saying what the task needs."""
    width = shape[1] if len(shape) == 2 else None
    fits = (width == task.output_width if task.output_width is not None
            else width is not None and width >= 2)
    if not fits:
        raise ValueError(
            f"Signature {signature_key!r} output {output_name!r} has shape "
            f"{shape}; a {task.name} model must output {expected_output(task)}.")
    return width


def header(task: Task) -> dict:
    """The report's description of what its numbers measure."""
    return {
        "task": task.name,
        "metric": task.metric,
        "metric_label": task.metric_label,
        "higher_is_better": task.higher_is_better,
        "metric_loss_label": loss_label(task),
        "secondary_metric": task.secondary,
        "secondary_metric_label": task.secondary_label,
    }


# --- for readers of quantization_report.json --------------------------------

def readable(report: dict) -> dict:
    """`report` with the current keys.

    A report from before tasks (binary only: `max_auc_drop`, rows with
    `auc_drop` and `max_abs_prob_diff`) gains the binary header and the
    task-neutral keys, so past runs still render.
    """
    if "task" in report:
        return report
    rows = [{**row, "metric_loss": row.get("auc_drop"),
             "max_abs_output_diff": row.get("max_abs_prob_diff")}
            for row in report.get("variants") or []]
    return {**header(TASKS["binary"]), **report, "variants": rows,
            "max_metric_loss": report.get("max_auc_drop")}


def change(report: dict, row: dict) -> float:
    """The row's metric minus the reference's (AUC: negative is worse;
    RMSE: positive is worse)."""
    metric = report["metric"]
    return row[metric] - report["reference"][metric]


def budget_bound(report: dict) -> float:
    """The worst metric value still within budget."""
    reference = report["reference"][report["metric"]]
    sign = -1 if report["higher_is_better"] else 1
    return reference + sign * report["max_metric_loss"]
