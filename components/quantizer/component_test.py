"""Quantizer construction: channels, parameters and argument validation."""
import tensorflow as tf
from tfx import types
from tfx.types import standard_artifacts

from components.quantizer import Quantizer
from components.quantizer import executor


class ComponentTest(tf.test.TestCase):

    def setUp(self):
        super().setUp()
        self._model = types.Channel(type=standard_artifacts.Model)
        self._examples = types.Channel(type=standard_artifacts.Examples)

    def _quantizer(self, **arguments):
        return Quantizer(model=self._model, examples=self._examples,
                         **{"label_key": "big_tipper", **arguments})

    def test_construct_wires_channels_and_label(self):
        # Whether the recorded defaults run is executor_test's job (it runs Do()
        # on a constructed Quantizer's exec_properties), not a dict comparison.
        quantizer = self._quantizer(label_key="tip_label")

        self.assertEqual(standard_artifacts.Model.TYPE_NAME,
                         quantizer.outputs[executor.QUANTIZED_MODEL_KEY].type_name)
        self.assertIs(self._model, quantizer.inputs[executor.MODEL_KEY])
        self.assertIs(self._examples, quantizer.inputs[executor.EXAMPLES_KEY])
        self.assertEqual("tip_label", quantizer.exec_properties[executor.LABEL_KEY_KEY])
        self.assertIs(executor.Executor, quantizer.executor_spec.executor_class)

    def test_label_key_is_required(self):
        with self.assertRaises(TypeError):
            Quantizer(model=self._model, examples=self._examples)  # pylint: disable=missing-kwoa

    def test_construct_with_parameters(self):
        quantizer = self._quantizer(signature_key="serving_dense", variants="int8",
                                    task="regression", max_metric_loss=2, latency_runs=20)

        self.assertEqual("serving_dense", quantizer.exec_properties["signature_key"])
        self.assertEqual("int8", quantizer.exec_properties["variants"])
        self.assertEqual("regression", quantizer.exec_properties["task"])
        self.assertIsInstance(quantizer.exec_properties["max_metric_loss"], float)
        self.assertEqual(2.0, quantizer.exec_properties["max_metric_loss"])
        self.assertEqual(20, quantizer.exec_properties["latency_runs"])

    def test_budget_defaults_per_task(self):
        self.assertEqual("binary", self._quantizer().exec_properties["task"])
        for task in ("binary", "multiclass"):
            self.assertEqual(0.01, self._quantizer(task=task).exec_properties["max_metric_loss"])
        # A zero budget is a real choice (only lossless variants ship), not "unset".
        self.assertEqual(0.0, self._quantizer(max_metric_loss=0).exec_properties["max_metric_loss"])

    def test_budget_may_be_a_float_runtime_parameter(self):
        from tfx.orchestration import data_types
        budget = data_types.RuntimeParameter(name="quantization_budget", ptype=float)
        quantizer = self._quantizer(task="regression", max_metric_loss=budget)
        self.assertIs(budget, quantizer.exec_properties["max_metric_loss"])
        with self.assertRaisesRegex(TypeError, "must be a float"):
            self._quantizer(max_metric_loss=data_types.RuntimeParameter(
                name="quantization_budget", ptype=str))

    def test_rejects_bad_parameters(self):
        bad_arguments = [
            ({"task": "ranking"}, "task='ranking'.*binary, multiclass, regression"),
            ({"task": ""}, "task=''"),
            ({"max_metric_loss": -0.001}, ">= 0"),
            ({"max_metric_loss": float("nan")}, "finite"),
            ({"max_metric_loss": float("inf")}, "finite"),
            ({"task": "regression"}, "regression.*needs max_metric_loss"),
            ({"variants": "int8,int4"}, "int4"),
            ({"variants": "float32"}, "float32"),
            ({"variants": " , "}, "unknown or empty"),
            ({"max_eval_examples": 0}, "max_eval_examples"),
            ({"latency_runs": -1}, "latency_runs"),
            ({"eval_split": ""}, "eval_split"),
            ({"label_key": ""}, "label_key"),
        ]
        for arguments, message in bad_arguments:
            with self.subTest(**{k: str(v) for k, v in arguments.items()}):
                with self.assertRaisesRegex(ValueError, message):
                    self._quantizer(**arguments)

    def test_rejects_wrong_channel_type(self):
        with self.assertRaises(TypeError):
            Quantizer(model=self._examples, examples=self._examples, label_key="big_tipper")
