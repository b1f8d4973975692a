"""Execute a compiled KFP v2 spec on this machine, as open-source KFP would run it.

A verification tool, not a second orchestrator: it proves the YAML that
`tfx-prod compile` wrote runs, without a cluster. For each task, in DAG
order, it does what KFP 2.0.5's driver and launcher do
(../shared/reference/kubeflow-v2.md §1.4-1.5): parameters from
`runtimeValue.constant` or the run's arguments; upstream artifacts with
their uri and metadata but untyped (`instanceSchema: ""`, as KFP OSS sends
them); output URIs `<root>/<pipeline>/<run>/<task>/<key>`; a fresh
`outputFile` per task; `triggerPolicy.condition` evaluated; then the task's
exact `command` + `args` from the spec as a subprocess (this venv stands in
for the image: `python` is this interpreter, cwd is the project root like
the image's WORKDIR). It rejects what the backend rejects (kubeflow_check)
and skips `lifecycle.preCacheCheck`, which KFP OSS never runs.
"""
import ast
import dataclasses
import json
import os
import pathlib
import re
import subprocess
import sys
import time
import uuid
from typing import Callable, Optional

from pipeline import kubeflow_check

PROJECT_DIR = pathlib.Path(__file__).resolve().parent.parent
ARTIFACT_REF = re.compile(
    r"inputs\.artifacts\['([^']+)'\]\.artifacts\[0\]\.metadata\['([^']+)'\]")


class TaskFailed(RuntimeError):
    """A task's command exited non-zero; the message has its log's tail."""


@dataclasses.dataclass
class SpecRun:
    run_id: str
    states: dict  # task -> "succeeded" | "skipped"
    outputs: dict  # task -> output key -> artifact {uri, metadata, name}
    seconds: dict  # task -> wall seconds


def evaluate_condition(condition: str, inputs: dict) -> bool:
    """TFX's CEL conditions (artifact metadata compared with constants).

    Only the forms TFX's compiler emits are accepted; anything else is an
    error rather than a guess.
    """
    def value(key, name):
        artifacts = inputs.get("artifacts", {}).get(key, {}).get("artifacts")
        if not artifacts:
            raise ValueError(f"condition reads input {key!r}, which is absent")
        return artifacts[0].get("metadata", {}).get(name)

    refs = []

    def placeholder(match):
        refs.append(value(match.group(1), match.group(2)))
        return f"_v[{len(refs) - 1}]"

    text = ARTIFACT_REF.sub(placeholder, condition)
    text = text.replace("&&", " and ").replace("||", " or ")
    text = re.sub(r"!(?!=)", " not ", text)
    tree = ast.parse(text, mode="eval")
    allowed = (ast.Expression, ast.BoolOp, ast.And, ast.Or, ast.UnaryOp,
               ast.Not, ast.Compare, ast.Eq, ast.NotEq, ast.Lt, ast.LtE,
               ast.Gt, ast.GtE, ast.Constant, ast.Subscript, ast.Name,
               ast.Load)
    for node in ast.walk(tree):
        if not isinstance(node, allowed) or (
                isinstance(node, ast.Name) and node.id != "_v"):
            raise ValueError(f"unsupported condition: {condition!r}")
    return bool(eval(compile(tree, "<condition>", "eval"),  # noqa: S307
                     {"__builtins__": {}}, {"_v": refs}))


def _parameter(source: dict, arguments: dict, task: str, key: str):
    if "runtimeValue" in source:
        return source["runtimeValue"]["constant"]
    if "componentInputParameter" in source:
        return arguments[source["componentInputParameter"]]
    raise kubeflow_check.SpecError(
        f"task {task!r}: parameter {key!r} has an unsupported source {source}")


def executor_input(spec: dict, name: str, arguments: dict, outputs: dict,
                   output_root: str, task_dir: str) -> dict:
    """The ExecutorInput KFP OSS 2.0.5 builds for task `name`."""
    task = spec["root"]["dag"]["tasks"][name]
    component = spec["components"][task["componentRef"]["name"]]
    parameters = {key: _parameter(source, arguments, name, key)
                  for key, source in task.get("inputs", {})
                  .get("parameters", {}).items()}
    artifacts = {}
    for key, source in task.get("inputs", {}).get("artifacts", {}).items():
        ref = source["taskOutputArtifact"]
        upstream = outputs[ref["producerTask"]][ref["outputArtifactKey"]]
        # KFP OSS reads inputs back from MLMD without their type.
        artifacts[key] = {"artifacts": [{**upstream,
                                         "type": {"instanceSchema": ""}}]}
    produced = {}
    for key, definition in component.get("outputDefinitions", {}).get(
            "artifacts", {}).items():
        produced[key] = {"artifacts": [{
            "type": definition["artifactType"],
            "uri": f"{output_root}/{name}/{key}",
            "metadata": definition.get("metadata", {})}]}
    return {"inputs": {"parameterValues": parameters, "artifacts": artifacts},
            "outputs": {"artifacts": produced,
                        "outputFile": os.path.join(task_dir,
                                                   "output_metadata.json")}}


