"""The benchmark harness keeps going when a pipeline fails, and says so.

No pipeline runs here: the phases are replaced by a crash and by the
repeats recorded in the committed results.json, so this is fast.
"""
import copy
import json

import pytest

from benchmarks import (anchor, optimizations, ours, readme_tables, run_all,
                        workdirs)


@pytest.fixture()
def recorded():
    with open(readme_tables.RESULTS) as f:
        return json.load(f)


def test_a_crashing_pipeline_is_recorded_and_results_still_written(
        recorded, monkeypatch, tmp_path):
    def crash(name, repeat, settings):
        raise RuntimeError(f"{name} exploded in repeat {repeat}")

    def replay(phase):
        def run(*args):
            repeat = args[0] if phase == "ours" else None
            out = copy.deepcopy(recorded[phase]["repeats"][0])
            if repeat is not None:
                out["repeat"] = repeat
            return out
        return run

    monkeypatch.setattr(workdirs, "LOG_DIR", str(tmp_path / "logs"))
    monkeypatch.setattr(run_all, "_warm_up", lambda: None)
    monkeypatch.setattr(anchor, "run", crash)
    monkeypatch.setattr(ours, "run", replay("ours"))
    monkeypatch.setattr(optimizations, "run",
                        lambda ours_repeat, settings: dict(
                            replay("optimizations")(),
                            repeat=ours_repeat["repeat"]))

    code = run_all.main(["--only", "anchor,ours,optimizations",
                         "--repeats", "2", "--keep-work",
                         "--results-dir", str(tmp_path)])

    assert code == 1
    results = json.loads((tmp_path / "results.json").read_text())
    assert results["anchor"]["status"] == "failed"
    assert [r["repeat"] for r in results["anchor"]["repeats"]] == [1, 2]
    assert "anchor exploded in repeat 2" in results["anchor"]["repeats"][1][
        "error"]
    assert results["ours"]["status"] == "succeeded"
    assert len(results["ours"]["repeats"]) == 2
    assert results["control"]["status"] == "not_run"
    assert results["settings"]["order"] == list(run_all.ORDER)

    goals = {g["id"]: g for g in results["comparison"]["goals"]}
    assert goals["cold_wall"]["met"] is False  # owed: the anchor was run
    assert goals["cached_rerun"]["spread"]["n"] == 2
    blocks = readme_tables.rendered(results)
    assert "**failed** 2 of 2 repeats" in blocks["pipeline"]
    assert "## Failures" in (tmp_path / "results.md").read_text()


def test_smoke_defaults_stay_out_of_the_committed_results():
    args = run_all._parse(["--smoke"])
    assert (args.repeats, args.rows, args.train_steps) == (1, 2000, 50)
    assert args.results_dir == run_all.SMOKE_RESULTS_DIR
    assert run_all._parse([]).results_dir == workdirs.RESULTS_DIR
    assert run_all._parse([]).repeats == run_all.DEFAULT_REPEATS >= 3
    # Our settings come from PipelineConfig; passing them is a no-op.
    assert run_all._settings(run_all._parse([]))["our_flags"] == []
    assert run_all._settings(run_all._parse(["--smoke"]))["our_flags"] == [
        "--train-steps", "50", *run_all.SMOKE_GATES_OFF]


def test_generic_bench_data_carries_the_taxi_label_and_not_its_source(
        tmp_path):
    """The generic run's CSV: the label modules/taxi derives, as a column,
    and no `tips` (which would leak it)."""
    import pandas as pd

    from benchmarks import generic

    source = tmp_path / "data.csv"
    source.write_text("fare,tips,company\n10,2.5,A\n10,1.0,B\n,,C\n20,5,\n")
    dest = generic.write_labelled_csv(str(source), str(tmp_path / "out.csv"))
    out = pd.read_csv(dest, keep_default_na=False)
    assert list(out.columns) == ["fare", "company", "big_tipper"]
    assert out["big_tipper"].tolist() == [1, 0, 0, 1]
    assert out["company"].tolist() == ["A", "B", "C", ""]


