"""Config files parse with TF Serving's own protos and wording."""
import pytest

from serving import config
from serving.testutil import REPO, ServerProcess, rest_json


def test_model_config_file_with_policy_and_labels():
    configs = config.parse_model_config_text("""
      model_config_list {
        config { name: "a" base_path: "/models/a" model_platform: "tensorflow" }
        config { name: "b" base_path: "/models/b"
                 model_version_policy { specific { versions: 42 versions: 43 } }
                 version_labels { key: "stable" value: 42 }
                 version_labels { key: "canary" value: 43 } }
        config { name: "c" base_path: "/models/c"
                 model_version_policy { latest { num_versions: 3 } } }
      }""")
    assert [c.name for c in configs] == ["a", "b", "c"]
    assert configs[0].policy.choose([1, 2, 3]) == [3]
    assert configs[1].policy.choose([41, 42, 43, 44]) == [42, 43]
    assert configs[1].label_map() == {"stable": 42, "canary": 43}
    assert configs[2].policy.choose([1, 2, 3, 4]) == [2, 3, 4]


@pytest.mark.parametrize("text,message", [
    ("model_config_list { config { nme: 'a' } }",
     "Error parsing text-format tensorflow.serving.ModelServerConfig"),
    ("model_config_list { config { name: 'a' } }", "needs a name and a base_path"),
    ("model_config_list { config { name: 'a' base_path: '/x' } "
     "config { name: 'a' base_path: '/y' } }", "configured twice"),
    ("model_config_list { config { name: 'a' base_path: '/x' "
     "model_platform: 'pytorch' } }", "model_platform 'pytorch' is not served"),
])
def test_bad_model_configs(text, message):
    with pytest.raises(config.ConfigError, match=message):
        config.parse_model_config_text(text)


def test_batching_parameters_from_tf_serving_testdata():
    parsed = config.parse_batching_parameters(
        "max_batch_size { value: 128 }\nbatch_timeout_micros { value: 0 }\n"
        "max_enqueued_batches { value: 1000000 }\nnum_batch_threads { value: 8 }\n")
    assert (parsed.max_batch_size, parsed.batch_timeout_micros,
            parsed.max_enqueued_batches, parsed.num_batch_threads) == (
        128, 0, 1000000, 8)
    with pytest.raises(config.ConfigError, match="Last entry in allowed_batch_sizes "
                       "must match max_batch_size; last entry was 8; expected 16"):
        config.parse_batching_parameters(
            "max_batch_size { value: 16 } allowed_batch_sizes: 4 "
            "allowed_batch_sizes: 8")
    with pytest.raises(config.ConfigError, match="BatchingParameters"):
        config.parse_batching_parameters("max_batch_size: 5")


def test_monitoring_config(tmp_path):
    path = tmp_path / "monitoring.config"
    path.write_text('prometheus_config: {\n  enable: true,\n'
                    '  path: "/monitoring/prometheus/metrics"\n}\n')
    assert config.read_prometheus_path(str(path)) == "/monitoring/prometheus/metrics"
    path.write_text("prometheus_config { enable: false }")
    assert config.read_prometheus_path(str(path)) is None


def test_good_model_config_serves_two_models(server):
    """testGoodModelConfig: two models by name from one config file."""
    assert rest_json(f"{server.url}/v1/models/default:predict",
                     {"instances": [2.0]}) == (200, {"predictions": [3.0]})
    status, body = rest_json(f"{server.url}/v1/models/taxi_like/metadata")
    assert status == 200 and body["model_spec"]["name"] == "taxi_like"


def test_bad_model_config_fails_at_start(tmp_path):
    """testBadModelConfig: the server exits and says what did not parse."""
    bad = tmp_path / "bad.config"
    bad.write_text("model_config_list { config { nme: 'x' } }")
    process = ServerProcess(f"--model_config_file={bad}", wait=False)
    assert process.process.wait(timeout=60) == 2
    process.stop()
    assert "Error parsing text-format tensorflow.serving.ModelServerConfig" in \
        process.log


def test_model_config_reload(models, tmp_path):
    """testModelConfigReload: an edited config file is applied while serving."""
    path = tmp_path / "models.config"
    path.write_text("model_config_list { config { name: 'first' base_path: '%s' } }"
                    % (models / "default"))
    with ServerProcess(f"--model_config_file={path}", "--port=0",
                       "--model_config_file_poll_wait_seconds=0.5") as server:
        assert rest_json(f"{server.url}/v1/models/first:predict",
                         {"instances": [2.0]})[0] == 200
        path.write_text("model_config_list { config { name: 'second' "
                        "base_path: '%s' } }" % (models / "default"))
        import time
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if rest_json(f"{server.url}/v1/models/second:predict",
                         {"instances": [2.0]})[0] == 200:
                break
            time.sleep(0.3)
        assert rest_json(f"{server.url}/v1/models/second:predict",
                         {"instances": [2.0]}) == (200, {"predictions": [3.0]})
        assert rest_json(f"{server.url}/v1/models/first:predict",
                         {"instances": [2.0]})[0] == 404


def test_deploy_config_files_parse():
    deploy = f"{REPO}/deploy/serving"
    assert config.read_batching_parameters(f"{deploy}/batching.config") == \
        config.BatchingParameters(max_batch_size=64, batch_timeout_micros=0,
                                  num_batch_threads=2, max_enqueued_batches=64)
    assert config.read_prometheus_path(f"{deploy}/monitoring.config") == \
        config.DEFAULT_PROMETHEUS_PATH
    (model,) = config.read_model_config_file(f"{deploy}/models.config")
    assert (model.name, model.base_path) == ("taxi", "/models/taxi")
