"""Blessing rule and report text on hand-made rows (edge cases the real models never hit)."""
import tensorflow as tf

from components.quantizer import report
from components.quantizer import tasks

_BINARY = tasks.TASKS["binary"]
_REGRESSION = tasks.TASKS["regression"]
_LATENCY = {"latency_ms_p50": 1.0, "latency_ms_p90": 2.0}


def _throughput(rows_per_s):
    return {"throughput_batch_rows": 256, "throughput_batch_ms_p50": 256e3 / rows_per_s,
            "throughput_rows_per_s": rows_per_s}


def _row(name, size_bytes, auc, reference_auc=0.80, max_auc_drop=0.01, rows_per_s=1000.0):
    return report.scored_row(_BINARY, name, size_bytes, {"auc": auc, "accuracy": 0.7}, 0.01,
                             _LATENCY, _throughput(rows_per_s),
                             {"auc": reference_auc, "accuracy": 0.7}, max_auc_drop)


def _rmse_row(name, size_bytes, rmse, reference_rmse=2.0, budget=0.1):
    return report.scored_row(_REGRESSION, name, size_bytes, {"rmse": rmse, "mae": 1.0}, 0.5,
                             _LATENCY, _throughput(1000.0),
                             {"rmse": reference_rmse, "mae": 1.0}, budget)


class ReportTest(tf.test.TestCase):

    def test_float32_anchor_is_never_blessed(self):
        rows = [_row("float32", 100, 0.80), _row("float16", 150, 0.80)]
        self.assertEqual("float16", report.choose_blessed(rows)["name"])

    def test_smallest_within_budget_wins_over_smaller_outside(self):
        rows = [_row("float32", 400, 0.80), _row("float16", 200, 0.795),
                _row("dynamic_range", 110, 0.789), _row("int8", 100, 0.70)]
        report.add_anchor_ratios(rows)
        blessed = report.choose_blessed(rows)
        self.assertEqual("float16", blessed["name"])
        self.assertAlmostEqual(0.5, blessed["size_ratio_vs_float32"])
        self.assertIn("float16", report.explain(_BINARY, blessed, rows, 0.80, 0.01))

    def test_rmse_loss_is_an_increase(self):
        # Lower RMSE is better: a variant 0.05 worse is within a 0.1 budget,
        # one 0.2 worse is not, and one that improves has a negative loss.
        rows = [_rmse_row("float32", 400, 2.0), _rmse_row("float16", 200, 1.95),
                _rmse_row("dynamic_range", 120, 2.05), _rmse_row("int8", 100, 2.2)]
        self.assertAlmostEqual(-0.05, rows[1]["metric_loss"])
        self.assertAlmostEqual(0.05, rows[2]["metric_loss"])
        self.assertEqual([True, True, True, False], [row["within_budget"] for row in rows])
        report.add_anchor_ratios(rows)
        blessed = report.choose_blessed(rows)
        self.assertEqual("dynamic_range", blessed["name"])
        reason = report.explain(_REGRESSION, blessed, rows, 2.0, 0.1)
        self.assertIn("0.1000 RMSE increase budget", reason)
        self.assertIn("RMSE 2.0500 vs reference 2.0000", reason)
        self.assertIn("RMSE 2.2000 (loss +0.2000, over budget), MAE 1.0000",
                      report.describe_row(_REGRESSION, rows[3]))

    def test_throughput_ratio_is_against_the_float32_anchor(self):
        rows = [_row("float32", 400, 0.80, rows_per_s=1000.0),
                _row("int8", 100, 0.80, rows_per_s=3500.0)]
        report.add_anchor_ratios(rows)
        self.assertAlmostEqual(1.0, rows[0]["throughput_vs_float32"])
        self.assertAlmostEqual(3.5, rows[1]["throughput_vs_float32"])
        self.assertIn("3,500 rows/s (3.50x float32)", report.describe_row(_BINARY, rows[1]))

    def test_failed_rows_have_every_key_and_are_skipped(self):
        failed = report.failed_row(_BINARY, "int8", "ConverterError: boom")
        # Readers of the report rely on one row shape, failed or scored.
        self.assertEqual(set(_row("int8", 100, 0.80)), set(failed))
        self.assertEqual(set(_rmse_row("int8", 100, 2.0)),
                         set(report.failed_row(_REGRESSION, "int8", "boom")))
        rows = [failed, report.failed_row(_BINARY, "float32", "ConverterError: boom")]
        report.add_anchor_ratios(rows)  # No anchor: ratios stay None.
        self.assertIsNone(report.choose_blessed(rows))
        reason = report.explain(_BINARY, None, rows, 0.80, 0.01)
        self.assertIn("int8 failed", reason)
        self.assertIn("0.0100 AUC drop budget", reason)
