"""ServingStateDriver: the serving state in ServedBaseline's cache key.

Unit tests call the driver's `run()` as TFX's launcher does (a
`tfx.orchestration.metadata.Metadata` connection, an `ExecutionInfo` with
real artifacts) on versions published by real Pusher `Do()` runs. Each state
is also resolved by the real executor, so "same key" can be checked against
"same result". The last test runs a real LocalDagRunner pipeline: the driver
is wired and runs before TFX's cache lookup.
"""
import json
import os
import shutil
import uuid

import pytest
import tensorflow as tf
from ml_metadata import metadata_store
from ml_metadata.proto import metadata_store_pb2 as mlmd_pb2
from tfx.dsl.compiler import compiler
from tfx.dsl.component.experimental.annotations import InputArtifact
from tfx.dsl.component.experimental.decorators import component
from tfx.dsl.components.common.importer import Importer
from tfx.orchestration import metadata, pipeline as tfx_pipeline
from tfx.orchestration.local.local_dag_runner import LocalDagRunner
from tfx.orchestration.portable import data_types
from tfx.proto.orchestration import executable_spec_pb2, pipeline_pb2
from tfx.types import standard_artifacts

from components import testing
from components.pusher import executor as pusher
from components.pusher import publish
from components.served_baseline import ServedBaseline, driver, executor
from pipeline.configs import taxi_config
from pipeline.pipeline import create_pipeline
from serving import layout

NOW = 1_700_000_000


def _trainer_model(root, factor):
    """The Trainer's Model artifact: a bare SavedModel in Format-Serving."""
    model = standard_artifacts.Model()
    model.uri = os.path.join(root, f"trainer_{factor}")
    tf.saved_model.save(testing.Scaler(factor),
                        os.path.join(model.uri, "Format-Serving"))
    model.id = factor
    return model


def _quantized(root, model):
    """The Quantizer's output for `model`: its SavedModel + model.tflite."""
    quantized = standard_artifacts.Model()
    quantized.uri = os.path.join(root, f"quantized_{uuid.uuid4().hex[:6]}")
    serving = os.path.join(quantized.uri, "Format-Serving")
    shutil.copytree(os.path.join(model.uri, "Format-Serving"), serving)
    with open(os.path.join(serving, layout.TFLITE_FILE), "wb") as f:
        f.write(b"tflite of model %d" % model.id)
    quantized.id = 100 + model.id
    return quantized


def _examples(uri, artifact_id):
    """CsvExampleGen's output: the Pusher records it, the teacher skips it."""
    examples = standard_artifacts.Examples()
    examples.uri = uri
    examples.id = artifact_id
    return examples


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    root = str(tmp_path_factory.mktemp("trained"))
    return root, {f: _trainer_model(root, f) for f in (2, 3, 5)}


