"""Canary rollout in a real server under a bounded loopback load.

An `--auto_canary` server per case; a version is pushed into its model base while
4 clients (many sticky keys each) send predicts: an erroring, a slow and a
constant canary are each rolled back by themselves with the reason and the
numbers recorded, a good one reaches 100% — with zero failed requests in
all. Then `kill -9` mid-rollout and a restart: same state, same versions.
"""
import json
import signal
import time

import pytest

from serving import testutil
from serving.testutil import Load, rest_json, wait_for

pytestmark = pytest.mark.xdist_group("rollout_e2e")  # one server at a time
MODEL = "taxi_like"
FLAGS = ("--auto_canary", "--rollout_steps=20,50,100",
         "--rollout_hold_seconds=2", "--rollout_check_seconds=0.3",
         "--rollout_min_requests=40", "--file_system_poll_wait_seconds=0.3",
         "--rollout_max_confidence_distance=0.2")


def _push(base, version, **model_args):
    module, signatures = testutil.taxi_like(**model_args)
    testutil.write_version(base, version, module, signatures,
                           schema=testutil.TAXI_LIKE_SCHEMA,
                           missing_values=testutil.TAXI_LIKE_MISSING)


def _rollout(server, history=False):
    status, body = rest_json(f"{server.url}/v1/models/{MODEL}/rollout"
                             + ("?history=0" if history else ""))
    assert status == 200, body
    return body


def _wait(server, accept, timeout=180):
    deadline = time.monotonic() + timeout
    state = None
    while time.monotonic() < deadline:
        state = _rollout(server)
        if accept(state):
            return state
        time.sleep(0.2)
    raise AssertionError(f"rollout never got there: {json.dumps(state)[:2000]}")


@pytest.fixture
def base(tmp_path):
    """A model base holding version 1 only: each case starts from a known
    stable, so one case's outcome cannot decide the next one's."""
    root = tmp_path / MODEL
    _push(str(root), 1)
    return root


@pytest.fixture(scope="module")
def body():
    return json.dumps({"instances": testutil.taxi_like_rows(4, seed=3)}).encode()


def _serve(base):
    return testutil.ServerProcess(f"--model_base_path={base}",
                                  f"--model_name={MODEL}", *FLAGS)


@pytest.mark.parametrize("version, fault, reason", [
    (2, "error", "error rate"), (3, "slow", "P99"),
    (4, "constant", "confidence distribution")])
def test_bad_canary_is_rolled_back_by_itself(base, body, version, fault,
                                             reason):
    with _serve(base) as server, Load(server.rest_port,
                                      f"/v1/models/{MODEL}:predict", body,
                                      keys_per_client=50) as load:
        assert _rollout(server)["stable"] == 1
        _push(str(base), version, fault=fault)
        state = _wait(server, lambda s: version in s["rejected"])
        assert state["stable"] == 1 and version in state["rejected"]
        assert reason in state["reason"], state["reason"]
        history = _rollout(server, history=True)["history"]
        rollback = [e for e in history if e["event"] == "rollback"][-1]
        assert rollback["rolled_back_version"] == version
        assert rollback["numbers"]["canary"]["requests"] > 0
        # Default traffic is on stable again; the bad version is unloaded.
        status, answer = rest_json(f"{server.url}/v1/models/{MODEL}/metadata")
        assert status == 200 and answer["model_spec"]["version"] == "1"
        assert wait_for(lambda: _served(server) == [1], 30)
        time.sleep(0.5)                    # traffic after the rollback too
    assert load.failed == [] and load.ok > 100, load.failed[:5]


def test_good_canary_reaches_100_percent_then_kill_9_keeps_state(base, body):
    with _serve(base) as server, Load(server.rest_port,
                                      f"/v1/models/{MODEL}:predict", body,
                                      keys_per_client=50) as load:
        _push(str(base), 5, bias=0.02)
        _wait(server, lambda s: s["canary"] == 5)
        state = _wait(server, lambda s: s["state"] == "promoted", timeout=120)
        assert state["stable"] == 5 and state["canary"] is None
        events = [e["event"] for e in _rollout(server, True)["history"]
                  if e.get("canary") in (5, None)][-3:]
        assert events == ["start", "advance", "promote"]
        # The promoted version answers default traffic.
        status, answer = rest_json(f"{server.url}/v1/models/{MODEL}/labels/"
                                   "stable/metadata")
        assert status == 200 and answer["model_spec"]["version"] == "5"
        # Next: the operator aborts the auto-canary of 6 and restarts it by
        # hand with a long hold, then kill -9 mid-rollout.
        _push(str(base), 6, bias=0.01)
        _wait(server, lambda s: s["canary"] == 6)
        status, aborted = rest_json(
            f"{server.url}/v1/models/{MODEL}/rollout:abort", b"")
        assert status == 200 and aborted["event"] == "abort", aborted
        status, started = rest_json(
            f"{server.url}/v1/models/{MODEL}/rollout",
            {"canary": 6, "steps": [10, 100], "hold_seconds": 3600})
        assert status == 200 and started["percent"] == 10, started
        before = _rollout(server)
        server.stop(signal.SIGKILL)
    assert load.failed == [] or all(f[0] == "connection" for f in load.failed)
    with _serve(base) as again:
        after = _rollout(again)
        for field in ("stable", "canary", "percent", "step", "steps",
                      "step_started", "state", "rejected"):
            assert after[field] == before[field], field
        assert _served(again) == [5, 6]
        assert _rollout(again, True)["history"][-1]["event"] == "resumed"


def _served(server):
    _, status = rest_json(f"{server.url}/v1/models/{MODEL}")
    return sorted(int(v["version"]) for v in status["model_version_status"]
                  if v["state"] == "AVAILABLE")
