"""The project's Evaluator executor: TFX's, with a ServedBaseline as baseline.

Real TFMA runs (Beam DirectRunner, in process) on 300 real tf.Examples and
two tiny real SavedModels: ~10 s each.
"""
import json
import os
import random

import pytest
import tensorflow as tf
import tensorflow_model_analysis as tfma
from tfx.types import artifact_utils, standard_artifacts
from tfx.types import standard_component_specs as specs
from tfx.utils import proto_utils

from components.evaluator import BASELINE_VERSION, eval_config, gate_rules
from components.evaluator.executor import Executor, with_run_time_gates
from components.served_baseline import executor as served_baseline


class _Classifier(tf.Module):
    """p = sigmoid(wx * x + wz * z); `z` is noise, so wz > 0 hurts AUC."""

    def __init__(self, wx, wz):
        super().__init__()
        self.wx, self.wz = tf.Variable(wx), tf.Variable(wz)

    @tf.function(input_signature=[
        tf.TensorSpec([None], tf.string, name="examples")])
    def serve(self, examples):
        spec = {name: tf.io.FixedLenFeature([1], tf.float32)
                for name in ("x", "z")}
        parsed = tf.io.parse_example(examples, spec)
        return {"probability": tf.sigmoid(
            parsed["x"] * self.wx + parsed["z"] * self.wz)}


def _save(uri, wx, wz):
    module = _Classifier(wx, wz)
    tf.saved_model.save(module, os.path.join(uri, "Format-Serving"),
                        signatures={"serving_default": module.serve})
    return uri


def _examples(root):
    examples = standard_artifacts.Examples()
    examples.uri = os.path.join(root, "examples")
    examples.split_names = artifact_utils.encode_split_names(["eval"])
    os.makedirs(os.path.join(examples.uri, "Split-eval"))
    rng = random.Random(7)
    path = os.path.join(examples.uri, "Split-eval", "data.tfrecord.gz")
    with tf.io.TFRecordWriter(path, options="GZIP") as writer:
        for _ in range(300):
            x, z = rng.uniform(-1, 1), rng.uniform(-1, 1)
            label = int(x + rng.gauss(0, 0.2) > 0)
            feature = {
                "x": tf.train.Feature(float_list=tf.train.FloatList(value=[x])),
                "z": tf.train.Feature(float_list=tf.train.FloatList(value=[z])),
                "label": tf.train.Feature(
                    int64_list=tf.train.Int64List(value=[label]))}
            writer.write(tf.train.Example(features=tf.train.Features(
                feature=feature)).SerializeToString())
    return examples


# The shape of eval_config.make_eval_config: an absolute floor plus "no worse
# than the baseline" (skipped by TFX when there is no baseline).
EVAL_CONFIG = tfma.EvalConfig(
    model_specs=[tfma.ModelSpec(signature_name="serving_default",
                                label_key="label",
                                prediction_key="probability")],
    slicing_specs=[tfma.SlicingSpec()],
    metrics_specs=[tfma.MetricsSpec(metrics=[
        tfma.MetricConfig(class_name="ExampleCount"),
        tfma.MetricConfig(class_name="AUC", threshold=tfma.MetricThreshold(
            value_threshold=tfma.GenericValueThreshold(
                lower_bound={"value": 0.6}),
            change_threshold=tfma.GenericChangeThreshold(
                direction=tfma.MetricDirection.HIGHER_IS_BETTER,
                absolute={"value": -0.002})))])])


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    root = str(tmp_path_factory.mktemp("evaluator"))
    candidate = standard_artifacts.Model()
    candidate.uri = _save(os.path.join(root, "candidate"), 4.0, 2.0)
    return root, candidate, _examples(root)


def _evaluate(tmp_path, setup, baseline, config=None):
    _, candidate, examples = setup
    evaluation = standard_artifacts.ModelEvaluation()
    evaluation.uri = str(tmp_path / "evaluation")
    blessing = standard_artifacts.ModelBlessing()
    blessing.uri = str(tmp_path / "blessing")
    os.makedirs(blessing.uri)
    Executor().Do(
        {specs.EXAMPLES_KEY: [examples], specs.MODEL_KEY: [candidate],
         specs.BASELINE_MODEL_KEY: [baseline]},
        {specs.EVALUATION_KEY: [evaluation], specs.BLESSING_KEY: [blessing]},
        config or {specs.EVAL_CONFIG_KEY: proto_utils.proto_to_json(EVAL_CONFIG),
                   specs.EXAMPLE_SPLITS_KEY: "null"})
    return blessing, evaluation


