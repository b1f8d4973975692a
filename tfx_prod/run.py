"""`tfx-prod run`: run the pipeline locally with live progress and a summary.

The TFX/Beam/TensorFlow log stream goes to a file whose path is printed; the
terminal gets one line per component and a summary a person can act on. The
exit code is decided from ML Metadata (execution states, the blessing, the
push) and a check of the serving directory, never from the best-effort
summary.
"""
import contextlib
import datetime
import json
import os
import pathlib
import signal
import sys
import time
import traceback

from tfx_prod import results_cache, run_args

EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_DATA, EXIT_NOT_BLESSED = 0, 1, 2, 3, 4
EXIT_INTERRUPTED = {signal.SIGINT: 130, signal.SIGTERM: 143}


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


@contextlib.contextmanager
def _sigterm_as_interrupt(received: dict):
    """SIGTERM ends the run like Ctrl-C does: cleanly, resumable."""
    def handle(signum, _frame):
        received["signal"] = signum
        raise KeyboardInterrupt
    previous = {sig: signal.signal(sig, handle)
                for sig in (signal.SIGTERM, signal.SIGINT)}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def _root_cause(error: BaseException) -> BaseException:
    """The innermost exception of a chain (TFX wraps executor errors)."""
    seen = []
    while error is not None and error not in seen:
        seen.append(error)
        error = error.__cause__ or error.__context__
    return seen[-1]


def _user_frame(error: BaseException) -> str | None:
    """"file:line in function" of the innermost frame of `error` that is
    neither in the Python installation nor in an installed package: ours,
    or the user's module."""
    installed = (sys.prefix, sys.base_prefix, sys.exec_prefix)
    frames = [frame for frame in traceback.extract_tb(error.__traceback__)
              if "site-packages" not in frame.filename
              and not frame.filename.startswith(installed)
              and not frame.filename.startswith("<")]
    if not frames:
        return None
    frame = frames[-1]
    return f"{frame.filename}:{frame.lineno} in {frame.name}"


def _failure(error: BaseException, failed_node, log_path) -> tuple[int, str]:
    from components.anomaly_gate import DataAnomaliesError
    from components.drift_check.executor import DriftError
    cause = error
    while cause is not None:
        if isinstance(cause, DataAnomaliesError):
            return EXIT_DATA, ("Stopped: the data failed validation, so "
                               f"nothing was trained or pushed. {cause}")
        if isinstance(cause, DriftError):
            return EXIT_DATA, ("Stopped (--drift gate): the newest span "
                               f"drifted, so nothing was trained or pushed: "
                               f"{cause}")
        cause = cause.__cause__ or cause.__context__
    first = str(error).strip().splitlines()[0][:400] if str(error) else ""
    root = _root_cause(error)
    detail = ""
    if root is not error:
        detail = (f" Root cause: {type(root).__name__}: "
                  f"{str(root).strip()[:400]}.")
    where = _user_frame(root)
    if where:
        detail += f" Raised at {where}."
    return EXIT_FAILED, (
        f"Component {failed_node or '(unknown)'} failed with "
        f"{type(error).__name__}: {first}.{detail} Nothing after it ran. The "
        f"full traceback is in {log_path}.")


def _collect_summary(config, executions) -> dict:
    """Summary from MLMD/TFMA plus the HTML report; display only, never raises."""
    summary = {}
    try:
        from tfx_prod import summary as summary_lib
        summary = summary_lib.collect(config.metadata_path, executions)
    except Exception:  # a partial run may lack artifacts; keep going
        traceback.print_exc()
    try:
        from tfx_prod.report import build_report
        summary["report"] = build_report(config.pipeline_root)
    except Exception:
        traceback.print_exc()
    return summary


