"""Benchmark the anchor: TFX 1.16's own Chicago taxi native-Keras example.

Cold run in a fresh pipeline root, then a re-run on the same root and
MLMD (TFX caching), each in its own measured subprocess; then a third,
unmeasured subprocess reads eval metrics and model size from MLMD.
"""
import json
import os
import shutil

from benchmarks import proc, workdirs
from benchmarks.progress import phase, say

NAME = "anchor"
LABEL = "TFX taxi example"
TIMEOUT_S = 3600


def _driver(*args):
    return [workdirs.python(), "-m", "benchmarks.anchor_driver", *args]


def _measured_run(label, paths, env):
    log = os.path.join(workdirs.LOG_DIR, f"anchor-{label}.log")
    cmd = _driver("run", "--pipeline-root", paths["root"],
                  "--metadata", paths["metadata"],
                  "--serving-dir", paths["serving"],
                  "--data-root", paths["data"])
    with phase(f"anchor: {label} run"):
        result = proc.run_measured(cmd, log, env=env, cwd=workdirs.REPO_DIR,
                                   timeout=TIMEOUT_S)
    if result["returncode"] != 0:
        result["error_tail"] = proc.log_tail(log)
        say(f"anchor: {label} run FAILED (exit {result['returncode']}), "
            f"log: {log}")
    return result


def _read_report(paths, env):
    out = os.path.join(paths["work"], "report.json")
    log = os.path.join(workdirs.LOG_DIR, "anchor-report.log")
    with phase("anchor: read metrics from MLMD"):
        result = proc.run_measured(
            _driver("report", "--metadata", paths["metadata"], "--out", out),
            log, env=env, cwd=workdirs.REPO_DIR, timeout=600)
    if result["returncode"] != 0:
        return None, proc.log_tail(log)
    with open(out) as f:
        return json.load(f), None


def run():
    """Run the anchor cold and cached; return a JSON-ready result dict."""
    work = workdirs.fresh_dir(NAME)
    paths = {
        "work": work,
        "root": os.path.join(work, "pipeline_root"),
        "metadata": os.path.join(work, "metadata.db"),
        "serving": os.path.join(work, "serving"),
        "data": os.path.join(work, "data"),
    }
    os.makedirs(paths["data"])
    shutil.copy(os.path.join(workdirs.SPAN_DIR, "data.csv"), paths["data"])
    # The example's Trainer needs Keras 2 (see anchor_driver).
    env = workdirs.child_env(os.path.join(work, "tmp"),
                             TF_USE_LEGACY_KERAS="1")

    result = {"label": LABEL, "status": "failed",
              "keras": "tf_keras (TF_USE_LEGACY_KERAS=1)"}
    result["cold"] = _measured_run("cold", paths, env)
    if result["cold"]["returncode"] != 0:
        return result
    result["cached"] = _measured_run("cached", paths, env)

    report, error = _read_report(paths, env)
    if report is None:
        result["report_error_tail"] = error
        return result
    runs = report.pop("runs")
    for label, run_info in zip(("cold", "cached"), runs):
        result[label]["components"] = run_info["components"]
    eval_ = report.pop("eval") or {}
    result["eval"] = eval_.get("overall")
    result["eval_other_metrics"] = eval_.get("other")
    result.update(report)
    if result["pushed_to"]:
        result["pushed_bytes"] = workdirs.dir_bytes(result["pushed_to"])
    ok = result["cached"]["returncode"] == 0
    result["status"] = "succeeded" if ok else "failed"
    return result

