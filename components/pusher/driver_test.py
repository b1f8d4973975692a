"""RepushDriver against a real SQLite MLMD and real pushed versions.

Every push is a real `Executor.Do()` on a real serving directory. Its
PushedModel is then recorded the way TFX's launcher records an execution
(`put_execution` with INPUT events for the model and blessing and an OUTPUT
event for the PushedModel, attributed to pipeline, run and node contexts),
with `ml_metadata` directly. The driver gets a
`tfx.orchestration.metadata.Metadata` connection, as the launcher passes it
(`PythonDriverOperator`), and an `ExecutionInfo` whose model is the MLMD
artifact the launcher would resolve.

The key is what decides TFX's cache hit: equal to the key an earlier Pusher
execution ran with means "cached", anything else means "the Pusher runs".
"""
import json
import os
import shutil
import uuid

import pytest
import tensorflow as tf
from ml_metadata import metadata_store
from ml_metadata.proto import metadata_store_pb2 as mlmd_pb2
from tfx.orchestration import metadata
from tfx.orchestration.portable import data_types
from tfx.types import standard_artifacts

from components import testing
from components.pusher import driver, executor, publish
from serving import layout

PIPELINE = "tfx-prod-taxi"
INTACT = "intact"
NOW = 1_700_000_000


class _Store:
    """A pipeline's MLMD, written as TFX's launcher writes it."""

    def __init__(self, path):
        self.path = path
        config = mlmd_pb2.ConnectionConfig()
        config.sqlite.filename_uri = path
        config.sqlite.connection_mode = (
            mlmd_pb2.SqliteMetadataSourceConfig.READWRITE_OPENCREATE)
        self.store = metadata_store.MetadataStore(config)

    def _context(self, type_name, name):
        type_id = self.store.put_context_type(mlmd_pb2.ContextType(
            name=type_name))
        existing = self.store.get_context_by_type_and_name(type_name, name)
        if existing is not None:
            return existing
        context = mlmd_pb2.Context(type_id=type_id, name=name)
        context.id = self.store.put_contexts([context])[0]
        return context

    def register(self, artifact):
        """An upstream output (the Model, the blessing) gets its MLMD id."""
        proto = artifact.mlmd_artifact
        proto.type_id = self.store.put_artifact_type(artifact.artifact_type)
        proto.state = mlmd_pb2.Artifact.LIVE
        [artifact.id] = self.store.put_artifacts([proto])
        return artifact

    def record(self, pushed, model, blessing, node="Pusher"):
        """One COMPLETE Pusher execution: inputs and its PushedModel output."""
        proto = pushed.mlmd_artifact
        proto.type_id = self.store.put_artifact_type(pushed.artifact_type)
        proto.state = mlmd_pb2.Artifact.LIVE
        execution_type = self.store.put_execution_type(mlmd_pb2.ExecutionType(
            name="components.pusher.component.Pusher"))
        execution = mlmd_pb2.Execution(
            type_id=execution_type,
            last_known_state=mlmd_pb2.Execution.COMPLETE)

        def event(kind, key):
            event = mlmd_pb2.Event(type=kind)
            event.path.steps.add().key = key
            event.path.steps.add().index = 0
            return event
        contexts = [self._context("pipeline", PIPELINE),
                    self._context("pipeline_run", uuid.uuid4().hex),
                    self._context("node", f"{PIPELINE}.{node}")]
        _, ids, _ = self.store.put_execution(execution, [
            (model.mlmd_artifact, event(mlmd_pb2.Event.INPUT,
                                        executor.MODEL_KEY)),
            (blessing.mlmd_artifact, event(mlmd_pb2.Event.INPUT,
                                           executor.MODEL_BLESSING_KEY)),
            (proto, event(mlmd_pb2.Event.OUTPUT, executor.PUSHED_MODEL_KEY)),
        ], contexts)
        pushed.id = ids[2]
        return pushed


@pytest.fixture(scope="module")
def model_dirs(tmp_path_factory):
    """Format-Serving dirs (SavedModel + model.tflite) of factors 2, 3, 5."""
    root = tmp_path_factory.mktemp("models")
    dirs = {}
    for factor in (2, 3, 5):
        uri = str(root / f"model_{factor}")
        serving = os.path.join(uri, "Format-Serving")
        tf.saved_model.save(testing.Scaler(factor), serving)
        with open(os.path.join(serving, layout.TFLITE_FILE), "wb") as f:
            f.write(b"tflite %d" % factor)
        dirs[factor] = uri
    return dirs


