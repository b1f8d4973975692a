"""The scale phase's pure parts: figures, goals, tables and run_all wiring.

Fast: no pipeline runs (scale.run is replaced by recorded-looking repeats);
only the last test builds the driver's pipeline, without running it.
"""
import json
import os
import sys

import pytest

from benchmarks import (proc, readme_tables, run_all, scale, scale_report,
                        workdirs)


def _run(rows, wall, rss, tree=3000.0, processes=3, ok=True):
    return {"returncode": 0 if ok else 1, "rows": rows,
            "examples": rows if ok else None, "wall_seconds": wall,
            "rows_per_second": rows / wall if ok else None,
            "largest_process_rss_mb": rss, "peak_tree_rss_mb": tree,
            "peak_processes": processes, "cpu_seconds": wall,
            "other_cpu_seconds": 0.0, "beam_args": [],
            "components": [{"id": "Transform", "state": "complete",
                            "seconds": wall / 2}]}


def _repeat(repeat, walls, rss=(1000.0, 1100.0), ok=True):
    """walls: {(rows, config): wall seconds}; ours' RSS small, big."""
    sizes = []
    for index, rows in enumerate((1000, 5000)):
        runs = {"tfx_default": _run(rows, walls[rows, "tfx_default"], 900.0),
                "ours": dict(_run(rows, walls[rows, "ours"], rss[index],
                                  ok=ok or rows == 1000),
                             beam_args=scale.our_beam_args())}
        sizes.append({"rows": rows, "csv_bytes": rows * 128, "runs": runs,
                      "tfx_prod_picks": [],
                      "tfx_prod_picks_why": "in-process (its defaults)"})
    return {"repeat": repeat, "status": "succeeded" if ok else "failed",
            "rows": [1000, 5000], "sizes": sizes}


def _results(*repeats):
    results = {"machine": {"date": "2026-12-03T00:00:00+00:00",
                           "cpu_model": "AMD EPYC", "cores": 2,
                           "ram_gb": 23.0},
               "settings": {"repeats": len(repeats), "phases": ["scale"],
                            "smoke": False},
               "scale": {"status": "succeeded", "repeats": list(repeats)}}
    results["comparison"] = {"scale": scale_report.figures(results)}
    return results


FAST = {(1000, "tfx_default"): 100.0, (1000, "ours"): 50.0,
        (5000, "tfx_default"): 500.0, (5000, "ours"): 200.0}
SLOW = {(1000, "tfx_default"): 100.0, (1000, "ours"): 80.0,
        (5000, "tfx_default"): 400.0, (5000, "ours"): 800.0}


def test_ratios_are_paired_within_a_repeat_and_goals_judged_on_medians():
    results = _results(_repeat(1, FAST), _repeat(2, FAST, rss=(1000, 1300)),
                       _repeat(3, SLOW))
    fig = results["comparison"]["scale"]
    assert (fig["small"], fig["big"]) == (1000, 5000)
    # ours/default rows/s at 5000 rows: 2.5, 2.5, 0.5 -> median 2.5.
    assert fig["ours_over_default_rows_per_second"]["5000"] == {
        "median": 2.5, "min": 0.5, "max": 2.5, "n": 3}
    assert fig["big_over_small"]["ours"]["wall_seconds"]["median"] == 4.0
    assert fig["runs"]["5000"]["ours"]["rows_per_second"]["median"] == 25.0
    goals = {g["id"]: g for g in fig["goals"]}
    assert goals["scale_time_linear"]["target"] == pytest.approx(5.5)
    assert goals["scale_time_linear"]["met"] is True  # 4.0, 4.0, 10.0
    assert goals["scale_rss_flat"]["value"] == pytest.approx(1.1)
    assert goals["scale_rss_flat"]["met"] is True
    assert goals["scale_rss_max"]["value"] == 1100.0
    assert goals["scale_rss_max"]["met"] is True
    assert goals["scale_throughput_1000"]["met"] is True   # 2, 2, 1.25
    assert goals["scale_throughput_5000"]["met"] is True


def test_each_goal_misses_on_its_own_number():
    slow = dict(SLOW)
    results = _results(_repeat(1, slow, rss=(2000.0, 3500.0)))
    goals = {g["id"]: g for g in results["comparison"]["scale"]["goals"]}
    assert goals["scale_time_linear"]["met"] is False      # 10× for 5×
    assert goals["scale_rss_flat"]["met"] is False         # 1.75×
    assert goals["scale_rss_max"]["met"] is False          # 3500 MB
    assert goals["scale_throughput_1000"]["met"] is False  # 1.25×
    assert goals["scale_throughput_5000"]["met"] is False  # 0.5×


def test_a_failed_run_leaves_its_goals_missed_not_dropped():
    results = _results(_repeat(1, FAST, ok=False))
    fig = results["comparison"]["scale"]
    goals = {g["id"]: g for g in fig["goals"]}
    for goal_id in ("scale_time_linear", "scale_rss_flat", "scale_rss_max",
                    "scale_throughput_5000"):
        assert goals[goal_id]["value"] is None
        assert goals[goal_id]["met"] is False, goal_id
    assert goals["scale_throughput_1000"]["met"] is True
    assert fig["runs"]["5000"]["ours"]["wall_seconds"] is None


