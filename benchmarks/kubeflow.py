"""Benchmark the Kubeflow path: compile time, and the compiled spec executed
locally as open-source KFP would run it, against `tfx-prod run`.

One repeat = `tfx-prod compile` alone (a fresh process, as a user runs it),
then `tfx-prod compile --run-local` in a fresh pipeline root and serving
dir: every task a subprocess running the spec's exact command (what a pod
runs), on a copy of ours' data with ours' train steps and gates. The anchor
is ours' cold `tfx-prod run` in the same repeat: `compare.py` reports the
local spec run over it (the cost of one process per task, which a cluster
pays too, plus pod start-up this cannot measure).
"""
import json
import os

from benchmarks import ours, proc, workdirs
from benchmarks.progress import phase, say

NAME = "kubeflow"
LABEL = "tfx-prod compiled for KFP v2, executed locally as KFP OSS would"
TIMEOUT_S = 3600


def _compile(label, cli, paths, env, flags, extra=()):
    log = os.path.join(workdirs.LOG_DIR, f"kubeflow-{label}.log")
    cmd = [cli, "compile", "--output", os.path.join(paths["work"], "pipeline.yaml"),
           "--data", paths["data"], "--serving-dir", paths["serving"],
           "--pipeline-root", paths["root"], *flags, *extra]
    with phase(f"kubeflow: {label}"):
        result = proc.run_measured(cmd, log, env=env, cwd=workdirs.REPO_DIR,
                                   timeout=TIMEOUT_S)
    if result["returncode"] != 0:
        result["error_tail"] = proc.log_tail(log)
        say(f"kubeflow: {label} FAILED (exit {result['returncode']}), log: {log}")
    return result


def run(repeat, settings, ours_repeat=None):
    """One repeat: compile, then compile + local execution; JSON-ready.

    `ours_repeat` is ours' result of the same repeat: its cold wall time is
    stored here as the anchor, so the ratio stays within one repeat even when
    only this phase is refreshed (run_all --refresh kubeflow).
    """
    from benchmarks import compare
    result = {"repeat": repeat, "status": "failed",
              "anchor_cold_wall_seconds": compare.repeat_figures(
                  ours_repeat or {})["cold_wall_seconds"]}
    cli = workdirs.tfx_prod_cli(result)
    if not cli:
        return result
    paths = ours.layout(workdirs.fresh_dir(NAME))
    workdirs.copy_data_tree(paths["data"], settings["rows"])
    env = ours.child_env(paths["work"])
    flags = list(settings["our_flags"])
    result["flags"] = flags
    result["compile"] = _compile(f"r{repeat}-compile", cli, paths, env, flags)
    if result["compile"]["returncode"] != 0:
        return result
    summary_path = os.path.join(paths["work"], "local-run.json")
    result["local_run"] = _compile(
        f"r{repeat}-run-local", cli, paths, env, flags,
        ("--run-local", "--summary-json", summary_path))
    if result["local_run"]["returncode"] != 0:
        return result
    with open(summary_path) as f:
        summary = json.load(f)
    result["tasks"] = summary["tasks"]
    result["pushed_to"] = summary.get("pushed_to")
    result["status"] = "succeeded"
    return result


def figures(results):
    """Summaries over repeats: compile s, local spec run s, and the local
    run over ours' cold `tfx-prod run` in the same repeat; per task too."""
    from benchmarks import stats
    done = [r for r in (results.get(NAME) or {}).get("repeats") or []
            if r.get("status") == "succeeded"]
    per_task = {}
    for repeat in done:
        for task, measured in repeat["tasks"].items():
            per_task.setdefault(task, []).append(measured.get("seconds"))

    def over_repeats(value_of):
        return stats.summarize([value_of(r) for r in done])
    return {
        "compile_seconds": over_repeats(lambda r: r["compile"]["wall_seconds"]),
        "local_run_seconds": over_repeats(
            lambda r: r["local_run"]["wall_seconds"]),
        "anchor_cold_wall_seconds": over_repeats(
            lambda r: r.get("anchor_cold_wall_seconds")),
        "local_run_over_ours_cold": over_repeats(lambda r: stats.ratio(
            r["local_run"]["wall_seconds"], r.get("anchor_cold_wall_seconds"))),
        "compile_over_ours_cold": over_repeats(lambda r: stats.ratio(
            r["compile"]["wall_seconds"], r.get("anchor_cold_wall_seconds"))),
        "peak_tree_rss_mb": over_repeats(
            lambda r: r["local_run"].get("peak_tree_rss_mb")),
        "tasks": {task: stats.summarize(seconds)
                  for task, seconds in per_task.items()},
        "pushed": [bool(r.get("pushed_to")) for r in done],
    }


def render(results):
    """README block: the Kubeflow path's cost against `tfx-prod run`."""
    from benchmarks.tables import cell
    kfp = (results.get("comparison") or {}).get(NAME)
    if not kfp or not kfp["local_run_seconds"]:
        return "_Kubeflow benchmark not run_"
    ours_cold = kfp["anchor_cold_wall_seconds"]
    refreshed = (results.get("refreshed") or {}).get(NAME)
    lines = [*([f"Measured separately from the tables above "
                f"(`run_all --refresh {NAME}`, {refreshed['settings']['repeats']}"
                f" repeats, {refreshed['machine']['cpu_model']}); its anchor "
                "ran in the same repeats.", ""] if refreshed else []),
        "| step | wall s | over `tfx-prod run` cold (same repeat) |",
        "|---|---:|---:|",
        f"| `tfx-prod run`, cold (the anchor) | {cell(ours_cold, '.1f')} | 1× |",
        f"| `tfx-prod compile` | {cell(kfp['compile_seconds'], '.1f')} "
        f"| {cell(kfp['compile_over_ours_cold'], '.2f')}× |",
        f"| `compile --run-local` (compile, then every task as a KFP pod "
        f"would run it) | {cell(kfp['local_run_seconds'], '.1f')} "
        f"| {cell(kfp['local_run_over_ours_cold'], '.2f')}× |",
        "", "| task (local spec run) | wall s |", "|---|---:|",
        *[f"| {task} | {cell(seconds, '.1f')} |"
          for task, seconds in kfp["tasks"].items()],
        "", f"Pushed a version in {sum(kfp['pushed'])} of {len(kfp['pushed'])} "
        "repeats.",
    ]
    return "\n".join(lines)
