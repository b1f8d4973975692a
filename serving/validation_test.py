"""Schema validation through the real server: each rule gives a 400 (gRPC
INVALID_ARGUMENT) that names the feature and the rule, and is counted."""
import json

import grpc
import pytest
import tensorflow as tf
from tensorflow_serving.apis import (classification_pb2, predict_pb2,
                                     prediction_service_pb2_grpc)

from serving.testutil import call_rest, rest_json

GOOD = {"fare": 10.0, "trip_start_hour": 12, "payment_type": "Cash",
        "company": "Flash Cab", "dropoff_area": 8}


def _predict(server, row, version=1):
    return rest_json(f"{server.url}/v1/models/taxi_like/versions/{version}:predict",
                     {"instances": [row]})


def _counter(server, feature, rule) -> int:
    _, body = call_rest(server.url + "/monitoring/prometheus/metrics")
    prefix = (':tfx_prod:serving:validation_errors{model_name="taxi_like",'
              f'feature="{feature}",rule="{rule}"}} ')
    for line in body.decode().splitlines():
        if line.startswith(prefix):
            return int(line[len(prefix):])
    return 0


@pytest.mark.parametrize("change,feature,rule,message", [
    ({"trip_start_hour": 24}, "trip_start_hour", "range",
     "feature 'trip_start_hour': range: 24 is above the schema's range [0, 23]"),
    ({"fare": -1.5}, "fare", "range",
     "feature 'fare': range: -1.5 is below the schema's range [0, +inf]"),
    ({"fare": float("nan")}, "fare", "non_finite",
     "feature 'fare': non_finite: NaN is not allowed (the schema's float_domain "
     "has no `disallow_nan: false`)"),
    ({"fare": float("inf")}, "fare", "non_finite",
     "feature 'fare': non_finite: inf is not allowed (the schema's "
     "float_domain has no `disallow_inf: false`)"),
    ({"payment_type": "Bitcoin"}, "payment_type", "domain",
     "feature 'payment_type': domain: b'Bitcoin' is not in the schema's "
     "string_domain (2 values)"),
    ({"dropoff_area": 0}, "dropoff_area", "range",
     "feature 'dropoff_area': range: 0 is below the schema's range [1, 77]"),
    ({"fare": "ten"}, "fare", "type", None),
])
def test_each_rule_is_a_400_naming_feature_and_rule(server, change, feature,
                                                    rule, message):
    before = _counter(server, feature, rule)
    status, body = _predict(server, {**GOOD, **change})
    assert status == 400, body
    if message:
        assert body == {"error": message}
    assert _counter(server, feature, rule) == before + 1


def test_missing_input_is_required_rule(server):
    row = dict(GOOD)
    del row["fare"]
    before = _counter(server, "fare", "required")
    status, body = _predict(server, row)
    assert status == 400 and "keys must be equal to" in body["error"]
    assert _counter(server, "fare", "required") == before + 1


def test_valid_rows_pass_including_sentinels_and_tolerated_domain(server):
    # dropoff_area -1 and company "" are the version's missing-value
    # sentinels for optional features; "New Co" is outside company's domain,
    # which the schema tolerates (min_domain_mass 0.9): counted, not refused.
    for change in ({}, {"dropoff_area": -1}, {"company": ""},
                   {"company": "New Co"}, {"fare": 0.0}):
        status, body = _predict(server, {**GOOD, **change})
        assert status == 200, (change, body)
    _, page = call_rest(server.url + "/monitoring/prometheus/metrics")
    assert ':tfx_prod:serving:out_of_domain_values{model_name="taxi_like",' \
           'feature="company"}' in page.decode()


def test_examples_required_type_and_label_environment(server):
    url = f"{server.url}/v1/models/taxi_like/versions/1:classify"
    example = {"fare": 10.0, "trip_start_hour": 12, "payment_type": "Cash"}
    # The label `tips` is not_in_environment SERVING: absent is fine.
    assert rest_json(url, {"signature_name": "classify",
                           "examples": [example]})[0] == 200
    status, body = rest_json(url, {"signature_name": "classify",
                                   "examples": [{"fare": 10.0,
                                                 "payment_type": "Cash"}]})
    assert (status, body) == (400, {"error": (
        "feature 'trip_start_hour': required: example 0 lacks it, but the "
        "schema says every request has it (presence.min_fraction 1.0)")})
    status, body = rest_json(url, {"signature_name": "classify",
                                   "examples": [{**example, "fare": 10}]})
    assert (status, body) == (400, {"error": (
        "feature 'fare': type: example 0 has int64_list, the schema says "
        "FLOAT (float_list)")})
    status, body = rest_json(url, {"signature_name": "classify",
                                   "examples": [{**example, "fare": [1.0, 2.0]}]})
    assert status == 400 and body["error"].startswith(
        "feature 'fare': value_count: example 0 has 2 values")


