"""Render results.json as results.md (the tables the README quotes)."""
from benchmarks import compare, opt_report


def _num(value, digits=1, suffix=""):
    if value is None:
        return "n/a"
    return f"{value:,.{digits}f}{suffix}"


def _times(value):
    return _num(value, 2, "×")


def _mark(met):
    return {True: "**met**", False: "**missed**", None: "n/a"}[met]


def _components(pipeline):
    cold = (pipeline.get("cold") or {}).get("components") or []
    cached = (pipeline.get("cached") or {}).get("components") or []
    if not cold:
        return "n/a"
    if not cached:
        return str(len(cold))
    ran = [c["id"] for c in cached if c.get("state") != "cached"]
    text = f"{len(cold)} (re-run: {len(cached) - len(ran)} cached"
    return text + (f"; ran {', '.join(ran)})" if ran else ")")


def _pipeline_row(name, pipeline):
    if pipeline.get("status") == "not_run":
        return f"| {name} | not run | | | | | | |"
    eval_ = pipeline.get("eval") or {}
    cells = [
        name,
        _num(compare.wall(pipeline, "cold")),
        _num(compare.wall(pipeline, "cached")),
        _times(compare.rerun_over_cold(pipeline)),
        _num(compare.peak_rss_mb(pipeline), 0),
        _num(eval_.get("binary_accuracy"), 4),
        _num(eval_.get("auc"), 4),
        _components(pipeline),
    ]
    if pipeline.get("status") != "succeeded":
        cells[0] += " (**failed**)"
    return _row(cells)


def _goal_value(goal, value):
    if value is None:
        return "n/a"
    if goal["id"] == "int8_auc":
        return f"{value * 100:.2f} AUC points"
    return f"{value:.2f}×"


def _goal_lines(goals):
    return [f"- {_mark(goal['met'])}: {goal['goal']} (measured "
            f"{_goal_value(goal, goal['value'])}, target {goal['better']} "
            f"{_goal_value(goal, goal['target'])})" for goal in goals]


def _pipeline_section(results):
    anchor, ours = results["anchor"], results["ours"]
    ratios = results["comparison"]["ratios"]
    acc = ratios.get("accuracy_delta")
    lines = [
        "## 1. Pipeline", "",
        "| pipeline | cold wall s | cached re-run s | re-run / cold "
        "| peak RSS MB | eval accuracy | eval AUC | components |",
        "|---|---:|---:|---:|---:|---:|---:|---|",
        _pipeline_row("TFX taxi example (anchor)", anchor),
        _pipeline_row("tfx-prod (ours)", ours),
        "",
        "ours / TFX taxi example: "
        f"wall {_times(ratios.get('cold_wall'))}, "
        f"cached re-run {_times(ratios.get('cached_wall'))}, "
        f"cold CPU time {_times(ratios.get('cold_cpu'))}, "
        f"peak RSS {_times(ratios.get('peak_rss'))}, "
        f"served model size {_times(ratios.get('served_model_size'))}, "
        f"eval accuracy {'n/a' if acc is None else f'{acc:+.4f}'}.",
        "",
    ]
    lines += _goal_lines(results["comparison"]["goals"][:2])
    return lines + _noise_lines(results)


def _noise_lines(results):
    """Flag runs during which other processes competed for the CPU."""
    lines = []
    for key, name in (("anchor", "TFX example"), ("ours", "tfx-prod")):
        for run in ("cold", "cached"):
            own = compare.measured(results[key], run, "cpu_seconds")
            other = compare.measured(results[key], run, "other_cpu_seconds")
            if own and other is not None and other > 0.1 * own:
                lines.append(
                    f"- noise: other processes used {other:.0f} CPU-s during "
                    f"the {name} {run} run (its own: {own:.0f} CPU-s), so "
                    "its wall time is inflated; CPU time is less affected.")
    if results["ours"].get("cold_had_cached_components"):
        lines.append("- warning: tfx-prod's cold run reported cached "
                     "components, so it did not start cold.")
    return [""] + lines if lines else []


def _row(cells):
    return "| " + " | ".join(cells) + " |"


def _quant_rows(quant):
    ref = quant.get("reference") or {}
    variants = quant.get("variants") or []
    float_size = next((v.get("size_bytes") for v in variants
                       if v.get("name") == "float32"), None)
    rows = []
    if ref:
        size = ref.get("size_bytes")
        rows.append(_row([
            "reference", _num(size, 0),
            _times(compare.ratio(size, float_size)),
            _num(ref.get("auc"), 4), "–",
            _num(ref.get("latency_ms_p50"), 3), "–", ""]))
    for v in variants:
        drop = v.get("auc_drop")
        blessed = v.get("name") == quant.get("blessed_variant")
        rows.append(_row([
            str(v.get("name")), _num(v.get("size_bytes"), 0),
            _times(v.get("size_ratio_vs_float32")),
            _num(v.get("auc"), 4),
            "n/a" if drop is None else f"{0.0 - drop:+.4f}",
            _num(v.get("latency_ms_p50"), 3),
            _times(v.get("speedup_vs_float32")),
            "yes" if blessed else ""]))
    return rows


