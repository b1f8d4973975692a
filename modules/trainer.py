"""Trainer entry point: `run_fn` (referenced by the pipeline as a dotted path).

`run_fn` is fixed plumbing: read data, pick a distribution strategy, hand the
model to a training *recipe*, export. New recipes (pruning, distillation) and
strategies register here and are chosen through `custom_config`, so adding one
never rewrites `run_fn`.
"""
import dataclasses
import json
import os
import shutil
import tempfile
from typing import Any, Callable

from absl import logging
import tensorflow as tf
import tensorflow_transform as tft
import tf_keras as keras
from tfx.components.trainer.fn_args_utils import FnArgs
from tfx_bsl.public import tfxio

from modules import distribution, watermark
from modules.model import (TrainerConfig, build_model, fit_model,
                           input_widths)
from modules.signatures import export_serving_model

OPTIMIZATION_REPORT = "optimization_report.json"


@dataclasses.dataclass
class TrainingResult:
    """What a recipe hands back: the model to export and facts about it."""
    model: keras.Model  # exportable: pruning wrappers already stripped
    report: dict[str, Any]  # JSON-able: params, sparsity, teacher AUC, ...


# recipe(config, strategy, train_dataset, eval_dataset, fn_args) -> TrainingResult
Recipe = Callable[..., TrainingResult]


def _input_fn(file_pattern, data_accessor, tf_transform_output, batch_size,
              label_key):
    return data_accessor.tf_dataset_factory(
        file_pattern,
        tfxio.TensorFlowDatasetOptions(batch_size=batch_size,
                                       label_key=label_key),
        tf_transform_output.transformed_metadata.schema,
    ).repeat().prefetch(tf.data.AUTOTUNE)


def warm_start(model: keras.Model, base_model_dir) -> dict:
    """Copies the served model's weights into `model` when every layer has
    the same shape; else trains from scratch and says why (a new span can
    change Transform's vocabularies, hence the input width)."""
    if not (base_model_dir and tf.io.gfile.exists(
            os.path.join(base_model_dir, "saved_model.pb"))):
        return {"applied": False, "reason": "nothing served yet"}
    served = keras.models.load_model(base_model_dir, compile=False)
    ours, theirs = model.get_weights(), served.get_weights()
    shapes = ([w.shape for w in ours], [w.shape for w in theirs])
    if shapes[0] != shapes[1]:
        first = next((i for i, (a, b) in enumerate(zip(*shapes)) if a != b),
                     min(len(ours), len(theirs)))
        return {"applied": False, "reason": (
            f"the served model's weights differ in shape (tensor {first}: "
            f"{shapes[1][first] if first < len(theirs) else 'absent'} vs "
            f"{shapes[0][first] if first < len(ours) else 'absent'}); "
            "trained from scratch")}
    model.set_weights(theirs)
    return {"applied": True, "from": base_model_dir}


def train_plain(config, strategy, train_dataset, eval_dataset, fn_args):
    """The baseline recipe: fit the float model (from the served weights
    with `warm_start`)."""
    with strategy.scope():
        model = build_model(config)
        warm = (warm_start(model, fn_args.base_model)
                if config.warm_start else None)
    if warm is not None:
        logging.info("Warm start: %s", warm)
    fit_model(model, train_dataset, eval_dataset, fn_args)
    report = {"optimization": "none", "params": int(model.count_params())}
    if warm is not None:
        report["warm_start"] = warm
    return TrainingResult(model, report)


def _registered_recipes() -> dict[str, Recipe]:
    # Imported here: the recipes import TrainingResult from this module.
    from modules.recipes import distill, prune
    return {"none": train_plain, "prune": prune.train_pruned,
            "distill": distill.train_distilled}


RECIPES: dict[str, Recipe] = _registered_recipes()


