"""Benchmark the training recipes (pruning, distillation) against the baseline.

Runs after each repeat of ours' cold + cached runs, in the same pipeline
home, so ExampleGen -> Transform come from cache and only Trainer onwards
re-runs.
`--max-auc-regression 1` lets every variant be blessed (and so quantized)
whatever the comparison with the latest blessed model says: the bench
measures, it does not gate.
"""
import os

from benchmarks import model_files, opt_compare, ours, weights, workdirs
from benchmarks.progress import phase, say

# (model, run label, extra `tfx-prod run` flags)
VARIANT_RUNS = (
    ("pruned", "prune", ("--optimization", "prune", "--final-sparsity", "0.8",
                         "--max-auc-regression", "1")),
    ("distilled", "distill", ("--optimization", "distill",
                              "--max-auc-regression", "1")),
)


def _model(summary, pipeline_root):
    """Reports and file sizes of one run's model, located via its summary.

    Read right after the run: the artifact fallback takes the newest
    Quantizer output in the root.
    """
    summary = summary or {}
    uri, located_by = model_files.quantizer_output(summary, pipeline_root)
    model = {
        "optimization": summary.get("optimization"),
        "quantization": summary.get("quantization"),
        "quantized_model_uri": uri,
        "located_by": located_by,
        "saved_model_gzip_bytes": None,
        "tflite_gzip_bytes": {},
    }
    if uri and model["quantization"]:
        saved = model_files.saved_model_dir(uri)
        model["saved_model_dir"] = saved
        model["saved_model_gzip_bytes"] = model_files.gzipped_saved_model(
            saved)
        for variant in model["quantization"].get("variants") or []:
            name = variant.get("name")
            model["tflite_gzip_bytes"][name] = model_files.gzipped_file(
                model_files.tflite_path(uri, name))
    return model


def _finish(models, env):
    """Add weight stats (one TF child for all models), rows and goals."""
    found = {name: m for name, m in models.items() if m}
    dirs = {name: m.get("saved_model_dir") for name, m in found.items()}
    with phase("optimizations: read SavedModel weights"):
        stats = weights.measure(dirs.values(), env=env)
    for name, saved in dirs.items():
        if saved:
            found[name]["weights"] = stats.get(saved)
    return {"models": models, **opt_compare.compute(models)}


def run(ours_repeat, settings):
    """Prune and distill runs in the home of one repeat of ours.

    Returns the repeat's runs, its models (baseline = ours' cold run) and
    their rows and goals, JSON-ready.
    """
    repeat = (ours_repeat or {}).get("repeat")
    result = {"repeat": repeat, "status": "failed", "runs": {}}
    cold = (ours_repeat or {}).get("cold") or {}
    if not cold or not ours.ok(cold):
        result["error"] = ("ours' cold run did not succeed, so there is no "
                           "baseline or cache to build on")
        say(f"optimizations: {result['error']}")
        return result
    cli = workdirs.venv_script("tfx-prod")
    paths = ours.layout(os.path.join(workdirs.WORK_DIR, ours.NAME))
    env = ours.child_env(paths["work"])
    # Each model is read right after its run: see model_files' fallback.
    models = {"baseline": _model(cold["summary"], paths["root"])}
    for name, label, flags in VARIANT_RUNS:
        flags = [*flags, *settings["our_flags"]]
        measured = ours.measured_run(f"r{repeat}-{label}", cli, paths, env,
                                     flags)
        measured["flags"] = flags
        result["runs"][name] = measured
        models[name] = (_model(measured["summary"], paths["root"])
                        if ours.ok(measured) else None)
    result.update(_finish(models, env))
    if all(ours.ok(r) for r in result["runs"].values()):
        result["status"] = "succeeded"
    return result
