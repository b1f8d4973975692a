"""Quantizer executor: resolve artifacts, build and score variants, write outputs.

The work lives in convert.py (flatbuffers), score.py (examples, inference,
latency) and report.py (rows, blessing); Do() is bookkeeping only.
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
from components.quantizer import report
from components.quantizer import score
from modules import features

# Channel keys.
MODEL_KEY = "model"
EXAMPLES_KEY = "examples"
QUANTIZED_MODEL_KEY = "quantized_model"

# Execution parameter keys.
SIGNATURE_KEY_KEY = "signature_key"
LABEL_KEY_KEY = "label_key"
EVAL_SPLIT_KEY = "eval_split"
CALIBRATION_SPLIT_KEY = "calibration_split"
VARIANTS_KEY = "variants"
MAX_AUC_DROP_KEY = "max_auc_drop"
MAX_EVAL_EXAMPLES_KEY = "max_eval_examples"
CALIBRATION_EXAMPLES_KEY = "calibration_examples"
LATENCY_RUNS_KEY = "latency_runs"

# Defaults shared by the component constructor and direct Do() calls.
DEFAULT_PARAMETERS = {
    SIGNATURE_KEY_KEY: "predict_transformed",
    LABEL_KEY_KEY: features.LABEL_KEY,
    EVAL_SPLIT_KEY: "eval",
    CALIBRATION_SPLIT_KEY: "train",
    VARIANTS_KEY: ",".join(convert.QUANTIZED_VARIANTS),
    MAX_AUC_DROP_KEY: 0.01,
    MAX_EVAL_EXAMPLES_KEY: 5000,
    CALIBRATION_EXAMPLES_KEY: 200,
    LATENCY_RUNS_KEY: 200,
}

TFLITE_FILENAME = "model.tflite"
REPORT_FILENAME = "quantization_report.json"
VARIANTS_DIRNAME = "variants"  # Outside Format-Serving, so the Pusher skips them.


class _Baseline(NamedTuple):
    """What every variant is compared against."""

    eval_set: score.ExampleSet
    probabilities: np.ndarray
    auc: float
    latency_example: score.Features


class Executor(base_executor.BaseExecutor):
    """Builds TFLite variants and blesses the smallest one within the AUC budget."""

    def Do(self, input_dict: Dict[str, List[types.Artifact]],
           output_dict: Dict[str, List[types.Artifact]],
           exec_properties: Dict[str, Any]) -> None:
        self._log_startup(input_dict, output_dict, exec_properties)
        params = {**DEFAULT_PARAMETERS,
                  **{key: value for key, value in exec_properties.items() if value is not None}}
        variant_names = convert.parse_variant_names(params[VARIANTS_KEY])
        max_auc_drop = float(params[MAX_AUC_DROP_KEY])

        model = artifact_utils.get_single_instance(input_dict[MODEL_KEY])
        output = artifact_utils.get_single_instance(output_dict[QUANTIZED_MODEL_KEY])
        saved_model_dir = path_utils.serving_model_path(
            model.uri, path_utils.is_old_model_artifact(model))
        reference = score.SavedModelSignature(saved_model_dir, params[SIGNATURE_KEY_KEY])

        def load(split_key: str, limit_key: str) -> score.ExampleSet:
            split_uri = artifact_utils.get_split_uri(input_dict[EXAMPLES_KEY], params[split_key])
            return score.load_examples(split_uri, reference.input_specs,
                                       params[LABEL_KEY_KEY], int(params[limit_key]))

        eval_set = load(EVAL_SPLIT_KEY, MAX_EVAL_EXAMPLES_KEY)
        calibration = None
        if any(convert.needs_calibration(name) for name in variant_names):
            calibration = score.representative_dataset(
                load(CALIBRATION_SPLIT_KEY, CALIBRATION_EXAMPLES_KEY))

        reference_probs = reference.predict(eval_set.features)
        latency_example = score.first_example(eval_set)
        reference_row = {
            "name": "saved_model",
            **score.classification_metrics(eval_set.labels, reference_probs),
            "size_bytes": score.directory_size_bytes(saved_model_dir),
            **score.latency_ms(reference.single_call(latency_example),
                               int(params[LATENCY_RUNS_KEY])),
        }
        logging.info("Quantizer reference SavedModel on %d eval examples: %s",
                     len(eval_set.labels), reference_row)
        baseline = _Baseline(eval_set, reference_probs, reference_row["auc"], latency_example)

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
                rows.append(report.failed_row(name, f"{type(error).__name__}: {error}"))
        report.add_anchor_ratios(rows)
        for row in rows:
            logging.info("Quantizer %s", report.describe_row(row))

        blessed = report.choose_blessed(rows)
        quantization_report = {
            "signature_key": params[SIGNATURE_KEY_KEY],
            "label_key": params[LABEL_KEY_KEY],
            "eval_split": params[EVAL_SPLIT_KEY],
            "max_auc_drop": max_auc_drop,
            "eval_examples": int(len(eval_set.labels)),
            "reference": reference_row,
            "variants": rows,
            "blessed_variant": blessed["name"] if blessed else None,
            "reason": report.explain(blessed, rows, reference_row["auc"], max_auc_drop),
        }
        logging.info("Quantizer decision: %s", quantization_report["reason"])
        _write_outputs(saved_model_dir, output, quantization_report,
                       blessed, flatbuffers.get(blessed["name"]) if blessed else None)


def _score_variant(name: str, content: bytes, baseline: _Baseline,
                   params: Dict[str, Any]) -> report.Row:
    """Accuracy against the labels and the float model, then batch-1 latency."""
    variant = score.TFLiteSignature(content, params[SIGNATURE_KEY_KEY])
    probabilities = variant.predict(baseline.eval_set.features)
    return report.scored_row(
        name, len(content),
        score.classification_metrics(baseline.eval_set.labels, probabilities),
        float(np.max(np.abs(probabilities - baseline.probabilities))),
        score.latency_ms(variant.single_call(baseline.latency_example),
                         int(params[LATENCY_RUNS_KEY])),
        baseline.auc, float(params[MAX_AUC_DROP_KEY]))


def _write_outputs(saved_model_dir: str, output: types.Artifact,
                   quantization_report: Dict[str, Any], blessed: Optional[report.Row],
                   blessed_content: Optional[bytes]) -> None:
    """Format-Serving = SavedModel copy + blessed model.tflite + report."""
    serving_dir = path_utils.serving_model_dir(output.uri)
    io_utils.copy_dir(saved_model_dir, serving_dir)
    if blessed_content is not None:
        io_utils.write_bytes_file(os.path.join(serving_dir, TFLITE_FILENAME), blessed_content)
    io_utils.write_string_file(os.path.join(serving_dir, REPORT_FILENAME),
                               json.dumps(quantization_report, indent=2))
    output.set_string_custom_property("blessed_variant", blessed["name"] if blessed else "")
    output.set_int_custom_property("tflite_size_bytes", len(blessed_content or b""))
    # The drop of what ships: the SavedModel's own drop is 0 when nothing is blessed.
    output.set_float_custom_property("auc_drop", float(blessed["auc_drop"]) if blessed else 0.0)
