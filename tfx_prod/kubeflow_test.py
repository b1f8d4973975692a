"""`tfx-prod submit|schedule` CLI mains against a FAKE KFP API server (no cluster here)."""
import argparse

import pytest
import yaml

from orchestration import fake_kfp
from orchestration.fake_kfp import API
from orchestration.kfp_submit_test import PARAMS, write_package, write_token
from tfx_prod import kubeflow

PARAM_FLAGS = [f for k, v in PARAMS.items() for f in ("--param", f"{k}={v}")]


def run(main, add_arguments, argv):
    parser = argparse.ArgumentParser()
    add_arguments(parser)
    return main(parser.parse_args(argv))


@pytest.fixture
def fake(tmp_path, monkeypatch):
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.delenv("KF_PIPELINES_ENDPOINT", raising=False)
    with fake_kfp.FakeKfp() as server:
        yield server


def test_submit_cli_against_fake_kfp_api_prints_run_id(fake, tmp_path, capsys):
    code = run(kubeflow.submit_main, kubeflow.add_submit_arguments, [
        "--package", write_package(tmp_path), "--host", fake.url,
        "--token-file", write_token(tmp_path), "--pipeline-root", "gs://b/root",
        "--wait", *PARAM_FLAGS])
    out = capsys.readouterr().out
    assert code == 0
    assert "run id: run-1" in out and "SUCCEEDED" in out
    [body] = [r.json() for r in fake.find("POST", f"{API}/runs")]
    assert body["runtime_config"]["pipeline_root"] == "gs://b/root"


def test_submit_cli_wait_on_failed_run_in_fake_kfp_api_exits_1(tmp_path, monkeypatch):
    monkeypatch.setenv("HOME", str(tmp_path))
    with fake_kfp.FakeKfp(run_state="FAILED") as server:
        code = run(kubeflow.submit_main, kubeflow.add_submit_arguments, [
            "--package", write_package(tmp_path), "--host", server.url, "--wait",
            *PARAM_FLAGS])
    assert code == 1


def test_schedule_cli_against_fake_kfp_api_prints_cron_sent(fake, tmp_path, capsys):
    code = run(kubeflow.schedule_main, kubeflow.add_schedule_arguments, [
        "--package", write_package(tmp_path), "--host", fake.url,
        "--cron", "0 3 * * *", "--name", "nightly", *PARAM_FLAGS])
    out = capsys.readouterr().out
    assert code == 0
    assert "KFP cron sent: 0 0 3 * * * (from 0 3 * * *: daily 03:00 UTC)" in out
    assert "recurring run id: rr-1" in out
    [job] = fake.find("POST", f"{API}/recurringruns")
    assert (job.json()["max_concurrency"], job.json()["no_catchup"]) == (1, True)


def test_host_comes_from_kf_pipelines_endpoint(fake, tmp_path, monkeypatch):
    monkeypatch.setenv("KF_PIPELINES_ENDPOINT", fake.url)
    assert run(kubeflow.submit_main, kubeflow.add_submit_arguments, [
        "--package", write_package(tmp_path), *PARAM_FLAGS]) == 0
    assert fake.find("POST", f"{API}/runs")


def test_fake_kfp_api_500_is_one_clear_stderr_line_and_exit_1(fake, tmp_path, capsys):
    fake.fail("POST", f"{API}/recurringruns", 500, "scheduler unavailable")
    code = run(kubeflow.schedule_main, kubeflow.add_schedule_arguments, [
        "--package", write_package(tmp_path), "--host", fake.url, *PARAM_FLAGS])
    err = capsys.readouterr().err
    assert code == 1
    assert err.count("\n") == 1 and err.startswith("error: ")
    assert "create recurring run" in err and "scheduler unavailable" in err


@pytest.mark.parametrize("argv", [
    ["--param", "data_root=x"],                       # missing train_steps
    [*PARAM_FLAGS, "--param", "nope=1"],              # unknown
    [*PARAM_FLAGS, "--cron", "0 0 3 * * *"],          # 6 fields
    [*PARAM_FLAGS, "--max-concurrency", "11"],
    [*PARAM_FLAGS, "--timezone", "America/New_York"],  # KFP runs in UTC
])
def test_bad_schedule_input_exits_2_without_contacting_fake_kfp_api(fake, tmp_path, capsys, argv):
    code = run(kubeflow.schedule_main, kubeflow.add_schedule_arguments, [
        "--package", write_package(tmp_path), "--host", fake.url, *argv])
    assert code == 2
    assert capsys.readouterr().err.startswith("error: ")
    assert fake.requests == []


def test_submit_without_host_exits_2(tmp_path, monkeypatch, capsys):
    monkeypatch.delenv("KF_PIPELINES_ENDPOINT", raising=False)
    code = run(kubeflow.submit_main, kubeflow.add_submit_arguments, [
        "--package", write_package(tmp_path), *PARAM_FLAGS])
    assert code == 2 and "KF_PIPELINES_ENDPOINT" in capsys.readouterr().err


def test_emit_k8s_writes_validated_cronjob_without_contacting_fake_kfp_api(fake, tmp_path):
    out = tmp_path / "cron.yaml"
    code = run(kubeflow.schedule_main, kubeflow.add_schedule_arguments, [
        "--emit", "k8s", "--image", "reg/tfx-prod:1", "--host", fake.url,
        "--package", write_package(tmp_path), "--timezone", "Europe/Berlin",
        "--pipeline-root", "gs://b/root", "--output", str(out), *PARAM_FLAGS])
    assert code == 0
    config_map, manifest = yaml.safe_load_all(out.read_text())
    # The pod submits exactly the compiled file, from the ConfigMap.
    assert config_map["data"]["pipeline.yaml"] == (
        tmp_path / "pipeline.yaml").read_text()
    assert "gs://b/root" in manifest["spec"]["jobTemplate"]["spec"][
        "template"]["spec"]["containers"][0]["command"]
    assert manifest["kind"] == "CronJob"
    assert (manifest["spec"]["schedule"], manifest["spec"]["timeZone"]) == (
        "0 3 * * *", "Europe/Berlin")
    assert fake.requests == []


def test_emit_k8s_needs_image(capsys):
    code = run(kubeflow.schedule_main, kubeflow.add_schedule_arguments, [
        "--emit", "k8s", "--host", "http://x", *PARAM_FLAGS])
    assert code == 2 and "--image" in capsys.readouterr().err


def test_trigger_arguments_are_reusable_by_another_scheduler():
    parser = argparse.ArgumentParser()
    kubeflow.add_trigger_arguments(parser)
    args = parser.parse_args(["--cron", "*/5 * * * *", "--catchup"])
    assert (args.cron, args.max_concurrency, args.catchup, args.timezone) == (
        "*/5 * * * *", 1, True, None)
