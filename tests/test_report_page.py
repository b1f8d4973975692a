"""The report page treats run data as text, never markup (fast, no pipeline).

Slice values, feature values, variant names and anomaly messages come from
user data; a `<` in a company name must not open a tag in the page or break
the inline SVG.
"""
import re
import xml.etree.ElementTree as ElementTree
from html import escape as html_escape

from tfx_prod.report import default_output, page, svg

HOSTILE = '<script>alert("x")</script> & </svg>'


def _variant(name, size, auc, p50, within=True):
    return {"name": name, "size_bytes": size, "size_ratio_vs_float32": 1.0,
            "auc": auc, "accuracy": 0.89, "auc_drop": 0.9511 - auc,
            "max_abs_prob_diff": 0.01, "latency_ms_p50": p50,
            "latency_ms_p90": p50 * 1.2, "speedup_vs_float32": 1.0,
            "within_budget": within, "error": None}


QUANTIZATION = {
    "max_auc_drop": 0.01, "eval_examples": 3000,
    "reference": {"auc": 0.9511}, "blessed_variant": HOSTILE,
    "reason": f"{HOSTILE} is the smallest variant within budget.",
    "variants": [_variant("float32", 642672, 0.9511, 0.078),
                 _variant(HOSTILE, 165800, 0.9511, 0.071),
                 _variant("int8", 166552, 0.9506, 0.052),
                 _variant("float16", 324680, 0.9300, 0.074, within=False)]}


def _report():
    metrics = {"auc": 0.95, "binary_accuracy": 0.89, "example_count": 3000.0,
               "calibration": 1.0, "mean_label": 0.24}
    feature = {"name": HOSTILE, "type": "STRING", "present": 10,
               "missing_pct": 0.0, "unique": 2, "top": HOSTILE,
               "top_count": 7}
    return {
        "metadata_path": "/root/metadata.sqlite", "problems": [HOSTILE],
        "run_id": HOSTILE, "run_number": 1, "run_count": 1,
        "pipeline_name": HOSTILE, "started_ms": 1, "finished_ms": 2,
        "status": {"kind": "ok", "text": HOSTILE},
        "components": [{"id": HOSTILE, "state": "complete", "seconds": 1.0}],
        "not_run": [HOSTILE], "gates": [HOSTILE],
        "lineage": {"input_base": HOSTILE, "model_id": 9,
                    "model_uri": HOSTILE},
        "statistics": {"uri": HOSTILE, "splits": {HOSTILE: {
            "num_examples": 10, "features": [feature]}}},
        "anomalies": {"uri": HOSTILE, "splits": [HOSTILE],
                      "lines": [HOSTILE]},
        "optimization": {HOSTILE: HOSTILE, "params": 12},
        "optimization_path": HOSTILE,
        "summary": {"span": 1, "blessed": True, "blessing_reason": HOSTILE,
                    "pushed_to": None, "quantization": QUANTIZATION,
                    "drift": {"baseline_version": 3, "drifted": [HOSTILE],
                              "features": [{"feature": HOSTILE,
                                            "measure": "L-infinity",
                                            "value": 0.31, "threshold": 0.2,
                                            "drifted": True}]},
                    "eval": {"overall": metrics,
                             "slices": {f"payment_type={HOSTILE}": metrics}}},
    }


def test_run_data_is_escaped_everywhere_on_the_page():
    html = page.render(_report(), HOSTILE)
    assert "<script" not in html
    assert html.count("</svg>") == 1  # the plot's own closing tag only
    # Not vacuous: every section shows the hostile text, escaped (a section
    # that stopped rendering these fields would hide an escaping bug).
    escaped = html_escape(HOSTILE)
    sections = dict(re.findall(r'<section id="(\w+)">(.*?)</section>', html,
                               re.S))
    assert set(sections) == {"lineage", "data", "evaluation", "optimization",
                             "quantization", "components"}
    for name, body in sections.items():
        assert escaped in body, name
    assert escaped in html.split("</header>")[0]


def test_plot_is_well_formed_svg_with_the_names_as_text():
    root = ElementTree.fromstring(svg.tradeoff_plot(QUANTIZATION))
    texts = [t.text for t in root.iter("{http://www.w3.org/2000/svg}text")]
    assert f"{HOSTILE} \u00b7 0.071 ms (blessed)" in texts
    circles = {c.get("class") for c in
               root.iter("{http://www.w3.org/2000/svg}circle")}
    assert circles == {"blessed", "within", "over"}


def test_default_output_names_the_run_with_a_safe_file_name():
    assert default_output("/r", "2026-11-27T20:36:09.7") == (
        "/r/reports/2026-11-27T20-36-09.7.html")
    assert default_output("/r", None) == "/r/reports/no-run.html"


def test_drift_record_shows_each_feature_and_the_served_version():
    html = page.render(_report(), "/root")
    data = re.search(r'<section id="data">(.*?)</section>', html, re.S).group(1)
    assert "Drift against served version 3" in data
    assert "<td class=num>0.310</td><td class=num>0.2</td><td>yes</td>" in data