def test_nothing_served_evaluates_without_a_baseline(tmp_path, setup):
    # What ServedBaseline outputs when nothing is served: no files at all.
    baseline = standard_artifacts.Model()
    baseline.uri = str(tmp_path / "served_baseline")
    os.makedirs(baseline.uri)
    baseline.set_int_custom_property(served_baseline.SERVED_VERSION, 0)

    blessing, evaluation = _evaluate(tmp_path, setup, baseline)

    assert blessing.get_int_custom_property("blessed") == 1  # floor only
    assert blessing.get_int_custom_property(BASELINE_VERSION) == 0
    assert not blessing.has_custom_property("baseline_model")
    assert tfma.load_validation_result(evaluation.uri).validation_ok


def test_the_served_model_is_the_baseline(tmp_path, setup):
    # Served: the same model without the noise weight, so a better AUC; the
    # candidate passes the floor but regresses against what is served.
    root = setup[0]
    baseline = standard_artifacts.Model()
    baseline.uri = _save(os.path.join(root, "served_7"), 4.0, 0.0)
    baseline.set_int_custom_property(served_baseline.SERVED_VERSION, 7)

    blessing, evaluation = _evaluate(tmp_path, setup, baseline)

    assert blessing.get_int_custom_property("blessed") == 0
    assert blessing.get_int_custom_property(BASELINE_VERSION) == 7
    assert blessing.get_string_custom_property("baseline_model") == (
        baseline.uri)
    result = tfma.load_validation_result(evaluation.uri)
    assert not result.validation_ok
    failed = [failure.metric_threshold for details in
              result.metric_validations_per_slice
              for failure in details.failures]
    assert failed and all(f.HasField("change_threshold") for f in failed)


# Gates given at run time (a Kubeflow runtime parameter): the recipe and the
# gates JSON arrive as strings and the executor builds the EvalConfig.
RECIPE = gate_rules.recipe("binary", "label", "probability",
                            signature_name="serving_default",
                            preprocessing_function_names=())
GATES = {"min_auc": 0.6, "min_accuracy": 0.0, "max_auc_regression": 0.002}


def _run_time(gates):
    return {gate_rules.RECIPE_KEY: json.dumps(RECIPE),
            gate_rules.GATES_KEY: json.dumps(gates),
            specs.EXAMPLE_SPLITS_KEY: "null"}


def test_run_time_gates_build_the_compiled_eval_config():
    built = with_run_time_gates(_run_time(GATES))[specs.EVAL_CONFIG_KEY]
    compiled = eval_config.make_eval_config(RECIPE, GATES)
    assert proto_utils.json_to_proto(built, tfma.EvalConfig()) == compiled
    assert with_run_time_gates({"x": 1}) == {"x": 1}  # local runs: untouched


def test_run_time_gates_decide_the_blessing(tmp_path, setup):
    """The floor from the gates JSON is the one applied: 0.99 fails."""
    baseline = standard_artifacts.Model()
    baseline.uri = str(tmp_path / "served_baseline")
    os.makedirs(baseline.uri)
    baseline.set_int_custom_property(served_baseline.SERVED_VERSION, 0)
    strict = tmp_path / "strict"
    strict.mkdir()
    blessing, _ = _evaluate(strict, setup, baseline,
                            _run_time({**GATES, "min_auc": 0.99}))
    assert blessing.get_int_custom_property("blessed") == 0


def test_bad_run_time_gates_name_the_gate():
    cases = {"not json": "JSON object", json.dumps([1]): "JSON object",
             json.dumps({**GATES, "min_aux": 1}): "'min_aux'.*known: min_auc",
             json.dumps({**GATES, "min_auc": -1}): "gate min_auc must be"}
    missing = dict(GATES)
    del missing["max_auc_regression"]
    cases[json.dumps(missing)] = "gate max_auc_regression must be"
    for text, message in cases.items():
        with pytest.raises(ValueError, match=message):
            with_run_time_gates({**_run_time(GATES), gate_rules.GATES_KEY: text})
