"""results.md section on the optimizations: pruning, distillation, formats."""
from benchmarks import opt_compare

_FORMAT_LABELS = {"SavedModel": "SavedModel", "float32": "float32 TFLite",
                  "dynamic_range": "dynamic_range", "float16": "float16",
                  "int8": "int8"}


def _num(value, spec):
    return "n/a" if value is None else format(value, spec)


def _row(cells):
    return "| " + " | ".join(cells) + " |"


def _table_row(row):
    if row.get("format") is None:
        return _row([f"{row['model']}: {row['error']}"] + [""] * 8)
    name = f"{row['model']} · {_FORMAT_LABELS.get(row['format'])}"
    if row.get("error"):
        return _row([name, f"failed: {row['error']}"] + [""] * 7)
    delta = row.get("auc_delta_vs_baseline")
    is_saved = row["format"] == "SavedModel"
    return _row([
        name,
        _num(row.get("params"), ","),
        _num(row.get("sparsity"), ".1%"),
        _num(row.get("saved_model_bytes"), ",") if is_saved else "–",
        _num(row.get("gzip_bytes"), ","),
        "–" if is_saved else _num(row.get("tflite_bytes"), ","),
        _num(row.get("latency_ms_p50"), ".3f"),
        _num(row.get("auc"), ".4f"),
        "n/a" if delta is None else f"{round(delta, 4) + 0.0:+.4f}",
    ])


def _runs(opt):
    runs = opt.get("runs") or {}
    if not runs:
        return []
    lines = ["| run | flags | wall s | CPU s | components cached |",
             "|---|---|---:|---:|---|"]
    for name, run in runs.items():
        comps = (run.get("summary") or {}).get("components") or []
        cached = sum(c.get("state") == "cached" for c in comps)
        status = "" if run.get("returncode") == 0 else \
            f" (**failed**, exit {run.get('returncode')})"
        lines.append(_row([
            name + status, "`" + " ".join(run.get("flags") or []) + "`",
            _num(run.get("wall_seconds"), ".1f"),
            _num(run.get("cpu_seconds"), ".1f"),
            f"{cached} of {len(comps)}" if comps else "n/a"]))
    return lines + [""]


def _goal_value(goal, value):
    if value is None:
        return "n/a"
    if goal["id"].startswith(("int8_auc", "pruned_auc")):
        return f"{value * 100:.2f} AUC points"
    if goal["id"] == "student_auc":
        return f"{value:.1%}"
    return f"{value:.3f}×" if goal["id"] == "student_params" \
        else f"{value:.2f}×"


def _goal_lines(goals):
    lines = []
    for goal in goals:
        mark = "**met**" if goal["met"] else "**missed**"
        line = (f"- {mark}: {goal['goal']} (measured "
                f"{_goal_value(goal, goal['value'])}, target "
                f"{goal['better']} {_goal_value(goal, goal['target'])})")
        if not goal["met"]:
            line += f": {goal['explain']}"
        lines.append(line)
    return lines


def _weights_lines(opt):
    """Like-for-like sizes: a SavedModel also stores optimizer slots."""
    models = opt.get("models") or {}
    slots = [f"{name} {stats['optimizer_bytes']:,} B" for name, stats in (
        (n, ((models.get(n) or {}).get("weights") or {}))
        for n in opt_compare.MODELS) if "optimizer_bytes" in stats]
    ratios = [f"{name} {value:.2f}×" for name, value in (
        (n, opt_compare.weights_gzip_ratio(models, n))
        for n in ("pruned", "distilled")) if value is not None]
    lines = []
    if slots:
        lines.append("- Optimizer state inside each SavedModel's "
                     "`variables/` (raw): " + ", ".join(slots) + ".")
    if ratios:
        lines.append("- Model weights alone (no optimizer or metric state), "
                     "raw float32 gzip level 9, vs the baseline's: "
                     + ", ".join(ratios) + ".")
    return lines


def _failures(opt):
    lines = [opt["error"], ""] if opt.get("error") else []
    for name, run in (opt.get("runs") or {}).items():
        if run.get("error_tail"):
            lines += [f"{name} run failed, end of its log "
                      f"(`{run.get('log')}`):", "", "```",
                      *run["error_tail"][-15:], "```", ""]
    return lines


def section(results):
    """Markdown lines for results["optimizations"] (any status)."""
    opt = results.get("optimizations") or {"status": "not_run"}
    lines = ["## 3. Model optimizations (tfx-prod)", ""]
    if opt.get("status") == "not_run":
        return lines + ["Not run (`--only optimizations` or `all` runs it).",
                        ""]
    lines += [
        "After tfx-prod's cold and cached runs, in the same pipeline home "
        "(ExampleGen → Transform come from cache), `tfx-prod run` once per "
        "recipe. `--max-auc-regression 1` lets each variant be blessed and "
        "quantized whatever its comparison with the latest blessed model: "
        "the bench measures, it does not gate.", "",
        *_runs(opt),
        *_failures(opt),
    ]
    rows = opt.get("rows") or []
    if rows:
        lines += [
            "| variant | params | sparsity | SavedModel size | gzipped "
            "| TFLite size | batch-1 p50 ms | AUC | Δ AUC vs float baseline |",
            "|---|---:|---:|---:|---:|---:|---:|---:|---:|",
            *[_table_row(row) for row in rows], "",
            "- Sizes in bytes. SavedModel size: the Trainer's export "
            "directory as the Quantizer measured it (includes assets and "
            "optimizer slots). gzipped: for SavedModel rows, a tar of "
            "`saved_model.pb` + `variables/` (no assets, keras_metadata.pb "
            "or fingerprint.pb) compressed with gzip level 9; for TFLite "
            "rows, the `.tflite` file gzip level 9.",
            "- sparsity: fraction of zeros in the Dense kernels (biases "
            "excluded), from the Trainer's report, else read from the "
            "SavedModel's checkpoint.",
            "- AUC and latency: the Quantizer's, on the same eval examples "
            "for every model. Δ AUC is against the baseline's float "
            "SavedModel AUC of this run (negative = AUC lost).",
            *_weights_lines(opt), "",
        ]
    return lines + _goal_lines(opt.get("goals") or []) + [""]
