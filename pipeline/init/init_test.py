"""`tfx-prod init` end to end on real tables: scikit-learn's bundled datasets
(no download), with string features and `NA` cells added, laid out as CSV.

For each table the rows are shuffled and halved: init sees the first half
(the user's CSV); the second half plays tomorrow's span. The schema must
accept both as our CsvExampleGen encodes them (blank and `NA` cells become
present features with zero values) and flag deliberately broken copies.

Beam start-up dominates (~3 s per pipeline), so each table is initialised
once per module and all its encodings are profiled in one pipeline.
"""
import pathlib
import re

import numpy as np
import pandas as pd

import pytest

from pipeline import project
from pipeline.init.testing import NA, run_cli



# --- The tables ------------------------------------------------------------------
def _safe_names(frame: pd.DataFrame) -> pd.DataFrame:
    """sklearn's names ('sepal length (cm)') as a user must rename them:
    TensorFlow input names allow no spaces or parentheses."""
    return frame.rename(columns=lambda n: re.sub(r"[^A-Za-z0-9_]+", "_",
                                                  n).strip("_"))


def _halves(frame: pd.DataFrame, seed: int):
    shuffled = frame.sample(frac=1.0, random_state=seed).reset_index(drop=True)
    middle = len(shuffled) // 2
    return shuffled.iloc[:middle], shuffled.iloc[middle:]


def _with_na(frame: pd.DataFrame, rng, column: str, share: float):
    frame[column] = frame[column].astype(object)
    rows = rng.choice(len(frame), int(len(frame) * share), replace=False)
    frame.loc[rows, column] = NA


def iris():
    """Multiclass, text label; a row id and a constant to drop."""
    from sklearn.datasets import load_iris
    data = load_iris(as_frame=True)
    frame = _safe_names(data.frame.drop(columns="target"))
    frame["species"] = data.target_names[data.target]
    rng = np.random.default_rng(1)
    frame.insert(0, "id", np.arange(1, len(frame) + 1))
    frame["color"] = rng.choice(["red", "green", "blue"], len(frame))
    frame["source"] = "field survey"
    _with_na(frame, rng, "sepal_width_cm", 0.1)
    _with_na(frame, rng, "color", 0.08)
    return frame


def wine():
    """Multiclass, integer class codes 1..3; an INT column with NA."""
    from sklearn.datasets import load_wine
    data = load_wine(as_frame=True)
    frame = _safe_names(data.frame.drop(columns="target"))
    frame["cultivar"] = data.target + 1
    frame["magnesium"] = frame["magnesium"].astype(int)
    rng = np.random.default_rng(2)
    frame["vineyard"] = rng.choice(["hill", "valley", "coast", "plain"],
                                   len(frame), p=[0.4, 0.3, 0.2, 0.1])
    _with_na(frame, rng, "magnesium", 0.1)
    _with_na(frame, rng, "vineyard", 0.05)
    return frame


def diabetes():
    """Regression; `sex` is a small integer domain."""
    from sklearn.datasets import load_diabetes
    data = load_diabetes(as_frame=True, scaled=False)
    frame = _safe_names(data.frame.rename(columns={"target": "progression"}))
    frame["age"] = frame["age"].astype(int)
    frame["sex"] = frame["sex"].astype(int)
    rng = np.random.default_rng(3)
    frame["clinic"] = rng.choice(["a", "b", "c"], len(frame))
    _with_na(frame, rng, "bmi", 0.06)
    _with_na(frame, rng, "clinic", 0.06)
    return frame


def breast_cancer():
    """Binary with two text values (positive must be named); a long-tailed
    column; random patient ids."""
    from sklearn.datasets import load_breast_cancer
    data = load_breast_cancer(as_frame=True)
    frame = _safe_names(data.frame.drop(columns="target"))
    frame["diagnosis"] = data.target_names[data.target]
    rng = np.random.default_rng(4)
    frame.insert(0, "patient_id",
                 rng.choice(np.arange(100_000, 999_999), len(frame), False))
    frame["lab"] = rng.choice(["north", "south"], len(frame))
    _with_na(frame, rng, "mean_texture", 0.05)
    _with_na(frame, rng, "lab", 0.05)
    return frame


TABLES = {
    "iris": (iris, ["--label", "species"]),
    "wine": (wine, ["--label", "cultivar"]),
    "diabetes": (diabetes, ["--label", "progression"]),
    "breast_cancer": (breast_cancer, ["--label", "diagnosis",
                                      "--positive", "malignant"]),
}