class _Serving:
    """A model base written by real Pusher runs, one a minute."""

    def __init__(self, tmp_path, trained, monkeypatch):
        self.tmp_path = tmp_path
        self.root, self.models = trained
        self.base = str(tmp_path / "serving" / "taxi")
        self.now = NOW
        real = publish.publish

        def publish_at(*args, **kwargs):
            return real(*args, **kwargs, clock=lambda: self.now)
        monkeypatch.setattr(publish, "publish", publish_at)

    def push(self, factor, examples=None):
        """Pushes `factor`'s quantized model; returns the version number."""
        self.now += 60
        blessing = standard_artifacts.ModelBlessing()
        blessing.uri = str(self.tmp_path / "blessing")
        blessing.set_int_custom_property("blessed", 1)
        pushed = standard_artifacts.PushedModel()
        pushed.uri = str(self.tmp_path / f"pushed_{uuid.uuid4().hex[:8]}")
        os.makedirs(pushed.uri)
        inputs = {pusher.MODEL_KEY: [_quantized(self.root,
                                                self.models[factor])],
                  pusher.MODEL_BLESSING_KEY: [blessing]}
        if examples is not None:
            inputs[pusher.EXAMPLES_KEY] = [examples]
        pusher.Executor().Do(inputs, {pusher.PUSHED_MODEL_KEY: [pushed]}, {
            pusher.PUSH_DESTINATION_KEY: json.dumps(
                {"filesystem": {"base_directory": self.base}}),
            pusher.PIPELINE_NAME_KEY: "tfx-prod-test"})
        assert pushed.get_int_custom_property(pusher.ALREADY_SERVING) == 0
        return int(pushed.get_string_custom_property(pusher.PUSHED_VERSION))

    def version(self, version):
        return layout.version_dir(self.base, version)

    def _inputs(self, candidate, examples):
        inputs = {}
        if candidate is not None:
            inputs[executor.CANDIDATE_KEY] = [self.models[candidate]]
        if examples is not None:
            inputs[executor.EXAMPLES_KEY] = [examples]
        return inputs

    def key(self, candidate=None, examples=None):
        """The driver's serving_state_key, run as the launcher runs it."""
        connection = metadata.Metadata(
            metadata.sqlite_metadata_connection_config(
                str(self.tmp_path / "metadata.sqlite")))
        info = data_types.ExecutionInfo(
            input_dict=self._inputs(candidate, examples),
            output_dict={executor.MODEL_KEY: [standard_artifacts.Model()]},
            # The compiled parameter, with the trailing '/' users may give.
            exec_properties={executor.MODEL_BASE_KEY: self.base + "/"})
        output = driver.ServingStateDriver(connection).run(info)
        assert list(output.exec_properties) == [executor.SERVING_STATE_KEY]
        assert not output.output_artifacts
        return output.exec_properties[
            executor.SERVING_STATE_KEY].string_value

    def result(self, candidate=None, examples=None):
        """What the executor resolves now: (served_version, model digest)."""
        output = standard_artifacts.Model()
        output.uri = str(self.tmp_path / f"baseline_{uuid.uuid4().hex[:6]}")
        os.makedirs(output.uri)
        executor.Executor().Do(
            self._inputs(candidate, examples), {executor.MODEL_KEY: [output]},
            {executor.MODEL_BASE_KEY: self.base + "/"})
        version = output.get_int_custom_property(executor.SERVED_VERSION)
        return version, (output.get_string_custom_property(
            executor.MODEL_DIGEST) if version else None)


@pytest.fixture
def serving(tmp_path, trained, monkeypatch):
    return _Serving(tmp_path, trained, monkeypatch)


def test_the_key_is_the_executors_rule_and_repeatable(serving):
    nothing = serving.key(candidate=2)
    assert nothing == serving.key(candidate=2)
    assert nothing == executor.state_key(serving.base,
                                         serving._inputs(2, None))
    os.makedirs(serving.base)
    assert serving.key(candidate=2) == nothing  # an empty base: nothing too
    assert not os.listdir(serving.base)  # the driver writes nothing

    serving.push(3)
    served = serving.key(candidate=2)
    assert served != nothing
    assert served == serving.key(candidate=2)


def test_our_own_push_of_the_candidate_keeps_the_key(serving):
    """The Evaluator's baseline: a re-run after our push stays cached."""
    theirs = serving.push(3)
    before = serving.key(candidate=2)
    assert serving.result(candidate=2)[0] == theirs

    # The Pusher publishes the candidate (with a model.tflite beside it).
    ours = serving.push(2)
    assert ours > theirs
    assert serving.key(candidate=2) == before
    assert serving.result(candidate=2)[0] == theirs  # the same result
    # For another candidate that push is a change (the key is not blind).
    assert serving.key(candidate=5) != before

    # Our version incomplete, or gone: still excluded, still the same key.
    os.remove(os.path.join(serving.version(ours), layout.TFLITE_FILE))
    assert serving.key(candidate=2) == before
    shutil.rmtree(serving.version(ours))
    assert serving.key(candidate=2) == before


def _edit_lineage(version_dir):
    """Someone edits a version's files and rewrites its manifest."""
    with open(os.path.join(version_dir, layout.LINEAGE_FILE), "a") as f:
        f.write(" ")
    os.remove(os.path.join(version_dir, layout.MANIFEST_FILE))
    layout.write_manifest(version_dir)


