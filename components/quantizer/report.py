"""Per-variant report rows and the blessing rule: smallest variant within budget.

A row carries the task's two metrics under their own names (e.g. `auc` and
`accuracy`, or `rmse` and `mae`; see tasks.TASKS) and `metric_loss`: how much
worse than the float SavedModel the variant is in the gating metric.
"""
from typing import Dict, List, Optional

from components.quantizer import tasks
from components.quantizer.convert import ANCHOR_VARIANT

Row = Dict[str, object]


def row_keys(task: tasks.Task) -> tuple:
    """Every variant row carries exactly these keys (None where a variant failed).

    speedup_vs_float32 is batch-1 latency; throughput_vs_float32 is rows/s at
    throughput_batch_rows (score.THROUGHPUT_BATCH_ROWS).
    """
    return (
        "name", "size_bytes", "size_ratio_vs_float32", task.metric, task.secondary,
        "metric_loss", "max_abs_output_diff", "latency_ms_p50", "latency_ms_p90",
        "speedup_vs_float32", "throughput_batch_rows", "throughput_batch_ms_p50",
        "throughput_rows_per_s", "throughput_vs_float32", "within_budget", "error",
    )


def scored_row(task: tasks.Task, name: str, size_bytes: int, scores: Dict[str, float],
               max_abs_output_diff: float, latency: Dict[str, float],
               throughput: Dict[str, float], reference_scores: Dict[str, float],
               max_metric_loss: float) -> Row:
    """A variant that converted and ran; ratios vs float32 are filled later."""
    loss = tasks.metric_loss(task, reference_scores[task.metric], scores[task.metric])
    return {
        "name": name,
        "size_bytes": size_bytes,
        "size_ratio_vs_float32": None,
        task.metric: scores[task.metric],
        task.secondary: scores[task.secondary],
        "metric_loss": loss,
        "max_abs_output_diff": max_abs_output_diff,
        "latency_ms_p50": latency["latency_ms_p50"],
        "latency_ms_p90": latency["latency_ms_p90"],
        "speedup_vs_float32": None,
        "throughput_batch_rows": throughput["throughput_batch_rows"],
        "throughput_batch_ms_p50": throughput["throughput_batch_ms_p50"],
        "throughput_rows_per_s": throughput["throughput_rows_per_s"],
        "throughput_vs_float32": None,
        "within_budget": loss <= max_metric_loss,
        "error": None,
    }


def failed_row(task: tasks.Task, name: str, error: str) -> Row:
    """A variant that failed to convert or run: recorded, never blessed."""
    row = dict.fromkeys(row_keys(task))
    row.update(name=name, within_budget=False, error=error)
    return row


def add_anchor_ratios(rows: List[Row]) -> None:
    """Size ratio, batch-1 speedup and throughput ratio of every row against
    the float32 TFLite anchor."""
    anchor = next((row for row in rows
                   if row["name"] == ANCHOR_VARIANT and row["error"] is None), None)
    if anchor is None:
        return
    for row in rows:
        if row["error"] is None:
            row["size_ratio_vs_float32"] = row["size_bytes"] / anchor["size_bytes"]
            row["speedup_vs_float32"] = anchor["latency_ms_p50"] / row["latency_ms_p50"]
            row["throughput_vs_float32"] = (row["throughput_rows_per_s"]
                                            / anchor["throughput_rows_per_s"])


def choose_blessed(rows: List[Row]) -> Optional[Row]:
    """The smallest quantized variant that ran and stayed within the budget."""
    candidates = [row for row in rows
                  if row["name"] != ANCHOR_VARIANT and row["error"] is None
                  and row["within_budget"]]
    return min(candidates, key=lambda row: row["size_bytes"], default=None)


def explain(task: tasks.Task, blessed: Optional[Row], rows: List[Row],
            reference: float, max_metric_loss: float) -> str:
    """One sentence with the numbers behind the decision."""
    metric, label = task.metric, task.metric_label
    budget = f"{max_metric_loss:.4f} {tasks.loss_label(task)} budget"
    if blessed is not None:
        ratio = blessed["size_ratio_vs_float32"]
        ratio_text = f" ({ratio:.2f}x float32)" if ratio is not None else ""
        return (
            f"{blessed['name']} is the smallest variant within the {budget}: "
            f"{blessed['size_bytes']} bytes{ratio_text}, {label} {blessed[metric]:.4f} "
            f"vs reference {reference:.4f} (loss {blessed['metric_loss']:+.4f})."
        )
    outcomes = []
    for row in rows:
        if row["name"] == ANCHOR_VARIANT:
            continue
        if row["error"] is not None:
            outcomes.append(f"{row['name']} failed ({row['error'][:80]})")
        else:
            outcomes.append(f"{row['name']} loss {row['metric_loss']:+.4f}")
    return (
        f"No quantized variant is within the {budget} "
        f"(reference {label} {reference:.4f}; {', '.join(outcomes)}); "
        f"shipping the SavedModel only."
    )


def describe_row(task: tasks.Task, row: Row) -> str:
    """The one-line progress log for a variant."""
    if row["error"] is not None:
        return f"{row['name']}: FAILED: {row['error']}"
    ratio = row["size_ratio_vs_float32"]
    speedup = row["speedup_vs_float32"]
    rows_ratio = row["throughput_vs_float32"]
    return (
        f"{row['name']}: {row['size_bytes']} bytes"
        f"{f' ({ratio:.2f}x float32)' if ratio is not None else ''}, "
        f"{task.metric_label} {row[task.metric]:.4f} (loss {row['metric_loss']:+.4f}, "
        f"{'within' if row['within_budget'] else 'over'} budget), "
        f"{task.secondary_label} {row[task.secondary]:.4f}, "
        f"max|d output| {row['max_abs_output_diff']:.4g}, "
        f"p50 {row['latency_ms_p50']:.3f} ms, p90 {row['latency_ms_p90']:.3f} ms"
        f"{f' ({speedup:.2f}x float32)' if speedup is not None else ''}, "
        f"batch {row['throughput_batch_rows']} {row['throughput_rows_per_s']:,.0f} rows/s"
        f"{f' ({rows_ratio:.2f}x float32)' if rows_ratio is not None else ''}"
    )
