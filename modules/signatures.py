"""Serving signatures exported with every model.

- `serving_default`: raw features as named dense tensors, so a REST client can
  POST `{"instances": [{"fare": 12.5, "company": "Flash Cab", ...}]}`.
- `serving_tf_example`: serialized tf.Example in (TFMA, gRPC batch clients).
- `transform_features`: serialized tf.Example -> Transform outputs (TFMA uses it
  to get the derived label).
- `predict_transformed`: Transform outputs -> probability; the Quantizer converts
  this one to TFLite, since it holds no tables or string ops.
"""
import tensorflow as tf

from modules import features
from modules.model import PROBABILITY_OUTPUT

_RAW_TF_DTYPES = {"float": tf.float32, "int": tf.int64, "string": tf.string}


def _as_sparse_column(values):
    """Dense [batch] -> the [batch, 1] SparseTensor Transform's raw spec expects."""
    batch = tf.shape(values, out_type=tf.int64)[0]
    indices = tf.stack([tf.range(batch), tf.zeros([batch], tf.int64)], axis=1)
    return tf.SparseTensor(indices, values, tf.stack([batch, 1]))


def make_signatures(model, tf_transform_output):
    """Builds the four signatures; `model.tft_layer` must already be set."""
    raw_spec = tf_transform_output.raw_feature_spec()
    serving_raw_spec = {k: v for k, v in raw_spec.items() if k != features.TIPS}

    def predict(transformed):
        inputs = {name: transformed[name]
                  for name in features.transformed_input_widths()}
        return {PROBABILITY_OUTPUT: model(inputs)}

    raw_inputs = {
        name: tf.TensorSpec([None], _RAW_TF_DTYPES[features.raw_dtype(name)],
                            name=name)
        for name in features.model_input_features()
    }

    @tf.function(input_signature=[raw_inputs])
    def serve_raw(columns):
        raw = {name: _as_sparse_column(column)
               for name, column in columns.items()}
        return predict(model.tft_layer(raw))

    @tf.function(input_signature=[
        tf.TensorSpec([None], tf.string, name="examples")])
    def serve_tf_example(serialized):
        parsed = tf.io.parse_example(serialized, serving_raw_spec)
        return predict(model.tft_layer(parsed))

    @tf.function(input_signature=[
        tf.TensorSpec([None], tf.string, name="examples")])
    def transform_features(serialized):
        parsed = tf.io.parse_example(serialized, raw_spec)
        return model.tft_layer(parsed)

    @tf.function(input_signature=[{
        name: tf.TensorSpec([None, width], tf.float32, name=name)
        for name, width in features.transformed_input_widths().items()}])
    def predict_transformed(columns):
        return predict(columns)

    return {
        "serving_default": serve_raw.get_concrete_function(),
        "serving_tf_example": serve_tf_example.get_concrete_function(),
        "transform_features": transform_features.get_concrete_function(),
        "predict_transformed": predict_transformed.get_concrete_function(),
    }


def export_serving_model(model, tf_transform_output, export_dir):
    """Saves `model` with the Transform graph attached and all signatures."""
    model.tft_layer = tf_transform_output.transform_features_layer()
    signatures = make_signatures(model, tf_transform_output)
    # No optimizer slots: they are training state (Adam keeps two per weight,
    # i.e. 2x the model) that serving never reads.
    model.save(export_dir, save_format="tf", signatures=signatures,
               include_optimizer=False)
