"""The reliability phase: goals judged on every repeat, the README table
(missing and present), run_all wiring, and one real short soak against a
real server (about 30 s: models written, capacity, warm-up, 5 s soak)."""
from benchmarks import reliability, run_all


def _kill9(identical=True):
    before = {"stable": 1, "canary": 2, "percent": 20.0, "step": 0,
              "steps": [20.0, 50.0, 100.0], "step_started": 1.0,
              "state": "running", "rejected": []}
    return {"status": "succeeded", "at_intermediate_step": True,
            "state_identical": identical, "versions_identical": True,
            "before": {"state": before, "versions": {"1": ["AVAILABLE", ""]}},
            "differences": {} if identical else {"percent": [20.0, 0.0]}}


def _repeat(index, failed=0, identical=True, soak=None):
    record = {"repeat": index, "status": "succeeded",
              "rollback": {"status": "succeeded", "requests": 1000 + index,
                           "failed": failed, "rolled_back": True,
                           "seconds_to_rollback": 0.5 + index / 10,
                           "reason": "confidence distribution distance 1.000"},
              "kill9": _kill9(identical)}
    if soak is not None:
        record["soak"] = soak
    return record


SOAK = {"status": "succeeded", "seconds": 600, "errors": 0,
        "requests": 480000, "capacity_requests_per_s": 1000.0,
        "capacity_after_requests_per_s": 990.0, "load_average_max": 1.5,
        "target_requests_per_s": 800.0, "achieved_requests_per_s": 799.0,
        "p50_ms": 2.0, "p99_ms": 9.5, "rss_start_mb": 600.0,
        "rss_end_mb": 612.0, "rss_growth_percent": 2.0}
MACHINE = {"cpu_model": "AMD EPYC", "cores": 2, "ram_gb": 23.0,
           "date": "2026-12-04T19:00:00+00:00"}
SETTINGS = {"repeats": 3, "soak_seconds": 600, "warmup_seconds": 30,
            "connections": 8}


def _results(runs):
    return {reliability.NAME: {"status": "succeeded", "repeats": runs,
                               "goals": reliability.goals(runs),
                               "machine": MACHINE, "settings": SETTINGS}}


def test_render_says_not_measured_when_the_phase_is_missing():
    assert "not measured yet" in reliability.render({})
    assert "not measured yet" in reliability.render(
        {reliability.NAME: {"status": "pending", "repeats": []}})


def test_goals_and_table_when_every_repeat_meets_them():
    results = _results([_repeat(1, soak=SOAK), _repeat(2), _repeat(3)])
    goals = {g["id"]: g for g in results[reliability.NAME]["goals"]}
    assert all(g["met"] for g in goals.values()), goals
    assert goals["soak_rss_growth"]["value"] == 2.0
    table = reliability.render(results)
    assert ("| hot-load + canary rollback under load: failed requests | "
            "0 [0–0] of 1002 [1001–1003] | 0 | yes |") in table
    assert "0.7 s [0.6–0.8]; first reason: confidence distribution" in table
    assert ("| kill -9 mid-rollout (canary at 20%) + restart: rollout state "
            "identical | 3/3 repeats | identical | yes |") in table
    assert ("| soak: server RSS growth, end vs start | +2.00% (600 → 612 "
            "MiB) | < 5% | yes |") in table
    assert "| soak 600 s at 80% of capacity: errors | 0 of 480,000 |" in table
    assert ("| soak: achieved / target rate (capacity 1000 req/s before, 990 "
            "after) | 799 / 800 req/s |") in table
    assert "taxi_like" in table and "AMD EPYC, 2 cores" in table
    assert "load average up to 1.5" in table


def test_one_bad_repeat_misses_a_goal_even_when_the_median_is_fine():
    grown = dict(SOAK, rss_growth_percent=5.0, rss_end_mb=630.0)
    results = _results([_repeat(1, soak=grown), _repeat(2, failed=2),
                        _repeat(3, identical=False)])
    goals = {g["id"]: g for g in results[reliability.NAME]["goals"]}
    assert goals["rollback_failed"]["value"] == 0     # median of 0, 2, 0
    assert goals["rollback_failed"]["met"] is False
    assert goals["kill9_state"]["met"] is False
    assert goals["kill9_versions"]["met"] is True
    assert goals["soak_rss_growth"]["met"] is False   # 5% is not < 5%
    table = reliability.render(results)
    assert "2/3 repeats (differed: percent) | identical | **no** |" in table
    # A failed soak is a missed goal, not a dropped one.
    failed = _results([_repeat(1, soak={"status": "failed", "error": "x"})])
    goals = {g["id"]: g for g in failed[reliability.NAME]["goals"]}
    assert goals["soak_errors"]["met"] is False
    assert "| soak at 80% of capacity | failed" in reliability.render(failed)


def test_run_all_wiring_is_opt_in_and_refreshable():
    assert reliability.NAME not in run_all._parse([]).only
    assert reliability.NAME not in run_all._parse(["--only", "all"]).only
    args = run_all._parse(["--refresh", reliability.NAME])
    assert args.only == (reliability.NAME,)
    assert args.soak_seconds == reliability.SOAK_SECONDS == 600
    assert run_all._parse(["--smoke"]).soak_seconds == 20
    assert run_all._parse(["--soak-seconds", "7"]).soak_seconds == 7


def test_a_real_short_soak_has_no_errors(tmp_path):
    staging = reliability._stage(str(tmp_path))
    soaked = reliability.soak(staging, str(tmp_path), soak_seconds=5,
                              warmup_seconds=2)
    assert soaked["errors"] == 0 and soaked["capacity_errors"] == 0
    assert soaked["capacity_requests_per_s"] > 50
    assert soaked["target_requests_per_s"] == (
        reliability.SOAK_FRACTION * soaked["capacity_requests_per_s"])
    assert soaked["requests"] >= 0.9 * 5 * soaked["target_requests_per_s"]
    assert soaked["rss_start_mb"] > 50
    assert len(soaked["samples_s_mb_load"]) >= 2
    for field in ("rss_end_mb", "rss_growth_percent", "p50_ms", "p99_ms",
                  "achieved_requests_per_s", "capacity_after_requests_per_s",
                  "load_average_max"):
        assert isinstance(soaked[field], float), field