def test_another_models_version_added_deleted_or_edited_changes_the_key(
        serving):
    first = serving.push(3)
    keys = [serving.key(candidate=2)]

    added = serving.push(5)                       # another model's version
    keys.append(serving.key(candidate=2))
    assert serving.result(candidate=2)[0] == added

    _edit_lineage(serving.version(added))         # edited, still complete
    keys.append(serving.key(candidate=2))

    shutil.rmtree(serving.version(first))         # an older one deleted
    keys.append(serving.key(candidate=2))

    os.remove(os.path.join(serving.version(added), layout.TFLITE_FILE))
    keys.append(serving.key(candidate=2))         # now incomplete: skipped
    assert serving.result(candidate=2) == (0, None)
    assert len(set(keys)) == len(keys)


def test_a_state_seen_before_has_the_key_it_had(serving):
    """Same eligible versions, same key: the cached result is right again."""
    first = serving.push(3)
    before = serving.key(candidate=2)
    added = serving.push(5)
    with_added = serving.key(candidate=2)
    assert with_added != before
    saved = str(serving.tmp_path / "saved")
    shutil.move(serving.version(added), saved)    # deleted ...
    assert serving.key(candidate=2) == before
    assert serving.result(candidate=2)[0] == first
    shutil.move(saved, serving.version(added))    # ... and restored
    assert serving.key(candidate=2) == with_added
    assert serving.result(candidate=2)[0] == added


def test_teacher_examples_exclusion_same_key_iff_same_result(serving):
    """The Trainer's base_model: "what was served before this data came in".

    Along a realistic history, the key stays the same exactly when the
    resolved baseline does.
    """
    data = _examples("/pipeline_root/CsvExampleGen/examples/7", 7)
    older = _examples("/pipeline_root/CsvExampleGen/examples/3", 3)
    states = {}

    def observe(name):
        states[name] = (serving.key(examples=data),
                        serving.result(examples=data))

    observe("nothing served")
    serving.push(3, examples=older)       # trained on an earlier span
    observe("older span served")
    serving.push(2, examples=data)        # our own push, after this run
    observe("our push")
    # Without the exclusion our push would change the key.
    assert serving.key(examples=older) != states["older span served"][0]
    newer = serving.push(5)               # pushed by someone else
    observe("another push")
    shutil.rmtree(serving.version(newer))
    observe("that one deleted")

    assert states["our push"][1] == states["older span served"][1]
    assert states["another push"][1][0] == newer
    for a, (key_a, result_a) in states.items():
        for b, (key_b, result_b) in states.items():
            assert (key_a == key_b) == (result_a == result_b), (a, b)


def test_create_pipeline_runs_the_driver_for_both_baselines(tmp_path):
    config = taxi_config(
        str(tmp_path / "root"), str(tmp_path / "serving"),
        trainer_options={"options": {"teacher": "base_model"}})
    ir = compiler.Compiler().compile(create_pipeline(config))
    deployment = pipeline_pb2.IntermediateDeploymentConfig()
    ir.deployment_config.Unpack(deployment)
    drivers = {}
    for node_id, packed in deployment.custom_driver_specs.items():
        spec = executable_spec_pb2.PythonClassExecutableSpec()
        packed.Unpack(spec)
        drivers[node_id] = spec.class_path
    expected = f"{driver.__name__}.ServingStateDriver"
    assert drivers["ServedBaseline"] == expected
    assert drivers["ServedBefore"] == expected
    nodes = {n.pipeline_node.node_info.id: n.pipeline_node for n in ir.nodes}
    teacher = nodes["ServedBefore"].inputs.inputs
    assert teacher[executor.EXAMPLES_KEY].channels[0] \
        .producer_node_query.id == "CsvExampleGen"
    baseline = nodes["ServedBaseline"].inputs.inputs
    assert baseline[executor.CANDIDATE_KEY].channels[0] \
        .producer_node_query.id == "Trainer"
    for node in ("ServedBaseline", "ServedBefore"):
        assert nodes[node].execution_options.caching_options.enable_cache
        # Set by the driver at run time, not a compiled constant.
        assert executor.SERVING_STATE_KEY not in (
            nodes[node].parameters.parameters)


