"""Markdown for results.json: formatting helpers, set-up and pipeline tables.

Each renderer takes the whole results dict and returns one block of text.
results.md is built from these blocks and the README's benchmark blocks are
these exact strings (`benchmarks/readme_tables.py`), so no number is typed
by hand anywhere. A figure over repeats prints as "median (min–max)".
"""
from benchmarks import compare

_RUN_NAMES = {"anchor": "TFX example as shipped",
              "control": "matched control", "ours": "tfx-prod",
              "optimizations": "tfx-prod recipes",
              "generic": "tfx-prod generic defaults"}
# What each ratio separates (compare.PAIRS).
_PAIR_TEXT = {
    "ours/anchor": "tfx-prod / TFX example as shipped",
    "ours/control": "tfx-prod / matched control (engineering, at equal "
                    "settings)",
    "control/anchor": "matched control / as shipped (what the settings "
                      "alone change)",
    "generic/ours": "generic defaults / taxi modules (what the hand-written "
                    "modules buy)",
}
NOISE_SHARE = 0.1  # other processes' CPU vs the run's own


def median(value):
    """The median of a summary over repeats; a plain number as is."""
    return value.get("median") if isinstance(value, dict) else value


def num(value, spec):
    """A number, or the median of a summary; "n/a" when missing."""
    value = median(value)
    return "n/a" if value is None else format(value, spec)


def cell(value, spec, suffix=""):
    """Median (min–max) of a summary over repeats; a plain number as is."""
    if value is None:
        return "n/a"
    if not isinstance(value, dict):
        return format(value, spec) + suffix
    text = format(value["median"], spec) + suffix
    if value["n"] > 1:
        text += (f" ({format(value['min'], spec)}–"
                 f"{format(value['max'], spec)})")
    return text


def row(cells):
    return "| " + " | ".join(cells) + " |"


def _goal_format(goal_id):
    """(scale, spec, suffix) of a goal's numbers."""
    if goal_id.startswith(("int8_auc", "pruned_auc")):
        return 100, ".2f", " AUC points"
    if goal_id == "student_auc":
        return 100, ".1f", "%"
    if goal_id.startswith("taxi_"):  # absolute AUC / accuracy
        return 1, ".4f", ""
    if goal_id == "scale_rss_max":  # megabytes of RSS
        return 1, ".0f", " MB"
    if goal_id == "scale_sizes":
        return 1, ".0f", " sizes"
    return 1, ".3f" if goal_id == "student_params" else ".2f", "×"


def _goal_decimals(goal):
    """Decimals that tell a missed value from its target (0.103 must not
    print as 0.10 against a target of 0.10)."""
    scale, spec, _ = _goal_format(goal["id"])
    decimals = int(spec[1:-1])
    if goal["met"] is False and goal["value"] is not None:
        while (decimals < 6 and f"{goal['value'] * scale:.{decimals}f}"
               == f"{goal['target'] * scale:.{decimals}f}"):
            decimals += 1
    return decimals


def _goal_number(goal, value):
    if value is None:
        return "n/a"
    scale, _, suffix = _goal_format(goal["id"])
    return f"{value * scale:.{_goal_decimals(goal)}f}{suffix}"


def goal_lines(goals):
    """One line per goal: met/missed on the median, with the numbers."""
    lines = []
    for goal in goals:
        mark = {True: "**met**", False: "**missed**", None: "n/a"}[goal["met"]]
        spread = goal.get("spread") or {}
        measured = f"measured {_goal_number(goal, goal['value'])}"
        if spread.get("n", 0) > 1:
            measured = (f"median {_goal_number(goal, goal['value'])} of "
                        f"{spread['n']} repeats, "
                        f"{_goal_number(goal, spread['min'])}–"
                        f"{_goal_number(goal, spread['max'])}")
        line = (f"- {mark}: {goal['goal']} ({measured}; target "
                f"{goal['better']} {_goal_number(goal, goal['target'])})")
        if goal["met"] is False and goal.get("explain"):
            line += f": {goal['explain']}"
        lines.append(line)
    return lines


def setup(results):
    """Machine, settings and method in one paragraph."""
    m, s = results["machine"], results["settings"]
    data = (f"the first {s['rows']:,} rows of the bundled span"
            if s.get("rows") else "the whole bundled span (data/taxi/span-1)")
    order = " → ".join(_RUN_NAMES.get(name, name) for name in s["order"])
    repeated = (f"Every timed run was repeated {s['repeats']}×, each repeat"
                if s["repeats"] > 1 else
                "Every timed run ran once (so no spread is shown),")
    lines = [
        f"Measured by `make bench` on {m['date'][:10]}: {m['cpu_model']}, "
        f"{m['cores']} cores, {m['ram_gb']} GB RAM, "
        f"{'a GPU' if m['gpu'] else 'no GPU'}; Python {m['python']}, "
        f"TensorFlow {m['tensorflow']}, TFX {m['tfx']}, Beam "
        f"{m['apache_beam']}. Data: {data}.",
        "",
        f"{repeated} in one fixed order ({order}; each pipeline cold, then "
        "its cached re-run). "
        "A figure is the median over repeats with its (min–max); a ratio "
        "is taken within a repeat, then summarized. Absolute numbers depend "
        "on this machine; compare the ratios.",
    ]
    if s.get("note"):
        lines += ["", f"Note: {s['note']}"]
    if s.get("smoke"):
        lines += ["", "**Smoke run** (`--smoke`): it proves the harness; "
                      "its numbers say nothing about the pipelines, and "
                      "tfx-prod's absolute gates were off."]
    return "\n".join(lines)


