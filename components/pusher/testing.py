"""Test support for the Pusher's tests: real Model artifacts and Do() run
the way TFX's launcher runs it."""
import json
import os
import uuid

import tensorflow as tf
from tensorflow_metadata.proto.v0 import schema_pb2, statistics_pb2
from tfx.dsl.components.base import base_executor
from tfx.types import artifact_utils, standard_artifacts

from components import testing
from components.pusher import executor, publish
from serving import layout

testing.register_ram_filesystem()

PIPELINE = "tfx-prod-test"
NOW = 1_700_000_000  # a fixed clock: every push "in the same second"


def write_model(model_uri, factor, remote_safe=False):
    """A Model artifact dir: real SavedModel + model.tflite in Format-Serving.

    `remote_safe` drops the SavedModel's empty `assets/` dir: TF's ram://
    lists `assets.extra` as a child `.extra` of `assets` (it matches children
    by string prefix, unlike gs://), which would break walking the version.
    """
    serving_dir = os.path.join(model_uri, "Format-Serving")
    tf.saved_model.save(testing.Scaler(factor), serving_dir)
    with open(os.path.join(serving_dir, layout.TFLITE_FILE), "wb") as f:
        f.write(b"tflite for factor %d" % factor)
    if remote_safe:
        os.rmdir(os.path.join(serving_dir, "assets"))
    model = standard_artifacts.Model()
    model.uri = model_uri
    model.id = factor
    return model


def schema_artifact(root):
    schema = schema_pb2.Schema()
    schema.feature.add(name="x", type=schema_pb2.FLOAT)
    artifact = standard_artifacts.Schema()
    artifact.uri = os.path.join(root, "schema")
    os.makedirs(artifact.uri, exist_ok=True)
    with open(os.path.join(artifact.uri, "schema.pbtxt"), "w") as f:
        f.write(str(schema))
    return artifact


def statistics_artifact(root):
    """Train and eval splits with different content (the train one ships)."""
    artifact = standard_artifacts.ExampleStatistics()
    artifact.uri = os.path.join(root, "statistics")
    artifact.split_names = artifact_utils.encode_split_names(["train", "eval"])
    for split, count in (("train", 12), ("eval", 3)):
        stats = statistics_pb2.DatasetFeatureStatisticsList()
        stats.datasets.add(name=split, num_examples=count)
        os.makedirs(os.path.join(artifact.uri, f"Split-{split}"), exist_ok=True)
        with open(os.path.join(artifact.uri, f"Split-{split}",
                               "FeatureStats.pb"), "wb") as f:
            f.write(stats.SerializeToString())
    return artifact


def read_bytes(path):
    with tf.io.gfile.GFile(path, "rb") as f:
        return f.read()


def examples_artifact(uri="/data/taxi/span-3", span=3):
    """CsvExampleGen's output, as MLMD hands it to the Pusher."""
    examples = standard_artifacts.Examples()
    examples.uri = uri
    examples.id = 41
    examples.span = span
    # CsvExampleGen's driver records the input's fingerprint.
    examples.set_string_custom_property("input_fingerprint",
                                        "split:x,num_files:1")
    return examples


def push(tmp_path, model, base, blessed=True, metadata=True, pushed=None,
          examples=None, extra_inputs=None, extra_properties=None,
          run_id=None):
    """Runs Do() like TFX's launcher: output dir exists, properties as JSON."""
    blessing = standard_artifacts.ModelBlessing()
    blessing.uri = str(tmp_path / "blessing")
    blessing.id = 99
    if blessed is not None:
        blessing.set_int_custom_property("blessed", int(blessed))
    pushed = pushed or standard_artifacts.PushedModel()
    pushed.uri = str(tmp_path / f"pushed_model_{uuid.uuid4().hex[:8]}")
    os.makedirs(pushed.uri)
    inputs = {executor.MODEL_KEY: [model],
              executor.MODEL_BLESSING_KEY: [blessing]}
    if metadata:
        inputs[executor.SCHEMA_KEY] = [schema_artifact(str(tmp_path))]
        inputs[executor.STATISTICS_KEY] = [statistics_artifact(str(tmp_path))]
    if examples is not None:
        inputs[executor.EXAMPLES_KEY] = [examples]
    inputs.update(extra_inputs or {})
    properties = {
        executor.PUSH_DESTINATION_KEY: json.dumps(
            {"filesystem": {"base_directory": base}}),
        executor.PIPELINE_NAME_KEY: PIPELINE,
        **(extra_properties or {}),
    }
    context = (base_executor.BaseExecutor.Context(pipeline_run_id=run_id)
               if run_id else None)
    executor.Executor(context).Do(
        inputs, {executor.PUSHED_MODEL_KEY: [pushed]}, properties)
    return pushed


def pushed_version(pushed):
    return int(pushed.get_string_custom_property(executor.PUSHED_VERSION))


def model_digest(model):
    return layout.saved_model_digest(os.path.join(model.uri, "Format-Serving"))


def factor_served(version_path):
    return float(tf.saved_model.load(version_path)(tf.constant([1.0]))[0])


def fixed_clock(monkeypatch, *seconds):
    """Every later publish() call reads the next of `seconds` as 'now'."""
    real = publish.publish
    ticks = iter(seconds)

    def publish_at(*args, **kwargs):
        now = next(ticks)
        return real(*args, **kwargs, clock=lambda: now)
    monkeypatch.setattr(publish, "publish", publish_at)


def visible_versions(base):
    """What TF Serving sees: numeric children only."""
    return layout.version_numbers(base)
