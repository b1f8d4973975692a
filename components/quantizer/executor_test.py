"""Quantizer executor on a real trained tf_keras model and real TFLite.

The fixture model has two dense inputs (a numeric and a one-hot column), is
trained on learnable synthetic data and exported as a Keras SavedModel with a
`predict_transformed` signature, like the project's Trainer does.
"""
import json
import os
import shutil
import tempfile

import numpy as np
import tensorflow as tf
import tf_keras as keras
from tfx import types
from tfx.dsl.io import fileio
from tfx.types import artifact_utils
from tfx.types import standard_artifacts

from components.quantizer import Quantizer
from components.quantizer import executor
from components.quantizer import report

_SIGNATURE_KEY = "predict_transformed"
_LABEL_KEY = "big_tipper"
_CATEGORIES = 6
_CATEGORY_EFFECT = np.array([-1.5, -0.8, -0.2, 0.3, 0.9, 1.6], np.float32)
_INPUT_SPECS = {
    "num_xf": tf.TensorSpec([None, 1], tf.float32, name="num_xf"),
    "cat_xf": tf.TensorSpec([None, _CATEGORIES], tf.float32, name="cat_xf"),
}
_REPORT_KEYS = {"signature_key", "max_auc_drop", "eval_examples", "reference",
                "variants", "blessed_variant", "reason"}
_REFERENCE_KEYS = {"name", "auc", "accuracy", "size_bytes", "latency_ms_p50",
                   "latency_ms_p90"}


def _synthetic_split(rng: np.random.Generator, count: int):
    """Labels follow a logistic model of both inputs, so the task is learnable."""
    numeric = rng.normal(size=(count, 1)).astype(np.float32)
    category = rng.integers(0, _CATEGORIES, size=count)
    one_hot = np.eye(_CATEGORIES, dtype=np.float32)[category]
    logit = 1.5 * numeric[:, 0] + _CATEGORY_EFFECT[category]
    labels = (rng.random(count) < 1.0 / (1.0 + np.exp(-logit))).astype(np.int64)
    return {"num_xf": numeric, "cat_xf": one_hot}, labels


def _write_split(directory: str, features, labels) -> None:
    """Transformed examples as Transform writes them: gzipped tf.Example TFRecords."""
    fileio.makedirs(directory)
    path = os.path.join(directory, "transformed_examples-00000-of-00001.gz")
    with tf.io.TFRecordWriter(path, options="GZIP") as writer:
        for index, label in enumerate(labels):
            feature = {name: tf.train.Feature(float_list=tf.train.FloatList(value=values[index]))
                       for name, values in features.items()}
            feature[_LABEL_KEY] = tf.train.Feature(int64_list=tf.train.Int64List(value=[label]))
            writer.write(tf.train.Example(
                features=tf.train.Features(feature=feature)).SerializeToString())


def _train_model(features, labels) -> keras.Model:
    """A 68k-parameter MLP, so weights (not flatbuffer overhead) dominate its size."""
    inputs = {name: keras.Input(shape=(spec.shape[1],), name=name)
              for name, spec in _INPUT_SPECS.items()}
    hidden = keras.layers.Concatenate()([inputs["num_xf"], inputs["cat_xf"]])
    hidden = keras.layers.Dense(256, activation="relu")(hidden)
    hidden = keras.layers.Dense(256, activation="relu")(hidden)
    model = keras.Model(inputs, keras.layers.Dense(1, activation="sigmoid")(hidden))
    optimizer = keras.optimizers.Adam(1e-3)
    loss_fn = keras.losses.BinaryCrossentropy()

    # autograph=False: tracing Keras internals through autograph costs tens of
    # seconds on a busy CPU; this plain step traces in well under one.
    @tf.function(autograph=False, reduce_retracing=True)
    def train_step(batch, batch_labels):
        with tf.GradientTape() as tape:
            loss = loss_fn(batch_labels, model(batch, training=True))
        gradients = tape.gradient(loss, model.trainable_variables)
        optimizer.apply_gradients(zip(gradients, model.trainable_variables))

    targets = labels.astype(np.float32)[:, None]
    for _ in range(4):
        for start in range(0, len(labels), 128):
            train_step({name: values[start:start + 128] for name, values in features.items()},
                       targets[start:start + 128])
    return model