def _verdict(config, executions) -> tuple[int, str | None]:
    """Exit code and message from MLMD and the serving directory."""
    from pipeline import metadata
    from serving import layout
    try:
        outcome = metadata.run_outcome(metadata.open_store(
            config.metadata_path), executions)
    except Exception as error:  # pylint: disable=broad-except
        return EXIT_FAILED, (f"Could not read the run's outcome from ML "
                             f"Metadata ({config.metadata_path}): {error}")
    if outcome["blessed"] is None:
        return EXIT_FAILED, ("The run finished but the Evaluator recorded no "
                             "blessing, so nothing is known to be pushed.")
    if not outcome["blessed"]:
        return EXIT_NOT_BLESSED, None
    if not outcome["pushed"]:
        return EXIT_FAILED, ("The model was blessed but the Pusher recorded no "
                             "push; see the log.")
    destination = outcome["pushed_to"]
    manifest = layout.read_manifest(destination)
    problems = (["manifest.json: missing"] if manifest is None
                else layout.missing_or_wrong_size(destination, manifest))
    if problems:
        return EXIT_FAILED, (
            f"ML Metadata says version {outcome['pushed_version']} was pushed "
            f"to {destination}, but it is incomplete ({'; '.join(problems[:3])})."
            " Something changed the serving directory during the run; run "
            "again to re-push.")
    return EXIT_OK, None


def _header(config, notes, log_path) -> str:
    beam = notes["beam"] + (": " + " ".join(config.beam_pipeline_args)
                            if config.beam_pipeline_args else "")
    schema = (f"{config.schema_path} ({notes['schema']})" if config.schema_path
              else notes["schema"])
    return (f"tfx-prod run: pipeline {config.pipeline_name} "
            f"({config.task}, label {config.label_key})\n"
            f"  project:  {notes['project']}\n"
            f"  data:     {config.data_root}\n"
            f"  schema:   {schema}\n"
            f"  root:     {config.pipeline_root} (ML Metadata: metadata.sqlite)\n"
            f"  serving:  {config.model_base}\n"
            f"  signing:  {notes['signing']}\n"
            f"  encrypt:  {notes.get('encryption', 'off')}\n"
            f"  watermark: {notes.get('watermark', 'off')}\n"
            f"  beam:     {beam}\n"
            f"  log:      {log_path}\n")


def _next_steps(pushed_to: str, config) -> str:
    """What to do with the pushed version; an encrypted one is ciphertext
    on disk, so saved_model_cli cannot read it and the server needs keys."""
    from serving import encryption
    serve = (f"  tfx-prod serve --model_name={config.model_name} "
             f"--model_base_path={config.model_base}")
    if encryption.read_envelope(pushed_to) is not None:
        keys = os.path.dirname(os.environ[encryption.ENCRYPTION_KEY_ENV])
        serve += f" --decryption_keys={keys}\n  # encrypted at rest: " \
                 "saved_model_cli and TF Serving cannot read it"
    else:
        serve = (f"  saved_model_cli show --dir {pushed_to} --tag_set serve "
                 "--signature_def serving_default\n" + serve)
    return serve + f"\n  # new data: add {config.data_root}/span-N+1/ and " \
        "run again"


def run_command(args) -> int:
    started = time.monotonic()
    try:
        config, notes = run_args.build_config(args)
        notes["signing"] = run_args.apply_signing_key(args)
        notes["encryption"] = run_args.apply_encryption_key(args)
        notes["watermark"] = run_args.apply_watermark_key(args, config)
        run_args.check_data_files(config.data_root)
        run_args.check_columns_fit_project(
            config.data_root, config.serving_features, notes["project"])
    except run_args.UsageError as usage:
        print(f"tfx-prod run: error: {usage}", file=sys.stderr)
        return EXIT_USAGE
    except run_args.DataFileError as data_error:
        print(f"tfx-prod run: data error: {data_error}", file=sys.stderr)
        return EXIT_DATA
    from pipeline import local_runner
    log_dir = pathlib.Path(args.home) / "logs"
    log_dir.mkdir(parents=True, exist_ok=True)
    stamp = datetime.datetime.now().strftime("%Y%m%d-%H%M%S")
    log_path = str((log_dir / f"run-{stamp}.log").resolve())
    print(_header(config, notes, log_path), flush=True)
    try:
        with local_runner.exclusive(config.pipeline_root):
            summary, code, message = _run_locked(config, log_path)
    except local_runner.PipelineBusyError as busy:
        print(f"tfx-prod run: error: {busy}", file=sys.stderr)
        return EXIT_USAGE
    summary["wall_seconds"] = round(time.monotonic() - started, 2)
    summary["log"] = log_path
    _report(summary, code, message, config)
    summary["status"] = {EXIT_OK: "succeeded", 130: "interrupted",
                         143: "interrupted"}.get(code, "failed")
    summary["exit_code"] = code
    if args.summary_json:
        with open(args.summary_json, "w") as f:
            json.dump(summary, f, indent=2, default=str)
    return code


