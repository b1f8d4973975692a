"""`tfx-prod run` flags: definitions, validation, and the PipelineConfig they make.

Everything here runs before the pipeline costs anything: bad input exits 2
(usage) or 3 (data) with a message that says what to do. Recipe settings
are checked with the recipes' own rules (modules/recipes/settings.py).
"""
import argparse
import csv
import math
import os
import pathlib
import re

from modules.recipes import settings as recipe_settings
from pipeline import configs
from pipeline.configs import PipelineConfig

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
  tfx-prod run --beam-arg=--direct_running_mode=multi_processing \\
               --beam-arg=--direct_num_workers=0

Runs locally: --data and --pipeline-root must be local folders. --serving-dir
may be a gs:// or s3:// URI (versions are written manifest-last, see README).
"""

# TF Serving puts the name in URLs (/v1/models/NAME) and in a directory name.
MODEL_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,127}")
PRUNE_FLAGS = {"initial_sparsity": "--initial-sparsity",
               "final_sparsity": "--final-sparsity",
               "pruning_begin_step": "--pruning-begin-step",
               "pruning_end_step": "--pruning-end-step"}
DISTILL_FLAGS = {"teacher": "--teacher", "temperature": "--temperature",
                 "distill_alpha": "--distill-alpha"}
TEXT_SNIFF_BYTES = 1 << 16


class UsageError(ValueError):
    """Flags that parse but do not fit together; reported with exit code 2."""


class DataFileError(ValueError):
    """A data file that cannot be CSV text; reported with exit code 3."""


def _number(text: str, kind=float) -> float:
    try:
        value = kind(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if isinstance(value, float) and not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"must be a finite number, got {text}")
    return value


def _positive_int(text: str) -> int:
    value = _number(text, int)
    if value <= 0:
        raise argparse.ArgumentTypeError(f"must be > 0, got {value}")
    return value


def _non_negative_int(text: str) -> int:
    value = _number(text, int)
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be >= 0, got {value}")
    return value


def _positive_float(text: str) -> float:
    value = _number(text)
    if value <= 0:
        raise argparse.ArgumentTypeError(f"must be > 0, got {value}")
    return value


def _non_negative_float(text: str) -> float:
    value = _number(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be >= 0, got {value}")
    return value


def _fraction(text: str) -> float:
    value = _number(text)
    if not 0.0 <= value <= 1.0:
        raise argparse.ArgumentTypeError(f"must be in [0, 1], got {value}")
    return value


def _sparsity(text: str) -> float:
    value = _number(text)
    if not 0.0 <= value < 1.0:
        raise argparse.ArgumentTypeError(f"must be in [0, 1), got {value}")
    return value


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


def add_training_arguments(parser: argparse.ArgumentParser) -> None:
    """Training, gates, optimization and hardware flags: `run` and `compile`."""
    pruning, distilling = (recipe_settings.PRUNING_DEFAULTS,
                           recipe_settings.DISTILLATION_DEFAULTS)
    train = parser.add_argument_group("training and gates")
    defaults = configs.PipelineConfig.__dataclass_fields__
    train.add_argument("--train-steps", type=_positive_int,
                       help="training steps (default: the project's, else "
                            f"{defaults['train_steps'].default})")
    train.add_argument("--eval-steps", type=_positive_int,
                       default=defaults["eval_steps"].default,
                       help="validation steps during training "
                            "(default: %(default)s)")
    train.add_argument("--min-auc", type=_fraction,
                       help="classification: floor on overall AUC (macro for "
                            "multiclass)")
    train.add_argument("--min-accuracy", type=_fraction,
                       help="classification: floor on overall accuracy")
    train.add_argument("--max-auc-regression", type=_fraction,
                       help="classification: how much AUC a new model may "
                            "lose against the model being served")
    train.add_argument("--max-rmse", type=_positive_float,
                       help="regression: ceiling on overall RMSE")
    train.add_argument("--max-rmse-increase", type=_non_negative_float,
                       help="regression: how much RMSE a new model may add "
                            "over the model being served")
    train.add_argument("--quantization-budget", type=_non_negative_float,
                       help="largest loss in the task's metric (AUC points, "
                            "or RMSE) a TFLite variant may cost and still be "
                            "blessed")
    train.add_argument("--warm-start", action="store_true",
                       help="start from the served model's weights (when its "
                            "layers have the same shapes, else from scratch, "
                            "and the report says why); pair it with fewer "
                            "--train-steps. The Evaluator still gates it")
    train.add_argument("--drift", choices=("report", "gate"), default="report",
                       help="drift of the newest span against the served "
                            "model's training data, per the schema's "
                            "drift_comparator thresholds: report it "
                            "(default), or stop the run before training")
    optimize = parser.add_argument_group(
        "model optimization (the Quantizer runs after any of these)")
    optimize.add_argument("--optimization", choices=("none", "prune", "distill"),
                          default="none",
                          help="training recipe: magnitude pruning (tfmot), or "
                               "distillation into a small student "
                               "(default: %(default)s)")
    optimize.add_argument("--final-sparsity", type=_sparsity,
                          help="prune: fraction of Dense weights zeroed at the "
                               f"end (default: {pruning['final_sparsity']})")
    optimize.add_argument("--initial-sparsity", type=_sparsity,
                          help="prune: PolynomialDecay start (default: "
                               f"{pruning['initial_sparsity']})")
    optimize.add_argument("--pruning-begin-step", type=_non_negative_int,
                          metavar="N", help="prune: first pruning step "
                          f"(default: {pruning['pruning_begin_step']})")
    optimize.add_argument("--pruning-end-step", type=_positive_int, metavar="N",
                          help="prune: step where final sparsity is reached "
                               "(default: 80%% of --train-steps)")
    optimize.add_argument("--teacher", choices=("train", "blessed"),
                          help="distill: train a large teacher in the same run, "
                               "or use the model being served (the newest "
                               "pushed version) (default: train)")
    optimize.add_argument("--temperature", type=_positive_float,
                          help="distill: softening temperature (default: "
                               f"{distilling['temperature']})")
    optimize.add_argument("--distill-alpha", type=_fraction,
                          help="distill: weight of the hard-label loss; the "
                               "rest goes to the teacher (default: "
                               f"{distilling['alpha']})")
    hardware = parser.add_argument_group("hardware")
    hardware.add_argument("--strategy", default="auto",
                          choices=("auto", "tpu", "mirrored", "multiworker",
                                   "one-device", "cpu"),
                          help="tf.distribute strategy; auto = TPU if found, "
                               "else GPUs, else CPU (default: %(default)s). "
                               "multiworker needs one process per worker, "
                               "which a local run cannot start")
    hardware.add_argument("--mixed-precision", action="store_true",
                          help="float16 (GPU) / bfloat16 (TPU, CPU) compute")
    hardware.add_argument("--xla", action="store_true",
                          help="compile the training step with XLA")


def _recipe_options(args, train_steps: int) -> dict:
    """The chosen recipe's settings, checked with the recipe's own rules.

    Only the chosen recipe's settings are passed, so changing, say, the
    temperature does not invalidate a cached plain model; a recipe flag
    given without its recipe is an error, not silently ignored.
    """
    for recipe, flags in (("prune", PRUNE_FLAGS), ("distill", DISTILL_FLAGS)):
        given = [flag for attr, flag in flags.items()
                 if getattr(args, attr) is not None]
        if given and args.optimization != recipe:
            raise UsageError(f"{', '.join(given)} only apply with "
                             f"--optimization {recipe}")
    try:
        if args.optimization == "prune":
            chosen = {key: getattr(args, key) for key in PRUNE_FLAGS
                      if getattr(args, key) is not None}
            schedule = recipe_settings.schedule_settings(chosen, train_steps)
            return {"initial_sparsity": schedule["initial_sparsity"],
                    "final_sparsity": schedule["final_sparsity"],
                    "pruning_begin_step": schedule["begin_step"],
                    "pruning_end_step": schedule["end_step"]}
        if args.optimization == "distill":
            chosen = {"teacher": "base_model" if args.teacher == "blessed"
                      else "trained"}
            if args.temperature is not None:
                chosen["temperature"] = args.temperature
            if args.distill_alpha is not None:
                chosen["alpha"] = args.distill_alpha
            settings = recipe_settings.distillation_settings(chosen)
            return {"teacher": settings["teacher"],
                    "temperature": settings["temperature"],
                    "alpha": settings["alpha"]}
    except ValueError as error:
        raise UsageError(str(error)) from None
    return {}


def trainer_options(args, train_steps: int) -> dict:
    """CLI flags -> the Trainer's custom_config (modules.model.TrainerConfig)."""
    if args.strategy == "multiworker":
        raise UsageError(
            "--strategy multiworker needs one process per worker with TF_CONFIG "
            "set in each; a local run trains in a single process. Run the "
            "Trainer on an orchestrator that starts the workers, or use "
            "--strategy mirrored for the devices of this machine.")
    config = {"optimization": args.optimization, "strategy": args.strategy}
    if args.warm_start:
        if args.optimization != "none":
            raise UsageError("--warm-start applies to --optimization none "
                             "(a pruned or distilled model starts its own way)")
        config["warm_start"] = True
    if args.mixed_precision:
        config["mixed_precision"] = True
    if args.xla:
        config["xla"] = True
    options = _recipe_options(args, train_steps)
    if options:
        config["options"] = options
    return config


