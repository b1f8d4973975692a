"""What the open-source KFP v2 backend rejects, checked on our side at compile time.

kfp's own loaders (`json_format.ParseDict` into `PipelineSpec`, what
`kfp.Client` sends) only check that the file is a well-formed proto; a spec
that passes them can still fail at upload, at run creation or in the driver.
Each rule below names the backend code it mirrors
(../shared/reference/kubeflow-v2.md §7), and each problem names the task.
"""
import json
import re
from typing import Iterable, Optional

import yaml
from google.protobuf import json_format
from kfp.pipeline_spec import pipeline_spec_pb2

from components.evaluator import gate_rules

SCHEMA_VERSION = "2.1.0"  # v2_template.go: "KFP only supports 2.1.0"
# Argo validates workflow field names; KFP uses IR task names unchanged.
ARGO_NAME = re.compile(r"[a-zA-Z0-9][-a-zA-Z0-9]*")
ARGO_NAME_MAX = 128
# The CEL a condition uses to read an input artifact (`Cond` in TFX).
CONDITION_INPUT = re.compile(r"inputs\.artifacts\['([^']+)'\]")
PIPELINE_NAME = re.compile(r"[a-z0-9][a-z0-9-]{0,127}")


class SpecError(ValueError):
    """The compiled spec would be rejected by KFP; the message lists why."""


def load(path: str) -> dict:
    """A compiled YAML spec, parsed the way `kfp.Client` parses a package."""
    with open(path, encoding="utf-8") as f:
        documents = list(yaml.safe_load_all(f))
    if not documents or not isinstance(documents[0], dict):
        raise SpecError(f"{path}: not a pipeline spec (empty or not a mapping)")
    return documents[0]


def as_proto(spec: dict) -> pipeline_spec_pb2.PipelineSpec:
    """kfp's own strict loader: an unknown field is an error."""
    try:
        return json_format.ParseDict(spec, pipeline_spec_pb2.PipelineSpec())
    except json_format.ParseError as e:
        raise SpecError(f"not a valid PipelineSpec: {e}") from e


def _walk(value, path=""):
    """(path, key, value) of every mapping entry, depth first."""
    if isinstance(value, dict):
        for key, child in value.items():
            yield path, key, child
            yield from _walk(child, f"{path}.{key}" if path else key)
    elif isinstance(value, list):
        for i, child in enumerate(value):
            yield from _walk(child, f"{path}[{i}]")


def _dag_problems(name: str, dag: dict, components: dict) -> Iterable[str]:
    tasks = dag.get("tasks", {})
    for task_name, task in tasks.items():
        where = f"task {task_name!r}" + (f" (in {name})" if name != "root" else "")
        if not ARGO_NAME.fullmatch(task_name) or len(task_name) > ARGO_NAME_MAX:
            yield (f"{where}: not a valid Argo name ([a-zA-Z0-9][-a-zA-Z0-9]*, "
                   f"at most {ARGO_NAME_MAX} characters)")
        ref = task.get("componentRef", {}).get("name")
        if ref not in components:
            yield f"{where}: componentRef {ref!r} is not a component"
        for upstream in task.get("dependentTasks", []):
            if upstream not in tasks:
                yield f"{where}: depends on unknown task {upstream!r}"
        inputs = task.get("inputs", {})
        for kind in ("artifacts", "parameters"):
            for key, source in inputs.get(kind, {}).items():
                for field in ("taskOutputArtifact", "taskOutputParameter"):
                    producer = source.get(field, {}).get("producerTask")
                    if producer is not None and producer not in tasks:
                        yield (f"{where}: input {key!r} comes from unknown task "
                               f"{producer!r}")
        condition = task.get("triggerPolicy", {}).get("condition", "")
        for key in CONDITION_INPUT.findall(condition):
            if key not in inputs.get("artifacts", {}):
                yield (f"{where}: triggerPolicy.condition reads input "
                       f"{key!r}, which the task does not have")
        if inputs.get("parameters"):
            for key, source in inputs["parameters"].items():
                if "taskFinalStatus" in source:
                    yield (f"{where}: input {key!r} uses taskFinalStatus, which "
                           "the KFP 2.0.5 driver does not implement")
    try:
        topological_order(tasks)
    except SpecError as e:
        yield f"{name}: {e}"


def upstream_tasks(task: dict) -> set:
    """Tasks `task` waits for: dependentTasks plus producers of its inputs."""
    upstream = set(task.get("dependentTasks", []))
    for kind in ("artifacts", "parameters"):
        for source in task.get("inputs", {}).get(kind, {}).values():
            for field in ("taskOutputArtifact", "taskOutputParameter"):
                if "producerTask" in source.get(field, {}):
                    upstream.add(source[field]["producerTask"])
    return upstream