def test_serialized_examples_in_predict_are_validated(server):
    import base64
    example = tf.train.Example(features=tf.train.Features(feature={
        "fare": tf.train.Feature(float_list=tf.train.FloatList(value=[10.0])),
        "trip_start_hour": tf.train.Feature(int64_list=tf.train.Int64List(value=[99])),
        "payment_type": tf.train.Feature(bytes_list=tf.train.BytesList(value=[b"Cash"])),
    })).SerializeToString()
    status, body = rest_json(
        f"{server.url}/v1/models/taxi_like/versions/1:predict",
        {"signature_name": "serving_tf_example",
         "instances": [{"b64": base64.b64encode(example).decode()}]})
    assert (status, body["error"]) == (
        400, "feature 'trip_start_hour': range: 99 is above the schema's range "
             "[0, 23]")
    status, body = rest_json(
        f"{server.url}/v1/models/taxi_like/versions/1:predict",
        {"signature_name": "serving_tf_example",
         "instances": [{"b64": base64.b64encode(b"\xff\xff not a proto").decode()}]})
    assert (status, body["error"]) == (
        400, "input example 0 is not a serialized tf.Example")


def test_grpc_gets_invalid_argument_naming_feature(grpc_channel):
    stub = prediction_service_pb2_grpc.PredictionServiceStub(grpc_channel)
    request = predict_pb2.PredictRequest()
    request.model_spec.name = "taxi_like"
    request.model_spec.version.value = 1
    values = {**GOOD, "trip_start_hour": 30}
    dtypes = {"trip_start_hour": tf.int64, "dropoff_area": tf.int64}
    for name, value in values.items():
        request.inputs[name].CopyFrom(tf.make_tensor_proto(
            [value], dtype=dtypes.get(name)))
    with pytest.raises(grpc.RpcError) as error:
        stub.Predict(request, 20)
    assert error.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert error.value.details() == ("feature 'trip_start_hour': range: 30 is "
                                     "above the schema's range [0, 23]")
    classify = classification_pb2.ClassificationRequest()
    classify.model_spec.name = "taxi_like"
    classify.model_spec.signature_name = "classify"
    example = classify.input.example_list.examples.add()
    example.features.feature["fare"].float_list.value.append(1.0)
    example.features.feature["payment_type"].bytes_list.value.append(b"Cash")
    example.features.feature["trip_start_hour"].int64_list.value.append(-3)
    with pytest.raises(grpc.RpcError) as error:
        stub.Classify(classify, 20)
    assert error.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "feature 'trip_start_hour': range: -3" in error.value.details()


def test_batch_and_body_size_limits(models):
    from serving.testutil import ServerProcess
    with ServerProcess(f"--model_config_file={models / 'models.config'}",
                       "--max_request_rows=4", "--max_request_bytes=2048",
                       "--port=0") as limited:
        url = f"{limited.url}/v1/models/default:predict"
        assert rest_json(url, {"instances": [1.0] * 4})[0] == 200
        status, body = rest_json(url, {"instances": [1.0] * 5})
        assert (status, body["error"]) == (400, (
            "request: batch_size: 5 rows; this server takes at most 4 "
            "(--max_request_rows)"))
        status, body = rest_json(url, {"instances": [1.0] * 1000})
        assert (status, body["error"]) == (400, (
            "request: body_size: the body exceeds 2048 bytes "
            "(--max_request_bytes)"))
        assert rest_json(url, {"instances": [1.0]})[0] == 200  # still serving


def test_version_without_schema_serves_unvalidated_and_says_so(tmp_path):
    from serving import testutil
    module, signatures = testutil.half_plus_two()
    testutil.write_version(str(tmp_path / "m"), 7, module, signatures)
    with testutil.ServerProcess("--model_name=m", f"--model_base_path={tmp_path / 'm'}",
                                "--port=0") as plain:
        assert rest_json(f"{plain.url}/v1/models/m:predict",
                         {"instances": [5000.0]}) == (200, {"predictions": [2502.0]})
        _, body = rest_json(f"{plain.url}/v1/models/m/metadata")
        assert body["metadata"]["tfx_prod"]["schema_validation"] is False
        assert any("requests are not validated" in n
                   for n in body["metadata"]["tfx_prod"]["notes"])
        assert "no assets.extra/tfx_prod/schema.pbtxt: requests are not " \
               "validated" in plain.log
        _, page = call_rest(plain.url + "/monitoring/prometheus/metrics")
        assert ':tfx_prod:serving:schema_validation_enabled{model_name="m",' \
               'version="7"} 0' in page.decode()


def test_validation_error_body_never_leaks_a_traceback(server):
    status, body = call_rest(f"{server.url}/v1/models/taxi_like:predict",
                             json.dumps({"instances": [{**GOOD, "fare": [[1.0]]}]}).encode())
    assert status == 400
    assert b"Traceback" not in body and b'File "' not in body
