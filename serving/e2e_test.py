"""The server on what the real pipeline pushed (`tfx-prod run`, 3,000 taxi
rows): complete version, predictions equal the SavedModel's own, gRPC and
REST agree, lineage exposed, the training schema enforced, TFLite served."""

import time

import numpy as np
import pandas as pd
import pytest
import tensorflow as tf
from tensorflow_serving.apis import predict_pb2, prediction_service_pb2_grpc

from modules.taxi import features
from serving import layout, testutil
from serving.testutil import rest_json

# One worker runs every file sharing the `first_run` pipeline run (make test).
pytestmark = [pytest.mark.e2e, pytest.mark.xdist_group("first_run")]


@pytest.fixture(scope="module")
def pushed(first_run):
    home, result, summary = first_run
    assert result.returncode == 0, result.stderr[-3000:]
    base = home / "serving" / "taxi"
    version = layout.newest_complete_version(str(base))
    assert version is not None, f"no complete version under {base}"
    return base, version


@pytest.fixture(scope="module")
def served(pushed):
    base, _ = pushed
    with testutil.ServerProcess("--model_name=taxi", f"--model_base_path={base}") as server:
        yield server


def _rows(version_dir, count=20):
    """Real rows as REST instances. Blanks need the version's missing-value
    sentinels; without that file, only rows with every input present."""
    frame = pd.read_csv(testutil.REPO + "/data/taxi/span-1/data.csv", nrows=3000)
    inputs = features.model_input_features()
    if not layout.read_missing_values(version_dir):
        frame = frame.dropna(subset=inputs)
    rows = []
    for record in frame.head(count).to_dict("records"):
        row = {}
        for name in inputs:
            value, kind = record[name], features.raw_dtype(name)
            value = features.missing_value(name) if value != value else value
            row[name] = (str(value) if kind == "string" else
                         int(value) if kind == "int" else float(value))
        rows.append(row)
    return rows


def test_pushed_version_carries_what_the_server_needs(pushed):
    base, version = pushed
    path = layout.version_dir(str(base), version)
    for name in (layout.SCHEMA_FILE, layout.STATISTICS_FILE, layout.LINEAGE_FILE):
        assert tf.io.gfile.exists(layout.join(path, name)), name


def test_rest_and_grpc_predictions_equal_the_saved_model(pushed, served):
    base, version = pushed
    path = layout.version_dir(str(base), version)
    rows = _rows(path)
    signature = tf.saved_model.load(path).signatures["serving_default"]
    specs = signature.structured_input_signature[1]
    outputs = signature(**{n: tf.constant([r[n] for r in rows], specs[n].dtype)
                           for n in specs})
    expected = outputs["probabilities"].numpy()
    status, body = rest_json(f"{served.url}/v1/models/taxi:predict",
                             {"instances": rows})
    assert status == 200, body
    # Several outputs: TF Serving's row format gives one object per instance.
    predictions = body["predictions"]
    assert [sorted(p) for p in predictions] == [
        ["classes", "predicted_class", "probabilities"]] * len(rows)
    np.testing.assert_allclose([p["probabilities"] for p in predictions],
                               expected, atol=1e-6)
    assert [p["classes"] for p in predictions] == [
        [c.decode() for c in row] for row in outputs["classes"].numpy()]
    assert [p["predicted_class"] for p in predictions] == [
        c.decode() for c in outputs["predicted_class"].numpy()]
    import grpc
    stub = prediction_service_pb2_grpc.PredictionServiceStub(
        grpc.insecure_channel(served.grpc_target))
    request = predict_pb2.PredictRequest()
    request.model_spec.name = "taxi"
    for name, spec in specs.items():
        request.inputs[name].CopyFrom(tf.make_tensor_proto(
            [rows[0][name]], dtype=spec.dtype))
    response = stub.Predict(request, 30)
    assert response.model_spec.version.value == version
    assert tf.make_ndarray(response.outputs["probabilities"])[0, 0] == \
        pytest.approx(float(expected[0, 0]), abs=1e-6)


