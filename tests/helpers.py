"""Helpers the tests share: taxi rows as TFT instances / tf.Examples / REST
inputs, and the real CLI in a subprocess. Fixtures are in tests/fixtures.py."""
import json
import os
import pathlib
import shutil
import subprocess
import sys

import pandas as pd
import pytest

from modules.taxi import features
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


def taxi_trainer_config(input_widths=None, **overrides):
    """The TrainerConfig `run_fn` builds for the bundled taxi project.

    Task, label key, classes, serving features and missing-value markers come
    from data/taxi/tfx-prod.yaml through `PipelineConfig.trainer_config()`,
    as the pipeline passes them in the Trainer's custom_config. `run_fn`
    then reads the input widths off the Transform output
    (`modules.model.input_widths`); pass those when a real Transform output
    is at hand, else the taxi contract's widths are used (which
    tests/test_preprocessing.py checks against the real Transform output).
    """
    from modules.model import TrainerConfig
    from pipeline.configs import taxi_config
    custom = taxi_config("unused-pipeline-root",
                         "unused-serving-dir").trainer_config()
    custom["input_widths"] = dict(
        input_widths or features.transformed_input_widths())
    return TrainerConfig.from_custom_config({**custom, **overrides})


# --- one real pipeline run shared by the end-to-end and report tests --------
# 3,000 real rows, 30 steps: measured eval AUC 0.94 (more steps overfit this
# little data), and the cheapest run whose model is worth serving.
PROJECT = pathlib.Path(__file__).resolve().parent.parent
ROWS = 3000
TRAIN_STEPS = "30"
MODEL_NAME = "taxi"


def tfx_prod(*args, home, data=None, timeout=1500, command=("run",),
             cwd=PROJECT, env=None, popen=False):
    """The real CLI in a subprocess, as a user runs it; (result, summary).

    The serving dir is HOME/serving resolved through symlinks, so a forked
    home pushes to the same path as the run it was forked from (the path is
    part of the Pusher's and ServedBaseline's cache keys, as for any user).
    """
    summary = home / f"summary-{len(list(home.glob('summary-*')))}.json"
    argv = [sys.executable, "-m", "tfx_prod.cli", *command]
    if command == ("run",):
        argv += ["--home", str(home), "--summary-json", str(summary),
                 "--serving-dir", os.path.realpath(home / "serving")]
        if data is not None:
            argv += ["--data", str(data)]
    argv += list(args)
    if popen:
        return subprocess.Popen(argv, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True, cwd=cwd,
                                env=env), summary
    result = subprocess.run(argv, capture_output=True, text=True,
                            timeout=timeout, cwd=cwd, env=env)
    print(result.stdout[-4000:], result.stderr[-4000:])
    report = json.loads(summary.read_text()) if summary.exists() else None
    return result, report


def read_text(rows):
    """CSV rows as text, so re-writing them keeps `5` as `5` (pandas would
    turn an int column with blanks into floats, a type anomaly)."""
    return pd.read_csv(TAXI_CSV, dtype=str, keep_default_na=False, nrows=rows)


def component_states(summary) -> dict:
    """{component id: state} of a run's summary JSON."""
    return {c["id"]: c["state"] for c in summary["components"]}


def versions(home, model_name=MODEL_NAME):
    """Version directory names under the home's serving dir, oldest first."""
    model_dir = home / "serving" / model_name
    if not model_dir.exists():
        return []
    return sorted((p.name for p in model_dir.iterdir()), key=lambda n: (
        not n.isdigit(), int(n) if n.isdigit() else 0, n))


def write_span(root, span, frame):
    (root / f"span-{span}").mkdir(parents=True, exist_ok=True)
    frame.to_csv(root / f"span-{span}" / "data.csv", index=False)
    return root


