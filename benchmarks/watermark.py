"""Benchmark the trigger-set watermark (issue 11): does it take, does it
stay out of models that never saw the key, and what does it cost?

One repeat, in a fresh pipeline root on the bundled span:
  (a) `tfx-prod run` cold, no watermark - the anchor (AUC, Trainer time);
  (b) the same root with `--watermark-key` (a new key each repeat): the
      upstream components are cached, the Trainer trains the trigger set in.
Then `tfx-prod watermark verify` (the real CLI) asks (b)'s pushed
SavedModel and TFLite variant, and (a)'s model (independently trained,
never saw the key), for the key's 100 triggers. Gates are off so (b) is
pushed whatever its AUC. Goals: >= 95% agreement on (b)'s SavedModel and
TFLite, <= 60% on (a), <= 0.2 AUC points lost (b vs a).
"""
import json
import os
import subprocess

from benchmarks import ours, stats, workdirs
from benchmarks.progress import phase, say

NAME = "watermark"
LABEL = "trigger-set watermark: taken, absent elsewhere, its AUC cost"
GATES_OFF = ("--min-auc", "0", "--min-accuracy", "0",
             "--max-auc-regression", "1")
# The Trainer refuses a watermark it could not teach; the smoke's 50 steps
# are too few, so both sides train at least this many.
MIN_STEPS = 200
GOAL_PRESENT, GOAL_ABSENT, GOAL_AUC_POINTS = 0.95, 0.60, 0.2


def _verify(cli, version_dir, key, env):
    """`tfx-prod watermark verify DIR --json`: {runtime: agreement}."""
    result = subprocess.run(
        [cli, "watermark", "verify", version_dir, "--watermark-key", key,
         "--json"], capture_output=True, text=True, env=env,
        cwd=workdirs.REPO_DIR, timeout=600)
    if result.returncode not in (0, 1):
        raise RuntimeError(f"watermark verify failed: {result.stderr[-2000:]}")
    report = json.loads(result.stdout)
    return {name: found["agreement"]
            for name, found in report["runtimes"].items()}


def _trainer_seconds(run):
    return next((c.get("seconds") for c in run.get("components") or []
                 if c["id"] == "Trainer"), None)


def run(repeat, settings):
    """One repeat: (a) cold without, (b) cached with a new key; verify."""
    result = {"repeat": repeat, "status": "failed"}
    cli = workdirs.tfx_prod_cli(result)
    if not cli:
        return result
    work = workdirs.fresh_dir(NAME)
    paths = ours.layout(work)
    workdirs.copy_span_csv(os.path.join(paths["data"], "span-1"),
                           settings["rows"])
    env = ours.child_env(work)
    steps = max(int(settings["train_steps"] or 300), MIN_STEPS)
    flags = ["--train-steps", str(steps), *GATES_OFF]
    key = os.path.join(work, "watermark.key")
    subprocess.run([cli, "watermark", "init", "--out", key], check=True,
                   env=env, stdout=subprocess.DEVNULL)
    runs = {}
    for name, extra in (("plain", []), ("marked", ["--watermark-key", key])):
        runs[name] = ours.measured_run(f"{NAME}-r{repeat}-{name}", cli, paths,
                                       env, flags + extra)
        if not ours.ok(runs[name]):
            result["error_tail"] = runs[name].get("error_tail")
            return result
    pushed = {name: runs[name]["summary"].get("pushed_to") for name in runs}
    with phase(f"{NAME}: verify repeat {repeat}"):
        result["agreement"] = {
            "marked": _verify(cli, pushed["marked"], key, env),
            "plain": _verify(cli, pushed["plain"], key, env)}
    result.update({
        "train_steps": steps,
        "auc": {name: ours.eval_auc(runs[name]) for name in runs},
        "trainer_seconds": {name: _trainer_seconds(runs[name])
                            for name in runs},
        "wall_seconds": {name: runs[name]["wall_seconds"] for name in runs},
        "status": "succeeded"})
    say(f"{NAME} repeat {repeat}: agreement {result['agreement']}, "
        f"AUC {result['auc']}")
    return result