def test_kubeflow_figures_pair_each_repeat_with_ours_cold_run():
    from benchmarks import kubeflow

    def spec_run(repeat, compile_s, local_s):
        return {"repeat": repeat, "status": "succeeded",
                "anchor_cold_wall_seconds": {1: 100.0, 2: 200.0}[repeat],
                "compile": {"wall_seconds": compile_s},
                "local_run": {"wall_seconds": local_s},
                "tasks": {"Trainer": {"state": "succeeded", "seconds": local_s / 4},
                          "Pusher": {"state": "skipped", "seconds": None}},
                "pushed_to": None if repeat == 2 else "/s/taxi/1"}

    results = {"kubeflow": {"repeats": [spec_run(1, 10.0, 150.0),
                                        spec_run(2, 30.0, 500.0),
                                        {"repeat": 3, "status": "failed"}]}}
    figures = kubeflow.figures(results)
    # Paired by repeat: 150/100 and 500/200, never across repeats.
    assert figures["local_run_over_ours_cold"] == {
        "median": 2.0, "min": 1.5, "max": 2.5, "n": 2}
    assert figures["compile_seconds"]["median"] == 20.0
    assert figures["tasks"]["Trainer"]["max"] == 125.0
    assert figures["tasks"]["Pusher"] is None  # skipped: no time to report
    assert figures["pushed"] == [True, False]
    results["comparison"] = {"kubeflow": figures}
    table = kubeflow.render(results)
    assert "| 2.00 (1.50–2.50)× |" in table
    assert "Pushed a version in 1 of 2 repeats." in table


def test_refresh_replaces_only_the_kubeflow_phase(recorded, monkeypatch,
                                                  tmp_path):
    """`--refresh kubeflow` re-measures ours as its anchor but keeps every
    other table (ours included) from the committed run."""
    from benchmarks import kubeflow
    (tmp_path / "results.json").write_text(json.dumps(recorded))
    ours_repeat = copy.deepcopy(recorded["ours"]["repeats"][0])
    ours_repeat["cold"]["wall_seconds"] = 1000.0  # the fresh anchor

    def spec_run(repeat, settings, anchor_repeat):
        assert anchor_repeat["cold"]["wall_seconds"] == 1000.0
        return {"repeat": repeat, "status": "succeeded",
                "anchor_cold_wall_seconds": 1000.0,
                "compile": {"wall_seconds": 9.0},
                "local_run": {"wall_seconds": 1500.0},
                "tasks": {"Trainer": {"state": "succeeded", "seconds": 50.0}},
                "pushed_to": "/s/1"}

    monkeypatch.setattr(workdirs, "LOG_DIR", str(tmp_path / "logs"))
    monkeypatch.setattr(run_all, "_warm_up", lambda: None)
    monkeypatch.setattr(ours, "run", lambda repeat, settings: dict(
        copy.deepcopy(ours_repeat), repeat=repeat))
    monkeypatch.setattr(kubeflow, "run", spec_run)
    assert run_all.main(["--refresh", "kubeflow", "--repeats", "1",
                         "--keep-work", "--results-dir", str(tmp_path)]) == 0
    merged = json.loads((tmp_path / "results.json").read_text())
    assert merged["ours"] == recorded["ours"]
    assert merged["anchor"] == recorded["anchor"]
    assert merged["comparison"]["kubeflow"]["local_run_over_ours_cold"][
        "median"] == 1.5
    assert "Measured separately" in kubeflow.render(merged)


def test_refresh_serving_reruns_only_the_serving_benchmark(recorded,
                                                          monkeypatch,
                                                          tmp_path):
    """`--refresh serving` runs no pipeline phase and serves its own push;
    only results["serving"] changes."""
    from benchmarks import serving_bench
    (tmp_path / "results.json").write_text(json.dumps(recorded))
    calls = []

    def fake_serving(repeats, model_base=None):
        calls.append((repeats, model_base))
        return {"status": "succeeded", "stacks": {}, "marker": "fresh"}
    monkeypatch.setattr(workdirs, "LOG_DIR", str(tmp_path / "logs"))
    monkeypatch.setattr(run_all, "_warm_up", lambda: None)
    monkeypatch.setattr(serving_bench, "run", fake_serving)
    monkeypatch.setattr(ours, "run", lambda *a: pytest.fail("ours ran"))
    assert run_all._parse(["--refresh", "serving"]).only == ()
    assert run_all.main(["--refresh", "serving", "--repeats", "2",
                         "--keep-work", "--results-dir", str(tmp_path)]) == 0
    assert calls == [(2, None)]
    merged = json.loads((tmp_path / "results.json").read_text())
    assert merged["serving"]["marker"] == "fresh"
    assert merged["ours"] == recorded["ours"]
