"""Read back what a TFX pipeline run left in ML Metadata.

Used for the anchor, whose only outputs are MLMD records and artifact
directories: per-run component states and durations, eval metrics from
the latest ModelEvaluation, blessing, model size and push destination.
Runs in the driver subprocess because it imports TFMA (and so TF).
"""
import json
import os

from ml_metadata.metadata_store import metadata_store
from ml_metadata.proto import metadata_store_pb2

from benchmarks.workdirs import dir_bytes

_STATES = {
    metadata_store_pb2.Execution.COMPLETE: "complete",
    metadata_store_pb2.Execution.CACHED: "cached",
    metadata_store_pb2.Execution.FAILED: "failed",
    metadata_store_pb2.Execution.CANCELED: "canceled",
    metadata_store_pb2.Execution.RUNNING: "running",
    metadata_store_pb2.Execution.NEW: "new",
}
# Overall-slice metrics we report; anything else the eval config computes is
# kept under "other".
_EVAL_KEYS = ("binary_accuracy", "auc", "example_count")


def _open_store(metadata_path):
    config = metadata_store_pb2.ConnectionConfig()
    config.sqlite.filename_uri = metadata_path
    config.sqlite.connection_mode = (
        metadata_store_pb2.SqliteMetadataSourceConfig.READONLY)
    return metadata_store.MetadataStore(config)


def _value(prop):
    kind = prop.WhichOneof("value")
    return getattr(prop, kind) if kind else None


def _node_id(store, execution_id):
    for ctx in store.get_contexts_by_execution(execution_id):
        if ctx.type == "node":
            return ctx.name.split(".", 1)[-1]
    return str(execution_id)


def _runs(store):
    """Pipeline runs, oldest first, each with its components' outcomes."""
    runs = sorted(store.get_contexts_by_type("pipeline_run"),
                  key=lambda c: c.create_time_since_epoch)
    result = []
    for run in runs:
        executions = sorted(store.get_executions_by_context(run.id),
                            key=lambda e: e.id)
        result.append({
            "run_id": run.name,
            "components": [{
                "id": _node_id(store, e.id),
                "state": _STATES.get(e.last_known_state, "unknown"),
                "seconds": round((e.last_update_time_since_epoch
                                  - e.create_time_since_epoch) / 1000.0, 2),
            } for e in executions],
        })
    return result


def _was_pushed(artifact):
    props = artifact.custom_properties
    return "pushed" in props and bool(_value(props["pushed"]))


def _first(store, type_name, keep=lambda artifact: True):
    """The oldest matching artifact: the cold run's output."""
    artifacts = [a for a in store.get_artifacts_by_type(type_name)
                 if keep(a)]
    return min(artifacts, key=lambda a: a.id) if artifacts else None


def _train_args(store):
    """Train/eval steps the Trainer actually ran with (from its properties)."""
    trainers = [e for e in store.get_executions()
                if "train_args" in e.custom_properties]
    if not trainers:
        return {}
    props = max(trainers, key=lambda e: e.id).custom_properties
    out = {}
    for key, name in (("train_args", "train_steps"),
                      ("eval_args", "eval_steps")):
        try:
            out[name] = json.loads(_value(props[key])).get("num_steps")
        except (KeyError, TypeError, ValueError):
            out[name] = None
    return out


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

    Artifacts are the cold run's, as for our pipeline; runs are all of them.
    """
    store = _open_store(metadata_path)
    result = {"runs": _runs(store), **_train_args(store)}

    evaluation = _first(store, "ModelEvaluation")
    result["eval"] = _eval_metrics(evaluation.uri) if evaluation else None

    blessing = _first(store, "ModelBlessing")
    result["blessed"] = (
        bool(_value(blessing.custom_properties["blessed"]))
        if blessing and "blessed" in blessing.custom_properties else None)

    model = _first(store, "Model")
    serving = os.path.join(model.uri, "Format-Serving") if model else None
    result["saved_model_dir"] = serving
    result["saved_model_bytes"] = dir_bytes(serving) if serving else None

    pushed = _first(store, "PushedModel", keep=_was_pushed)
    result["pushed_to"] = (
        _value(pushed.custom_properties["pushed_destination"])
        if pushed else None)
    return result
