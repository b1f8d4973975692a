"""TF Serving's own integration tests (`tensorflow_model_server_test.py`,
`http_rest_api_handler_test.cc`) against `tfx-prod serve`: real server on
free ports, plain urllib, the real tensorflow-serving-api stubs, exact JSON
bodies and protos."""
import json

import grpc
import numpy as np
import pytest
import tensorflow as tf
from google.protobuf import json_format
from tensorflow.python.tools import saved_model_utils
from tensorflow_serving.apis import (classification_pb2, get_model_metadata_pb2,
                                     get_model_status_pb2, inference_pb2,
                                     model_service_pb2_grpc, predict_pb2,
                                     prediction_service_pb2_grpc, regression_pb2)

from serving.testutil import call_rest, rest_json

RPC_TIMEOUT = 20.0


def _url(server, path):
    return server.url + path


# --- REST ----------------------------------------------------------------------

def test_get_status_rest(server):
    status, body = rest_json(_url(server, "/v1/models/default"))
    assert status == 200
    assert body == {"model_version_status": [{
        "version": "123", "state": "AVAILABLE",
        "status": {"error_code": "OK", "error_message": ""}}]}


def test_get_status_rest_by_version_and_errors(server):
    assert rest_json(_url(server, "/v1/models/default/versions/123"))[1] == \
        rest_json(_url(server, "/v1/models/default"))[1]
    assert rest_json(_url(server, "/v1/models/default/versions/50")) == (
        404, {"error": "Could not find version 50 of model default"})
    assert rest_json(_url(server, "/v1/models/nope")) == (
        404, {"error": "Could not find any versions of model nope"})
    assert rest_json(_url(server, "/v1/models")) == (
        400, {"error": "Missing model name in request."})


def test_status_lists_every_version_newest_first(server):
    status, body = rest_json(_url(server, "/v1/models/taxi_like"))
    assert status == 200
    assert [(e["version"], e["state"]) for e in body["model_version_status"]] \
        == [("2", "AVAILABLE"), ("1", "AVAILABLE")]


def test_get_model_metadata_rest(server, models):
    status, body = rest_json(_url(server, "/v1/models/default/metadata"))
    assert status == 200
    assert body["model_spec"] == {"name": "default", "signature_name": "",
                                  "version": "123"}
    meta_graph = saved_model_utils.get_meta_graph_def(
        str(models / "default" / "123"), "serve")
    golden = {key: json_format.MessageToDict(
        value, including_default_value_fields=True,
        preserving_proto_field_name=True)
        for key, value in meta_graph.signature_def.items()}
    assert body["metadata"]["signature_def"] == {"signature_def": golden}
    assert set(golden) >= {"serving_default", "classify_x_to_y", "regress_x_to_y"}
    x = golden["serving_default"]["inputs"]["x"]
    assert x["dtype"] == "DT_FLOAT" and x["tensor_shape"] == {
        "dim": [{"size": "-1", "name": ""}], "unknown_rank": False}
    ours = body["metadata"]["tfx_prod"]
    assert ours["schema_validation"] is True and ours["validated_features"] == ["x"]
    assert ours["lineage"] == {"version": 123}


def test_metadata_exposes_lineage_per_version(server):
    for version in (1, 2):
        _, body = rest_json(_url(server, f"/v1/models/taxi_like/versions/{version}/metadata"))
        assert body["model_spec"]["version"] == str(version)
        assert body["metadata"]["tfx_prod"]["lineage"] == {
            "version": version, "run": f"test-run-{version}"}
        assert "fare" in body["metadata"]["tfx_prod"]["drift_features"]


def test_predict_rest(server):
    assert rest_json(_url(server, "/v1/models/default:predict"),
                     {"instances": [2.0, 3.0, 4.0]}) == (
        200, {"predictions": [3.0, 3.5, 4.0]})


def test_predict_columnar_rest(server):
    assert rest_json(_url(server, "/v1/models/default:predict"),
                     {"inputs": [2.0, 3.0, 4.0]}) == (
        200, {"outputs": [3.0, 3.5, 4.0]})


