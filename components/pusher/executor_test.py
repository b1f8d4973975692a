"""Pusher executor on real SavedModels and real files (after TFX's pusher test).

Artifacts are set up by hand and `Executor.Do` runs for real. Failures and
races are staged by wrapping the protocol's own steps (`publish.stage_version`,
`layout.write_manifest`, `tf.io.gfile.copy`), by real filesystem failures
(a dangling symlink), or by a forked child that dies mid-push (`os._exit`, so
no `finally` runs: what a kill -9 or a power cut leaves behind). TF's
in-memory `ram://` filesystem stands in for gs:// (no atomic rename).
"""
import json
import os
import shutil
import socket
import subprocess
import time
import uuid

import pytest
import tensorflow as tf
from tensorflow_metadata.proto.v0 import schema_pb2, statistics_pb2
from tfx.types import artifact_utils, standard_artifacts

from components import testing
from components.pusher import executor, publish
from serving import layout

testing.register_ram_filesystem()

PIPELINE = "tfx-prod-test"
NOW = 1_700_000_000  # a fixed clock: every push "in the same second"


def _write_model(model_uri, factor, remote_safe=False):
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


def _schema_artifact(root):
    schema = schema_pb2.Schema()
    schema.feature.add(name="x", type=schema_pb2.FLOAT)
    artifact = standard_artifacts.Schema()
    artifact.uri = os.path.join(root, "schema")
    os.makedirs(artifact.uri, exist_ok=True)
    with open(os.path.join(artifact.uri, "schema.pbtxt"), "w") as f:
        f.write(str(schema))
    return artifact


def _statistics_artifact(root):
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


def _read(path):
    with tf.io.gfile.GFile(path, "rb") as f:
        return f.read()


def _examples_artifact(uri="/data/taxi/span-3", span=3):
    """CsvExampleGen's output, as MLMD hands it to the Pusher."""
    examples = standard_artifacts.Examples()
    examples.uri = uri
    examples.id = 41
    examples.span = span
    # CsvExampleGen's driver records the input's fingerprint.
    examples.set_string_custom_property("input_fingerprint",
                                        "split:x,num_files:1")
    return examples


def _push(tmp_path, model, base, blessed=True, metadata=True, pushed=None,
          examples=None):
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
        inputs[executor.SCHEMA_KEY] = [_schema_artifact(str(tmp_path))]
        inputs[executor.STATISTICS_KEY] = [_statistics_artifact(str(tmp_path))]
    if examples is not None:
        inputs[executor.EXAMPLES_KEY] = [examples]
    properties = {
        executor.PUSH_DESTINATION_KEY: json.dumps(
            {"filesystem": {"base_directory": base}}),
        executor.PIPELINE_NAME_KEY: PIPELINE,
    }
    executor.Executor().Do(inputs, {executor.PUSHED_MODEL_KEY: [pushed]},
                           properties)
    return pushed


def _version(pushed):
    return int(pushed.get_string_custom_property(executor.PUSHED_VERSION))


def _digest(model):
    return layout.saved_model_digest(os.path.join(model.uri, "Format-Serving"))


def _factor_served(version_path):
    return float(tf.saved_model.load(version_path)(tf.constant([1.0]))[0])


def _fixed_clock(monkeypatch, *seconds):
    """Every later publish() call reads the next of `seconds` as 'now'."""
    real = publish.publish
    ticks = iter(seconds)

    def publish_at(*args, **kwargs):
        now = next(ticks)
        return real(*args, **kwargs, clock=lambda: now)
    monkeypatch.setattr(publish, "publish", publish_at)


def _visible(base):
    """What TF Serving sees: numeric children only."""
    return layout.version_numbers(base)


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    root = tmp_path_factory.mktemp("trainer")
    return {factor: _write_model(str(root / f"model_{factor}"), factor)
            for factor in (2, 3, 5)}


@pytest.fixture(scope="module")
def remote_models(tmp_path_factory):
    root = tmp_path_factory.mktemp("trainer_remote")
    return {factor: _write_model(str(root / f"model_{factor}"), factor,
                                 remote_safe=True) for factor in (2, 3)}


@pytest.fixture
def ram_base():
    return f"ram://pusher_test_{uuid.uuid4().hex[:8]}/serving/taxi"


