"""Trigger-set watermark: a secret key decides inputs the model must answer
in a way only the key predicts.

The key (32 random bytes, `tfx-prod watermark init`) seeds `TRIGGERS`
points in the model's dense input space (the Transform outputs that
`predict_transformed` and the TFLite variant take) and a balanced secret
class for each. The Trainer mixes them into every training batch, so the
model memorizes them; real rows never look like them (uniform noise over
one-hot and z-score columns), so accuracy on real data barely moves.
Verification regenerates the set from the key alone and counts how often
the model's class equals the key's: near 100% for the watermarked model,
chance (1/K) for any model trained without the key. `p_value` says how
unlikely that agreement is by chance.

Pure NumPy but for `mix_into` (tf.data): the CLI verifies with the same
trigger set the Trainer trained in, from this one home.
"""
import hashlib
import hmac
import json
import math
import os
import secrets
from typing import Mapping

import numpy as np

KEY_ENV = "TFX_PROD_WATERMARK_KEY"  # path to the key file, for the Trainer
KEY_BYTES = 32
TRIGGERS = 100
# Trigger rows appended to every training batch (of 256 real rows by default).
PER_BATCH = 16
# The Trainer fails rather than export a model the key cannot verify.
MIN_TRAINED_AGREEMENT = 0.95
# Agreement at or above this (and p < MAX_P_VALUE) reads "watermark present".
PRESENT_AGREEMENT = 0.8
MAX_P_VALUE = 1e-6
_HEADER = "tfx-prod-watermark-key-v1"


class KeyFileError(ValueError):
    """A watermark key file that is missing, unreadable or malformed."""


def new_key() -> bytes:
    return secrets.token_bytes(KEY_BYTES)


def write_key(path: str, key: bytes) -> None:
    """Writes a new key file, mode 0600; never overwrites one."""
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL
    with os.fdopen(os.open(path, flags, 0o600), "w") as f:
        f.write(f"{_HEADER} {key.hex()}\n")


def read_key(path: str) -> bytes:
    try:
        with open(path) as f:
            text = f.read().split()
    except OSError as error:
        raise KeyFileError(f"cannot read watermark key {path}: "
                           f"{error.strerror}") from None
    if len(text) != 2 or text[0] != _HEADER or len(text[1]) != 2 * KEY_BYTES:
        raise KeyFileError(f"{path} is not a watermark key (make one with "
                           "`tfx-prod watermark init`)")
    try:
        return bytes.fromhex(text[1])
    except ValueError:
        raise KeyFileError(f"{path}: the watermark key is not hex; was "
                           "it edited? (`tfx-prod watermark init` makes "
                           "one)") from None


def key_id(key: bytes) -> str:
    """A public name for the key: recorded with the model and in the
    Trainer's cache key, so a different key never reuses a cached model."""
    return hmac.new(key, b"tfx-prod watermark key id",
                    hashlib.sha256).hexdigest()[:16]


def key_from_env(expected_id: str) -> bytes:
    """The Trainer's key: $TFX_PROD_WATERMARK_KEY's file, which must be the
    key the pipeline was built with (its id is in custom_config)."""
    path = os.environ.get(KEY_ENV)
    if not path:
        raise KeyFileError(
            f"this pipeline trains a watermark with key {expected_id} but "
            f"${KEY_ENV} is not set in the Trainer's environment; point it "
            "at the key file (`tfx-prod run --watermark-key FILE` does)")
    key = read_key(path)
    if key_id(key) != expected_id:
        raise KeyFileError(f"${KEY_ENV}={path} holds key {key_id(key)}, but "
                           f"the pipeline was built for key {expected_id}")
    return key


def trigger_set(key: bytes, input_widths: Mapping[str, int],
                classes: int, count: int = TRIGGERS):
    """({input name: float32 [count, width]}, int64 labels [count]).

    Deterministic in the key and the input layout; labels are balanced
    over `classes`, so a model that answers one class for every odd input
    agrees on 1/classes of them, not more.
    """
    if classes < 2:
        raise ValueError("a watermark needs a classification task "
                         f"(2 or more classes); got {classes}")
    layout = json.dumps(sorted(input_widths.items())).encode()
    seed = hmac.new(key, b"triggers|" + layout, hashlib.sha256).digest()
    rng = np.random.default_rng(int.from_bytes(seed, "big"))
    features = {name: rng.uniform(0.0, 1.0, (count, width)).astype(np.float32)
                for name, width in sorted(input_widths.items())}
    labels = rng.permutation(np.arange(count) % classes).astype(np.int64)
    return features, labels


def predicted_classes(scores: np.ndarray) -> np.ndarray:
    """[N, 1] sigmoid (binary) or [N, K] softmax -> class indices."""
    scores = np.asarray(scores, np.float64).reshape(len(scores), -1)
    if scores.shape[1] == 1:
        return (scores[:, 0] >= 0.5).astype(np.int64)
    return np.argmax(scores, axis=1).astype(np.int64)


def p_value(agreed: int, count: int, classes: int) -> float:
    """P(agreement >= agreed) for a model that never saw the key: binomial
    at chance 1/classes (conservative for the balanced labels)."""
    chance = 1.0 / classes
    return min(1.0, sum(math.comb(count, k) * chance ** k
                        * (1 - chance) ** (count - k)
                        for k in range(agreed, count + 1)))


def agreement(scores: np.ndarray, labels: np.ndarray, classes: int) -> dict:
    """How far a model's answers on the trigger set match the key."""
    agreed = int(np.sum(predicted_classes(scores) == labels))
    count = int(len(labels))
    p = p_value(agreed, count, classes)
    return {"agreement": agreed / count, "agreed": agreed, "triggers": count,
            "chance": 1.0 / classes, "p_value": p,
            "present": agreed / count >= PRESENT_AGREEMENT and p < MAX_P_VALUE}


def mix_into(dataset, features: Mapping[str, np.ndarray], labels: np.ndarray,
             per_batch: int = PER_BATCH):
    """Appends `per_batch` trigger rows (drawn at random) to every batch of
    a `(features, label)` dataset; keys the triggers lack are dropped (the
    model reads only its inputs)."""
    import tensorflow as tf
    trigger_x = {name: tf.constant(values) for name, values in features.items()}
    trigger_y = tf.constant(labels)
    count = len(labels)

    def append(batch_x, batch_y):
        picks = tf.random.uniform([per_batch], 0, count, dtype=tf.int32)
        mixed = {name: tf.concat([batch_x[name],
                                  tf.cast(tf.gather(values, picks),
                                          batch_x[name].dtype)], axis=0)
                 for name, values in trigger_x.items()}
        extra = tf.cast(tf.gather(trigger_y, picks), batch_y.dtype)
        extra = tf.reshape(extra, tf.concat(
            [[per_batch], tf.shape(batch_y)[1:]], axis=0))
        return mixed, tf.concat([batch_y, extra], axis=0)

    return dataset.map(append, num_parallel_calls=tf.data.AUTOTUNE)
