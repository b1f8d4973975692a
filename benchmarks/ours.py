"""Benchmark our pipeline through its CLI, exactly as a user runs it.

One repeat = `tfx-prod run` cold in a fresh pipeline root, then again on
the same root (cached re-run). The CLI's --summary-json is the source of
component states, eval metrics, blessing and quantization results; the
harness adds wall time and memory measured from outside. Settings other
than the defaults (a smoke run's steps) arrive as `settings["our_flags"]`.
"""
import json
import os

from benchmarks import proc, workdirs
from pipeline import configs
from benchmarks.progress import phase, say

NAME = "ours"
LABEL = "tfx-prod"
TIMEOUT_S = 3600


def layout(work):
    """Where a run under `work` keeps its home, root, serving dir and data.

    Shared with benchmarks.optimizations, which re-runs in the same home.
    """
    return {
        "work": work,
        # --home also holds the CLI's logs; keep them out of the repo.
        "home": os.path.join(work, "home"),
        "root": os.path.join(work, "pipeline_root"),
        "serving": os.path.join(work, "serving"),
        # The whole bundled data tree (span-N/ directories), copied so the
        # run cannot touch the repo's data.
        "data": os.path.join(work, "data"),
    }


def child_env(work):
    return workdirs.child_env(os.path.join(work, "tmp"))


def measured_run(label, cli, paths, env, extra_args=()):
    """One `tfx-prod run` on `paths`, plus `extra_args`; its summary too."""
    log = os.path.join(workdirs.LOG_DIR, f"ours-{label}.log")
    summary_path = os.path.join(paths["work"], f"summary-{label}.json")
    cmd = [cli, "run",
           "--home", paths["home"],
           "--pipeline-root", paths["root"],
           "--serving-dir", paths["serving"],
           "--data", paths["data"],
           "--summary-json", summary_path, *extra_args]
    with phase(f"ours: {label} run"):
        result = proc.run_measured(cmd, log, env=env, cwd=workdirs.REPO_DIR,
                                   timeout=TIMEOUT_S)
    result["summary"] = _load_summary(summary_path)
    result["components"] = (result["summary"] or {}).get("components")
    status = (result["summary"] or {}).get("status")
    if result["returncode"] != 0 or status != "succeeded":
        result["error_tail"] = proc.log_tail(log)
        say(f"ours: {label} run FAILED (exit {result['returncode']}, "
            f"summary status {status!r}), log: {log}")
    return result


def _load_summary(path):
    try:
        with open(path) as f:
            return json.load(f)
    except (OSError, ValueError):
        return None


def eval_auc(run_result):
    """The Evaluator's overall AUC from a measured run's summary, or None."""
    overall = (((run_result.get("summary") or {}).get("eval") or {})
               .get("overall"))
    return (overall or {}).get("auc")


def ok(run_result):
    summary = run_result.get("summary") or {}
    return (run_result["returncode"] == 0
            and summary.get("status") == "succeeded")


def run(repeat, settings):
    """One repeat of tfx-prod cold and cached; a JSON-ready result dict."""
    result = {"repeat": repeat, "status": "failed"}
    cli = workdirs.tfx_prod_cli(result)
    if not cli:
        return result

    paths = layout(workdirs.fresh_dir(NAME))
    workdirs.copy_data_tree(paths["data"], settings["rows"])
    env = child_env(paths["work"])
    flags = settings["our_flags"]
    result["flags"] = list(flags)
    # No --beam-arg is passed, so the CLI picks them by data size, here.
    result["beam_args"] = configs.default_beam_args(paths["data"])[0]

    result["cold"] = measured_run(f"r{repeat}-cold", cli, paths, env, flags)
    if not ok(result["cold"]):
        return result
    result["cached"] = measured_run(f"r{repeat}-cached", cli, paths, env,
                                    flags)

    cold = result["cold"]["summary"]
    result["eval"] = (cold.get("eval") or {}).get("overall")
    result["blessed"] = cold.get("blessed")
    result["blessing_reason"] = cold.get("blessing_reason")
    result["pushed_to"] = cold.get("pushed_to")
    if result["pushed_to"] and os.path.isdir(result["pushed_to"]):
        result["pushed_bytes"] = workdirs.dir_bytes(result["pushed_to"])
    result["quantization"] = cold.get("quantization")
    # A cold run that reports cached components did not start cold (e.g.
    # MLMD kept outside --pipeline-root); flag it rather than trust it.
    result["cold_had_cached_components"] = any(
        c.get("state") == "cached" for c in cold.get("components") or [])
    if ok(result["cached"]):
        result["status"] = "succeeded"
    return result