# --- CsvExampleGen's encoding, profiled --------------------------------------------
def csv_example_gen_statistics(csvs: dict[str, pathlib.Path],
                               null_values: str) -> dict:
    """name -> statistics of that CSV as our CsvExampleGen encodes it, all in
    one Beam pipeline (encode -> tf.Example -> TFDV, as StatisticsGen)."""
    import apache_beam as beam
    import tensorflow_data_validation as tfdv
    from tfx_bsl.public import tfxio

    from components.csv_example_gen.executor import (NULL_VALUES_KEY,
                                                      csv_to_example)
    outputs = {}
    with beam.Pipeline() as pipeline:
        for name, path in csvs.items():
            outputs[name] = str(path.parent / f"{path.stem}.stats.tfrecord")
            source = tfxio.TFExampleBeamRecord(
                physical_format="inmem", telemetry_descriptors=["tests"])
            _ = (pipeline
                 | f"Encode[{name}]" >> csv_to_example(
                     {"input_base": str(path.parent),
                      NULL_VALUES_KEY: null_values}, path.name)
                 | f"Serialize[{name}]" >> beam.Map(
                     lambda e: e.SerializeToString())
                 | f"Decode[{name}]" >> source.BeamSource()
                 | f"Stats[{name}]" >> tfdv.GenerateStatistics(
                     tfdv.StatsOptions())
                 | f"Write[{name}]" >> tfdv.WriteStatisticsToTFRecord(
                     outputs[name]))
    return {name: tfdv.load_statistics(path) for name, path in outputs.items()}


def anomalies(statistics, schema) -> dict:
    import tensorflow_data_validation as tfdv
    found = tfdv.validate_statistics(statistics, schema)
    # Keys are TFDV's path strings.
    return {".".join(info.path.step) or name: info.description
            for name, info in found.anomaly_info.items()}


class Initialised:
    """One table after `tfx-prod init`: its halves, outputs and project."""

    def __init__(self, root: pathlib.Path, name: str):
        build, flags = TABLES[name]
        self.first, self.second = _halves(build(), seed=len(name))
        self.csv = root / f"{name}.csv"
        self.first.to_csv(self.csv, index=False)
        self.dir = root / name
        self.code, self.out, self.err = run_cli(
            self.dir, "--csv", self.csv, "--null-values", NA, *flags)
        assert self.code == 0, self.err
        self.project = project.load(str(self.dir / "tfx-prod.yaml"))

    @property
    def schema(self):
        import tensorflow_data_validation as tfdv
        return tfdv.load_schema_text(self.project.schema_path)

    def frame_csv(self, frame: pd.DataFrame, name: str) -> pathlib.Path:
        folder = self.dir.parent / f"{self.dir.name}-{name}"
        folder.mkdir()
        frame.to_csv(folder / "data.csv", index=False)
        return folder / "data.csv"


@pytest.fixture(scope="module")
def initialise(tmp_path_factory):
    """name -> that table, initialised once per module."""
    done = {}

    def get(name: str) -> Initialised:
        if name not in done:
            done[name] = Initialised(tmp_path_factory.mktemp(name), name)
        return done[name]
    return get


@pytest.fixture(scope="module", params=sorted(TABLES))
def table(request, initialise):
    """Each table, initialised, with the statistics of its first half (what
    init saw) and second half (unseen), as CsvExampleGen encodes them."""
    done = initialise(request.param)
    done.statistics = csv_example_gen_statistics(
        {"seen": done.dir / "span-1" / "data.csv",
         "unseen": done.frame_csv(done.second, "unseen")}, NA)
    return done


# --- What init wrote ------------------------------------------------------------
EXPECTED = {
    "iris": dict(
        task="multiclass",
        facts={"classes": ("setosa", "versicolor", "virginica")},
        encodings={"sepal_width_cm": "numeric", "color": "categorical"},
        drop={"id", "source"},
        na_types={"sepal_width_cm": "FLOAT", "color": "BYTES"}),
    "wine": dict(
        task="multiclass", facts={"classes": ("1", "2", "3")},
        encodings={"magnesium": "numeric", "vineyard": "categorical"},
        drop=set(), na_types={"magnesium": "INT", "vineyard": "BYTES"}),
    "diabetes": dict(
        task="regression", facts={},
        encodings={"sex": "integer_categorical", "bmi": "numeric",
                   "clinic": "categorical"},
        drop=set(), na_types={"bmi": "FLOAT", "clinic": "BYTES"}),
    "breast_cancer": dict(
        task="binary", facts={"positive": "malignant"},
        encodings={"area_error": "log_numeric", "mean_texture": "numeric",
                   "lab": "categorical"},
        drop={"patient_id"},
        na_types={"mean_texture": "FLOAT", "lab": "BYTES"}),
}


def test_project_file_loads_and_names_the_dataset(table):
    loaded = table.project
    assert loaded.name == table.dir.name.replace("_", "-")
    assert loaded.data_root == str(table.dir)
    assert loaded.schema_path == str(table.dir / "schema" / "schema.pbtxt")
    assert loaded.null_values == (NA,)
    assert loaded.label not in {f.name for f in loaded.features}
    columns = set(table.first.columns) - {loaded.label}
    assert {f.name for f in loaded.features} | set(loaded.drop) == columns


