"""The curated raw schema accepts real taxi data and flags what it guards.

Statistics come from the real TFDV CSV path (type inference included), as in
StatisticsGen + ExampleValidator. Each TFDV run costs ~7 s of Beam start-up, so
the broken cases use a small subset of span-1.
"""
from pathlib import Path

import pandas as pd
import pytest
import tensorflow_data_validation as tfdv
from tensorflow_metadata.proto.v0 import schema_pb2

from modules.taxi import features

REPO = Path(__file__).resolve().parent.parent
SCHEMA_PATH = REPO / "data" / "taxi" / "schema" / "schema.pbtxt"
SPAN_1_CSV = REPO / "data" / "taxi" / "span-1" / "data.csv"
SUBSET_ROWS = 500

SCHEMA_TYPE = {"int": schema_pb2.INT, "float": schema_pb2.FLOAT,
               "string": schema_pb2.BYTES}


@pytest.fixture(scope="module")
def schema():
    return tfdv.load_schema_text(str(SCHEMA_PATH))


@pytest.fixture(scope="module")
def subset():
    """The first rows of span-1 as text: edited copies differ only where
    edited."""
    return pd.read_csv(SPAN_1_CSV, dtype=str, keep_default_na=False,
                       nrows=SUBSET_ROWS)


def anomalies(csv_path, schema) -> dict:
    """Feature name -> anomaly description, as ExampleValidator reports."""
    stats = tfdv.generate_statistics_from_csv(str(csv_path))
    found = tfdv.validate_statistics(stats, schema)
    return {name: info.description
            for name, info in found.anomaly_info.items()}


def write(frame: pd.DataFrame, path: Path) -> Path:
    frame.to_csv(path, index=False)
    return path


def test_schema_covers_every_csv_column_with_the_contract_type(schema):
    header = pd.read_csv(SPAN_1_CSV, nrows=0).columns
    types = {f.name: f.type for f in schema.feature}
    assert sorted(types) == sorted(header)
    assert types == {name: SCHEMA_TYPE[features.raw_dtype(name)]
                     for name in header}


def test_transform_parses_every_feature_as_varlen(schema):
    """A `shape` would make Transform parse the feature as dense and fail on
    the CSV blanks; through TFT's own schema reader every feature must come
    out VarLen (a SparseTensor the preprocessing densifies)."""
    import tensorflow as tf
    from tensorflow_transform.tf_metadata import schema_utils
    spec = schema_utils.schema_as_feature_spec(schema).feature_spec
    assert set(spec) == {f.name for f in schema.feature}
    dense = {name: type(f).__name__ for name, f in spec.items()
             if not isinstance(f, tf.io.VarLenFeature)}
    assert dense == {}


def test_full_span_1_has_no_anomalies(schema):
    assert anomalies(SPAN_1_CSV, schema) == {}


def test_non_numeric_fare_is_a_type_anomaly(schema, subset, tmp_path):
    broken = subset.copy()
    broken.loc[broken.index[::50], features.FARE] = "n/a"
    found = anomalies(write(broken, tmp_path / "data.csv"), schema)
    assert set(found) == {features.FARE}
    assert "FLOAT" in found[features.FARE]


def test_missing_payment_type_column_is_an_anomaly(schema, subset, tmp_path):
    broken = subset.drop(columns="payment_type")
    found = anomalies(write(broken, tmp_path / "data.csv"), schema)
    assert set(found) == {"payment_type"}
    assert "missing" in found["payment_type"]


def test_hour_outside_the_clock_is_an_anomaly(schema, subset, tmp_path):
    broken = subset.copy()
    broken.loc[broken.index[:3], "trip_start_hour"] = "31"
    found = anomalies(write(broken, tmp_path / "data.csv"), schema)
    assert set(found) == {"trip_start_hour"}
    assert "31" in found["trip_start_hour"]


def csv_example_gen_anomalies(frame: pd.DataFrame, tmp_path: Path,
                              schema) -> dict:
    """Anomalies of `frame` encoded by CsvExampleGen's own CSV -> tf.Example
    transform, which writes a blank cell as a present feature with zero
    values (unlike `generate_statistics_from_csv`, which treats it as
    absent)."""
    import apache_beam as beam
    from tfx.components.example_gen.csv_example_gen.executor import (
        _CsvToExample)

    write(frame, tmp_path / "data.csv")
    output = tmp_path / "examples"
    with beam.Pipeline() as pipeline:
        _ = (pipeline
             | _CsvToExample({"input_base": str(tmp_path)}, "data.csv")
             | beam.Map(lambda example: example.SerializeToString())
             | beam.io.WriteToTFRecord(str(output)))
    stats = tfdv.generate_statistics_from_tfrecord(f"{output}*")
    found = tfdv.validate_statistics(stats, schema)
    return {name: info.description
            for name, info in found.anomaly_info.items()}


def test_real_csv_example_gen_encoding_of_span_1_has_no_anomalies(
        schema, tmp_path):
    sample = pd.read_csv(SPAN_1_CSV, dtype=str, keep_default_na=False,
                         nrows=3000)
    blank = (sample == "").any()
    assert blank["company"] and blank["dropoff_community_area"], \
        "sample must contain blank cells in optional columns"
    assert csv_example_gen_anomalies(sample, tmp_path, schema) == {}


def test_blank_label_sources_are_anomalies_as_csv_example_gen_encodes_them(
        schema, subset, tmp_path):
    """Blank company cells pass (optional), but a blank fare or tips (the
    label's inputs) is a present feature with no value: it must be flagged,
    not silently become a 0 in Transform."""
    broken = subset.copy()
    broken.loc[broken.index[:3], features.FARE] = ""
    broken.loc[broken.index[5:8], features.TIPS] = ""
    broken.loc[broken.index[10:20], "company"] = ""
    found = csv_example_gen_anomalies(broken, tmp_path, schema)
    assert set(found) == {features.FARE, features.TIPS}, found
