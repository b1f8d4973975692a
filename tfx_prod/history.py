"""`tfx-prod runs` and `tfx-prod lineage`: what ran, and where a model came from.

`runs` reads ML Metadata under the pipeline root. `lineage` reads the
pushed version directory itself (`assets.extra/tfx_prod/lineage.json`, what
the Pusher wrote and the server exposes), so it answers from the serving
location alone, on any filesystem tf.io.gfile reads.
"""
import argparse
import datetime
import json
import os
import sys

from pipeline import configs

EXIT_USAGE = 2


def _where(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--home", default=configs.DEFAULT_HOME, metavar="DIR",
                        help="the `tfx-prod run --home` (default: %(default)s)")
    parser.add_argument("--json", action="store_true",
                        help="print JSON instead of a table")


def add_runs_arguments(parser: argparse.ArgumentParser) -> None:
    _where(parser)
    parser.add_argument("--pipeline-root", metavar="DIR",
                        help="default: HOME/pipeline")


def add_lineage_arguments(parser: argparse.ArgumentParser) -> None:
    _where(parser)
    parser.add_argument("version", nargs="?", type=int,
                        help="pushed version (default: the newest complete one)")
    parser.add_argument("--diff", nargs=2, type=int, metavar=("V1", "V2"),
                        help="what changed between two versions")
    parser.add_argument("--serving-dir", metavar="DIR|URI",
                        help="default: HOME/serving")
    parser.add_argument("--config", default=str(configs.DEFAULT_PROJECT),
                        metavar="FILE", help="project file: the model name")


def add_version_arguments(parser: argparse.ArgumentParser) -> None:
    """[VERSION|DIR] --home --serving-dir --config, for `version_path`."""
    parser.add_argument("version", nargs="?",
                        help="pushed version number (default: the newest "
                             "complete one), or a model directory")
    parser.add_argument("--home", default=configs.DEFAULT_HOME, metavar="DIR",
                        help="the `tfx-prod run --home` (default: %(default)s)")
    parser.add_argument("--serving-dir", metavar="DIR|URI",
                        help="default: HOME/serving")
    parser.add_argument("--config", default=str(configs.DEFAULT_PROJECT),
                        metavar="FILE", help="project file: the model name")


def _model_base(args) -> str:
    """SERVING_DIR (default HOME/serving)/MODEL, the project naming MODEL;
    LookupError if the project file does not load."""
    from pipeline import project as project_lib
    from serving import layout
    try:
        project = project_lib.load(args.config)
    except project_lib.ProjectError as error:
        raise LookupError(str(error)) from None
    return layout.join(args.serving_dir or os.path.join(args.home, "serving"),
                       project.model_name)


def version_path(args) -> str:
    """The directory of `add_version_arguments`' VERSION: a number under
    HOME/serving/MODEL (default the newest complete one), or a path.
    LookupError says what exists instead."""
    import tensorflow as tf
    if args.version and not args.version.isdigit():
        if not tf.io.gfile.isdir(args.version):
            raise LookupError(f"{args.version} is neither a version number "
                              "nor a model directory")
        return args.version
    from serving import layout
    base = _model_base(args)
    complete = layout.complete_versions(base)
    version = int(args.version) if args.version else (
        complete[-1] if complete else None)
    if version not in complete:
        raise LookupError(f"no complete version {version or ''} under {base} "
                          f"(complete: {', '.join(map(str, complete)) or 'none'})")
    return layout.version_dir(base, version)


def _time(ms) -> str:
    return datetime.datetime.fromtimestamp(
        ms / 1e3, datetime.timezone.utc).strftime("%Y-%m-%d %H:%M:%S")


