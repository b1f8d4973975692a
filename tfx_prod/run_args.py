"""`tfx-prod run` flags: definitions, validation, and the PipelineConfig they make.

Everything here runs before the pipeline costs anything: bad input exits 2
(usage) or 3 (data) with a message that says what to do. Recipe settings
are checked with the recipes' own rules (modules/recipes/settings.py).
"""
import argparse
import csv
import os
import pathlib
import re

from pipeline import configs
from pipeline.configs import PipelineConfig
from tfx_prod.training_args import (UsageError, add_training_arguments,
                                   pipeline_settings)

EPILOG = """\
exit codes: 0 pushed (or nothing new to do), 1 a component failed,
            2 bad arguments or missing data, 3 data anomalies or unreadable
            data (nothing trained), 4 model not blessed (nothing pushed),
            130/143 interrupted by Ctrl-C/SIGTERM (re-run to resume)

examples:
  tfx-prod run                                  # bundled taxi data, defaults
  tfx-prod run --train-steps 100                # quick run
  tfx-prod data synth --rows 20000 --span 2 --drift 0.2 && tfx-prod run
  tfx-prod run --data my_csvs/ --schema my_schema.pbtxt
  tfx-prod run --data my_csvs/ --infer-schema   # infer once, then frozen
  tfx-prod run --optimization prune --final-sparsity 0.8
  tfx-prod run --optimization distill --teacher blessed
  tfx-prod run --serving-dir gs://bucket/models # remote serving dir
  tfx-prod run --signing-key KEY.pem            # sign it (tfx-prod keys init)
  tfx-prod run --encryption-key KEY.kek         # encrypt it (keys init --encryption)
  tfx-prod run --watermark-key WM.key           # watermark it (watermark init)
  tfx-prod run --beam-arg=--direct_running_mode=multi_processing \\
               --beam-arg=--direct_num_workers=0

Runs locally: --data and --pipeline-root must be local folders. --serving-dir
may be a gs:// or s3:// URI (versions are written manifest-last, see README).
"""

# TF Serving puts the name in URLs (/v1/models/NAME) and in a directory name.
MODEL_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,127}")
TEXT_SNIFF_BYTES = 1 << 16


class DataFileError(ValueError):
    """A data file that cannot be CSV text; reported with exit code 3."""


def add_arguments(run: argparse.ArgumentParser) -> None:
    data = run.add_argument_group("data (each defaults to the project file)")
    data.add_argument("--config", default=str(configs.DEFAULT_PROJECT),
                      metavar="FILE",
                      help="project file (tfx-prod.yaml, written by "
                           "`tfx-prod init`): dataset name, label, task, "
                           "features, gates (default: the bundled taxi "
                           "example, %(default)s)")
    data.add_argument("--data", metavar="DIR",
                      help="local folder holding span-N/ subfolders of CSV "
                           "files; the newest span is used")
    data.add_argument("--schema", metavar="FILE",
                      help="curated schema.pbtxt that ExampleValidator checks "
                           "the data against; an edit re-validates")
    data.add_argument("--infer-schema", action="store_true",
                      help="no curated schema: SchemaGen infers one from the "
                           "first run's span and it is frozen under the "
                           "pipeline root, so later spans are validated "
                           "against it (catches fewer problems than a "
                           "curated one)")
    out = run.add_argument_group("where things go")
    out.add_argument("--home", default=configs.DEFAULT_HOME, metavar="DIR",
                     help="base for pipeline root, serving dir and logs "
                          "(default: ./%(default)s)")
    out.add_argument("--pipeline-root", metavar="DIR",
                     help="local folder for artifacts + ML Metadata (default: "
                          "HOME/pipeline); one run at a time per root")
    out.add_argument("--serving-dir", metavar="DIR|URI",
                     help="TF Serving model base (default: HOME/serving); the "
                          "model lands in DIR/MODEL_NAME/<version>/")
    out.add_argument("--model-name",
                     help="serving model name: letters, digits, '.', '_', "
                          "'-' (default: the project's name)")
    out.add_argument("--pipeline-name",
                     help="pipeline (ML Metadata context) name: lowercase "
                          "letters, digits, '-' (default: tfx-prod-NAME)")
    out.add_argument("--summary-json", metavar="FILE",
                     help="also write the run summary as JSON here")
    add_training_arguments(run)
    execution = run.add_argument_group("execution")
    execution.add_argument("--beam-arg", action="append", default=[],
                           metavar="ARG",
                           help="Beam pipeline option, repeatable (e.g. "
                                "--beam-arg=--runner=FlinkRunner); replaces the "
                                "automatic DirectRunner choice")
    execution.add_argument("--no-cache", action="store_true",
                           help="re-execute every component")
    execution.add_argument("--signing-key", metavar="FILE",
                           help="Ed25519 private key (PEM, from `tfx-prod "
                                "keys init`) that signs the pushed version, "
                                "so `tfx-prod serve --trusted_signing_keys` "
                                "loads it; sets $TFX_PROD_SIGNING_KEY for "
                                "the run (default: that variable; neither: "
                                "an unsigned push)")
    execution.add_argument("--encryption-key", metavar="FILE",
                           help="AES-256 key file (.kek, from `tfx-prod "
                                "keys init --encryption`) that encrypts the "
                                "pushed version at rest, so only `tfx-prod "
                                "serve --decryption_keys` with it loads it; "
                                "sets $TFX_PROD_ENCRYPTION_KEY for the run "
                                "(default: that variable; neither: a "
                                "plaintext push)")
    execution.add_argument("--watermark-key", metavar="FILE",
                           help="secret key (from `tfx-prod watermark "
                                "init`) whose trigger set the Trainer trains "
                                "into the model, so `tfx-prod watermark "
                                "verify` can prove it is yours; "
                                "classification only; sets "
                                "$TFX_PROD_WATERMARK_KEY for the run")