# --- the driver really runs before TFX's cache lookup ------------------------

@component
def UseBaseline(baseline: InputArtifact[standard_artifacts.Model]) -> None:
    """Stands in for the Evaluator: consumes the baseline."""
    del baseline


def _run(root, candidate_uri, model_base):
    """Importer(candidate) -> ServedBaseline -> UseBaseline, cached."""
    importer = Importer(source_uri=candidate_uri,
                        artifact_type=standard_artifacts.Model
                        ).with_id("candidate")
    baseline = ServedBaseline(model_base=model_base,
                              candidate=importer.outputs["result"]
                              ).with_id("served_baseline")
    downstream = UseBaseline(baseline=baseline.outputs["model"])
    config = metadata.sqlite_metadata_connection_config(
        os.path.join(root, "metadata.sqlite"))
    LocalDagRunner().run(tfx_pipeline.Pipeline(
        pipeline_name="served-baseline-test", pipeline_root=root,
        components=[importer, baseline, downstream], enable_cache=True,
        metadata_connection_config=config))
    return metadata_store.MetadataStore(config)


def _executions(store, component_class):
    """[(state, output artifact)] of a node, in run order."""
    [execution_type] = [t for t in store.get_execution_types()
                        if t.name.endswith(component_class)]
    runs = []
    for execution in sorted(store.get_executions_by_type(execution_type.name),
                            key=lambda e: e.id):
        outputs = [e.artifact_id for e in
                   store.get_events_by_execution_ids([execution.id])
                   if e.type == mlmd_pb2.Event.OUTPUT]
        artifacts = store.get_artifacts_by_id(outputs)
        runs.append((execution.last_known_state, artifacts))
    return runs


def _served_version(artifacts):
    [model] = artifacts
    return model.custom_properties[executor.SERVED_VERSION].int_value


def _publish_by_hand(model_base, version, saved_model_dir):
    target = layout.version_dir(model_base, version)
    shutil.copytree(saved_model_dir, target)
    layout.write_manifest(target)


def test_local_dag_runner_re_runs_the_baseline_when_the_serving_dir_changes(
        tmp_path, trained):
    _, models = trained
    candidate = models[2].uri
    root, model_base = str(tmp_path / "root"), str(tmp_path / "serving" / "m")
    COMPLETE, CACHED = mlmd_pb2.Execution.COMPLETE, mlmd_pb2.Execution.CACHED

    _run(root, candidate, model_base)                      # nothing served
    store = _run(root, candidate, model_base)
    runs = _executions(store, "ServedBaseline")
    assert [state for state, _ in runs] == [COMPLETE, CACHED]
    assert _served_version(runs[1][1]) == 0

    # Another model's complete version appears: the baseline is resolved
    # again, and it is that version.
    _publish_by_hand(model_base, 7, os.path.join(models[3].uri,
                                                 "Format-Serving"))
    store = _run(root, candidate, model_base)
    runs = _executions(store, "ServedBaseline")
    assert [state for state, _ in runs] == [COMPLETE, CACHED, COMPLETE]
    assert _served_version(runs[2][1]) == 7
    assert [s for s, _ in _executions(store, "UseBaseline")] == [
        COMPLETE, CACHED, COMPLETE]

    # A newer version holding the candidate's own SavedModel (its push):
    # cached, and the cached baseline (7) is what the executor would pick.
    _publish_by_hand(model_base, 8, os.path.join(candidate, "Format-Serving"))
    store = _run(root, candidate, model_base)
    runs = _executions(store, "ServedBaseline")
    assert [state for state, _ in runs] == [COMPLETE, CACHED, COMPLETE,
                                            CACHED]
    assert _served_version(runs[3][1]) == 7
    assert [s for s, _ in _executions(store, "UseBaseline")][-1] == CACHED
