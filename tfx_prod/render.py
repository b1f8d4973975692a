"""Text rendering of a run summary (see tfx_prod.summary for the dict)."""
from tfx_prod.progress import format_seconds


def _fmt(value, spec=".4f"):
    """Formats a metric; a missing one is a right-aligned '-' of the same width."""
    if value is None or value != value:  # None or NaN
        width = spec.lstrip(">").split(".")[0]
        return "-".rjust(int(width)) if width.isdigit() else "-"
    return format(value, spec)


# Per task: (column title, metric key, format); the first is the headline.
EVAL_COLUMNS = {
    "binary": [("AUC", "auc", ".4f"), ("accuracy", "binary_accuracy", ".4f"),
               ("calibration", "calibration", ".3f")],
    "multiclass": [("macro AUC", "macro_auc", ".4f"),
                   ("accuracy", "sparse_categorical_accuracy", ".4f")],
    "regression": [("RMSE", "root_mean_squared_error", ".4g"),
                   ("MAE", "mean_absolute_error", ".4g"),
                   ("mean label", "mean_label", ".4g")],
}
# A slice feature with more values than this is summarized in one line.
MAX_LISTED_SLICES = 8


def _eval_lines(evaluation, task: str = "binary") -> list[str]:
    columns = EVAL_COLUMNS[task]
    lines = ["Evaluation (eval split, candidate model):",
             f"  {'slice':<28} {'examples':>8}" + "".join(
                 f" {title:>11}" for title, _, _ in columns)]

    def value(metrics, key):
        # AUC is undefined on a binary slice holding one class.
        if task == "binary" and key == "auc" and not (
                0 < metrics.get("mean_label", 0.5) < 1):
            return None
        return metrics.get(key)

    def row(name, metrics):
        return (f"  {name:<28} {_fmt(metrics.get('example_count'), '>8.0f')}"
                + "".join(f" {_fmt(value(metrics, key), '>11' + spec)}"
                          for _, key, spec in columns))

    lines.append(row("overall", evaluation["overall"]))
    by_feature: dict[str, dict] = {}
    for name, metrics in sorted(evaluation["slices"].items()):
        by_feature.setdefault(name.split("=", 1)[0], {})[name] = metrics
    title, headline, spec = columns[0]
    for feature, slices in by_feature.items():
        if len(slices) <= MAX_LISTED_SLICES:
            lines += [row(name, metrics) for name, metrics in slices.items()]
            continue
        scored = sorted((metrics[headline], name)
                        for name, metrics in slices.items()
                        if metrics.get(headline) is not None
                        and metrics.get("example_count", 0) >= 50)
        if scored:
            (low, low_name), (high, high_name) = scored[0], scored[-1]
            lines.append(f"  {len(slices)} {feature} slices: {title} from "
                         f"{low:{spec}} ({low_name}) to {high:{spec}} "
                         f"({high_name}) among slices with >= 50 examples")
    diff = evaluation["overall"].get(f"{headline}_diff")
    if diff is not None:
        lines.append(f"  {title} vs the served model: {diff:+{spec}}")
    return lines


def _quantization_lines(report) -> list[str]:
    # Here, not at the top: the rest of this module needs no quantizer code.
    from components.quantizer import tasks  # pylint: disable=import-outside-toplevel
    report = tasks.readable(report)
    metric, label = report["metric"], report["metric_label"]
    lines = [f"Quantization (budget: {report['metric_loss_label']} <="
             f" {report['max_metric_loss']:.4g}, {report['eval_examples']} eval"
             f" examples; reference SavedModel {label}"
             f" {report['reference'][metric]:.4f}):",
             f"  {'variant':<14} {'size':>10} {'x float':>8} {label:>9}"
             f" {'d' + label:>10} {'p50 ms':>7} {'speed-up':>8}  verdict"]
    for v in report["variants"]:
        if v.get("error"):
            lines.append(f"  {v['name']:<14} conversion failed: {v['error']}")
            continue
        verdict = ("BLESSED" if v["name"] == report["blessed_variant"] else
                   "anchor" if v["name"] == "float32" else
                   "within budget" if v["within_budget"] else "over budget")
        lines.append(
            f"  {v['name']:<14} {v['size_bytes']:>10,} "
            f"{v['size_ratio_vs_float32']:>7.2f}x {v[metric]:>9.4f} "
            f"{round(tasks.change(report, v), 4) + 0.0:>+10.4f} "
            f"{v['latency_ms_p50']:>7.3f} "
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
        metric = report.get("metric", "auc")
        lines.append(
            f"  student {report['params']:,} params = "
            f"{report['param_ratio']:.1%} of teacher "
            f"{report['teacher_params']:,} ({report['teacher_source']}); "
            f"{metric.upper()} student {report[f'student_{metric}']:.4f} vs "
            f"teacher {report[f'teacher_{metric}']:.4f} "
            f"({report[f'{metric}_retention']:.1%} retained)")
    mark = report.get("watermark")
    if mark:
        lines.append(f"  watermark key {mark['key_id']}: "
                     f"{mark['agreement_at_training']:.0%} of "
                     f"{mark['triggers']} triggers learned (`tfx-prod "
                     "watermark verify` checks the pushed version)")
    return lines


def drift_lines(drift: dict) -> list[str]:
    """DriftCheck's record: one line per measured feature."""
    if not drift["baseline_version"]:
        return ["Drift: nothing served yet, nothing to compare with"]
    if not drift["features"]:
        return [f"Drift vs served version {drift['baseline_version']}: no "
                "feature has a drift_comparator in the schema"]
    lines = [f"Drift vs served version {drift['baseline_version']}: "
             f"{len(drift['drifted'])} of {len(drift['features'])} features "
             "above threshold"]
    for f in drift["features"]:
        lines.append(f"  {f['feature']:<24} {f['measure']:<15} "
                     f"{f['value']:.3f} {'>' if f['drifted'] else '<='} "
                     f"{f['threshold']:g}" + ("  DRIFT" if f["drifted"] else ""))
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
    if summary.get("drift"):
        lines += [""] + drift_lines(summary["drift"])
    if summary.get("optimization"):
        lines += [""] + _optimization_lines(summary["optimization"])
        if summary.get("training_spans"):
            lines.append("  on a window of spans "
                         + ", ".join(map(str, summary["training_spans"])))
    if summary.get("eval"):
        lines += [""] + _eval_lines(summary["eval"],
                                    summary.get("task", "binary"))
    if summary.get("blessed") is not None:
        verdict = "BLESSED" if summary["blessed"] else "NOT BLESSED"
        lines += ["", f"Blessing: {verdict}: {summary['blessing_reason']}"]
    if summary.get("quantization"):
        lines += [""] + _quantization_lines(summary["quantization"])
    if summary.get("pushed_to"):
        lines += ["", f"Pushed to: {summary['pushed_to']}"]
    return "\n".join(lines)
