"""kfp_submit with the REAL kfp.Client against a FAKE KFP API server (fake_kfp).

No cluster exists here; the fake records the wire traffic a real API server
would receive, so these tests assert on bytes and JSON bodies, not on mocks.
"""
import json

import pytest
import yaml
from google.protobuf import json_format
from kfp.pipeline_spec import pipeline_spec_pb2

from orchestration import fake_kfp, kfp_submit
from orchestration.fake_kfp import API

TOKEN = "s3cret-token"
SPEC = {
    "pipelineInfo": {"name": "tiny-pipe"},
    "schemaVersion": "2.1.0",
    "sdkVersion": "tfx-1.16.0",
    "root": {
        "inputDefinitions": {"parameters": {
            "data_root": {"parameterType": "STRING"},
            "train_steps": {"parameterType": "NUMBER_INTEGER"},
        }},
        "dag": {"tasks": {"gen": {"taskInfo": {"name": "gen"},
                                  "componentRef": {"name": "comp-gen"}}}},
    },
    "components": {"comp-gen": {"executorLabel": "exec-gen"}},
    "deploymentSpec": {"executors": {"exec-gen": {
        "container": {"image": "busybox", "command": ["true"]}}}},
}
PARAMS = {"data_root": "gs://b/data", "train_steps": "7"}


def write_package(directory) -> str:
    """A bare PipelineSpec YAML (what `tfx-prod compile` writes), checked by kfp's proto."""
    json_format.ParseDict(SPEC, pipeline_spec_pb2.PipelineSpec())  # strict, like kfp.Client
    path = directory / "pipeline.yaml"
    path.write_text("# compiled by a test\n" + yaml.safe_dump(SPEC))
    return str(path)


def write_token(directory) -> str:
    path = directory / "token"
    path.write_text(TOKEN + "\n")
    return str(path)


@pytest.fixture
def fake(tmp_path, monkeypatch):
    monkeypatch.setenv("HOME", str(tmp_path))  # kfp.Client writes ~/.config/kfp
    monkeypatch.delenv("KF_PIPELINES_ENDPOINT", raising=False)
    with fake_kfp.FakeKfp() as server:
        yield server


def test_submit_against_fake_kfp_api_sends_exact_params_root_and_token(fake, tmp_path):
    package = write_package(tmp_path)
    result = kfp_submit.submit(package, fake.url, PARAMS, pipeline_root="gs://b/root",
                               token_file=write_token(tmp_path), wait=True)
    assert (result.run_id, result.state) == ("run-1", "SUCCEEDED")
    [run] = fake.find("POST", f"{API}/runs")
    body = run.json()
    assert body["runtime_config"] == {
        "parameters": {"data_root": "gs://b/data", "train_steps": 7},
        "pipeline_root": "gs://b/root"}
    assert body["pipeline_spec"]["pipelineInfo"] == {"name": "tiny-pipe"}
    caching = body["pipeline_spec"]["root"]["dag"]["tasks"]["gen"]["cachingOptions"]
    assert caching.get("enableCache") is not True  # enable_caching=False reached the spec
    assert [e.json() for e in fake.find("POST", f"{API}/experiments")] == [
        {"display_name": "tfx-prod", "namespace": ""}]
    assert fake.find("GET", f"{API}/runs/run-1")
    assert fake.requests and all(
        r.headers.get("authorization") == f"Bearer {TOKEN}" for r in fake.requests)


def test_schedule_against_fake_kfp_api_uploads_exact_bytes_and_6_field_cron(fake, tmp_path):
    package = write_package(tmp_path)
    result = kfp_submit.schedule(package, fake.url, "0 3 * * *", PARAMS,
                                 max_concurrency=2, name="nightly",
                                 token_file=write_token(tmp_path))
    assert (result.cron_sent, result.recurring_run_id) == ("0 0 3 * * *", "rr-1")
    with open(package, "rb") as f:
        package_bytes = f.read()
    [upload] = fake.find("POST", f"{API}/pipelines/upload")
    [version] = fake.find("POST", f"{API}/pipelines/upload_version")
    assert upload.query["name"] == "nightly"
    assert upload.files["uploadfile"] == package_bytes
    assert version.files["uploadfile"] == package_bytes
    assert version.query["pipelineid"] == "pipe-1"
    [job] = fake.find("POST", f"{API}/recurringruns")
    body = job.json()
    assert body["trigger"] == {"cron_schedule": {"cron": "0 0 3 * * *"}}
    assert body["max_concurrency"] == 2
    assert body["no_catchup"] is True
    assert body["pipeline_version_reference"] == {"pipeline_id": "pipe-1",
                                                  "pipeline_version_id": "ver-1"}
    assert body["runtime_config"]["parameters"] == {"data_root": "gs://b/data",
                                                    "train_steps": 7}
    assert all(r.headers.get("authorization") == f"Bearer {TOKEN}" for r in fake.requests)


