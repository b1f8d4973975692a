"""Bring your own data, end to end, with no code edits: `tfx-prod init` then
`tfx-prod run --config` on tables nobody tuned for (scikit-learn's bundled
datasets, which ship inside the installed package), made messier the way
real exports are: string features and `NA` cells.

Both datasets share one home, as a user's projects would: the second must
not see the first one's models.
"""
import json
import math
import os
import sys

import numpy as np
import pandas as pd
import pytest

from serving import layout, testutil
from tests.helpers import tfx_prod

pytestmark = [pytest.mark.e2e, pytest.mark.xdist_group("byod")]
RNG_SEED = 3


def _with_na(frame: pd.DataFrame, columns, fraction=0.08) -> pd.DataFrame:
    """Blank out a fraction of `columns` with the token NA (as R exports do)."""
    rng = np.random.default_rng(RNG_SEED)
    frame = frame.astype(object)
    for column in columns:
        rows = rng.random(len(frame)) < fraction
        frame.loc[rows, column] = "NA"
    return frame


def iris_csv(path) -> str:
    from sklearn.datasets import load_iris
    data = load_iris(as_frame=True)
    frame = data.frame.rename(columns=lambda c: c.replace(" (cm)", "")
                              .replace(" ", "_"))
    frame["species"] = [data.target_names[t] for t in data.target]
    frame = frame.drop(columns=["target"])
    # A string feature with real signal, and blanks in two columns.
    frame["petal_shape"] = np.where(
        frame["petal_width"] / frame["petal_length"] > 0.3, "round", "long")
    frame = _with_na(frame, ["sepal_width", "petal_shape"])
    frame.sample(frac=1.0, random_state=RNG_SEED).to_csv(path, index=False)
    return str(path)


def diabetes_csv(path) -> str:
    from sklearn.datasets import load_diabetes
    data = load_diabetes(as_frame=True, scaled=False)
    frame = data.frame.rename(columns={"target": "progression"})
    frame["sex"] = np.where(frame["sex"] > 1.5, "F", "M")
    frame = _with_na(frame, ["bmi", "sex"])
    frame.to_csv(path, index=False)
    return str(path)


def _init(tmp_path, name, csv, label, *flags):
    project = tmp_path / name
    result, _ = tfx_prod(str(project), "--csv", csv, "--label", label,
                         "--null-values", "NA", *flags, command=("init",),
                         home=tmp_path)
    assert result.returncode == 0, result.stderr
    assert (project / "tfx-prod.yaml").exists()
    return project


@pytest.fixture(scope="module")
def shared_home(tmp_path_factory):
    return tmp_path_factory.mktemp("byod_home")


def _served(home, model) -> tuple:
    [version] = [v for v in os.listdir(home / "serving" / model)
                 if v.isdigit()]
    return version, home / "serving" / model / version


def _predict(version_dir, rows: pd.DataFrame) -> dict:
    """The pushed model's serving_default on raw rows, NA as the markers."""
    import tensorflow as tf
    loaded = tf.saved_model.load(str(version_dir))
    signature = loaded.signatures["serving_default"]
    markers = layout.read_missing_values(str(version_dir))
    inputs = {}
    for name, spec in signature.structured_input_signature[1].items():
        column = rows[name].replace("NA", markers.get(name, np.nan))
        if spec.dtype == tf.string:
            inputs[name] = tf.constant(column.astype(str).to_numpy())
        else:
            inputs[name] = tf.constant(column.astype(float).to_numpy(),
                                       spec.dtype)
    return {k: v.numpy() for k, v in signature(**inputs).items()}