def _export(model: keras.Model, serving_dir: str) -> None:
    @tf.function(input_signature=[_INPUT_SPECS], autograph=False)
    def predict_transformed(inputs):
        return {"probabilities": model(inputs, training=False)}

    # save_traces=False skips re-tracing every Keras layer (~20 s); the
    # exported signature is unaffected.
    model.save(serving_dir, save_format="tf", save_traces=False,
               signatures={_SIGNATURE_KEY: predict_transformed})


def _run_tflite(path: str, features) -> np.ndarray:
    """Independent of score.py: (de)quantize with each tensor's (scale, zero_point)."""
    with open(path, "rb") as model_file:
        interpreter = tf.lite.Interpreter(model_content=model_file.read())
    runner = interpreter.get_signature_runner(_SIGNATURE_KEY)
    inputs = {}
    for name, detail in runner.get_input_details().items():
        values = features[name]
        if detail["dtype"] == np.int8:
            scale, zero_point = detail["quantization"]
            values = np.clip(np.round(values / scale + zero_point), -128, 127).astype(np.int8)
        inputs[name] = values
    (output,) = runner(**inputs).values()
    (detail,) = runner.get_output_details().values()
    if detail["dtype"] == np.int8:
        scale, zero_point = detail["quantization"]
        output = (output.astype(np.float32) - zero_point) * scale
    return output.reshape(-1)