def topological_order(tasks: dict) -> list:
    """Task names, each after every task it depends on (SpecError on a cycle)."""
    order, state = [], {}

    def visit(name, trail):
        if state.get(name) == "done":
            return
        if state.get(name) == "visiting":
            raise SpecError("tasks form a cycle: " + " -> ".join(trail + [name]))
        state[name] = "visiting"
        for upstream in sorted(upstream_tasks(tasks[name]) & tasks.keys()):
            visit(upstream, trail + [name])
        state[name] = "done"
        order.append(name)

    for name in sorted(tasks):
        visit(name, [])
    return order


def problems(spec: dict, parameters: Optional[dict] = None) -> list:
    """Every reason KFP OSS would reject `spec` (empty: none found).

    With `parameters` (a run's arguments), also that every root parameter
    without a default is supplied and no unknown one is passed.
    """
    found = []
    if spec.get("schemaVersion") != SCHEMA_VERSION:
        found.append(f"schemaVersion is {spec.get('schemaVersion')!r}; the KFP "
                     f"API server accepts only {SCHEMA_VERSION} (compile with "
                     "use_pipeline_spec_2_1=True)")
    name = spec.get("pipelineInfo", {}).get("name", "")
    if not PIPELINE_NAME.fullmatch(name or ""):
        found.append(f"pipelineInfo.name {name!r} must match "
                     f"{PIPELINE_NAME.pattern}")
    if "root" not in spec:
        found.append("no root DAG")
    executors = spec.get("deploymentSpec", {}).get("executors", {})
    for label, executor in executors.items():
        if "resolver" in executor:
            found.append(f"executor {label!r} is a resolver: KFP OSS does not "
                         "implement resolver executors (run creation fails)")
        if "customJob" in executor:
            found.append(f"executor {label!r} is a Vertex customJob")
    for path, key, _ in _walk(spec):
        if key == "constantValue":
            found.append(f"{path}: legacy runtimeValue.constantValue; the KFP "
                         "driver reads only runtimeValue.constant")
    components = spec.get("components", {})
    for comp_name, component in components.items():
        label = component.get("executorLabel")
        if label is not None and label not in executors:
            found.append(f"component {comp_name!r}: executorLabel {label!r} "
                         "is not an executor")
        if "dag" in component:
            found.extend(_dag_problems(comp_name, component["dag"], components))
    found.extend(_dag_problems("root", spec.get("root", {}).get("dag", {}),
                               components))
    if parameters is not None:
        found.extend(parameter_problems(spec, parameters))
    return found


def root_parameters(spec: dict) -> dict:
    """The run's parameters: name -> inputDefinitions entry."""
    return spec.get("root", {}).get("inputDefinitions", {}).get("parameters", {})


def parameter_problems(spec: dict, parameters: dict) -> list:
    declared = root_parameters(spec)
    found = [f"run parameter {key!r} is not a parameter of this pipeline "
             f"(it has: {', '.join(sorted(declared)) or 'none'})"
             for key in sorted(parameters.keys() - declared.keys())]
    for key, definition in sorted(declared.items()):
        if key not in parameters and "defaultValue" not in definition and (
                not definition.get("isOptional")):
            found.append(f"run parameter {key!r} is missing: the spec has no "
                         "default and KFP fails the run without it")
    return found + _gate_problems(spec, parameters)


def _gate_problems(spec: dict, parameters: dict) -> list:
    """Gates given at run time, checked now rather than after training."""
    found = []
    for name, task in spec["root"]["dag"]["tasks"].items():
        inputs = task.get("inputs", {}).get("parameters", {})
        recipe = inputs.get(gate_rules.RECIPE_KEY, {}).get(
            "runtimeValue", {}).get("constant")
        source = inputs.get(gate_rules.GATES_KEY, {}).get(
            "componentInputParameter")
        if recipe is None or source not in parameters:
            continue
        try:
            gate_rules.parse_gates(json.loads(recipe)["task"],
                                   str(parameters[source]))
        except ValueError as error:
            found.append(f"task {name!r}: run parameter {source!r}: {error}")
    return found


def check(spec: dict, parameters: Optional[dict] = None) -> None:
    """Raises SpecError listing every problem `problems` finds."""
    found = problems(spec, parameters)
    as_proto(spec)
    if found:
        raise SpecError("the compiled spec would be rejected by Kubeflow "
                        "Pipelines:\n  - " + "\n  - ".join(found))


def warnings(spec: dict) -> list:
    """What KFP OSS silently skips (not an error: our code handles it)."""
    return [f"executor {label!r}: lifecycle.preCacheCheck never runs on KFP OSS"
            for label, executor in spec.get("deploymentSpec", {})
            .get("executors", {}).items()
            if executor.get("container", {}).get("lifecycle", {})
            .get("preCacheCheck")]
