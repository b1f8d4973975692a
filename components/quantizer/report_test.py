"""Blessing rule on hand-made report rows (edge cases the real model never hits)."""
import tensorflow as tf

from components.quantizer import report

_LATENCY = {"latency_ms_p50": 1.0, "latency_ms_p90": 2.0}


def _row(name, size_bytes, auc, reference_auc=0.80, max_auc_drop=0.01):
    return report.scored_row(name, size_bytes, {"auc": auc, "accuracy": 0.7}, 0.01,
                             _LATENCY, reference_auc, max_auc_drop)


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
        self.assertIn("float16", report.explain(blessed, rows, 0.80, 0.01))

    def test_failed_rows_have_every_key_and_are_skipped(self):
        failed = report.failed_row("int8", "ConverterError: boom")
        self.assertEqual(set(report.ROW_KEYS), set(failed))
        rows = [failed, report.failed_row("float32", "ConverterError: boom")]
        report.add_anchor_ratios(rows)  # No anchor: ratios stay None.
        self.assertIsNone(report.choose_blessed(rows))
        reason = report.explain(None, rows, 0.80, 0.01)
        self.assertIn("int8 failed", reason)
        self.assertIn("0.0100 AUC budget", reason)