def test_predict_rest_signature_version_label_routing(server):
    row = {"fare": 10.0, "trip_start_hour": 12, "payment_type": "Cash",
           "company": "Flash Cab", "dropoff_area": 8}
    expected = {1: 1 / (1 + np.exp(-0.0)), 2: 1 / (1 + np.exp(-0.5))}
    for path, version in (("/versions/1", 1), ("/versions/2", 2),
                          ("/labels/stable", 1), ("/labels/canary", 2), ("", 2)):
        status, body = rest_json(
            _url(server, f"/v1/models/taxi_like{path}:predict"),
            {"signature_name": "serving_default", "instances": [row]})
        assert status == 200, body
        assert body["predictions"][0][0] == pytest.approx(expected[version],
                                                          abs=1e-6), path
    assert rest_json(_url(server, "/v1/models/taxi_like/labels/nope:predict"),
                     {"instances": [row]}) == (
        400, {"error": "Unrecognized servable version label: nope"})
    assert rest_json(_url(server, "/v1/models/default/versions/50:predict"),
                     {"instances": [1.0]}) == (
        404, {"error": "Servable not found for request: Specific(default, 50)"})


def test_predict_rest_multiple_outputs_and_examples_input(server):
    import base64
    example = tf.train.Example(features=tf.train.Features(feature={
        "fare": tf.train.Feature(float_list=tf.train.FloatList(value=[10.0])),
        "trip_start_hour": tf.train.Feature(int64_list=tf.train.Int64List(value=[12])),
        "payment_type": tf.train.Feature(bytes_list=tf.train.BytesList(value=[b"Cash"])),
    })).SerializeToString()
    status, body = rest_json(
        _url(server, "/v1/models/taxi_like/versions/1:predict"),
        {"signature_name": "serving_tf_example",
         "instances": [{"b64": base64.b64encode(example).decode()}]})
    assert status == 200, body
    assert body == {"predictions": [[0.5]]}


def test_classify_rest(server):
    assert rest_json(_url(server, "/v1/models/default:classify"),
                     {"signature_name": "classify_x_to_y",
                      "examples": [{"x": 2.0}]}) == (
        200, {"results": [[["", 3.0]]]})


def test_regress_rest(server):
    assert rest_json(_url(server, "/v1/models/default:regress"),
                     {"signature_name": "regress_x_to_y",
                      "examples": [{"x": 2.0}]}) == (200, {"results": [3.0]})


def test_classify_rest_with_classes_and_context(server):
    status, body = rest_json(
        _url(server, "/v1/models/taxi_like/versions/1:classify"),
        {"signature_name": "classify",
         "context": {"trip_start_hour": 12, "payment_type": "Cash"},
         "examples": [{"fare": 10.0}, {"fare": 30.0}]})
    assert status == 200, body
    p = [1 / (1 + np.exp(-(0.05 * fare - 0.5))) for fare in (10.0, 30.0)]
    assert [[label for label, _ in row] for row in body["results"]] == \
        [["0", "1"], ["0", "1"]]
    assert [row[1][1] for row in body["results"]] == pytest.approx(p, abs=1e-6)


@pytest.mark.parametrize("method,path,message", [
    ("GET", "/v1/foo", "Malformed request: GET /v1/foo"),
    ("GET", "/v1/models/foo:predict", "Malformed request: GET /v1/models/foo:predict"),
    ("POST", "/v1/models/foo/version/50:regress",
     "Malformed request: POST /v1/models/foo/version/50:regress"),
    ("POST", "/v1/models/foo/versions/HELLO:regress",
     "Malformed request: POST /v1/models/foo/versions/HELLO:regress"),
    ("POST", "/v1/models/foo/metadata", "Malformed request: POST /v1/models/foo/metadata"),
    ("POST", "/v1/models/foo/versions/50/labels/some_label:regress",
     "Malformed request: POST /v1/models/foo/versions/50/labels/some_label:regress"),
])
def test_malformed_paths_rest(server, method, path, message):
    status, body = call_rest(_url(server, path), b"{}" if method == "POST" else None)
    assert (status, json.loads(body)) == (400, {"error": message})


