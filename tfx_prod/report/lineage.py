"""Where a run came from and what it made: lineage and the Evaluator gates.

Read from the exec properties TFX stores on each execution (input_base,
custom_config, eval_config as JSON) and from output artifact properties.
"""
import json
import os
import re
from typing import Any

from pipeline.metadata import artifact_property as prop

# Read by tfx_prod.summary; the report names the path when it is absent.
OPTIMIZATION_REPORT = os.path.join("Format-Serving", "assets.extra",
                                   "optimization_report.json")


def _json_prop(execution, name: str):
    """An exec property TFX stored as JSON text (configs, protos)."""
    text = prop(execution, name)
    try:
        return json.loads(text) if isinstance(text, str) else None
    except ValueError:
        return None


def lineage(by_node: dict, outputs: dict) -> dict[str, Any]:
    """Data span and path, code version, model, baseline, pushed version.

    `by_node`: this run's components (with their execution protos);
    `outputs`: their output artifacts by node and output name.
    """
    lineage: dict[str, Any] = {}
    if "CsvExampleGen" in by_node:
        gen = by_node["CsvExampleGen"]["execution"]
        lineage["input_base"] = prop(gen, "input_base")
        splits = (_json_prop(gen, "input_config") or {}).get("splits", [])
        lineage["input_pattern"] = splits[0].get("pattern") if splits else None
    examples = outputs.get("CsvExampleGen", {}).get("examples")
    if examples:
        lineage["examples_id"] = examples[0].id
        fingerprint = prop(examples[0], "input_fingerprint") or ""
        fields = dict(p.split(":", 1) for p in fingerprint.split(",")
                      if ":" in p)
        lineage["input_files"] = fields.get("num_files")
        lineage["input_bytes"] = fields.get("total_bytes")
        span = prop(examples[0], "span")
        if lineage.get("input_pattern") and span is not None:
            # A cached CsvExampleGen keeps the unresolved `span-{SPAN}/*`.
            lineage["input_pattern"] = re.sub(
                r"\{SPAN(:(\d+))?\}",
                lambda m: str(span).zfill(int(m.group(2) or 0)),
                lineage["input_pattern"])
    for node in ("Trainer", "Transform"):
        if node in by_node:
            config = _json_prop(by_node[node]["execution"], "custom_config")
            lineage[f"{node.lower()}_code_version"] = (config or {}).get(
                "code_version")
    if "Trainer" in by_node:
        train_args = _json_prop(by_node["Trainer"]["execution"], "train_args")
        lineage["train_steps"] = (train_args or {}).get("num_steps")
    model = outputs.get("Trainer", {}).get("model")
    if model:
        lineage["model_id"], lineage["model_uri"] = model[0].id, model[0].uri
        lineage["model_cached"] = by_node["Trainer"]["state"] == "cached"
    blessing = outputs.get("Evaluator", {}).get("blessing")
    if blessing:
        lineage["baseline_model_id"] = prop(blessing[0], "baseline_model_id")
        lineage["baseline_model_uri"] = prop(blessing[0], "baseline_model")
    pushed = outputs.get("Pusher", {}).get("pushed_model")
    if pushed and prop(pushed[0], "pushed", 0):
        lineage["pushed_version"] = prop(pushed[0], "pushed_version")
        lineage["pushed_destination"] = prop(pushed[0], "pushed_destination")
        lineage["push_cached"] = by_node["Pusher"]["state"] == "cached"
    return lineage


def gates(evaluator_execution) -> list[str]:
    """The Evaluator's thresholds as text, from its eval_config property."""
    config = _json_prop(evaluator_execution, "eval_config") or {}
    gates = []
    for spec in config.get("metrics_specs", []):
        for metric in spec.get("metrics", []):
            for per_slice in metric.get("per_slice_thresholds", []):
                threshold = per_slice.get("threshold", {})
                name = metric.get("class_name", "?")
                bound = threshold.get("value_threshold", {})
                for key, sign in (("lower_bound", ">="),
                                  ("upper_bound", "<=")):
                    if key in bound:
                        gates.append(f"{name} {sign} {_number(bound[key]):g}")
                change = threshold.get("change_threshold", {})
                if "absolute" in change:
                    gates.append(f"{name} change vs baseline >= "
                                 f"{_number(change['absolute']):g}")
    return gates


def _number(value) -> float:
    """A proto DoubleValue as JSON: a bare number or {"value": number}."""
    return float(value["value"] if isinstance(value, dict) else value)