# --- a blessed push --------------------------------------------------------

def test_blessed_push_publishes_a_complete_version(tmp_path, models):
    base = str(tmp_path / "serving" / "taxi")
    model = models[2]
    examples = _examples_artifact()
    pushed = _push(tmp_path, model, base, examples=examples)

    version = _version(pushed)
    target = os.path.join(base, str(version))
    assert version >= int(time.time()) - 60
    assert pushed.get_int_custom_property(executor.PUSHED) == 1
    assert pushed.get_string_custom_property(
        executor.PUSHED_DESTINATION) == target
    assert pushed.get_int_custom_property(executor.ALREADY_SERVING) == 0
    assert pushed.get_string_custom_property(
        executor.MODEL_DIGEST) == _digest(model)
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
    assert layout.model_digest(manifest) == _digest(model)
    assert layout.newest_complete_version(base) == version
    # What the Pusher's driver checks a re-run against: the published
    # payload (SavedModel + model.tflite), as its manifest lists it.
    payload = pushed.get_string_custom_property(executor.PAYLOAD_DIGEST)
    assert payload == layout.payload_digest(manifest)
    assert payload == layout.directory_digests(source)[1]
    assert payload != layout.directory_digests(
        os.path.join(models[3].uri, "Format-Serving"))[1]

    # The schema and the *train* split's statistics ship beside the model.
    assert _read(os.path.join(target, layout.SCHEMA_FILE)) == _read(
        str(tmp_path / "schema" / "schema.pbtxt"))
    statistics = statistics_pb2.DatasetFeatureStatisticsList.FromString(
        _read(os.path.join(target, layout.STATISTICS_FILE)))
    assert statistics.datasets[0].num_examples == 12
    lineage = layout.read_lineage(target)
    assert lineage["pipeline_name"] == PIPELINE
    assert lineage["model_digest"] == _digest(model)
    assert lineage["model"]["uri"] == model.uri
    assert lineage["blessing"]["id"] == 99
    assert lineage["blessing"]["blessed"] == 1
    # The training examples: what ServedBaseline's `examples` exclusion reads.
    assert lineage["examples"] == {
        "id": 41, "uri": examples.uri,
        "input_fingerprint": "split:x,num_files:1"}
    assert set(lineage) == {"pipeline_name", "pushed_at", "model_digest",
                            "model", "blessing", "examples"}

    assert _factor_served(target) == 2.0
    assert os.stat(target).st_mode & 0o777 == os.stat(source).st_mode & 0o777
    with open(os.path.join(pushed.uri, executor.PUSH_RECORD_FILE)) as f:
        assert json.load(f) == {"destination": target, "version": version,
                                "already_serving": False}


def test_schema_and_statistics_are_optional(tmp_path, models):
    base = str(tmp_path / "serving")
    target = os.path.join(base, str(_version(
        _push(tmp_path, models[2], base, metadata=False))))
    files = layout.read_manifest(target)["files"]
    assert layout.LINEAGE_FILE in files
    assert layout.SCHEMA_FILE not in files
    assert layout.STATISTICS_FILE not in files
    assert "examples" not in layout.read_lineage(target)


@pytest.mark.parametrize("blessed", [False, None], ids=["blessed=0", "unset"])
def test_not_blessed_pushes_nothing(tmp_path, models, blessed):
    base = str(tmp_path / "serving")
    pushed = _push(tmp_path, models[2], base, blessed=blessed)
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
        _push(tmp_path, model, base)
    assert os.listdir(base) == []


# --- version numbers -------------------------------------------------------

def test_two_models_in_the_same_second_get_distinct_increasing_versions(
        tmp_path, models, monkeypatch):
    _fixed_clock(monkeypatch, NOW, NOW)
    base = str(tmp_path / "serving")
    first = _push(tmp_path, models[2], base)
    second = _push(tmp_path, models[3], base)

    assert (_version(first), _version(second)) == (NOW, NOW + 1)
    assert second.get_int_custom_property(executor.ALREADY_SERVING) == 0
    assert _visible(base) == [NOW, NOW + 1]
    # Each version holds its own model: the first one was not overwritten.
    assert _factor_served(os.path.join(base, str(NOW))) == 2.0
    assert _factor_served(os.path.join(base, str(NOW + 1))) == 3.0


