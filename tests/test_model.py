"""The float model and its exported signatures, on a real Transform graph."""
import numpy as np
import pytest
import tensorflow as tf
import tensorflow_transform as tft
import tf_keras as keras

from modules.taxi import features
from modules.model import (PROBABILITY_OUTPUT, TrainerConfig, build_model,
                           input_widths)
from modules.signatures import export_serving_model
from serving import layout
from tests.helpers import raw_dense_inputs, serialize_rows, taxi_trainer_config

# The session `transformed` TFT run is computed once per worker (make test).
pytestmark = pytest.mark.xdist_group("transformed")


def _transform_config(transform_dir, **overrides):
    """The taxi TrainerConfig with the widths run_fn reads off Transform."""
    output = tft.TFTransformOutput(transform_dir)
    return taxi_trainer_config(
        input_widths=input_widths(output, features.LABEL_KEY), **overrides)


def test_config_rejects_unknown_keys():
    with pytest.raises(ValueError, match="hiden_units"):
        TrainerConfig.from_custom_config({"hiden_units": [8]})
    assert TrainerConfig.from_custom_config(
        {"hidden_units": [8, 4]}).hidden_units == (8, 4)


def test_model_inputs_are_exactly_what_transform_emits(transformed):
    """Names and widths come from the real Transform graph's output spec."""
    transform_dir, _, _ = transformed
    spec = tft.TFTransformOutput(transform_dir).transformed_feature_spec()
    emitted = {name: tuple(feature.shape) for name, feature in spec.items()
               if name != features.LABEL_KEY}
    config = _transform_config(transform_dir, hidden_units=(16,))
    # The taxi contract the other taxi-shaped tests build on is what runs.
    assert dict(config.input_widths) == features.transformed_input_widths()
    model = build_model(config)
    accepted = {tensor.name.split(":")[0]: tuple(tensor.shape[1:])
                for tensor in model.inputs}
    assert accepted == emitted
    assert [layer.units for layer in model.layers
            if isinstance(layer, keras.layers.Dense)] == [16, 1]


def test_a_model_needs_the_transform_output_widths():
    with pytest.raises(ValueError, match="input_widths"):
        build_model(TrainerConfig(hidden_units=(16,)))


@pytest.fixture(scope="module")
def exported(transformed, tmp_path_factory):
    """An (untrained, seeded) model exported once with the real TFT graph."""
    transform_dir, _, _ = transformed
    keras.utils.set_random_seed(3)
    config = _transform_config(transform_dir, hidden_units=(16, 8))
    model = build_model(config)
    export_dir = str(tmp_path_factory.mktemp("model") / "serving")
    export_serving_model(model, tft.TFTransformOutput(transform_dir),
                         export_dir, config)
    return model, tf.saved_model.load(export_dir), export_dir, config


