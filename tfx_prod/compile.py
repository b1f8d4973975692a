"""`tfx-prod compile`: the pipeline as a Kubeflow Pipelines v2 spec (or Vertex job)."""
import argparse
import json
import sys

from pipeline import configs
from tfx_prod import training_args

EPILOG = """\
The spec is for open-source Kubeflow Pipelines v2 (schema 2.1.0, no resolvers,
caching off so scheduled runs read new data). What a run varies is a runtime
parameter with no default in the spec; compile prints their values for the
flags given here and writes them beside the spec (OUTPUT.params.json), which
`tfx-prod submit`/`schedule` pass with every run.

  tfx-prod compile --image REGISTRY/tfx-prod-pipeline:TAG \\
      --data gs://BUCKET/data/taxi --serving-dir gs://BUCKET/serving \\
      --pipeline-root gs://BUCKET/root
"""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.formatter_class = argparse.RawDescriptionHelpFormatter
    parser.epilog = EPILOG
    parser.add_argument("--target", choices=("kubeflow", "vertex"),
                        default="kubeflow",
                        help="kubeflow: bare PipelineSpec YAML for the KFP "
                             "API server; vertex: PipelineJob JSON")
    parser.add_argument("--image", default=None, metavar="IMAGE",
                        help="the pipeline image (make image; default "
                             "tfx-prod-pipeline:latest)")
    parser.add_argument("--output", metavar="FILE",
                        help="default pipeline.yaml (kubeflow) or "
                             "pipeline.json (vertex)")
    parser.add_argument("--config", default=str(configs.DEFAULT_PROJECT),
                        metavar="FILE", help="project file (tfx-prod init)")
    parser.add_argument("--data", metavar="URI",
                        help="runtime parameter data_root: folder of span-N/ "
                             "CSV folders, as the pods see it (default: the "
                             "project's)")
    parser.add_argument("--serving-dir", metavar="URI",
                        default=f"{configs.DEFAULT_HOME}/serving",
                        help="runtime parameter model_base is "
                             "SERVING_DIR/MODEL_NAME")
    parser.add_argument("--pipeline-root", metavar="URI",
                        default=f"{configs.DEFAULT_HOME}/kubeflow",
                        help="where runs write artifacts (gs:// or s3:// on "
                             "a cluster); passed at submit time")
    parser.add_argument("--run-local", action="store_true",
                        help="then execute the compiled spec here, task by "
                             "task, as open-source KFP would (a check that "
                             "it runs, not an orchestrator); needs local "
                             "paths for --data/--serving-dir/--pipeline-root")
    parser.add_argument("--summary-json", metavar="FILE",
                        help="with --run-local: also write each task's state "
                             "and seconds, and the pushed version, here")
    # train_steps, gates and the quantization budget become the spec's
    # runtime parameters' recorded values; the rest is compiled in.
    training_args.add_training_arguments(parser)


def main(args) -> int:
    if args.summary_json and not args.run_local:
        print("error: --summary-json describes a local execution; add "
              "--run-local", file=sys.stderr)
        return 2
    from tfx_prod.quiet import quiet_libraries
    quiet_libraries()
    from pipeline import kubeflow_check, kubeflow_runner, project as project_lib
    try:
        project = project_lib.load(args.config)
    except project_lib.ProjectError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    train_steps = (args.train_steps or project.train_steps
                   or configs.PipelineConfig.train_steps)
    try:
        config = configs.PipelineConfig.from_project(
            project, args.pipeline_root, args.serving_dir,
            data_root=args.data or project.data_root, enable_cache=False,
            **training_args.pipeline_settings(args, project, train_steps))
    except training_args.UsageError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    output = args.output or ("pipeline.json" if args.target == "vertex"
                             else "pipeline.yaml")
    try:
        kubeflow_runner.compile_pipeline(
            config, output, image=args.image or kubeflow_runner.DEFAULT_IMAGE,
            target=args.target)
    except (ValueError, kubeflow_check.SpecError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    parameters = kubeflow_runner.run_parameters(config)
    with open(f"{output}.params.json", "w", encoding="utf-8") as f:
        json.dump({"parameters": parameters,
                   "pipeline_root": args.pipeline_root}, f, indent=2)
    print(f"wrote {output} ({args.target}); run parameters in "
          f"{output}.params.json:")
    for name, value in parameters.items():
        print(f"  {name} = {value}")
    if args.run_local:
        return _run_local(output, parameters, args.pipeline_root,
                          args.summary_json)
    locations = {"data_root": parameters["data_root"],
                 "model_base": parameters["model_base"],
                 "pipeline_root": args.pipeline_root}
    local = [f"{name}={value}" for name, value in locations.items()
             if "://" not in value]
    if local:
        print("note: local paths (" + ", ".join(local) + ") are fine for "
              "local execution of the spec; pods on a cluster need gs:// "
              "or s3:// URIs (--data, --serving-dir, --pipeline-root).")
    return 0


def _run_local(output: str, parameters: dict, pipeline_root: str,
               summary_json=None) -> int:
    import os
    from orchestration import local_spec_run
    root = os.path.abspath(pipeline_root)
    print(f"executing {output} as KFP OSS would, artifacts under {root}:")
    try:
        run = local_spec_run.run_spec(output, parameters, root,
                                      os.path.join(root, "_local_kfp"))
    except local_spec_run.TaskFailed as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    pushed = run.outputs.get("Pusher", {}).get("pushed_model", {})
    destination = pushed.get("metadata", {}).get("pushed_destination")
    print(f"run {run.run_id}: " + (f"pushed {destination}" if destination
                                   else "nothing pushed"))
    if summary_json:
        with open(summary_json, "w", encoding="utf-8") as f:
            json.dump({"run_id": run.run_id, "pushed_to": destination,
                       "tasks": {task: {"state": state,
                                        "seconds": run.seconds.get(task)}
                                 for task, state in run.states.items()}},
                      f, indent=2)
    return 0
