"""Pusher executor on real SavedModels and real files (after TFX's pusher test):
the blessing check, what a version holds, re-runs that never duplicate, and
never reporting a path that holds another model.

Artifacts are set up by hand and `Executor.Do` runs for real (helpers in
testing.py, fixtures in conftest.py). Version numbering, crash safety,
the orphan sweep and remote stores are in publish_test.py.
"""
import json
import os
import shutil
import time

import pytest
from tensorflow_metadata.proto.v0 import statistics_pb2
from tfx.types import standard_artifacts

from components.pusher import executor, publish
from components.pusher.testing import (NOW, PIPELINE, examples_artifact,
                                       factor_served, fixed_clock,
                                       model_digest, push, pushed_version,
                                       read_bytes, visible_versions)
from serving import layout


# --- a blessed push --------------------------------------------------------

def test_lineage_records_run_transform_graph_recipe_and_source(tmp_path,
                                                               models):
    graph = standard_artifacts.TransformGraph()
    graph.uri, graph.id = "/root/Transform/transform_graph/7", 7
    recipe = {"trainer": {"optimization": "prune"}, "train_steps": 30}
    source = {"git_commit": "ab" * 20, "dirty": True, "diff_digest": "d1",
              "code_digest": "c0"}
    pushed = push(tmp_path, models[2], str(tmp_path / "serving" / "taxi"),
                  extra_inputs={executor.TRANSFORM_GRAPH_KEY: [graph]},
                  extra_properties={executor.RECIPE_KEY: json.dumps(recipe),
                                    executor.SOURCE_KEY: json.dumps(source)},
                  run_id="2026-12-03T07:00:00.1")
    lineage = layout.read_lineage(pushed.get_string_custom_property(
        executor.PUSHED_DESTINATION))
    assert lineage["transform_graph"] == {"id": 7, "uri": graph.uri}
    assert (lineage["recipe"], lineage["source"]) == (recipe, source)
    assert lineage["run_id"] == "2026-12-03T07:00:00.1"


def test_blessed_push_publishes_a_complete_version(tmp_path, models):
    base = str(tmp_path / "serving" / "taxi")
    model = models[2]
    examples = examples_artifact()
    pushed = push(tmp_path, model, base, examples=examples)

    version = pushed_version(pushed)
    target = os.path.join(base, str(version))
    assert version >= int(time.time()) - 60
    assert pushed.get_int_custom_property(executor.PUSHED) == 1
    assert pushed.get_string_custom_property(
        executor.PUSHED_DESTINATION) == target
    assert pushed.get_int_custom_property(executor.ALREADY_SERVING) == 0
    assert pushed.get_string_custom_property(
        executor.MODEL_DIGEST) == model_digest(model)
    assert pushed.get_int_custom_property(executor.SOURCE_MODEL_ID) == 2
    assert os.listdir(base) == [str(version)]  # no staging dir left behind

    manifest = layout.read_manifest(target)
    assert manifest is not None
    assert layout.changed_files(target, manifest) == []
    source = os.path.join(model.uri, "Format-Serving")
    model_files = {os.path.relpath(os.path.join(d, f), source)
                   for d, _, files in os.walk(source) for f in files}
    shipped = {layout.SCHEMA_FILE, layout.STATISTICS_FILE, layout.LINEAGE_FILE}
    assert set(manifest["files"]) == model_files | shipped
    assert layout.model_digest(manifest) == model_digest(model)
    assert layout.newest_complete_version(base) == version
    # What the Pusher's driver checks a re-run against: the published
    # payload (SavedModel + model.tflite), as its manifest lists it.
    payload = pushed.get_string_custom_property(executor.PAYLOAD_DIGEST)
    assert payload == layout.payload_digest(manifest)
    assert payload == layout.directory_digests(source)[1]
    assert payload != layout.directory_digests(
        os.path.join(models[3].uri, "Format-Serving"))[1]

    # The schema and the *train* split's statistics ship beside the model.
    assert read_bytes(os.path.join(target, layout.SCHEMA_FILE)) == read_bytes(
        str(tmp_path / "schema" / "schema.pbtxt"))
    statistics = statistics_pb2.DatasetFeatureStatisticsList.FromString(
        read_bytes(os.path.join(target, layout.STATISTICS_FILE)))
    assert statistics.datasets[0].num_examples == 12
    lineage = layout.read_lineage(target)
    assert lineage["pipeline_name"] == PIPELINE
    assert lineage["model_digest"] == model_digest(model)
    assert lineage["model"]["uri"] == model.uri
    assert lineage["blessing"]["id"] == 99
    assert lineage["blessing"]["blessed"] == 1
    # The training examples: what ServedBaseline's `examples` exclusion reads.
    assert lineage["examples"] == {
        "id": 41, "uri": examples.uri,
        "input_fingerprint": "split:x,num_files:1"}
    assert set(lineage) == {"pipeline_name", "pushed_at", "model_digest",
                            "model", "blessing", "examples", "run_id"}
    assert lineage["run_id"] is None  # no launcher context here

    assert factor_served(target) == 2.0
    assert os.stat(target).st_mode & 0o777 == os.stat(source).st_mode & 0o777
    with open(os.path.join(pushed.uri, executor.PUSH_RECORD_FILE)) as f:
        assert json.load(f) == {"destination": target, "version": version,
                                "already_serving": False, "signed_by": "",
                                "encrypted_with": ""}