@pytest.mark.parametrize("document,status,message", [
    (b"", 400, "JSON Parse error: The document is empty"),
    (b"[1, 2", 400, None),
    ({"instances": ["x"]}, 400,
     "Failed to process element: 0 of 'instances' list. Error: INVALID_ARGUMENT:"
     " JSON Value: \"x\" Type: String is not of expected type: float"),
    ({"signature_name": 100, "instances": [1.0]}, 400,
     "JSON Value: {\"signature_name\":100,\"instances\":[1.0]} not formatted "
     "correctly. 'signature_name' key must be a string value."),
    ({"signature_name": "nope", "instances": [1.0]}, 400,
     'Serving signature name: "nope" not found in signature def'),
    ({"instances": []}, 400, "JSON Value: {\"instances\":[]} No values in "
     "'instances' array"),
    ({"nothing": 1}, 400, "Missing 'inputs' or 'instances' key"),
    ({"instances": [1.0], "inputs": [1.0]}, 400,
     "JSON Value: {\"instances\":[1.0],\"inputs\":[1.0]} Not formatted correctly "
     "expecting only one of 'inputs' or 'instances' keys to exist "),
    ({"instances": [{"b64": "aGk="}]}, 400,
     "Failed to process element: 0 of 'instances' list. Error: INVALID_ARGUMENT:"
     " JSON Value: {\"b64\":\"aGk=\"} Type: Object is not of expected type: float"),
    ({"instances": [[1.0], 2.0]}, 400, "Failed to process element: 1 of "
     "'instances' list. Error: INVALID_ARGUMENT: Expecting shape [1] but got: []"),
])
def test_predict_errors_rest(server, document, status, message):
    data = document if isinstance(document, bytes) else json.dumps(document).encode()
    got_status, body = call_rest(_url(server, "/v1/models/default:predict"), data)
    assert got_status == status
    if message is None:
        assert json.loads(body)["error"].startswith("JSON Parse error: ")
    else:
        assert json.loads(body) == {"error": message}


def test_every_response_is_json_with_exact_headers(server):
    import http.client
    for method, path, body in (("GET", "/v1/models/default", None),
                               ("POST", "/v1/models/default:predict", b'{"instances":[1.0]}'),
                               ("POST", "/v1/models/default:predict", b"{"),
                               ("GET", "/v1/foo", None)):
        connection = http.client.HTTPConnection("127.0.0.1", server.rest_port)
        connection.request(method, path, body=body)
        response = connection.getresponse()
        response.read()
        assert {k.lower() for k, _ in response.getheaders()} == \
            {"content-type", "content-length"}
        assert response.getheader("Content-Type") == "application/json"
        connection.close()


def test_not_v1_is_404_and_paths_are_case_insensitive(server):
    assert call_rest(_url(server, "/statuspage"))[0] == 404
    assert rest_json(_url(server, "/V1/MODELS/default:PREDICT"),
                     {"instances": [2.0]}) == (200, {"predictions": [3.0]})


def test_gzip_body_and_expect_continue(server):
    import gzip
    import http.client
    body = gzip.compress(json.dumps({"instances": [2.0]}).encode())
    status, reply = call_rest(_url(server, "/v1/models/default:predict"), body,
                              headers={"Content-Encoding": "gzip"})
    assert (status, json.loads(reply)) == (200, {"predictions": [3.0]})
    connection = http.client.HTTPConnection("127.0.0.1", server.rest_port)
    connection.request("POST", "/v1/models/default:predict",
                       body=b'{"instances": [4.0]}',
                       headers={"Expect": "100-continue"})
    response = connection.getresponse()
    assert (response.status, json.loads(response.read())) == (
        200, {"predictions": [4.0]})


# --- gRPC ------------------------------------------------------------------------

def _verify_model_spec(spec, name, version, signature):
    assert (spec.name, spec.version.value, spec.signature_name) == (
        name, version, signature)


