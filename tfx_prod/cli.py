"""`tfx-prod`: run the production pipeline, generate data.

The TFX/Beam/TensorFlow log stream goes to a file whose path is printed; the
terminal gets one line per component and a summary a person can act on.
"""
import argparse
import contextlib
import datetime
import json
import os
import pathlib
import sys
import time
import traceback

from pipeline.configs import (DEFAULT_DATA_ROOT, DEFAULT_SCHEMA, PipelineConfig,
                              default_beam_args)

EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_ANOMALIES, EXIT_NOT_BLESSED = 0, 1, 2, 3, 4

_RUN_EPILOG = """\
exit codes: 0 pushed (or nothing new to do), 1 a component failed,
            2 bad arguments or missing data, 3 data anomalies (nothing trained),
            4 model not blessed (nothing pushed)

examples:
  tfx-prod run                                  # bundled taxi data, defaults
  tfx-prod run --train-steps 300                # quick run
  tfx-prod data synth --rows 20000 --span 2 --drift 0.2 && tfx-prod run
  tfx-prod run --data my_csvs/ --schema my_schema.pbtxt
  tfx-prod run --beam-arg=--direct_running_mode=multi_processing \\
               --beam-arg=--direct_num_workers=0
"""


def _positive_int(text: str) -> int:
    value = int(text)
    if value <= 0:
        raise argparse.ArgumentTypeError(f"must be > 0, got {value}")
    return value


def _fraction(text: str) -> float:
    value = float(text)
    if not 0.0 <= value <= 1.0:
        raise argparse.ArgumentTypeError(f"must be in [0, 1], got {value}")
    return value


def _add_run_arguments(run: argparse.ArgumentParser) -> None:
    defaults = PipelineConfig(pipeline_root="", serving_dir="")
    data = run.add_argument_group("data")
    data.add_argument("--data", default=str(DEFAULT_DATA_ROOT), metavar="DIR",
                      help="folder holding span-N/ subfolders of CSV files; "
                           "the newest span is used (default: bundled taxi)")
    data.add_argument("--schema", default=str(DEFAULT_SCHEMA), metavar="FILE",
                      help="curated schema.pbtxt that ExampleValidator checks "
                           "the data against (default: %(default)s)")
    data.add_argument("--infer-schema", action="store_true",
                      help="no curated schema: infer one with SchemaGen "
                           "(catches far fewer data problems)")
    out = run.add_argument_group("where things go")
    out.add_argument("--home", default="tfx_prod_home", metavar="DIR",
                     help="base for pipeline root, serving dir and logs "
                          "(default: %(default)s)")
    out.add_argument("--pipeline-root", metavar="DIR",
                     help="artifacts + ML Metadata (default: HOME/pipeline)")
    out.add_argument("--serving-dir", metavar="DIR",
                     help="TF Serving model base (default: HOME/serving); the "
                          "model lands in DIR/MODEL_NAME/<version>/")
    out.add_argument("--model-name", default=defaults.model_name,
                     help="serving model name (default: %(default)s)")
    out.add_argument("--summary-json", metavar="FILE",
                     help="also write the run summary as JSON here")
    train = run.add_argument_group("training and gates")
    train.add_argument("--train-steps", type=_positive_int,
                       default=defaults.train_steps,
                       help="training steps (default: %(default)s)")
    train.add_argument("--eval-steps", type=_positive_int,
                       default=defaults.eval_steps,
                       help="validation steps during training "
                            "(default: %(default)s)")
    train.add_argument("--min-auc", type=_fraction, default=defaults.min_auc,
                       help="Evaluator floor on overall AUC "
                            "(default: %(default)s)")
    train.add_argument("--min-accuracy", type=_fraction,
                       default=defaults.min_accuracy,
                       help="Evaluator floor on overall binary accuracy "
                            "(default: %(default)s)")
    train.add_argument("--max-auc-regression", type=_fraction,
                       default=defaults.max_auc_regression,
                       help="how much AUC a new model may lose against the "
                            "latest blessed one (default: %(default)s)")
    train.add_argument("--quantization-budget", type=_fraction,
                       default=defaults.quantization_max_auc_drop,
                       help="largest AUC drop a TFLite variant may cost and "
                            "still be blessed (default: %(default)s = 1 point)")
    execution = run.add_argument_group("execution")
    execution.add_argument("--beam-arg", action="append", default=[],
                           metavar="ARG",
                           help="Beam pipeline option, repeatable (e.g. "
                                "--beam-arg=--runner=FlinkRunner); replaces the "
                                "automatic DirectRunner choice")
    execution.add_argument("--no-cache", action="store_true",
                           help="re-execute every component")


