"""Real fixtures for the executor tests: data, trained tf_keras models, TFLite.

Each test module trains one small model on learnable synthetic data, exports
it with a `predict_transformed` signature like the project's Trainer does,
writes gzipped tf.Example TFRecords like Transform does, and runs Do() on
them. The TFLite runner here is independent of score.py, so the tests check
the executor's numbers against a second implementation.
"""
import json
import os
import shutil
import tempfile
from typing import Dict, Tuple

import numpy as np
import tensorflow as tf
import tf_keras as keras
from tfx import types
from tfx.dsl.io import fileio
from tfx.types import artifact_utils
from tfx.types import standard_artifacts

from components.quantizer import Quantizer
from components.quantizer import executor

SIGNATURE_KEY = "predict_transformed"
CATEGORIES = 6
INPUT_SPECS = {
    "num_xf": tf.TensorSpec([None, 1], tf.float32, name="num_xf"),
    "cat_xf": tf.TensorSpec([None, CATEGORIES], tf.float32, name="cat_xf"),
}
Features = Dict[str, np.ndarray]


def dense_inputs(rng: np.random.Generator, count: int) -> Tuple[Features, np.ndarray]:
    """A numeric and a one-hot column, plus the category index behind it."""
    numeric = rng.normal(size=(count, 1)).astype(np.float32)
    category = rng.integers(0, CATEGORIES, size=count)
    one_hot = np.eye(CATEGORIES, dtype=np.float32)[category]
    return {"num_xf": numeric, "cat_xf": one_hot}, category


def write_split(directory: str, features: Features, labels: np.ndarray, label_key: str) -> None:
    """Transformed examples as Transform writes them: gzipped tf.Example TFRecords."""
    fileio.makedirs(directory)
    path = os.path.join(directory, "transformed_examples-00000-of-00001.gz")
    integer = np.issubdtype(labels.dtype, np.integer)
    with tf.io.TFRecordWriter(path, options="GZIP") as writer:
        for index, label in enumerate(labels):
            feature = {name: tf.train.Feature(float_list=tf.train.FloatList(value=values[index]))
                       for name, values in features.items()}
            feature[label_key] = (
                tf.train.Feature(int64_list=tf.train.Int64List(value=[int(label)])) if integer
                else tf.train.Feature(float_list=tf.train.FloatList(value=[float(label)])))
            writer.write(tf.train.Example(
                features=tf.train.Features(feature=feature)).SerializeToString())


def examples_artifact(root: str, splits: Dict[str, Tuple[Features, np.ndarray]],
                      label_key: str) -> standard_artifacts.Examples:
    examples = standard_artifacts.Examples()
    examples.uri = os.path.join(root, "examples")
    for name, (features, labels) in splits.items():
        write_split(os.path.join(examples.uri, f"Split-{name}"), features, labels, label_key)
    examples.split_names = artifact_utils.encode_split_names(list(splits))
    return examples


def mlp(units: int, activation: str, width: int = 256, seed: int = 0) -> keras.Model:
    """Two hidden layers, so weights (not flatbuffer overhead) dominate the size.

    Seeded, so each module's model (and its variants' numbers) repeat run to run.
    """
    keras.utils.set_random_seed(seed)
    inputs = {name: keras.Input(shape=(spec.shape[1],), name=name)
              for name, spec in INPUT_SPECS.items()}
    hidden = keras.layers.Concatenate()([inputs["num_xf"], inputs["cat_xf"]])
    hidden = keras.layers.Dense(width, activation="relu")(hidden)
    hidden = keras.layers.Dense(width, activation="relu")(hidden)
    return keras.Model(inputs, keras.layers.Dense(units, activation=activation)(hidden))


def train(model: keras.Model, features: Features, targets: np.ndarray,
          loss_fn: keras.losses.Loss, epochs: int = 4) -> keras.Model:
    optimizer = keras.optimizers.Adam(1e-3)

    # autograph=False: tracing Keras internals through autograph costs tens of
    # seconds on a busy CPU; this plain step traces in well under one.
    @tf.function(autograph=False, reduce_retracing=True)
    def train_step(batch, batch_targets):
        with tf.GradientTape() as tape:
            loss = loss_fn(batch_targets, model(batch, training=True))
        gradients = tape.gradient(loss, model.trainable_variables)
        optimizer.apply_gradients(zip(gradients, model.trainable_variables))

    for _ in range(epochs):
        for start in range(0, len(targets), 128):
            train_step({name: values[start:start + 128] for name, values in features.items()},
                       targets[start:start + 128])
    return model


