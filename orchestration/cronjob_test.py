"""CronJob manifests, validated offline through the kubernetes client's model."""
import copy

import pytest
import yaml

from orchestration import cronjob


def manifest(**kwargs):
    return cronjob.cronjob_manifest(
        "nightly", "0 3 * * *", "registry/tfx-prod:1", "http://ml-pipeline:8888",
        {"data_root": "gs://b/data", "train_steps": "7"}, **kwargs)


def test_manifest_is_valid_cronjob_running_submit():
    m = manifest(timezone="Europe/Berlin", namespace="ml",
                 pipeline_root="gs://b/root")
    cronjob.validate_cronjob(m)
    spec = m["spec"]
    assert (spec["schedule"], spec["concurrencyPolicy"], spec["timeZone"]) == (
        "0 3 * * *", "Forbid", "Europe/Berlin")
    assert spec["startingDeadlineSeconds"] == 300
    job = spec["jobTemplate"]["spec"]
    assert job["template"]["spec"]["restartPolicy"] == "Never"
    assert "backoffLimit" in job
    assert job["template"]["spec"]["containers"][0]["command"] == [
        "tfx-prod", "submit", "--host", "http://ml-pipeline:8888",
        "--package", "/etc/tfx-prod/pipeline.yaml", "--pipeline-root", "gs://b/root",
        "--namespace", "ml", "--param", "data_root=gs://b/data", "--param", "train_steps=7"]
    assert yaml.safe_load(cronjob.to_yaml(m)) == m


def test_the_package_reaches_the_pod_through_a_mounted_config_map():
    m = manifest()
    config_map = cronjob.package_config_map("nightly", "schemaVersion: 2.1.0\n")
    cronjob.validate_config_map(config_map)
    pod = m["spec"]["jobTemplate"]["spec"]["template"]["spec"]
    [volume] = pod["volumes"]
    assert volume["configMap"]["name"] == config_map["metadata"]["name"]
    [mount] = pod["containers"][0]["volumeMounts"]
    package = pod["containers"][0]["command"][
        pod["containers"][0]["command"].index("--package") + 1]
    assert package == f"{mount['mountPath']}/{cronjob.PACKAGE_KEY}"
    assert cronjob.PACKAGE_KEY in config_map["data"]
    assert list(yaml.safe_load_all(cronjob.to_yaml(config_map, m))) == [config_map, m]


def test_a_package_too_big_for_a_config_map_is_refused():
    big = cronjob.package_config_map("n", "x" * (cronjob.CONFIG_MAP_MAX_BYTES + 1))
    with pytest.raises(ValueError, match="at most 1048576"):
        cronjob.validate_config_map(big)
    typo = cronjob.package_config_map("n", "x")
    typo["dta"] = typo.pop("data")
    with pytest.raises(ValueError, match="unknown key dta"):
        cronjob.validate_config_map(typo)


def test_manifest_without_timezone_has_no_timezone_key():
    assert "timeZone" not in manifest()["spec"]


@pytest.mark.parametrize("break_it, words", [
    (lambda s: s.__setitem__("concurrencypolicy", s.pop("concurrencyPolicy")),
     "spec.concurrencypolicy"),
    (lambda s: s["jobTemplate"]["spec"]["template"]["spec"]["containers"][0]
     .__setitem__("comand", ["x"]), "containers[0].comand"),
    (lambda s: s.__setitem__("concurrencyPolicy", "Nope"), "concurrencyPolicy 'Nope'"),
    (lambda s: s.__setitem__("schedule", "0 0 3 * * *"), "5 fields"),
    (lambda s: s.__setitem__("timeZone", "Mars/Olympus"), "unknown timezone"),
    (lambda s: s.__setitem__("startingDeadlineSeconds", 5), "may never start"),
    (lambda s: s.pop("jobTemplate"), "incomplete"),
])
def test_validate_cronjob_catches(break_it, words):
    m = copy.deepcopy(manifest())
    break_it(m["spec"])
    with pytest.raises(ValueError, match=words.replace("[", r"\[").replace("]", r"\]")):
        cronjob.validate_cronjob(m)
