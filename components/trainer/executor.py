"""Trainer executor: TFX's GenericExecutor, then the recipe's report -> MLMD.

`run_fn` cannot touch its output artifact, so the recipe writes
`assets.extra/optimization_report.json` next to the model and this executor
copies the headline numbers (sparsity, parameter counts, teacher/student AUC)
onto the Model artifact's custom properties, where lineage queries, the
report and the run summary find them.
"""
import json
import os

from absl import logging
from tfx import types
from tfx.components.trainer import executor as trainer_executor
from tfx.dsl.io import fileio
from tfx.proto import trainer_pb2
from tfx.types import artifact_utils, standard_component_specs
from tfx.utils import path_utils, proto_utils

TRAIN_STEPS_KEY = "train_steps"
REPORT_PATH = os.path.join("assets.extra", "optimization_report.json")


def record_report(model: types.Artifact) -> dict:
    """Copies the report's scalars (and nested dicts as JSON) onto `model`."""
    path = os.path.join(path_utils.serving_model_path(model.uri), REPORT_PATH)
    if not fileio.exists(path):
        logging.warning("No %s in the trained model; nothing recorded.", path)
        return {}
    with fileio.open(path, "r") as f:
        report = json.load(f)
    for key, value in report.items():
        if isinstance(value, bool):
            model.set_int_custom_property(key, int(value))
        elif isinstance(value, int):
            model.set_int_custom_property(key, value)
        elif isinstance(value, float):
            model.set_float_custom_property(key, value)
        elif isinstance(value, str):
            model.set_string_custom_property(key, value)
        else:
            model.set_json_value_custom_property(key, value)
    return report


def with_train_steps(exec_properties: dict) -> dict:
    """`train_args` with `train_steps` (a Kubeflow runtime parameter) applied.

    A runtime parameter cannot sit inside the TrainArgs proto, so the
    compiled spec carries the step count as its own exec property.
    """
    steps = exec_properties.get(TRAIN_STEPS_KEY)
    if steps is None:
        return exec_properties
    train_args = trainer_pb2.TrainArgs()
    proto_utils.json_to_proto(
        exec_properties.get(standard_component_specs.TRAIN_ARGS_KEY) or "{}",
        train_args)
    train_args.num_steps = int(steps)
    return {**exec_properties, standard_component_specs.TRAIN_ARGS_KEY:
            proto_utils.proto_to_json(train_args)}


class OptimizingTrainerExecutor(trainer_executor.GenericExecutor):
    """Runs `run_fn` exactly as TFX does, then records its report."""

    def Do(self, input_dict, output_dict, exec_properties):
        super().Do(input_dict, output_dict,
                   with_train_steps(exec_properties))
        model = artifact_utils.get_single_instance(
            output_dict[standard_component_specs.MODEL_KEY])
        report = record_report(model)
        logging.info("Recorded optimization report on model %s: %s",
                     model.uri, report)
