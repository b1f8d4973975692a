"""The local scheduler's decisions, with a real child process per run.

The child here is a tiny Python command standing in for `tfx-prod run`
(what is tested is when runs start, stack or stop, not the pipeline); the
real pipeline under the scheduler is tests/test_e2e.py's drift test. The
clock is injected so cron minutes pass instantly.
"""
import datetime
import json
import sys
import time

import pytest

from orchestration import cron, local_scheduler

T0 = datetime.datetime(2026, 12, 3, 2, 58, tzinfo=datetime.timezone.utc)


class Clock:
    def __init__(self):
        self.now = T0

    def __call__(self):
        return self.now

    def advance(self, minutes):
        self.now += datetime.timedelta(minutes=minutes)


def _span(tmp_path, number):
    (tmp_path / "data" / f"span-{number}").mkdir(parents=True, exist_ok=True)
    (tmp_path / "data" / f"span-{number}" / "data.csv").write_text("a,b\n1,2\n")


def _scheduler(tmp_path, clock, child_seconds=0.0, exit_code=0, **kwargs):
    _span(tmp_path, 1)
    argv = [sys.executable, "-c",
            f"import time, sys; time.sleep({child_seconds}); sys.exit({exit_code})"]
    return local_scheduler.Scheduler(
        data_root=str(tmp_path / "data"), model_base=str(tmp_path / "serving"),
        run_argv=argv, decisions_path=str(tmp_path / "log" / "decisions.jsonl"),
        state_path=str(tmp_path / "log" / "state.json"), clock=clock,
        echo=lambda line: None, **kwargs)


def _events(tmp_path):
    lines = (tmp_path / "log" / "decisions.jsonl").read_text().splitlines()
    return [json.loads(line) for line in lines]


def _wait_done(scheduler):
    for _ in range(200):
        scheduler.poll()
        if scheduler._child is None:  # pylint: disable=protected-access
            return
        time.sleep(0.05)
    raise AssertionError("child did not finish")


def test_a_cron_tick_runs_once_and_a_tick_during_a_run_is_skipped(tmp_path):
    clock = Clock()
    scheduler = _scheduler(tmp_path, clock, child_seconds=2,
                           cron=cron.parse("* * * * *"))
    scheduler.start()
    clock.advance(1)
    scheduler.poll()          # 02:59: a run starts
    clock.advance(1)
    scheduler.poll()          # 03:00 while it runs: skipped, not queued
    _wait_done(scheduler)
    events = [e["event"] for e in _events(tmp_path)]
    assert events == ["started", "run_started", "cron_skipped", "run_finished"]
    assert _events(tmp_path)[2]["message"] == (
        "cron tick 03:00 skipped: run in progress")


def test_missed_ticks_after_a_pause_are_one_run_not_many(tmp_path):
    clock = Clock()
    scheduler = _scheduler(tmp_path, clock, cron=cron.parse("*/10 * * * *"))
    scheduler.start()
    clock.advance(60)         # asleep for an hour: six ticks missed
    scheduler.poll()
    _wait_done(scheduler)
    events = _events(tmp_path)
    assert [e["event"] for e in events] == [
        "started", "cron_missed", "run_started", "run_finished"]
    assert events[1]["ticks"] == 6
    assert events[2]["reasons"] == ["cron tick 03:50"]


def test_a_new_span_fires_once_and_a_restart_remembers_it(tmp_path):
    clock = Clock()
    scheduler = _scheduler(tmp_path, clock, exit_code=4,
                           triggers=("new-span",))
    scheduler.start()
    scheduler.poll()          # span-1 existed before: not new
    (tmp_path / "data" / "span-2").mkdir()
    scheduler.poll()          # an empty folder is not a span yet
    _span(tmp_path, 2)
    scheduler.poll()          # files seen: wait one poll for them to settle
    assert scheduler._child is None  # pylint: disable=protected-access
    scheduler.poll()
    _wait_done(scheduler)
    again = _scheduler(tmp_path, clock, triggers=("new-span",))
    again.start()
    again.poll()              # span-2 was already handled
    events = _events(tmp_path)
    assert [e["event"] for e in events] == [
        "started", "new_span", "run_started", "run_finished", "started"]
    assert events[2]["reasons"] == ["span-2 appeared"]
    assert events[3]["message"] == "run finished: exit 4 (not blessed: nothing pushed)"


def test_drift_with_nothing_served_fires_and_says_why(tmp_path):
    clock = Clock()
    scheduler = _scheduler(tmp_path, clock, triggers=("drift",))
    scheduler.start()
    _span(tmp_path, 2)
    scheduler.poll()
    scheduler.poll()
    _wait_done(scheduler)
    drift = [e for e in _events(tmp_path) if e["event"] == "drift"]
    assert drift[0]["reasons"] == ["nothing served yet"]


def test_stop_interrupts_the_run_and_logs_its_outcome(tmp_path):
    clock = Clock()
    scheduler = _scheduler(tmp_path, clock, child_seconds=60,
                           triggers=("new-span",))
    scheduler.start()
    _span(tmp_path, 2)
    scheduler.poll()
    scheduler.poll()
    started = time.monotonic()
    scheduler.stop("SIGTERM")
    scheduler._reap(wait=True)  # pylint: disable=protected-access
    assert time.monotonic() - started < 30
    finished = _events(tmp_path)[-1]
    assert finished["event"] == "run_finished"
    assert finished["exit_code"] == -15  # the stand-in child has no handler


@pytest.mark.parametrize("argv, words", [
    (["--local"], "nothing would ever run"),
    (["--local", "--cron", "0 3 * *"], "has 4 fields"),
    (["--local", "--on", "drift", "--timezone", "Europe/Berlin"], "in UTC"),
    (["--on", "drift"], "need --local"),
])
def test_bad_local_schedules_exit_2(argv, words, capsys, tmp_path):
    from tfx_prod.cli import main
    assert main(["schedule", "--home", str(tmp_path), *argv]) == 2
    assert words in capsys.readouterr().err


def test_emit_writes_the_same_schedule_for_cron_and_systemd(tmp_path, capsys):
    from tfx_prod.cli import main
    home = tmp_path / "home"
    assert main(["schedule", "--local", "--cron", "15 4 * * *", "--emit",
                 "cron", "--home", str(home), "--", "--train-steps", "50"]) == 0
    line = capsys.readouterr().out
    assert line.startswith("15 4 * * * cd ")
    assert f"tfx_prod.cli run --home {home}" in line
    assert line.rstrip().endswith(f">> {home}/logs/cron.log 2>&1")
    units = tmp_path / "units"
    assert main(["schedule", "--local", "--on", "drift", "--emit", "systemd",
                 "--home", str(home), "-o", str(units)]) == 0
    service = (units / "tfx-prod.service").read_text()
    assert "schedule --local" in service and "--on drift" in service
    assert "Restart=on-failure" in service
    assert main(["schedule", "--local", "--on", "drift", "--emit", "cron",
                 "--home", str(home)]) == 2
    assert "use --emit systemd" in capsys.readouterr().err
