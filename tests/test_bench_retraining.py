"""The retraining phase's pure parts: ratios within a repeat, AUC points
lost, goals on the median, the README table, run_all wiring. No runs."""
from benchmarks import retraining, run_all


def _config(wall, auc, transform=10.0):
    return {"wall_seconds": wall, "auc": auc,
            "components": [{"id": "Transform", "state": "complete",
                            "seconds": transform}]}


def _repeat(repeat, cold, cache, warm, aucs=(0.95, 0.95, 0.948)):
    row = {"cold": _config(cold, aucs[0], 30.0),
           "cache": _config(cache, aucs[1], 20.0),
           "cache_warm": _config(warm, aucs[2], 20.0)}
    return {"repeat": repeat, "status": "succeeded",
            "retrains": {"span-2": row, "span-3": row}}


def _results(*repeats):
    results = {"retraining": {"repeats": list(repeats)}}
    results["comparison"] = {"retraining": retraining.figures(results)}
    return results


def test_ratios_are_taken_within_each_repeat_then_summarized():
    # Repeat 2 ran on a machine twice as slow: its ratio is the same.
    figures = _results(_repeat(1, 100, 80, 50),
                       _repeat(2, 200, 160, 100))["comparison"]["retraining"]
    warm = figures["table"]["span-3"]["cache_warm"]
    assert warm["over_cold"] == {"median": 0.5, "min": 0.5, "max": 0.5, "n": 2}
    assert warm["wall_seconds"]["median"] == 75
    assert round(warm["auc_points_lost"]["median"], 6) == 0.2
    assert warm["components"]["Transform"]["median"] == 20.0


def test_goals_are_met_or_missed_on_the_median():
    goals = {g["id"]: g for g in _results(
        _repeat(1, 100, 80, 35, aucs=(0.95, 0.95, 0.949)),
        _repeat(2, 100, 80, 45, aucs=(0.95, 0.95, 0.940)),
        _repeat(3, 100, 80, 39, aucs=(0.95, 0.95, 0.9495)),
    )["comparison"]["retraining"]["goals"]}
    assert goals["retraining-span-3-time"]["met"] is True   # median 0.39
    assert goals["retraining-span-3-auc"]["met"] is True    # median 0.1
    slow = {g["id"]: g for g in _results(_repeat(1, 100, 80, 41))[
        "comparison"]["retraining"]["goals"]}
    assert slow["retraining-span-2-time"]["met"] is False


def test_no_successful_repeat_is_a_missed_goal_and_an_empty_table():
    failed = {"repeat": 1, "status": "failed", "retrains": {}}
    results = _results(failed)
    assert all(g["met"] is False
               for g in results["comparison"]["retraining"]["goals"])
    assert retraining.render(results) == "_Retraining benchmark not run_"


def test_the_readme_table_names_every_configuration_and_component():
    text = retraining.render(_results(_repeat(1, 100, 80, 50)))
    for label in ("(a) cold", "(b) span store", "(c) (b) + warm start",
                  "| Transform | 30.0 | 20.0 | 20.0 |", "0.50×", "**no**"):
        assert label in text, label


def test_run_all_runs_it_by_default_and_refreshes_it_alone():
    assert "retraining" in run_all.DEFAULT_PHASES
    args = run_all._parse(["--refresh", "retraining"])
    assert args.only == ("retraining",)
