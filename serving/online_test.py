"""Request ids, `POST /v1/models/{name}/feedback` and the prediction log in a
real server (loopback HTTP and gRPC), and the evidence callable on a real
FeedbackStore with synthetic labels whose answer is known."""
import http.client
import json

import grpc
import numpy as np
import pytest
import tensorflow as tf
from tensorflow_serving.apis import (classification_pb2, predict_pb2,
                                     prediction_service_pb2_grpc)

from serving import examples as examples_lib
from serving import metrics, testutil
from serving.feedback import FeedbackStore
from serving.online import Evidence
from serving.prediction_log import iter_log_rows
from serving.rollout_state import RolloutState
from serving.testutil import rest_json

MODEL = "taxi_like"
ROWS = testutil.taxi_like_rows(3, seed=4)


@pytest.fixture(scope="module")
def log_dir(tmp_path_factory):
    return tmp_path_factory.mktemp("prediction_log")


@pytest.fixture(scope="module")
def feedback_server(models, log_dir):
    with testutil.ServerProcess(
            f"--model_config_file={models / 'models.config'}",
            "--enable_feedback", f"--prediction_log_dir={log_dir}") as server:
        yield server


def _post(server, path, document, headers=None):
    connection = http.client.HTTPConnection("127.0.0.1", server.rest_port,
                                            timeout=30)
    connection.request("POST", path, body=json.dumps(document),
                       headers=headers or {})
    response = connection.getresponse()
    body = response.read()
    connection.close()
    return response.status, dict(response.getheaders()), body


def _predict(server, rows=ROWS, request_id=None, version=1):
    status, headers, body = _post(
        server, f"/v1/models/{MODEL}/versions/{version}:predict",
        {"instances": rows}, {"X-Request-Id": request_id} if request_id
        else None)
    assert status == 200, body
    return headers, json.loads(body)


def _feedback(server, document, model=MODEL):
    return rest_json(f"{server.url}/v1/models/{model}/feedback", document)


def test_predict_echoes_or_makes_a_request_id_and_the_body_stays(
        feedback_server, server):
    headers, answer = _predict(feedback_server, request_id="client-id-1")
    assert headers["X-Request-Id"] == "client-id-1"
    made, again = _predict(feedback_server)
    assert len(made["X-Request-Id"]) == 32 and again == answer
    # Byte for byte what a server without feedback answers.
    plain = _post(server, f"/v1/models/{MODEL}/versions/1:predict",
                  {"instances": ROWS})
    with_id = _post(feedback_server, f"/v1/models/{MODEL}/versions/1:predict",
                    {"instances": ROWS})
    assert with_id[2] == plain[2] and "X-Request-Id" not in plain[1]


def test_feedback_joins_labels_and_says_what_is_wrong(feedback_server):
    _, answer = _predict(feedback_server, request_id="join-1")
    probabilities = [row[0] for row in answer["predictions"]]
    labels = [1, 0, 1]
    status, joined = _feedback(feedback_server, {"request_id": "join-1",
                                                 "labels": labels})
    assert status == 200, joined
    assert (joined["joined"], joined["rows"], joined["correct"]) == (
        1, 3, sum((p >= 0.5) == y for p, y in zip(probabilities, labels)))
    for document, code, words in [
            ({"request_id": "join-1", "labels": labels}, 409,
             "request join-1 already has feedback"),
            ({"request_id": "never-made", "labels": [1]}, 404,
             "no prediction with request id never-made"),
            ({"request_id": "x", "labels": "1"}, 400,
             "labels must be a non-empty list"),
            (b"{", 400, "is not JSON")]:
        status, error = _feedback(feedback_server, document)
        assert status == code and words in error["error"], error
    _predict(feedback_server, request_id="join-2")
    for labels, words in [([1, 0], "predicted 3 row(s); send exactly one "
                                   "label per row"),
                          ([1, 0, 2], "label 2 for request join-2: labels "
                                      "are class indices 0..1")]:
        status, error = _feedback(feedback_server, {"request_id": "join-2",
                                                    "labels": labels})
        assert status == 400 and words in error["error"], error
    # The rejected tries changed nothing: the right labels still join.
    assert _feedback(feedback_server, {"request_id": "join-2",
                                       "labels": [0, 0, 0]})[0] == 200


