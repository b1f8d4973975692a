"""CronJob manifests, validated offline through the kubernetes client's model."""
import copy

import pytest
import yaml

from orchestration import cronjob


def manifest(**kwargs):
    return cronjob.cronjob_manifest(
        "nightly", "0 3 * * *", "registry/tfx-prod:1", "http://ml-pipeline:8888",
        "/app/pipeline.yaml", {"data_root": "gs://b/data", "train_steps": "7"}, **kwargs)


def test_manifest_is_valid_cronjob_running_submit():
    m = manifest(timezone="Europe/Berlin", namespace="ml")
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
        "--package", "/app/pipeline.yaml",
        "--param", "data_root=gs://b/data", "--param", "train_steps=7"]
    assert yaml.safe_load(cronjob.to_yaml(m)) == m


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
