"""Quantizer executor on a real linear-output regression model: RMSE budget.

One Do() run with every variant is shared by the module's tests; its RMSE and
MAE are checked against numpy on the outputs of the exported SavedModel and
of each .tflite file, run here by testing.py's own interpreter code.
"""
import os

import numpy as np
import tf_keras as keras

from components.quantizer import executor
from components.quantizer import report
from components.quantizer import tasks
from components.quantizer import testing

_LABEL_KEY = "fare"
_CATEGORY_EFFECT = np.array([-3.0, -1.5, 0.0, 1.0, 2.5, 4.0], np.float32)
# Generous for this model (label std ~3): every variant fits it, so int8 wins.
_BUDGET = 0.5


def _synthetic_split(rng: np.random.Generator, count: int):
    """A smooth, learnable target in the label's own units, with a little noise."""
    features, category = testing.dense_inputs(rng, count)
    numeric = features["num_xf"][:, 0]
    labels = (10.0 + 2.0 * numeric + 0.5 * numeric ** 2 + _CATEGORY_EFFECT[category]
              + rng.normal(scale=0.3, size=count)).astype(np.float32)
    return features, labels


def _rmse(predictions, labels):
    return float(np.sqrt(np.mean((predictions.astype(np.float64) - labels) ** 2)))


class RegressionExecutorTest(testing.TaskCase):
    TASK, LABEL_KEY, OUTPUT, SEED = "regression", _LABEL_KEY, "predictions", 5
    # The parameters a pipeline's Quantizer records, defaults included.
    SHARED_RUN = testing.wired_properties(
        label_key=_LABEL_KEY, task="regression", max_metric_loss=_BUDGET,
        latency_runs=50)
    make_split = staticmethod(_synthetic_split)

    @staticmethod
    def train_model(features, labels):
        return testing.train(testing.mlp(1, "linear"), features, labels[:, None],
                             keras.losses.MeanSquaredError(), epochs=8)

    def test_report_names_the_task_metric_and_budget(self):
        self.assertEqual(
            {"task": "regression", "metric": "rmse", "metric_label": "RMSE",
             "higher_is_better": False, "metric_loss_label": "RMSE increase",
             "secondary_metric": "mae", "secondary_metric_label": "MAE",
             "max_metric_loss": _BUDGET, "output_width": 1},
            {key: self._report[key] for key in (
                "task", "metric", "metric_label", "higher_is_better", "metric_loss_label",
                "secondary_metric", "secondary_metric_label", "max_metric_loss",
                "output_width")})
        self.assertEqual(["float32", "dynamic_range", "float16", "int8"], list(self._rows))
        for row in self._rows.values():
            self.assertEqual(set(report.row_keys(tasks.TASKS["regression"])), set(row))
            self.assertIsNone(row["error"], row["name"])
        self.assertIn("RMSE increase budget", self._report["reason"])

    def test_rmse_and_mae_match_numpy(self):
        serving_dir = os.path.join(self._model.uri, "Format-Serving")
        reference_out = testing.saved_model_outputs(serving_dir, self._eval_features)[:, 0]
        reference = self._report["reference"]
        self.assertAlmostEqual(_rmse(reference_out, self._eval_labels), reference["rmse"],
                               places=6)
        self.assertAlmostEqual(np.mean(np.abs(reference_out - self._eval_labels)),
                               reference["mae"], places=5)
        self.assertLess(reference["rmse"], 0.5 * np.std(self._eval_labels))  # It learned.

        for name, row in self._rows.items():
            predictions = testing.run_tflite(testing.variant_path(self._output, name),
                                             self._eval_features)[:, 0]
            self.assertAlmostEqual(_rmse(predictions, self._eval_labels), row["rmse"],
                                   places=6, msg=name)
            self.assertAlmostEqual(np.mean(np.abs(predictions - self._eval_labels)),
                                   row["mae"], places=5, msg=name)
            # Lower is better: the loss is the variant's RMSE minus the reference's.
            self.assertAlmostEqual(row["rmse"] - reference["rmse"], row["metric_loss"],
                                   places=9, msg=name)
            self.assertAlmostEqual(np.max(np.abs(predictions - reference_out)),
                                   row["max_abs_output_diff"], places=5)
        self.assertEqual("int8", self._report["blessed_variant"])

    def test_budget_that_excludes_int8_blesses_another_variant(self):
        float16, int8 = self._rows["float16"]["metric_loss"], self._rows["int8"]["metric_loss"]
        # int8 rounds the output to 256 levels; float16 keeps ~3 digits.
        self.assertGreater(int8, max(float16, 0.0))
        budget = (max(float16, 0.0) + int8) / 2

        output, result = self._run("tight", variants="float16,int8", max_metric_loss=budget)

        rows = {row["name"]: row for row in result["variants"]}
        self.assertFalse(rows["int8"]["within_budget"])
        self.assertTrue(rows["float16"]["within_budget"])
        self.assertEqual("float16", result["blessed_variant"])
        with open(os.path.join(output.uri, "Format-Serving", executor.TFLITE_FILENAME),
                  "rb") as shipped, open(testing.variant_path(output, "float16"), "rb") as f16:
            self.assertEqual(f16.read(), shipped.read())
        self.assertEqual("rmse", output.get_string_custom_property("metric"))
        self.assertAlmostEqual(rows["float16"]["metric_loss"],
                               output.get_float_custom_property("metric_loss"))

    def test_multiclass_task_on_a_regression_output_is_a_clear_error(self):
        with self.assertRaisesRegex(
                ValueError, r"'predict_transformed' output 'predictions' has shape "
                            r"\[None, 1\]; a multiclass model must output \[batch, K\]"):
            self._run("as_multiclass", task="multiclass", variants="float16")

    def test_regression_without_a_budget_is_rejected(self):
        with self.assertRaisesRegex(ValueError, "regression.*needs max_metric_loss"):
            self._run("no_budget", max_metric_loss=None, variants="float16")

