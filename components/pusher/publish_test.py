"""How the Pusher publishes a version, through `Executor.Do` on real files:
numbering, publish-last, crashes, the orphan sweep (remote stores:
publish_remote_test.py).

Failures and races are staged by wrapping the protocol's own steps
(`publish.stage_version`, `layout.write_manifest`, `tf.io.gfile.copy`), by
real filesystem failures (a dangling symlink), or by a forked child that dies
mid-push (`os._exit`, so no `finally` runs: what a kill -9 or a power cut
leaves behind). TF's in-memory `ram://` filesystem stands in for gs:// (no
atomic rename).
"""
import os
import shutil
import socket
import subprocess
import time

import pytest
import tensorflow as tf
from tfx.types import standard_artifacts

from components.pusher import executor, publish
from components.pusher import testing as pusher_testing
from components.pusher.testing import (NOW, factor_served, fixed_clock, push,
                                       pushed_version, read_bytes,
                                       visible_versions)
from serving import layout


# --- version numbers -------------------------------------------------------

def test_two_models_in_the_same_second_get_distinct_increasing_versions(
        tmp_path, models, monkeypatch):
    fixed_clock(monkeypatch, NOW, NOW)
    base = str(tmp_path / "serving")
    first = push(tmp_path, models[2], base)
    second = push(tmp_path, models[3], base)

    assert (pushed_version(first), pushed_version(second)) == (NOW, NOW + 1)
    assert second.get_int_custom_property(executor.ALREADY_SERVING) == 0
    assert visible_versions(base) == [NOW, NOW + 1]
    # Each version holds its own model: the first one was not overwritten.
    assert factor_served(os.path.join(base, str(NOW))) == 2.0
    assert factor_served(os.path.join(base, str(NOW + 1))) == 3.0


def test_a_clock_stepped_back_still_gets_a_higher_version(
        tmp_path, models, monkeypatch):
    fixed_clock(monkeypatch, NOW + 3600, NOW)
    base = str(tmp_path / "serving")
    first = push(tmp_path, models[2], base)
    second = push(tmp_path, models[3], base)
    assert pushed_version(first) == NOW + 3600
    assert pushed_version(second) == NOW + 3601
    assert layout.newest_complete_version(base) == NOW + 3601


def test_local_version_appears_only_when_complete(tmp_path, models,
                                                 monkeypatch):
    base = str(tmp_path / "serving")
    seen = {}
    real_manifest = layout.write_manifest

    def write_manifest(root, sign=None):
        seen["visible"] = visible_versions(base)
        seen["staging"] = os.path.basename(root)
        return real_manifest(root, sign)
    monkeypatch.setattr(layout, "write_manifest", write_manifest)
    pushed = push(tmp_path, models[2], base)
    # Everything, manifest included, is written in the hidden staging dir.
    assert seen["visible"] == []
    assert seen["staging"].startswith(
        f".{pushed_version(pushed)}{layout.INCOMPLETE_MARKER}"
        f"{socket.gethostname()}-{os.getpid()}-")
    assert visible_versions(base) == [pushed_version(pushed)]


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

        def stage_then_race(target, model_dir, write_metadata, sign=None):
            manifest = real(target, model_dir, write_metadata, sign)
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
    fixed_clock(monkeypatch, NOW, NOW)
    base = str(tmp_path / "serving")
    taken = _someone_else_takes_our_number(monkeypatch, base, content,
                                           moment)
    pushed = push(tmp_path, models[2], base)

    assert taken == [NOW]
    theirs = os.path.join(base, str(NOW))
    assert sorted(os.listdir(theirs)) == sorted(content)
    for name, data in content.items():
        assert read_bytes(os.path.join(theirs, name)) == data
    assert pushed_version(pushed) == NOW + 1
    assert pushed.get_string_custom_property(
        executor.PUSHED_DESTINATION) == os.path.join(base, str(NOW + 1))
    assert factor_served(os.path.join(base, str(NOW + 1))) == 2.0
    assert sorted(os.listdir(base)) == [str(NOW), str(NOW + 1)]  # no staging


# --- crashes while staging ---------------------------------------------------

def _fail_copy_of(monkeypatch, name):
    real = tf.io.gfile.copy

    def copy(source, target, overwrite=False):
        if target.endswith("/" + name):
            raise tf.errors.ResourceExhaustedError(None, None, "disk full")
        return real(source, target, overwrite)
    monkeypatch.setattr(tf.io.gfile, "copy", copy)


def _fail_manifest(monkeypatch):
    def write_manifest(root, sign=None):
        raise OSError(28, "No space left on device", root)
    monkeypatch.setattr(layout, "write_manifest", write_manifest)


def _fail_fsync(monkeypatch):
    def fsync_tree(root):
        raise OSError(5, "Input/output error", root)
    monkeypatch.setattr(publish, "_fsync_tree", fsync_tree)


def _lose_train_statistics(monkeypatch):
    """A real read error half-way through our metadata (after lineage)."""
    real = pusher_testing.statistics_artifact

    def statistics_without_train(root):
        artifact = real(root)
        shutil.rmtree(os.path.join(artifact.uri, "Split-train"))
        return artifact
    monkeypatch.setattr(pusher_testing, "statistics_artifact",
                        statistics_without_train)


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
        push(tmp_path, models[3], base)
    assert os.listdir(base) == []  # no version, and no staging dir either

    monkeypatch.undo()
    pushed = push(tmp_path, models[3], base)
    target = os.path.join(base, str(pushed_version(pushed)))
    assert visible_versions(base) == [pushed_version(pushed)]
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
        push(tmp_path, model, base)
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

        def write_manifest(root, sign=None):
            if crash_at == "manifest":
                os._exit(17)
            return real_manifest(root, sign)

        def fsync_tree(root):
            real_fsync(root)
            if crash_at == "rename":
                os._exit(17)
        tf.io.gfile.copy = copy
        layout.write_manifest = write_manifest
        publish._fsync_tree = fsync_tree
        push(tmp_path, model, base)
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

    assert visible_versions(base) == []
    orphans = os.listdir(base)
    assert len(orphans) == 1
    assert orphans[0].startswith(
        f".{orphans[0].split('.')[1]}{layout.INCOMPLETE_MARKER}"
        f"{socket.gethostname()}-{pid}-")

    pushed = push(tmp_path, models[2], base)  # the re-run
    assert os.listdir(base) == [str(pushed_version(pushed))]  # orphan swept
    assert pushed.get_int_custom_property(executor.ALREADY_SERVING) == 0
    target = os.path.join(base, str(pushed_version(pushed)))
    assert layout.changed_files(target, layout.read_manifest(target)) == []
    assert factor_served(target) == 2.0


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
    pushed = push(tmp_path, models[2], base)
    assert os.listdir(base) == [str(pushed_version(pushed))]