def test_served_predictions_match_training_after_save_and_load(transformed,
                                                               exported):
    """Every signature of the reloaded SavedModel gives what the in-memory
    model gives on the rows Transform produced in Beam: no skew between the
    training-time transform and the serving graph."""
    _, transformed_rows, sample = transformed
    model, loaded, _, config = exported
    assert set(loaded.signatures) == {"serving_default", "serving_tf_example",
                                      "transform_features",
                                      "predict_transformed", "classify"}
    # Rows with every model input present, so "missing" semantics don't differ
    # between the tf.Example path (absent) and the dense path (sentinel).
    present = sample.reset_index(drop=True).dropna(
        subset=features.model_input_features())
    positions = present.index.to_numpy()[:40]
    rows = present.head(40)
    in_training = model.predict({
        name: np.stack([transformed_rows[i][name] for i in positions])
        for name in features.transformed_input_widths()}, verbose=0)
    assert in_training.std() > 1e-3  # the rows get different scores

    by_example = loaded.signatures["serving_tf_example"](
        examples=serialize_rows(rows))[PROBABILITY_OUTPUT].numpy()
    np.testing.assert_allclose(by_example, in_training, atol=1e-5)
    raw_outputs = loaded.signatures["serving_default"](**raw_dense_inputs(rows))
    by_raw = raw_outputs[PROBABILITY_OUTPUT].numpy()
    np.testing.assert_allclose(by_raw, in_training, atol=1e-5)
    # Binary: P(positive), with the project's class names for each row.
    classes = [name.encode() for name in config.classes]
    assert classes == [b"not_big_tipper", b"big_tipper"]
    assert raw_outputs["classes"].numpy().tolist() == [classes] * len(rows)
    np.testing.assert_array_equal(
        raw_outputs["predicted_class"].numpy(),
        np.where(in_training[:, 0] > 0.5, classes[1], classes[0]))

    # TF Serving's Classify API: a score per class, in class order.
    classified = loaded.signatures["classify"](inputs=serialize_rows(rows))
    assert classified["classes"].numpy().tolist() == [classes] * len(rows)
    np.testing.assert_allclose(classified["scores"].numpy(), np.concatenate(
        [1 - in_training, in_training], axis=1), atol=1e-5)

    transformed_rows = loaded.signatures["transform_features"](
        examples=serialize_rows(rows))
    expected_label = (rows["tips"] > 0.2 * rows["fare"]).astype(int).to_numpy()
    np.testing.assert_array_equal(
        transformed_rows[features.LABEL_KEY].numpy().reshape(-1), expected_label)
    by_transformed = loaded.signatures["predict_transformed"](**{
        name: transformed_rows[name]
        for name in features.transformed_input_widths()})[PROBABILITY_OUTPUT]
    np.testing.assert_allclose(by_transformed.numpy(), in_training, atol=1e-5)


def test_blank_values_and_sentinels_mean_the_same(transformed, exported):
    """A serving client sends the documented sentinel for a blank CSV cell."""
    _, _, sample = transformed
    _, loaded, export_dir, _ = exported
    rows = sample[sample["company"].isna()].head(10)
    assert len(rows)
    by_example = loaded.signatures["serving_tf_example"](
        examples=serialize_rows(rows))[PROBABILITY_OUTPUT].numpy()
    by_raw = loaded.signatures["serving_default"](
        **raw_dense_inputs(rows))[PROBABILITY_OUTPUT].numpy()
    np.testing.assert_allclose(by_raw, by_example, atol=1e-6)

    # The markers the export ships for the model server: NaN for floats,
    # "" for strings, the project's -1 for the integer area codes.
    markers = layout.read_missing_values(export_dir)
    assert markers["company"] == "" and markers["payment_type"] == ""
    assert np.isnan(markers["fare"]) and np.isnan(markers["trip_miles"])
    assert {markers[name] for name in ("pickup_community_area",
                                       "dropoff_community_area",
                                       "dropoff_census_tract")} == {-1}
    # A NaN float is a blank, not a value: it gives a blank cell's output.
    nan_fare = dict(raw_dense_inputs(rows),
                    fare=tf.fill([len(rows)], markers["fare"]))
    by_nan = loaded.signatures["serving_default"](
        **nan_fare)[PROBABILITY_OUTPUT].numpy()
    assert np.isfinite(by_nan).all()
    np.testing.assert_allclose(
        by_nan, loaded.signatures["serving_tf_example"](examples=serialize_rows(
            rows.assign(fare=np.nan)))[PROBABILITY_OUTPUT].numpy(), atol=1e-6)


def test_export_leaves_out_optimizer_state(transformed, tmp_path):
    """A trained model has Adam slots; the served SavedModel must not."""
    transform_dir, _, _ = transformed
    config = _transform_config(transform_dir, hidden_units=(8,))
    model = build_model(config)
    batch = {name: np.zeros((4, width), np.float32)
             for name, width in features.transformed_input_widths().items()}
    model.fit(batch, np.array([[0], [1], [0], [1]]), epochs=1, verbose=0)
    assert model.optimizer.variables()  # slots exist in memory
    export_dir = str(tmp_path / "serving")
    export_serving_model(model, tft.TFTransformOutput(transform_dir),
                         export_dir, config)
    names = [name for name, _ in
             tf.train.list_variables(f"{export_dir}/variables/variables")]
    assert names and not [n for n in names if "optimizer" in n.lower()]