class _World:
    """One pipeline: its MLMD, its serving dir, and the Pusher's inputs.

    Each push happens a minute after the previous one (a fixed clock), as
    pipeline runs do; `same_second` pushes at the previous push's second.
    """

    def __init__(self, tmp_path, model_dirs, monkeypatch):
        self.now = NOW
        real = publish.publish

        def publish_at(*args, **kwargs):
            return real(*args, **kwargs, clock=lambda: self.now)
        monkeypatch.setattr(publish, "publish", publish_at)
        self.tmp_path = tmp_path
        self.model_dirs = model_dirs
        (tmp_path / "root").mkdir()
        self.metadata_path = str(tmp_path / "root" / "metadata.sqlite")
        self.mlmd = _Store(self.metadata_path)
        self.base = str(tmp_path / "serving" / "taxi")
        self.models = {}

    def model(self, factor):
        """The Quantizer's output for `factor`, registered in MLMD once."""
        if factor not in self.models:
            model = standard_artifacts.Model()
            model.uri = self.model_dirs[factor]
            self.models[factor] = self.mlmd.register(model)
        return self.models[factor]

    def blessing(self, blessed=1):
        blessing = standard_artifacts.ModelBlessing()
        blessing.uri = str(self.tmp_path / f"blessing_{uuid.uuid4().hex[:8]}")
        blessing.set_int_custom_property("blessed", blessed)
        return self.mlmd.register(blessing)

    def push(self, factor, blessed=1, key=INTACT, same_second=False):
        """A real Pusher execution of `factor`'s model, recorded in MLMD."""
        self.now += 0 if same_second else 60
        model, blessing = self.model(factor), self.blessing(blessed)
        pushed = standard_artifacts.PushedModel()
        pushed.uri = str(self.tmp_path / f"pushed_{uuid.uuid4().hex[:8]}")
        os.makedirs(pushed.uri)
        executor.Executor().Do(
            {executor.MODEL_KEY: [model],
             executor.MODEL_BLESSING_KEY: [blessing]},
            {executor.PUSHED_MODEL_KEY: [pushed]},
            {executor.PUSH_DESTINATION_KEY: json.dumps(
                {"filesystem": {"base_directory": self.base}}),
             executor.PIPELINE_NAME_KEY: PIPELINE,
             executor.SERVING_STATE_KEY: key})
        self.mlmd.record(pushed, model, blessing)
        return pushed

    def key(self, factor):
        """The driver's serving_state_key for a Pusher run on `factor`."""
        connection = metadata.Metadata(
            metadata.sqlite_metadata_connection_config(self.metadata_path))
        # What the launcher resolves: the model as MLMD holds it.
        [model] = self.mlmd.store.get_artifacts_by_id(
            [self.model(factor).id])
        artifact = standard_artifacts.Model()
        artifact.set_mlmd_artifact(model)
        info = data_types.ExecutionInfo(
            input_dict={executor.MODEL_KEY: [artifact],
                        executor.MODEL_BLESSING_KEY: [self.blessing()]},
            output_dict={executor.PUSHED_MODEL_KEY: [
                standard_artifacts.PushedModel()]},
            exec_properties={
                executor.PUSH_DESTINATION_KEY: json.dumps(
                    {"filesystem": {"base_directory": self.base}}),
                executor.PIPELINE_NAME_KEY: PIPELINE})
        output = driver.RepushDriver(connection).run(info)
        assert list(output.exec_properties) == [executor.SERVING_STATE_KEY]
        assert not output.output_artifacts  # the launcher's outputs stand
        return output.exec_properties[
            executor.SERVING_STATE_KEY].string_value


def _destination(pushed):
    return pushed.get_string_custom_property(executor.PUSHED_DESTINATION)


@pytest.fixture
def world(tmp_path, model_dirs, monkeypatch):
    return _World(tmp_path, model_dirs, monkeypatch)


def test_a_model_never_pushed_is_intact(world):
    assert world.key(2) == INTACT  # an MLMD without any PushedModel type
    world.push(3)
    assert world.key(2) == INTACT  # only model 3 was pushed


def test_intact_pushes_keep_the_key_so_a_re_run_is_cached(world):
    first = world.push(2)
    assert first.get_int_custom_property(executor.SOURCE_MODEL_ID) == (
        world.model(2).id)
    assert world.key(2) == INTACT

    # A re-run that found its model served ("already serving") is a second
    # push record of the same version: still intact.
    again = world.push(2)
    assert again.get_int_custom_property(executor.ALREADY_SERVING) == 1
    assert world.key(2) == INTACT

    # Another model pushed on top: our version is still there, intact.
    world.push(3)
    assert world.key(2) == INTACT