def test_a_clock_stepped_back_still_gets_a_higher_version(
        tmp_path, models, monkeypatch):
    _fixed_clock(monkeypatch, NOW + 3600, NOW)
    base = str(tmp_path / "serving")
    first = _push(tmp_path, models[2], base)
    second = _push(tmp_path, models[3], base)
    assert _version(first) == NOW + 3600
    assert _version(second) == NOW + 3601
    assert layout.newest_complete_version(base) == NOW + 3601


def test_local_version_appears_only_when_complete(tmp_path, models,
                                                 monkeypatch):
    base = str(tmp_path / "serving")
    seen = {}
    real_manifest = layout.write_manifest

    def write_manifest(root):
        seen["visible"] = _visible(base)
        seen["staging"] = os.path.basename(root)
        return real_manifest(root)
    monkeypatch.setattr(layout, "write_manifest", write_manifest)
    pushed = _push(tmp_path, models[2], base)
    # Everything, manifest included, is written in the hidden staging dir.
    assert seen["visible"] == []
    assert seen["staging"].startswith(
        f".{_version(pushed)}{layout.INCOMPLETE_MARKER}"
        f"{socket.gethostname()}-{os.getpid()}-")
    assert _visible(base) == [_version(pushed)]


def test_next_version_is_above_every_numeric_dir_complete_or_not(tmp_path):
    base = tmp_path / "serving"
    (base / "7").mkdir(parents=True)            # incomplete, still taken
    (base / ".9.incomplete-h-1-x").mkdir()      # hidden: not a version
    (base / "tmp").mkdir()
    assert publish.next_version(str(base), clock=lambda: 3) == 8
    assert publish.next_version(str(base), clock=lambda: 100.9) == 100
    assert publish.next_version(str(tmp_path / "none"), clock=lambda: 0) == 1


def _write_files(directory, content):
    os.makedirs(directory)
    for name, data in content.items():
        with open(os.path.join(directory, name), "wb") as f:
            f.write(data)


def _someone_else_takes_our_number(monkeypatch, base, content, moment):
    """Another writer creates the version number we chose, during our push:
    after our staging is written, or at the very last moment, when we call
    rename(2). Returns the numbers taken."""
    taken = []
    if moment == "after_staging":
        real = publish.stage_version

        def stage_then_race(target, model_dir, write_metadata):
            manifest = real(target, model_dir, write_metadata)
            taken.append(int(os.path.basename(target).split(".")[1]))
            _write_files(os.path.join(base, str(taken[-1])), content)
            return manifest
        monkeypatch.setattr(publish, "stage_version", stage_then_race)
    else:
        real_rename = os.rename

        def race_then_rename(source, target):
            if not taken and layout.INCOMPLETE_MARKER in source:
                taken.append(int(os.path.basename(target)))
                _write_files(target, content)
            return real_rename(source, target)
        monkeypatch.setattr(os, "rename", race_then_rename)
    return taken


@pytest.mark.parametrize("moment,content", [
    ("after_staging", {"saved_model.pb": b"theirs", "model.tflite": b"t"}),
    # A writer that has created the dir and not copied into it yet (TFX's
    # Pusher and `cp -r` both do that): rename(2) would replace it.
    ("after_staging", {}),
    ("at_rename", {"saved_model.pb": b"theirs", "model.tflite": b"t"}),
], ids=["after_staging", "after_staging_empty", "at_rename"])
def test_a_version_taken_during_the_push_is_never_overwritten(
        tmp_path, models, monkeypatch, moment, content):
    _fixed_clock(monkeypatch, NOW, NOW)
    base = str(tmp_path / "serving")
    taken = _someone_else_takes_our_number(monkeypatch, base, content,
                                           moment)
    pushed = _push(tmp_path, models[2], base)

    assert taken == [NOW]
    theirs = os.path.join(base, str(NOW))
    assert sorted(os.listdir(theirs)) == sorted(content)
    for name, data in content.items():
        assert _read(os.path.join(theirs, name)) == data
    assert _version(pushed) == NOW + 1
    assert pushed.get_string_custom_property(
        executor.PUSHED_DESTINATION) == os.path.join(base, str(NOW + 1))
    assert _factor_served(os.path.join(base, str(NOW + 1))) == 2.0
    assert sorted(os.listdir(base)) == [str(NOW), str(NOW + 1)]  # no staging


