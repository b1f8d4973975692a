"""`tfx-prod drift`: per-feature drift, as the pipeline recorded it or now.

Without --against: the newest run's DriftCheck record from ML Metadata (what
the run compared: its span against the version served before it trained).
With --against VERSION: the newest span of --data measured now against that
pushed version's shipped statistics and schema (the drift trigger's check).
With --serving-log DIR: the feature rows a server logged
(`--prediction_log_dir`) measured against a pushed version's training
statistics, by the same rule (components/drift_check/drift.py): what the
model is served, not what the pipeline will train on next.
"""
import argparse
import collections
import json
import os
import sys
from typing import Optional

from pipeline import configs

EXIT_USAGE = 2


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--home", default=configs.DEFAULT_HOME, metavar="DIR",
                        help="the `tfx-prod run --home` (default: %(default)s)")
    parser.add_argument("--pipeline-root", metavar="DIR",
                        help="where the run's metadata.sqlite is (default: "
                             "HOME/pipeline)")
    parser.add_argument("--against", type=int, metavar="VERSION",
                        help="measure the newest span of --data now against "
                             "this pushed version instead")
    parser.add_argument("--config", default=str(configs.DEFAULT_PROJECT),
                        metavar="FILE", help="project file: model name and "
                                             "data folder (default: the taxi example)")
    parser.add_argument("--data", metavar="DIR",
                        help="with --against: folder of span-N/ folders "
                             "(default: the project's)")
    parser.add_argument("--serving-dir", metavar="DIR",
                        help="with --against or --serving-log: where "
                             "versions were pushed (default: HOME/serving)")
    parser.add_argument("--serving-log", metavar="DIR",
                        help="measure the rows a server logged "
                             "(`tfx-prod serve --prediction_log_dir DIR`) "
                             "against a pushed version's training statistics "
                             "(the newest complete one, or --against VERSION)")
    where = parser.add_mutually_exclusive_group()
    where.add_argument("--model-base", metavar="PATH",
                       help="with --serving-log: the model's folder of "
                            "versions (default: SERVING_DIR/<project model>)")
    where.add_argument("--version-dir", metavar="PATH",
                       help="with --serving-log: compare with this version "
                            "folder instead")
    parser.add_argument("--served-model", metavar="NAME",
                        help="with --serving-log: only rows served for this "
                             "model name (needed when the log holds several)")
    parser.add_argument("--max-rows", type=int, metavar="N",
                        help="with --serving-log: only the newest N rows "
                             "(default: every row in the log)")
    parser.add_argument("--json", action="store_true",
                        help="print the record as JSON")


def _recorded(args) -> dict:
    from pipeline import metadata
    root = args.pipeline_root or os.path.join(args.home, "pipeline")
    path = os.path.join(root, "metadata.sqlite")
    if not os.path.exists(path):
        raise LookupError(f"no pipeline runs under {root} (no metadata.sqlite); "
                          "pass the --home or --pipeline-root `tfx-prod run` used")
    artifact, run = metadata.latest_output(metadata.open_store(path),
                                           "DriftCheck", "drift")
    if artifact is None:
        raise LookupError(f"no run under {root} has a DriftCheck record yet")
    from components.drift_check.executor import read_report
    return {**read_report(artifact.uri), "run_id": run.name}


def _measured_now(args) -> dict:
    from pipeline import project as project_lib
    from serving import layout
    project = project_lib.load(args.config)
    data = args.data or project.data_root
    span = configs.latest_span_dir(data)
    if span is None:
        raise LookupError(f"no span-N folder under {data}")
    model_base = _model_base(args, project)
    _check_version(model_base, args.against)
    from components.drift_check import drift
    from components.drift_check.executor import report
    measured = drift.span_drift(str(span), layout.version_dir(
        model_base, args.against))
    return {**report(measured, args.against), "span": span.name}


def _model_base(args, project) -> str:
    return os.path.join(args.serving_dir or os.path.join(
        args.home, "serving"), project.model_name)


def _check_version(model_base: str, version: int) -> None:
    from serving import layout
    complete = layout.complete_versions(model_base)
    if version not in complete:
        raise LookupError(f"version {version} is not a complete pushed "
                          f"version under {model_base} (complete: "
                          f"{', '.join(map(str, complete)) or 'none'})")


def _served_version(args) -> tuple:
    """(version number, its folder) that --serving-log compares with."""
    from serving import layout
    if args.version_dir:
        if not layout.is_complete(args.version_dir):
            raise LookupError(f"{args.version_dir} is not a complete pushed "
                              "version (no manifest, or files missing)")
        name = layout.parse_version(os.path.basename(
            args.version_dir.rstrip("/")))
        return name or 0, args.version_dir
    if args.model_base:
        model_base = args.model_base
    else:
        from pipeline import project as project_lib
        model_base = _model_base(args, project_lib.load(args.config))
    version = args.against or layout.newest_complete_version(model_base)
    if version is None:
        raise LookupError(f"no complete pushed version under {model_base} "
                          "(a model base holds numbered version folders: "
                          f"{layout.join(model_base, '1')}, ...); pass "
                          "--model-base or --version-dir")
    _check_version(model_base, version)
    return version, layout.version_dir(model_base, version)