def test_a_deleted_pushed_version_runs_the_pusher_then_is_cached_again(
        world):
    pushed = world.push(2)
    ours = _destination(pushed)
    assert world.key(2) == INTACT

    saved = str(world.tmp_path / "saved_version")
    shutil.move(ours, saved)
    gone = world.key(2)
    assert gone == f"gone:{ours}"        # not the cached run's key: re-run
    assert world.key(2) == gone          # deterministic

    # The Pusher runs with that key and publishes a new version ...
    repush = world.push(2, key=gone)
    assert repush.get_int_custom_property(executor.ALREADY_SERVING) == 0
    assert _destination(repush) != ours
    assert layout.is_complete(_destination(repush))
    # ... and the next run has the key that re-push ran with: cached.
    assert world.key(2) == gone

    # The re-pushed version deleted too: yet another key, the Pusher runs.
    theirs = _destination(repush)
    shutil.move(theirs, str(world.tmp_path / "saved_repush"))
    assert world.key(2) == "gone:" + ",".join(sorted([ours, theirs]))

    # Both restored byte for byte: as the intact runs left them.
    shutil.move(saved, ours)
    shutil.move(str(world.tmp_path / "saved_repush"), theirs)
    assert world.key(2) == INTACT


def test_a_re_push_into_the_deleted_number_is_intact_again(world):
    """Deleted and re-pushed in the same second: the same version number.

    Then both push records hold the model again: the key is "intact", the
    key of the first run, whose cached output names that very version.
    """
    ours = _destination(world.push(2))
    shutil.rmtree(ours)
    gone = world.key(2)
    assert gone == f"gone:{ours}"
    repush = world.push(2, key=gone, same_second=True)
    assert _destination(repush) == ours
    assert world.key(2) == INTACT


def test_a_deleted_serving_directory_is_gone(world):
    pushed = world.push(2)
    shutil.rmtree(os.path.dirname(world.base))
    assert world.key(2) == f"gone:{_destination(pushed)}"


def _rewrite(path, data):
    with open(path, "wb") as f:
        f.write(data)


def _overwrite_tflite(version, model_dirs):
    """Another payload file, another size; the manifest left as it was."""
    _rewrite(os.path.join(version, layout.TFLITE_FILE), b"a different model")


def _replace_model_and_manifest(version, model_dirs):
    """Someone re-publishes another model in place, manifest and all."""
    for name in os.listdir(version):
        if name != "assets.extra":
            path = os.path.join(version, name)
            shutil.rmtree(path) if os.path.isdir(path) else os.remove(path)
    source = os.path.join(model_dirs[5], "Format-Serving")
    shutil.copytree(source, version, dirs_exist_ok=True)
    os.remove(os.path.join(version, layout.MANIFEST_FILE))
    layout.write_manifest(version)


def _delete_a_variables_file(version, model_dirs):
    variables = os.path.join(version, "variables")
    os.remove(os.path.join(variables, sorted(os.listdir(variables))[0]))


def _delete_manifest(version, model_dirs):
    os.remove(os.path.join(version, layout.MANIFEST_FILE))


@pytest.mark.parametrize("edit", [_overwrite_tflite,
                                  _replace_model_and_manifest,
                                  _delete_a_variables_file, _delete_manifest])
def test_a_pushed_version_that_no_longer_holds_the_model_is_gone(
        world, edit):
    pushed = world.push(2)
    ours = _destination(pushed)
    edit(ours, world.model_dirs)
    gone = world.key(2)
    assert gone == f"gone:{ours}"

    repush = world.push(2, key=gone)
    assert _destination(repush) != ours
    assert world.key(2) == gone  # cached after the re-push


def test_metadata_edits_that_leave_the_payload_alone_are_intact(world):
    """lineage is not what a server loads: a re-push would change nothing."""
    ours = _destination(world.push(2))
    with open(os.path.join(ours, layout.LINEAGE_FILE), "a") as f:
        f.write(" ")
    os.remove(os.path.join(ours, layout.MANIFEST_FILE))
    layout.write_manifest(ours)
    assert world.key(2) == INTACT


def test_pushes_that_did_not_push_or_pushed_another_model_do_not_count(
        world):
    ours = world.push(2)
    # A not-blessed run of the same model: `pushed` == 0, no destination.
    refused = world.push(2, blessed=0)
    assert refused.get_int_custom_property(executor.PUSHED) == 0
    # Another model's version, deleted: its own Pusher will notice.
    theirs = world.push(3)
    shutil.rmtree(_destination(theirs))
    assert world.key(2) == INTACT
    assert world.key(3) == f"gone:{_destination(theirs)}"
    assert layout.is_complete(_destination(ours))

