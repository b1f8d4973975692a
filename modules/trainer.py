"""Trainer entry point: `run_fn` (referenced by the pipeline as a dotted path).

`run_fn` is fixed plumbing: read data, pick a distribution strategy, hand the
model to a training *recipe*, export. New recipes (pruning, distillation) and
strategies register here and are chosen through `custom_config`, so adding one
never rewrites `run_fn`.
"""
from typing import Callable

from absl import logging
import tensorflow as tf
import tensorflow_transform as tft
import tf_keras as keras
from tfx import v1 as tfx
from tfx_bsl.public import tfxio

from modules import features
from modules.model import TrainerConfig, build_model
from modules.signatures import export_serving_model

# recipe(config, strategy, train_dataset, eval_dataset, fn_args) -> trained model
Recipe = Callable[..., keras.Model]


def _input_fn(file_pattern, data_accessor, tf_transform_output, batch_size):
    return data_accessor.tf_dataset_factory(
        file_pattern,
        tfxio.TensorFlowDatasetOptions(batch_size=batch_size,
                                       label_key=features.LABEL_KEY),
        tf_transform_output.transformed_metadata.schema,
    ).repeat().prefetch(tf.data.AUTOTUNE)


def choose_strategy(name: str) -> tf.distribute.Strategy:
    """'auto': MirroredStrategy over several GPUs, else the default strategy."""
    gpus = tf.config.list_logical_devices("GPU")
    if name == "auto":
        if len(gpus) > 1:
            logging.info("strategy auto: %d GPUs -> MirroredStrategy", len(gpus))
            return tf.distribute.MirroredStrategy()
        logging.info("strategy auto: %d GPU(s) -> default strategy", len(gpus))
        return tf.distribute.get_strategy()
    if name == "mirrored":
        return tf.distribute.MirroredStrategy()
    if name in ("cpu", "one-device"):
        return tf.distribute.OneDeviceStrategy(
            "/gpu:0" if gpus and name == "one-device" else "/cpu:0")
    raise ValueError(f"Unknown strategy {name!r}; use one of {STRATEGIES}.")


STRATEGIES = ("auto", "mirrored", "one-device", "cpu")


def train_plain(config, strategy, train_dataset, eval_dataset, fn_args):
    """The baseline recipe: fit the float model."""
    with strategy.scope():
        model = build_model(config)
    model.fit(
        train_dataset,
        steps_per_epoch=fn_args.train_steps,
        validation_data=eval_dataset,
        validation_steps=fn_args.eval_steps,
        verbose=2,
        callbacks=[keras.callbacks.TensorBoard(fn_args.model_run_dir,
                                               profile_batch=0)])
    return model


RECIPES: dict[str, Recipe] = {"none": train_plain}


def run_fn(fn_args: tfx.components.FnArgs) -> None:
    """TFX Trainer hook: train with the configured recipe and export."""
    config = TrainerConfig.from_custom_config(fn_args.custom_config)
    if config.optimization not in RECIPES:
        raise ValueError(f"Unknown optimization {config.optimization!r}; "
                         f"available: {sorted(RECIPES)}.")
    keras.utils.set_random_seed(config.seed)
    strategy = choose_strategy(config.strategy)
    replicas = strategy.num_replicas_in_sync
    tf_transform_output = tft.TFTransformOutput(fn_args.transform_output)

    train_dataset = _input_fn(fn_args.train_files, fn_args.data_accessor,
                              tf_transform_output,
                              config.train_batch_size * replicas)
    eval_dataset = _input_fn(fn_args.eval_files, fn_args.data_accessor,
                             tf_transform_output,
                             config.eval_batch_size * replicas)
    model = RECIPES[config.optimization](config, strategy, train_dataset,
                                         eval_dataset, fn_args)
    export_serving_model(model, tf_transform_output, fn_args.serving_model_dir)
    logging.info("Exported serving model to %s", fn_args.serving_model_dir)