def _run_locked(config, log_path) -> tuple[dict, int, str | None]:
    """Runs the pipeline under the root's lock; (summary, exit code, message)."""
    from pipeline import local_runner
    error, failed_node, received = None, None, {}
    with _logs_to_file(log_path) as terminal:
        from absl import logging as absl_logging
        absl_logging.set_verbosity(absl_logging.INFO)
        from tfx_prod.progress import ProgressView
        view = ProgressView(terminal, local_runner.node_ids(config),
                            is_tty=terminal.isatty())
        try:
            with _sigterm_as_interrupt(received):
                local_runner.run_pipeline(config, view)
        except local_runner.RunInterrupted as interrupted:
            error, failed_node = interrupted, interrupted.node_id
        except Exception as caught:  # reported below, with the log path
            error = caught
            traceback.print_exc()
            failed = [e.node_id for e in view.events if e.state == "failed"]
            failed_node = failed[0] if failed else None
        finally:
            view.close()
        executions = {e.node_id: e.execution_id for e in view.events
                      if e.execution_id is not None}
        frozen = (local_runner.freeze_inferred_schema(config, executions)
                  if config.schema_path is None else None)
        if isinstance(error, local_runner.RunInterrupted):
            code = EXIT_INTERRUPTED.get(received.get("signal"), 130)
            message = (f"Interrupted while {failed_node or 'starting'} was "
                       "running: nothing after it ran, and nothing unfinished "
                       "was recorded as done. Run the same command again to "
                       "resume; finished steps are reused from the cache.")
        elif error is not None:
            code, message = _failure(error, failed_node, log_path)
        else:
            code, message = _verdict(config, executions)
        summary = _summary_for(config, executions, view.events,
                               reuse=error is None)
    summary["task"] = config.task
    summary["components"] = [{"id": e.node_id, "state": e.state,
                              "seconds": round(e.seconds, 2)}
                             for e in view.events]
    executed = [c for c in summary["components"]
                if c["state"] in ("complete", "cached", "failed")]
    summary["all_cached"] = bool(executed) and all(
        c["state"] == "cached" for c in executed)
    if frozen:
        summary["frozen_schema"] = frozen
    if message:
        summary["error"] = message
    return summary, code, message


def _summary_for(config, executions, events, reuse: bool) -> dict:
    """The summary of a fully cached run is that of the run it reused."""
    key = None
    if reuse:
        from pipeline import metadata
        store = metadata.open_store(config.metadata_path)
        key = results_cache.cache_key({
            node: sorted(a.id for artifacts in
                         metadata.execution_outputs(store, eid).values()
                         for a in artifacts)
            for node, eid in executions.items()})
        if all(e.state in ("cached", "skipped") for e in events):
            saved = results_cache.load(config.pipeline_root, key)
            if saved is not None:
                return saved
    summary = _collect_summary(config, executions)
    if key:
        results_cache.save(config.pipeline_root, key, summary)
    return summary


def _report(summary, code, message, config) -> None:
    from tfx_prod.render import render
    if code not in (EXIT_OK, EXIT_NOT_BLESSED):
        print(render(summary) + "\n\n" + (message or ""), file=sys.stderr)
    else:
        print(render(summary))
    if summary.get("frozen_schema"):
        print(f"\nSchema: inferred from this span and frozen at "
              f"{summary['frozen_schema']}; later runs with --infer-schema "
              "validate new spans against it. Curate it (domains, presence) "
              "and pass it as --schema to own it.")
    if code == EXIT_NOT_BLESSED:
        print("\nThe new model was not blessed, so it was neither quantized "
              "nor pushed; the serving directory keeps its current version. "
              f"Why: {summary.get('blessing_reason')}.", file=sys.stderr)
    elif code == EXIT_OK and summary["all_cached"]:
        print("\nNothing new: every component was reused from the cache "
              "(same data, code, settings and served model), and the pushed "
              f"version is still in place under {config.model_base}. Add a "
              f"span under {config.data_root} or change settings to retrain.")
    elif code == EXIT_OK and summary.get("pushed_to"):
        print("\nNext:\n" + _next_steps(summary["pushed_to"], config))
    if summary.get("report"):
        print(f"\nReport: {summary['report']}")
