"""Shared fixtures: a real Transform graph fitted on real taxi rows."""
import json
import os
import pathlib
import subprocess
import sys

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


def serialize_rows(frame: pd.DataFrame):
    """DataFrame rows -> serialized tf.Examples, the way CSV rows arrive
    (a blank cell is an absent feature)."""
    import tensorflow as tf
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


def raw_dense_inputs(frame: pd.DataFrame):
    """The `serving_default` inputs a REST client would send for these rows:
    one dense column per model input, blanks as the documented sentinel."""
    import numpy as np
    import tensorflow as tf
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


# --- one real pipeline run shared by the end-to-end and report tests --------
ROWS = 3000
TRAIN_STEPS = "400"


def tfx_prod(*args, home, data, timeout=1500):
    summary = home / f"summary-{len(list(home.glob('summary-*')))}.json"
    command = [sys.executable, "-m", "tfx_prod.cli", "run", "--home", str(home),
               "--data", str(data), "--summary-json", str(summary), *args]
    result = subprocess.run(command, capture_output=True, text=True,
                            timeout=timeout, cwd=pathlib.Path(__file__).parent.parent)
    print(result.stdout[-4000:], result.stderr[-4000:])
    report = json.loads(summary.read_text()) if summary.exists() else None
    return result, report


def read_text(rows):
    """CSV rows as text, so re-writing them keeps `5` as `5` (pandas would
    turn an int column with blanks into floats, a type anomaly)."""
    return pd.read_csv(TAXI_CSV, dtype=str, keep_default_na=False, nrows=rows)


def versions(home):
    model_dir = home / "serving" / "taxi"
    return sorted(p.name for p in model_dir.iterdir()) if model_dir.exists() else []


@pytest.fixture(scope="session")
def small_data(tmp_path_factory):
    root = tmp_path_factory.mktemp("data")
    (root / "span-1").mkdir()
    read_text(ROWS).to_csv(root / "span-1" / "data.csv", index=False)
    return root


@pytest.fixture(scope="session")
def first_run(tmp_path_factory, small_data):
    home = tmp_path_factory.mktemp("home")
    result, summary = tfx_prod("--train-steps", TRAIN_STEPS, home=home,
                               data=small_data)
    return home, result, summary