def apply_signing_key(args) -> str:
    """Exports --signing-key as $TFX_PROD_SIGNING_KEY (the Pusher reads only
    the variable: a key must never become a pipeline parameter) after
    checking it loads; returns a sentence for the run's header."""
    from serving import signing
    path = args.signing_key or os.environ.get(signing.SIGNING_KEY_ENV)
    if not path:
        return "off: the push is unsigned (--signing-key FILE signs it)"
    path = os.path.abspath(path) if "://" not in path else path
    try:
        key = signing.load_private_key(path)
    except signing.KeyFileError as error:
        raise UsageError(f"--signing-key: {error}") from None
    os.environ[signing.SIGNING_KEY_ENV] = path
    return f"key {signing.key_id(key.public_key())} ({path})"


def apply_watermark_key(args, config) -> str:
    """Exports --watermark-key as $TFX_PROD_WATERMARK_KEY, where the Trainer
    reads it (build_config already read it and put its id in the Trainer's
    options); a header sentence."""
    from modules import watermark
    mark = config.trainer_options.get("watermark")
    if not mark:
        return "off (--watermark-key FILE trains one in)"
    os.environ[watermark.KEY_ENV] = os.path.abspath(args.watermark_key)
    return f"key {mark['key_id']} ({watermark.TRIGGERS} triggers)"


def apply_encryption_key(args) -> str:
    """Exports --encryption-key as $TFX_PROD_ENCRYPTION_KEY (never a
    pipeline parameter) after checking it loads; returns a sentence for the
    run's header."""
    from serving import encryption
    path = getattr(args, "encryption_key", None) or os.environ.get(
        encryption.ENCRYPTION_KEY_ENV)
    if not path:
        return ("off: the push is plaintext (--encryption-key FILE "
                "encrypts it)")
    path = os.path.abspath(path) if "://" not in path else path
    try:
        key_id, _ = encryption.load_key(path)
    except encryption.KeyFileError as error:
        raise UsageError(f"--encryption-key: {error}") from None
    os.environ[encryption.ENCRYPTION_KEY_ENV] = path
    return f"key {key_id} ({path})"


def _local_folder(flag: str, value: str) -> str:
    if "://" in value:
        raise UsageError(
            f"{flag} {value}: `tfx-prod run` executes on this machine, so "
            f"{flag} must be a local folder. Remote data and pipeline roots "
            "need an orchestrator whose workers can read them.")
    return os.path.abspath(value)


def resolve_schema(args, pipeline_root: str,
                   default_schema: str | None) -> tuple[str | None, str]:
    """(schema file or None for SchemaGen, a sentence saying which and why)."""
    if args.schema and args.infer_schema:
        raise UsageError("--schema and --infer-schema exclude each other: pass "
                         "a curated schema, or let SchemaGen infer one.")
    if args.infer_schema or (not args.schema and not default_schema):
        frozen = configs.frozen_schema_path(pipeline_root)
        if os.path.exists(frozen):
            return frozen, ("inferred by SchemaGen on an earlier run and "
                            "frozen; new spans are validated against it")
        return None, "inferred by SchemaGen from this span, then frozen"
    schema = os.path.abspath(args.schema or default_schema)
    if not os.path.isfile(schema):
        raise UsageError(f"--schema {schema}: no such file. Pass a "
                         "schema.pbtxt, or --infer-schema to let SchemaGen "
                         "infer one.")
    return schema, "curated"