# Flag -> (project gate key, tasks it applies to).
GATE_FLAGS = {
    "min_auc": ("min_auc", ("binary", "multiclass")),
    "min_accuracy": ("min_accuracy", ("binary", "multiclass")),
    "max_auc_regression": ("max_auc_regression", ("binary", "multiclass")),
    "max_rmse": ("max_rmse", ("regression",)),
    "max_rmse_increase": ("max_rmse_increase", ("regression",)),
}


def gates_from_flags(args, project) -> dict:
    """The project's gates, overridden by the flags that fit its task."""
    gates = dict(project.gates)
    for attr, (key, tasks) in GATE_FLAGS.items():
        value = getattr(args, attr)
        if value is None:
            continue
        if project.task not in tasks:
            raise UsageError(f"--{attr.replace('_', '-')} applies to "
                             f"{' and '.join(tasks)} tasks; "
                             f"{project.path} is a {project.task} task")
        gates[key] = value
    if args.quantization_budget is not None:
        budget = ("quantization_max_rmse_increase"
                  if project.task == "regression"
                  else "quantization_max_auc_drop")
        gates[budget] = args.quantization_budget
    return gates


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
        train_steps=train_steps, eval_steps=args.eval_steps,
        gates=gates_from_flags(args, project),
        trainer_options=trainer_options(args, train_steps),
        drift_gate=args.drift == "gate",
        enable_cache=not args.no_cache)
    if args.beam_arg:
        config.beam_pipeline_args, beam_note = args.beam_arg, "from --beam-arg"
    else:
        config.beam_pipeline_args, beam_note = configs.default_beam_args(data)
    return config, {"schema": schema_note, "beam": beam_note,
                    "project": project.path}
