"""Kubeflow runner: the same `create_pipeline()`, compiled for KFP v2 (or Vertex).

Open-source KFP v2 needs what TFX's KubeflowV2DagRunner does not do by default
(../shared/reference/kubeflow-v2.md): schema 2.1.0 (`use_pipeline_spec_2_1`),
a bare PipelineSpec in YAML, no resolvers (our ServedBaseline reads the
serving location instead), no caching baked in (a scheduled run must read new
data), and a container command that fixes what KFP OSS sends a TFX executor
(`orchestration.kfp_entrypoint`). What a run varies is a runtime parameter,
so one compiled spec serves every run and schedule; `run_parameters` gives
their values for a config, and `kubeflow_check` runs on every compile.
"""
import dataclasses
import json
import os
import pathlib
from typing import Optional

from pipeline import kubeflow_check
from pipeline.configs import PROJECT_DIR, PipelineConfig

DEFAULT_IMAGE = "tfx-prod-pipeline:latest"
# The image's WORKDIR is the project root; project paths are made relative.
IMAGE_PROJECT_DIR = "/opt/tfx-prod"
# KFP runs the IR command, never the image ENTRYPOINT.
ENTRYPOINT = ("python", "-m", "orchestration.kfp_entrypoint")
TARGETS = ("kubeflow", "vertex")

def _gates_json(config: PipelineConfig) -> str:
    from pipeline.pipeline import evaluation_gates
    return json.dumps(evaluation_gates(config), sort_keys=True)


def _quantization_budget(config: PipelineConfig) -> float:
    from pipeline.pipeline import quantization_budget
    return quantization_budget(config)


# What a run varies: name -> (type, its value for a config).
RUNTIME_PARAMETERS = {
    "data_root": (str, lambda config: config.data_root),
    "model_base": (str, lambda config: config.model_base),
    "train_steps": (int, lambda config: config.train_steps),
    # The Evaluator's gates as one JSON object (eval_config.GATE_KEYS).
    "gates": (str, _gates_json),
    "quantization_budget": (float, _quantization_budget),
}


def run_parameters(config: PipelineConfig) -> dict:
    """Every runtime parameter's value for `config` (the spec has no defaults)."""
    return {name: kind(value_of(config))
            for name, (kind, value_of) in RUNTIME_PARAMETERS.items()}


def _in_image(path: Optional[str]) -> Optional[str]:
    """A project file's path relative to the project root (the image WORKDIR)."""
    if not path:
        return path
    resolved = pathlib.Path(path).resolve()
    try:
        return str(resolved.relative_to(PROJECT_DIR))
    except ValueError:
        return path


def parameterized(config: PipelineConfig) -> PipelineConfig:
    """`config` with runtime parameters where a run varies, caching off."""
    from tfx.orchestration import data_types
    params = {name: data_types.RuntimeParameter(name=name, ptype=kind)
              for name, (kind, _) in RUNTIME_PARAMETERS.items()}
    return dataclasses.replace(
        config, data_root=params.pop("data_root"),
        train_steps=params.pop("train_steps"),
        runtime_parameters=params,
        schema_path=_in_image(config.schema_path),
        # KFP caches on input names and parameters; ExampleGen's are the same
        # every run, so a cached spec would never retrain on new data.
        enable_cache=False, local_metadata=False,
        # Beam on the pod: DirectRunner in-process, like `tfx-prod run`.
        beam_pipeline_args=list(config.beam_pipeline_args))


def compile_pipeline(config: PipelineConfig, output: str,
                     image: str = DEFAULT_IMAGE,
                     target: str = "kubeflow") -> dict:
    """Writes the compiled pipeline to `output`; returns the PipelineSpec.

    kubeflow: a bare PipelineSpec in YAML (what the KFP API server and
    `kfp.Client` accept). vertex: a PipelineJob JSON.
    """
    if target not in TARGETS:
        raise ValueError(f"target must be one of {TARGETS}, not {target!r}")
    suffix = ".json" if target == "vertex" else (".yaml", ".yml")
    if not output.endswith(suffix):
        raise ValueError(
            f"--output for {target} must end in "
            f"{' or '.join(suffix) if isinstance(suffix, tuple) else suffix}"
            + (" (kfp.Client refuses .json packages)" if target == "kubeflow"
               else ""))
    from tfx.orchestration.kubeflow.v2 import kubeflow_v2_dag_runner as v2
    from pipeline.pipeline import create_pipeline
    output = os.path.abspath(output)
    # Project paths in the spec are relative to the project root (the
    # image's WORKDIR), so they are read from there while compiling too.
    here = os.getcwd()
    os.chdir(PROJECT_DIR)
    try:
        pipeline = create_pipeline(parameterized(config))
    finally:
        os.chdir(here)
    runner = v2.KubeflowV2DagRunner(
        config=v2.KubeflowV2DagRunnerConfig(
            default_image=image, default_commands=list(ENTRYPOINT),
            use_pipeline_spec_2_1=True),
        output_dir=os.path.dirname(output),
        output_filename=os.path.basename(output))
    job = runner.run(pipeline, write_out=True)
    spec = job["pipelineSpec"]
    if target == "kubeflow":
        kubeflow_check.check(kubeflow_check.load(output),
                             run_parameters(config))
    return json.loads(json.dumps(spec))
