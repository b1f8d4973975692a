"""Read back what a run of TFX's taxi example left in ML Metadata.

Used for the anchor and its matched control, whose only outputs are MLMD
records and artifact directories: per-run component states and durations,
the Trainer's steps, eval metrics, blessing, model size and push
destination. MLMD is read through `pipeline.metadata`, the project's one
MLMD reader; artifacts are found by type in the cold (first) run, so no
node id of the example is assumed. Runs in the driver subprocess because
it imports TFMA (and so TF).
"""
import json
import os

from benchmarks.workdirs import dir_bytes
from pipeline import metadata

# Overall-slice metrics we report; anything else the eval config computes is
# kept under "other".
_EVAL_KEYS = ("binary_accuracy", "auc", "example_count")


def _runs(store):
    """Pipeline runs, oldest first, each with its components' outcomes."""
    return [{
        "run_id": run.name,
        "components": [{"id": row["id"], "state": row["state"],
                        "seconds": round(row["seconds"], 2)}
                       for row in metadata.run_components(store, run)],
    } for run in metadata.pipeline_runs(store)]


def _steps(store, run):
    """Train/eval steps the Trainer ran with, read from its execution."""
    for row in metadata.run_components(store, run):
        execution = row["execution"]
        train = metadata.artifact_property(execution, "train_args")
        if train is None:
            continue
        out = {}
        for key, name in (("train_args", "train_steps"),
                          ("eval_args", "eval_steps")):
            try:
                out[name] = json.loads(metadata.artifact_property(
                    execution, key)).get("num_steps")
            except (TypeError, ValueError):
                out[name] = None
        return out
    return {"train_steps": None, "eval_steps": None}


def _eval_metrics(uri):
    """Overall-slice metrics of the candidate; missing ones stay None.

    With a baseline (any re-run after a blessing) TFMA also writes the
    baseline's metrics and candidate-minus-baseline diffs under the same
    names, so those are skipped.
    """
    import tensorflow_model_analysis as tfma

    overall = {key: None for key in _EVAL_KEYS}
    other = {}
    for metrics in tfma.load_metrics(uri):
        if metrics.slice_key.single_slice_keys:
            continue
        for entry in metrics.metric_keys_and_values:
            value = entry.value
            if (not value.HasField("double_value") or entry.key.is_diff
                    or entry.key.model_name not in ("", "candidate")):
                continue
            name = entry.key.name
            target = overall if name in overall else other
            target[name] = value.double_value.value
    if overall["example_count"] is not None:
        overall["example_count"] = int(overall["example_count"])
    return {"overall": overall, "other": other}


def collect(metadata_path):
    """Everything the benchmark reports about one pipeline's MLMD.

    Artifacts are the cold run's; runs are all of them.
    """
    store = metadata.open_store(metadata_path)
    runs = metadata.pipeline_runs(store)
    result = {"runs": _runs(store), "eval": None, "blessed": None,
              "saved_model_dir": None, "saved_model_bytes": None,
              "pushed_to": None, "train_steps": None, "eval_steps": None}
    if not runs:
        return result
    cold = runs[0]
    result.update(_steps(store, cold))
    outputs = metadata.run_outputs_by_type(store, cold)

    def first(type_name):
        found = outputs.get(type_name) or []
        return found[0] if found else None

    evaluation = first("ModelEvaluation")
    result["eval"] = _eval_metrics(evaluation.uri) if evaluation else None
    blessing = first("ModelBlessing")
    if blessing is not None:
        blessed = metadata.artifact_property(blessing, "blessed")
        result["blessed"] = None if blessed is None else bool(blessed)
    model = first("Model")
    if model is not None:
        serving = os.path.join(model.uri, "Format-Serving")
        result["saved_model_dir"] = serving
        result["saved_model_bytes"] = dir_bytes(serving)
    pushed = first("PushedModel")
    if pushed is not None and metadata.artifact_property(pushed, "pushed"):
        result["pushed_to"] = metadata.artifact_property(
            pushed, "pushed_destination")
    return result
