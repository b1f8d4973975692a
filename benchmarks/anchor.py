"""Benchmark TFX 1.16's own Chicago taxi native-Keras example, two ways.

- "anchor": as shipped, what a user of the wheel would run (its 1000/150
  train/eval steps and its multi-processing Beam args).
- "control": the same example with tfx-prod's train/eval steps and no Beam
  args (what tfx-prod passes on small data), so the table separates what
  engineering buys from what settings buy.

One repeat = a cold run in a fresh pipeline root, then a re-run on the same
root and MLMD (TFX caching), each in its own measured subprocess; then a
third, unmeasured subprocess reads steps, eval metrics and model size from
MLMD.
"""
import json
import os

from benchmarks import proc, workdirs
from benchmarks.progress import phase, say

TIMEOUT_S = 3600
LABELS = {
    "anchor": "TFX taxi example, as shipped",
    "control": "TFX taxi example, tfx-prod's steps, no Beam args",
}


def _driver(*args):
    return [workdirs.python(), "-m", "benchmarks.anchor_driver", *args]


def _run_flags(name, settings):
    """Driver flags: none for the shipped example; steps + no Beam args
    for the control."""
    if name == "anchor":
        return []
    return ["--train-steps", str(settings["train_steps"]),
            "--eval-steps", str(settings["eval_steps"]), "--no-beam-args"]


def _measured_run(name, label, paths, env, flags):
    log = os.path.join(workdirs.LOG_DIR, f"{name}-{label}.log")
    cmd = _driver("run", "--pipeline-root", paths["root"],
                  "--metadata", paths["metadata"],
                  "--serving-dir", paths["serving"],
                  "--data-root", paths["data"], *flags)
    with phase(f"{name}: {label} run"):
        result = proc.run_measured(cmd, log, env=env, cwd=workdirs.REPO_DIR,
                                   timeout=TIMEOUT_S)
    if result["returncode"] != 0:
        result["error_tail"] = proc.log_tail(log)
        say(f"{name}: {label} run FAILED (exit {result['returncode']}), "
            f"log: {log}")
    return result


def _read_report(name, label, paths, env):
    out = os.path.join(paths["work"], "report.json")
    log = os.path.join(workdirs.LOG_DIR, f"{name}-{label}-report.log")
    with phase(f"{name}: read metrics from MLMD"):
        result = proc.run_measured(
            _driver("report", "--metadata", paths["metadata"], "--out", out),
            log, env=env, cwd=workdirs.REPO_DIR, timeout=600)
    if result["returncode"] != 0:
        return None, proc.log_tail(log)
    with open(out) as f:
        return json.load(f), None


def run(name, repeat, settings):
    """One repeat of `name` ("anchor" or "control"): a JSON-ready dict."""
    work = workdirs.fresh_dir(name)
    paths = {
        "work": work,
        "root": os.path.join(work, "pipeline_root"),
        "metadata": os.path.join(work, "metadata.db"),
        "serving": os.path.join(work, "serving"),
        "data": os.path.join(work, "data"),
    }
    workdirs.copy_span_csv(paths["data"], settings["rows"])
    # The example's Trainer needs Keras 2 (see anchor_driver).
    env = workdirs.child_env(os.path.join(work, "tmp"),
                             TF_USE_LEGACY_KERAS="1")
    flags = _run_flags(name, settings)
    label = f"r{repeat}"
    result = {"repeat": repeat, "status": "failed", "driver_flags": flags}
    result["cold"] = _measured_run(name, f"{label}-cold", paths, env, flags)
    if result["cold"]["returncode"] != 0:
        return result
    result["cached"] = _measured_run(name, f"{label}-cached", paths, env,
                                     flags)

    report, error = _read_report(name, label, paths, env)
    if report is None:
        result["report_error_tail"] = error
        return result
    for run_label, run_info in zip(("cold", "cached"), report.pop("runs")):
        result[run_label]["components"] = run_info["components"]
    shipped_args = report.pop("shipped_beam_args")
    result["beam_args"] = [] if "--no-beam-args" in flags else shipped_args
    eval_ = report.pop("eval") or {}
    result["eval"] = eval_.get("overall")
    result["eval_other_metrics"] = eval_.get("other")
    result.update(report)
    if result["pushed_to"]:
        result["pushed_bytes"] = workdirs.dir_bytes(result["pushed_to"])
    wanted = (None if name == "anchor"
              else (settings["train_steps"], settings["eval_steps"]))
    ran = (result.get("train_steps"), result.get("eval_steps"))
    if wanted and ran != wanted:
        # MLMD is the proof the control is matched; without it, it is not.
        result["error"] = (f"the Trainer ran {ran} train/eval steps, not "
                           f"the requested {wanted}")
        say(f"{name}: {result['error']}")
        return result
    if result["cached"]["returncode"] == 0:
        result["status"] = "succeeded"
    return result
