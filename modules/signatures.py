"""Serving signatures exported with every model, whatever the task.

- `serving_default`: raw features as named dense 1-D tensors (a REST client
  POSTs `{"instances": [{"fare": 12.5, "company": "Flash Cab", ...}]}`); a
  float NaN or an empty string means "no value", exactly like a blank CSV
  cell. Outputs the model's output plus, for classification, the class names
  (`classes`, [batch, K]) and the predicted one (`predicted_class`).
- `serving_tf_example`: serialized tf.Example in (TFMA, batch clients).
- `classify` / `regress`: TF Serving's Classify / Regress APIs (one DT_STRING
  input named `inputs`; `classes` + `scores`, or `outputs`).
- `transform_features`: serialized tf.Example -> Transform outputs (TFMA).
- `predict_transformed`: Transform outputs -> model output; the Quantizer
  converts this one to TFLite, since it holds no tables or string ops.
"""
import tensorflow as tf

from modules.model import output_name
from serving import layout


def _as_sparse_column(values):
    """Dense [batch] -> the [batch, 1] SparseTensor Transform's raw spec
    expects, leaving out NaN floats and empty strings (= blank cells)."""
    if values.dtype == tf.string:
        present = tf.not_equal(values, "")
    elif values.dtype.is_floating:
        present = tf.logical_not(tf.math.is_nan(values))
    else:
        present = tf.ones_like(values, tf.bool)
    rows = tf.where(present)[:, 0]
    indices = tf.stack([rows, tf.zeros_like(rows)], axis=1)
    batch = tf.shape(values, out_type=tf.int64)[0]
    return tf.SparseTensor(indices, tf.gather(values, rows),
                           tf.stack([batch, 1]))


def missing_values(config, tf_transform_output) -> dict:
    """The "no value" marker of each serving input (for the model server).

    NaN and "" are read as blank by `serving_default`; integer columns have
    none unless the project declares one that its preprocessing treats as
    blank (the taxi module fills blanks with -1, so -1 means blank there).
    """
    markers = dict(config.missing_values)
    for name in config.serving_features:
        dtype = tf_transform_output.raw_feature_spec()[name].dtype
        if name in markers:
            continue
        if dtype == tf.string:
            markers[name] = ""
        elif dtype.is_floating:
            markers[name] = float("nan")
    return markers


def make_signatures(model, tf_transform_output, config):
    """Builds the signatures; `model.tft_layer` must already be set."""
    raw_spec = tf_transform_output.raw_feature_spec()
    serving_spec = {k: v for k, v in raw_spec.items() if k != config.label_key}
    missing = [name for name in config.serving_features if name not in raw_spec]
    if missing:
        raise ValueError(f"Serving features {missing} are not in the schema "
                         f"Transform used; it has {sorted(raw_spec)}.")
    head = output_name(config.task)
    classes = tf.constant(list(config.classes), tf.string)

    def predict(transformed):
        inputs = {name: transformed[name] for name in config.input_widths}
        return model(inputs)

    def named_outputs(output):
        outputs = {head: output}
        if config.task != "regression" and config.classes:
            scores = (tf.concat([1.0 - output, output], axis=1)
                      if config.task == "binary" else output)
            batch = tf.shape(output)[0]
            outputs["classes"] = tf.tile(classes[tf.newaxis, :], [batch, 1])
            outputs["predicted_class"] = tf.gather(
                classes, tf.argmax(scores, axis=1))
        return outputs

    raw_inputs = {name: tf.TensorSpec([None], raw_spec[name].dtype, name=name)
                  for name in config.serving_features}

    @tf.function(input_signature=[raw_inputs])
    def serve_raw(columns):
        raw = {name: _as_sparse_column(column)
               for name, column in columns.items()}
        return named_outputs(predict(model.tft_layer(raw)))

    def from_examples(serialized):
        return predict(model.tft_layer(
            tf.io.parse_example(serialized, serving_spec)))

    @tf.function(input_signature=[
        tf.TensorSpec([None], tf.string, name="examples")])
    def serve_tf_example(serialized):
        return {head: from_examples(serialized)}

    @tf.function(input_signature=[
        tf.TensorSpec([None], tf.string, name="inputs")])
    def classify(serialized):
        output = from_examples(serialized)
        scores = (tf.concat([1.0 - output, output], axis=1)
                  if config.task == "binary" else output)
        batch = tf.shape(output)[0]
        return {"classes": tf.tile(classes[tf.newaxis, :], [batch, 1]),
                "scores": scores}

    @tf.function(input_signature=[
        tf.TensorSpec([None], tf.string, name="inputs")])
    def regress(serialized):
        return {"outputs": tf.reshape(from_examples(serialized), [-1])}

    @tf.function(input_signature=[
        tf.TensorSpec([None], tf.string, name="examples")])
    def transform_features(serialized):
        return model.tft_layer(tf.io.parse_example(serialized, raw_spec))

    @tf.function(input_signature=[{
        name: tf.TensorSpec([None, width], tf.float32, name=name)
        for name, width in config.input_widths.items()}])
    def predict_transformed(columns):
        return {head: predict(columns)}

    signatures = {
        "serving_default": serve_raw.get_concrete_function(),
        "serving_tf_example": serve_tf_example.get_concrete_function(),
        "transform_features": transform_features.get_concrete_function(),
        "predict_transformed": predict_transformed.get_concrete_function(),
    }
    if config.task == "regression":
        signatures["regress"] = regress.get_concrete_function()
    elif config.classes:
        signatures["classify"] = classify.get_concrete_function()
    return signatures


def export_serving_model(model, tf_transform_output, export_dir, config):
    """Saves `model` with the Transform graph attached and all signatures."""
    model.tft_layer = tf_transform_output.transform_features_layer()
    signatures = make_signatures(model, tf_transform_output, config)
    # No optimizer slots: they are training state (Adam keeps two per weight,
    # i.e. 2x the model) that serving never reads.
    model.save(export_dir, save_format="tf", signatures=signatures,
               include_optimizer=False)
    # The server needs the markers with the model (serving/layout.py).
    layout.write_missing_values(export_dir,
                                missing_values(config, tf_transform_output))
