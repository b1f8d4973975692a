"""Continuous training end to end: drift, its gate, the local scheduler.

Forks the shared first run's home (tests/fixtures.py), like test_e2e.py, so
the served version is that run's model trained on real taxi rows; new spans
are synthesized with `tfx-prod data synth --drift`.
"""
import json
import os
import shutil
import signal
import subprocess
import sys
import time

import pytest

from serving import layout
from tests.helpers import (MODEL_NAME, PROJECT, TRAIN_STEPS, component_states,
                           tfx_prod, versions)

# The same worker as test_e2e.py: it shares the `first_run` pipeline run.
pytestmark = [pytest.mark.e2e, pytest.mark.xdist_group("first_run")]


def test_drift_is_measured_gated_and_retrains_under_the_local_scheduler(
        fork, small_data, tmp_path):
    """Drift end to end, in one fork: `tfx-prod drift` per feature, the
    gate, and `schedule --local --on drift`, which ignores a span like the
    last and retrains on a drifted one (a window of it and the span before);
    that run is gated by the Evaluator
    against what is served, so a version is pushed exactly when blessed."""
    data = tmp_path / "data"
    shutil.copytree(small_data, data)
    decisions = fork / "scheduler" / "decisions.jsonl"

    def drift_now(*flags):
        result, _ = tfx_prod("--home", str(fork), "--json", *flags,
                             command=("drift",), home=fork)
        assert result.returncode == 0, result.stderr
        return json.loads(result.stdout)

    def synth(span, level):
        result, _ = tfx_prod("--rows", "3000", "--span", str(span), "--drift",
                             level, "--data-root", str(data),
                             command=("data", "synth"), home=fork)
        assert result.returncode == 0, result.stderr

    def start_scheduler():
        return subprocess.Popen(
            [sys.executable, "-m", "tfx_prod.cli", "schedule", "--local",
             "--on", "drift", "--poll", "1", "--home", str(fork), "--data",
             str(data), "--", "--train-steps", TRAIN_STEPS, "--window", "2",
             "--serving-dir",
             os.path.realpath(fork / "serving")],
            cwd=PROJECT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
            text=True)

    def wait_for(scheduler, event, count=1, timeout=180):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            assert scheduler.poll() is None, scheduler.stdout.read()
            found = ([json.loads(line) for line in
                      decisions.read_text().splitlines()]
                     if decisions.exists() else [])
            if len([e for e in found if e["event"] == event]) >= count:
                return found
            time.sleep(0.5)
        raise AssertionError(f"no {event!r} within {timeout} s")

    def stop(scheduler):
        scheduler.send_signal(signal.SIGTERM)
        output, _ = scheduler.communicate(timeout=120)
        assert scheduler.returncode == 0 and "stopped (SIGTERM)" in output, output

    # The first run had nothing served to compare with, and says so.
    assert drift_now()["baseline_version"] == 0
    [served] = versions(fork)
    scheduler = start_scheduler()
    try:
        wait_for(scheduler, "started")
        synth(2, "0")
        events = wait_for(scheduler, "no_drift")
    finally:
        stop(scheduler)
    assert not [e for e in events if e["event"] == "run_started"]
    record = drift_now("--data", str(data), "--against", served)
    assert (record["span"], record["drifted"]) == ("span-2", [])

    synth(3, "1")
    record = drift_now("--data", str(data), "--against", served)
    assert (record["span"], record["drifted"]) == ("span-3",
                                                  ["fare", "payment_type"])
    # Asked to gate, a run stops before training and says why.
    result, summary = tfx_prod("--train-steps", TRAIN_STEPS, "--drift", "gate",
                               home=fork, data=data)
    assert result.returncode == 3 and summary is not None, result.stderr
    assert "payment_type L-infinity drift" in result.stderr
    assert component_states(summary)["DriftCheck"] == "failed"
    assert versions(fork) == [served]

    # Restarted, the scheduler remembers span 2 and retrains on span 3.
    scheduler = start_scheduler()
    try:
        events = wait_for(scheduler, "run_finished", timeout=900)
    finally:
        stop(scheduler)
    [started] = [e for e in events if e["event"] == "run_started"]
    assert any("span-3: payment_type L-infinity drift" in r
               for r in started["reasons"])
    [finished] = [e for e in events if e["event"] == "run_finished"]
    assert finished["exit_code"] in (0, 4), finished
    pushed = 1 if finished["exit_code"] == 0 else 0
    assert len(versions(fork)) == 1 + pushed
    # It trained on the window: the drifted span and the one before it.
    result, _ = tfx_prod("--home", str(fork), "--json", command=("runs",),
                         home=fork)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)[-1]["spans"] == [3, 2]
    if pushed:
        lineage = layout.read_lineage(
            str(fork / "serving" / MODEL_NAME / versions(fork)[-1]))
        assert [m["span"] for m in lineage["training_spans"]] == [3, 2]
