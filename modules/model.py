"""The float model: an MLP over Transform's dense features (Keras 2 / tf_keras).

Why an MLP on one-hot + quantile buckets: on the taxi sample it beats TFX's own
wide-and-deep example (see the README's benchmark table), and it is all Dense
layers, which full-int8 TFLite handles with no fallbacks. Its head follows the
task: sigmoid (binary), softmax over the classes (multiclass), linear
(regression).
"""
import dataclasses
from typing import Any, Mapping, Sequence

import tensorflow as tf
import tf_keras as keras


PROBABILITY_OUTPUT = "probabilities"
PREDICTION_OUTPUT = "predictions"


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
    # Start from the served model's weights (Trainer `base_model`) when its
    # layers have the same shapes; fine-tune with fewer steps (--warm-start).
    warm_start: bool = False
    # Trigger-set watermark (modules/watermark.py): {"key_id": ...}; the key
    # itself comes from $TFX_PROD_WATERMARK_KEY, never from the config.
    watermark: Mapping[str, Any] = dataclasses.field(default_factory=dict)
    # Recipe-specific settings (pruning schedule, distillation temperature, ...).
    options: Mapping[str, Any] = dataclasses.field(default_factory=dict)
    # The task (from the project file): head, loss, metrics, exported outputs.
    task: str = "binary"
    label_key: str = "label"
    # Class names, in label-index order (binary: [negative, positive]).
    classes: Sequence[str] = ()
    # Raw columns the serving signature takes (the model's inputs), and the
    # integer "no value" markers the preprocessing treats as blank.
    serving_features: Sequence[str] = ()
    missing_values: Mapping[str, Any] = dataclasses.field(default_factory=dict)
    # Transformed input name -> width; set by run_fn from the Transform output.
    input_widths: Mapping[str, int] = dataclasses.field(default_factory=dict)

    @classmethod
    def from_custom_config(cls, custom_config: Mapping[str, Any] | None):
        custom_config = dict(custom_config or {})
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(custom_config) - known)
        if unknown:
            raise ValueError(
                f"Unknown Trainer custom_config keys {unknown}; "
                f"known keys are {sorted(known)}.")
        for key in ("hidden_units", "classes", "serving_features"):
            if key in custom_config:
                custom_config[key] = tuple(custom_config[key])
        return cls(**custom_config)


TASKS = ("binary", "multiclass", "regression")


def output_name(task: str) -> str:
    """The model's one output: class probabilities, or the predicted value."""
    return PREDICTION_OUTPUT if task == "regression" else PROBABILITY_OUTPUT


def output_width(config: "TrainerConfig") -> int:
    """Units of the head: 1 (binary P(positive), regression), else K classes."""
    return len(config.classes) if config.task == "multiclass" else 1


_HEAD_ACTIVATIONS = {"binary": "sigmoid", "multiclass": "softmax",
                     "regression": "linear"}


def _loss_and_metrics(config: "TrainerConfig"):
    if config.task == "binary":
        return ("binary_crossentropy",
                [keras.metrics.AUC(name="auc"),
                 keras.metrics.BinaryAccuracy(name="binary_accuracy")])
    if config.task == "multiclass":
        return ("sparse_categorical_crossentropy",
                [keras.metrics.SparseCategoricalAccuracy(name="accuracy")])
    # Huber: robust to the outliers a user's first CSV often has.
    return (keras.losses.Huber(),
            [keras.metrics.RootMeanSquaredError(name="rmse")])


def input_widths(tf_transform_output, label_key: str) -> dict[str, int]:
    """Model inputs = every transformed feature but the label: name -> width.

    Read from the Transform output, so the same model fits the generic
    preprocessing and any user module. Sorted, for a stable input order.
    """
    widths = {}
    for name, spec in sorted(
            tf_transform_output.transformed_feature_spec().items()):
        if name == label_key:
            continue
        shape = list(getattr(spec, "shape", []) or [])
        if len(shape) > 1 or not isinstance(spec, tf.io.FixedLenFeature):
            raise ValueError(
                f"Transformed feature {name!r} must be a dense float vector "
                f"[batch, width] (got {spec}); have preprocessing_fn return "
                "one [batch, d] float32 tensor per feature.")
        widths[name] = shape[0] if shape else 1
    return widths


def build_model(config: TrainerConfig) -> keras.Model:
    """Dense float inputs (`config.input_widths`) -> the task's head."""
    if config.task not in TASKS:
        raise ValueError(f"task must be one of {TASKS}; got {config.task!r}.")
    if not config.input_widths:
        raise ValueError("TrainerConfig.input_widths is empty: run_fn sets it "
                         "from the Transform output (model.input_widths).")
    inputs = {
        name: keras.Input(shape=(width,), name=name, dtype=tf.float32)
        for name, width in config.input_widths.items()
    }
    hidden = keras.layers.Concatenate(name="all_features")(list(inputs.values()))
    for index, units in enumerate(config.hidden_units):
        hidden = keras.layers.Dense(units, activation="relu",
                                    name=f"dense_{index}")(hidden)
    activation = _HEAD_ACTIVATIONS[config.task]
    # float32 even under a mixed policy: a float16/bfloat16 sigmoid saturates
    # and the loss, metrics and exported signatures expect float32.
    output = keras.layers.Dense(output_width(config), activation=activation,
                                dtype="float32",
                                name=output_name(config.task))(hidden)
    model = keras.Model(inputs=inputs, outputs=output)
    compile_for_task(model, config)
    return model


def compile_for_task(model: keras.Model, config: TrainerConfig) -> None:
    """The task's loss and metrics, a fresh Adam, XLA as configured."""
    loss, metrics = _loss_and_metrics(config)
    model.compile(optimizer=keras.optimizers.Adam(config.learning_rate),
                  loss=loss, metrics=metrics, jit_compile=config.xla)


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
