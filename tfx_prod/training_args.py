"""Training, gate, drift, recipe and hardware flags: `run` and `compile`.

One home for the flags both commands take and for turning them into the
Trainer's custom_config and the project's gates, so the same flag means the
same thing on a laptop run and in a compiled Kubeflow spec.
"""
import argparse
import math

from modules.recipes import settings as recipe_settings
from pipeline import configs

PRUNE_FLAGS = {"initial_sparsity": "--initial-sparsity",
               "final_sparsity": "--final-sparsity",
               "pruning_begin_step": "--pruning-begin-step",
               "pruning_end_step": "--pruning-end-step"}
DISTILL_FLAGS = {"teacher": "--teacher", "temperature": "--temperature",
                 "distill_alpha": "--distill-alpha"}
class UsageError(ValueError):
    """Flags that parse but do not fit together; reported with exit code 2."""


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
    train.add_argument("--window", type=_positive_int, default=1, metavar="K",
                       help="train on the newest K spans (each ingested once, "
                            "kept in the pipeline root's span store; the "
                            "analyzer cache makes a new span cost one span of "
                            "Transform analysis). Validation, drift and "
                            "evaluation use the newest span (default: 1)")
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


def watermark_setting(args, project) -> dict:
    """--watermark-key -> the Trainer's `watermark` option: the key's public
    id only (it is a pipeline parameter, stored in ML Metadata); the key
    reaches the Trainer through $TFX_PROD_WATERMARK_KEY."""
    path = getattr(args, "watermark_key", None)
    if not path:
        return {}
    from modules import watermark
    if project.task == "regression":
        raise UsageError(f"--watermark-key needs a classification task; "
                         f"{project.path} is a regression task (a trigger "
                         "set is a secret class per input)")
    try:
        return {"key_id": watermark.key_id(watermark.read_key(path))}
    except watermark.KeyFileError as error:
        raise UsageError(f"--watermark-key: {error}") from None


def pipeline_settings(args, project, train_steps: int) -> dict:
    """The PipelineConfig fields these flags set (run and compile alike)."""
    options = trainer_options(args, train_steps)
    mark = watermark_setting(args, project)
    if mark:
        options["watermark"] = mark
    return {"train_steps": train_steps, "eval_steps": args.eval_steps,
            "gates": gates_from_flags(args, project),
            "trainer_options": options,
            "drift_gate": args.drift == "gate", "window": args.window}


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
