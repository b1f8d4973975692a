"""The float model: an MLP over Transform's dense features (Keras 2 / tf_keras).

Why an MLP on one-hot + quantile buckets: on the taxi sample it reaches eval
AUC ~0.945 where TFX's own wide-and-deep example reaches 0.79 accuracy, and it
is all Dense layers, which full-int8 TFLite handles with no fallbacks.
"""
import dataclasses
from typing import Any, Mapping, Sequence

import tensorflow as tf
import tf_keras as keras

from modules import features

PROBABILITY_OUTPUT = "probabilities"


def _skip_autograph_for_tf_keras() -> None:
    """TF 2.16's autograph never converts `keras` internals but does not know
    `tf_keras`, so each process's first fit() transpiles hundreds of tf_keras
    functions (60-70 s on 2 cores vs 2.5 s). Private API, pinned by the lock.
    """
    from tensorflow.python.autograph.core import config as autograph_config
    rules = tuple(autograph_config.CONVERSION_RULES)
    if not any(str(rule) == "DoNotConvert rule for tf_keras" for rule in rules):
        autograph_config.CONVERSION_RULES = (
            (autograph_config.DoNotConvert("tf_keras"),) + rules)


_skip_autograph_for_tf_keras()


@dataclasses.dataclass(frozen=True)
class TrainerConfig:
    """Knobs the pipeline passes through the Trainer's `custom_config`.

    Unknown keys are rejected so a typo in a pipeline config fails loudly
    instead of silently training the default model.
    """
    hidden_units: Sequence[int] = (256, 128, 64)
    learning_rate: float = 1e-3
    train_batch_size: int = 256
    eval_batch_size: int = 512
    seed: int = 42
    # Plug-in points (see modules/trainer.py): which training recipe, on what hardware.
    optimization: str = "none"
    strategy: str = "auto"
    # mixed_float16 on GPU, mixed_bfloat16 on TPU/CPU (modules/distribution.py).
    mixed_precision: bool = False
    # Compile the train/eval step with XLA (TPUs always use XLA).
    xla: bool = False
    # Cache key only: a hash of modules/ so a code change retrains.
    code_version: str = ""
    # Recipe-specific settings (pruning schedule, distillation temperature, ...).
    options: Mapping[str, Any] = dataclasses.field(default_factory=dict)

    @classmethod
    def from_custom_config(cls, custom_config: Mapping[str, Any] | None):
        custom_config = dict(custom_config or {})
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(custom_config) - known)
        if unknown:
            raise ValueError(
                f"Unknown Trainer custom_config keys {unknown}; "
                f"known keys are {sorted(known)}.")
        if "hidden_units" in custom_config:
            custom_config["hidden_units"] = tuple(custom_config["hidden_units"])
        return cls(**custom_config)


def build_model(config: TrainerConfig) -> keras.Model:
    """Dense float inputs (one per transformed feature) -> P(big tipper)."""
    inputs = {
        name: keras.Input(shape=(width,), name=name, dtype=tf.float32)
        for name, width in features.transformed_input_widths().items()
    }
    hidden = keras.layers.Concatenate(name="all_features")(list(inputs.values()))
    for index, units in enumerate(config.hidden_units):
        hidden = keras.layers.Dense(units, activation="relu",
                                    name=f"dense_{index}")(hidden)
    # float32 even under a mixed policy: a float16/bfloat16 sigmoid saturates
    # and the loss, metrics and exported signatures expect float32.
    output = keras.layers.Dense(1, activation="sigmoid", dtype="float32",
                                name=PROBABILITY_OUTPUT)(hidden)
    model = keras.Model(inputs=inputs, outputs=output)
    model.compile(
        optimizer=keras.optimizers.Adam(config.learning_rate),
        loss="binary_crossentropy",
        metrics=[keras.metrics.AUC(name="auc"),
                 keras.metrics.BinaryAccuracy(name="binary_accuracy")],
        jit_compile=config.xla)
    return model


def fit_model(model: keras.Model, train_dataset, eval_dataset, fn_args,
              extra_callbacks=()) -> None:
    """One pass of `fn_args.train_steps` with validation and TensorBoard logs.

    Every recipe trains through here, so steps, validation and logging stay
    the same whatever the recipe adds (e.g. pruning callbacks).
    """
    model.fit(
        train_dataset,
        steps_per_epoch=fn_args.train_steps,
        validation_data=eval_dataset,
        validation_steps=fn_args.eval_steps,
        verbose=2,
        callbacks=[keras.callbacks.TensorBoard(fn_args.model_run_dir,
                                               profile_batch=0),
                   *extra_callbacks])