def test_feedback_route_errors(feedback_server, server):
    _predict(feedback_server, request_id="other-model")
    status, error = _feedback(feedback_server, {"request_id": "other-model",
                                                "labels": [1, 1, 1]},
                              model="default")
    assert status == 404 and "/v1/models/taxi_like/feedback" in error["error"]
    status, error = _feedback(feedback_server, {"request_id": "a",
                                                "labels": [1]}, model="nope")
    assert status == 404 and "no model named 'nope'" in error["error"]
    status, error = rest_json(f"{feedback_server.url}/v1/models/{MODEL}/"
                              "feedback")
    assert status == 400 and "POST the labels" in error["error"]
    status, error = _feedback(server, {"request_id": "a", "labels": [1]})
    assert status == 400 and "--enable_feedback" in error["error"]
    status, headers, body = _post(
        feedback_server, f"/v1/models/{MODEL}/versions/1:predict",
        {"instances": ROWS}, {"X-Request-Id": "has space"})
    assert status == 400 and b"printable ASCII" in body
    assert "X-Request-Id" not in headers


def test_a_batch_joins_the_valid_items_and_lists_the_rest(feedback_server):
    _predict(feedback_server, request_id="batch-1")
    status, headers, body = _post(
        feedback_server, f"/v1/models/{MODEL}/versions/2:classify",
        {"signature_name": "classify", "examples": ROWS[:2]},
        {"X-Request-Id": "batch-2"})
    assert status == 200 and headers["X-Request-Id"] == "batch-2", body
    status, answer = _feedback(feedback_server, {"feedback": [
        {"request_id": "batch-1", "labels": [1, 1, 1]},
        {"request_id": "missing", "labels": [1]},
        {"request_id": "batch-2", "labels": [0, 1]}]})
    assert status == 200, answer
    assert (answer["joined"], answer["rows"]) == (2, 5)
    (rejected,) = answer["rejected"]
    assert (rejected["index"], rejected["request_id"], rejected["status"]) == (
        1, "missing", "NOT_FOUND")
    # A retry of the same batch joins nothing twice.
    status, again = _feedback(feedback_server, {"feedback": [
        {"request_id": "batch-1", "labels": [1, 1, 1]}]})
    assert again["joined"] == 0 and again["rejected"][0]["status"] == \
        "ALREADY_EXISTS"


def _series(server, name):
    _, page = testutil.call_rest(f"{server.url}/monitoring/prometheus/metrics")
    values = {}
    for line in page.decode().splitlines():
        if line.startswith(name + "{"):
            labels, value = line[len(name):].rsplit(" ", 1)
            values[labels] = float(value)
    return values


def test_online_metrics_are_exported_per_version(feedback_server):
    _predict(feedback_server, request_id="metric-1", version=2)
    _feedback(feedback_server, {"request_id": "metric-1", "labels": [1, 0, 0]})
    labels = '{model_name="taxi_like",version="2"}'
    assert _series(feedback_server, metrics.FEEDBACK_LABELS)[labels] >= 3
    accuracy = _series(feedback_server, metrics.ONLINE_ACCURACY)[labels]
    assert 0 <= accuracy <= 1
    assert _series(feedback_server, metrics.ONLINE_LABELLED_ROWS)[labels] >= 3
    rejections = _series(feedback_server, metrics.FEEDBACK_REJECTIONS)
    assert rejections  # the error tests above were counted by status


def test_grpc_sends_the_request_id_back_and_it_takes_feedback(feedback_server):
    channel = grpc.insecure_channel(feedback_server.grpc_target)
    stub = prediction_service_pb2_grpc.PredictionServiceStub(channel)
    request = classification_pb2.ClassificationRequest()
    request.model_spec.name = MODEL
    request.model_spec.signature_name = "classify"
    request.model_spec.version.value = 1
    for row in ROWS[:2]:
        request.input.example_list.examples.add().ParseFromString(
            examples_lib.serialize(examples_lib.features_from_json(row)))
    _, call = stub.Classify.with_call(request, timeout=30, metadata=(
        ("x-request-id", "grpc-1"),))
    assert dict(call.trailing_metadata())["x-request-id"] == "grpc-1"
    predict = predict_pb2.PredictRequest()
    predict.model_spec.name = MODEL
    predict.model_spec.version.value = 1
    for name, dtype in (("fare", tf.float32), ("trip_start_hour", tf.int64),
                        ("payment_type", tf.string), ("company", tf.string),
                        ("dropoff_area", tf.int64)):
        predict.inputs[name].CopyFrom(tf.make_tensor_proto(
            [row[name] for row in ROWS], dtype=dtype))
    _, call = stub.Predict.with_call(predict, timeout=30)
    made = dict(call.trailing_metadata())["x-request-id"]
    channel.close()
    assert len(made) == 32
    assert _feedback(feedback_server, {"request_id": "grpc-1",
                                       "labels": [0, 1]})[0] == 200
    assert _feedback(feedback_server, {"request_id": made,
                                       "labels": [0, 1, 1]})[0] == 200