def test_the_readme_table_says_what_the_figures_say():
    results = _results(_repeat(1, FAST), _repeat(2, FAST))
    table = scale_report.render(results)
    assert table.startswith("Measured by `run_all` (phases scale)")
    assert ("| 5,000 | 0.6 | `--direct_running_mode=multi_processing "
            "--direct_num_workers=0` | 200.0 (200.0–200.0) | 25 (25–25) "
            "| 1,100 (1,100–1,100) |") in table
    assert "| 5,000 | 0.6 | none (TFX defaults) | 500.0 (500.0–500.0)" in table
    assert "| 2.50× (2.50–2.50) |" in table
    assert ("- **met**: ours' largest process under 3 GB RSS at every size "
            "(median 1100 MB of 2 repeats, 1100 MB–1100 MB; target <= "
            "3072 MB)") in table
    assert "rows: wall 4.00× (4.00–4.00)" in table
    assert "_Scale benchmark not run_" == scale_report.render(
        {"comparison": {"scale": None}})
    detail = scale_report.detail(_results(_repeat(1, FAST, ok=False)))
    assert "| 1 | 5,000 | ours | 1 | n/a |" in detail
    assert "### Scale failures" not in detail  # no log tail recorded


def test_sizes_flag_and_opt_in_phase():
    assert scale.parse_rows("5000000,1000000") == [1000000, 5000000]
    for bad in ("1000", "10,10", "0,5", "a,b"):
        with pytest.raises(Exception):
            scale.parse_rows(bad)
    assert "scale" not in run_all._parse([]).only
    assert "scale" not in run_all._parse(["--only", "all"]).only
    args = run_all._parse(["--only", "scale"])
    assert args.only == ("scale",)
    assert args.scale_rows == list(scale.DEFAULT_ROWS) == [1000000, 5000000]
    assert run_all._parse(["--smoke"]).scale_rows == list(scale.SMOKE_ROWS)
    assert run_all._parse(["--refresh", "scale"]).only == ("scale",)
    with pytest.raises(SystemExit):
        run_all._parse(["--refresh", "ours"])


def test_ours_are_the_args_tfx_prod_picks_for_a_large_span(tmp_path):
    from pipeline import configs
    span = tmp_path / "span-1"
    span.mkdir()
    with open(span / "data.csv", "wb") as f:
        f.truncate(configs.MULTI_PROCESSING_MIN_BYTES + 1)
    assert scale.our_beam_args() == configs.default_beam_args(
        str(tmp_path))[0]
    assert "--direct_running_mode=multi_processing" in scale.our_beam_args()
    assert scale.beam_args("tfx_default") == []


def test_refresh_scale_replaces_only_the_scale_phase(monkeypatch, tmp_path):
    with open(readme_tables.RESULTS) as f:
        committed = json.load(f)
    (tmp_path / "results.json").write_text(json.dumps(committed))
    monkeypatch.setattr(workdirs, "LOG_DIR", str(tmp_path / "logs"))
    monkeypatch.setattr(run_all, "_warm_up", lambda: None)
    monkeypatch.setattr(scale, "run", lambda repeat, settings: dict(
        _repeat(repeat, FAST), rows=settings["scale_rows"]))
    assert run_all.main(["--refresh", "scale", "--repeats", "2",
                         "--scale-rows", "1000,5000", "--keep-work",
                         "--results-dir", str(tmp_path)]) == 0
    merged = json.loads((tmp_path / "results.json").read_text())
    assert merged["ours"] == committed["ours"]
    assert merged["kubeflow"] == committed["kubeflow"]
    assert merged["scale"]["status"] == "succeeded"
    assert merged["refreshed"]["scale"]["settings"]["scale_rows"] == [
        1000, 5000]
    assert merged["comparison"]["scale"]["goals"][0]["met"] is True
    block = readme_tables.rendered(merged)["scale"]
    assert block.startswith("Measured by `run_all --refresh scale`")
    assert "## Scale: every run" in (tmp_path / "results.md").read_text()


def test_peak_processes_counts_the_workers_a_child_starts(tmp_path):
    child = ("import subprocess, sys, time; p = subprocess.Popen("
             "[sys.executable, '-c', 'import time; time.sleep(2)']); "
             "time.sleep(1.5); p.wait()")
    measured = proc.run_measured([sys.executable, "-c", child],
                                 str(tmp_path / "child.log"))
    assert measured["returncode"] == 0
    if proc.psutil is not None:
        assert measured["peak_processes"] == 2
        assert measured["peak_tree_rss_mb"] > measured[
            "sampled_largest_process_rss_mb"] > 0


def test_the_driver_runs_tfx_prods_own_data_components(tmp_path):
    """The components come from create_pipeline, cut loose from the rest."""
    from benchmarks import scale_driver
    data = tmp_path / "data" / "span-1"
    data.mkdir(parents=True)
    (data / "data.csv").write_text("fare\n1\n")
    pipeline = scale_driver.scale_pipeline(
        str(tmp_path / "data"), str(tmp_path / "root"), ["--a=b"])
    ids = [c.id for c in pipeline.components]
    assert sorted(ids) == sorted(scale_driver.SCALE_COMPONENTS)
    for component in pipeline.components:
        assert {n.id for n in component.upstream_nodes} <= set(ids)
        assert {n.id for n in component.downstream_nodes} <= set(ids)
    assert pipeline.beam_pipeline_args == ["--a=b"]
    assert pipeline.enable_cache is False
    transform = next(c for c in pipeline.components if c.id == "Transform")
    assert "preprocessing_fn" in transform.exec_properties
    assert os.path.dirname(pipeline.metadata_connection_config.sqlite
                           .filename_uri) == str(tmp_path / "root")
