"""What a run produced, read back from ML Metadata and the artifacts.

`collect` returns a plain dict (also written as --summary-json, the contract
benchmarks/ reads); `render` turns it into the text a person reads. Display
only: the exit code comes from pipeline.metadata.run_outcome directly.
"""
import json
import os
from typing import Any, Optional

from components.evaluator import BASELINE_VERSION
from components.quantizer.executor import REPORT_FILENAME as QUANTIZATION_REPORT
from pipeline.metadata import (artifact_property, execution_outputs,
                               open_store, run_outcome, window_spans)


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


def _metric_name(key) -> Optional[str]:
    """`auc`, `macro_auc` (multiclass aggregate), `auc_class_2` (one class),
    with `_diff` for the change vs the baseline; None for other sub-keys."""
    name = key.name
    if key.HasField("aggregation_type") and key.aggregation_type.macro_average:
        name = f"macro_{name}"
    elif key.sub_key.HasField("class_id"):
        name = f"{name}_class_{key.sub_key.class_id.value}"
    elif key.sub_key.ByteSize():
        return None
    return name + ("_diff" if key.is_diff else "")


def read_evaluation(evaluation_uri: str) -> dict[str, Any]:
    """Per-slice metrics of the candidate model, and the validation verdict."""
    import tensorflow_model_analysis as tfma  # slow import; only when needed
    slices: dict[str, dict[str, float]] = {}
    for metrics in tfma.load_metrics(evaluation_uri):
        name = _slice_name(metrics.slice_key)
        for item in metrics.metric_keys_and_values:
            key = item.key
            value = _metric_value(item.value)
            if key.model_name == "baseline" or value is None:
                continue
            metric = _metric_name(key)
            if metric is not None:
                slices.setdefault(name, {})[metric] = value
    validation = tfma.load_validation_result(evaluation_uri)
    failures = []
    for per_slice in validation.metric_validations_per_slice:
        for failure in per_slice.failures:
            failures.append(
                f"{_slice_name(per_slice.slice_key)}: "
                f"{_metric_name(failure.metric_key).removesuffix('_diff')}"
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
    import tensorflow_model_analysis as tfma
    if change.direction == tfma.MetricDirection.LOWER_IS_BETTER:
        return f"change <= {change.absolute.value:+g}"
    return f"change >= {change.absolute.value:g}"


def _read_json(*path_parts) -> Optional[dict]:
    path = os.path.join(*path_parts)
    if not os.path.exists(path):
        return None
    with open(path) as f:
        return json.load(f)


def collect(metadata_path: str, executions: dict[str, int]) -> dict[str, Any]:
    """Gathers eval, blessing, quantization and push results of one run."""
    store = open_store(metadata_path)
    outputs = {node: execution_outputs(store, eid)
               for node, eid in executions.items()}
    summary: dict[str, Any] = {"eval": None, "blessed": None,
                               "blessing_reason": None, "quantization": None,
                               "optimization": None, "pushed_to": None,
                               "drift": None,
                               "span": None, "artifacts": {}}
    for node, key in (("Trainer", "model"), ("Quantizer", "quantized_model"),
                      ("Evaluator", "evaluation")):
        if outputs.get(node, {}).get(key):
            summary["artifacts"][f"{node}.{key}"] = outputs[node][key][0].uri
    if outputs.get("CsvExampleGen", {}).get("examples"):
        summary["span"] = artifact_property(
            outputs["CsvExampleGen"]["examples"][0], "span")
    spans = window_spans(store, executions)
    if spans:  # --window K: the spans trained on, newest first
        summary["training_spans"] = spans
    trainer = outputs.get("Trainer", {})
    if trainer.get("model"):
        summary["optimization"] = _read_json(
            trainer["model"][0].uri, "Format-Serving", "assets.extra",
            "optimization_report.json")
        summary["task"] = (summary["optimization"] or {}).get("task")
    outcome = run_outcome(store, executions)
    evaluator = outputs.get("Evaluator", {})
    if evaluator.get("evaluation"):
        evaluation = read_evaluation(evaluator["evaluation"][0].uri)
        summary["eval"] = evaluation
        summary["blessed"] = outcome["blessed"]
        baseline = artifact_property(evaluator["blessing"][0],
                                     BASELINE_VERSION, 0)
        summary["baseline_version"] = baseline or None
        if outcome["blessed"]:
            summary["blessing_reason"] = "passes every threshold" + (
                f" and is no worse than served version {baseline}"
                if baseline else " (nothing served yet: no baseline)")
        else:
            summary["blessing_reason"] = "; ".join(evaluation["failures"])
    drift_check = outputs.get("DriftCheck", {})
    if drift_check.get("drift"):
        from components.drift_check.executor import read_report
        summary["drift"] = read_report(drift_check["drift"][0].uri)
    quantizer = outputs.get("Quantizer", {})
    if quantizer.get("quantized_model"):
        summary["quantization"] = _read_json(
            quantizer["quantized_model"][0].uri, "Format-Serving",
            *QUANTIZATION_REPORT.split("/"))
    summary["pushed_to"] = outcome["pushed_to"]
    return summary