def logged_rows(directory: str, model_name: Optional[str] = None,
                max_rows: Optional[int] = None) -> list:
    """The feature rows of a prediction log (newest `max_rows`), one model's."""
    from serving.feedback import iter_log_rows
    rows, models = collections.deque(maxlen=max_rows), collections.Counter()
    for record in iter_log_rows(directory):
        models[record.get("model_name")] += 1
        if model_name is None or record.get("model_name") == model_name:
            rows.append(record.get("features") or {})
    if model_name is None and len(models) > 1:
        raise LookupError(f"{directory} logs several models ("
                          + ", ".join(f"{m}: {n} rows" for m, n in
                                      sorted(models.items(), key=str))
                          + "); pick one with --served-model NAME")
    if not rows:
        raise LookupError(f"no logged rows in {directory}"
                          + (f" for model {model_name} (logged: "
                             f"{', '.join(map(str, sorted(models, key=str)))})"
                             if model_name and models else ""))
    return list(rows)


def log_drift(rows: list, version_dir: str) -> list:
    """Logged feature rows against a version's training statistics.

    Only scalar features are measured (that is what the training CSV has).
    A dense input's missing-value sentinel (missing_values.json) is the
    server's stand-in for a blank cell, so it counts as missing here, as
    the blank did in training.
    """
    import pandas as pd
    import tensorflow as tf
    import tensorflow_data_validation as tfdv
    from components.drift_check import drift
    from serving import layout
    for needed in (layout.STATISTICS_FILE, layout.SCHEMA_FILE):
        if not tf.io.gfile.exists(layout.join(version_dir, needed)):
            raise LookupError(f"{version_dir} has no {needed}: it was not "
                              "pushed by the pipeline, nothing to compare with")
    sentinels = layout.read_missing_values(version_dir)
    scalars = [{name: value for name, value in row.items()
                if not isinstance(value, (list, dict))
                and not (name in sentinels and value == sentinels[name])}
               for row in rows]
    current = tfdv.generate_statistics_from_dataframe(pd.DataFrame(scalars))
    return drift.measure(
        current,
        drift.read_statistics(layout.join(version_dir, layout.STATISTICS_FILE)),
        drift.read_schema(layout.join(version_dir, layout.SCHEMA_FILE)))


def _measured_from_log(args) -> dict:
    from components.drift_check.executor import report
    version, version_dir = _served_version(args)
    rows = logged_rows(args.serving_log, args.served_model, args.max_rows)
    from serving import encryption   # an encrypted version: read in memory
    with encryption.decrypted(version_dir, os.environ.get(
            encryption.DECRYPTION_KEYS_ENV) or os.environ.get(
                encryption.ENCRYPTION_KEY_ENV)) as readable:
        measured = log_drift(rows, readable)
    return {**report(measured, version), "serving_log": args.serving_log,
            "rows": len(rows), "version_dir": version_dir}


def _usage_problem(args) -> str:
    only_with_log = [flag for flag, value in (
        ("--model-base", args.model_base), ("--version-dir", args.version_dir),
        ("--served-model", args.served_model), ("--max-rows", args.max_rows))
        if value is not None]
    if only_with_log and not args.serving_log:
        return f"{', '.join(only_with_log)}: only with --serving-log DIR"
    if args.serving_log and args.version_dir and args.against:
        return "--against picks a version under --model-base; with " \
               "--version-dir there is nothing to pick"
    if args.max_rows is not None and args.max_rows < 1:
        return "--max-rows must be >= 1"
    return ""


def main(args: argparse.Namespace) -> int:
    from tfx_prod.quiet import quiet_libraries
    quiet_libraries()
    from tfx_prod.render import drift_lines
    problem = _usage_problem(args)
    if problem:
        print(f"tfx-prod drift: error: {problem}", file=sys.stderr)
        return EXIT_USAGE
    try:
        if args.serving_log:
            record = _measured_from_log(args)
        else:
            record = _measured_now(args) if args.against else _recorded(args)
    except (LookupError, ValueError, OSError) as error:
        print(f"tfx-prod drift: error: {error}", file=sys.stderr)
        return EXIT_USAGE
    if args.json:
        print(json.dumps(record, indent=2))
    else:
        where = (f"{record['span']} now" if "span" in record
                 else f"serving log {record['serving_log']} "
                      f"({record['rows']} rows)" if "serving_log" in record
                 else f"run {record['run_id']}")
        print(f"{where}:")
        print("\n".join(drift_lines(record)))
    return 0
