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

    def test_construct_with_defaults(self):
        quantizer = Quantizer(model=self._model, examples=self._examples)

        self.assertEqual(standard_artifacts.Model.TYPE_NAME,
                         quantizer.outputs[executor.QUANTIZED_MODEL_KEY].type_name)
        self.assertIs(self._model, quantizer.inputs[executor.MODEL_KEY])
        self.assertIs(self._examples, quantizer.inputs[executor.EXAMPLES_KEY])
        self.assertEqual(executor.DEFAULT_PARAMETERS, quantizer.exec_properties)
        self.assertIs(executor.Executor, quantizer.executor_spec.executor_class)

    def test_construct_with_parameters(self):
        quantizer = Quantizer(model=self._model, examples=self._examples,
                              signature_key="serving_dense", variants="int8",
                              max_auc_drop=0, latency_runs=20)

        self.assertEqual("serving_dense", quantizer.exec_properties["signature_key"])
        self.assertEqual("int8", quantizer.exec_properties["variants"])
        self.assertIsInstance(quantizer.exec_properties["max_auc_drop"], float)
        self.assertEqual(20, quantizer.exec_properties["latency_runs"])

    def test_rejects_bad_parameters(self):
        bad_arguments = [
            {"variants": "int8,int4"},
            {"variants": "float32"},
            {"variants": " , "},
            {"max_auc_drop": float("nan")},
            {"max_eval_examples": 0},
            {"latency_runs": -1},
            {"eval_split": ""},
        ]
        for arguments in bad_arguments:
            with self.subTest(**{k: str(v) for k, v in arguments.items()}):
                with self.assertRaises(ValueError):
                    Quantizer(model=self._model, examples=self._examples, **arguments)

    def test_rejects_wrong_channel_type(self):
        with self.assertRaises(TypeError):
            Quantizer(model=self._examples, examples=self._examples)