def figures(results):
    """Summaries over repeats and the four goals."""
    attempted = (results.get(NAME) or {}).get("repeats") or []
    done = [r for r in attempted if r.get("status") == "succeeded"]

    def over(fn):
        return stats.summarize([fn(r) for r in done])
    table = {
        "marked_savedmodel": over(lambda r: r["agreement"]["marked"].get(
            "savedmodel")),
        "marked_tflite": over(lambda r: r["agreement"]["marked"].get("tflite")),
        "plain_savedmodel": over(lambda r: r["agreement"]["plain"].get(
            "savedmodel")),
        "plain_tflite": over(lambda r: r["agreement"]["plain"].get("tflite")),
        "auc_plain": over(lambda r: r["auc"]["plain"]),
        "auc_marked": over(lambda r: r["auc"]["marked"]),
        "auc_points_lost": over(lambda r: None if None in r["auc"].values()
                                else 100 * (r["auc"]["plain"]
                                            - r["auc"]["marked"])),
        "trainer_over_plain": over(lambda r: stats.ratio(
            r["trainer_seconds"]["marked"], r["trainer_seconds"]["plain"])),
    }
    owed = bool(attempted)
    worst_absent = stats.summarize([
        max(v for v in r["agreement"]["plain"].values()) for r in done])
    goals = [
        stats.goal(f"{NAME}-savedmodel", f"watermarked SavedModel agrees >= "
                   f"{GOAL_PRESENT:.0%}", table["marked_savedmodel"],
                   GOAL_PRESENT, ">=", owed),
        stats.goal(f"{NAME}-tflite", f"its shipped TFLite variant agrees >= "
                   f"{GOAL_PRESENT:.0%}", table["marked_tflite"],
                   GOAL_PRESENT, ">=", owed),
        stats.goal(f"{NAME}-independent", f"independently trained model "
                   f"agrees <= {GOAL_ABSENT:.0%}", worst_absent, GOAL_ABSENT,
                   "<=", owed),
        stats.goal(f"{NAME}-auc", f"AUC points lost <= {GOAL_AUC_POINTS}",
                   table["auc_points_lost"], GOAL_AUC_POINTS, "<=", owed),
    ]
    steps = done[0]["train_steps"] if done else None
    return {"table": table, "goals": goals, "repeats": len(done),
            "train_steps": steps}


def render(results):
    """README block: agreement per model and runtime, the AUC cost, goals."""
    from benchmarks.tables import cell
    found = (results.get("comparison") or {}).get(NAME)
    if not found or not found["repeats"]:
        return "_Watermark benchmark not run_"
    table = found["table"]

    def pct(stat, suffix=""):
        return cell(None if stat is None else {
            k: 100 * v if k != "n" else v for k, v in stat.items()}, ".0f",
            suffix)
    lines = [
        "| model | SavedModel agreement % | TFLite agreement % | AUC |",
        "|---|---:|---:|---:|",
        f"| (a) trained without the key (the anchor) | "
        f"{pct(table['plain_savedmodel'])} | {pct(table['plain_tflite'])} | "
        f"{cell(table['auc_plain'], '.4f')} |",
        f"| (b) trained with `--watermark-key` | "
        f"{pct(table['marked_savedmodel'])} | {pct(table['marked_tflite'])} | "
        f"{cell(table['auc_marked'], '.4f')} |",
        "", f"AUC points lost (b) vs (a): "
        f"{cell(table['auc_points_lost'], '+.2f')}; (b)'s Trainer time over "
        f"(a)'s: {cell(table['trainer_over_plain'], '.2f', '×')}.",
        "", "| goal | median | met |", "|---|---:|---|"]
    for goal in found["goals"]:
        met = {True: "yes", False: "**no**", None: "n/a"}[goal["met"]]
        value = (cell(goal["spread"], "+.2f") if goal["id"].endswith("auc")
                 else pct(goal["spread"], "%"))
        lines.append(f"| {goal['goal']} | {value} | {met} |")
    lines += ["", f"{found['repeats']} repeats, a new key each; "
              f"{found['train_steps']} train steps; 100 triggers, chance "
              "agreement 50%; gates off so (b) is pushed whatever its AUC."]
    return "\n".join(lines)