def runs_main(args) -> int:
    from pipeline import metadata
    root = args.pipeline_root or os.path.join(args.home, "pipeline")
    path = os.path.join(root, "metadata.sqlite")
    if not os.path.exists(path):
        print(f"tfx-prod runs: error: no pipeline runs under {root}",
              file=sys.stderr)
        return EXIT_USAGE
    store = metadata.open_store(path)
    records = [metadata.run_record(store, run)
               for run in metadata.pipeline_runs(store)]
    if args.json:
        print(json.dumps(records, indent=2))
        return 0
    print(f"{'started (UTC)':<20} {'spans':>7}  {'outcome':<11} {'blessed':<7} "
          f"{'pushed':>11} {'wall':>7}  run id")
    for r in records:
        blessed = {True: "yes", False: "no", None: "-"}[r["blessed"]]
        outcome = r["status"] + (f" ({', '.join(r['failed'])})"
                                 if r["failed"] else "")
        spans = ",".join(map(str, r["spans"])) or "-"
        print(f"{_time(r['started_ms']):<20} {spans:>7}  "
              f"{outcome:<11} {blessed:<7} {r['pushed_version'] or '-':>11} "
              f"{r['wall_seconds']:>6.0f}s  {r['run_id']}")
    return 0


def _flat(record, prefix="") -> dict:
    if isinstance(record, dict):
        out = {}
        for key, value in record.items():
            out.update(_flat(value, f"{prefix}{key}."))
        return out
    return {prefix.rstrip("."): record}


def _lines(version: int, lineage: dict) -> list:
    examples = lineage.get("examples") or {}
    source = lineage.get("source") or {}
    blessing = lineage.get("blessing") or {}
    recipe = lineage.get("recipe") or {}
    trainer = recipe.get("trainer") or {}
    commit = source.get("git_commit")
    code = (f"{commit[:12]}{' + uncommitted changes (diff ' + source['diff_digest'] + ')' if source.get('dirty') else ''}"
            if commit else "not a git checkout") + (
        f"; code digest {source['code_digest']}" if source.get("code_digest") else "")
    baseline = blessing.get("baseline_version")
    return [
        f"version {version}: pushed {lineage.get('pushed_at', '?')} by run "
        f"{lineage.get('run_id') or '?'} of {lineage.get('pipeline_name', '?')}",
        f"  data:      span {examples.get('span', '?')} (version "
        f"{examples.get('version', '?')}), {examples.get('input_fingerprint', '?')}"
        f", {examples.get('uri', '?')}",
        *([f"  trained on spans "
           + ", ".join(str(m["span"]) for m in lineage["training_spans"])
           + " (window; input fingerprints in --json)"]
          if lineage.get("training_spans") else []),
        f"  code:      {code}",
        f"  transform: {(lineage.get('transform_graph') or {}).get('uri', '?')}",
        f"  recipe:    {trainer.get('optimization', 'none')} ({trainer.get('task', '?')}),"
        f" {recipe.get('train_steps', '?')} train steps"
        + (f", watermark key {trainer['watermark']['key_id']}"
           if trainer.get("watermark") else ""),
        f"  verdict:   {'blessed' if blessing.get('blessed') == 1 else 'not blessed'}"
        + (f" against served version {baseline}" if baseline
           else " (nothing served to compare with)"),
        f"  model:     {lineage.get('model_digest', '?')}",
    ]


def lineage_main(args) -> int:
    from tfx_prod.quiet import quiet_libraries
    quiet_libraries()
    from serving import layout
    try:
        base = _model_base(args)
    except LookupError as error:
        print(f"tfx-prod lineage: error: {error}", file=sys.stderr)
        return EXIT_USAGE
    complete = layout.complete_versions(base)
    wanted = args.diff or [args.version or (complete[-1] if complete else None)]
    missing = [v for v in wanted if v not in complete]
    if missing:
        print(f"tfx-prod lineage: error: no complete version "
              f"{', '.join(map(str, missing))} under {base} (complete: "
              f"{', '.join(map(str, complete)) or 'none'})", file=sys.stderr)
        return EXIT_USAGE
    records = {v: layout.read_lineage(layout.version_dir(base, v)) for v in wanted}
    if args.diff:
        first, second = (_flat(records[v]) for v in args.diff)
        changed = {key: [first.get(key), second.get(key)]
                   for key in sorted(first.keys() | second.keys())
                   if first.get(key) != second.get(key)}
        if args.json:
            print(json.dumps(changed, indent=2))
        else:
            print(f"{args.diff[0]} -> {args.diff[1]}: {len(changed)} fields differ")
            for key, (old, new) in changed.items():
                print(f"  {key}: {old} -> {new}")
        return 0
    [(version, lineage)] = records.items()
    print(json.dumps(lineage, indent=2) if args.json
          else "\n".join(_lines(version, lineage)))
    return 0
