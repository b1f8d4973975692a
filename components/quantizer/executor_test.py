"""Quantizer executor on a real trained binary tf_keras model and real TFLite.

The fixture model has two dense inputs (a numeric and a one-hot column), is
trained on learnable synthetic data and exported as a Keras SavedModel with a
`predict_transformed` signature, like the project's Trainer does (see
testing.py; the multiclass and regression tests use the same fixtures).
"""
import os
import shutil
import tempfile
import time

import numpy as np
import tensorflow as tf
import tf_keras as keras
from sklearn import metrics as sk_metrics
from tfx.dsl.io import fileio
from tfx.types import standard_artifacts

from components.quantizer import executor
from components.quantizer import report
from components.quantizer import tasks
from components.quantizer import testing

_LABEL_KEY = "big_tipper"
_CATEGORY_EFFECT = np.array([-1.5, -0.8, -0.2, 0.3, 0.9, 1.6], np.float32)
_REPORT_KEYS = {"task", "metric", "metric_label", "higher_is_better", "metric_loss_label",
                "secondary_metric", "secondary_metric_label", "max_metric_loss",
                "signature_key", "label_key", "output_width", "eval_split", "eval_examples",
                "reference", "variants", "blessed_variant", "reason"}
_REFERENCE_KEYS = {"name", "auc", "accuracy", "size_bytes", "latency_ms_p50",
                   "latency_ms_p90"}


def _synthetic_split(rng: np.random.Generator, count: int):
    """Labels follow a logistic model of both inputs, so the task is learnable."""
    features, category = testing.dense_inputs(rng, count)
    logit = 1.5 * features["num_xf"][:, 0] + _CATEGORY_EFFECT[category]
    labels = (rng.random(count) < 1.0 / (1.0 + np.exp(-logit))).astype(np.int64)
    return features, labels


def _timed_loop_rows_per_s(path: str, features, calls: int = 30) -> float:
    """Rows per second from the median time of back-to-back batch invokes."""
    runner, inputs = testing.tflite_runner(path, features)
    runner(**inputs)  # Resize and allocate once.
    seconds = []
    for _ in range(calls):
        start = time.perf_counter()
        runner(**inputs)
        seconds.append(time.perf_counter() - start)
    return len(next(iter(features.values()))) / float(np.median(seconds))


