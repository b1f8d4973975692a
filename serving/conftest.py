"""Session fixtures: test models laid out as pushed versions, and servers.

The pipeline's fixtures (`first_run`, ...) come from tests/fixtures.py, which
the root conftest.py registers for every directory: one shared pipeline run."""
import pytest

from serving import testutil

MODEL_CONFIG = """
model_config_list {
  config {
    name: "default"
    base_path: "%(default)s"
    model_platform: "tensorflow"
  }
  config {
    name: "taxi_like"
    base_path: "%(taxi_like)s"
    model_platform: "tensorflow"
    model_version_policy { all {} }
    version_labels { key: "stable" value: 1 }
    version_labels { key: "canary" value: 2 }
  }
}
"""


@pytest.fixture(scope="session")
def models(tmp_path_factory):
    """default/123 (half_plus_two + model.tflite, schema, no statistics) and
    taxi_like/{1,2} (schema, TFDV statistics, missing-value sentinels)."""
    root = tmp_path_factory.mktemp("models")
    module, signatures = testutil.half_plus_two()
    testutil.write_version(str(root / "default"), 123, module, signatures,
                           schema=testutil.HALF_PLUS_TWO_SCHEMA,
                           tflite_signature="serving_default")
    statistics = testutil.statistics_for(testutil.taxi_like_rows(2000, seed=1))
    for version, bias in ((1, 0.0), (2, 0.5)):
        module, signatures = testutil.taxi_like(bias)
        testutil.write_version(
            str(root / "taxi_like"), version, module, signatures,
            schema=testutil.TAXI_LIKE_SCHEMA, statistics=statistics,
            missing_values=testutil.TAXI_LIKE_MISSING,
            lineage={"version": version, "run": f"test-run-{version}"})
    config = root / "models.config"
    config.write_text(MODEL_CONFIG % {"default": root / "default",
                                      "taxi_like": root / "taxi_like"})
    return root


@pytest.fixture(scope="session")
def server(models):
    """One server for the contract tests: both models, metrics on."""
    with testutil.ServerProcess(f"--model_config_file={models / 'models.config'}",
                                "--rest_api_timeout_in_ms=5000") as process:
        yield process


@pytest.fixture(scope="session")
def grpc_channel(server):
    import grpc
    from serving.grpc_service import CHANNEL_OPTIONS
    channel = grpc.insecure_channel(server.grpc_target, options=CHANNEL_OPTIONS)
    yield channel
    channel.close()

