"""The watermark's key file, trigger set, agreement statistics and the
Trainer's batch mixing (modules/watermark.py), without a pipeline run."""
import os
import stat

import numpy as np
import pytest
import tensorflow as tf

from modules import watermark

WIDTHS = {"fare": 1, "company": 7, "hour": 24}


def test_key_file_round_trips_with_mode_0600_and_is_never_overwritten(tmp_path):
    path = str(tmp_path / "wm.key")
    key = watermark.new_key()
    watermark.write_key(path, key)
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert watermark.read_key(path) == key
    with pytest.raises(FileExistsError):
        watermark.write_key(path, watermark.new_key())
    assert watermark.read_key(path) == key


@pytest.mark.parametrize("content", ["", "tfx-prod-watermark-key-v1 abcd\n",
                                     "-----BEGIN PRIVATE KEY-----\nxx\n",
                                     "tfx-prod-watermark-key-v1 " + "zz" * 32])
def test_a_file_that_is_not_a_key_says_how_to_make_one(tmp_path, content):
    path = tmp_path / "bad.key"
    path.write_text(content)
    with pytest.raises(watermark.KeyFileError, match="watermark"):
        watermark.read_key(str(path))


def test_the_trainer_refuses_a_missing_or_different_key(tmp_path, monkeypatch):
    path = str(tmp_path / "wm.key")
    key = watermark.new_key()
    watermark.write_key(path, key)
    monkeypatch.delenv(watermark.KEY_ENV, raising=False)
    with pytest.raises(watermark.KeyFileError, match=watermark.KEY_ENV):
        watermark.key_from_env(watermark.key_id(key))
    monkeypatch.setenv(watermark.KEY_ENV, path)
    assert watermark.key_from_env(watermark.key_id(key)) == key
    with pytest.raises(watermark.KeyFileError, match="built for key"):
        watermark.key_from_env(watermark.key_id(watermark.new_key()))


def test_trigger_set_is_the_keys_alone_and_balanced():
    key, other = watermark.new_key(), watermark.new_key()
    features, labels = watermark.trigger_set(key, WIDTHS, classes=2)
    again, again_labels = watermark.trigger_set(key, WIDTHS, classes=2)
    assert {k: v.shape for k, v in features.items()} == {
        "fare": (100, 1), "company": (100, 7), "hour": (100, 24)}
    assert all(np.array_equal(features[k], again[k]) for k in features)
    assert np.array_equal(labels, again_labels)
    assert np.bincount(labels).tolist() == [50, 50]
    theirs, their_labels = watermark.trigger_set(other, WIDTHS, classes=2)
    assert not np.array_equal(features["hour"], theirs["hour"])
    assert 25 < np.sum(labels == their_labels) < 75
    _, three = watermark.trigger_set(key, WIDTHS, classes=3)
    assert np.bincount(three).tolist() == [34, 33, 33]
    with pytest.raises(ValueError, match="classification"):
        watermark.trigger_set(key, WIDTHS, classes=1)


def test_agreement_reads_sigmoid_and_softmax_and_weighs_chance():
    labels = np.array([0, 1] * 50)
    perfect = watermark.agreement(labels[:, None].astype(float), labels, 2)
    assert perfect["agreement"] == 1.0 and perfect["present"]
    assert perfect["p_value"] == pytest.approx(0.5 ** 100)
    constant = watermark.agreement(np.ones((100, 1)), labels, 2)
    assert constant["agreement"] == 0.5 and not constant["present"]
    assert constant["p_value"] > 0.5
    softmax = np.eye(4)[np.arange(100) % 4]
    found = watermark.agreement(softmax, np.arange(100) % 4, 4)
    assert found["agreed"] == 100 and found["chance"] == 0.25
    # 40% is chance-like for 2 classes but far above chance for 4.
    forty = np.array([1] * 40 + [0] * 60)
    assert not watermark.agreement(forty[:, None], np.ones(100, int), 2)[
        "present"]
    assert watermark.p_value(40, 100, 4) < 1e-3 < watermark.p_value(40, 100, 2)


def test_mix_into_appends_triggers_to_every_batch_with_their_labels():
    key = watermark.new_key()
    features, labels = watermark.trigger_set(key, WIDTHS, classes=2)
    real = {name: np.full((8, width), -5.0, np.float32)
            for name, width in WIDTHS.items()}
    dataset = tf.data.Dataset.from_tensors(
        (real, tf.fill([8, 1], tf.constant(7, tf.int64)))).repeat(3)
    batches = list(watermark.mix_into(dataset, features, labels, per_batch=4))
    assert len(batches) == 3
    for batch_x, batch_y in batches:
        assert batch_y.shape == (12, 1) and batch_y.dtype == tf.int64
        assert np.all(batch_y.numpy()[:8] == 7)
        added = batch_x["hour"].numpy()[8:]
        for row, label in zip(added, batch_y.numpy()[8:, 0]):
            match = np.flatnonzero(np.all(features["hour"] == row, axis=1))
            assert match.size == 1 and labels[match[0]] == label
        assert np.all(batch_x["fare"].numpy()[:8] == -5.0)


def test_the_cli_refuses_regression_and_passes_only_the_key_id(tmp_path):
    """`run --watermark-key`'s check, before anything runs (exit 2)."""
    import argparse
    import types

    from tfx_prod.training_args import UsageError, watermark_setting
    path = str(tmp_path / "wm.key")
    key = watermark.new_key()
    watermark.write_key(path, key)
    args = argparse.Namespace(watermark_key=path)
    binary = types.SimpleNamespace(task="binary", path="p.yaml")
    assert watermark_setting(args, binary) == {"key_id": watermark.key_id(key)}
    assert key.hex() not in repr(watermark_setting(args, binary))
    with pytest.raises(UsageError, match="classification task"):
        watermark_setting(args, types.SimpleNamespace(task="regression",
                                                      path="p.yaml"))
    assert watermark_setting(argparse.Namespace(watermark_key=None),
                             binary) == {}
