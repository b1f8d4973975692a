"""ServedBaseline executor on real pushed versions (local and ram://)."""
import os
import shutil
import uuid

import pytest
import tensorflow as tf
from tfx.types import standard_artifacts

from components import testing
from components.pusher import publish
from components.served_baseline import executor, has_model
from serving import layout

testing.register_ram_filesystem()


def _trainer_model(root, factor):
    """The Trainer's Model artifact: a bare SavedModel in Format-Serving.

    Its empty `assets/` dir is dropped: TF's ram:// would list a sibling
    `assets.extra` as a child `.extra` of it (prefix matching, unlike gs://).
    """
    model = standard_artifacts.Model()
    model.uri = os.path.join(root, f"trainer_{factor}")
    serving_dir = os.path.join(model.uri, "Format-Serving")
    tf.saved_model.save(testing.Scaler(factor), serving_dir)
    os.rmdir(os.path.join(serving_dir, "assets"))
    return model


def _pushed_copy(root, model):
    """What the Quantizer hands the Pusher: the SavedModel + model.tflite."""
    pushed_dir = os.path.join(root, f"quantized_{uuid.uuid4().hex[:6]}")
    shutil.copytree(os.path.join(model.uri, "Format-Serving"), pushed_dir)
    with open(os.path.join(pushed_dir, layout.TFLITE_FILE), "wb") as f:
        f.write(b"tflite")
    return pushed_dir


def _publish(model_base, model_dir, version):
    def write_metadata(target):
        tf.io.gfile.makedirs(layout.join(target, layout.META_DIR))
        with tf.io.gfile.GFile(layout.join(target, layout.LINEAGE_FILE),
                               "w") as f:
            f.write("{}")
    return publish.publish(model_base, model_dir, write_metadata,
                           clock=lambda: version)


def _resolve(tmp_path, model_base, candidate=None):
    output = standard_artifacts.Model()
    output.uri = str(tmp_path / f"baseline_{uuid.uuid4().hex[:6]}")
    os.makedirs(output.uri)  # as TFX's launcher creates output dirs
    inputs = {executor.CANDIDATE_KEY: [candidate]} if candidate else {}
    executor.Executor().Do(inputs, {executor.MODEL_KEY: [output]},
                           {executor.MODEL_BASE_KEY: model_base + "/",
                            executor.SERVING_STATE_KEY: "state-x"})
    return output


def _factor(output):
    model = tf.saved_model.load(os.path.join(output.uri, "Format-Serving"))
    return float(model(tf.constant([1.0]))[0])


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    root = str(tmp_path_factory.mktemp("trained"))
    return root, {f: _trainer_model(root, f) for f in (2, 3, 5)}


@pytest.fixture
def served(tmp_path, trained):
    """Versions 10 (x2) and 20 (x3), both complete, plus incomplete ones."""
    root, models = trained
    base = str(tmp_path / "serving" / "taxi")
    _publish(base, _pushed_copy(root, models[2]), 10)
    _publish(base, _pushed_copy(root, models[3]), 20)
    five = _pushed_copy(root, models[5])
    # 30: manifest present, a listed file missing (half deleted by someone).
    shutil.copytree(os.path.join(base, "20"), os.path.join(base, "30"))
    os.remove(os.path.join(base, "30", layout.TFLITE_FILE))
    # 40: a whole SavedModel but no manifest (copied by hand, or in flight).
    shutil.copytree(five, os.path.join(base, "40"))
    # A hidden staging dir holding a complete version: not published yet.
    _publish(str(tmp_path / "elsewhere"), five, 50)
    os.rename(str(tmp_path / "elsewhere" / "50"),
              os.path.join(base, ".50.incomplete-host-1-00000000"))
    return base


def test_nothing_served_gives_an_empty_baseline(tmp_path, trained):
    _, models = trained
    os.makedirs(str(tmp_path / "empty"))
    for base in (str(tmp_path / "never_created"), str(tmp_path / "empty")):
        output = _resolve(tmp_path, base, candidate=models[2])
        assert output.get_int_custom_property(executor.SERVED_VERSION) == 0
        assert not has_model(output)
        assert os.listdir(output.uri) == []


def test_only_incomplete_versions_means_nothing_served(tmp_path, served):
    for version in ("10", "20"):
        os.remove(os.path.join(served, version, layout.MANIFEST_FILE))
    output = _resolve(tmp_path, served)
    assert not has_model(output)
    assert os.listdir(output.uri) == []


def test_newest_complete_version_is_the_baseline(tmp_path, served):
    output = _resolve(tmp_path, served)

    assert has_model(output)
    assert output.get_int_custom_property(executor.SERVED_VERSION) == 20
    assert output.get_string_custom_property(
        executor.SERVED_PATH) == os.path.join(served, "20")
    manifest = layout.read_manifest(os.path.join(served, "20"))
    assert output.get_string_custom_property(
        executor.MODEL_DIGEST) == layout.model_digest(manifest)
    # A real copy in TFX's layout, not a reference to the serving dir.
    copy = os.path.join(output.uri, "Format-Serving")
    assert layout.changed_files(copy, manifest) == []
    assert _factor(output) == 3.0
    shutil.rmtree(os.path.join(served, "20"))
    assert _factor(output) == 3.0