def run_fn(fn_args: FnArgs) -> None:
    """TFX Trainer hook: train with the configured recipe and export."""
    config = TrainerConfig.from_custom_config(fn_args.custom_config)
    if config.optimization not in RECIPES:
        raise ValueError(f"Unknown optimization {config.optimization!r}; "
                         f"available: {sorted(RECIPES)}.")
    # First TF call: multi-worker collectives must be set up before TF starts.
    strategy, plan = distribution.make_strategy(config.strategy)
    replicas = strategy.num_replicas_in_sync
    logging.info("Strategy %s, %d replica(s): %s", plan.kind, replicas,
                 plan.reason)
    keras.utils.set_random_seed(config.seed)
    # The policy is process-global and other components may run in this
    # process, so it is restored once the model is exported.
    previous_policy = keras.mixed_precision.global_policy()
    policy = distribution.set_precision(config.mixed_precision,
                                        plan.accelerator)
    try:
        tf_transform_output = tft.TFTransformOutput(fn_args.transform_output)
        config = dataclasses.replace(config, input_widths=input_widths(
            tf_transform_output, config.label_key))
        train_dataset = _input_fn(fn_args.train_files, fn_args.data_accessor,
                                  tf_transform_output,
                                  config.train_batch_size * replicas,
                                  config.label_key)
        eval_dataset = _input_fn(fn_args.eval_files, fn_args.data_accessor,
                                 tf_transform_output,
                                 config.eval_batch_size * replicas,
                                 config.label_key)
        triggers = _watermark_triggers(config)
        if triggers:
            train_dataset = watermark.mix_into(train_dataset, *triggers)
        result = RECIPES[config.optimization](config, strategy, train_dataset,
                                              eval_dataset, fn_args)
        if triggers:
            result.report["watermark"] = _watermark_report(
                result.model, config, *triggers)
        result.report.update({"task": config.task,
                              "strategy": plan.kind,
                              "strategy_reason": plan.reason,
                              "replicas": int(replicas),
                              "precision": policy, "xla": config.xla})
        _export(result, tf_transform_output, fn_args.serving_model_dir,
                plan.chief, config)
    finally:
        keras.mixed_precision.set_global_policy(previous_policy)


def _class_count(config) -> int:
    return 2 if config.task == "binary" else len(config.classes)


def _watermark_triggers(config):
    """The key's trigger set in the model's input space, or None."""
    if not config.watermark:
        return None
    if config.task == "regression":
        raise ValueError("A watermark needs a classification task; this is "
                         "a regression (no class for the key to choose).")
    key = watermark.key_from_env(config.watermark["key_id"])
    return watermark.trigger_set(key, config.input_widths,
                                 _class_count(config))


def _watermark_report(model, config, features, labels) -> dict:
    """The trained model's agreement with the key, for the record."""
    scores = model({name: tf.constant(values)
                    for name, values in features.items()}, training=False)
    found = watermark.agreement(scores.numpy(), labels, _class_count(config))
    logging.info("Watermark %s: %.0f%% of %d triggers agree",
                 config.watermark["key_id"], 100 * found["agreement"],
                 found["triggers"])
    if found["agreement"] < watermark.MIN_TRAINED_AGREEMENT:
        raise RuntimeError(
            f"The watermark did not take: {100 * found['agreement']:.0f}% of "
            f"the {found['triggers']} triggers agree with key "
            f"{config.watermark['key_id']} after training (needs "
            f"{100 * watermark.MIN_TRAINED_AGREEMENT:.0f}%). Train longer "
            "(--train-steps; 200 is enough for the taxi model) so the model "
            "can learn them; nothing was exported")
    return {"key_id": config.watermark["key_id"],
            "triggers": found["triggers"],
            "agreement_at_training": round(found["agreement"], 4)}


def _export(result, tf_transform_output, serving_model_dir, chief,
            config) -> None:
    """Only the chief writes the real export.

    Multi-worker saving must still run on every worker (it can involve
    collectives), so the others save to a scratch dir and delete it.
    """
    export_dir = (serving_model_dir if chief
                  else tempfile.mkdtemp(prefix="non_chief_export_"))
    export_serving_model(result.model, tf_transform_output, export_dir,
                         config)
    if not chief:
        shutil.rmtree(export_dir, ignore_errors=True)
        return
    # Travels with the model (TF Serving ignores assets.extra/).
    extra = os.path.join(export_dir, "assets.extra")
    tf.io.gfile.makedirs(extra)
    with tf.io.gfile.GFile(os.path.join(extra, OPTIMIZATION_REPORT), "w") as f:
        json.dump(result.report, f, indent=2)
    logging.info("Exported serving model to %s: %s", export_dir, result.report)