def _steps_cell(name, results, repeat):
    if name in ("ours", "generic"):
        s = results["settings"]
        return f"{s['train_steps']} / {s['eval_steps']}"
    train, evals = repeat.get("train_steps"), repeat.get("eval_steps")
    return "n/a" if train is None else f"{train} / {evals}"


def _beam_cell(repeat):
    args = repeat.get("beam_args")
    if args is None:
        return "n/a"
    return "none" if not args else "`" + " ".join(args) + "`"


def _components(repeat):
    cold = (repeat.get("cold") or {}).get("components") or []
    cached = (repeat.get("cached") or {}).get("components") or []
    if not cold:
        return "n/a"
    if not cached:
        return str(len(cold))
    ran = [c["id"] for c in cached if c.get("state") != "cached"]
    text = f"{len(cold)} (re-run: {len(cached) - len(ran)} cached"
    return text + (f"; ran {', '.join(ran)})" if ran else ")")


def _pipeline_row(name, results):
    pipeline = results.get(name) or {}
    label = pipeline.get("label", name)
    if pipeline.get("status", "not_run") == "not_run":
        return row([label, "not run"] + [""] * 10)
    repeats = pipeline.get("repeats") or []
    first = next((r for r in repeats if r.get("status") == "succeeded"),
                 repeats[0] if repeats else {})
    stat = results["comparison"]["pipelines"].get(name) or {}
    failed = sum(r.get("status") != "succeeded" for r in repeats)
    if failed:
        label += f" (**failed** {failed} of {len(repeats)} repeats)"
    return row([
        label, _steps_cell(name, results, first), _beam_cell(first),
        cell(stat.get("cold_wall_seconds"), ".1f"),
        cell(stat.get("cached_wall_seconds"), ".1f"),
        cell(stat.get("rerun_over_cold"), ".2f", "×"),
        cell(stat.get("cold_cpu_seconds"), ".0f"),
        cell(stat.get("peak_tree_rss_mb"), ",.0f"),
        cell(stat.get("largest_process_rss_mb"), ",.0f"),
        num(stat.get("binary_accuracy"), ".4f"),
        num(stat.get("auc"), ".4f"),
        _components(first),
    ])


def _ratio_line(key, ratios):
    r = ratios.get(key)
    if not r:
        return None
    delta = r.get("accuracy_delta")
    return (f"- {_PAIR_TEXT[key]}: cold wall "
            f"{cell(r.get('cold_wall_seconds'), '.2f', '×')}, cached re-run "
            f"{cell(r.get('cached_wall_seconds'), '.2f', '×')}, cold CPU "
            f"{cell(r.get('cold_cpu_seconds'), '.2f', '×')}, peak RSS "
            f"(tree) {cell(r.get('peak_tree_rss_mb'), '.2f', '×')}, peak "
            f"RSS (largest process) "
            f"{cell(r.get('largest_process_rss_mb'), '.2f', '×')}, served "
            f"model size {cell(r.get('served_model_bytes'), '.2f', '×')}, "
            f"eval accuracy {cell(delta, '+.4f')}, eval AUC "
            f"{cell(r.get('auc_delta'), '+.4f')}.")


def noise_lines(results):
    """Runs during which other processes competed for the CPU."""
    noisy, total = [], 0
    for name in compare.PIPELINES:
        for repeat in (results.get(name) or {}).get("repeats") or []:
            for run in ("cold", "cached"):
                measured = repeat.get(run) or {}
                own, other = (measured.get("cpu_seconds"),
                              measured.get("other_cpu_seconds"))
                if own is None or other is None:
                    continue
                total += 1
                if other > NOISE_SHARE * own:
                    noisy.append(f"{_RUN_NAMES[name]} r{repeat['repeat']} "
                                 f"{run} ({other:.0f} vs own {own:.0f} CPU-s)")
    if not noisy:
        return []
    return [f"- noise: other processes used more than {NOISE_SHARE:.0%} of "
            f"a run's own CPU time in {len(noisy)} of {total} runs, whose "
            f"wall times are inflated: {'; '.join(noisy)}."]


def pipeline(results):
    """The pipeline table, its ratios, goals and noise notes."""
    ratios = results["comparison"]["ratios"]
    lines = [
        "| pipeline | train / eval steps | Beam args | cold wall s "
        "| cached re-run s | re-run / cold | cold CPU s "
        "| peak RSS MB (process tree) | peak RSS MB (largest process) "
        "| eval accuracy | eval AUC | components |",
        "|---|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---|",
        *[_pipeline_row(name, results) for name in compare.PIPELINES],
        "",
        *[line for line in (_ratio_line(key, ratios) for key in _PAIR_TEXT)
          if line],
        *goal_lines(results["comparison"]["goals"]),
        *noise_lines(results),
    ]
    return "\n".join(lines)
