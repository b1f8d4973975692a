"""The baseline resolver in a real LocalDagRunner pipeline with caching on.

Tiny function components stand in for Trainer and Evaluator; the evaluator
writes the ModelBlessing custom properties TFX's Evaluator writes
(tfx/components/evaluator/executor.py), which is all the resolver reads.
"""
import os

from ml_metadata.metadata_store import metadata_store
from ml_metadata.proto import metadata_store_pb2
from tfx import v1 as tfx
from tfx.dsl.component.experimental.annotations import (InputArtifact,
                                                        OutputArtifact,
                                                        Parameter)
from tfx.dsl.component.experimental.decorators import component
from tfx.types.standard_artifacts import Model, ModelBlessing

from components.baseline_resolver import baseline_resolver

CACHED = metadata_store_pb2.Execution.CACHED
COMPLETE = metadata_store_pb2.Execution.COMPLETE


@component
def TinyTrainer(model: OutputArtifact[Model],
                learning_rate: Parameter[float] = 0.1) -> None:
    """Writes a Model artifact (a file standing in for the SavedModel)."""
    serving_dir = os.path.join(model.uri, "Format-Serving")
    os.makedirs(serving_dir, exist_ok=True)
    with open(os.path.join(serving_dir, "saved_model.pb"), "w") as f:
        f.write(f"learning_rate={learning_rate}")


@component
def TinyEvaluator(model: InputArtifact[Model],
                  blessing: OutputArtifact[ModelBlessing],
                  baseline_model: InputArtifact[Model] = None) -> None:
    """Blesses every model, recording ids like TFX's Evaluator does."""
    blessing.set_string_custom_property("current_model", model.uri)
    blessing.set_int_custom_property("current_model_id", model.id)
    if baseline_model is not None:
        blessing.set_string_custom_property("baseline_model",
                                            baseline_model.uri)
        blessing.set_int_custom_property("baseline_model_id",
                                         baseline_model.id)
    open(os.path.join(blessing.uri, "BLESSED"), "w").close()
    blessing.set_int_custom_property("blessed", 1)


def _pipeline(root, learning_rate, stock_strategy=False):
    trainer = TinyTrainer(learning_rate=learning_rate).with_id("trainer")
    if stock_strategy:
        resolver = tfx.dsl.Resolver(
            strategy_class=tfx.dsl.experimental.LatestBlessedModelStrategy,
            model=tfx.dsl.Channel(type=Model),
            model_blessing=tfx.dsl.Channel(type=ModelBlessing),
        ).with_id("latest_blessed_model_resolver")
    else:
        resolver = baseline_resolver(trainer.outputs["model"])
    evaluator = TinyEvaluator(
        model=trainer.outputs["model"],
        baseline_model=resolver.outputs["model"]).with_id("evaluator")
    return tfx.dsl.Pipeline(
        pipeline_name="baseline-resolver-test",
        pipeline_root=os.path.join(root, "pipeline_root"),
        components=[trainer, resolver, evaluator], enable_cache=True,
        metadata_connection_config=_mlmd_config(root))


def _mlmd_config(root):
    return tfx.orchestration.metadata.sqlite_metadata_connection_config(
        os.path.join(root, "metadata.sqlite"))


def _run(root, learning_rate, **kwargs):
    """Run once; return {node id: execution} for this run's executions."""
    tfx.orchestration.LocalDagRunner().run(
        _pipeline(root, learning_rate, **kwargs))
    store = metadata_store.MetadataStore(_mlmd_config(root))
    latest_run = max(store.get_contexts_by_type("pipeline_run"),
                     key=lambda c: c.id)
    node_type = store.get_context_type("node")
    by_node = {}
    for execution in store.get_executions_by_context(latest_run.id):
        [node] = [c for c in store.get_contexts_by_execution(execution.id)
                  if c.type_id == node_type.id]
        by_node[node.name.split(".")[-1]] = execution  # "<pipeline>.<node>"
    return store, by_node


def _blessings(store):
    return sorted(store.get_artifacts_by_type(ModelBlessing.TYPE_NAME),
                  key=lambda a: a.id)


def _int(artifact, key):
    return artifact.custom_properties[key].int_value


def test_rerun_is_fully_cached_and_new_model_gets_old_baseline(tmp_path):
    root = str(tmp_path)
    store, first = _run(root, 0.1)
    assert first["trainer"].last_known_state != CACHED
    assert first["evaluator"].last_known_state != CACHED
    [blessing] = _blessings(store)
    first_model_id = _int(blessing, "current_model_id")
    assert "baseline_model_id" not in blessing.custom_properties

    store, second = _run(root, 0.1)
    # Nothing executes: both components are cached; the Resolver is a system
    # node (no executor) whose execution TFX records as COMPLETE, not CACHED.
    assert {k: e.last_known_state for k, e in second.items()} == {
        "trainer": CACHED, "evaluator": CACHED,
        "latest_blessed_model_resolver": COMPLETE}
    assert len(_blessings(store)) == 1

    store, third = _run(root, 0.2)
    assert third["trainer"].last_known_state != CACHED
    assert third["evaluator"].last_known_state != CACHED
    newest = _blessings(store)[-1]
    second_model_id = _int(newest, "current_model_id")
    assert second_model_id != first_model_id
    assert _int(newest, "baseline_model_id") == first_model_id

    # Back to the first parameters: the Trainer is cached (first model), and
    # `candidate` holds only this run's model, not every Trainer output ever,
    # so the baseline is the other blessed model.
    store, fourth = _run(root, 0.1)
    assert fourth["trainer"].last_known_state == CACHED
    newest = _blessings(store)[-1]
    assert _int(newest, "current_model_id") == first_model_id
    assert _int(newest, "baseline_model_id") == second_model_id


def test_tfx_strategy_reruns_the_evaluator_against_itself(tmp_path):
    """Why this strategy exists: the stock one breaks the re-run's cache."""
    root = str(tmp_path)
    _run(root, 0.1, stock_strategy=True)
    store, second = _run(root, 0.1, stock_strategy=True)
    assert second["trainer"].last_known_state == CACHED
    assert second["evaluator"].last_known_state != CACHED
    newest = _blessings(store)[-1]
    assert (_int(newest, "baseline_model_id")
            == _int(newest, "current_model_id"))
