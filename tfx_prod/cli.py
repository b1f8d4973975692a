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

from pipeline.configs import PipelineConfig, default_beam_args
from tfx_prod import results_cache, run_args

EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_ANOMALIES, EXIT_NOT_BLESSED = 0, 1, 2, 3, 4



def build_parser() -> argparse.ArgumentParser:
    from tfx_prod import report, synth
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
    return parser


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


def _collect_results(config, executions) -> dict:
    """Summary from MLMD/TFMA plus the HTML report; never raises."""
    summary = {}
    try:
        from tfx_prod import summary as summary_lib
        summary = summary_lib.collect(config.metadata_path, executions)
    except Exception:  # a partial run may lack artifacts; keep going
        traceback.print_exc()
    try:  # never raises on a partial run; this only guards disk errors
        from tfx_prod.report import build_report
        summary["report"] = build_report(config.pipeline_root)
    except Exception:
        traceback.print_exc()
    return summary


def run_command(args) -> int:
    problem = run_args.check_inputs(args)
    try:
        trainer_options = run_args.trainer_options(args)
    except run_args.UsageError as usage:
        problem = problem or str(usage)
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
        trainer_options=trainer_options,
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
          f"  beam:     {beam_reason}"
          f"{': ' + ' '.join(config.beam_pipeline_args) if config.beam_pipeline_args else ''}\n"
          f"  log:      {log_path}\n", flush=True)
    started = time.monotonic()
    error, failed_node, summary = None, None, {}
    with _logs_to_file(log_path) as terminal:
        from absl import logging as absl_logging
        absl_logging.set_verbosity(absl_logging.INFO)
        from pipeline.local_runner import node_ids, run_pipeline
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
        reused = all(e.state in ("cached", "resolved", "skipped")
                     for e in view.events)
        summary, key = None, None
        if error is None:
            from tfx_prod.summary import output_artifact_ids
            key = results_cache.cache_key(
                output_artifact_ids(config.metadata_path, executions))
            if reused:
                summary = results_cache.load(config.pipeline_root, key)
        if summary is None:
            summary = _collect_results(config, executions)
            if key:
                results_cache.save(config.pipeline_root, key, summary)
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
    if summary.get("report"):
        print(f"\nReport: {summary['report']}")
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
    if args.command == "report":
        from tfx_prod import report
        return report.main(args)
    from tfx_prod import synth
    return synth.main(args)


if __name__ == "__main__":
    sys.exit(main())
