"""The float model and its exported signatures, on a real Transform graph."""
import numpy as np
import pytest
import tensorflow as tf
import tensorflow_transform as tft

from modules import features
from modules.model import PROBABILITY_OUTPUT, TrainerConfig, build_model
from modules.signatures import export_serving_model
from tests.conftest import raw_dense_inputs, raw_feature_spec, serialize_rows


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
        examples=serialize_rows(rows))[PROBABILITY_OUTPUT].numpy()
    by_raw = loaded.signatures["serving_default"](
        **raw_dense_inputs(rows))[PROBABILITY_OUTPUT].numpy()
    np.testing.assert_allclose(by_raw, by_example, atol=1e-6)

    transformed_rows = loaded.signatures["transform_features"](
        examples=serialize_rows(rows))
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
        examples=serialize_rows(rows))[PROBABILITY_OUTPUT].numpy()
    by_raw = loaded.signatures["serving_default"](
        **raw_dense_inputs(rows))[PROBABILITY_OUTPUT].numpy()
    np.testing.assert_allclose(by_raw, by_example, atol=1e-6)


def test_export_leaves_out_optimizer_state(transformed, tmp_path):
    """A trained model has Adam slots; the served SavedModel must not."""
    transform_dir, _, _ = transformed
    model = build_model(TrainerConfig(hidden_units=(8,)))
    batch = {name: np.zeros((4, width), np.float32)
             for name, width in features.transformed_input_widths().items()}
    model.fit(batch, np.array([[0], [1], [0], [1]]), epochs=1, verbose=0)
    assert model.optimizer.variables()  # slots exist in memory
    export_dir = str(tmp_path / "serving")
    export_serving_model(model, tft.TFTransformOutput(transform_dir), export_dir)
    names = [name for name, _ in
             tf.train.list_variables(f"{export_dir}/variables/variables")]
    assert names and not [n for n in names if "optimizer" in n.lower()]
