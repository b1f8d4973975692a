"""preprocessing_fn on real taxi rows, through real TFT analyzers.

Expected values are computed here from the raw sample with numpy/pandas, not
read back from the code under test.
"""
import numpy as np
import pytest

from modules.taxi import features
from tests.helpers import raw_feature_spec, serialize_rows

# The session `transformed` TFT run is computed once per worker (make test).
pytestmark = pytest.mark.xdist_group("transformed")


def _column(data, name):
    return np.array([row[name] for row in data])


def test_outputs_are_exactly_the_model_inputs_plus_the_label(transformed):
    _, data, sample = transformed
    assert len(data) == len(sample)
    widths = features.transformed_input_widths()
    assert set(data[0]) == set(widths) | {features.LABEL_KEY}
    for name, width in widths.items():
        values = _column(data, name)
        assert values.shape == (len(sample), width), name
        assert np.isfinite(values).all(), name


def test_label_is_tips_over_twenty_percent_of_fare(transformed):
    _, data, sample = transformed
    expected = (sample["tips"] > 0.2 * sample["fare"]).astype(int).to_numpy()
    assert 0 < expected.sum() < len(expected)  # both classes present
    got = _column(data, features.LABEL_KEY).reshape(-1)
    np.testing.assert_array_equal(got, expected)


def test_numeric_features_are_clipped_z_scores_of_log1p(transformed):
    """Blank -> 0, log1p, z-score over the analysed rows, clip at +-4."""
    _, data, sample = transformed
    clipped_somewhere = False
    for name in ("fare", "trip_miles", "trip_seconds"):
        raw = sample[name].fillna(0).to_numpy(float)
        logged = np.log1p(np.maximum(raw, 0))
        z_score = (logged - logged.mean()) / logged.std()
        clipped_somewhere |= bool((np.abs(z_score) > 4).any())
        got = _column(data, features.transformed_name(name)).reshape(-1)
        np.testing.assert_allclose(got, np.clip(z_score, -4, 4), atol=1e-4,
                                   err_msg=name)
    # The sample has outliers (zero-second trips, a long trip), so the clip
    # is exercised, not just the z-score.
    assert clipped_somewhere


def test_numeric_buckets_are_one_hot_and_ordered_like_the_raw_value(
        transformed):
    """On the transform graph Beam wrote, applied to the sample in order
    (Beam's own output order is not the sample's; test_model.py checks
    that Beam's rows and this graph agree)."""
    import tensorflow as tf
    import tensorflow_transform as tft
    output_dir, _, sample = transformed
    parsed = tf.io.parse_example(serialize_rows(sample), raw_feature_spec())
    graph = tft.TFTransformOutput(output_dir).transform_raw_features(parsed)
    for name in ("fare", "trip_miles", "trip_seconds"):
        one_hot = graph[features.bucket_name(name)].numpy()
        np.testing.assert_array_equal(one_hot.sum(axis=1), 1.0, err_msg=name)
        bucket = one_hot.argmax(axis=1)
        raw = sample[name].fillna(0).to_numpy(float)
        order = np.argsort(raw, kind="stable")
        assert (np.diff(bucket[order]) >= 0).all(), name  # quantile buckets
        # Equal raw values share a bucket; different quantiles spread out.
        for value in np.unique(raw):
            assert len(set(bucket[raw == value])) == 1, (name, value)
        assert len(set(bucket)) >= 8, name


def test_one_hot_features_pick_the_rows_own_category(transformed):
    _, data, sample = transformed
    for name, low in (("trip_start_hour", 0), ("trip_start_day", 1),
                      ("trip_start_month", 1)):
        values = _column(data, features.transformed_name(name))
        np.testing.assert_array_equal(values.sum(axis=1), 1.0, err_msg=name)
        np.testing.assert_array_equal(values.argmax(axis=1),
                                      sample[name].to_numpy() - low,
                                      err_msg=name)
    for name in ("pickup_community_area", "dropoff_community_area",
                 "dropoff_census_tract", "payment_type", "company"):
        values = _column(data, features.transformed_name(name))
        np.testing.assert_array_equal(values.sum(axis=1), 1.0, err_msg=name)
        ids = values.argmax(axis=1)
        raw = sample[name].astype(str).to_numpy()  # NaN -> 'nan': one value
        # A vocabulary: same raw value, same id; the most frequent values
        # (every value seen at least 5 times here) get ids of their own.
        mapping = {}
        for value, index in zip(raw, ids):
            assert mapping.setdefault(value, index) == index, (name, value)
        counts = sample[name].astype(str).value_counts()
        frequent = [mapping[value] for value in counts[counts >= 5].index]
        assert len(frequent) == len(set(frequent)) >= 2, name


def test_blank_company_has_its_own_bucket(transformed):
    _, data, sample = transformed
    blank = sample["company"].isna().to_numpy()
    assert blank.any() and not blank.all()
    buckets = _column(data, "company_xf").argmax(axis=1)
    assert len(set(buckets[blank])) == 1
    assert set(buckets[blank]).isdisjoint(buckets[~blank])
