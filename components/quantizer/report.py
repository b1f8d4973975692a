"""Per-variant report rows and the blessing rule: smallest variant within budget."""
from typing import Dict, List, Optional

from components.quantizer.convert import ANCHOR_VARIANT

Row = Dict[str, object]

# Every variant row carries exactly these keys (None where a variant failed).
ROW_KEYS = (
    "name", "size_bytes", "size_ratio_vs_float32", "auc", "accuracy", "auc_drop",
    "max_abs_prob_diff", "latency_ms_p50", "latency_ms_p90", "speedup_vs_float32",
    "within_budget", "error",
)


def scored_row(name: str, size_bytes: int, scores: Dict[str, float],
               max_abs_prob_diff: float, latency: Dict[str, float],
               reference_auc: float, max_auc_drop: float) -> Row:
    """A variant that converted and ran; ratios vs float32 are filled later."""
    auc_drop = reference_auc - scores["auc"]
    return {
        "name": name,
        "size_bytes": size_bytes,
        "size_ratio_vs_float32": None,
        "auc": scores["auc"],
        "accuracy": scores["accuracy"],
        "auc_drop": auc_drop,
        "max_abs_prob_diff": max_abs_prob_diff,
        "latency_ms_p50": latency["latency_ms_p50"],
        "latency_ms_p90": latency["latency_ms_p90"],
        "speedup_vs_float32": None,
        "within_budget": auc_drop <= max_auc_drop,
        "error": None,
    }


def failed_row(name: str, error: str) -> Row:
    """A variant that failed to convert or run: recorded, never blessed."""
    row = dict.fromkeys(ROW_KEYS)
    row.update(name=name, within_budget=False, error=error)
    return row


def add_anchor_ratios(rows: List[Row]) -> None:
    """Size ratio and speedup of every row against the float32 TFLite anchor."""
    anchor = next((row for row in rows
                   if row["name"] == ANCHOR_VARIANT and row["error"] is None), None)
    if anchor is None:
        return
    for row in rows:
        if row["error"] is None:
            row["size_ratio_vs_float32"] = row["size_bytes"] / anchor["size_bytes"]
            row["speedup_vs_float32"] = anchor["latency_ms_p50"] / row["latency_ms_p50"]


def choose_blessed(rows: List[Row]) -> Optional[Row]:
    """The smallest quantized variant that ran and stayed within the AUC budget."""
    candidates = [row for row in rows
                  if row["name"] != ANCHOR_VARIANT and row["error"] is None
                  and row["within_budget"]]
    return min(candidates, key=lambda row: row["size_bytes"], default=None)


def explain(blessed: Optional[Row], rows: List[Row],
            reference_auc: float, max_auc_drop: float) -> str:
    """One sentence with the numbers behind the decision."""
    if blessed is not None:
        ratio = blessed["size_ratio_vs_float32"]
        ratio_text = f" ({ratio:.2f}x float32)" if ratio is not None else ""
        return (
            f"{blessed['name']} is the smallest variant within the "
            f"{max_auc_drop:.4f} AUC budget: {blessed['size_bytes']} bytes{ratio_text}, "
            f"AUC {blessed['auc']:.4f} vs reference {reference_auc:.4f} "
            f"(drop {blessed['auc_drop']:+.4f})."
        )
    outcomes = []
    for row in rows:
        if row["name"] == ANCHOR_VARIANT:
            continue
        if row["error"] is not None:
            outcomes.append(f"{row['name']} failed ({row['error'][:80]})")
        else:
            outcomes.append(f"{row['name']} drop {row['auc_drop']:+.4f}")
    return (
        f"No quantized variant is within the {max_auc_drop:.4f} AUC budget "
        f"(reference AUC {reference_auc:.4f}; {', '.join(outcomes)}); "
        f"shipping the SavedModel only."
    )


def describe_row(row: Row) -> str:
    """The one-line progress log for a variant."""
    if row["error"] is not None:
        return f"{row['name']}: FAILED: {row['error']}"
    ratio = row["size_ratio_vs_float32"]
    speedup = row["speedup_vs_float32"]
    return (
        f"{row['name']}: {row['size_bytes']} bytes"
        f"{f' ({ratio:.2f}x float32)' if ratio is not None else ''}, "
        f"AUC {row['auc']:.4f} (drop {row['auc_drop']:+.4f}, "
        f"{'within' if row['within_budget'] else 'over'} budget), "
        f"accuracy {row['accuracy']:.4f}, max|dp| {row['max_abs_prob_diff']:.4f}, "
        f"p50 {row['latency_ms_p50']:.3f} ms, p90 {row['latency_ms_p90']:.3f} ms"
        f"{f' ({speedup:.2f}x float32)' if speedup is not None else ''}"
    )