def test_get_model_status_grpc(grpc_channel):
    stub = model_service_pb2_grpc.ModelServiceStub(grpc_channel)
    request = get_model_status_pb2.GetModelStatusRequest()
    request.model_spec.name = "default"
    result = stub.GetModelStatus(request, RPC_TIMEOUT)
    assert len(result.model_version_status) == 1
    assert result.model_version_status[0].version == 123
    assert result.model_version_status[0].state == \
        get_model_status_pb2.ModelVersionStatus.AVAILABLE
    assert result.model_version_status[0].status.error_code == 0


def test_get_model_metadata_grpc(grpc_channel, models):
    stub = prediction_service_pb2_grpc.PredictionServiceStub(grpc_channel)
    request = get_model_metadata_pb2.GetModelMetadataRequest()
    request.model_spec.name = "default"
    request.metadata_field.append("signature_def")
    result = stub.GetModelMetadata(request, RPC_TIMEOUT)
    assert result.model_spec.name == "default"
    assert result.model_spec.version.value == 123
    assert len(result.metadata) == 1
    signatures = get_model_metadata_pb2.SignatureDefMap()
    assert result.metadata["signature_def"].Unpack(signatures)
    meta_graph = saved_model_utils.get_meta_graph_def(
        str(models / "default" / "123"), "serve")
    assert dict(signatures.signature_def) == dict(meta_graph.signature_def)
    request.ClearField("metadata_field")
    with pytest.raises(grpc.RpcError) as error:
        stub.GetModelMetadata(request, RPC_TIMEOUT)
    assert error.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert error.value.details() == \
        "GetModelMetadataRequest must specify at least one metadata_field"


@pytest.mark.parametrize("output_filter", [[], ["y"]])
def test_predict_grpc(grpc_channel, output_filter):
    stub = prediction_service_pb2_grpc.PredictionServiceStub(grpc_channel)
    request = predict_pb2.PredictRequest()
    request.model_spec.name = "default"
    request.inputs["x"].CopyFrom(tf.make_tensor_proto([2.0], shape=[1]))
    request.output_filter.extend(output_filter)
    result = stub.Predict(request, RPC_TIMEOUT)
    assert len(result.outputs["y"].float_val) == 1
    assert result.outputs["y"].float_val[0] == 3.0
    assert not result.outputs["y"].tensor_content
    _verify_model_spec(result.model_spec, "default", 123, "serving_default")


def test_predict_grpc_accepts_tensor_content_and_routes_labels(grpc_channel):
    stub = prediction_service_pb2_grpc.PredictionServiceStub(grpc_channel)
    request = predict_pb2.PredictRequest()
    request.model_spec.name = "default"
    request.inputs["x"].CopyFrom(tf.make_tensor_proto([2.0, 4.0, 6.0]))
    assert request.inputs["x"].tensor_content       # the packed form
    result = stub.Predict(request, RPC_TIMEOUT)
    assert list(result.outputs["y"].float_val) == [3.0, 4.0, 5.0]
    columns = {"fare": [10.0], "trip_start_hour": [12], "payment_type": [b"Cash"],
               "company": [b""], "dropoff_area": [-1]}
    request = predict_pb2.PredictRequest()
    request.model_spec.name = "taxi_like"
    request.model_spec.version_label = "stable"
    dtypes = {"trip_start_hour": tf.int64, "dropoff_area": tf.int64}
    for name, values in columns.items():
        request.inputs[name].CopyFrom(tf.make_tensor_proto(
            values, dtype=dtypes.get(name)))
    result = stub.Predict(request, RPC_TIMEOUT)
    _verify_model_spec(result.model_spec, "taxi_like", 1, "serving_default")
    probabilities = tf.make_ndarray(result.outputs["probabilities"])
    assert probabilities.shape == (1, 1)
    assert probabilities[0, 0] == pytest.approx(0.5)


