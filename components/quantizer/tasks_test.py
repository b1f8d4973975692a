"""The task table and the reader helpers, without TensorFlow."""
import subprocess
import sys
import unittest

from components.quantizer import tasks

# A binary report as the Quantizer wrote it before tasks existed.
_LEGACY = {
    "max_auc_drop": 0.01, "eval_examples": 10, "reference": {"auc": 0.95},
    "blessed_variant": "int8", "reason": "int8 is the smallest.",
    "variants": [{"name": "int8", "auc": 0.948, "accuracy": 0.9, "auc_drop": 0.002,
                  "max_abs_prob_diff": 0.01, "within_budget": True, "error": None}],
}


class TasksTest(unittest.TestCase):

    def test_metric_loss_follows_the_metric_direction(self):
        self.assertAlmostEqual(0.02, tasks.metric_loss(tasks.TASKS["binary"], 0.90, 0.88))
        self.assertAlmostEqual(0.02, tasks.metric_loss(tasks.TASKS["multiclass"], 0.90, 0.88))
        self.assertAlmostEqual(0.5, tasks.metric_loss(tasks.TASKS["regression"], 2.0, 2.5))

    def test_output_width_per_task(self):
        self.assertEqual(1, tasks.output_width(tasks.TASKS["binary"], [None, 1], "s", "p"))
        self.assertEqual(4, tasks.output_width(tasks.TASKS["multiclass"], [None, 4], "s", "p"))
        for task, shape in (("binary", [None, 2]), ("binary", [None]),
                            ("multiclass", [None, 1]), ("regression", [None, 3])):
            with self.subTest(task=task, shape=shape):
                with self.assertRaisesRegex(ValueError, rf"'s' output 'p' has shape .*{task}"):
                    tasks.output_width(tasks.TASKS[task], shape, "s", "p")

    def test_legacy_binary_report_reads_with_current_keys(self):
        report = tasks.readable(_LEGACY)
        self.assertEqual(("binary", "auc", "AUC", "AUC drop", 0.01),
                         (report["task"], report["metric"], report["metric_label"],
                          report["metric_loss_label"], report["max_metric_loss"]))
        (row,) = report["variants"]
        self.assertEqual((0.002, 0.01), (row["metric_loss"], row["max_abs_output_diff"]))
        self.assertAlmostEqual(-0.002, tasks.change(report, row))
        self.assertAlmostEqual(0.94, tasks.budget_bound(report))
        self.assertNotIn("task", _LEGACY)  # The input is left alone.

    def test_budget_bound_is_above_the_reference_for_rmse(self):
        report = {"task": "regression", "metric": "rmse", "higher_is_better": False,
                  "max_metric_loss": 0.25, "reference": {"rmse": 2.0}}
        self.assertIs(report, tasks.readable(report))  # Current reports pass as they are.
        self.assertAlmostEqual(2.25, tasks.budget_bound(report))
        self.assertAlmostEqual(0.1, tasks.change(report, {"rmse": 2.1}))

    def test_readers_import_it_without_tensorflow(self):
        code = ("import sys; import components.quantizer.tasks; "
                "sys.exit('tensorflow' in sys.modules or 'tfx' in sys.modules)")
        self.assertEqual(0, subprocess.run([sys.executable, "-c", code], check=False).returncode)
