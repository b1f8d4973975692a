"""Quantizer executor: resolve artifacts, build and score variants, write outputs.

The work lives in convert.py (flatbuffers), score.py (examples, inference,
latency), metrics.py (the task's scores) and report.py (rows, blessing);
Do() is bookkeeping only. What each task scores is in tasks.py.
"""
import json
import os
from typing import Any, Dict, List, NamedTuple, Optional

import numpy as np
from absl import logging
from tfx import types
from tfx.dsl.components.base import base_executor
from tfx.dsl.io import fileio
from tfx.types import artifact_utils
from tfx.utils import io_utils
from tfx.utils import path_utils

from components.quantizer import convert
from components.quantizer import metrics
from components.quantizer import report
from components.quantizer import score
from components.quantizer import tasks

# Channel keys.
MODEL_KEY = "model"
EXAMPLES_KEY = "examples"
QUANTIZED_MODEL_KEY = "quantized_model"

# Execution parameter keys.
TASK_KEY = "task"
SIGNATURE_KEY_KEY = "signature_key"
LABEL_KEY_KEY = "label_key"
EVAL_SPLIT_KEY = "eval_split"
CALIBRATION_SPLIT_KEY = "calibration_split"
VARIANTS_KEY = "variants"
MAX_METRIC_LOSS_KEY = "max_metric_loss"
MAX_EVAL_EXAMPLES_KEY = "max_eval_examples"
CALIBRATION_EXAMPLES_KEY = "calibration_examples"
LATENCY_RUNS_KEY = "latency_runs"

# Defaults shared by the component constructor and direct Do() calls. The
# label key has none: it is the user's feature contract, always passed in.
# Neither has the budget: its default is the task's (tasks.Task.default_budget).
DEFAULT_PARAMETERS = {
    TASK_KEY: tasks.DEFAULT_TASK,
    SIGNATURE_KEY_KEY: "predict_transformed",
    EVAL_SPLIT_KEY: "eval",
    CALIBRATION_SPLIT_KEY: "train",
    VARIANTS_KEY: ",".join(convert.QUANTIZED_VARIANTS),
    MAX_EVAL_EXAMPLES_KEY: 5000,
    # 1000 real rows cover the feature tails; 200 clipped outliers.
    CALIBRATION_EXAMPLES_KEY: 1000,
    LATENCY_RUNS_KEY: 200,
}
_NON_EMPTY = (SIGNATURE_KEY_KEY, LABEL_KEY_KEY, EVAL_SPLIT_KEY, CALIBRATION_SPLIT_KEY)
_COUNTS = (MAX_EVAL_EXAMPLES_KEY, CALIBRATION_EXAMPLES_KEY, LATENCY_RUNS_KEY)

TFLITE_FILENAME = "model.tflite"
# Under assets.extra/ (which TF Serving ignores): what a server loads stays the
# model alone, so re-pushing the same model is recognised as the same payload.
REPORT_FILENAME = "assets.extra/quantization_report.json"
VARIANTS_DIRNAME = "variants"  # Outside Format-Serving, so the Pusher skips them.


def parameters(exec_properties: Dict[str, Any]) -> Dict[str, Any]:
    """Defaults filled in, the budget resolved for the task, everything checked.

    The component calls this at construction and Do() again at run time, so
    a bad value fails the same way whichever way the executor is reached.

    Raises:
        ValueError: On an unknown task or variant, an empty name or split, a
            negative or non-finite budget (or none for regression), or a
            count below 1.
    """
    params = {**DEFAULT_PARAMETERS,
              **{key: value for key, value in exec_properties.items() if value is not None}}
    task = tasks.get(params[TASK_KEY])
    convert.parse_variant_names(params[VARIANTS_KEY])
    for key in _NON_EMPTY:
        if not params.get(key):
            raise ValueError(f"{key} must be a non-empty string"
                             + (": the label feature in the transformed examples."
                                if key == LABEL_KEY_KEY else "."))
    params[MAX_METRIC_LOSS_KEY] = tasks.budget(task, params.get(MAX_METRIC_LOSS_KEY))
    for key in _COUNTS:
        if params[key] < 1:
            raise ValueError(f"{key} must be >= 1, got {params[key]}.")
        params[key] = int(params[key])
    return params


class _Baseline(NamedTuple):
    """What every variant is compared against."""

    task: tasks.Task
    eval_set: score.ExampleSet
    outputs: np.ndarray  # [N, width]
    scores: Dict[str, float]
    latency_example: score.Features