@pytest.mark.parametrize("mutate,code,details", [
    (lambda r: setattr(r.model_spec, "name", "intentionally_missing_model"),
     grpc.StatusCode.NOT_FOUND,
     "Servable not found for request: Latest(intentionally_missing_model)"),
    (lambda r: setattr(r.model_spec, "signature_name", "nope"),
     grpc.StatusCode.FAILED_PRECONDITION, 'Serving signature key "nope" not found.'),
    (lambda r: r.inputs["z"].CopyFrom(tf.make_tensor_proto([1.0])),
     grpc.StatusCode.INVALID_ARGUMENT,
     "input size does not match signature: 2!=1 len({x,z}) != len({x}). Sent "
     "extra: {z}. Missing but required: {}."),
    (lambda r: r.output_filter.append("w"), grpc.StatusCode.INVALID_ARGUMENT,
     "output tensor alias not found in signature: w Outputs expected to be in "
     "the set {y}."),
    (lambda r: r.inputs["x"].CopyFrom(tf.make_tensor_proto(["a"])),
     grpc.StatusCode.INVALID_ARGUMENT,
     "Expects arg[x] to be float but string is provided"),
])
def test_predict_grpc_errors(grpc_channel, mutate, code, details):
    stub = prediction_service_pb2_grpc.PredictionServiceStub(grpc_channel)
    request = predict_pb2.PredictRequest()
    request.model_spec.name = "default"
    request.inputs["x"].CopyFrom(tf.make_tensor_proto([2.0], shape=[1]))
    mutate(request)
    with pytest.raises(grpc.RpcError) as error:
        stub.Predict(request, RPC_TIMEOUT)
    assert (error.value.code(), error.value.details()) == (code, details)


def _examples_input(message, x=2.0):
    example = message.input.example_list.examples.add()
    example.features.feature["x"].float_list.value.append(x)


def test_classify_grpc(grpc_channel):
    stub = prediction_service_pb2_grpc.PredictionServiceStub(grpc_channel)
    request = classification_pb2.ClassificationRequest()
    request.model_spec.name = "default"
    request.model_spec.signature_name = "classify_x_to_y"
    _examples_input(request)
    result = stub.Classify(request, RPC_TIMEOUT)
    assert len(result.result.classifications) == 1
    assert len(result.result.classifications[0].classes) == 1
    assert result.result.classifications[0].classes[0].score == 3.0
    _verify_model_spec(result.model_spec, "default", 123, "classify_x_to_y")


def test_regress_grpc(grpc_channel):
    stub = prediction_service_pb2_grpc.PredictionServiceStub(grpc_channel)
    request = regression_pb2.RegressionRequest()
    request.model_spec.name = "default"
    request.model_spec.signature_name = "regress_x_to_y"
    _examples_input(request)
    result = stub.Regress(request, RPC_TIMEOUT)
    assert len(result.result.regressions) == 1
    assert result.result.regressions[0].value == 3.0
    _verify_model_spec(result.model_spec, "default", 123, "regress_x_to_y")
    request.model_spec.signature_name = "serving_default"
    with pytest.raises(grpc.RpcError) as error:
        stub.Regress(request, RPC_TIMEOUT)
    assert error.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "No regression inputs found in SignatureDef" in error.value.details()


def test_multi_inference_grpc(grpc_channel):
    stub = prediction_service_pb2_grpc.PredictionServiceStub(grpc_channel)
    request = inference_pb2.MultiInferenceRequest()
    for signature, method in (("regress_x_to_y", "tensorflow/serving/regress"),
                              ("classify_x_to_y", "tensorflow/serving/classify")):
        task = request.tasks.add()
        task.model_spec.name = "default"
        task.model_spec.signature_name = signature
        task.method_name = method
    _examples_input(request)
    result = stub.MultiInference(request, RPC_TIMEOUT)
    assert len(result.results) == 2
    assert result.results[0].regression_result.regressions[0].value == 3.0
    assert result.results[1].classification_result.classifications[0] \
        .classes[0].score == 3.0


def test_prometheus_endpoint(server):
    status, body = call_rest(_url(server, "/monitoring/prometheus/metrics"))
    assert status == 200
    text = body.decode()
    assert "# TYPE :tensorflow:serving:request_count counter" in text
    assert "# TYPE :tensorflow:serving:request_latency histogram" in text
    assert '\n:tensorflow:serving:request_count{model_name="default",status="OK"} ' in text