class ExecutorTest(tf.test.TestCase):

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls._root = tempfile.mkdtemp(prefix="quantizer_test_")
        rng = np.random.default_rng(7)
        train_features, train_labels = _synthetic_split(rng, 3000)
        cls._eval_features, cls._eval_labels = _synthetic_split(rng, 1000)
        examples_dir = os.path.join(cls._root, "examples")
        _write_split(os.path.join(examples_dir, "Split-train"), train_features, train_labels)
        _write_split(os.path.join(examples_dir, "Split-eval"),
                     cls._eval_features, cls._eval_labels)
        cls._examples = standard_artifacts.Examples()
        cls._examples.uri = examples_dir
        cls._examples.split_names = artifact_utils.encode_split_names(["train", "eval"])

        cls._model = standard_artifacts.Model()
        cls._model.uri = os.path.join(cls._root, "model")
        _export(_train_model(train_features, train_labels),
                os.path.join(cls._model.uri, "Format-Serving"))

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls._root, ignore_errors=True)
        super().tearDownClass()

    def _run(self, model=None, **exec_properties):
        """Run Do() like TFX does; returns (output artifact, report dict)."""
        output = standard_artifacts.Model()
        output.uri = os.path.join(self.get_temp_dir(), self._testMethodName, "quantized_model")
        fileio.makedirs(output.uri)
        executor.Executor().Do(
            {executor.MODEL_KEY: [model or self._model], executor.EXAMPLES_KEY: [self._examples]},
            {executor.QUANTIZED_MODEL_KEY: [output]},
            {executor.LATENCY_RUNS_KEY: 50, **exec_properties},
        )
        report_path = os.path.join(output.uri, "Format-Serving", executor.REPORT_FILENAME)
        with open(report_path) as report_file:
            return output, json.load(report_file)

    def test_blesses_smallest_variant_within_budget(self):
        # 200 calibration examples (the default) miss the tails of num_xf, so
        # int8 clips a few eval inputs (max |dp| ~0.07 here); 1000 cover them.
        output, result = self._run(calibration_examples=1000)
        serving_dir = os.path.join(output.uri, "Format-Serving")

        self.assertContainsSubset(_REPORT_KEYS, result.keys())
        self.assertContainsSubset(_REFERENCE_KEYS, result["reference"].keys())
        self.assertEqual(1000, result["eval_examples"])
        rows = {row["name"]: row for row in result["variants"]}
        self.assertEqual(["float32", "dynamic_range", "float16", "int8"], list(rows))
        for row in rows.values():
            self.assertEqual(set(report.ROW_KEYS), set(row))
            self.assertIsNone(row["error"], row["name"])
            self.assertTrue(fileio.exists(
                os.path.join(output.uri, "variants", row["name"] + ".tflite")))

        anchor_size = rows["float32"]["size_bytes"]
        for name in ("dynamic_range", "float16", "int8"):
            self.assertLess(rows[name]["size_bytes"], anchor_size, name)
        self.assertLessEqual(rows["int8"]["size_bytes"], 0.35 * anchor_size)

        # Recompute the blessing from the numbers in the report.
        reference_auc = result["reference"]["auc"]
        within = [row for name, row in rows.items() if name != "float32"
                  and reference_auc - row["auc"] <= result["max_auc_drop"]]
        self.assertNotEmpty(within)
        expected = min(within, key=lambda row: row["size_bytes"])
        self.assertEqual(expected["name"], result["blessed_variant"])
        self.assertIn(expected["name"], result["reason"])

        # The shipped TFLite model agrees with the shipped SavedModel copy.
        tflite_path = os.path.join(serving_dir, executor.TFLITE_FILENAME)
        self.assertTrue(fileio.exists(tflite_path))
        saved_model = tf.saved_model.load(serving_dir)
        reference = saved_model.signatures[_SIGNATURE_KEY](
            **{name: tf.constant(values) for name, values in self._eval_features.items()})
        reference_probs = reference["probabilities"].numpy().reshape(-1)
        tflite_probs = _run_tflite(tflite_path, self._eval_features)
        self.assertAllClose(reference_probs, tflite_probs, atol=0.05, rtol=0.0)

        self.assertEqual(expected["name"], output.get_string_custom_property("blessed_variant"))
        self.assertEqual(os.path.getsize(tflite_path),
                         output.get_int_custom_property("tflite_size_bytes"))
        self.assertAlmostEqual(expected["auc_drop"], output.get_float_custom_property("auc_drop"))

    def test_impossible_budget_ships_saved_model_only(self):
        output, result = self._run(max_auc_drop=-1.0, variants="dynamic_range,int8")
        serving_dir = os.path.join(output.uri, "Format-Serving")

        self.assertIsNone(result["blessed_variant"])
        self.assertIn("budget", result["reason"])
        self.assertIn("-1.0000", result["reason"])
        self.assertFalse(fileio.exists(os.path.join(serving_dir, executor.TFLITE_FILENAME)))
        self.assertTrue(fileio.exists(os.path.join(serving_dir, "saved_model.pb")))
        self.assertFalse(any(row["within_budget"] for row in result["variants"]))
        self.assertEqual("", output.get_string_custom_property("blessed_variant"))
        self.assertEqual(0, output.get_int_custom_property("tflite_size_bytes"))

    def test_conversion_failures_are_recorded_not_raised(self):
        # tf.math.erf (exact GELU) has no TFLite builtin kernel, so every
        # variant, the float32 anchor included, fails to convert.
        weights = tf.Variable(tf.random.stateless_normal([1 + _CATEGORIES, 1], seed=[1, 2]))

        @tf.function(input_signature=[_INPUT_SPECS], autograph=False)
        def predict_transformed(inputs):
            dense = tf.concat([inputs["num_xf"], inputs["cat_xf"]], axis=1)
            return {"probabilities": tf.sigmoid(tf.math.erf(tf.matmul(dense, weights)))}

        untranslatable = tf.Module()
        untranslatable.weights = weights
        model = standard_artifacts.Model()
        model.uri = os.path.join(self.get_temp_dir(), "erf_model")
        tf.saved_model.save(untranslatable, os.path.join(model.uri, "Format-Serving"),
                            signatures={_SIGNATURE_KEY: predict_transformed})

        output, result = self._run(model=model, variants="dynamic_range,int8")

        self.assertEqual(["float32", "dynamic_range", "int8"],
                         [row["name"] for row in result["variants"]])
        for row in result["variants"]:
            self.assertIn("ConverterError", row["error"])
            self.assertIsNone(row["auc"])
            self.assertFalse(row["within_budget"])
        self.assertIsNone(result["blessed_variant"])
        self.assertIn("failed", result["reason"])
        serving_dir = os.path.join(output.uri, "Format-Serving")
        self.assertFalse(fileio.exists(os.path.join(serving_dir, executor.TFLITE_FILENAME)))
        self.assertTrue(fileio.exists(os.path.join(serving_dir, "saved_model.pb")))

    def test_unknown_variant_rejected(self):
        with self.assertRaisesRegex(ValueError, "allowed: dynamic_range, float16, int8"):
            Quantizer(model=types.Channel(type=standard_artifacts.Model),
                      examples=types.Channel(type=standard_artifacts.Examples),
                      variants="int8,int4")
        with self.assertRaisesRegex(ValueError, "int4"):
            self._run(variants="int4")