class ExecutorTest(tf.test.TestCase):

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls._root = tempfile.mkdtemp(prefix="quantizer_test_")
        rng = np.random.default_rng(7)
        train_features, train_labels = _synthetic_split(rng, 3000)
        cls._eval_features, cls._eval_labels = _synthetic_split(rng, 1000)
        cls._examples = testing.examples_artifact(
            cls._root, {"train": (train_features, train_labels),
                        "eval": (cls._eval_features, cls._eval_labels)}, _LABEL_KEY)
        model = testing.train(testing.mlp(1, "sigmoid"), train_features,
                              train_labels.astype(np.float32)[:, None],
                              keras.losses.BinaryCrossentropy())
        cls._model = testing.model_artifact(model, os.path.join(cls._root, "model"),
                                            "probabilities")

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls._root, ignore_errors=True)
        super().tearDownClass()

    def _run(self, model=None, **exec_properties):
        """Run Do() like TFX does; returns (output artifact, report dict)."""
        return testing.run_quantizer(
            os.path.join(self.get_temp_dir(), self._testMethodName, "quantized_model"),
            model or self._model, self._examples,
            **{executor.LABEL_KEY_KEY: _LABEL_KEY, **exec_properties})

    def test_blesses_smallest_variant_within_budget(self):
        # The parameters a pipeline's Quantizer records, defaults included.
        output, result = self._run(**testing.wired_properties(label_key=_LABEL_KEY, latency_runs=50))
        serving_dir = os.path.join(output.uri, "Format-Serving")

        self.assertContainsSubset(_REPORT_KEYS, result.keys())
        self.assertContainsSubset(_REFERENCE_KEYS, result["reference"].keys())
        self.assertEqual({"task": "binary", "metric": "auc", "metric_label": "AUC",
                          "metric_loss_label": "AUC drop", "max_metric_loss": 0.01,
                          "output_width": 1},
                         {key: result[key] for key in ("task", "metric", "metric_label",
                                                       "metric_loss_label", "max_metric_loss",
                                                       "output_width")})
        self.assertEqual(1000, result["eval_examples"])
        rows = {row["name"]: row for row in result["variants"]}
        self.assertEqual(["float32", "dynamic_range", "float16", "int8"], list(rows))
        for row in rows.values():
            self.assertEqual(set(report.row_keys(tasks.TASKS["binary"])), set(row))
            self.assertIsNone(row["error"], row["name"])
            self.assertTrue(fileio.exists(testing.variant_path(output, row["name"])))

        anchor_size = rows["float32"]["size_bytes"]
        for name in ("dynamic_range", "float16", "int8"):
            self.assertLess(rows[name]["size_bytes"], anchor_size, name)
        self.assertLessEqual(rows["int8"]["size_bytes"], 0.35 * anchor_size)

        # AUC and accuracy at 0.5, recomputed from each model's own outputs.
        reference_probs = testing.saved_model_outputs(serving_dir, self._eval_features)[:, 0]
        self._assert_scores(result["reference"], reference_probs)
        for name, row in rows.items():
            probs = testing.run_tflite(testing.variant_path(output, name), self._eval_features)
            self._assert_scores(row, probs[:, 0])
            self.assertAlmostEqual(result["reference"]["auc"] - row["auc"], row["metric_loss"],
                                   places=9)
            self.assertAlmostEqual(np.max(np.abs(probs[:, 0] - reference_probs)),
                                   row["max_abs_output_diff"], places=6)

        # Recompute the blessing from the numbers in the report.
        within = [row for name, row in rows.items() if name != "float32"
                  and row["metric_loss"] <= result["max_metric_loss"]]
        self.assertNotEmpty(within)
        expected = min(within, key=lambda row: row["size_bytes"])
        self.assertEqual(expected["name"], result["blessed_variant"])
        self.assertIn(expected["name"], result["reason"])

        # The shipped TFLite model is the blessed variant's file.
        tflite_path = os.path.join(serving_dir, executor.TFLITE_FILENAME)
        with open(tflite_path, "rb") as shipped, \
                open(testing.variant_path(output, expected["name"]), "rb") as variant:
            self.assertEqual(variant.read(), shipped.read())
        self.assertAllClose(reference_probs,
                            testing.run_tflite(tflite_path, self._eval_features)[:, 0],
                            atol=0.05, rtol=0.0)

        self.assertEqual(expected["name"], output.get_string_custom_property("blessed_variant"))
        self.assertEqual(os.path.getsize(tflite_path),
                         output.get_int_custom_property("tflite_size_bytes"))
        self.assertEqual("auc", output.get_string_custom_property("metric"))
        self.assertAlmostEqual(expected["metric_loss"],
                               output.get_float_custom_property("metric_loss"))
        self._assert_throughput_measured(output, rows)

    def _assert_scores(self, row, probabilities):
        self.assertAlmostEqual(sk_metrics.roc_auc_score(self._eval_labels, probabilities),
                               row["auc"], places=9, msg=row["name"])
        self.assertAlmostEqual(np.mean((probabilities >= 0.5) == (self._eval_labels == 1)),
                               row["accuracy"], places=9, msg=row["name"])

    def _assert_throughput_measured(self, output, rows):
        """Batch-256 rows/s is present, self-consistent, really at batch 256,
        and close to what an independent timed loop over the same file gets."""
        features = {name: values[:256] for name, values in self._eval_features.items()}
        for name, row in rows.items():
            self.assertEqual(256, row["throughput_batch_rows"], name)
            self.assertAllClose(256 * 1000.0 / row["throughput_batch_ms_p50"],
                                row["throughput_rows_per_s"], rtol=1e-9)
            # 256 rows cannot take less time than the 1-row call.
            self.assertGreater(row["throughput_batch_ms_p50"], row["latency_ms_p50"], name)
            self.assertAllClose(row["throughput_rows_per_s"] / rows["float32"]["throughput_rows_per_s"],
                                row["throughput_vs_float32"], rtol=1e-9)
            loop_rows_per_s = _timed_loop_rows_per_s(testing.variant_path(output, name), features)
            # Loose: the machine is shared; batch-1 or a unit slip is 10x+ off.
            self.assertBetween(row["throughput_rows_per_s"] / loop_rows_per_s, 0.2, 5.0)

    def test_conversion_failures_are_recorded_not_raised(self):
        # tf.math.erf (exact GELU) has no TFLite builtin kernel, so every
        # variant, the float32 anchor included, fails to convert.
        weights = tf.Variable(tf.random.stateless_normal([1 + testing.CATEGORIES, 1], seed=[1, 2]))

        @tf.function(input_signature=[testing.INPUT_SPECS], autograph=False)
        def predict_transformed(inputs):
            dense = tf.concat([inputs["num_xf"], inputs["cat_xf"]], axis=1)
            return {"probabilities": tf.sigmoid(tf.math.erf(tf.matmul(dense, weights)))}

        untranslatable = tf.Module()
        untranslatable.weights = weights
        model = standard_artifacts.Model()
        model.uri = os.path.join(self.get_temp_dir(), "erf_model")
        tf.saved_model.save(untranslatable, os.path.join(model.uri, "Format-Serving"),
                            signatures={testing.SIGNATURE_KEY: predict_transformed})

        output, result = self._run(model=model, variants="dynamic_range,int8")

        self.assertEqual(["float32", "dynamic_range", "int8"],
                         [row["name"] for row in result["variants"]])
        for row in result["variants"]:
            self.assertEqual(set(report.row_keys(tasks.TASKS["binary"])), set(row))
            self.assertIn("ConverterError", row["error"])
            self.assertIsNone(row["auc"])
            self.assertFalse(row["within_budget"])
        self.assertIsNone(result["blessed_variant"])
        self.assertIn("failed", result["reason"])
        # Nothing blessed: the SavedModel ships alone.
        serving_dir = os.path.join(output.uri, "Format-Serving")
        self.assertFalse(fileio.exists(os.path.join(serving_dir, executor.TFLITE_FILENAME)))
        self.assertTrue(fileio.exists(os.path.join(serving_dir, "saved_model.pb")))
        self.assertEqual("", output.get_string_custom_property("blessed_variant"))
        self.assertEqual(0, output.get_int_custom_property("tflite_size_bytes"))
        self.assertEqual(0.0, output.get_float_custom_property("metric_loss"))

    def test_unknown_variant_rejected_by_do(self):
        # The component rejects it too (component_test); Do() must not rely on that.
        with self.assertRaisesRegex(ValueError, "int4.*allowed: dynamic_range, float16, int8"):
            self._run(variants="int4")

    def test_negative_budget_rejected_by_do(self):
        with self.assertRaisesRegex(ValueError, "max_metric_loss.*>= 0.*AUC drop"):
            self._run(max_metric_loss=-0.01)

    def test_multiclass_task_on_a_binary_output_is_a_clear_error(self):
        with self.assertRaisesRegex(
                ValueError, r"'predict_transformed' output 'probabilities' has shape "
                            r"\[None, 1\]; a multiclass model must output \[batch, K\]"):
            self._run(task="multiclass", variants="float16")
