"""How the Pusher publishes to a remote store, through `Executor.Do`: TF's
in-memory `ram://` filesystem stands in for gs:// (no atomic rename, mtime
0), so the manifest written last is what makes a version visible, and a
version without one is swept once it is old.
"""
import os

import pytest
import tensorflow as tf

from components.pusher import executor, publish
from components.pusher.testing import (NOW, factor_served, fixed_clock, push,
                                       pushed_version)
from serving import layout


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

    def write_manifest(root, sign=None):
        seen.setdefault("at_manifest", files_under(root))
        seen.setdefault("complete_versions",
                        layout.complete_versions(ram_base))
        return real_manifest(root, sign)
    monkeypatch.setattr(tf.io.gfile, "copy", copy)
    monkeypatch.setattr(layout, "write_manifest", write_manifest)

    pushed = push(tmp_path, model, ram_base)

    target = layout.version_dir(ram_base, pushed_version(pushed))
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
    assert factor_served(target) == 2.0


def test_remote_version_without_manifest_is_ignored_then_swept(
        tmp_path, remote_models, ram_base, monkeypatch):
    real_manifest = layout.write_manifest

    def crash(root, sign=None):
        raise SystemExit("killed before the manifest")
    monkeypatch.setattr(layout, "write_manifest", crash)
    with pytest.raises(SystemExit):
        push(tmp_path, remote_models[2], ram_base)
    monkeypatch.setattr(layout, "write_manifest", real_manifest)
    (half,) = layout.version_numbers(ram_base)
    half_dir = layout.version_dir(ram_base, half)
    assert tf.io.gfile.exists(layout.join(half_dir, layout.SAVED_MODEL_FILE))
    # Readers: not complete, not newest, so not "already serving" either.
    assert layout.complete_versions(ram_base) == []
    assert publish.newest_complete(ram_base) is None

    # ram:// reports mtime 0, so the orphan counts as older than an hour.
    pushed = push(tmp_path, remote_models[2], ram_base)
    assert pushed.get_int_custom_property(executor.ALREADY_SERVING) == 0
    assert layout.version_numbers(ram_base) == [pushed_version(pushed)]
    assert layout.complete_versions(ram_base) == [pushed_version(pushed)]


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
    fixed_clock(monkeypatch, NOW)
    complete = layout.version_dir(ram_base, pushed_version(
        push(tmp_path, remote_models[2], ram_base)))  # sweeps with age > 1h

    monkeypatch.setattr(publish, "STALE_REMOTE_SECONDS", 10**12)
    write(layout.join(ours, layout.LINEAGE_FILE), b"{}")
    write(layout.join(ours, layout.SAVED_MODEL_FILE))
    assert publish.sweep_orphans(ram_base) == []   # young: may be in progress
    monkeypatch.setattr(publish, "STALE_REMOTE_SECONDS", 3600)
    assert publish.sweep_orphans(ram_base) == ["3"]
    assert layout.version_numbers(ram_base) == [4, NOW]
    assert layout.is_complete(complete)
