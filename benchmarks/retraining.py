"""Benchmark continuous training: retrain on a rolling window as spans land.

One repeat: span 1 is the bundled taxi span; spans 2 and 3 are synthesized
(`tfx-prod data synth`, same row count, no drift). Every run trains on a
window of up to 3 spans (`--window 3`). After span 1 is primed (one run,
untimed), span 2 lands and each configuration retrains; then span 3:

  (a) cold: a fresh pipeline root (nothing reused: every span ingested,
      every span analyzed, the model trained from scratch) - the anchor;
  (b) cache: the primed root (spans ingested once, the analyzer cache
      carried over: one span of analysis), the model trained from scratch;
  (c) cache + warm start: (b) with `--warm-start` from the served model and
      a third of the train steps.

Gates are off (`--min-auc 0 --min-accuracy 0 --max-auc-regression 1`) so
every retrain is pushed and the next one warm-starts from it; AUC is the
Evaluator's overall AUC on the newest span's eval split, the same split
for (a), (b) and (c). Goal (issue 9): (c) <= 0.4x (a)'s wall time at
<= 0.2 AUC points lost.
"""
import os
import shutil

from benchmarks import ours, proc, stats, workdirs
from benchmarks.progress import phase, say

NAME = "retraining"
LABEL = "retraining on a rolling window (span 2, then 3)"
CONFIGS = ("cold", "cache", "cache_warm")
WINDOW = "3"
GATES_OFF = ("--min-auc", "0", "--min-accuracy", "0",
             "--max-auc-regression", "1")
WARM_STEPS_DIVISOR = 3
GOAL_TIME = 0.4
GOAL_AUC_POINTS = 0.2
# What a retrain runs whatever it reuses (the README says how much they cost).
FIXED_COST_COMPONENTS = ("Transform", "Trainer", "Evaluator", "Quantizer")


def _synth(cli, data, span, env):
    """span-K like span 1: its row count, fitted to it, no drift."""
    with open(os.path.join(data, "span-1", "data.csv"), "rb") as f:
        rows = sum(1 for _ in f) - 1
    log = os.path.join(workdirs.LOG_DIR, f"{NAME}-synth-{span}.log")
    cmd = [cli, "data", "synth", "--data-root", data, "--span", str(span),
           "--rows", str(rows), "--seed", str(span), "--reference-csv",
           os.path.join(data, "span-1", "data.csv")]
    with phase(f"{NAME}: synthesize span {span}"):
        result = proc.run_measured(cmd, log, env=env, cwd=workdirs.REPO_DIR)
    if result["returncode"] != 0:
        raise RuntimeError(f"data synth failed, log: {log}")


def _paths(work, name, data, serving=None):
    """A run's home, root and serving dir; all share one data tree."""
    paths = ours.layout(os.path.join(work, name))
    paths["data"] = data
    if serving:
        paths["serving"] = serving
    return paths


