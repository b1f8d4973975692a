"""The A/B gate in a real server: promotion decided by labels.

One `--auto_canary --rollout_require=accuracy` server. Rows are served
through default routing (sticky keys spread them over stable and canary)
with an X-Request-Id each; ground truth is drawn from the *stable*
version's probabilities (asked of it by version before any canary), so the
stable model is calibrated by construction and the answer is known:
- a canary with (nearly) the stable's weights is as good -> promoted, the
  p-value and sample sizes in the promote event;
- a canary with its logit shifted by -2 is right far less often (0.41 vs
  0.64 accuracy on these rows) -> rolled back, the reason naming the test
  and its p-value. The unlabelled bounds cannot see this: the confidence
  distance bound is off here (1.0) so that only the labels decide;
- a canary whose predictions get no labels -> holds at its last step.
"""
import http.client
import json
import time

import numpy as np
import pytest

from serving import testutil
from serving.testutil import rest_json

pytestmark = pytest.mark.xdist_group("abtest_e2e")   # one base, in order
MODEL = "taxi_like"
MIN_LABELS = 1500
FLAGS = ("--auto_canary", "--rollout_steps=20,50,100",
         "--rollout_hold_seconds=2", "--rollout_check_seconds=0.3",
         "--rollout_min_requests=20", "--file_system_poll_wait_seconds=0.3",
         "--rollout_max_confidence_distance=1",
         "--rollout_require=accuracy", "--rollout_require_margin=0.1",
         f"--rollout_require_min_labels={MIN_LABELS}")
ROWS_PER_REQUEST = 25


def _push(base, version, **model_args):
    module, signatures = testutil.taxi_like(**model_args)
    testutil.write_version(base, version, module, signatures,
                           schema=testutil.TAXI_LIKE_SCHEMA,
                           missing_values=testutil.TAXI_LIKE_MISSING)


class Client:
    """One keep-alive connection: predicts by default routing, labels."""

    def __init__(self, server):
        self.server = server
        self.connection = http.client.HTTPConnection("127.0.0.1",
                                                     server.rest_port,
                                                     timeout=30)
        self.sent = 0

    def post(self, path, document, headers=None):
        self.connection.request("POST", path, body=json.dumps(document),
                                headers=headers or {})
        response = self.connection.getresponse()
        body = json.loads(response.read())
        assert response.status == 200, body
        return response, body

    def rollout(self, history=False):
        status, body = rest_json(f"{self.server.url}/v1/models/{MODEL}/rollout"
                                 + ("?history=0" if history else ""))
        assert status == 200, body
        return body

    def drive(self, batches, rng, until, label=True, timeout=60):
        """Predicts (and labels from the stable's probabilities) until
        `until(rollout state)`; -> that state."""
        deadline = time.monotonic() + timeout
        state = self.rollout()
        while time.monotonic() < deadline:
            for _ in range(10):
                rows, probabilities = batches[self.sent % len(batches)]
                self.sent += 1
                request_id = f"{self.server.rest_port}-{self.sent}"
                response, _ = self.post(
                    f"/v1/models/{MODEL}:predict", {"instances": rows},
                    {"X-Rollout-Key": f"user-{self.sent}",
                     "X-Request-Id": request_id})
                assert response.getheader("X-Request-Id") == request_id
                if label:
                    labels = (rng.random(len(rows)) < probabilities)
                    _, joined = self.post(
                        f"/v1/models/{MODEL}/feedback",
                        {"request_id": request_id,
                         "labels": labels.astype(int).tolist()})
                    assert joined["joined"] == 1, joined
            state = self.rollout()
            if until(state):
                return state
        raise AssertionError(f"rollout never got there: "
                             f"{json.dumps(state)[:3000]}")

    def close(self):
        self.connection.close()


@pytest.fixture(scope="module")
def base(tmp_path_factory):
    root = tmp_path_factory.mktemp("abtest") / MODEL
    _push(str(root), 1)
    return root


@pytest.fixture(scope="module")
def client(base):
    with testutil.ServerProcess(f"--model_base_path={base}",
                                f"--model_name={MODEL}", *FLAGS) as server:
        client = Client(server)
        yield client
        client.close()


@pytest.fixture(scope="module")
def batches(client):
    """(rows, the stable version 1's P(class 1) for each) to serve."""
    rows = testutil.taxi_like_rows(40 * ROWS_PER_REQUEST, seed=11)
    out = []
    for start in range(0, len(rows), ROWS_PER_REQUEST):
        chunk = rows[start:start + ROWS_PER_REQUEST]
        _, answer = client.post(f"/v1/models/{MODEL}/versions/1:predict",
                                {"instances": chunk})
        out.append((chunk, np.array([p[0] for p in answer["predictions"]])))
    return out


def _last(client, event):
    return [e for e in client.rollout(history=True)["history"]
            if e["event"] == event][-1]


def test_an_as_good_canary_is_promoted_with_its_evidence(base, client,
                                                         batches):
    rng = np.random.default_rng(1)
    assert client.rollout()["stable"] == 1
    _push(str(base), 2, bias=0.02)
    state = client.drive(batches, rng, lambda s: s["state"] == "promoted")
    assert state["stable"] == 2
    promote = _last(client, "promote")
    evidence = promote["evidence"]
    assert evidence["passed"] and not evidence["worse"], evidence
    assert evidence["p_value"] < 0.05 and evidence["metric"] == "accuracy"
    assert min(evidence["n_canary"], evidence["n_stable"]) >= MIN_LABELS
    assert abs(evidence["delta"]) < 0.05        # truly as good
    assert "two-proportion z-test" in evidence["reason"]
    # what `rollout status --history` prints: the promotion says why
    assert promote["reason"].endswith(evidence["reason"]), promote["reason"]


def test_a_canary_worse_on_labels_is_rolled_back_by_the_test(base, client,
                                                             batches):
    rng = np.random.default_rng(2)
    _push(str(base), 3, bias=-2.0)
    state = client.drive(batches, rng, lambda s: 3 in s["rejected"])
    assert state["stable"] == 2 and state["state"] == "rolled_back"
    rollback = _last(client, "rollback")
    assert rollback["rolled_back_version"] == 3
    evidence = rollback["evidence"]
    assert evidence["worse"] and evidence["p_worse"] < 0.05, evidence
    assert evidence["delta"] < -0.15
    assert min(evidence["n_canary"], evidence["n_stable"]) >= MIN_LABELS
    assert "two-proportion z-test" in rollback["reason"]
    assert "p_worse=" in rollback["reason"] and "p=" in rollback["reason"]


def test_without_enough_labels_the_rollout_holds(base, client, batches):
    rng = np.random.default_rng(3)
    _push(str(base), 4, bias=0.01)
    client.drive(batches, rng, lambda s: s["canary"] == 4
                 and s["percent"] == 50, label=False)
    step_started = client.rollout()["step_started"]
    # Well past the 2 s hold, traffic in bounds, no labels: still holding.
    state = client.drive(batches, rng,
                         lambda s: time.time() - step_started > 5,
                         label=False)
    assert (state["state"], state["canary"], state["percent"]) == (
        "running", 4, 50)
    assert not state["evidence"]["passed"]
    assert state["evidence"]["n_canary"] == 0
    assert f"need ≥ {MIN_LABELS} labelled predictions" in \
        state["evidence"]["reason"]
    assert state["online"]["2"]["n"] >= MIN_LABELS   # stable's, from before
    events = [e["event"] for e in client.rollout(history=True)["history"]
              if e.get("canary") == 4]
    assert "promote" not in events and "rollback" not in events
