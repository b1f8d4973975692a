"""AtomicPusherExecutor on a real SavedModel (after TFX's pusher test)."""
import json
import os

import pytest
import tensorflow as tf
from tfx.dsl.io import fileio, filesystem_registry
from tfx.dsl.io.plugins import tensorflow_gfile
from tfx.types import standard_artifacts
from tfx.types import standard_component_specs as specs

from components.pusher.executor import AtomicPusherExecutor, publish_atomically

FIXED_VERSION = "1700000000"


class _Doubler(tf.Module):

    @tf.function(input_signature=[tf.TensorSpec([None], tf.float32)])
    def __call__(self, x):
        return x * 2.0


def _write_model(model_uri, tflite_bytes=b"first model"):
    """A real SavedModel plus an extra file in <model_uri>/Format-Serving."""
    serving_dir = os.path.join(model_uri, "Format-Serving")
    tf.saved_model.save(_Doubler(), serving_dir)
    with open(os.path.join(serving_dir, "model.tflite"), "wb") as f:
        f.write(tflite_bytes)
    return serving_dir


class _FixedVersionExecutor(AtomicPusherExecutor):
    """TFX versions by the current second; pin it to push one version twice."""

    def ModelVersion(self, fs_config):
        return FIXED_VERSION


def _push(tmp_path, model_uri, base, blessed=True, executor=None):
    """Run the executor like TFX's pusher test: artifacts set up by hand."""
    model = standard_artifacts.Model()
    model.uri = model_uri
    blessing = standard_artifacts.ModelBlessing()
    blessing.uri = str(tmp_path / "blessing")
    blessing.set_int_custom_property("blessed", int(blessed))
    pushed = standard_artifacts.PushedModel()
    pushed.uri = str(tmp_path / f"pushed_model_{len(os.listdir(tmp_path))}")
    props = {specs.PUSH_DESTINATION_KEY: json.dumps(
        {"filesystem": {"base_directory": base, "versioning": "AUTO"}})}
    (executor or AtomicPusherExecutor()).Do(
        {specs.MODEL_KEY: [model], specs.MODEL_BLESSING_KEY: [blessing]},
        {specs.PUSHED_MODEL_KEY: [pushed]}, props)
    return pushed


def _read(path):
    with open(path, "rb") as f:
        return f.read()


@pytest.fixture(scope="module")
def model_uri(tmp_path_factory):
    uri = str(tmp_path_factory.mktemp("trainer") / "model")
    _write_model(uri)
    return uri


def test_blessed_push_publishes_a_complete_version(tmp_path, model_uri):
    base = str(tmp_path / "serving")
    pushed = _push(tmp_path, model_uri, base)

    version = pushed.get_string_custom_property("pushed_version")
    target = os.path.join(base, version)
    assert version.isdigit()
    assert pushed.get_int_custom_property("pushed") == 1
    assert pushed.get_string_custom_property("pushed_destination") == target
    assert os.listdir(base) == [version]  # no .incomplete- dir left behind
    assert {"saved_model.pb", "variables", "model.tflite"} <= set(
        os.listdir(target))
    assert os.listdir(os.path.join(target, "variables"))
    source = os.path.join(model_uri, "Format-Serving")
    assert os.stat(target).st_mode == os.stat(source).st_mode  # not 0700
    assert tf.saved_model.load(target)(tf.constant([1.5])).numpy() == [3.0]
    # The PushedModel artifact keeps an archive copy, as TFX's Pusher does.
    assert "model.tflite" in os.listdir(pushed.uri)


def test_not_blessed_pushes_nothing(tmp_path, model_uri):
    base = str(tmp_path / "serving")
    pushed = _push(tmp_path, model_uri, base, blessed=False)
    assert pushed.get_int_custom_property("pushed") == 0
    assert not os.path.exists(base)
    assert not fileio.exists(pushed.uri) or not fileio.listdir(pushed.uri)