def _check_data_folder(data: str) -> None:
    if not os.path.isdir(data):
        raise UsageError(f"--data {data}: no such folder.")
    newest = configs.latest_span_dir(data)
    if newest is None or not any(f.is_file() for f in newest.iterdir()):
        raise UsageError(
            f"--data {data}: no span-N/ folder with files in it. Lay CSVs "
            "out as DIR/span-1/data.csv, DIR/span-2/... (newest is used).")


def check_data_files(data_root: str) -> None:
    """DataFileError naming a file in the newest span that is not CSV text."""
    for path in sorted(configs.latest_span_dir(data_root).rglob("*")):
        if not path.is_file():
            continue
        with open(path, "rb") as f:
            head = f.read(TEXT_SNIFF_BYTES)
        problem = None
        if b"\0" in head:
            problem = f"has a NUL byte at offset {head.index(bytes(1))}"
        else:
            try:
                head.decode("utf-8")
            except UnicodeDecodeError as error:
                # A multi-byte character cut at the sniff boundary is fine.
                if error.start < len(head) - 3:
                    problem = f"is not UTF-8 text (byte {error.start})"
        if problem:
            raise DataFileError(
                f"{path} {problem}: it is not a CSV text file. Every file "
                "in a span folder is read as CSV; move it out, or fix the "
                "export that wrote it.")


def check_columns_fit_project(data_root: str, features, project_path) -> None:
    """UsageError when the newest span lacks most of the project's feature
    columns: that data belongs to another project (e.g. a user's CSV run
    against the bundled taxi project). A column or two missing is left to
    the schema gate, which names each one (exit 3)."""
    files = sorted(p for p in configs.latest_span_dir(data_root).rglob("*")
                   if p.is_file())
    with open(files[0], newline="", encoding="utf-8", errors="replace") as f:
        header = next(csv.reader(f), [])
    missing = [name for name in features if name not in header]
    if len(missing) * 2 <= len(features):
        return
    shown = ", ".join(missing[:6]) + (", ..." if len(missing) > 6 else "")
    raise UsageError(
        f"{files[0]} lacks {len(missing)} of the {len(features)} feature "
        f"columns of the project {project_path} (missing: {shown}). For your "
        "own CSV, make a project first: tfx-prod init DIR --csv FILE --label "
        "COLUMN, then tfx-prod run --config DIR/tfx-prod.yaml.")


def load_project(args):
    """The project file, as a UsageError (exit 2) if it is wrong."""
    from pipeline import project
    try:
        return project.load(args.config)
    except project.ProjectError as error:
        raise UsageError(str(error)) from None


def build_config(args) -> tuple[PipelineConfig, dict]:
    """A PipelineConfig from the project file and the flags, plus facts for
    the run's header. Raises UsageError (exit 2) for what does not fit."""
    from pipeline import project as project_lib
    project = load_project(args)
    # `is None`, not `or`: an empty --model-name is refused, not defaulted.
    model_name = (project.model_name if args.model_name is None
                  else args.model_name)
    if not MODEL_NAME.fullmatch(model_name) or ".." in model_name:
        raise UsageError(
            f"--model-name {model_name!r}: use 1-128 letters, digits, "
            "'.', '_' or '-', starting with a letter or digit (it becomes a "
            "directory and part of TF Serving's /v1/models/NAME URLs).")
    pipeline_name = (project.pipeline_name if args.pipeline_name is None
                     else args.pipeline_name)
    if not project_lib.NAME.fullmatch(pipeline_name.removeprefix("tfx-prod-")
                                      ) or len(pipeline_name) > 128:
        raise UsageError(f"--pipeline-name {pipeline_name!r}: use lowercase "
                         "letters, digits and '-' (Kubeflow's rule).")
    home = pathlib.Path(args.home)
    data = _local_folder("--data", args.data or project.data_root)
    _check_data_folder(data)
    root = _local_folder("--pipeline-root", args.pipeline_root or
                         str(home / "pipeline"))
    serving = args.serving_dir or str(home / "serving")
    if "://" not in serving:
        serving = os.path.abspath(serving)
    schema, schema_note = resolve_schema(args, root, project.schema_path)
    train_steps = (args.train_steps or project.train_steps
                   or PipelineConfig.__dataclass_fields__["train_steps"].default)
    config = PipelineConfig.from_project(
        project, root, serving, data_root=data, schema_path=schema,
        model_name=model_name, pipeline_name=pipeline_name,
        enable_cache=not args.no_cache,
        **pipeline_settings(args, project, train_steps))
    if args.beam_arg:
        config.beam_pipeline_args, beam_note = args.beam_arg, "from --beam-arg"
    else:
        config.beam_pipeline_args, beam_note = configs.default_beam_args(data)
    return config, {"schema": schema_note, "beam": beam_note,
                    "project": project.path}