def test_the_log_has_the_rows_drift_reads(feedback_server, log_dir):
    _predict(feedback_server, request_id="logged-1")
    feedback_server.stop()              # SIGTERM: the log is flushed
    records = [r for r in iter_log_rows(str(log_dir))
               if r["request_id"] == "logged-1"]
    assert [r["row"] for r in records] == [0, 1, 2]
    assert [r["features"] for r in records] == ROWS
    assert {(r["model_name"], r["version"]) for r in records} == {(MODEL, 1)}
    assert all(0 <= r["score"] <= 1 for r in records)


# --- the evidence callable on a real store --------------------------------------

def _labelled(store, version, accuracy, n, rng, at=10.0):
    """n rows whose predictions are right with probability `accuracy`."""
    scores = rng.uniform(0, 1, n)
    right = rng.random(n) < accuracy
    labels = np.where(right, scores >= 0.5, scores < 0.5).astype(int)
    for i in range(0, n, 10):
        rid = f"v{version}-{at}-{i}"
        store.record(rid, "m", version, scores[i:i + 10], predicted_at=at)
        store.add_feedback(rid, labels[i:i + 10].tolist())


def _state(started=5.0):
    return RolloutState("m", stable=1, canary=2, state="running",
                        started=started)


@pytest.mark.parametrize("metric", ["accuracy", "auc"])
def test_evidence_passes_a_good_canary_and_flags_a_worse_one(metric):
    rng = np.random.default_rng(0)
    good, bad = FeedbackStore(), FeedbackStore()
    for store, canary_accuracy in ((good, 0.8), (bad, 0.6)):
        _labelled(store, 1, 0.8, 3000, rng)
        _labelled(store, 2, canary_accuracy, 3000, rng)
    evidence = dict(confidence=0.95, margin=0.08, min_labels=500)
    passed = Evidence(good, metric, **evidence)(_state())
    assert passed["passed"] and not passed["worse"], passed["reason"]
    # 3000 rows reach look 3 (500 * 2**2 = 2000 rows each, alpha 0.05/8).
    assert (passed["n_canary"], passed["n_stable"]) == (2000, 2000)
    assert passed["look"] == 3 and passed["confidence"] == 1 - 0.05 / 8
    assert passed["p_value"] < 0.05 and passed["metric"] == metric
    worse = Evidence(bad, metric, **evidence)(_state())
    assert worse["worse"] and not worse["passed"]
    assert worse["p_worse"] < 0.05 and "A/B test on labels (" in \
        worse["reason"]


def test_evidence_counts_only_rows_predicted_since_the_rollout_started():
    rng = np.random.default_rng(1)
    store = FeedbackStore()
    _labelled(store, 1, 0.8, 400, rng, at=1.0)      # before the rollout
    _labelled(store, 1, 0.8, 300, rng, at=10.0)
    _labelled(store, 2, 0.8, 300, rng, at=10.0)
    decision = Evidence(store, "accuracy", confidence=0.95, margin=0.05,
                        min_labels=350)(_state(started=5.0))
    assert (decision["n_canary"], decision["n_stable"]) == (300, 300)
    assert not decision["passed"] and not decision["worse"]
    assert decision["reason"].endswith("need ≥ 350 labelled predictions per "
                                       "version, have canary 300, stable 300")


def test_looks_keep_the_false_pass_rate_below_alpha_as_labels_arrive():
    """Canary exactly `margin` worse (H0 true): asked after every 100 labels
    up to 800, it may pass in at most ~5% of rollouts over all asks."""
    rng = np.random.default_rng(7)
    trials, passes = 300, 0
    for trial in range(trials):
        store = FeedbackStore()
        evidence = Evidence(store, "accuracy", confidence=0.95, margin=0.05,
                            min_labels=100)
        passed = False
        for batch in range(8):
            at = 10.0 + batch
            _labelled(store, 1, 0.80, 100, rng, at=at)
            _labelled(store, 2, 0.75, 100, rng, at=at)
            passed |= evidence(_state())["passed"]
        passes += passed
    assert passes / trials < 0.06
