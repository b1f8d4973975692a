"""The local executor's own rules (its end-to-end run: tests/test_kubeflow_local.py)."""
import json
import sys

import pytest
import yaml

from orchestration import local_spec_run
from pipeline import kubeflow_check

BLESSED = ("(inputs.artifacts['model_blessing'].artifacts[0]"
           ".metadata['blessed'] == 1.0)")


def _inputs(blessed):
    return {"artifacts": {"model_blessing": {"artifacts": [
        {"metadata": {"blessed": blessed}}]}}}


def test_the_blessing_condition_tfx_emits_gates_the_task():
    assert local_spec_run.evaluate_condition(BLESSED, _inputs(1))
    assert not local_spec_run.evaluate_condition(BLESSED, _inputs(0))
    both = f"{BLESSED} && !({BLESSED.replace('1.0', '0.0')})"
    assert local_spec_run.evaluate_condition(both, _inputs(1))


def test_a_condition_outside_tfxs_forms_is_refused_not_guessed():
    with pytest.raises(ValueError, match="unsupported condition"):
        local_spec_run.evaluate_condition("__import__('os')", _inputs(1))
    with pytest.raises(ValueError, match="absent"):
        local_spec_run.evaluate_condition(
            BLESSED.replace("model_blessing", "other"), _inputs(1))


def _spec(executor: dict) -> dict:
    """A one-task spec whose task writes its ExecutorInput to its outputFile."""
    return {
        "schemaVersion": "2.1.0", "sdkVersion": "test",
        "pipelineInfo": {"name": "probe"},
        "components": {"Probe": {
            "executorLabel": "Probe_executor",
            "inputDefinitions": {"parameters": {
                "steps": {"parameterType": "NUMBER_INTEGER"}}},
            "outputDefinitions": {"artifacts": {"out": {"artifactType": {
                "instanceSchema": "title: tfx.Model\ntype: object\n"}}}}}},
        "deploymentSpec": {"executors": {"Probe_executor": executor}},
        "root": {"dag": {"tasks": {"Probe": {
            "taskInfo": {"name": "Probe"},
            "componentRef": {"name": "Probe"},
            "inputs": {"parameters": {"steps": {
                "componentInputParameter": "steps"}}}}}},
            "inputDefinitions": {"parameters": {
                "steps": {"parameterType": "NUMBER_INTEGER"}}}},
    }


ECHO = ("import json,sys; e=json.loads(sys.argv[1]); "
        "open(e['outputs']['outputFile'],'w').write(json.dumps("
        "{'artifacts': {'out': {'artifacts': [{'metadata': "
        "{'seen': e['inputs']['parameterValues']['steps']}}]}}}))")


def test_the_spec_command_runs_with_the_executor_input_kfp_builds(tmp_path):
    spec = _spec({"container": {"image": "x", "command": ["python", "-c"],
                                "args": [ECHO, "{{$}}"]}})
    path = tmp_path / "p.yaml"
    path.write_text(yaml.safe_dump(spec))
    run = local_spec_run.run_spec(str(path), {"steps": 7}, str(tmp_path / "root"),
                                  str(tmp_path / "work"), run_id="r1",
                                  log=lambda _: None)
    out = run.outputs["Probe"]["out"]
    assert out["metadata"] == {"seen": 7}
    assert out["uri"] == f"{tmp_path}/root/probe/r1/Probe/out"
    assert (tmp_path / "root/probe/r1/Probe/out").is_dir()


def test_what_oss_rejects_is_rejected_before_any_task_runs(tmp_path):
    marker = tmp_path / "ran"
    spec = _spec({"resolver": {"outputArtifactQueries": {}},
                  "container": {"image": "x", "command": [
                      sys.executable, "-c", f"open({str(marker)!r},'w')"]}})
    path = tmp_path / "p.yaml"
    path.write_text(json.dumps(spec))
    with pytest.raises(kubeflow_check.SpecError, match="resolver"):
        local_spec_run.run_spec(str(path), {"steps": 1}, str(tmp_path),
                                str(tmp_path / "work"), log=lambda _: None)
    with pytest.raises(kubeflow_check.SpecError, match="'steps' is missing"):
        local_spec_run.run_spec(str(path), {}, str(tmp_path),
                                str(tmp_path / "work"), log=lambda _: None)
    assert not marker.exists()


def test_a_failing_task_is_reported_with_its_log(tmp_path):
    spec = _spec({"container": {"image": "x", "command": [
        "python", "-c", "import sys; print('boom'); sys.exit(3)"]}})
    path = tmp_path / "p.yaml"
    path.write_text(yaml.safe_dump(spec))
    with pytest.raises(local_spec_run.TaskFailed, match="(?s)exited 3.*boom"):
        local_spec_run.run_spec(str(path), {"steps": 1}, str(tmp_path),
                                str(tmp_path / "work"), log=lambda _: None)
