"""LatestBlessedBaselineStrategy against a real MLMD SQLite store."""
import pytest
from ml_metadata.metadata_store import metadata_store
from tfx.orchestration import metadata
from tfx.types import artifact_utils, standard_artifacts

from components.baseline_resolver import LatestBlessedBaselineStrategy


@pytest.fixture
def store(tmp_path):
    config = metadata.sqlite_metadata_connection_config(
        str(tmp_path / "metadata.sqlite"))
    return metadata_store.MetadataStore(config)


def _put(store, artifact):
    """Register an artifact in MLMD and return it with its MLMD id."""
    artifact.mlmd_artifact.type_id = store.put_artifact_type(
        artifact.artifact_type)
    [artifact.id] = store.put_artifacts([artifact.mlmd_artifact])
    return artifact


def _model(store, name):
    model = standard_artifacts.Model()
    model.uri = f"/models/{name}"
    return _put(store, model)


def _blessing(store, model, blessed):
    """A ModelBlessing with the custom properties TFX's Evaluator writes."""
    blessing = standard_artifacts.ModelBlessing()
    blessing.uri = f"/blessings/{model.id}"
    blessing.set_int_custom_property("blessed", blessed)
    blessing.set_int_custom_property("current_model_id", model.id)
    blessing.set_string_custom_property("current_model", model.uri)
    return _put(store, blessing)


def _load(store, artifact_cls):
    """Read artifacts back from MLMD, as the resolver sees them."""
    artifact_type = artifact_cls().artifact_type
    artifact_type.id = store.put_artifact_type(artifact_type)
    return [artifact_utils.deserialize_artifact(artifact_type, a)
            for a in store.get_artifacts_by_type(artifact_cls.TYPE_NAME)]


def _resolve(store, candidate):
    return LatestBlessedBaselineStrategy().resolve_artifacts(store, {
        "candidate": [candidate] if candidate else [],
        "model": _load(store, standard_artifacts.Model),
        "model_blessing": _load(store, standard_artifacts.ModelBlessing),
    })


def _ids(result):
    return ([a.id for a in result["model"]],
            [a.get_int_custom_property("current_model_id")
             for a in result["model_blessing"]])


def test_candidate_that_is_latest_blessed_gets_the_previous_one(store):
    first, second, third = (_model(store, n) for n in ("m1", "m2", "m3"))
    _blessing(store, first, 1)
    _blessing(store, second, 0)
    _blessing(store, third, 1)

    result = _resolve(store, third)

    assert _ids(result) == ([first.id], [first.id])
    assert [a.id for a in result["candidate"]] == [third.id]


def test_new_unblessed_candidate_gets_the_latest_blessed(store):
    first, second = _model(store, "m1"), _model(store, "m2")
    _blessing(store, first, 1)
    _blessing(store, second, 1)
    candidate = _model(store, "m3")
    assert _ids(_resolve(store, candidate)) == ([second.id], [second.id])


def test_no_other_blessed_model_gives_no_baseline(store):
    first, second = _model(store, "m1"), _model(store, "m2")
    _blessing(store, first, 0)
    _blessing(store, second, 1)
    assert _ids(_resolve(store, second)) == ([], [])
    assert _ids(_resolve(store, None)) == ([second.id], [second.id])


def test_empty_store_gives_no_baseline(store):
    assert _ids(_resolve(store, _model(store, "m1"))) == ([], [])


def test_missing_candidate_input_explains_the_usage(store):
    with pytest.raises(ValueError, match=r"needs inputs \['candidate'\]"):
        LatestBlessedBaselineStrategy().resolve_artifacts(
            store, {"model": [], "model_blessing": []})