def build_parser() -> argparse.ArgumentParser:
    from tfx_prod import synth
    parser = argparse.ArgumentParser(
        prog="tfx-prod",
        description="A production TFX pipeline: validate data, train, evaluate "
                    "against the last blessed model, quantize, push to a TF "
                    "Serving model directory.")
    commands = parser.add_subparsers(dest="command", required=True,
                                     metavar="COMMAND")
    run = commands.add_parser(
        "run", help="run the pipeline (cached steps are reused)",
        description="Run the whole pipeline locally on Apache Beam. A second "
                    "run with no new data or settings reuses every step.",
        epilog=_RUN_EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    _add_run_arguments(run)
    data = commands.add_parser("data", help="data tools")
    data_commands = data.add_subparsers(dest="data_command", required=True,
                                        metavar="COMMAND")
    synth.add_arguments(data_commands.add_parser(
        "synth", help="write a synthetic taxi span (same schema, fitted "
                      "distributions, optional drift)"))
    return parser


def _check_inputs(args) -> str | None:
    """Returns a usage error message, or None if the inputs look runnable."""
    data = pathlib.Path(args.data)
    if not data.is_dir():
        return f"--data {data}: no such folder."
    spans = [p for p in data.glob("span-*") if p.is_dir()
             and p.name[5:].isdigit() and any(f.is_file() for f in p.iterdir())]
    if not spans:
        return (f"--data {data}: no span-N/ folder with files in it. Lay CSVs "
                "out as DIR/span-1/data.csv, DIR/span-2/... (newest is used).")
    if not args.infer_schema and not pathlib.Path(args.schema).is_file():
        return (f"--schema {args.schema}: no such file. Pass a schema.pbtxt, or "
                "--infer-schema to let SchemaGen infer one.")
    return None


@contextlib.contextmanager
def _logs_to_file(log_path: str):
    """Sends fd 1/2 (Python, absl, TF C++, Beam) to `log_path`.

    Yields a stream on the original stdout for the progress view.
    """
    sys.stdout.flush()
    sys.stderr.flush()
    saved_out, saved_err = os.dup(1), os.dup(2)
    terminal = os.fdopen(os.dup(1), "w", buffering=1)
    log_fd = os.open(log_path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    os.dup2(log_fd, 1)
    os.dup2(log_fd, 2)
    try:
        yield terminal
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
        os.dup2(saved_out, 1)
        os.dup2(saved_err, 2)
        for fd in (saved_out, saved_err, log_fd):
            os.close(fd)
        terminal.close()


def _failure_paragraph(error: BaseException, failed_node: str | None,
                       log_path: str) -> tuple[int, str]:
    from components.anomaly_gate import DataAnomaliesError
    chain = []
    while error is not None and error not in chain:
        chain.append(error)
        error = error.__cause__ or error.__context__
    for item in chain:
        if isinstance(item, DataAnomaliesError):
            return EXIT_ANOMALIES, (
                f"Stopped: the data failed validation, so nothing was trained "
                f"or pushed. {item}")
    first = chain[0]
    message = str(first).strip().splitlines()[0][:400] if str(first) else ""
    return EXIT_FAILED, (
        f"Component {failed_node or '(unknown)'} failed with "
        f"{type(first).__name__}: {message}. Nothing after it ran. The full "
        f"traceback is in {log_path}.")


def run_command(args) -> int:
    problem = _check_inputs(args)
    if problem:
        print(f"tfx-prod run: error: {problem}", file=sys.stderr)
        return EXIT_USAGE
    home = pathlib.Path(args.home)
    config = PipelineConfig(
        pipeline_root=os.path.abspath(args.pipeline_root or home / "pipeline"),
        serving_dir=os.path.abspath(args.serving_dir or home / "serving"),
        data_root=os.path.abspath(args.data),
        schema_path=None if args.infer_schema else os.path.abspath(args.schema),
        model_name=args.model_name, train_steps=args.train_steps,
        eval_steps=args.eval_steps, min_auc=args.min_auc,
        min_accuracy=args.min_accuracy,
        max_auc_regression=args.max_auc_regression,
        quantization_max_auc_drop=args.quantization_budget,
        enable_cache=not args.no_cache)
    if args.beam_arg:
        config.beam_pipeline_args, beam_reason = args.beam_arg, "from --beam-arg"
    else:
        config.beam_pipeline_args, beam_reason = default_beam_args(args.data)
    log_dir = home / "logs"
    log_dir.mkdir(parents=True, exist_ok=True)
    stamp = datetime.datetime.now().strftime("%Y%m%d-%H%M%S")
    log_path = str((log_dir / f"run-{stamp}.log").resolve())

    print(f"tfx-prod run: pipeline {config.pipeline_name}\n"
          f"  data:     {config.data_root}\n"
          f"  schema:   {config.schema_path or 'inferred by SchemaGen'}\n"
          f"  root:     {config.pipeline_root} (ML Metadata: metadata.sqlite)\n"
          f"  serving:  {config.serving_dir}/{config.model_name}\n"
          f"  beam:     {beam_reason}: {' '.join(config.beam_pipeline_args)}\n"
          f"  log:      {log_path}\n", flush=True)
    started = time.monotonic()
    error, failed_node, summary = None, None, {}
    with _logs_to_file(log_path) as terminal:
        from absl import logging as absl_logging
        absl_logging.set_verbosity(absl_logging.INFO)
        from pipeline.local_runner import node_ids, run_pipeline
        from tfx_prod import summary as summary_lib
        from tfx_prod.progress import ProgressView
        view = ProgressView(terminal, node_ids(config), is_tty=terminal.isatty())
        try:
            run_pipeline(config, view)
        except Exception as caught:  # reported below, with the log path
            error = caught
            traceback.print_exc()
            failed = [e.node_id for e in view.events if e.state == "failed"]
            failed_node = failed[0] if failed else None
        finally:
            view.close()
        executions = {e.node_id: e.execution_id for e in view.events
                      if e.execution_id is not None}
        try:
            summary = summary_lib.collect(config.metadata_path, executions,
                                          {e.node_id: e.state for e in view.events})
        except Exception:  # a partial run may lack artifacts; keep going
            traceback.print_exc()
    summary["components"] = [{"id": e.node_id, "state": e.state,
                              "seconds": round(e.seconds, 2)} for e in view.events]
    summary["wall_seconds"] = round(time.monotonic() - started, 2)
    executed = [c for c in summary["components"]
                if c["state"] in ("complete", "cached", "failed")]
    summary["all_cached"] = bool(executed) and all(
        c["state"] == "cached" for c in executed)
    summary["log"] = log_path

    from tfx_prod.render import render
    code = EXIT_OK
    if error is not None:
        code, paragraph = _failure_paragraph(error, failed_node, log_path)
        summary["error"] = paragraph
        print(render(summary) + "\n\n" + paragraph, file=sys.stderr)
    else:
        print(render(summary))
        if summary.get("blessed") is False:
            code = EXIT_NOT_BLESSED
            print("\nThe new model was not blessed, so it was neither quantized "
                  "nor pushed; the serving directory keeps its current version. "
                  f"Why: {summary['blessing_reason']}.", file=sys.stderr)
        elif summary["all_cached"]:
            print("\nNothing new: every component was reused from the cache "
                  "(same data, code and settings). Add a span "
                  "(tfx-prod data synth --rows 20000 --span 2) or change "
                  "settings to retrain.")
        elif summary.get("pushed_to"):
            print("\nNext:\n"
                  f"  saved_model_cli show --dir {summary['pushed_to']} "
                  "--tag_set serve --signature_def serving_default\n"
                  "  tfx-prod data synth --rows 20000 --span 2 --drift 0.2 && "
                  "tfx-prod run    # retrain on a new span")
    summary["status"] = "succeeded" if code in (EXIT_OK,) else "failed"
    summary["exit_code"] = code
    if args.summary_json:
        with open(args.summary_json, "w") as f:
            json.dump(summary, f, indent=2, default=str)
    return code


def main(argv=None) -> int:
    os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")  # see README: Keras 2
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "1")
    args = build_parser().parse_args(argv)
    if args.command == "run":
        return run_command(args)
    from tfx_prod import synth
    return synth.main(args)


if __name__ == "__main__":
    sys.exit(main())