def test_metadata_lineage_and_schema_enforced(pushed, served):
    base, version = pushed
    _, body = rest_json(f"{served.url}/v1/models/taxi/metadata")
    assert body["model_spec"]["version"] == str(version)
    assert {"serving_default", "serving_tf_example", "transform_features",
            "predict_transformed"} <= set(body["metadata"]["signature_def"]
                                          ["signature_def"])
    ours = body["metadata"]["tfx_prod"]
    assert ours["lineage"] == layout.read_lineage(layout.version_dir(str(base), version))
    assert ours["schema_validation"] is True
    row = dict(_rows(layout.version_dir(str(base), version), 1)[0], trip_start_hour=24)
    assert rest_json(f"{served.url}/v1/models/taxi:predict", {"instances": [row]}) \
        == (400, {"error": "feature 'trip_start_hour': range: 24 is above the "
                           "schema's range [0, 23]"})


def test_tflite_runtime_serves_the_blessed_flatbuffer(pushed):
    base, version = pushed
    path = layout.version_dir(str(base), version)
    if not tf.io.gfile.exists(layout.join(path, layout.TFLITE_FILE)):
        pytest.fail("the pipeline pushed no model.tflite (the Quantizer blessed "
                    "no variant), so --runtime tflite has nothing to serve")
    interpreter = tf.lite.Interpreter(model_path=layout.join(path, layout.TFLITE_FILE))
    runner = interpreter.get_signature_runner("predict_transformed")
    inputs = {name: np.random.default_rng(0).random((1, d["shape_signature"][1]))
              .astype(np.float32) for name, d in runner.get_input_details().items()}
    expected = runner(**inputs)["probabilities"]
    with testutil.ServerProcess("--model_name=taxi", f"--model_base_path={base}",
                                "--runtime=tflite", "--port=0") as server:
        status, body = rest_json(f"{server.url}/v1/models/taxi:predict", {
            "signature_name": "predict_transformed",
            "instances": [{n: v[0].tolist() for n, v in inputs.items()}]})
        assert status == 200, body
        np.testing.assert_allclose(np.array(body["predictions"]), expected, atol=1e-6)


def test_auto_canary_rolls_a_pushed_model_out_under_load(pushed, tmp_path):
    """The pipeline's real model as stable, the same model re-pushed as a
    new version: `--auto_canary` takes it through every step to stable with
    no failed request (its confidence matches, so it must pass the bounds)."""
    import json
    import shutil
    base, version = pushed
    source = layout.version_dir(str(base), version)
    rollout_base = tmp_path / "taxi"
    shutil.copytree(source, rollout_base / "1")
    rows = _rows(source, 8)
    body = json.dumps({"instances": rows}).encode()
    with testutil.ServerProcess(
            "--model_name=taxi", f"--model_base_path={rollout_base}",
            "--auto_canary", "--rollout_steps=25,100",
            "--rollout_hold_seconds=1", "--rollout_check_seconds=0.3",
            "--rollout_min_requests=30",
            "--file_system_poll_wait_seconds=0.3") as server, testutil.Load(
                server.rest_port, "/v1/models/taxi:predict", body,
                keys_per_client=40) as load:
        staging = tmp_path / ".2.incomplete"
        shutil.copytree(source, staging)
        staging.rename(rollout_base / "2")         # an atomic push
        deadline = time.monotonic() + 90
        state = None
        while time.monotonic() < deadline:
            state = rest_json(f"{server.url}/v1/models/taxi/rollout")[1]
            if state["state"] in ("promoted", "rolled_back"):
                break
            time.sleep(0.3)
        assert state["state"] == "promoted" and state["stable"] == 2, state
    assert load.failed == [] and load.ok > 60, load.failed[:3]