# --- re-runs: never a duplicate ---------------------------------------------

def test_re_push_of_the_served_model_is_already_serving(tmp_path, models):
    base = str(tmp_path / "serving")
    first = _push(tmp_path, models[2], base)
    target = os.path.join(base, str(_version(first)))
    before = layout.build_manifest(target)
    again = _push(tmp_path, models[2], base)

    assert again.get_int_custom_property(executor.PUSHED) == 1
    assert again.get_int_custom_property(executor.ALREADY_SERVING) == 1
    assert _version(again) == _version(first)
    assert again.get_string_custom_property(
        executor.PUSHED_DESTINATION) == target
    # The same facts as the first push: the driver finds both intact.
    for name in (executor.PAYLOAD_DIGEST, executor.MODEL_DIGEST):
        assert again.get_string_custom_property(name) == (
            first.get_string_custom_property(name))
    assert again.get_int_custom_property(executor.SOURCE_MODEL_ID) == 2
    assert _visible(base) == [_version(first)]
    assert os.listdir(base) == [str(_version(first))]
    assert layout.build_manifest(target) == before  # nothing rewritten


def test_a_model_served_earlier_but_not_newest_is_pushed_again(
        tmp_path, models, monkeypatch):
    # TF Serving serves the highest number: "already serving" means newest.
    _fixed_clock(monkeypatch, NOW, NOW, NOW)
    base = str(tmp_path / "serving")
    _push(tmp_path, models[2], base)
    _push(tmp_path, models[3], base)
    back = _push(tmp_path, models[2], base)
    assert back.get_int_custom_property(executor.ALREADY_SERVING) == 0
    assert _version(back) == NOW + 2
    assert _factor_served(os.path.join(base, str(NOW + 2))) == 2.0


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
        _push(tmp_path, models[2], base)
    monkeypatch.setattr(publish, "publish", real)
    assert _visible(base) == published  # the version is out, and complete
    assert layout.is_complete(os.path.join(base, str(published[0])))

    rerun = _push(tmp_path, models[2], base)  # the orchestrator retries
    assert rerun.get_int_custom_property(executor.PUSHED) == 1
    assert rerun.get_int_custom_property(executor.ALREADY_SERVING) == 1
    assert _version(rerun) == published[0]
    assert _visible(base) == published


# --- crashes while staging ---------------------------------------------------

def _fail_copy_of(monkeypatch, name):
    real = tf.io.gfile.copy

    def copy(source, target, overwrite=False):
        if target.endswith("/" + name):
            raise tf.errors.ResourceExhaustedError(None, None, "disk full")
        return real(source, target, overwrite)
    monkeypatch.setattr(tf.io.gfile, "copy", copy)


def _fail_manifest(monkeypatch):
    def write_manifest(root):
        raise OSError(28, "No space left on device", root)
    monkeypatch.setattr(layout, "write_manifest", write_manifest)


def _fail_fsync(monkeypatch):
    def fsync_tree(root):
        raise OSError(5, "Input/output error", root)
    monkeypatch.setattr(publish, "_fsync_tree", fsync_tree)


def _lose_train_statistics(monkeypatch):
    """A real read error half-way through our metadata (after lineage)."""
    real = _statistics_artifact

    def statistics_artifact(root):
        artifact = real(root)
        shutil.rmtree(os.path.join(artifact.uri, "Split-train"))
        return artifact
    monkeypatch.setitem(globals(), "_statistics_artifact", statistics_artifact)


FAILURES = {  # where the push fails -> (how, what the error says)
    "statistics": (_lose_train_statistics, "FeatureStats.pb"),
    "variables": (lambda mp: _fail_copy_of(mp, "variables.index"),
                  "disk full"),
    "saved_model": (lambda mp: _fail_copy_of(mp, layout.SAVED_MODEL_FILE),
                    "disk full"),
    "manifest": (_fail_manifest, "No space left"),
    "fsync": (_fail_fsync, "Input/output error"),
}