def test_schema_and_statistics_are_optional(tmp_path, models):
    base = str(tmp_path / "serving")
    target = os.path.join(base, str(pushed_version(
        push(tmp_path, models[2], base, metadata=False))))
    files = layout.read_manifest(target)["files"]
    assert layout.LINEAGE_FILE in files
    assert layout.SCHEMA_FILE not in files
    assert layout.STATISTICS_FILE not in files
    assert "examples" not in layout.read_lineage(target)


@pytest.mark.parametrize("blessed", [False, None], ids=["blessed=0", "unset"])
def test_not_blessed_pushes_nothing(tmp_path, models, blessed):
    base = str(tmp_path / "serving")
    pushed = push(tmp_path, models[2], base, blessed=blessed)
    assert pushed.get_int_custom_property(executor.PUSHED) == 0
    assert not pushed.has_custom_property(executor.PUSHED_VERSION)
    assert not os.path.exists(base)
    assert os.listdir(pushed.uri) == []


def test_missing_saved_model_fails_before_any_version(tmp_path):
    model = standard_artifacts.Model()
    model.uri = str(tmp_path / "model")
    os.makedirs(os.path.join(model.uri, "Format-Serving", "variables"))
    base = str(tmp_path / "serving")
    with pytest.raises(FileNotFoundError, match="saved_model.pb"):
        push(tmp_path, model, base)
    assert os.listdir(base) == []


# --- re-runs: never a duplicate ---------------------------------------------

def test_re_push_of_the_served_model_is_already_serving(tmp_path, models):
    base = str(tmp_path / "serving")
    first = push(tmp_path, models[2], base)
    target = os.path.join(base, str(pushed_version(first)))
    before = layout.build_manifest(target)
    again = push(tmp_path, models[2], base)

    assert again.get_int_custom_property(executor.PUSHED) == 1
    assert again.get_int_custom_property(executor.ALREADY_SERVING) == 1
    assert pushed_version(again) == pushed_version(first)
    assert again.get_string_custom_property(
        executor.PUSHED_DESTINATION) == target
    # The same facts as the first push: the driver finds both intact.
    for name in (executor.PAYLOAD_DIGEST, executor.MODEL_DIGEST):
        assert again.get_string_custom_property(name) == (
            first.get_string_custom_property(name))
    assert again.get_int_custom_property(executor.SOURCE_MODEL_ID) == 2
    assert visible_versions(base) == [pushed_version(first)]
    assert os.listdir(base) == [str(pushed_version(first))]
    assert layout.build_manifest(target) == before  # nothing rewritten


