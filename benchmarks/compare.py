"""Ratios of our pipeline against the anchor, and the goals they meet.

Goals come from the project brief. A goal is met/missed only when both
sides were measured in this run; otherwise it is None ("n/a").
"""
COLD_WALL_MAX = 0.6       # ours cold wall / TFX example cold wall
RERUN_MAX = 0.1           # ours cached re-run / ours cold
INT8_SIZE_MAX = 0.27      # int8 size / float32 size
INT8_SPEEDUP_MIN = 2.0    # float32 batch-1 p50 / int8 batch-1 p50
INT8_AUC_DROP_MAX = 0.01  # one AUC point


def succeeded(pipeline):
    return bool(pipeline) and pipeline.get("status") == "succeeded"


def run_ok(pipeline, run):
    """The run exited 0 and, if it wrote a summary, says it succeeded."""
    measured = (pipeline or {}).get(run)
    if not measured or measured.get("returncode") != 0:
        return False
    summary = measured.get("summary")
    return "summary" not in measured or (
        bool(summary) and summary.get("status") == "succeeded")


def measured(pipeline, run, key):
    return ((pipeline or {}).get(run) or {}).get(key)


def wall(pipeline, run):
    return measured(pipeline, run, "wall_seconds")


def peak_rss_mb(pipeline):
    """Peak memory over both runs: tree RSS, else the largest process."""
    values = []
    for run in ("cold", "cached"):
        measured = (pipeline or {}).get(run) or {}
        value = measured.get("peak_tree_rss_mb")
        if value is None:
            value = measured.get("max_process_rss_mb")
        if value is not None:
            values.append(value)
    return max(values) if values else None


def served_bytes(pipeline):
    """Size of the model as deployed (pushed), else the trained SavedModel."""
    pipeline = pipeline or {}
    return pipeline.get("pushed_bytes") or pipeline.get("saved_model_bytes")


def ratio(numerator, denominator):
    if numerator is None or not denominator:
        return None
    return numerator / denominator


def rerun_over_cold(pipeline):
    return ratio(wall(pipeline, "cached"), wall(pipeline, "cold"))


def int8_variant(ours):
    quant = (ours or {}).get("quantization") or {}
    for variant in quant.get("variants") or []:
        if variant.get("name") == "int8":
            return variant
    return None


def _goal(goal_id, text, value, target, better):
    met = None
    if value is not None:
        met = value <= target if better == "<=" else value >= target
    return {"id": goal_id, "goal": text, "value": value, "target": target,
            "better": better, "met": met}


def _int8_goals(ours):
    variant = int8_variant(ours)
    measured = (ours or {}).get("quantization") is not None
    if variant is None or variant.get("error"):
        # Quantization ran but int8 is missing or broke: that is a miss.
        value = {"size": None, "speed": None, "auc": None}
    else:
        value = {"size": variant.get("size_ratio_vs_float32"),
                 "speed": variant.get("speedup_vs_float32"),
                 "auc": variant.get("auc_drop")}
    goals = [
        _goal("int8_size", "int8 size ≤ 0.27× float32", value["size"],
              INT8_SIZE_MAX, "<="),
        _goal("int8_speed", "int8 batch-1 ≥ 2× faster than float32",
              value["speed"], INT8_SPEEDUP_MIN, ">="),
        _goal("int8_auc", "int8 loses ≤ 1 AUC point", value["auc"],
              INT8_AUC_DROP_MAX, "<="),
    ]
    for goal in goals:
        if goal["met"] is None and measured:
            goal["met"] = False
    return goals


def compute(anchor, ours):
    """Ratios ours/anchor and the goal checks, JSON-ready."""
    def both_ok(run):
        return run_ok(anchor, run) and run_ok(ours, run)

    acc = (((ours or {}).get("eval") or {}).get("binary_accuracy"),
           ((anchor or {}).get("eval") or {}).get("binary_accuracy"))
    ratios = {
        "cold_wall": (ratio(wall(ours, "cold"), wall(anchor, "cold"))
                      if both_ok("cold") else None),
        "cached_wall": (ratio(wall(ours, "cached"), wall(anchor, "cached"))
                        if both_ok("cached") else None),
        "cold_cpu": (ratio(measured(ours, "cold", "cpu_seconds"),
                           measured(anchor, "cold", "cpu_seconds"))
                     if both_ok("cold") else None),
        "peak_rss": (ratio(peak_rss_mb(ours), peak_rss_mb(anchor))
                     if succeeded(anchor) and succeeded(ours) else None),
        "served_model_size": ratio(served_bytes(ours), served_bytes(anchor)),
        "accuracy_delta": acc[0] - acc[1] if None not in acc else None,
    }
    rerun = rerun_over_cold(ours) if succeeded(ours) else None
    goals = [
        _goal("cold_wall", "ours cold ≤ 0.6× the TFX example's wall time",
              ratios["cold_wall"], COLD_WALL_MAX, "<="),
        _goal("cached_rerun", "ours cached re-run ≤ 0.1× its cold run",
              rerun, RERUN_MAX, "<="),
    ] + _int8_goals(ours)
    return {"ratios": ratios, "goals": goals}