class Executor(base_executor.BaseExecutor):
    """Builds TFLite variants and blesses the smallest one within the budget."""

    def Do(self, input_dict: Dict[str, List[types.Artifact]],
           output_dict: Dict[str, List[types.Artifact]],
           exec_properties: Dict[str, Any]) -> None:
        self._log_startup(input_dict, output_dict, exec_properties)
        params = parameters(exec_properties)
        task = tasks.get(params[TASK_KEY])
        variant_names = convert.parse_variant_names(params[VARIANTS_KEY])
        max_metric_loss = params[MAX_METRIC_LOSS_KEY]

        model = artifact_utils.get_single_instance(input_dict[MODEL_KEY])
        output = artifact_utils.get_single_instance(output_dict[QUANTIZED_MODEL_KEY])
        saved_model_dir = path_utils.serving_model_path(
            model.uri, path_utils.is_old_model_artifact(model))
        reference = score.SavedModelSignature(saved_model_dir, params[SIGNATURE_KEY_KEY], task)

        def load(split_key: str, limit_key: str) -> score.ExampleSet:
            split_uri = artifact_utils.get_split_uri(input_dict[EXAMPLES_KEY], params[split_key])
            return score.load_examples(split_uri, reference.input_specs,
                                       params[LABEL_KEY_KEY], task, params[limit_key])

        eval_set = load(EVAL_SPLIT_KEY, MAX_EVAL_EXAMPLES_KEY)
        calibration = None
        if any(convert.needs_calibration(name) for name in variant_names):
            calibration = score.representative_dataset(
                load(CALIBRATION_SPLIT_KEY, CALIBRATION_EXAMPLES_KEY))

        reference_outputs = reference.predict(eval_set.features)
        reference_scores = metrics.task_metrics(task, eval_set.labels, reference_outputs)
        latency_example = score.first_example(eval_set)
        reference_row = {
            "name": "saved_model",
            **reference_scores,
            "size_bytes": score.directory_size_bytes(saved_model_dir),
            **score.latency_ms(reference.single_call(latency_example), params[LATENCY_RUNS_KEY]),
        }
        logging.info("Quantizer reference SavedModel on %d eval examples: %s",
                     len(eval_set.labels), reference_row)
        baseline = _Baseline(task, eval_set, reference_outputs, reference_scores, latency_example)

        variants_dir = os.path.join(output.uri, VARIANTS_DIRNAME)
        fileio.makedirs(variants_dir)
        rows, flatbuffers = [], {}
        for name in [convert.ANCHOR_VARIANT] + variant_names:
            logging.info("Quantizer: converting and scoring %s", name)
            try:
                content = convert.convert_variant(
                    saved_model_dir, params[SIGNATURE_KEY_KEY], name, calibration)
                io_utils.write_bytes_file(os.path.join(variants_dir, f"{name}.tflite"), content)
                rows.append(_score_variant(name, content, baseline, params))
                flatbuffers[name] = content
            except Exception as error:  # pylint: disable=broad-except
                # One broken variant must not sink the others.
                logging.warning("Quantizer: variant %s failed", name, exc_info=True)
                rows.append(report.failed_row(task, name, f"{type(error).__name__}: {error}"))
        report.add_anchor_ratios(rows)
        for row in rows:
            logging.info("Quantizer %s", report.describe_row(task, row))

        blessed = report.choose_blessed(rows)
        quantization_report = {
            **tasks.header(task),
            "max_metric_loss": max_metric_loss,
            "signature_key": params[SIGNATURE_KEY_KEY],
            "label_key": params[LABEL_KEY_KEY],
            "output_width": reference.output_width,
            "eval_split": params[EVAL_SPLIT_KEY],
            "eval_examples": int(len(eval_set.labels)),
            "reference": reference_row,
            "variants": rows,
            "blessed_variant": blessed["name"] if blessed else None,
            "reason": report.explain(task, blessed, rows, reference_scores[task.metric],
                                     max_metric_loss),
        }
        logging.info("Quantizer decision: %s", quantization_report["reason"])
        _write_outputs(saved_model_dir, output, quantization_report,
                       blessed, flatbuffers.get(blessed["name"]) if blessed else None)


def _score_variant(name: str, content: bytes, baseline: _Baseline,
                   params: Dict[str, Any]) -> report.Row:
    """The task's scores against the labels, the largest output difference
    from the float model, then batch-1 latency and batch-256 throughput (the
    same number of timed calls for each)."""
    variant = score.TFLiteSignature(content, params[SIGNATURE_KEY_KEY])
    outputs = variant.predict(baseline.eval_set.features)
    if outputs.shape != baseline.outputs.shape:
        raise ValueError(f"TFLite output shape {outputs.shape} differs from the "
                         f"SavedModel's {baseline.outputs.shape}.")
    runs = params[LATENCY_RUNS_KEY]
    batch = score.first_rows(baseline.eval_set, score.THROUGHPUT_BATCH_ROWS)
    batch_rows = len(next(iter(batch.values())))
    return report.scored_row(
        baseline.task, name, len(content),
        metrics.task_metrics(baseline.task, baseline.eval_set.labels, outputs),
        float(np.max(np.abs(outputs - baseline.outputs))),
        score.latency_ms(variant.bound_call(baseline.latency_example), runs),
        score.throughput(variant.bound_call(batch), batch_rows, runs),
        baseline.scores, params[MAX_METRIC_LOSS_KEY])


def _write_outputs(saved_model_dir: str, output: types.Artifact,
                   quantization_report: Dict[str, Any], blessed: Optional[report.Row],
                   blessed_content: Optional[bytes]) -> None:
    """Format-Serving = SavedModel copy + blessed model.tflite + report."""
    serving_dir = path_utils.serving_model_dir(output.uri)
    io_utils.copy_dir(saved_model_dir, serving_dir)
    if blessed_content is not None:
        io_utils.write_bytes_file(os.path.join(serving_dir, TFLITE_FILENAME), blessed_content)
    io_utils.write_string_file(os.path.join(serving_dir, *REPORT_FILENAME.split("/")),
                               json.dumps(quantization_report, indent=2))
    output.set_string_custom_property("blessed_variant", blessed["name"] if blessed else "")
    output.set_int_custom_property("tflite_size_bytes", len(blessed_content or b""))
    # The loss of what ships: the SavedModel's own loss is 0 when nothing is blessed.
    output.set_string_custom_property("metric", quantization_report["metric"])
    output.set_float_custom_property("metric_loss",
                                     float(blessed["metric_loss"]) if blessed else 0.0)
