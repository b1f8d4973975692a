"""Shared fixtures: a real Transform graph fitted on real taxi rows."""
import os

import pandas as pd
import pytest

from modules import features
from pipeline.configs import DEFAULT_DATA_ROOT

TAXI_CSV = os.path.join(DEFAULT_DATA_ROOT, "span-1", "data.csv")


def raw_feature_spec():
    import tensorflow as tf
    dtypes = {"float": tf.float32, "int": tf.int64, "string": tf.string}
    columns = pd.read_csv(TAXI_CSV, nrows=1).columns
    return {c: tf.io.VarLenFeature(dtypes[features.raw_dtype(c)])
            for c in columns}


def rows_as_instances(frame: pd.DataFrame):
    """DataFrame rows -> TFT instance dicts; blanks become empty lists."""
    instances = []
    for record in frame.to_dict("records"):
        instance = {}
        for name, value in record.items():
            kind = features.raw_dtype(name)
            if pd.isna(value):
                instance[name] = []
            elif kind == "string":
                instance[name] = [str(value).encode()]
            elif kind == "int":
                instance[name] = [int(value)]
            else:
                instance[name] = [float(value)]
        instances.append(instance)
    return instances


@pytest.fixture(scope="session")
def taxi_sample() -> pd.DataFrame:
    return pd.read_csv(TAXI_CSV).sample(n=600, random_state=7)


@pytest.fixture(scope="session")
def transformed(tmp_path_factory, taxi_sample):
    """Runs the real preprocessing_fn through TFT on Beam; returns
    (transform_output_dir, transformed instances, raw sample)."""
    import tensorflow_transform as tft
    import tensorflow_transform.beam as tft_beam
    from tensorflow_transform.tf_metadata import (dataset_metadata, metadata_io,
                                                 schema_utils)

    from modules.preprocessing import preprocessing_fn

    work = tmp_path_factory.mktemp("tft")
    metadata = dataset_metadata.DatasetMetadata(
        schema_utils.schema_from_feature_spec(raw_feature_spec()))
    with tft_beam.Context(temp_dir=str(work / "tmp")):
        (data, _), transform_fn = (
            (rows_as_instances(taxi_sample), metadata)
            | tft_beam.AnalyzeAndTransformDataset(preprocessing_fn))
        output_dir = str(work / "transform_output")
        _ = transform_fn | tft_beam.WriteTransformFn(output_dir)
    # TFX's Transform also writes the raw schema; serving signatures read it.
    metadata_io.write_metadata(metadata, os.path.join(
        output_dir, tft.TFTransformOutput.RAW_METADATA_DIR))
    assert tft.TFTransformOutput(output_dir).transformed_feature_spec()
    return output_dir, data, taxi_sample
