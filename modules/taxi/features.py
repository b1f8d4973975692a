"""The taxi feature contract: raw columns, how each is encoded, and the label.

Everything that names a feature (preprocessing, model, serving signatures,
quantizer scoring, the data synthesizer) reads it from here, so a column is
renamed in one place.

Missing values: CSV blanks become absent values in tf.Example. Training fills
them with the sentinel below; a serving client that lacks a value sends the
same sentinel, so training and serving see identical inputs.
"""

# Raw label source and the derived binary label ("big tipper": tips > 20% of fare).
# LABEL_KEY is produced by Transform (int64 0/1), so it has no `_xf` suffix.
TIPS = "tips"
FARE = "fare"
LABEL_KEY = "big_tipper"
BIG_TIP_FRACTION = 0.2

# Heavy-tailed trip measures: log1p then z-score, plus quantile buckets
# (one-hot), which let a small MLP learn the fare thresholds a tree finds.
LOG_NUMERIC_FEATURES = ["fare", "trip_miles", "trip_seconds"]
NUMERIC_BUCKETS = 20
Z_SCORE_CLIP = 4.0

# Small fixed integer domains, one-hot encoded: name -> (min, max) inclusive.
BOUNDED_INT_FEATURES = {
    "trip_start_hour": (0, 23),
    "trip_start_day": (1, 7),
    "trip_start_month": (1, 12),
}

# Integer codes with no numeric meaning (areas, census tracts): vocabulary of
# the most frequent values, one-hot, with one out-of-vocabulary bucket.
INT_CATEGORICAL_FEATURES = {
    "pickup_community_area": 80,
    "dropoff_community_area": 80,
    "dropoff_census_tract": 120,
}

# Strings: vocabulary of the most frequent values, one-hot, plus an OOV bucket.
STRING_CATEGORICAL_FEATURES = {
    "payment_type": 10,
    "company": 60,
}

# In the raw data and schema but not model inputs (lat/lon duplicate the
# community areas in this dataset; the timestamp would leak the split by time).
UNUSED_RAW_FEATURES = [
    "trip_start_timestamp",
    "pickup_census_tract",  # blank in all but one row of the bundled sample
    "pickup_latitude",
    "pickup_longitude",
    "dropoff_latitude",
    "dropoff_longitude",
]

MISSING_STRING = ""
MISSING_INT = -1
MISSING_FLOAT = 0.0

OOV_BUCKETS = 1

# Slices the Evaluator reports on (raw feature names).
SLICE_FEATURES = ["payment_type", "trip_start_hour"]


def transformed_name(key: str) -> str:
    """Name of a feature after Transform (TFX convention: `_xf` suffix)."""
    return key + "_xf"


def one_hot_depth(feature: str) -> int:
    """Width of the one-hot vector Transform emits for a categorical feature."""
    if feature in BOUNDED_INT_FEATURES:
        low, high = BOUNDED_INT_FEATURES[feature]
        return high - low + 1
    top_k = {**INT_CATEGORICAL_FEATURES, **STRING_CATEGORICAL_FEATURES}[feature]
    return top_k + OOV_BUCKETS


def model_input_features() -> list[str]:
    """Raw features the model uses, in a stable order (serving inputs)."""
    return (LOG_NUMERIC_FEATURES + list(BOUNDED_INT_FEATURES)
                    + list(INT_CATEGORICAL_FEATURES) + list(STRING_CATEGORICAL_FEATURES))


FLOAT_RAW_FEATURES = ["fare", "trip_miles", "tips", "pickup_latitude",
                      "pickup_longitude", "dropoff_latitude", "dropoff_longitude"]


def raw_dtype(feature: str) -> str:
    """'float', 'int' or 'string': the CSV type CsvExampleGen infers."""
    if feature in FLOAT_RAW_FEATURES:
        return "float"
    if feature in STRING_CATEGORICAL_FEATURES:
        return "string"
    return "int"


def missing_value(feature: str):
    """The sentinel that stands for 'no value' for this feature."""
    return {"float": MISSING_FLOAT, "int": MISSING_INT,
                    "string": MISSING_STRING}[raw_dtype(feature)]


def bucket_name(feature: str) -> str:
    """Transformed name of a numeric feature's one-hot quantile bucket."""
    return feature + "_bucket_xf"


def transformed_input_widths() -> dict[str, int]:
    """Model inputs after Transform: name -> width of the dense float vector.

    The order is the model's concatenation order; the Quantizer and TFLite
    clients rely only on the names.
    """
    widths = {}
    for feature in LOG_NUMERIC_FEATURES:
        widths[transformed_name(feature)] = 1
        widths[bucket_name(feature)] = NUMERIC_BUCKETS
    for feature in (list(BOUNDED_INT_FEATURES) + list(INT_CATEGORICAL_FEATURES)
                    + list(STRING_CATEGORICAL_FEATURES)):
        widths[transformed_name(feature)] = one_hot_depth(feature)
    return widths