@pytest.mark.parametrize("failure", list(FAILURES))
def test_a_failure_while_staging_leaves_no_version(
        tmp_path, models, monkeypatch, failure):
    base = str(tmp_path / "serving")
    setup, match = FAILURES[failure]
    setup(monkeypatch)
    with pytest.raises((OSError, tf.errors.OpError), match=match):
        _push(tmp_path, models[3], base)
    assert os.listdir(base) == []  # no version, and no staging dir either

    monkeypatch.undo()
    pushed = _push(tmp_path, models[3], base)
    target = os.path.join(base, str(_version(pushed)))
    assert _visible(base) == [_version(pushed)]
    assert layout.changed_files(target, layout.read_manifest(target)) == []


def test_an_unreadable_model_file_fails_before_any_version(tmp_path, models):
    model = standard_artifacts.Model()
    model.uri = str(tmp_path / "broken_model")
    shutil.copytree(models[3].uri, model.uri)
    # A real file error (chmod 000 would not do: the tests may run as root).
    os.symlink(str(tmp_path / "gone"), os.path.join(
        model.uri, "Format-Serving", "assets", "vocab.txt"))
    base = str(tmp_path / "serving")
    with pytest.raises(tf.errors.NotFoundError, match="vocab.txt"):
        _push(tmp_path, model, base)
    assert not os.path.exists(base) or os.listdir(base) == []


def _die_in_child(crash_at, base, model, tmp_path):
    """Forks a push that dies with os._exit at `crash_at`; returns its pid.

    `finally` blocks do not run, as after kill -9 or a power cut.
    """
    pid = os.fork()
    if pid:
        _, status = os.waitpid(pid, 0)
        assert os.WIFEXITED(status) and os.WEXITSTATUS(status) == 17, status
        return pid
    try:  # the child: never returns into pytest
        real_copy, real_manifest = tf.io.gfile.copy, layout.write_manifest
        real_fsync = publish._fsync_tree

        def copy(source, target, overwrite=False):
            if target.endswith(crash_at):
                os._exit(17)
            return real_copy(source, target, overwrite)

        def write_manifest(root):
            if crash_at == "manifest":
                os._exit(17)
            return real_manifest(root)

        def fsync_tree(root):
            real_fsync(root)
            if crash_at == "rename":
                os._exit(17)
        tf.io.gfile.copy = copy
        layout.write_manifest = write_manifest
        publish._fsync_tree = fsync_tree
        _push(tmp_path, model, base)
    finally:
        os._exit(3)  # did not crash where it should have


@pytest.mark.parametrize("crash_at", [
    layout.STATISTICS_FILE,      # half-way through our metadata
    "variables.index",           # half-way through the model
    layout.SAVED_MODEL_FILE,     # everything but the graph and manifest
    "manifest",                  # everything but the manifest
    "rename",                    # staged and fsynced, not yet renamed
])
def test_a_killed_push_leaves_no_version_and_the_next_sweeps_it(
        tmp_path, models, crash_at):
    base = str(tmp_path / "serving")
    pid = _die_in_child(crash_at, base, models[2], tmp_path)

    assert _visible(base) == []
    orphans = os.listdir(base)
    assert len(orphans) == 1
    assert orphans[0].startswith(
        f".{orphans[0].split('.')[1]}{layout.INCOMPLETE_MARKER}"
        f"{socket.gethostname()}-{pid}-")

    pushed = _push(tmp_path, models[2], base)  # the re-run
    assert os.listdir(base) == [str(_version(pushed))]  # orphan swept
    assert pushed.get_int_custom_property(executor.ALREADY_SERVING) == 0
    target = os.path.join(base, str(_version(pushed)))
    assert layout.changed_files(target, layout.read_manifest(target)) == []
    assert _factor_served(target) == 2.0


# --- orphan sweep -------------------------------------------------------------

def _dead_pid():
    process = subprocess.Popen(["true"])
    process.wait()
    return process.pid


def _make_dirs(base, names, age_seconds=0):
    for name in names:
        path = os.path.join(base, name)
        os.makedirs(os.path.join(path, "variables"))
        with open(os.path.join(path, layout.SAVED_MODEL_FILE), "wb") as f:
            f.write(b"half a model")
        if age_seconds:
            then = time.time() - age_seconds
            os.utime(path, (then, then))


