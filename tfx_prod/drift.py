"""`tfx-prod drift`: per-feature drift, as the pipeline recorded it or now.

Without --against: the newest run's DriftCheck record from ML Metadata (what
the run compared: its span against the version served before it trained).
With --against VERSION: the newest span of --data measured now against that
pushed version's shipped statistics and schema (the drift trigger's check).
"""
import argparse
import json
import os
import sys

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
                        help="with --against: where versions were pushed "
                             "(default: HOME/serving)")
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
    model_base = os.path.join(args.serving_dir or os.path.join(
        args.home, "serving"), project.model_name)
    complete = layout.complete_versions(model_base)
    if args.against not in complete:
        raise LookupError(f"version {args.against} is not a complete pushed "
                          f"version under {model_base} (complete: "
                          f"{', '.join(map(str, complete)) or 'none'})")
    from components.drift_check import drift
    from components.drift_check.executor import report
    measured = drift.span_drift(str(span), layout.version_dir(
        model_base, args.against))
    return {**report(measured, args.against), "span": span.name}


def main(args: argparse.Namespace) -> int:
    from tfx_prod.quiet import quiet_libraries
    quiet_libraries()
    from tfx_prod.render import drift_lines
    try:
        record = _measured_now(args) if args.against else _recorded(args)
    except (LookupError, ValueError) as error:
        print(f"tfx-prod drift: error: {error}", file=sys.stderr)
        return EXIT_USAGE
    if args.json:
        print(json.dumps(record, indent=2))
    else:
        where = (f"{record['span']} now" if "span" in record
                 else f"run {record['run_id']}")
        print(f"{where}:")
        print("\n".join(drift_lines(record)))
    return 0
