"""OptimizingTrainerExecutor end to end: the real TFX Trainer executor runs
the real `run_fn` on real Transform output, and the report `run_fn` writes
lands on the Model artifact.

The Transform output is the shared session fixture of tests/fixtures.py
(registered for every directory by the root conftest.py).
"""
import json
import os

import numpy as np
import pytest
import tensorflow as tf
import tensorflow_transform as tft
import tf_keras as keras
from tfx.proto import trainer_pb2
from tfx.types import artifact_utils, standard_artifacts
from tfx.types import standard_component_specs as specs
from tfx.utils import proto_utils

from components.trainer.executor import (OptimizingTrainerExecutor,
                                         record_report)
from modules.taxi import features
from modules.model import PROBABILITY_OUTPUT, build_model, input_widths
from pipeline.configs import taxi_config
from tests.helpers import taxi_trainer_config

HIDDEN_UNITS = (8,)


def _write_split(directory, rows):
    os.makedirs(directory)
    with tf.io.TFRecordWriter(os.path.join(directory, "data.gz"),
                              "GZIP") as writer:
        for row in rows:
            feature = {name: tf.train.Feature(float_list=tf.train.FloatList(
                value=np.asarray(row[name], np.float32).reshape(-1)))
                for name in features.transformed_input_widths()}
            feature[features.LABEL_KEY] = tf.train.Feature(
                int64_list=tf.train.Int64List(
                    value=np.asarray(row[features.LABEL_KEY]).reshape(-1)))
            writer.write(tf.train.Example(features=tf.train.Features(
                feature=feature)).SerializeToString())


@pytest.fixture(scope="module")
def trained(transformed, tmp_path_factory):
    """One real Trainer execution, mixed precision on (bfloat16 on CPU), as
    Transform's transformed examples and graph would feed it."""
    transform_dir, rows, _ = transformed
    root = tmp_path_factory.mktemp("trainer")
    examples = standard_artifacts.Examples()
    examples.uri = str(root / "transformed_examples")
    examples.split_names = artifact_utils.encode_split_names(["train", "eval"])
    _write_split(os.path.join(examples.uri, "Split-train"), rows[:480])
    _write_split(os.path.join(examples.uri, "Split-eval"), rows[480:])
    graph = standard_artifacts.TransformGraph()
    graph.uri = transform_dir
    model = standard_artifacts.Model()
    model.uri = str(root / "model")
    model_run = standard_artifacts.ModelRun()
    model_run.uri = str(root / "model_run")

    keras.mixed_precision.set_global_policy("float32")
    OptimizingTrainerExecutor().Do(
        {specs.EXAMPLES_KEY: [examples], specs.TRANSFORM_GRAPH_KEY: [graph]},
        {specs.MODEL_KEY: [model], specs.MODEL_RUN_KEY: [model_run]},
        {specs.RUN_FN_KEY: "modules.trainer.run_fn",
         specs.TRAIN_ARGS_KEY: proto_utils.proto_to_json(
             trainer_pb2.TrainArgs(num_steps=4)),
         specs.EVAL_ARGS_KEY: proto_utils.proto_to_json(
             trainer_pb2.EvalArgs(num_steps=1)),
         # The taxi project's task, label and serving contract, as
         # create_pipeline passes them (PipelineConfig.trainer_config()).
         specs.CUSTOM_CONFIG_KEY: json.dumps({
             **taxi_config(str(root / "pipeline"),
                           str(root / "serving")).trainer_config(),
             "hidden_units": list(HIDDEN_UNITS), "train_batch_size": 32,
             "eval_batch_size": 64, "mixed_precision": True})})
    policy_after = keras.mixed_precision.global_policy().name
    return model, policy_after, rows, transform_dir


def test_run_fn_report_is_recorded_on_the_model_artifact(trained):
    model, _, _, transform_dir = trained
    serving = os.path.join(model.uri, "Format-Serving")
    with open(os.path.join(serving, "assets.extra",
                           "optimization_report.json")) as f:
        written = json.load(f)
    widths = input_widths(tft.TFTransformOutput(transform_dir),
                          features.LABEL_KEY)
    expected_params = build_model(taxi_trainer_config(
        input_widths=widths, hidden_units=HIDDEN_UNITS)).count_params()
    assert written["params"] == expected_params
    assert written["precision"] == "mixed_bfloat16"
    assert written["task"] == "binary"
    # Every key of the file is on the artifact, with its JSON type mapped.
    assert model.get_string_custom_property("optimization") == "none"
    assert model.get_string_custom_property("task") == "binary"
    assert model.get_int_custom_property("params") == expected_params
    assert model.get_int_custom_property("replicas") == 1
    assert model.get_int_custom_property("xla") == 0  # bool -> int
    assert model.get_string_custom_property("precision") == "mixed_bfloat16"
    assert model.get_string_custom_property("strategy") == written["strategy"]
    assert set(model.mlmd_artifact.custom_properties) == set(written)


def test_trained_model_serves_and_the_policy_is_restored(trained):
    model, policy_after, rows, _ = trained
    # run_fn sets a process-global mixed policy; later components in the
    # same process (Evaluator, Quantizer) must get float32 back.
    assert policy_after == "float32"
    loaded = tf.saved_model.load(os.path.join(model.uri, "Format-Serving"))
    columns = {name: tf.constant(np.stack([row[name] for row in rows[:20]]),
                                 tf.float32)
               for name in features.transformed_input_widths()}
    served = loaded.signatures["predict_transformed"](**columns)[
        PROBABILITY_OUTPUT]
    assert served.dtype == tf.float32 and served.shape == (20, 1)
    assert float(tf.math.reduce_std(served)) > 0  # depends on the rows


def test_scalars_and_nested_values_become_custom_properties(tmp_path):
    """The type mapping for values run_fn's recipes produce (nested dicts
    from pruning, floats, bools)."""
    report = {"optimization": "prune", "params": 158_000, "sparsity": 0.8,
              "xla": False,
              "sparsity_per_layer": {"dense_0": 0.8, "dense_1": 0.79}}
    model = standard_artifacts.Model()
    model.uri = str(tmp_path / "model")
    extra = os.path.join(model.uri, "Format-Serving", "assets.extra")
    os.makedirs(extra)
    with open(os.path.join(extra, "optimization_report.json"), "w") as f:
        json.dump(report, f)
    assert record_report(model) == report
    assert model.get_string_custom_property("optimization") == "prune"
    assert model.get_int_custom_property("params") == 158_000
    assert model.get_float_custom_property("sparsity") == 0.8
    assert model.get_int_custom_property("xla") == 0
    assert model.get_json_value_custom_property("sparsity_per_layer") == {
        "dense_0": 0.8, "dense_1": 0.79}


def test_a_model_without_report_records_nothing(tmp_path):
    model = standard_artifacts.Model()
    model.uri = str(tmp_path / "bare")
    os.makedirs(os.path.join(model.uri, "Format-Serving"))
    assert record_report(model) == {}
    assert not model.mlmd_artifact.custom_properties