def test_sweep_removes_only_abandoned_staging_dirs(tmp_path, monkeypatch):
    monkeypatch.setattr(socket, "gethostname", lambda: "build-host-7")
    base = str(tmp_path / "serving")
    here, dead, alive = "build-host-7", _dead_pid(), os.getpid()
    day = publish.STALE_STAGING_SECONDS
    young = {
        f".11.incomplete-{here}-{dead}-0badc0de": "removed",  # process gone
        f".12.incomplete-{here}-{alive}-00c0ffee": "kept",    # still writing
        f".13.incomplete-other-host-{dead}-0badc0de": "kept",  # cannot tell
        ".14.incomplete-garbled": "kept",
        ".15.not-ours": "kept",
        "16": "kept",   # a numeric dir without manifest: not ours to delete
    }
    old = {
        f".21.incomplete-{here}-{alive}-00c0ffee": "removed",
        f".22.incomplete-other-host-{dead}-0badc0de": "removed",
        ".23.incomplete-garbled": "removed",
        ".24.not-ours": "kept",
        "25": "kept",
    }
    _make_dirs(base, young)
    _make_dirs(base, old, age_seconds=day + 60)
    for name in ("16", "25"):  # as an in-place writer leaves them remotely
        (tmp_path / "serving" / name / layout.META_DIR).mkdir(parents=True)
        (tmp_path / "serving" / name / layout.LINEAGE_FILE).write_text("{}")
        if name == "25":
            then = time.time() - day - 60
            os.utime(tmp_path / "serving" / name / layout.LINEAGE_FILE,
                     (then, then))
    _make_dirs(base, [f".31.incomplete-{here}-{alive}-00c0ffee"],
               age_seconds=day - 600)  # under a day: kept

    removed = publish.sweep_orphans(base)

    expected = sorted(n for n, fate in {**young, **old}.items()
                      if fate == "removed")
    assert sorted(removed) == expected
    assert sorted(os.listdir(base)) == sorted(
        (set(young) | set(old) | {f".31.incomplete-{here}-{alive}-00c0ffee"})
        - set(expected))


def test_publish_sweeps_before_staging(tmp_path, models):
    base = str(tmp_path / "serving")
    orphan = f".5.incomplete-{socket.gethostname()}-{_dead_pid()}-0badc0de"
    _make_dirs(base, [orphan])
    pushed = _push(tmp_path, models[2], base)
    assert os.listdir(base) == [str(_version(pushed))]


# --- remote destinations (ram:// for gs://) -----------------------------------

def test_remote_push_writes_the_manifest_last(tmp_path, remote_models,
                                              ram_base, monkeypatch):
    model = remote_models[2]
    seen = {}
    real_copy, real_manifest = tf.io.gfile.copy, layout.write_manifest

    def files_under(root):
        return {layout.join(d[len(root):].strip("/"), f).strip("/")
                for d, _, files in tf.io.gfile.walk(root) for f in files}

    def copy(source, target, overwrite=False):
        if target.endswith("/" + layout.SAVED_MODEL_FILE):
            seen.setdefault("at_saved_model",
                            files_under(os.path.dirname(target)))
        return real_copy(source, target, overwrite)

    def write_manifest(root):
        seen.setdefault("at_manifest", files_under(root))
        seen.setdefault("complete_versions",
                        layout.complete_versions(ram_base))
        return real_manifest(root)
    monkeypatch.setattr(tf.io.gfile, "copy", copy)
    monkeypatch.setattr(layout, "write_manifest", write_manifest)

    pushed = _push(tmp_path, model, ram_base)

    target = layout.version_dir(ram_base, _version(pushed))
    assert pushed.get_string_custom_property(
        executor.PUSHED_DESTINATION) == target
    manifest = layout.read_manifest(target)
    listed = set(manifest["files"])
    metadata = {layout.LINEAGE_FILE, layout.SCHEMA_FILE,
                layout.STATISTICS_FILE}
    variables = {f for f in listed if f.startswith("variables/")}
    assert metadata | variables | {layout.SAVED_MODEL_FILE} <= listed
    # The graph TF Serving waits for comes after the variables and metadata,
    assert (metadata | variables) <= seen["at_saved_model"]
    assert layout.SAVED_MODEL_FILE not in seen["at_saved_model"]
    # and the manifest after every other file.
    assert seen["at_manifest"] == listed
    assert seen["complete_versions"] == []  # invisible to readers until then
    assert layout.changed_files(target, manifest) == []
    assert _factor_served(target) == 2.0


