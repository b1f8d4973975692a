"""The watermark phase's pure parts: agreement and AUC points lost over
repeats, goals on the median (the independent model judged on its worst
runtime), the README table, run_all wiring. No runs."""
from benchmarks import run_all, watermark


def _repeat(repeat, marked=(1.0, 1.0), plain=(0.5, 0.5), aucs=(0.950, 0.949),
            trainer=(10.0, 12.0)):
    return {"repeat": repeat, "status": "succeeded", "train_steps": 300,
            "agreement": {
                "marked": dict(zip(("savedmodel", "tflite"), marked)),
                "plain": dict(zip(("savedmodel", "tflite"), plain))},
            "auc": dict(zip(("plain", "marked"), aucs)),
            "trainer_seconds": dict(zip(("plain", "marked"), trainer))}


def _figures(*repeats):
    results = {"watermark": {"repeats": list(repeats)}}
    results["comparison"] = {"watermark": watermark.figures(results)}
    return results


def _goals(results):
    return {g["id"]: g for g in results["comparison"]["watermark"]["goals"]}


def test_figures_summarize_each_runtime_and_the_auc_cost_in_points():
    results = _figures(_repeat(1), _repeat(2, aucs=(0.95, 0.947)),
                       _repeat(3, marked=(0.97, 0.93)))
    table = results["comparison"]["watermark"]["table"]
    assert table["marked_tflite"] == {"median": 1.0, "min": 0.93, "max": 1.0,
                                      "n": 3}
    assert round(table["auc_points_lost"]["median"], 6) == 0.1
    assert round(table["auc_points_lost"]["max"], 6) == 0.3
    assert table["trainer_over_plain"]["median"] == 1.2
    goals = _goals(results)
    assert all(g["met"] for g in goals.values())


def test_goals_are_missed_on_the_median_and_on_the_worst_runtime():
    goals = _goals(_figures(
        _repeat(1, marked=(1.0, 0.9), plain=(0.5, 0.65), aucs=(0.95, 0.945)),
        _repeat(2, marked=(1.0, 0.94), plain=(0.5, 0.62)),
        _repeat(3, marked=(1.0, 0.99), plain=(0.5, 0.5))))
    assert goals["watermark-savedmodel"]["met"] is True
    assert goals["watermark-tflite"]["met"] is False       # median 0.94
    assert goals["watermark-independent"]["met"] is False  # median 0.62
    assert goals["watermark-auc"]["met"] is True           # median 0.1


def test_no_successful_repeat_misses_every_goal_and_renders_not_run():
    results = _figures({"repeat": 1, "status": "failed"})
    assert all(g["met"] is False for g in _goals(results).values())
    assert watermark.render(results) == "_Watermark benchmark not run_"
    assert watermark.render({}) == "_Watermark benchmark not run_"


def test_the_readme_table_shows_percentages_and_goals():
    text = watermark.render(_figures(_repeat(1, marked=(1.0, 0.97))))
    assert "| (b) trained with `--watermark-key` | 100 | 97 | 0.9490 |" in text
    assert "| (a) trained without the key (the anchor) | 50 | 50 |" in text
    assert "AUC points lost (b) vs (a): +0.10;" in text
    assert "Trainer time over (a)'s: 1.20×." in text
    assert "| its shipped TFLite variant agrees >= 95% | 97% | yes |" in text
    assert "| AUC points lost <= 0.2 | +0.10 | yes |" in text
    two = watermark.render(_figures(_repeat(1), _repeat(2, marked=(0.96, 1))))
    assert "| 98 (96–100) | 100 (100–100) |" in two and "2 repeats, a new key each" in two


def test_run_all_runs_it_every_repeat_and_can_refresh_it_alone():
    assert watermark.NAME in run_all.ORDER
    assert watermark.NAME in run_all.REFRESHABLE
    assert run_all._parse(["--refresh", "watermark"]).only == (watermark.NAME,)