def test_schedule_against_fake_kfp_api_catchup_sends_no_catchup_false(fake, tmp_path):
    kfp_submit.schedule(write_package(tmp_path), fake.url, "30 1 * * 1", PARAMS,
                        catchup=True)
    [job] = fake.find("POST", f"{API}/recurringruns")
    assert job.json()["no_catchup"] is False
    assert job.json()["trigger"]["cron_schedule"]["cron"] == "0 30 1 * * 1"


@pytest.mark.parametrize("params, words", [
    ({"data_root": "x"}, ["'train_steps' is missing"]),
    ({**PARAMS, "epochs": "3"}, ["'epochs' is not a parameter"]),
    ({"train_steps": "many", "data_root": "x"}, ["train_steps", "NUMBER_INTEGER"]),
])
def test_bad_params_refused_before_any_request_to_fake_kfp_api(fake, tmp_path, params, words):
    package = write_package(tmp_path)
    for call in (lambda: kfp_submit.submit(package, fake.url, params),
                 lambda: kfp_submit.schedule(package, fake.url, "0 3 * * *", params)):
        with pytest.raises(kfp_submit.InputError) as e:
            call()
        assert all(w in str(e.value) for w in words), str(e.value)
    assert fake.requests == []


@pytest.mark.parametrize("kwargs, words", [
    ({"max_concurrency": 0}, "1..10"),
    ({"max_concurrency": 11}, "1..10"),
    ({"timezone": "Europe/Berlin"}, "UTC"),
    ({"timezone": "Europe/London"}, "UTC"),  # UTC+0 only in winter
    ({"timezone": "Mars/Olympus"}, "unknown timezone"),
])
def test_bad_schedule_settings_refused_before_fake_kfp_api_is_contacted(
        fake, tmp_path, kwargs, words):
    with pytest.raises(ValueError, match=words):
        kfp_submit.schedule(write_package(tmp_path), fake.url, "0 3 * * *", PARAMS, **kwargs)
    assert fake.requests == []


def test_utc_timezone_is_accepted_for_kfp(fake, tmp_path):
    kfp_submit.schedule(write_package(tmp_path), fake.url, "0 3 * * *", PARAMS,
                        timezone="UTC")
    assert fake.find("POST", f"{API}/recurringruns")


def test_fake_kfp_api_500_becomes_submit_error_with_host_step_and_message(fake, tmp_path):
    fake.fail("POST", f"{API}/runs", 500, "database is on fire")
    with pytest.raises(kfp_submit.SubmitError) as e:
        kfp_submit.submit(write_package(tmp_path), fake.url, PARAMS)
    message = str(e.value)
    assert not isinstance(e.value, kfp_submit.InputError)
    assert fake.url in message and "create run" in message
    assert "HTTP 500" in message and "database is on fire" in message
    assert "\n" not in message


@pytest.mark.parametrize("five, six", [
    ("0 3 * * *", "0 0 3 * * *"),
    ("*/15 * * * *", "0 */15 * * * *"),
    ("  5 4 1 * 0 ", "0 5 4 1 * 0"),
])
def test_to_kfp_cron_prepends_seconds(five, six):
    assert kfp_submit.to_kfp_cron(five) == six


@pytest.mark.parametrize("bad", ["0 0 3 * * *", "0 3 * *", "", "@daily"])
def test_to_kfp_cron_refuses_anything_but_5_fields(bad):
    with pytest.raises(ValueError, match="5 .*seconds first"):
        kfp_submit.to_kfp_cron(bad)


def test_parse_params():
    assert kfp_submit.parse_params(["a=1", "b=x=y", "c="]) == {"a": "1", "b": "x=y", "c": ""}
    for bad in (["novalue"], ["=v"], ["a=1", "a=2"]):
        with pytest.raises(ValueError):
            kfp_submit.parse_params(bad)


def test_fake_kfp_records_query_and_json():
    """The fake's own recording, without kfp: guards the other tests' evidence."""
    import urllib.request
    with fake_kfp.FakeKfp() as server:
        request = urllib.request.Request(f"{server.url}{API}/runs?x=1",
                                         data=json.dumps({"a": 1}).encode(), method="POST")
        with urllib.request.urlopen(request) as reply:
            assert json.load(reply)["run_id"] == "run-1"
    [seen] = server.requests
    assert (seen.query, seen.json()) == ({"x": "1"}, {"a": 1})


def test_a_spec_the_backend_rejects_is_refused_before_any_request_to_fake_kfp_api(
        fake, tmp_path, monkeypatch):
    resolver = {**SPEC, "deploymentSpec": {"executors": {"exec-gen": {
        "resolver": {"outputArtifactQueries": {}}}}}}
    monkeypatch.setattr(f"{__name__}.SPEC", resolver)
    package = write_package(tmp_path)
    with pytest.raises(kfp_submit.InputError, match="resolver"):
        kfp_submit.submit(package, fake.url, PARAMS)
    assert fake.requests == []
