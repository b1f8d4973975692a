"""Every reader of quantization_report.json shows the task's metric and budget.

The readers live elsewhere (the `tfx-prod run` summary, the HTML report, the
benchmark rows); the report's format is this package's, so its contract with
them is tested here, on reports shaped as the executor writes them.
"""
import unittest

from benchmarks import opt_compare
from components.quantizer import report
from components.quantizer import tasks
from tfx_prod import render
from tfx_prod.report import shipping
from tfx_prod.report import svg

_LATENCY = {"latency_ms_p50": 0.1, "latency_ms_p90": 0.2}
_THROUGHPUT = {"throughput_batch_rows": 256, "throughput_batch_ms_p50": 1.0,
               "throughput_rows_per_s": 256e3}


def _report(task_name, reference, values, budget):
    """A report with float32 at the reference and int8/float16 at `values`."""
    task = tasks.TASKS[task_name]
    # The secondary metric is 0.4321 everywhere, so a column mixing the two shows.
    reference_scores = {task.metric: reference, task.secondary: 0.4321}
    rows = [report.scored_row(task, name, size, {task.metric: value, task.secondary: 0.4321},
                              0.01, _LATENCY, _THROUGHPUT, reference_scores, budget)
            for name, size, value in (("float32", 400, reference), ("float16", 200, values[0]),
                                      ("int8", 100, values[1]))]
    report.add_anchor_ratios(rows)
    blessed = report.choose_blessed(rows)
    return {**tasks.header(task), "max_metric_loss": budget, "eval_examples": 1000,
            "reference": {"name": "saved_model", **reference_scores, "size_bytes": 500,
                          **_LATENCY},
            "variants": rows, "blessed_variant": blessed["name"] if blessed else None,
            "reason": report.explain(task, blessed, rows, reference, budget)}


# RMSE 2.0 -> float16 2.05 (within 0.1), int8 2.3 (over): float16 ships.
_REGRESSION = _report("regression", 2.0, (2.05, 2.3), 0.1)
# macro AUC 0.90 -> float16 0.899, int8 0.85 (over 0.01): float16 ships.
_MULTICLASS = _report("multiclass", 0.90, (0.899, 0.85), 0.01)


class ReadersTest(unittest.TestCase):

    def test_run_summary_names_the_metric_and_signs_the_change(self):
        text = "\n".join(render._quantization_lines(_REGRESSION))  # pylint: disable=protected-access
        self.assertIn("budget: RMSE increase <= 0.1,", text)
        self.assertIn("reference SavedModel RMSE 2.0000", text)
        self.assertRegex(text, r"float16 .* 2\.0500 +\+0\.0500 .* BLESSED")
        self.assertRegex(text, r"int8 .* 2\.3000 +\+0\.3000 .* over budget")
        text = "\n".join(render._quantization_lines(_MULTICLASS))  # pylint: disable=protected-access
        self.assertIn("macro AUC drop <= 0.01", text)
        self.assertRegex(text, r"int8 .* 0\.8500 +-0\.0500 .* over budget")

    def test_html_table_and_plot_use_the_metric(self):
        html = shipping.quantization({"summary": {"quantization": _REGRESSION}})
        self.assertIn("<th class=num>RMSE</th><th class=num>\u0394RMSE</th>"
                      "<th class=num>MAE</th>", html)
        self.assertIn("<td>int8</td><td class=num>100</td><td class=num>0.25x</td>"
                      "<td class=num>2.3000</td><td class=num>+0.3000</td>"
                      "<td class=num>0.4321</td>", html)
        self.assertIn("budget: RMSE increase \u2264 0.1.", html)
        self.assertIn("Above the red line", html)
        plot = svg.tradeoff_plot(_REGRESSION)
        # Lower is better: the budget line sits above the reference.
        self.assertIn("budget \u2264 2.1000", plot)
        self.assertIn("RMSE (eval split)", plot)
        self.assertIn("budget \u2265 0.8900", svg.tradeoff_plot(_MULTICLASS))
        self.assertIn("<th class=num>macro AUC</th>",
                      shipping.quantization({"summary": {"quantization": _MULTICLASS}}))

    def test_benchmarks_read_binary_numbers_and_decline_other_tasks(self):
        binary = _report("binary", 0.95, (0.949, 0.94), 0.01)
        model = {"quantization": binary, "saved_model_gzip_bytes": 1,
                 "tflite_gzip_bytes": dict.fromkeys(opt_compare.FORMATS, 1)}
        result = opt_compare.compute({"baseline": model})
        rows = {row["format"]: row for row in result["rows"]}
        self.assertAlmostEqual(0.94, rows["int8"]["auc"])
        int8_auc = next(goal for goal in result["goals"] if goal["id"] == "int8_auc_baseline")
        self.assertAlmostEqual(0.01, int8_auc["value"])
        model["quantization"] = _REGRESSION
        (row,) = opt_compare.compute({"baseline": model})["rows"]
        self.assertIn("regression model", row["error"])