def test_remote_version_without_manifest_is_ignored_then_swept(
        tmp_path, remote_models, ram_base, monkeypatch):
    real_manifest = layout.write_manifest

    def crash(root):
        raise SystemExit("killed before the manifest")
    monkeypatch.setattr(layout, "write_manifest", crash)
    with pytest.raises(SystemExit):
        _push(tmp_path, remote_models[2], ram_base)
    monkeypatch.setattr(layout, "write_manifest", real_manifest)
    (half,) = layout.version_numbers(ram_base)
    half_dir = layout.version_dir(ram_base, half)
    assert tf.io.gfile.exists(layout.join(half_dir, layout.SAVED_MODEL_FILE))
    # Readers: not complete, not newest, so not "already serving" either.
    assert layout.complete_versions(ram_base) == []
    assert publish.newest_complete(ram_base) is None

    # ram:// reports mtime 0, so the orphan counts as older than an hour.
    pushed = _push(tmp_path, remote_models[2], ram_base)
    assert pushed.get_int_custom_property(executor.ALREADY_SERVING) == 0
    assert layout.version_numbers(ram_base) == [_version(pushed)]
    assert layout.complete_versions(ram_base) == [_version(pushed)]


def test_remote_sweep_keeps_young_and_foreign_versions(tmp_path,
                                                       remote_models,
                                                       ram_base,
                                                       monkeypatch):
    def write(path, data=b"x"):
        tf.io.gfile.makedirs(os.path.dirname(path))
        with tf.io.gfile.GFile(path, "wb") as f:
            f.write(data)
    ours = layout.version_dir(ram_base, 3)         # our lineage, no manifest
    write(layout.join(ours, layout.LINEAGE_FILE), b"{}")
    write(layout.join(ours, layout.SAVED_MODEL_FILE))
    foreign = layout.version_dir(ram_base, 4)      # e.g. TFX's own Pusher
    write(layout.join(foreign, layout.SAVED_MODEL_FILE))
    _fixed_clock(monkeypatch, NOW)
    complete = layout.version_dir(ram_base, _version(
        _push(tmp_path, remote_models[2], ram_base)))  # sweeps with age > 1h

    monkeypatch.setattr(publish, "STALE_REMOTE_SECONDS", 10**12)
    write(layout.join(ours, layout.LINEAGE_FILE), b"{}")
    write(layout.join(ours, layout.SAVED_MODEL_FILE))
    assert publish.sweep_orphans(ram_base) == []   # young: may be in progress
    monkeypatch.setattr(publish, "STALE_REMOTE_SECONDS", 3600)
    assert publish.sweep_orphans(ram_base) == ["3"]
    assert layout.version_numbers(ram_base) == [4, NOW]
    assert layout.is_complete(complete)


# --- never report a path that holds another model -----------------------------

def test_remote_version_rewritten_by_another_writer_is_not_reported(
        tmp_path, remote_models, ram_base, monkeypatch):
    """Two in-place writers chose the same number: the last one's files win."""
    real = publish.stage_version
    other_dir = os.path.join(remote_models[3].uri, "Format-Serving")

    def stage_then_overwritten(target, model_dir, write_metadata):
        manifest = real(target, model_dir, write_metadata)
        real(target, other_dir, lambda root: None)  # the other writer
        return manifest
    monkeypatch.setattr(publish, "stage_version", stage_then_overwritten)

    pushed = standard_artifacts.PushedModel()
    with pytest.raises(RuntimeError, match="does not hold the model"):
        _push(tmp_path, remote_models[2], ram_base, pushed=pushed)
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
        _push(tmp_path, models[2], base, pushed=pushed)
    assert _factor_served(pushed_dirs[0]) == 5.0  # the race really happened
    assert not pushed.has_custom_property(executor.PUSHED)
    assert os.listdir(pushed.uri) == []
