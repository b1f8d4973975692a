"""The Kubeflow compile: the real create_pipeline() through TFX's V2 compiler."""
import copy
import json
import os
import pathlib

import pytest
import yaml

from pipeline import configs, kubeflow_check, kubeflow_runner

GOLDEN = pathlib.Path(__file__).parent / "testdata" / "kubeflow_structure.json"


@pytest.fixture(scope="module")
def compiled(tmp_path_factory):
    out = tmp_path_factory.mktemp("kfp") / "pipeline.yaml"
    config = configs.taxi_config("gs://bucket/root", "gs://bucket/serving",
                                 enable_cache=False)
    kubeflow_runner.compile_pipeline(config, str(out), image="img:1")
    return config, str(out), kubeflow_check.load(str(out))


def structure(spec: dict) -> dict:
    """What the golden file pins: tasks, their wiring and runtime inputs."""
    tasks = spec["root"]["dag"]["tasks"]
    return {name: {
        "dependentTasks": task.get("dependentTasks", []),
        "artifacts": sorted(task.get("inputs", {}).get("artifacts", {})),
        "runtimeParameters": sorted(
            key for key, value in task.get("inputs", {}).get(
                "parameters", {}).items()
            if "componentInputParameter" in value),
        "condition": task.get("triggerPolicy", {}).get("condition"),
    } for name, task in sorted(tasks.items())}


def test_compiled_spec_passes_the_backend_check_and_kfps_loaders(compiled):
    config, path, spec = compiled
    kubeflow_check.check(spec, kubeflow_runner.run_parameters(config))
    from kfp.client import client as kfp_client
    # Exactly what kfp.Client parses and sends for a package.
    sent = kfp_client._extract_pipeline_yaml(path)  # pylint: disable=protected-access
    assert sent.pipeline_spec.pipeline_info.name == config.pipeline_name
    assert spec["schemaVersion"] == "2.1.0"


def test_no_resolver_and_every_task_runs_our_entrypoint(compiled):
    _, _, spec = compiled
    executors = spec["deploymentSpec"]["executors"]
    assert not [k for k, e in executors.items() if "resolver" in e]
    commands = {tuple(e["container"]["command"]) for e in executors.values()}
    assert commands == {kubeflow_runner.ENTRYPOINT}


def test_what_a_run_varies_is_a_runtime_parameter_without_default(compiled):
    _, _, spec = compiled
    root = kubeflow_check.root_parameters(spec)
    assert set(root) == set(kubeflow_runner.RUNTIME_PARAMETERS)
    assert not [k for k, v in root.items() if "defaultValue" in v]
    tasks = structure(spec)
    assert tasks["CsvExampleGen"]["runtimeParameters"] == ["input_base"]
    assert tasks["Trainer"]["runtimeParameters"] == ["train_steps"]
    assert tasks["Pusher"]["runtimeParameters"] == ["model_base"]
    assert tasks["Evaluator"]["runtimeParameters"] == ["gates"]
    assert tasks["Quantizer"]["runtimeParameters"] == ["max_metric_loss"]


def test_caching_is_off_in_the_spec_itself(compiled):
    """Uploaded versions ignore enable_caching: the spec must carry it."""
    _, _, spec = compiled
    for task in spec["root"]["dag"]["tasks"].values():
        assert not task.get("cachingOptions", {}).get("enableCache")


def test_project_paths_are_relative_to_the_image_workdir(compiled):
    _, path, _ = compiled
    text = pathlib.Path(path).read_text()
    assert str(configs.PROJECT_DIR) not in text
    assert "data/taxi/schema/schema.pbtxt" in text


def test_structure_matches_the_golden_file(compiled):
    """Regenerate after an intended DAG change: UPDATE_GOLDEN=1 pytest ..."""
    _, _, spec = compiled
    got = structure(spec)
    if os.environ.get("UPDATE_GOLDEN"):
        GOLDEN.parent.mkdir(exist_ok=True)
        GOLDEN.write_text(json.dumps(got, indent=2, sort_keys=True) + "\n")
    assert got == json.loads(GOLDEN.read_text()), (
        "the compiled DAG changed; if intended, UPDATE_GOLDEN=1")