def test_task_and_label_facts_are_inferred(table):
    expected = EXPECTED[table.dir.name]
    assert table.project.task == expected["task"]
    for key, value in expected["facts"].items():
        assert getattr(table.project, key) == value


def test_encodings_and_drops(table):
    expected = EXPECTED[table.dir.name]
    chosen = {f.name: f.encoding for f in table.project.features}
    assert {name: chosen.get(name) for name in expected["encodings"]} == \
        expected["encodings"]
    assert set(table.project.drop) == expected["drop"]


def test_csv_is_copied_byte_for_byte(table):
    copy = table.dir / "span-1" / "data.csv"
    assert copy.read_bytes() == table.csv.read_bytes()
    assert sorted(p.name for p in table.dir.iterdir()) == [
        "schema", "span-1", "tfx-prod.yaml"]


def test_columns_with_null_tokens_get_their_real_type(table):
    """`NA` cells would make these BYTES; blanked at ingestion they are not."""
    from tensorflow_metadata.proto.v0 import schema_pb2
    expected = EXPECTED[table.dir.name]["na_types"]
    assert all((table.first[c].astype(str) == NA).any() for c in expected)
    types = {f.name: schema_pb2.FeatureType.Name(f.type)
             for f in table.schema.feature}
    assert {name: types[name] for name in expected} == expected


def test_schema_has_no_shapes_and_blankable_columns_allow_zero_values(table):
    for feature in table.schema.feature:
        assert not feature.HasField("shape"), feature.name
        has_blanks = (table.first[feature.name].astype(str) == NA).any()
        if has_blanks:
            assert not feature.value_count.min, feature.name


def test_schema_accepts_the_data_it_was_inferred_from(table):
    assert anomalies(table.statistics["seen"], table.schema) == {}


def test_schema_accepts_an_unseen_sample_of_the_same_table(table):
    assert anomalies(table.statistics["unseen"], table.schema) == {}


def test_output_explains_every_column_and_prints_the_next_command(table):
    lines = table.out.splitlines()
    for column in table.first.columns:
        line = next(l for l in lines if l.strip().startswith(column + " "))
        assert any(kind in line for kind in ("INT", "FLOAT", "STRING"))
        assert ": " in line     # the reason
    assert (f"tfx-prod run --config {table.dir / 'tfx-prod.yaml'}"
            in table.out)


def test_gates_follow_the_data(table):
    gates = table.project.gates
    label = table.first[table.project.label]
    if table.project.task == "regression":
        std = label.astype(float).std(ddof=0)
        assert std * 0.85 < gates["max_rmse"] < std * 0.95
        assert gates["max_rmse_increase"] > 0
    else:
        majority = label.value_counts(normalize=True).max()
        assert majority - 0.03 <= gates["min_accuracy"] < majority
        assert 0.5 < gates["min_auc"] < 1


# --- Broken copies of tomorrow's span ------------------------------------------------
@pytest.fixture(scope="module")
def broken(initialise):
    """Iris's unseen half, broken one way per copy; column -> anomalies."""
    done = initialise("iris")
    good = done.second.reset_index(drop=True)
    copies = {}
    category = good.copy()
    category.loc[category.index[:10], "color"] = "purple"
    copies["new_category"] = category
    text = good.copy()
    text["sepal_length_cm"] = text["sepal_length_cm"].astype(object)
    text.loc[text.index[:5], "sepal_length_cm"] = "n/a"
    copies["text_in_numeric"] = text
    copies["missing_column"] = good.drop(columns="petal_width_cm")
    scale = good.copy()
    scale.loc[scale.index[:2], "petal_length_cm"] *= 1000
    copies["unit_error"] = scale
    label = good.copy()
    label.loc[label.index[:3], "species"] = NA
    copies["blank_label"] = label
    statistics = csv_example_gen_statistics(
        {name: done.frame_csv(frame, name) for name, frame in copies.items()},
        NA)
    return {name: anomalies(stats, done.schema)
            for name, stats in statistics.items()}


def test_new_category_in_a_domain_checked_column_is_flagged(broken):
    assert set(broken["new_category"]) == {"color"}
    assert "purple" in broken["new_category"]["color"]


def test_text_in_a_numeric_column_is_flagged(broken):
    assert set(broken["text_in_numeric"]) == {"sepal_length_cm"}


def test_missing_column_is_flagged(broken):
    assert set(broken["missing_column"]) == {"petal_width_cm"}


def test_value_far_outside_the_range_is_flagged(broken):
    assert set(broken["unit_error"]) == {"petal_length_cm"}


def test_blank_label_is_flagged(broken):
    assert set(broken["blank_label"]) == {"species"}
