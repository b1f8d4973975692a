"""`tfx-prod`: the command line. One module per command group does the work.

  run     tfx_prod/run.py (flags: run_args.py)
  report  tfx_prod/report/
  data    tfx_prod/synth/
  compile tfx_prod/compile.py (pipeline/kubeflow_runner.py)
  submit, schedule  tfx_prod/kubeflow.py (orchestration/)
  drift   tfx_prod/drift.py (components/drift_check/)
  runs, lineage  tfx_prod/history.py
  serve   tfx_prod/serve.py (serving/); rollout  tfx_prod/rollout.py
  keys    tfx_prod/keys.py (serving/signing.py)
"""
import argparse
import os
import sys
import warnings

from tfx_prod import run_args


def build_parser() -> argparse.ArgumentParser:
    from tfx_prod import report, synth
    parser = argparse.ArgumentParser(
        prog="tfx-prod",
        description="A production TFX pipeline: validate data, train, evaluate "
                    "against the model being served, quantize, push to a TF "
                    "Serving model directory.")
    commands = parser.add_subparsers(dest="command", required=True,
                                     metavar="COMMAND")
    from tfx_prod import init
    init.add_arguments(commands.add_parser(
        "init", help="make a project from your CSV (schema, config, span-1)",
        description="Infer and curate a schema from your CSV (TFDV "
                    "statistics only), choose each column's encoding and "
                    "write a commented project file for `tfx-prod run "
                    "--config`."))
    run = commands.add_parser(
        "run", help="run the pipeline (cached steps are reused)",
        description="Run the whole pipeline locally on Apache Beam. A second "
                    "run with no new data or settings reuses every step.",
        epilog=run_args.EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    run_args.add_arguments(run)
    report.add_arguments(commands.add_parser(
        "report", help="write a static HTML report of a run (latest by default)",
        description="Write a self-contained HTML report of one run: data, "
                    "evaluation, optimization, quantization, lineage."))
    data = commands.add_parser("data", help="data tools")
    data_commands = data.add_subparsers(dest="data_command", required=True,
                                        metavar="COMMAND")
    synth.add_arguments(data_commands.add_parser(
        "synth", help="write a synthetic taxi span (same schema, fitted "
                      "distributions, optional drift)"))
    from tfx_prod import compile as compile_cmd
    compile_cmd.add_arguments(commands.add_parser(
        "compile", help="compile for Kubeflow Pipelines v2 (or Vertex)",
        description="Compile the same pipeline `tfx-prod run` runs into a "
                    "spec for open-source Kubeflow Pipelines v2, checked "
                    "against what the KFP backend rejects."))
    from tfx_prod import kubeflow
    kubeflow.add_submit_arguments(commands.add_parser(
        "submit", help="start one run of a compiled pipeline on Kubeflow",
        description="Upload the spec `tfx-prod compile` wrote and start a run "
                    "on a Kubeflow Pipelines v2 API server (kfp.Client)."))
    kubeflow.add_schedule_arguments(commands.add_parser(
        "schedule", help="schedule recurring runs on Kubeflow (or emit a "
                         "Kubernetes CronJob)",
        description="Create a KFP recurring run from the compiled spec, or "
                    "with --emit k8s write a CronJob whose pod submits it."))
    from tfx_prod import drift
    drift.add_arguments(commands.add_parser(
        "drift", help="per-feature drift of the newest span against the "
                      "served model's data",
        description="Print the newest run's drift record (DriftCheck), or "
                    "with --against VERSION measure the newest span against "
                    "that pushed version now, or with --serving-log DIR "
                    "measure the rows a server logged against a pushed "
                    "version's training statistics. Thresholds are the "
                    "schema's drift_comparator fields."))
    from tfx_prod import history
    history.add_runs_arguments(commands.add_parser(
        "runs", help="list past runs: time, span, outcome, push, wall time",
        description="Past pipeline runs from ML Metadata, oldest first."))
    history.add_lineage_arguments(commands.add_parser(
        "lineage", help="where a pushed version came from (or --diff V1 V2)",
        description="A pushed version's lineage: spans and their content "
                    "fingerprint, code (git commit, uncommitted diff), "
                    "Transform graph, recipe, the Evaluator's verdict and "
                    "baseline, the run. Read from the version directory."))
    from tfx_prod import serve
    serve.add_arguments(commands.add_parser(
        "serve", help="serve the pushed model (TF Serving REST + gRPC API)",
        description="Serve the versions `tfx-prod run` pushed, wire-compatible "
                    "with TensorFlow Serving, validating every request "
                    "against the training schema."))
    from tfx_prod import keys
    keys.add_arguments(commands.add_parser(
        "keys", help="signing and encryption keys for pushes: init, rotate, "
                     "retire, list, rewrap",
        description="Ed25519 keys that sign pushed versions (tfx-prod run "
                    "--signing-key) and that servers trust "
                    "(--trusted_signing_keys); with --encryption, AES-256 "
                    "keys that encrypt them at rest (tfx-prod run "
                    "--encryption-key, serve --decryption_keys)."))
    from tfx_prod import rollout
    rollout.add_arguments(commands.add_parser(
        "rollout", help="canary rollout on a running server: start, status, "
                        "promote, abort, feedback",
        description="Control and inspect the canary rollout of a running "
                    "`tfx-prod serve --enable_rollouts|--auto_canary`: "
                    "traffic shifts step by step and rolls back by itself "
                    "when the canary leaves its bounds; `feedback` sends "
                    "labels for an A/B test on accuracy or AUC."))
    from tfx_prod import export
    export.add_arguments(commands.add_parser(
        "export", help="export a pushed version: onnx (for serve --runtime "
                       "onnx)",
        description="Convert a pushed version's dense signature for another "
                    "runtime, as a new servable version."))
    from tfx_prod import watermark
    watermark.add_arguments(commands.add_parser(
        "watermark", help="trigger-set watermark: init a key, verify a model",
        description="A secret key whose trigger set the Trainer trains into "
                    "the model (tfx-prod run --watermark-key); `verify` "
                    "proves a SavedModel or its TFLite variant carries it."))
    return parser


def main(argv=None) -> int:
    # google-api-core warns on every import that Python 3.10 is past its
    # support window; the pin is deliberate (README: TFX 1.16 needs 3.10).
    # The same rule reaches child processes (Beam workers, task subprocesses).
    quiet = "ignore:You are using a non-supported Python version:FutureWarning"
    warnings.filterwarnings("ignore", category=FutureWarning,
                            message=quiet.split(":")[1])
    os.environ["PYTHONWARNINGS"] = ",".join(
        filter(None, [os.environ.get("PYTHONWARNINGS"), quiet]))
    os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")  # see README: Keras 2
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "1")
    args = build_parser().parse_args(argv)
    if args.command == "init":
        from tfx_prod import init
        return init.main(args)
    if args.command == "run":
        from tfx_prod.run import run_command
        return run_command(args)
    if args.command == "report":
        from tfx_prod import report
        return report.main(args)
    if args.command == "compile":
        from tfx_prod import compile as compile_cmd
        return compile_cmd.main(args)
    if args.command in ("submit", "schedule"):
        from tfx_prod import kubeflow
        return (kubeflow.submit_main if args.command == "submit"
                else kubeflow.schedule_main)(args)
    if args.command in ("runs", "lineage"):
        from tfx_prod import history
        return (history.runs_main if args.command == "runs"
                else history.lineage_main)(args)
    if args.command == "drift":
        from tfx_prod import drift
        return drift.main(args)
    if args.command == "serve":
        from tfx_prod import serve
        return serve.main(args)
    if args.command == "keys":
        from tfx_prod import keys
        return keys.main(args)
    if args.command == "rollout":
        from tfx_prod import rollout
        return rollout.main(args)
    if args.command == "export":
        from tfx_prod import export
        return export.main(args)
    if args.command == "watermark":
        from tfx_prod import watermark
        return watermark.main(args)
    from tfx_prod import synth
    return synth.main(args)


if __name__ == "__main__":
    sys.exit(main())
