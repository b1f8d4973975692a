"""preprocessing_fn on real taxi rows, through real TFT analyzers."""
import numpy as np

from modules import features


def test_every_model_input_is_dense_with_the_declared_width(transformed):
    _, data, sample = transformed
    assert len(data) == len(sample)
    for name, width in features.transformed_input_widths().items():
        values = np.array([row[name] for row in data])
        assert values.shape == (len(sample), width), name
        assert np.isfinite(values).all(), name


def test_label_is_tips_over_twenty_percent_of_fare(transformed):
    _, data, sample = transformed
    expected = (sample["tips"] > 0.2 * sample["fare"]).astype(int).to_numpy()
    got = np.array([row[features.LABEL_KEY] for row in data]).reshape(-1)
    np.testing.assert_array_equal(got, expected)


def test_numeric_features_are_standardised_and_clipped(transformed):
    _, data, _ = transformed
    for name in features.LOG_NUMERIC_FEATURES:
        values = np.array([row[features.transformed_name(name)] for row in data])
        # Clipping at +-4 (e.g. zero-second trips sit near z = -6) can only
        # shrink the spread, and only slightly.
        assert abs(values.mean()) < 0.05, name
        assert 0.85 < values.std() <= 1.0 + 1e-3, name
        assert np.abs(values).max() <= features.Z_SCORE_CLIP, name


def test_one_hot_features_pick_exactly_one_bucket(transformed):
    _, data, sample = transformed
    for name in (list(features.INT_CATEGORICAL_FEATURES)
                 + list(features.STRING_CATEGORICAL_FEATURES)):
        values = np.array([row[features.transformed_name(name)] for row in data])
        np.testing.assert_array_equal(values.sum(axis=1), 1.0, err_msg=name)
    hours = np.array([row["trip_start_hour_xf"] for row in data])
    np.testing.assert_array_equal(hours.argmax(axis=1),
                                  sample["trip_start_hour"].to_numpy())


def test_blank_company_maps_to_one_shared_bucket(transformed):
    _, data, sample = transformed
    blank = sample["company"].isna().to_numpy()
    assert blank.any()
    buckets = {int(np.argmax(row["company_xf"]))
               for row, is_blank in zip(data, blank) if is_blank}
    assert len(buckets) == 1