def _quant_section(results):
    quant = results["ours"].get("quantization")
    lines = ["## 2. Quantization (tfx-prod)", ""]
    if not quant:
        lines += ["No quantization results: tfx-prod was not run or did "
                  "not report them.", ""]
    else:
        lines += [
            "| variant | size bytes | × float32 | AUC | Δ AUC "
            "| batch-1 p50 ms | speed-up vs float32 | blessed |",
            "|---|---:|---:|---:|---:|---:|---:|---|",
            *_quant_rows(quant), "",
            "Δ AUC is minus the reported `auc_drop` (negative = AUC lost).",
            "",
        ]
        errors = [f"- {v.get('name')} failed: {v['error']}"
                  for v in quant.get("variants") or [] if v.get("error")]
        lines += errors + ([""] if errors else [])
    lines += _goal_lines(results["comparison"]["goals"][2:])
    return lines


def _component_table(label, pipeline):
    cold = (pipeline.get("cold") or {}).get("components") or []
    cached = {c["id"]: c for c in
              (pipeline.get("cached") or {}).get("components") or []}
    if not cold:
        return []
    lines = [f"**{label}**", "",
             "| component | cold s | re-run | re-run s |",
             "|---|---:|---|---:|"]
    for comp in cold:
        again = cached.get(comp["id"], {})
        lines.append(f"| {comp['id']} | {_num(comp.get('seconds'))} | "
                     f"{again.get('state', '')} | "
                     f"{_num(again.get('seconds')) if again else ''} |")
    return lines + [""]


def _failures(results):
    lines = []
    for key in ("anchor", "ours"):
        pipeline = results[key]
        if pipeline.get("status") in ("succeeded", "not_run"):
            continue
        lines += [f"### {key} failed", ""]
        if pipeline.get("error"):
            lines.append(pipeline["error"])
        for run in ("cold", "cached"):
            tail = (pipeline.get(run) or {}).get("error_tail")
            if tail:
                lines += [f"{run} run, end of log:", "", "```",
                          *tail[-15:], "```", ""]
    return (["## Failures", ""] + lines) if lines else []


def _method(results):
    anchor = results["anchor"]
    steps = ""
    if anchor.get("train_steps"):
        steps = (f", {anchor['train_steps']} train / "
                 f"{anchor.get('eval_steps')} eval steps")
    return [
        "## Method", "",
        "- Anchor: `tfx/examples/chicago_taxi_pipeline/"
        "taxi_pipeline_native_keras.py` from the installed TFX wheel, "
        f"unmodified (its own module file{steps} and Beam args), built by "
        "its `_create_pipeline(...)` and run with `LocalDagRunner` "
        "(`benchmarks/anchor_driver.py`). It needs "
        "`TF_USE_LEGACY_KERAS=1`: under Keras 3 its Trainer fails.",
        "- Ours: `tfx-prod run` (console script) with `--summary-json`.",
        "- Both read the same bundled CSV (`data/taxi/span-1/data.csv`, "
        "identical to the wheel's `data/simple/data.csv`), from a fresh "
        "pipeline root under `benchmarks/work/`, after an unmeasured "
        "`import tensorflow, tfx` warm-up.",
        "- Cold = first run on an empty root; cached re-run = the same "
        "command again on the same root and MLMD.",
        "- Wall time: measured by the harness around each subprocess "
        "(includes interpreter and TensorFlow start-up).",
        "- CPU time: user + system seconds of the child and its reaped "
        "descendants (Beam workers), from `wait4`.",
        "- Peak RSS: summed RSS of the child's process tree, sampled every "
        "0.25 s, max over both runs (the largest single process, from "
        "`wait4`, is in results.json as `max_process_rss_mb`).",
        "- Served model size: the pushed model directory.",
        "- Eval metrics: overall slice of each pipeline's Evaluator; "
        "n/a when the pipeline's eval config does not compute it (the "
        "TFX example only computes binary accuracy).",
        "",
    ]


def render(results):
    """The full results.md text."""
    m = results["machine"]
    lines = [
        "# Benchmarks", "",
        f"Generated by `make bench` (`python -m benchmarks.run_all "
        f"--only {results['only']}`) on {m['date']}.", "",
        f"Machine: {m['cpu_model']}, {m['cores']} cores, {m['ram_gb']} GB "
        f"RAM, {'GPU' if m['gpu'] else 'no GPU'}; Python {m['python']}, "
        f"TensorFlow {m['tensorflow']}, TFX {m['tfx']}, Beam "
        f"{m['apache_beam']}.", "",
        "Absolute numbers depend on this machine; compare the ratios, each "
        "against TFX's own taxi example measured in the same run.", "",
    ]
    lines += _pipeline_section(results) + [""]
    lines += _quant_section(results) + [""]
    lines += opt_report.section(results)
    lines += ["## Where the time goes", ""]
    lines += _component_table("TFX taxi example", results["anchor"])
    lines += _component_table("tfx-prod", results["ours"])
    lines += _method(results)
    lines += _failures(results)
    return "\n".join(lines).rstrip() + "\n"