def run(repeat, settings):
    """One repeat: prime on span 1, then (a), (b), (c) on span 2 and 3."""
    result = {"repeat": repeat, "status": "failed", "retrains": {}}
    cli = workdirs.tfx_prod_cli(result)
    if not cli:
        return result
    work = workdirs.fresh_dir(NAME)
    data = os.path.join(work, "data")
    workdirs.copy_span_csv(os.path.join(data, "span-1"), settings["rows"])
    env = ours.child_env(work)
    steps = int(settings["train_steps"] or 300)
    flags = ["--window", WINDOW, "--train-steps", str(steps), *GATES_OFF]
    warm = ["--window", WINDOW, "--warm-start", "--train-steps",
            str(max(1, steps // WARM_STEPS_DIVISOR)), *GATES_OFF]
    result["flags"] = {"cold": flags, "cache": flags, "cache_warm": warm}

    primed = _paths(work, "primed", data)
    prime = ours.measured_run(f"{NAME}-r{repeat}-prime", cli, primed, env, flags)
    if not ours.ok(prime):
        return result
    # (b) and (c) each continue from a copy of the primed home: its ML
    # Metadata and span store point at the primed run's artifacts, which
    # stay where they are, and its served version.
    homes = {}
    for name in ("cache", "cache_warm"):
        homes[name] = _paths(work, name, data)
        shutil.copytree(primed["work"], homes[name]["work"], symlinks=True)
    for span in (2, 3):
        _synth(cli, data, span, env)
        row = {}
        cold = _paths(work, f"cold-{span}", data,
                      serving=os.path.join(work, f"cold-{span}", "serving"))
        shutil.copytree(primed["serving"], cold["serving"])
        for name, paths in (("cold", cold), *homes.items()):
            measured = ours.measured_run(f"{NAME}-r{repeat}-span{span}-{name}",
                                         cli, paths, env, result["flags"][name])
            if not ours.ok(measured):
                return result
            row[name] = {"wall_seconds": measured["wall_seconds"],
                         "auc": ours.eval_auc(measured),
                         "components": measured["components"]}
        result["retrains"][f"span-{span}"] = row
    result["status"] = "succeeded"
    return result


def figures(results):
    """Per retrain and config: wall s, over cold, AUC and AUC points lost."""
    attempted = (results.get(NAME) or {}).get("repeats") or []
    done = [r for r in attempted if r.get("status") == "succeeded"]
    table, goals = {}, []
    for span in ("span-2", "span-3"):
        rows = [r["retrains"][span] for r in done]
        table[span] = {}
        for name in CONFIGS:
            table[span][name] = {
                "wall_seconds": stats.summarize(
                    [row[name]["wall_seconds"] for row in rows]),
                "over_cold": stats.summarize([stats.ratio(
                    row[name]["wall_seconds"], row["cold"]["wall_seconds"])
                    for row in rows]),
                "auc": stats.summarize([row[name]["auc"] for row in rows]),
                "auc_points_lost": stats.summarize([
                    None if row[name]["auc"] is None or row["cold"]["auc"] is None
                    else 100 * (row["cold"]["auc"] - row[name]["auc"])
                    for row in rows]),
            }
            per_component = {}
            for row in rows:
                for component in row[name]["components"] or []:
                    per_component.setdefault(component["id"], []).append(
                        component.get("seconds"))
            table[span][name]["components"] = {
                component: stats.summarize(seconds)
                for component, seconds in per_component.items()}
        warm = table[span]["cache_warm"]
        goals.append(stats.goal(
            f"{NAME}-{span}-time", f"{span}: cache + warm start <= "
            f"{GOAL_TIME}x cold wall time", warm["over_cold"], GOAL_TIME, "<=",
            owed=bool(attempted)))
        goals.append(stats.goal(
            f"{NAME}-{span}-auc", f"{span}: cache + warm start loses <= "
            f"{GOAL_AUC_POINTS} AUC points", warm["auc_points_lost"],
            GOAL_AUC_POINTS, "<=", owed=bool(attempted)))
    return {"table": table, "goals": goals, "repeats": len(done)}


def render(results):
    """README block: the retraining table and its goals."""
    from benchmarks.tables import cell
    retraining = (results.get("comparison") or {}).get(NAME)
    if not retraining or not retraining["repeats"]:
        return "_Retraining benchmark not run_"
    labels = {"cold": "(a) cold, fresh root (the anchor)",
              "cache": "(b) span store + analyzer cache",
              "cache_warm": "(c) (b) + warm start, 1/3 of the steps"}
    lines = ["| new span | configuration | wall s | over (a) | AUC | AUC points "
             "lost vs (a) |", "|---|---|---:|---:|---:|---:|"]
    for span, rows in retraining["table"].items():
        for name in CONFIGS:
            row = rows[name]
            lines.append(
                f"| {span} | {labels[name]} | {cell(row['wall_seconds'], '.1f')}"
                f" | {cell(row['over_cold'], '.2f')}× | {cell(row['auc'], '.4f')}"
                f" | {cell(row['auc_points_lost'], '+.2f')} |")
    last = list(retraining["table"])[-1]
    components = retraining["table"][last]["cold"]["components"]
    lines += ["", f"Where the time goes ({last}, seconds per component):", "",
              "| component | " + " | ".join(labels[n].split(")")[0] + ")"
                                           for n in CONFIGS) + " |",
              "|---|" + "---:|" * len(CONFIGS)]
    for component in components:
        lines.append(f"| {component} | " + " | ".join(
            cell(retraining["table"][last][n]["components"].get(component),
                 ".1f") for n in CONFIGS) + " |")
    table = retraining["table"][last]
    floor = sum(stats.median(table["cache_warm"]["components"].get(c)) or 0
                for c in FIXED_COST_COMPONENTS)
    cold_wall = stats.median(table["cold"]["wall_seconds"])
    if cold_wall:
        lines += ["", f"In (c), {', '.join(FIXED_COST_COMPONENTS)} alone take "
                  f"{floor:.1f} s = {floor / cold_wall:.2f}× (a)'s wall time "
                  "(medians): work every retrain repeats (analysis of the new "
                  "span and materialization of every span, training, "
                  "evaluation, quantization, each with its own start-up), "
                  "which reuse cannot remove."]
    lines += ["", "| goal | median | met |", "|---|---:|---|"]
    for goal in retraining["goals"]:
        met = {True: "yes", False: "**no**", None: "n/a"}[goal["met"]]
        lines.append(f"| {goal['goal']} | {cell(goal['spread'], '.2f')} | {met} |")
    lines += ["", f"{retraining['repeats']} repeats; every run `--window "
              f"{WINDOW}`, gates off so each retrain is pushed."]
    return "\n".join(lines)


def say_summary(results):
    for goal in figures(results)["goals"]:
        say(f"{NAME}: {goal['goal']}: {goal['value']} (met: {goal['met']})")

