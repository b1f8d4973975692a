"""The taxi example's hand-tuned `preprocessing_fn` (a user module).

Raw taxi columns -> dense float model inputs, plus the derived label (big
tipper: tips > 20% of fare), which is not a CSV column. It shows how to
replace the generic default (modules/generic/preprocessing.py) with your own.

Every model input leaves here as a dense float32 matrix (z-scores and one-hot
vectors), so the Trainer's core model is a plain MLP and the TFLite variants the
Quantizer builds need no lookup tables or string ops.
"""
import tensorflow as tf
import tensorflow_transform as tft

from modules.taxi import features
from modules.transforms import densify as _densify, one_hot as _one_hot


def preprocessing_fn(inputs, custom_config=None):
    """TFT entry point (referenced by the pipeline as a dotted path).

    `custom_config` (the project's feature plan) is not needed: the taxi
    contract is this folder's features.py.
    """
    del custom_config
    outputs = {}

    for name in features.LOG_NUMERIC_FEATURES:
        raw = tf.cast(_densify(inputs[name], tf.constant(0, inputs[name].dtype)),
                      tf.float32)
        logged = tf.math.log1p(tf.maximum(raw, 0.0))
        # Clipped: the sample has a 1,710-mile trip, and full-int8 TFLite
        # quantizes all concatenated inputs with one scale, so one outlier
        # would coarsen every input's resolution.
        z_score = tf.clip_by_value(tft.scale_to_z_score(logged),
                                   -features.Z_SCORE_CLIP, features.Z_SCORE_CLIP)
        outputs[features.transformed_name(name)] = tf.reshape(z_score, [-1, 1])
        buckets = tft.bucketize(logged, features.NUMERIC_BUCKETS)
        outputs[features.bucket_name(name)] = _one_hot(
            buckets, features.NUMERIC_BUCKETS)

    for name, (low, high) in features.BOUNDED_INT_FEATURES.items():
        value = _densify(inputs[name], tf.constant(features.MISSING_INT, tf.int64))
        # Out-of-domain values (ExampleValidator should have stopped them)
        # become an all-zero vector rather than a wrong category.
        outputs[features.transformed_name(name)] = _one_hot(
            value - low, high - low + 1)

    for name, top_k in features.INT_CATEGORICAL_FEATURES.items():
        value = _densify(inputs[name], tf.constant(features.MISSING_INT, tf.int64))
        ids = tft.compute_and_apply_vocabulary(
            tf.strings.as_string(value), top_k=top_k,
            num_oov_buckets=features.OOV_BUCKETS, vocab_filename=name)
        outputs[features.transformed_name(name)] = _one_hot(
            ids, features.one_hot_depth(name))

    for name, top_k in features.STRING_CATEGORICAL_FEATURES.items():
        value = _densify(inputs[name], features.MISSING_STRING)
        ids = tft.compute_and_apply_vocabulary(
            value, top_k=top_k, num_oov_buckets=features.OOV_BUCKETS,
            vocab_filename=name)
        outputs[features.transformed_name(name)] = _one_hot(
            ids, features.one_hot_depth(name))

    if features.TIPS in inputs:  # absent at serving time
        tips = _densify(inputs[features.TIPS], 0.0)
        fare = _densify(inputs[features.FARE], 0.0)
        outputs[features.LABEL_KEY] = tf.cast(
            tips > features.BIG_TIP_FRACTION * fare, tf.int64)
    return outputs