def test_same_version_twice_skips_and_keeps_the_first(tmp_path, model_uri):
    base = str(tmp_path / "serving")
    first = _push(tmp_path, model_uri, base, executor=_FixedVersionExecutor())
    target = os.path.join(base, FIXED_VERSION)
    mtimes = {n: os.stat(os.path.join(target, n)).st_mtime_ns
              for n in os.listdir(target)}

    other_model = str(tmp_path / "other_model")
    _write_model(other_model, tflite_bytes=b"second model")
    second = _push(tmp_path, other_model, base,
                   executor=_FixedVersionExecutor())

    assert first.get_int_custom_property("pushed") == 1
    # TFX's rule: an existing version is skipped but still recorded as pushed.
    assert second.get_int_custom_property("pushed") == 1
    assert second.get_string_custom_property("pushed_destination") == target
    assert os.listdir(base) == [FIXED_VERSION]
    assert _read(os.path.join(target, "model.tflite")) == b"first model"
    assert mtimes == {n: os.stat(os.path.join(target, n)).st_mtime_ns
                      for n in os.listdir(target)}


def test_version_appearing_during_the_copy_is_left_alone(tmp_path, model_uri):
    # A concurrent push won the race: rename must not replace its version.
    base = tmp_path / "serving"
    (base / FIXED_VERSION).mkdir(parents=True)
    (base / FIXED_VERSION / "saved_model.pb").write_bytes(b"winner")
    source = os.path.join(model_uri, "Format-Serving")
    assert publish_atomically(source, str(base), FIXED_VERSION) is False
    assert os.listdir(base) == [FIXED_VERSION]
    assert _read(base / FIXED_VERSION / "saved_model.pb") == b"winner"


def test_failure_mid_copy_leaves_no_version_and_no_temp_dir(tmp_path):
    model_uri = str(tmp_path / "model")
    serving_dir = _write_model(model_uri)
    # A dangling symlink makes the copy fail after the other files were copied
    # (chmod 000 would not: the tests may run as root).
    os.symlink(str(tmp_path / "gone"),
               os.path.join(serving_dir, "assets", "vocab.txt"))
    base = str(tmp_path / "serving")

    with pytest.raises(OSError, match="vocab.txt"):
        _push(tmp_path, model_uri, base)
    assert os.listdir(base) == []


def test_missing_model_dir_fails_before_creating_anything(tmp_path):
    base = str(tmp_path / "serving")
    with pytest.raises(FileNotFoundError, match="missing or empty"):
        _push(tmp_path, str(tmp_path / "no_such_model"), base)
    assert not os.path.exists(base) or os.listdir(base) == []


class _RamFilesystem(tensorflow_gfile.TensorflowFilesystem):
    """TF's in-memory filesystem, standing in for gs:// without a network."""
    SUPPORTED_SCHEMES = ["ram://"]


def test_non_local_destination_uses_tfx_copy(tmp_path, model_uri, caplog):
    filesystem_registry.DEFAULT_FILESYSTEM_REGISTRY.register(
        _RamFilesystem, priority=5)
    base = "ram://pusher_test/serving"
    pushed = _push(tmp_path, model_uri, base)

    version = pushed.get_string_custom_property("pushed_version")
    assert pushed.get_int_custom_property("pushed") == 1
    assert fileio.exists(f"{base}/{version}/saved_model.pb")
    assert fileio.exists(f"{base}/{version}/model.tflite")
    assert "not a local path" in caplog.text


def test_plugs_into_tfx_pusher_via_custom_executor_spec():
    from tfx import v1 as tfx
    from tfx.dsl.components.base import executor_spec

    pusher = tfx.components.Pusher(
        model=tfx.dsl.Channel(type=standard_artifacts.Model),
        model_blessing=tfx.dsl.Channel(type=standard_artifacts.ModelBlessing),
        push_destination=tfx.proto.PushDestination(
            filesystem=tfx.proto.PushDestination.Filesystem(
                base_directory="/tmp/serving")),
        custom_executor_spec=executor_spec.ExecutorClassSpec(
            AtomicPusherExecutor))
    assert pusher.executor_spec.executor_class is AtomicPusherExecutor
