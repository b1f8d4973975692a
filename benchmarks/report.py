"""Render results.json as results.md: the README's blocks plus the detail.

The tables shared with README.md come from `tables` and `opt_report`;
this module adds what only results.md shows: every repeat's own numbers,
where the time goes per component, the method and the failures.
"""
from benchmarks import compare, kubeflow, opt_report, tables
from benchmarks.tables import num, row


def _repeat_table(results):
    """Every timed run of every repeat, so the medians can be checked."""
    lines = ["| pipeline | repeat | run | exit | wall s | CPU s "
             "| other CPU s | peak RSS MB (tree) | largest process MB |",
             "|---|---:|---|---:|---:|---:|---:|---:|---:|"]
    for name in compare.PIPELINES:
        for repeat in (results.get(name) or {}).get("repeats") or []:
            for run in ("cold", "cached"):
                m = repeat.get(run)
                if not m:
                    continue
                lines.append(row([
                    results[name]["label"], str(repeat["repeat"]), run,
                    str(m.get("returncode")), num(m.get("wall_seconds"), ".1f"),
                    num(m.get("cpu_seconds"), ".1f"),
                    num(m.get("other_cpu_seconds"), ".1f"),
                    num(m.get("peak_tree_rss_mb"), ",.0f"),
                    num(m.get("largest_process_rss_mb"), ",.0f")]))
    return lines + [""]


def _recipe_runs(results):
    lines = ["| repeat | recipe | flags | exit | wall s | CPU s "
             "| components cached |", "|---:|---|---|---:|---:|---:|---|"]
    for repeat in (results.get("optimizations") or {}).get("repeats") or []:
        for name, run in (repeat.get("runs") or {}).items():
            comps = (run.get("summary") or {}).get("components") or []
            cached = sum(c.get("state") == "cached" for c in comps)
            lines.append(row([
                str(repeat.get("repeat")), name,
                "`" + " ".join(run.get("flags") or []) + "`",
                str(run.get("returncode")), num(run.get("wall_seconds"), ".1f"),
                num(run.get("cpu_seconds"), ".1f"),
                f"{cached} of {len(comps)}" if comps else "n/a"]))
    return lines + [""] if len(lines) > 2 else []


def _component_table(label, pipeline):
    repeats = [r for r in (pipeline or {}).get("repeats") or []
               if (r.get("cold") or {}).get("components")]
    if not repeats:
        return []
    repeat = repeats[0]
    cached = {c["id"]: c for c in
              (repeat.get("cached") or {}).get("components") or []}
    lines = [f"**{label}** (repeat {repeat['repeat']})", "",
             "| component | cold s | re-run | re-run s |",
             "|---|---:|---|---:|"]
    for comp in repeat["cold"]["components"]:
        again = cached.get(comp["id"], {})
        lines.append(f"| {comp['id']} | {num(comp.get('seconds'), '.1f')} | "
                     f"{again.get('state', '')} | "
                     f"{num(again.get('seconds'), '.1f') if again else ''} |")
    return lines + [""]


def _failures(results):
    lines = []
    for name in (*compare.PIPELINES, "optimizations", kubeflow.NAME):
        for repeat in (results.get(name) or {}).get("repeats") or []:
            if repeat.get("status") == "succeeded":
                continue
            lines += [f"### {name}, repeat {repeat.get('repeat')}: "
                      f"{repeat.get('status')}", ""]
            if repeat.get("error"):
                lines += ["```", *repeat["error"].splitlines()[-15:], "```",
                          ""]
            runs = {**{k: repeat.get(k) for k in ("cold", "cached",
                                                  "compile", "local_run")},
                    **(repeat.get("runs") or {})}
            for run_name, run in runs.items():
                tail = (run or {}).get("error_tail")
                if tail:
                    lines += [f"{run_name} run, end of its log "
                              f"(`{run.get('log')}`):", "", "```",
                              *tail[-15:], "```", ""]
    return (["## Failures", ""] + lines) if lines else []


_METHOD = [
    "## Method", "",
    "- TFX example: `tfx/examples/chicago_taxi_pipeline/"
    "taxi_pipeline_native_keras.py` from the installed wheel, built by its "
    "`_create_pipeline(...)` with its own module file and run with "
    "`LocalDagRunner` (`benchmarks/anchor_driver.py`); it needs "
    "`TF_USE_LEGACY_KERAS=1`. *As shipped* keeps its steps and Beam args. "
    "The *matched control* replaces its Trainer's steps with tfx-prod's and "
    "passes no Beam args; the steps it really ran with are read back from "
    "ML Metadata, and a mismatch fails the control.",
    "- tfx-prod: `tfx-prod run` (console script) with `--summary-json`; "
    "the recipes re-run it in the same home with their flags and "
    "`--max-auc-regression 1` (the bench measures, it does not gate).",
    "- All read the same bundled CSV from a fresh pipeline root under "
    "`benchmarks/work/`, after an unmeasured `import tensorflow, tfx` "
    "warm-up. Cold = first run on an empty root; cached re-run = the same "
    "command again on the same root and MLMD.",
    "- Wall time: measured by the harness around each subprocess "
    "(includes interpreter and TensorFlow start-up). CPU time: user + "
    "system seconds of the child and its reaped descendants, from "
    "`wait4`. Other CPU: what the rest of the machine used meanwhile.",
    "- Peak RSS: the process tree's summed RSS, sampled every 0.25 s; the "
    "largest single process is the larger of `wait4`'s high-water mark "
    "and the largest process seen while sampling. Max over the cold and "
    "cached runs of a repeat.",
    "- Served model size: the pushed model directory. Eval metrics: "
    "overall slice of each pipeline's Evaluator (the TFX example computes "
    "binary accuracy only).",
    "",
]


def render(results):
    """The full results.md text."""
    s = results["settings"]
    lines = [
        "# Benchmarks", "",
        "Generated by `python -m benchmarks.run_all` (phases "
        f"{', '.join(s['phases'])}; {s['repeats']} repeat(s)); the README's "
        "benchmark blocks are the first four sections' text.", "",
        tables.setup(results), "",
        "## 1. Pipeline", "", tables.pipeline(results), "",
        "## 2. TFLite speed", "", opt_report.quantization(results), "",
        "## 3. Model sizes and AUC", "", opt_report.optimizations(results),
        "",
        "## 4. Kubeflow: compile, and the compiled spec run locally", "",
        kubeflow.render(results), "",
        "## Every timed run", "", *_repeat_table(results),
        *(["## Recipe runs", "", *_recipe_runs(results)]
          if _recipe_runs(results) else []),
        "## Where the time goes", "",
    ]
    for name in compare.PIPELINES:
        lines += _component_table(results[name]["label"], results.get(name))
    lines += _METHOD + _failures(results)
    return "\n".join(lines).rstrip() + "\n"
