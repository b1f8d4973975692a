"""Property-based fuzzing: thousands of malformed REST bodies and gRPC
messages get only client errors, the server stays healthy and its memory
stays flat (RSS measured before and after, printed with -s)."""
import json
import random

import grpc
import pytest
from hypothesis import HealthCheck, given, settings, strategies as st
from tensorflow_serving.apis import predict_pb2

from serving import testutil
from serving.testutil import call_rest, rest_json

# Any JSON value, and documents shaped like the requests the server expects.
json_values = st.recursive(
    st.none() | st.booleans() | st.integers(min_value=-2**70, max_value=2**70)
    | st.floats(allow_nan=True, allow_infinity=True) | st.text(max_size=8),
    lambda children: st.lists(children, max_size=4)
    | st.dictionaries(st.sampled_from(["b64", "x", "fare", ""]) | st.text(max_size=4),
                      children, max_size=3),
    max_leaves=8)
feature_names = st.sampled_from(["fare", "trip_start_hour", "payment_type",
                                 "company", "dropoff_area", "x", "b64", "tips"])
documents = st.one_of(
    json_values,
    st.fixed_dictionaries({"instances": st.lists(
        st.dictionaries(feature_names, json_values, max_size=6), max_size=4)}),
    st.fixed_dictionaries({"inputs": st.dictionaries(feature_names, json_values,
                                                     max_size=6)}),
    st.fixed_dictionaries({"signature_name": json_values,
                           "examples": st.lists(st.dictionaries(
                               feature_names, json_values, max_size=6),
                               max_size=4)}),
)
raw_bodies = st.binary(max_size=300)
paths = st.sampled_from([
    "/v1/models/taxi_like:predict", "/v1/models/taxi_like/versions/1:classify",
    "/v1/models/taxi_like:regress", "/v1/models/default:predict",
    "/v1/models/default:classify"])


@pytest.fixture(scope="module")
def fuzzed_server(models):
    with testutil.ServerProcess(f"--model_config_file={models / 'models.config'}",
                                "--max_request_rows=50") as process:
        # Warm every path once so RSS "before" includes the steady state.
        for _ in range(50):
            call_rest(f"{process.url}/v1/models/default:predict",
                      b'{"instances": [1.0]}')
        yield process


def _assert_client_error(status, body):
    assert status is not None, "the server did not answer"
    assert status < 500 or status == 501, (status, body)
    assert b"Traceback" not in body


def test_fuzz_rest_and_grpc_rss_flat(fuzzed_server, capsys):
    server = fuzzed_server
    rss_before = server.rss_bytes()
    counts = {"json": 0, "bytes": 0, "grpc": 0, "ok": 0}

    @settings(max_examples=1000, deadline=None, derandomize=True, database=None,
              suppress_health_check=list(HealthCheck))
    @given(path=paths, document=documents)
    def fuzz_json(path, document):
        status, body = call_rest(server.url + path, json.dumps(document).encode())
        counts["json"] += 1
        counts["ok"] += status == 200
        _assert_client_error(status, body)

    @settings(max_examples=500, deadline=None, derandomize=True, database=None,
              suppress_health_check=list(HealthCheck))
    @given(path=paths, body=raw_bodies)
    def fuzz_bytes(path, body):
        status, reply = call_rest(server.url + path, body)
        counts["bytes"] += 1
        _assert_client_error(status, reply)

    fuzz_json()
    fuzz_bytes()

    # gRPC: random bytes as a PredictRequest, and mutated valid requests.
    channel = grpc.insecure_channel(server.grpc_target)
    raw = channel.unary_unary("/tensorflow.serving.PredictionService/Predict",
                              request_serializer=lambda b: b,
                              response_deserializer=lambda b: b)
    good = predict_pb2.PredictRequest()
    good.model_spec.name = "default"
    good.inputs["x"].dtype = 1
    good.inputs["x"].tensor_shape.dim.add(size=1)
    good.inputs["x"].float_val.append(2.0)
    valid = good.SerializeToString()
    rng = random.Random(7)
    for i in range(1000):
        if i % 2:
            payload = bytes(rng.randrange(256) for _ in range(rng.randrange(1, 80)))
        else:
            mutated = bytearray(valid)
            for _ in range(rng.randrange(1, 4)):
                mutated[rng.randrange(len(mutated))] = rng.randrange(256)
            payload = bytes(mutated)
        try:
            raw(payload, timeout=10)
        except grpc.RpcError as e:
            assert e.code() not in (grpc.StatusCode.INTERNAL,
                                    grpc.StatusCode.UNKNOWN,
                                    grpc.StatusCode.DEADLINE_EXCEEDED,
                                    grpc.StatusCode.UNAVAILABLE), e.details()
        counts["grpc"] += 1
    channel.close()

    assert rest_json(f"{server.url}/v1/models/taxi_like")[0] == 200
    assert rest_json(f"{server.url}/v1/models/default:predict",
                     {"instances": [2.0]}) == (200, {"predictions": [3.0]})
    rss_after = server.rss_bytes()
    growth = (rss_after - rss_before) / rss_before
    with capsys.disabled():
        print(f"\nfuzz: {counts['json']} JSON bodies ({counts['ok']} valid), "
              f"{counts['bytes']} raw bodies, {counts['grpc']} gRPC messages; "
              f"RSS {rss_before / 2**20:.1f} MiB -> {rss_after / 2**20:.1f} MiB "
              f"({growth:+.1%})")
    assert counts["json"] >= 1000 and counts["bytes"] >= 500
    assert growth < 0.05, f"RSS grew {growth:.1%}"