def test_a_model_served_earlier_but_not_newest_is_pushed_again(
        tmp_path, models, monkeypatch):
    # TF Serving serves the highest number: "already serving" means newest.
    fixed_clock(monkeypatch, NOW, NOW, NOW)
    base = str(tmp_path / "serving")
    push(tmp_path, models[2], base)
    push(tmp_path, models[3], base)
    back = push(tmp_path, models[2], base)
    assert back.get_int_custom_property(executor.ALREADY_SERVING) == 0
    assert pushed_version(back) == NOW + 2
    assert factor_served(os.path.join(base, str(NOW + 2))) == 2.0


def test_crash_after_publishing_before_mlmd_is_not_pushed_twice(
        tmp_path, models, monkeypatch):
    base = str(tmp_path / "serving")
    real = publish.publish
    published = []

    def publish_then_die(*args, **kwargs):
        published.append(real(*args, **kwargs))
        raise SystemExit("killed after the rename, before MLMD recorded it")
    monkeypatch.setattr(publish, "publish", publish_then_die)
    with pytest.raises(SystemExit):
        push(tmp_path, models[2], base)
    monkeypatch.setattr(publish, "publish", real)
    assert visible_versions(base) == published  # the version is out, and complete
    assert layout.is_complete(os.path.join(base, str(published[0])))

    rerun = push(tmp_path, models[2], base)  # the orchestrator retries
    assert rerun.get_int_custom_property(executor.PUSHED) == 1
    assert rerun.get_int_custom_property(executor.ALREADY_SERVING) == 1
    assert pushed_version(rerun) == published[0]
    assert visible_versions(base) == published


# --- never report a path that holds another model -----------------------------

def test_remote_version_rewritten_by_another_writer_is_not_reported(
        tmp_path, remote_models, ram_base, monkeypatch):
    """Two in-place writers chose the same number: the last one's files win."""
    real = publish.stage_version
    other_dir = os.path.join(remote_models[3].uri, "Format-Serving")

    def stage_then_overwritten(target, model_dir, write_metadata, sign=None):
        manifest = real(target, model_dir, write_metadata, sign)
        real(target, other_dir, lambda root: None)  # the other writer
        return manifest
    monkeypatch.setattr(publish, "stage_version", stage_then_overwritten)

    pushed = standard_artifacts.PushedModel()
    with pytest.raises(RuntimeError, match="does not hold the model"):
        push(tmp_path, remote_models[2], ram_base, pushed=pushed)
    assert not pushed.has_custom_property(executor.PUSHED)
    assert os.listdir(pushed.uri) == []


def test_local_version_replaced_after_the_rename_is_not_reported(
        tmp_path, models, monkeypatch):
    base = str(tmp_path / "serving")
    real = publish.publish
    pushed_dirs = []

    def publish_then_replaced(model_base, *args, **kwargs):
        version = real(model_base, *args, **kwargs)
        target = os.path.join(model_base, str(version))
        shutil.rmtree(target)                       # someone else's rollback
        other = real(str(tmp_path / "elsewhere"),
                     os.path.join(models[5].uri, "Format-Serving"),
                     lambda root: None, clock=lambda: version)
        os.rename(os.path.join(str(tmp_path / "elsewhere"), str(other)),
                  target)
        pushed_dirs.append(target)
        return version
    monkeypatch.setattr(publish, "publish", publish_then_replaced)

    pushed = standard_artifacts.PushedModel()
    with pytest.raises(RuntimeError, match="does not hold the model"):
        push(tmp_path, models[2], base, pushed=pushed)
    assert factor_served(pushed_dirs[0]) == 5.0  # the race really happened
    assert not pushed.has_custom_property(executor.PUSHED)
    assert os.listdir(pushed.uri) == []