def _make_output_dir(artifact: dict) -> None:
    """Object stores need no directories; a local root does (as TFX's
    LocalDagRunner makes them: a value artifact's uri is a file)."""
    import yaml
    from tfx.orchestration.kubeflow.v2 import compiler_utils
    from tfx.types import value_artifact
    from tfx.utils import import_utils
    title = yaml.safe_load(artifact["type"]["instanceSchema"])["title"]
    cls = import_utils.import_class_by_path(
        compiler_utils.TITLE_TO_CLASS_PATH.get(title, title))
    uri = artifact["uri"]
    os.makedirs(os.path.dirname(uri) if issubclass(
        cls, value_artifact.ValueArtifact) else uri, exist_ok=True)


def _argv(container: dict, invocation: dict) -> list:
    text = json.dumps(invocation)
    argv = [text if part == "{{$}}" else part
            for part in container["command"] + container.get("args", [])]
    if argv[0] in ("python", "python3"):
        argv[0] = sys.executable
    return argv


def run_spec(spec_path: str, arguments: dict, pipeline_root: str,
             work_dir: str, run_id: Optional[str] = None,
             log: Callable[[str], None] = print) -> SpecRun:
    """Runs every task of the compiled spec; raises TaskFailed on a failure."""
    spec = kubeflow_check.load(spec_path)
    kubeflow_check.check(spec, arguments)
    for warning in kubeflow_check.warnings(spec):
        log(f"note: {warning} (skipped here too)")
    run_id = run_id or f"run-{time.strftime('%Y%m%d-%H%M%S')}-{uuid.uuid4().hex[:6]}"
    pipeline = spec["pipelineInfo"]["name"]
    output_root = f"{pipeline_root.rstrip('/')}/{pipeline}/{run_id}"
    tasks = spec["root"]["dag"]["tasks"]
    order = kubeflow_check.topological_order(tasks)
    result = SpecRun(run_id, {}, {}, {})
    env = {**os.environ, "TF_USE_LEGACY_KERAS": "1"}  # as the image's ENV
    for number, name in enumerate(order, 1):
        task = tasks[name]
        upstream = kubeflow_check.upstream_tasks(task)
        if any(result.states.get(u) == "skipped" for u in upstream):
            result.states[name] = "skipped"
            log(f"  [{number}/{len(order)}] {name:<16} skipped (upstream skipped)")
            continue
        task_dir = os.path.join(work_dir, run_id, name)
        os.makedirs(task_dir, exist_ok=True)
        invocation = executor_input(spec, name, arguments, result.outputs,
                                    output_root, task_dir)
        condition = task.get("triggerPolicy", {}).get("condition")
        if condition and not evaluate_condition(condition,
                                                invocation["inputs"]):
            result.states[name] = "skipped"
            log(f"  [{number}/{len(order)}] {name:<16} skipped ({condition})")
            continue
        for produced in invocation["outputs"]["artifacts"].values():
            _make_output_dir(produced["artifacts"][0])
        component = spec["components"][task["componentRef"]["name"]]
        container = spec["deploymentSpec"]["executors"][
            component["executorLabel"]]["container"]
        started = time.monotonic()
        log_path = os.path.join(task_dir, "log.txt")
        with open(log_path, "w", encoding="utf-8") as task_log:
            code = subprocess.run(_argv(container, invocation), cwd=PROJECT_DIR,
                                  env=env, stdout=task_log,
                                  stderr=subprocess.STDOUT, check=False).returncode
        result.seconds[name] = time.monotonic() - started
        if code != 0:
            tail = pathlib.Path(log_path).read_text(errors="replace")[-3000:]
            raise TaskFailed(f"task {name!r} exited {code} (log: {log_path}):"
                             f"\n{tail}")
        result.outputs[name] = _collected(invocation)
        result.states[name] = "succeeded"
        log(f"  [{number}/{len(order)}] {name:<16} {result.seconds[name]:6.1f}s"
            "  ran")
    return result


def _collected(invocation: dict) -> dict:
    """Output artifacts: the launcher's, merged with the ExecutorOutput's."""
    with open(invocation["outputs"]["outputFile"], encoding="utf-8") as f:
        written = json.load(f).get("artifacts", {})
    collected = {}
    for key, produced in invocation["outputs"]["artifacts"].items():
        artifact = dict(produced["artifacts"][0])
        reported = (written.get(key, {}).get("artifacts") or [{}])[0]
        artifact["uri"] = reported.get("uri", artifact["uri"])
        artifact["metadata"] = {**artifact.get("metadata", {}),
                                **reported.get("metadata", {})}
        artifact["name"] = reported.get("name") or artifact["uri"]
        del artifact["type"]
        collected[key] = artifact
    return collected
