"""`tfx-prod report` on the real end-to-end pipeline home, rendered by real
headless Chromium: no console errors, no network, the key numbers visible.

Other e2e tests may add runs to the shared home first (a cached re-run, a
refused model), so nothing here depends on their order: the first run (the
`first_run` fixture's own, summary-0) is picked with --run-id and its key
numbers are checked unconditionally; the default (latest) report is checked
against the latest run ML Metadata records, whatever that run was.
"""
import argparse
import json
import pathlib
import re
import subprocess
import sys

import pytest

from tests import chromium
from tests.helpers import read_text, tfx_prod
from tfx_prod.report import build_report

# One worker runs every file sharing the `first_run` pipeline run (make test).
pytestmark = [pytest.mark.e2e, pytest.mark.xdist_group("first_run")]

PROJECT = pathlib.Path(__file__).resolve().parent.parent
PROBES = {
    "points": "document.querySelectorAll('svg.tradeoff circle').length",
    "blessed_label": "(document.querySelector("
                     "'svg.tradeoff .point.blessed text') || {}).textContent",
    "budget_lines": "document.querySelectorAll('svg.tradeoff line.budget')"
                    ".length",
}


@pytest.fixture(scope="session")
def browser():
    """Listed first by each test, so a missing browser fails before the
    minutes-long pipeline run, not after."""
    if chromium.find_chromium() is None:
        pytest.fail(chromium.INSTALL_HINT)


def _summaries(home: pathlib.Path) -> list[dict]:
    paths = sorted(home.glob("summary-*.json"),
                   key=lambda p: int(p.stem.split("-")[1]))
    return [json.loads(p.read_text()) for p in paths]


def _runs(home: pathlib.Path) -> list:
    from pipeline.metadata import open_store, pipeline_runs
    return pipeline_runs(open_store(str(home / "pipeline" / "metadata.sqlite")))


@pytest.fixture(scope="module")
def latest_report(first_run):
    home, _, _ = first_run
    return pathlib.Path(build_report(str(home / "pipeline"))), home


def _assert_blessed_and_pushed(page, summary):
    """The key numbers of a blessed, quantized and pushed run; every one is
    required (a missing field fails, it is not skipped)."""
    text = page.text
    assert summary["blessed"] is True
    assert f"span {summary['span']} from" in text
    assert f"{summary['eval']['overall']['auc']:.4f}" in text
    quantization = summary["quantization"]
    blessed = quantization["blessed_variant"]
    assert blessed in text
    assert page.probes["blessed_label"].startswith(f"{blessed} \u00b7 ")
    assert quantization["reason"] in text
    drawn = [v for v in quantization["variants"] if not v["error"]]
    assert drawn and page.probes["points"] == len(drawn)
    assert page.probes["budget_lines"] == 1
    assert pathlib.Path(summary["pushed_to"]).name in text
    assert "Blessed and pushed." in text and "NOT BLESSED" not in text


def test_latest_run_report_renders_without_errors(browser, latest_report):
    """The default report is of the latest run ML Metadata records."""
    from tfx_prod.report import default_output
    path, home = latest_report
    runs = _runs(home)
    assert path == pathlib.Path(default_output(str(home / "pipeline"),
                                               runs[-1].name))
    page = chromium.load(str(path), probes=PROBES)
    assert page.errors == []
    assert runs[-1].name in page.text
    assert f"(run {len(runs)} of {len(runs)} recorded)" in page.text
    html = path.read_text()
    assert "<script" not in html
    assert not re.search(r"""(src|href)=["']?(https?:)?//""", html)


def test_report_of_the_first_run_by_id_via_the_cli(browser, first_run,
                                                    tmp_path):
    home, _, _ = first_run
    runs = _runs(home)
    output = tmp_path / "first.html"
    result = subprocess.run(
        [sys.executable, "-m", "tfx_prod.report", "--home", str(home),
         "--run-id", runs[0].name, "--output", str(output)],
        capture_output=True, text=True, cwd=PROJECT, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stdout.strip() == str(output)
    page = chromium.load(str(output), probes=PROBES)
    assert page.errors == []
    assert runs[0].name in page.text
    assert f"(run 1 of {len(runs)} recorded)" in page.text
    _assert_blessed_and_pushed(page, _summaries(home)[0])


def test_unknown_run_id_is_a_usage_error_naming_the_runs(first_run, capsys,
                                                         monkeypatch):
    from tfx_prod import report
    home, _, _ = first_run
    monkeypatch.setenv("TF_CPP_MIN_LOG_LEVEL", "1")  # main() quiets TF
    parser = argparse.ArgumentParser()
    report.add_arguments(parser)
    args = parser.parse_args(["--home", str(home), "--run-id", "no-such"])
    assert report.main(args) == 2
    error = capsys.readouterr().err
    assert "no pipeline run 'no-such'" in error and "latest runs" in error


def test_run_stopped_at_the_anomaly_gate_still_gets_a_report(browser,
                                                              tmp_path):
    frame = read_text(500)
    frame.loc[frame.index[:20], "fare"] = "twelve dollars"
    (tmp_path / "bad" / "span-1").mkdir(parents=True)
    frame.to_csv(tmp_path / "bad" / "span-1" / "data.csv", index=False)
    home = tmp_path / "home"
    result, _ = tfx_prod(home=home, data=tmp_path / "bad")
    assert result.returncode == 3, result.stderr[-3000:]
    page = chromium.load(build_report(str(home / "pipeline")))
    assert page.errors == []
    assert "Stopped at the anomaly gate" in page.text
    assert "train/fare: Unexpected data type" in page.text
    assert ("No evaluation: Evaluator did not run in this run: the run "
            "stopped at AnomalyGate.") in page.text


@pytest.mark.parametrize("injected, expected", [
    ("<script>throw new Error('x-injected')</script>", "x-injected"),
    ("<script>console.error('logged-error')</script>", "logged-error"),
    ('<img src="https://cdn.example.com/chart.png">', "cdn.example.com"),
])
def test_chromium_check_detects_injected_errors(browser, latest_report,
                                                tmp_path, injected, expected):
    """Proves the check above can fail: the same page plus one fault."""
    path, _ = latest_report
    broken = tmp_path / "broken.html"
    html = path.read_text()
    broken.write_text(html.replace("</body>", injected + "</body>"))
    errors = chromium.load(str(broken)).errors
    assert any(expected in error for error in errors), errors