def model_artifact(model: keras.Model, uri: str, output_name: str) -> standard_artifacts.Model:
    """`model` exported to `<uri>/Format-Serving` with one `output_name` output."""
    @tf.function(input_signature=[INPUT_SPECS], autograph=False)
    def predict_transformed(inputs):
        return {output_name: model(inputs, training=False)}

    artifact = standard_artifacts.Model()
    artifact.uri = uri
    # save_traces=False skips re-tracing every Keras layer (~20 s); the
    # exported signature is unaffected.
    model.save(os.path.join(uri, "Format-Serving"), save_format="tf", save_traces=False,
               signatures={SIGNATURE_KEY: predict_transformed})
    return artifact


def wired_properties(**arguments):
    """Exec properties exactly as a Quantizer constructed with `arguments` records them."""
    return Quantizer(model=types.Channel(type=standard_artifacts.Model),
                     examples=types.Channel(type=standard_artifacts.Examples),
                     **arguments).exec_properties


def run_quantizer(output_uri: str, model, examples, **exec_properties):
    """Run Do() like TFX does; returns (output artifact, report dict)."""
    output = standard_artifacts.Model()
    output.uri = output_uri
    fileio.makedirs(output.uri)
    executor.Executor().Do(
        {executor.MODEL_KEY: [model], executor.EXAMPLES_KEY: [examples]},
        {executor.QUANTIZED_MODEL_KEY: [output]},
        {executor.LATENCY_RUNS_KEY: 50, **exec_properties},
    )
    with open(os.path.join(output.uri, "Format-Serving",
                           *executor.REPORT_FILENAME.split("/"))) as report_file:
        return output, json.load(report_file)


def saved_model_outputs(serving_dir: str, features: Features) -> np.ndarray:
    """The SavedModel's one output on `features`, [N, width]."""
    signature = tf.saved_model.load(serving_dir).signatures[SIGNATURE_KEY]
    (output,) = signature(**{name: tf.constant(v) for name, v in features.items()}).values()
    return output.numpy().reshape(len(next(iter(features.values()))), -1)


def variant_path(output, name: str) -> str:
    return os.path.join(output.uri, executor.VARIANTS_DIRNAME, f"{name}.tflite")


def tflite_runner(path: str, features: Features):
    """Independent of score.py: a signature runner and its (quantized) inputs."""
    with open(path, "rb") as model_file:
        interpreter = tf.lite.Interpreter(model_content=model_file.read(), num_threads=1)
    runner = interpreter.get_signature_runner(SIGNATURE_KEY)
    inputs = {}
    for name, detail in runner.get_input_details().items():
        values = features[name]
        if detail["dtype"] == np.int8:
            scale, zero_point = detail["quantization"]
            values = np.clip(np.round(values / scale + zero_point), -128, 127).astype(np.int8)
        inputs[name] = values
    return runner, inputs


def run_tflite(path: str, features: Features) -> np.ndarray:
    """The output [N, width], dequantized with its tensor's (scale, zero_point)."""
    runner, inputs = tflite_runner(path, features)
    (output,) = runner(**inputs).values()
    (detail,) = runner.get_output_details().values()
    if detail["dtype"] == np.int8:
        scale, zero_point = detail["quantization"]
        output = (output.astype(np.float32) - zero_point) * scale
    return output.reshape(len(next(iter(features.values()))), -1)


class TaskCase(tf.test.TestCase):
    """One small real model trained on a synthetic task and one Quantizer Do()
    on it, shared by a test class.

    Subclasses set TASK, LABEL_KEY, OUTPUT (the model's output name), SEED
    and SHARED_RUN (the shared run's exec properties), and define
    `make_split(rng, count) -> (features, labels)` and
    `train_model(features, labels) -> keras.Model`.
    """
    TASK = LABEL_KEY = OUTPUT = None
    SEED = 0
    SHARED_RUN: dict = {}

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls._root = tempfile.mkdtemp(prefix=f"quantizer_{cls.TASK}_test_")
        rng = np.random.default_rng(cls.SEED)
        train_split = cls.make_split(rng, 3000)
        cls._eval_features, cls._eval_labels = cls.make_split(rng, 1000)
        cls._examples = examples_artifact(
            cls._root, {"train": train_split,
                        "eval": (cls._eval_features, cls._eval_labels)},
            cls.LABEL_KEY)
        cls._model = model_artifact(cls.train_model(*train_split),
                                    os.path.join(cls._root, "model"), cls.OUTPUT)
        cls._output, cls._report = cls._run("shared", **cls.SHARED_RUN)
        cls._rows = {row["name"]: row for row in cls._report["variants"]}

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls._root, ignore_errors=True)
        super().tearDownClass()

    @classmethod
    def _run(cls, name, **exec_properties):
        return run_quantizer(os.path.join(cls._root, name), cls._model,
                             cls._examples, **{"label_key": cls.LABEL_KEY,
                                               "task": cls.TASK,
                                               **exec_properties})
