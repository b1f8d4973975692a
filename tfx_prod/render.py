"""Text rendering of a run summary (see tfx_prod.summary for the dict)."""
from tfx_prod.progress import format_seconds


def _fmt(value, spec=".4f"):
    """Formats a metric; a missing one is a right-aligned '-' of the same width."""
    if value is None or value != value:  # None or NaN
        width = spec.lstrip(">").split(".")[0]
        return "-".rjust(int(width)) if width.isdigit() else "-"
    return format(value, spec)


def _eval_lines(evaluation) -> list[str]:
    lines = ["Evaluation (eval split, candidate model):",
             f"  {'slice':<28} {'examples':>8} {'AUC':>7} {'accuracy':>9}"
             f" {'calibration':>11}"]

    def row(name, metrics):
        # AUC is undefined on a slice holding one class (e.g. 1 Pcard trip).
        auc = (metrics.get("auc")
               if 0 < metrics.get("mean_label", 0.5) < 1 else None)
        return (f"  {name:<28} {_fmt(metrics.get('example_count'), '>8.0f')}"
                f" {_fmt(auc, '>7.4f')}"
                f" {_fmt(metrics.get('binary_accuracy'), '>9.4f')}"
                f" {_fmt(metrics.get('calibration'), '>11.3f')}")

    lines.append(row("overall", evaluation["overall"]))
    hours = {}
    for name, metrics in sorted(evaluation["slices"].items()):
        if name.startswith("trip_start_hour="):
            hours[name] = metrics
        else:
            lines.append(row(name, metrics))
    scored = [(m["auc"], n) for n, m in hours.items()
              if m.get("auc") is not None and m.get("example_count", 0) >= 50]
    if scored:
        (low, low_name), (high, high_name) = min(scored), max(scored)
        lines.append(f"  {len(hours)} trip_start_hour slices: AUC from "
                     f"{low:.4f} ({low_name}) to {high:.4f} ({high_name})"
                     " among hours with >= 50 trips")
    diff = evaluation["overall"].get("auc_diff")
    if diff is not None:
        lines.append(f"  AUC vs latest blessed model: {diff:+.4f}")
    return lines


def _quantization_lines(report) -> list[str]:
    lines = [f"Quantization (budget: AUC drop <= {report['max_auc_drop']:.3f},"
             f" {report['eval_examples']} eval examples; reference SavedModel"
             f" AUC {report['reference']['auc']:.4f}):",
             f"  {'variant':<14} {'size':>10} {'x float':>8} {'AUC':>7}"
             f" {'dAUC':>8} {'p50 ms':>7} {'speed-up':>8}  verdict"]
    for v in report["variants"]:
        if v.get("error"):
            lines.append(f"  {v['name']:<14} conversion failed: {v['error']}")
            continue
        verdict = ("BLESSED" if v["name"] == report["blessed_variant"] else
                   "anchor" if v["name"] == "float32" else
                   "within budget" if v["within_budget"] else "over budget")
        lines.append(
            f"  {v['name']:<14} {v['size_bytes']:>10,} "
            f"{v['size_ratio_vs_float32']:>7.2f}x {v['auc']:>7.4f} "
            f"{-v['auc_drop']:>+8.4f} {v['latency_ms_p50']:>7.3f} "
            f"{v['speedup_vs_float32']:>7.2f}x  {verdict}")
    lines.append(f"  {report['reason']}")
    return lines


def _optimization_lines(report) -> list[str]:
    kind = report.get("optimization", "none")
    lines = [f"Training: recipe {kind}, {report.get('params', 0):,} parameters"
             + (f"; {report['strategy_reason']}" if report.get("strategy_reason")
                else "")]
    if kind == "prune":
        layers = ", ".join(f"{name} {value:.2f}" for name, value in
                           report.get("sparsity_per_layer", {}).items())
        lines.append(f"  sparsity {report['sparsity']:.3f} of Dense weights "
                     f"({report['nonzero_params']:,} non-zero); per layer: "
                     f"{layers}")
    elif kind == "distill":
        lines.append(
            f"  student {report['params']:,} params = "
            f"{report['param_ratio']:.1%} of teacher "
            f"{report['teacher_params']:,} ({report['teacher_source']}); "
            f"AUC student {report['student_auc']:.4f} vs teacher "
            f"{report['teacher_auc']:.4f} ({report['auc_retention']:.1%})")
    return lines


def render(summary: dict) -> str:
    """The end-of-run report printed by `tfx-prod run`."""
    lines = ["", "Components:"]
    for c in summary["components"]:
        lines.append(f"  {c['id']:<32} {format_seconds(c['seconds']):>7}  "
                     f"{c['state']}")
    lines.append(f"  total wall time {format_seconds(summary['wall_seconds'])}"
                 + ("  (everything reused from cache: no new data or code)"
                    if summary["all_cached"] else ""))
    if summary.get("optimization"):
        lines += [""] + _optimization_lines(summary["optimization"])
    if summary.get("eval"):
        lines += [""] + _eval_lines(summary["eval"])
    if summary.get("blessed") is not None:
        verdict = "BLESSED" if summary["blessed"] else "NOT BLESSED"
        lines += ["", f"Blessing: {verdict}: {summary['blessing_reason']}"]
    if summary.get("quantization"):
        lines += [""] + _quantization_lines(summary["quantization"])
    if summary.get("pushed_to"):
        lines += ["", f"Pushed to: {summary['pushed_to']}"]
    return "\n".join(lines)
