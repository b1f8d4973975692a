"""What a run produced, read back from ML Metadata and the artifacts.

`collect` returns a plain dict (also written as --summary-json, the contract
benchmarks/ reads); `render` turns it into the text a person reads.
"""
import json
import os
from typing import Any, Optional

from ml_metadata import metadata_store
from ml_metadata.proto import metadata_store_pb2

_OUTPUT_EVENTS = (metadata_store_pb2.Event.OUTPUT,
                  metadata_store_pb2.Event.DECLARED_OUTPUT)


def open_store(metadata_path: str) -> metadata_store.MetadataStore:
    """Read-only: reports must never write to a pipeline's ML Metadata."""
    config = metadata_store_pb2.ConnectionConfig()
    config.sqlite.filename_uri = metadata_path
    config.sqlite.connection_mode = (
        metadata_store_pb2.SqliteMetadataSourceConfig.READONLY)
    return metadata_store.MetadataStore(config)


def execution_outputs(store, execution_id: int) -> dict[str, list]:
    """Output artifacts of one execution, keyed by output name."""
    events = [e for e in store.get_events_by_execution_ids([execution_id])
              if e.type in _OUTPUT_EVENTS]
    artifacts = {a.id: a for a in store.get_artifacts_by_id(
        [e.artifact_id for e in events])}
    outputs: dict[str, list] = {}
    for event in events:
        key = event.path.steps[0].key if event.path.steps else ""
        outputs.setdefault(key, []).append(artifacts[event.artifact_id])
    return outputs


def artifact_property(artifact, name: str, default=None):
    """A (custom) property of an artifact or execution, as a Python value."""
    for props in (artifact.custom_properties, artifact.properties):
        if name in props:
            value = props[name]
            return getattr(value, value.WhichOneof("value"))
    return default


def _metric_value(value) -> Optional[float]:
    if value.HasField("double_value"):
        return value.double_value.value
    if value.HasField("bounded_value"):
        return value.bounded_value.value.value
    return None


def _slice_name(slice_key) -> str:
    parts = []
    for single in slice_key.single_slice_keys:
        value = getattr(single, single.WhichOneof("kind"))
        if isinstance(value, bytes):
            value = value.decode("utf-8", "replace")
        parts.append(f"{single.column}={value}")
    return ", ".join(parts) or "overall"


def read_evaluation(evaluation_uri: str) -> dict[str, Any]:
    """Per-slice metrics of the candidate model, and the validation verdict."""
    import tensorflow_model_analysis as tfma  # slow import; only when needed
    slices: dict[str, dict[str, float]] = {}
    for metrics in tfma.load_metrics(evaluation_uri):
        name = _slice_name(metrics.slice_key)
        for item in metrics.metric_keys_and_values:
            key = item.key
            if key.model_name == "baseline" or key.sub_key.ByteSize():
                continue
            value = _metric_value(item.value)
            if value is not None:
                metric = key.name + ("_diff" if key.is_diff else "")
                slices.setdefault(name, {})[metric] = value
    validation = tfma.load_validation_result(evaluation_uri)
    failures = []
    for per_slice in validation.metric_validations_per_slice:
        for failure in per_slice.failures:
            failures.append(
                f"{_slice_name(per_slice.slice_key)}: {failure.metric_key.name}"
                f"{' (change vs baseline)' if failure.metric_key.is_diff else ''}"
                f" = {_metric_value(failure.metric_value):.4f} "
                f"fails {_threshold_text(failure.metric_threshold)}")
    return {"overall": slices.pop("overall", {}), "slices": slices,
            "validation_ok": validation.validation_ok, "failures": failures}


def _threshold_text(threshold) -> str:
    if threshold.HasField("value_threshold"):
        bound = threshold.value_threshold
        if bound.HasField("lower_bound"):
            return f">= {bound.lower_bound.value:g}"
        return f"<= {bound.upper_bound.value:g}"
    change = threshold.change_threshold
    return f"change >= {change.absolute.value:g}"


def _read_json(*path_parts) -> Optional[dict]:
    path = os.path.join(*path_parts)
    if not os.path.exists(path):
        return None
    with open(path) as f:
        return json.load(f)


def output_artifact_ids(metadata_path: str,
                        executions: dict[str, int]) -> dict[str, list[int]]:
    """Node -> ids of the artifacts its execution output (or reused from cache)."""
    store = open_store(metadata_path)
    return {node: sorted(a.id for artifacts in
                         execution_outputs(store, eid).values()
                         for a in artifacts)
            for node, eid in executions.items()}


def collect(metadata_path: str, executions: dict[str, int]) -> dict[str, Any]:
    """Gathers eval, blessing, quantization and push results of one run."""
    store = open_store(metadata_path)
    outputs = {node: execution_outputs(store, eid)
               for node, eid in executions.items()}
    summary: dict[str, Any] = {"eval": None, "blessed": None,
                               "blessing_reason": None, "quantization": None,
                               "optimization": None, "pushed_to": None,
                               "span": None, "artifacts": {}}
    for node, key in (("Trainer", "model"), ("Quantizer", "quantized_model"),
                      ("Evaluator", "evaluation")):
        if outputs.get(node, {}).get(key):
            summary["artifacts"][f"{node}.{key}"] = outputs[node][key][0].uri
    if outputs.get("CsvExampleGen", {}).get("examples"):
        summary["span"] = artifact_property(
            outputs["CsvExampleGen"]["examples"][0], "span")
    trainer = outputs.get("Trainer", {})
    if trainer.get("model"):
        summary["optimization"] = _read_json(
            trainer["model"][0].uri, "Format-Serving", "assets.extra",
            "optimization_report.json")
    evaluator = outputs.get("Evaluator", {})
    if evaluator.get("evaluation"):
        evaluation = read_evaluation(evaluator["evaluation"][0].uri)
        summary["eval"] = evaluation
        blessed = bool(artifact_property(evaluator["blessing"][0], "blessed",
                                         0))
        summary["blessed"] = blessed
        has_baseline = bool(artifact_property(evaluator["blessing"][0],
                                              "baseline_model_id", 0))
        if blessed:
            summary["blessing_reason"] = (
                "passes every threshold" + (
                    " and is no worse than the latest blessed model"
                    if has_baseline else " (first model: no baseline yet)"))
        else:
            summary["blessing_reason"] = "; ".join(evaluation["failures"])
    quantizer = outputs.get("Quantizer", {})
    if quantizer.get("quantized_model"):
        summary["quantization"] = _read_json(
            quantizer["quantized_model"][0].uri, "Format-Serving",
            "quantization_report.json")
    pusher = outputs.get("Pusher", {})
    if pusher.get("pushed_model"):
        pushed = pusher["pushed_model"][0]
        if artifact_property(pushed, "pushed", 0):
            summary["pushed_to"] = artifact_property(pushed,
                                                     "pushed_destination")
    return summary
