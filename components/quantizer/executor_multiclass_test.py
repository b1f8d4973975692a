"""Quantizer executor on a real 3-class softmax model: macro AUC and accuracy.

One Do() run with every variant is shared by the module's tests; its numbers
are checked against sklearn/numpy on the outputs of the exported SavedModel
and of each .tflite file, run here by testing.py's own interpreter code.
"""
import os

import numpy as np
import tf_keras as keras
from sklearn import metrics as sk_metrics

from components.quantizer import report
from components.quantizer import tasks
from components.quantizer import testing

_LABEL_KEY = "species"
_CLASSES = 3
# Class logits: the numeric column separates class 0 from 2, the category
# pushes towards one class each, so all three are learnable but overlap.
_NUMERIC_WEIGHT = np.array([-2.0, 0.0, 2.0], np.float32)
_CATEGORY_LOGITS = np.array([[1.2, 0, 0], [0, 1.2, 0], [0, 0, 1.2],
                             [0.6, 0.6, 0], [0, 0.6, 0.6], [0.6, 0, 0.6]], np.float32)


def _synthetic_split(rng: np.random.Generator, count: int):
    features, category = testing.dense_inputs(rng, count)
    logits = features["num_xf"] * _NUMERIC_WEIGHT + _CATEGORY_LOGITS[category]
    probabilities = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    labels = np.array([rng.choice(_CLASSES, p=p) for p in probabilities], np.int64)
    return features, labels


class MulticlassExecutorTest(testing.TaskCase):
    TASK, LABEL_KEY, OUTPUT, SEED = "multiclass", _LABEL_KEY, "probabilities", 11
    make_split = staticmethod(_synthetic_split)

    @staticmethod
    def train_model(features, labels):
        return testing.train(testing.mlp(_CLASSES, "softmax"), features, labels,
                             keras.losses.SparseCategoricalCrossentropy())

    def _assert_scores(self, row, probabilities):
        """Macro one-vs-rest AUC over the 3 classes and argmax accuracy."""
        per_class = [sk_metrics.roc_auc_score(self._eval_labels == k, probabilities[:, k])
                     for k in range(_CLASSES)]
        self.assertAlmostEqual(np.mean(per_class), row["macro_auc"], places=9, msg=row["name"])
        self.assertAlmostEqual(np.mean(np.argmax(probabilities, axis=1) == self._eval_labels),
                               row["accuracy"], places=9, msg=row["name"])

    def test_report_names_the_task_metric_and_budget(self):
        self.assertEqual(
            {"task": "multiclass", "metric": "macro_auc", "metric_label": "macro AUC",
             "higher_is_better": True, "metric_loss_label": "macro AUC drop",
             "secondary_metric": "accuracy", "max_metric_loss": 0.01, "output_width": 3},
            {key: self._report[key] for key in (
                "task", "metric", "metric_label", "higher_is_better", "metric_loss_label",
                "secondary_metric", "max_metric_loss", "output_width")})
        self.assertEqual(["float32", "dynamic_range", "float16", "int8"], list(self._rows))
        for row in self._rows.values():
            self.assertEqual(set(report.row_keys(tasks.TASKS["multiclass"])), set(row))
            self.assertIsNone(row["error"], row["name"])
        self.assertIn("macro AUC", self._report["reason"])

    def test_macro_auc_and_accuracy_match_sklearn(self):
        serving_dir = os.path.join(self._model.uri, "Format-Serving")
        reference_probs = testing.saved_model_outputs(serving_dir, self._eval_features)
        self.assertEqual((1000, _CLASSES), reference_probs.shape)
        reference = self._report["reference"]
        # The float model's rows sum to 1, so sklearn's own multiclass path applies.
        self.assertAlmostEqual(
            sk_metrics.roc_auc_score(self._eval_labels, reference_probs, multi_class="ovr",
                                     average="macro", labels=range(_CLASSES)),
            reference["macro_auc"], places=6)
        self._assert_scores(reference, reference_probs)
        self.assertGreater(reference["macro_auc"], 0.7)  # The model learned something.

        for name, row in self._rows.items():
            probs = testing.run_tflite(testing.variant_path(self._output, name),
                                       self._eval_features)
            self.assertEqual((1000, _CLASSES), probs.shape, name)
            self._assert_scores(row, probs)
            self.assertAlmostEqual(reference["macro_auc"] - row["macro_auc"],
                                   row["metric_loss"], places=9)
            self.assertEqual(row["metric_loss"] <= 0.01, row["within_budget"], name)
            self.assertAlmostEqual(np.max(np.abs(probs - reference_probs)),
                                   row["max_abs_output_diff"], places=6)

    def test_blesses_the_smallest_variant_within_the_macro_auc_budget(self):
        within = [row for name, row in self._rows.items()
                  if name != "float32" and row["metric_loss"] <= 0.01]
        self.assertNotEmpty(within)
        self.assertEqual(min(within, key=lambda row: row["size_bytes"])["name"],
                         self._report["blessed_variant"])

    def test_binary_task_on_a_softmax_output_is_a_clear_error(self):
        with self.assertRaisesRegex(
                ValueError, r"'predict_transformed' output 'probabilities' has shape "
                            r"\[None, 3\]; a binary model must output \[batch, 1\]"):
            self._run("as_binary", task="binary", variants="float16")