def test_a_rollout_servers_stable_is_the_baseline_not_a_newer_canary(
        tmp_path, served):
    from serving.rollout_state import RolloutState, RolloutStore
    store = RolloutStore(os.path.join(served, ".rollout"))
    # Version 20 was rolled back (or is a canary still): 10 is what serves.
    store.save(RolloutState("taxi", stable=10, rejected=(20,),
                            state="rolled_back"))
    output = _resolve(tmp_path, served)
    assert output.get_int_custom_property(executor.SERVED_VERSION) == 10
    assert _factor(output) == 2.0
    before = executor.state_key(served, {})
    store.save(RolloutState("taxi", stable=20, state="promoted"))
    assert executor.state_key(served, {}) != before   # the cache key follows


def test_the_candidates_own_version_is_skipped(tmp_path, trained, served):
    _, models = trained
    # The candidate (the Trainer's bare SavedModel) is what 20 serves, with
    # a model.tflite added by the Quantizer: still the same model.
    output = _resolve(tmp_path, served, candidate=models[3])
    assert output.get_int_custom_property(executor.SERVED_VERSION) == 10
    assert _factor(output) == 2.0

    # A candidate that is not served does not change the choice.
    output = _resolve(tmp_path, served, candidate=models[5])
    assert output.get_int_custom_property(executor.SERVED_VERSION) == 20

    # The candidate serves alone: no baseline rather than itself.
    shutil.rmtree(os.path.join(served, "10"))
    output = _resolve(tmp_path, served, candidate=models[3])
    assert not has_model(output)


def test_has_model_needs_a_positive_served_version():
    model = standard_artifacts.Model()
    assert not has_model(model)
    model.set_int_custom_property(executor.SERVED_VERSION, 0)
    assert not has_model(model)
    model.set_int_custom_property(executor.SERVED_VERSION, 7)
    assert has_model(model)


def test_works_on_a_remote_serving_location(tmp_path, trained, monkeypatch):
    root, models = trained
    base = f"ram://served_baseline_{uuid.uuid4().hex[:8]}/serving/taxi"
    assert not has_model(_resolve(tmp_path, base))

    _publish(base, _pushed_copy(root, models[2]), 10)
    _publish(base, _pushed_copy(root, models[3]), 20)
    # 30: written in place, crashed before its manifest (no atomic rename).
    with monkeypatch.context() as crash:
        crash.setattr(layout, "write_manifest",
                      lambda root, sign=None: None)
        _publish(base, _pushed_copy(root, models[5]), 30)
    assert layout.version_numbers(base) == [10, 20, 30]

    output = _resolve(tmp_path, base)
    assert output.get_int_custom_property(executor.SERVED_VERSION) == 20
    assert output.get_string_custom_property(
        executor.SERVED_PATH) == f"{base}/20"
    assert _factor(output) == 3.0

    output = _resolve(tmp_path, base, candidate=models[3])
    assert output.get_int_custom_property(executor.SERVED_VERSION) == 10
    assert _factor(output) == 2.0


def test_encrypted_versions_are_copied_decrypted(tmp_path, trained,
                                                 monkeypatch):
    from components.pusher.testing import push, pushed_version
    from serving import encryption, encryption_keys
    _, models = trained
    key_file = tmp_path / "push.kek"
    key_file.write_bytes(encryption_keys.key_file_bytes(encryption.new_key()))
    monkeypatch.setenv(encryption.ENCRYPTION_KEY_ENV, str(key_file))
    base = str(tmp_path / "serving" / "taxi")
    first = pushed_version(push(tmp_path, models[2], base))
    second = pushed_version(push(tmp_path, models[3], base))
    assert encryption.read_envelope(layout.version_dir(base, second))

    output = _resolve(tmp_path, base)
    assert output.get_int_custom_property(executor.SERVED_VERSION) == second
    assert _factor(output) == 3.0
    assert output.get_string_custom_property(executor.MODEL_DIGEST) == (
        layout.saved_model_digest(os.path.join(models[3].uri,
                                               "Format-Serving")))
    # The candidate's own (encrypted) version is still recognised.
    output = _resolve(tmp_path, base, candidate=models[3])
    assert output.get_int_custom_property(executor.SERVED_VERSION) == first
    assert _factor(output) == 2.0

    monkeypatch.delenv(encryption.ENCRYPTION_KEY_ENV)
    with pytest.raises(encryption.EncryptionError,
                       match="ServedBaseline: .* encrypted with key"):
        _resolve(tmp_path, base)