def test_run_parameters_come_from_the_config(compiled):
    config, _, _ = compiled
    params = kubeflow_runner.run_parameters(config)
    gates = json.loads(params.pop("gates"))
    assert params == {
        "data_root": config.data_root, "model_base": "gs://bucket/serving/taxi",
        "train_steps": config.train_steps,
        "quantization_budget": config.gates["quantization_max_auc_drop"]}
    # The Evaluator's gates only: the Quantizer's budget is its own parameter.
    assert gates == {key: value for key, value in config.gates.items()
                     if key != "quantization_max_auc_drop"}


def test_output_suffix_must_fit_the_target(tmp_path):
    config = configs.taxi_config("gs://b/root", "gs://b/serving")
    with pytest.raises(ValueError, match="refuses .json"):
        kubeflow_runner.compile_pipeline(config, str(tmp_path / "p.json"))
    with pytest.raises(ValueError, match="must end in .json"):
        kubeflow_runner.compile_pipeline(config, str(tmp_path / "p.yaml"),
                                         target="vertex")


# The backend-mirroring check on deliberately broken copies of the spec.

def _broken(spec, edit):
    spec = copy.deepcopy(spec)
    edit(spec)
    return kubeflow_check.problems(spec)


def test_check_rejects_what_kfp_oss_rejects_and_names_the_task(compiled):
    _, _, spec = compiled
    tasks = lambda s: s["root"]["dag"]["tasks"]  # noqa: E731
    executors = lambda s: s["deploymentSpec"]["executors"]  # noqa: E731
    cases = {
        "accepts only 2.1.0": lambda s: s.update(schemaVersion="2.0.0"),
        "is a resolver": lambda s: executors(s)["Pusher_executor"].update(
            resolver={"outputArtifactQueries": {}}),
        "constantValue": lambda s: tasks(s)["Trainer"]["inputs"][
            "parameters"]["train_steps"].update(
                runtimeValue={"constantValue": {"intValue": 3}}),
        "unknown task 'Nope'": lambda s: tasks(s)["Trainer"][
            "dependentTasks"].append("Nope"),
        "not a valid Argo name": lambda s: tasks(s).update(
            {"Bad_name": tasks(s)["Pusher"]}),
        "reads input 'gone'": lambda s: tasks(s)["Pusher"].update(
            triggerPolicy={"condition": "inputs.artifacts['gone'].artifacts"
                                        "[0].metadata['blessed'] == 1.0"}),
        "form a cycle": lambda s: tasks(s)["CsvExampleGen"].update(
            dependentTasks=["Pusher"]),
        "is not an executor": lambda s: s["components"]["Pusher"].update(
            executorLabel="missing"),
    }
    for expected, edit in cases.items():
        found = _broken(spec, edit)
        assert any(expected in problem for problem in found), (expected, found)


def test_check_requires_every_run_parameter_and_refuses_unknown(compiled):
    config, _, spec = compiled
    params = kubeflow_runner.run_parameters(config)
    del params["train_steps"]
    with pytest.raises(kubeflow_check.SpecError, match="'train_steps' is missing"):
        kubeflow_check.check(spec, params)
    with pytest.raises(kubeflow_check.SpecError, match="'steps' is not a param"):
        kubeflow_check.check(spec, {**params, "train_steps": 1, "steps": 1})


def test_check_refuses_gates_the_evaluator_could_not_apply(compiled):
    """Found at submit, not by a run that fails after training."""
    config, _, spec = compiled
    params = kubeflow_runner.run_parameters(config)
    kubeflow_check.check(spec, params)
    gates = json.loads(params["gates"])
    del gates["min_auc"]
    with pytest.raises(kubeflow_check.SpecError,
                       match="'Evaluator': run parameter 'gates': gate min_auc"):
        kubeflow_check.check(spec, {**params, "gates": json.dumps(gates)})


def test_kfps_strict_loader_refuses_an_unknown_field(compiled):
    _, _, spec = compiled
    with pytest.raises(kubeflow_check.SpecError, match="not a valid"):
        kubeflow_check.as_proto({**spec, "displayName": "x"})


def test_vertex_target_writes_a_pipeline_job(tmp_path):
    out = tmp_path / "p.json"
    config = configs.taxi_config("gs://b/root", "gs://b/serving")
    kubeflow_runner.compile_pipeline(config, str(out), target="vertex")
    job = json.loads(out.read_text())
    assert job["pipelineSpec"]["schemaVersion"] == "2.1.0"
    assert yaml.safe_load(out.read_text())["displayName"]