def test_multiclass_table_runs_end_to_end_with_class_names(tmp_path,
                                                           shared_home):
    csv = iris_csv(tmp_path / "iris.csv")
    project = _init(tmp_path, "iris", csv, "species")
    config = (project / "tfx-prod.yaml").read_text()
    assert "task: multiclass" in config
    result, summary = tfx_prod("--config", str(project / "tfx-prod.yaml"),
                               "--train-steps", "200", home=shared_home)
    assert result.returncode == 0, result.stderr
    assert summary["task"] == "multiclass" and summary["blessed"] is True
    overall = summary["eval"]["overall"]
    assert overall["sparse_categorical_accuracy"] > 0.8
    assert overall["macro_auc"] > 0.9
    assert summary["quantization"]["task"] == "multiclass"

    version, version_dir = _served(shared_home, "iris")
    rows = pd.read_csv(csv, dtype=str, keep_default_na=False)
    outputs = _predict(version_dir, rows)
    names = [c.decode() for c in outputs["classes"][0]]
    assert sorted(names) == ["setosa", "versicolor", "virginica"]
    predicted = [c.decode() for c in outputs["predicted_class"]]
    assert np.mean(np.array(predicted) == rows["species"].to_numpy()) > 0.8
    assert np.allclose(outputs["probabilities"].sum(axis=1), 1.0, atol=1e-5)
    # TF Serving's classify API has what it needs.
    import tensorflow as tf
    assert "classify" in tf.saved_model.load(str(version_dir)).signatures

    # `tfx-prod serve --config` finds it by the project's name and answers
    # a raw JSON row with the class names, as the SavedModel does.
    row = rows[(rows != "NA").all(axis=1)].iloc[:1]
    instance = {name: (value if name == "petal_shape" else float(value))
                for name, value in row.drop(columns="species").iloc[0].items()}
    with testutil.ServerProcess(
            "--config", str(project / "tfx-prod.yaml"), "--home",
            str(shared_home),
            command=(sys.executable, "-m", "tfx_prod.cli", "serve")) as server:
        status, body = testutil.call_rest(
            f"{server.url}/v1/models/iris:predict",
            json.dumps({"instances": [instance]}).encode())
    assert status == 200, body
    [served] = json.loads(body)["predictions"]
    direct = _predict(version_dir, row)
    assert served["predicted_class"] == direct["predicted_class"][0].decode()
    assert served["classes"] == [c.decode() for c in direct["classes"][0]]
    np.testing.assert_allclose(served["probabilities"],
                               direct["probabilities"][0], atol=1e-6)


def test_regression_table_runs_end_to_end_in_the_same_home(tmp_path,
                                                           shared_home):
    csv = diabetes_csv(tmp_path / "diabetes.csv")
    project = _init(tmp_path, "diabetes", csv, "progression")
    assert "task: regression" in (project / "tfx-prod.yaml").read_text()
    result, summary = tfx_prod("--config", str(project / "tfx-prod.yaml"),
                               "--train-steps", "300", home=shared_home)
    assert result.returncode == 0, result.stderr
    assert summary["task"] == "regression" and summary["blessed"] is True
    # Its own pipeline and model: the iris model (if pushed first in this
    # home) is never its baseline.
    assert summary["baseline_version"] is None
    assert "nothing served yet" in summary["blessing_reason"]
    rmse = summary["eval"]["overall"]["root_mean_squared_error"]

    version, version_dir = _served(shared_home, "diabetes")
    lineage = layout.read_lineage(str(version_dir))
    assert lineage["pipeline_name"] == "tfx-prod-diabetes"
    rows = pd.read_csv(csv, dtype=str, keep_default_na=False)
    predictions = _predict(version_dir, rows)["predictions"].reshape(-1)
    truth = rows["progression"].astype(float).to_numpy()
    model_rmse = math.sqrt(np.mean((predictions - truth) ** 2))
    mean_rmse = float(np.std(truth))
    # Better than predicting the mean, on every row and (the Evaluator's
    # figure) on the eval split alone.
    assert model_rmse < 0.9 * mean_rmse
    assert rmse < mean_rmse
    assert json.loads(json.dumps(summary["quantization"]))["task"] == (
        "regression")
