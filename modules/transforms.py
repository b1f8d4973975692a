"""Small TF helpers both preprocessing functions (generic, taxi) build on."""
import tensorflow as tf


def densify(values, default):
    """A [batch, 1] sparse (VarLen) column -> dense [batch], blanks -> `default`."""
    if isinstance(values, tf.sparse.SparseTensor):
        values = tf.sparse.to_dense(
            tf.SparseTensor(values.indices, values.values,
                            [values.dense_shape[0], 1]),
            default_value=default)
    return tf.reshape(values, [-1])


def is_missing(values):
    """1.0 where a [batch, 1] VarLen column has no value (a blank cell)."""
    if isinstance(values, tf.sparse.SparseTensor):
        present = tf.sparse.to_dense(tf.SparseTensor(
            values.indices, tf.ones_like(values.values, tf.float32),
            [values.dense_shape[0], 1]))
        return 1.0 - tf.reshape(present, [-1, 1])
    return tf.zeros([tf.shape(values)[0], 1])


def one_hot(ids, depth):
    """int ids -> float one-hot [batch, depth]; out of range -> all zeros."""
    return tf.one_hot(tf.cast(ids, tf.int64), depth, dtype=tf.float32)
