"""`tfx-prod run` arguments: definitions, validation, and the Trainer config.

Kept apart from cli.py so the flags read as one documented list.
"""
import argparse
import pathlib

from pipeline.configs import DEFAULT_DATA_ROOT, DEFAULT_SCHEMA, PipelineConfig

EPILOG = """\
exit codes: 0 pushed (or nothing new to do), 1 a component failed,
            2 bad arguments or missing data, 3 data anomalies (nothing trained),
            4 model not blessed (nothing pushed)

examples:
  tfx-prod run                                  # bundled taxi data, defaults
  tfx-prod run --train-steps 300                # quick run
  tfx-prod data synth --rows 20000 --span 2 --drift 0.2 && tfx-prod run
  tfx-prod run --data my_csvs/ --schema my_schema.pbtxt
  tfx-prod run --optimization prune --final-sparsity 0.8
  tfx-prod run --optimization distill --teacher blessed
  tfx-prod run --beam-arg=--direct_running_mode=multi_processing \\
               --beam-arg=--direct_num_workers=0
"""


class UsageError(ValueError):
    """Flags that parse but do not fit together; reported with exit code 2."""


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


def _sparsity(text: str) -> float:
    value = float(text)
    if not 0.0 <= value < 1.0:
        raise argparse.ArgumentTypeError(f"must be in [0, 1), got {value}")
    return value


def trainer_options(args) -> dict:
    """CLI flags -> the Trainer's custom_config (modules.model.TrainerConfig).

    Only the chosen recipe's settings are passed, so changing, say, the
    temperature does not invalidate a cached plain model.
    """
    options = {}
    if args.optimization == "prune":
        if args.initial_sparsity > args.final_sparsity:
            raise UsageError("--initial-sparsity must not exceed "
                             "--final-sparsity")
        end = args.pruning_end_step or max(1, int(0.8 * args.train_steps))
        if not 0 <= args.pruning_begin_step < end <= args.train_steps:
            raise UsageError(
                "need 0 <= --pruning-begin-step < "
                f"--pruning-end-step <= --train-steps (got "
                f"{args.pruning_begin_step}, {end}, {args.train_steps})")
        options = {"initial_sparsity": args.initial_sparsity,
                   "final_sparsity": args.final_sparsity,
                   "pruning_begin_step": args.pruning_begin_step,
                   "pruning_end_step": end}
    elif args.optimization == "distill":
        if args.temperature <= 0:
            raise UsageError("--temperature must be > 0")
        options = {"teacher": "base_model" if args.teacher == "blessed"
                   else "trained",
                   "temperature": args.temperature, "alpha": args.distill_alpha}
    config = {"optimization": args.optimization, "strategy": args.strategy}
    if args.mixed_precision:
        config["mixed_precision"] = True
    if args.xla:
        config["xla"] = True
    if options:
        config["options"] = options
    return config


def add_arguments(run: argparse.ArgumentParser) -> None:
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
    optimize = run.add_argument_group(
        "model optimization (the Quantizer runs after any of these)")
    optimize.add_argument("--optimization", choices=("none", "prune", "distill"),
                          default="none",
                          help="training recipe: magnitude pruning (tfmot), or "
                               "distillation into a small student "
                               "(default: %(default)s)")
    optimize.add_argument("--final-sparsity", type=_sparsity, default=0.8,
                          help="prune: fraction of Dense weights zeroed at the "
                               "end (default: %(default)s)")
    optimize.add_argument("--initial-sparsity", type=_sparsity, default=0.5,
                          help="prune: PolynomialDecay start (default: "
                               "%(default)s)")
    optimize.add_argument("--pruning-begin-step", type=int, default=0,
                          metavar="N", help="prune: first pruning step "
                                            "(default: %(default)s)")
    optimize.add_argument("--pruning-end-step", type=_positive_int, metavar="N",
                          help="prune: step where final sparsity is reached "
                               "(default: 80%% of --train-steps)")
    optimize.add_argument("--teacher", choices=("train", "blessed"),
                          default="train",
                          help="distill: train a large teacher in the same run, "
                               "or use the latest blessed model "
                               "(default: %(default)s)")
    optimize.add_argument("--temperature", type=float, default=2.0,
                          help="distill: softening temperature (default: "
                               "%(default)s)")
    optimize.add_argument("--distill-alpha", type=_fraction, default=0.5,
                          help="distill: weight of the hard-label loss; the "
                               "rest goes to the teacher (default: %(default)s)")
    hardware = run.add_argument_group("hardware")
    hardware.add_argument("--strategy", default="auto",
                          choices=("auto", "tpu", "mirrored", "multiworker",
                                   "one-device", "cpu"),
                          help="tf.distribute strategy; auto = TPU if found, "
                               "else GPUs, else CPU (default: %(default)s)")
    hardware.add_argument("--mixed-precision", action="store_true",
                          help="float16 (GPU) / bfloat16 (TPU, CPU) compute")
    hardware.add_argument("--xla", action="store_true",
                          help="compile the training step with XLA")
    execution = run.add_argument_group("execution")
    execution.add_argument("--beam-arg", action="append", default=[],
                           metavar="ARG",
                           help="Beam pipeline option, repeatable (e.g. "
                                "--beam-arg=--runner=FlinkRunner); replaces the "
                                "automatic DirectRunner choice")
    execution.add_argument("--no-cache", action="store_true",
                           help="re-execute every component")


def check_inputs(args) -> str | None:
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
