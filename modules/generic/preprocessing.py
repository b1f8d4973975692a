"""The default `preprocessing_fn`: encodings from the project file, no code.

Each feature in the plan (`Project.feature_plan()`, passed by the pipeline as
Transform's `custom_config`) becomes dense float32 columns:

- numeric:  z-score (blank -> 0, i.e. the mean), clipped at +/-4, plus quantile
            buckets (one-hot) and a 0/1 "was blank" column;
- log_numeric: the same on log1p(max(x, 0)), for heavy right tails;
- integer_categorical: one-hot over the inclusive [low, high] domain; blank or
            out of range -> all zeros;
- categorical: vocabulary of the top_k most frequent values + 1 out-of-
            vocabulary bucket, one-hot; blank -> all zeros.

The label becomes int64 0/1 (binary: == positive), the int64 index in
`classes` (multiclass), or float32 (regression), as `<label>_xf`.
Everything reaching the model is a dense float, so the model is a plain MLP
and TFLite conversion needs no tables or string ops.
"""
import tensorflow as tf
import tensorflow_transform as tft

from modules import transforms

Z_SCORE_CLIP = 4.0
NUMERIC_BUCKETS = 10
OOV_BUCKETS = 1


def transformed_name(name: str) -> str:
    return f"{name}_xf"


def _numeric(outputs, name, values, log):
    if isinstance(values, tf.sparse.SparseTensor):
        floats = tf.SparseTensor(values.indices,
                                 tf.cast(values.values, tf.float32),
                                 values.dense_shape)
        if log:
            floats = tf.SparseTensor(
                floats.indices, tf.math.log1p(tf.maximum(floats.values, 0.0)),
                floats.dense_shape)
    else:
        floats = tf.cast(values, tf.float32)
        if log:
            floats = tf.math.log1p(tf.maximum(floats, 0.0))
    # Analyzers see present values only; a blank becomes 0 after scaling.
    scaled = tft.scale_to_z_score(floats)
    dense = transforms.densify(scaled, 0.0)
    outputs[transformed_name(name)] = tf.reshape(
        tf.clip_by_value(dense, -Z_SCORE_CLIP, Z_SCORE_CLIP), [-1, 1])
    buckets = transforms.densify(
        tft.bucketize(floats, NUMERIC_BUCKETS), tf.constant(-1, tf.int64))
    outputs[f"{name}_bucket_xf"] = transforms.one_hot(buckets,
                                                      NUMERIC_BUCKETS)
    outputs[f"{name}_missing_xf"] = transforms.is_missing(values)


def _integer(outputs, name, values, low, high):
    ids = transforms.densify(values, tf.constant(low - 1, values.dtype))
    outputs[transformed_name(name)] = transforms.one_hot(
        tf.cast(ids, tf.int64) - low, high - low + 1)


def _categorical(outputs, name, values, top_k):
    if values.dtype != tf.string:
        values = tf.SparseTensor(values.indices,
                                 tf.strings.as_string(values.values),
                                 values.dense_shape) if isinstance(
            values, tf.sparse.SparseTensor) else tf.strings.as_string(values)
    ids = tft.compute_and_apply_vocabulary(
        values, top_k=top_k, num_oov_buckets=OOV_BUCKETS,
        vocab_filename=name)
    dense = transforms.densify(ids, tf.constant(-1, tf.int64))
    outputs[transformed_name(name)] = transforms.one_hot(dense,
                                                         top_k + OOV_BUCKETS)


def _label(plan, values):
    task = plan["task"]
    if task == "regression":
        return tf.cast(transforms.densify(values, tf.constant(0, values.dtype)),
                       tf.float32)
    if values.dtype != tf.string:
        # Numeric labels compare as numbers: "1.0" and 1 are the same class.
        raw = tf.cast(transforms.densify(values, tf.constant(0, values.dtype)),
                      tf.float64)
        if task == "binary":
            return tf.cast(tf.equal(raw, float(plan["positive"])), tf.int64)
        classes = tf.constant([float(c) for c in plan["classes"]], tf.float64)
        matches = tf.equal(raw[:, tf.newaxis], classes[tf.newaxis, :])
        return tf.where(tf.reduce_any(matches, axis=1),
                        tf.argmax(tf.cast(matches, tf.int64), axis=1),
                        tf.constant(-1, tf.int64))
    text = transforms.densify(values, "")
    if task == "binary":
        return tf.cast(tf.equal(text, plan["positive"]), tf.int64)
    table = tf.lookup.StaticHashTable(
        tf.lookup.KeyValueTensorInitializer(
            tf.constant(plan["classes"]),
            tf.range(len(plan["classes"]), dtype=tf.int64)),
        default_value=-1)
    return table.lookup(text)


def preprocessing_fn(inputs, custom_config):
    """TFT entry point; `custom_config["feature_plan"]` is the project's plan."""
    plan = custom_config["feature_plan"]
    outputs = {}
    for feature in plan["features"]:
        name, encoding = feature["name"], feature["encoding"]
        values = inputs[name]
        if encoding in ("numeric", "log_numeric"):
            _numeric(outputs, name, values, log=encoding == "log_numeric")
        elif encoding == "integer_categorical":
            _integer(outputs, name, values, feature["low"], feature["high"])
        else:
            _categorical(outputs, name, values, feature["top_k"])
    if plan["label"] in inputs:  # absent at serving time
        outputs[transformed_name(plan["label"])] = _label(
            plan, inputs[plan["label"]])
    return outputs
