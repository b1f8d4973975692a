"""The float model and its exported signatures, on a real Transform graph."""
import numpy as np
import pytest
import tensorflow as tf
import tensorflow_transform as tft

from modules import features
from modules.model import PROBABILITY_OUTPUT, TrainerConfig, build_model
from modules.signatures import export_serving_model
from tests.conftest import raw_feature_spec


def test_config_rejects_unknown_keys():
    with pytest.raises(ValueError, match="hiden_units"):
        TrainerConfig.from_custom_config({"hiden_units": [8]})
    assert TrainerConfig.from_custom_config(
        {"hidden_units": [8, 4]}).hidden_units == (8, 4)


def test_model_takes_every_transformed_feature():
    model = build_model(TrainerConfig(hidden_units=(16,)))
    assert sorted(model.input_names) == sorted(features.transformed_input_widths())
    batch = {name: np.zeros((3, width), np.float32)
             for name, width in features.transformed_input_widths().items()}
    probabilities = model.predict(batch, verbose=0)
    assert probabilities.shape == (3, 1)
    assert ((probabilities >= 0) & (probabilities <= 1)).all()


def _serialize(frame):
    examples = []
    for record in frame.to_dict("records"):
        feature = {}
        for name, value in record.items():
            if value != value:  # NaN: blank in the CSV
                continue
            kind = features.raw_dtype(name)
            if kind == "string":
                feature[name] = tf.train.Feature(
                    bytes_list=tf.train.BytesList(value=[str(value).encode()]))
            elif kind == "int":
                feature[name] = tf.train.Feature(
                    int64_list=tf.train.Int64List(value=[int(value)]))
            else:
                feature[name] = tf.train.Feature(
                    float_list=tf.train.FloatList(value=[float(value)]))
        examples.append(tf.train.Example(
            features=tf.train.Features(feature=feature)).SerializeToString())
    return tf.constant(examples)


def _raw_dense(frame):
    columns = {}
    for name in features.model_input_features():
        column = frame[name]
        kind = features.raw_dtype(name)
        filled = column.fillna(features.missing_value(name))
        if kind == "string":
            columns[name] = tf.constant(filled.astype(str).to_numpy())
        elif kind == "int":
            columns[name] = tf.constant(filled.astype(np.int64).to_numpy())
        else:
            columns[name] = tf.constant(filled.astype(np.float32).to_numpy())
    return columns


def test_all_signatures_agree_after_save_and_load(transformed, tmp_path):
    transform_dir, _, sample = transformed
    assert set(raw_feature_spec()) == set(sample.columns)
    model = build_model(TrainerConfig(hidden_units=(16, 8)))
    export_dir = str(tmp_path / "serving")
    export_serving_model(model, tft.TFTransformOutput(transform_dir), export_dir)

    loaded = tf.saved_model.load(export_dir)
    assert set(loaded.signatures) == {"serving_default", "serving_tf_example",
                                      "transform_features",
                                      "predict_transformed"}
    # Rows with every model input present, so "missing" semantics don't differ
    # between the tf.Example path (absent) and the dense path (sentinel).
    rows = sample.dropna(subset=features.model_input_features()).head(40)
    by_example = loaded.signatures["serving_tf_example"](
        examples=_serialize(rows))[PROBABILITY_OUTPUT].numpy()
    by_raw = loaded.signatures["serving_default"](
        **_raw_dense(rows))[PROBABILITY_OUTPUT].numpy()
    np.testing.assert_allclose(by_raw, by_example, atol=1e-6)

    transformed_rows = loaded.signatures["transform_features"](
        examples=_serialize(rows))
    expected_label = (rows["tips"] > 0.2 * rows["fare"]).astype(int).to_numpy()
    np.testing.assert_array_equal(
        transformed_rows[features.LABEL_KEY].numpy().reshape(-1), expected_label)
    by_transformed = loaded.signatures["predict_transformed"](**{
        name: transformed_rows[name]
        for name in features.transformed_input_widths()})[PROBABILITY_OUTPUT]
    np.testing.assert_allclose(by_transformed.numpy(), by_example, atol=1e-6)


def test_blank_values_and_sentinels_mean_the_same(transformed, tmp_path):
    """A serving client sends the documented sentinel for a blank CSV cell."""
    transform_dir, _, sample = transformed
    model = build_model(TrainerConfig(hidden_units=(8,)))
    export_dir = str(tmp_path / "serving")
    export_serving_model(model, tft.TFTransformOutput(transform_dir), export_dir)
    loaded = tf.saved_model.load(export_dir)
    rows = sample[sample["company"].isna()].head(10)
    assert len(rows)
    by_example = loaded.signatures["serving_tf_example"](
        examples=_serialize(rows))[PROBABILITY_OUTPUT].numpy()
    by_raw = loaded.signatures["serving_default"](
        **_raw_dense(rows))[PROBABILITY_OUTPUT].numpy()
    np.testing.assert_allclose(by_raw, by_example, atol=1e-6)
