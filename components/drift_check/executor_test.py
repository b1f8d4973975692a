"""DriftCheck's executor on real TFDV statistics of the taxi span.

Two random halves of the span are the no-drift case; the second half with
fares x1.5 and two extra miles per trip is the drifted one. Artifacts live
on TF's in-memory ram:// filesystem, as they would on gs://.
"""
import json

import pandas as pd
import pytest
import tensorflow as tf
import tensorflow_data_validation as tfdv
from tfx.types import artifact_utils, standard_artifacts

from components.drift_check import drift
from components.drift_check.executor import (BASELINE_VERSION, DRIFTED,
                                             DriftError, Executor, read_report)
from components.served_baseline import executor as served_baseline
from serving import layout
from tests.helpers import TAXI_CSV

NUMERIC = ("fare", "trip_miles", "trip_seconds", "tips")
CATEGORICAL = ("payment_type", "company")


@pytest.fixture(scope="module")
def halves():
    frame = pd.read_csv(TAXI_CSV).sample(frac=1, random_state=0)
    first, second = frame.iloc[:7000], frame.iloc[7000:].copy()
    shifted = second.copy()
    shifted["fare"] *= 1.5
    shifted["trip_miles"] += 2
    stats = {name: tfdv.generate_statistics_from_dataframe(part)
             for name, part in (("first", first), ("second", second),
                                ("shifted", shifted))}
    for proto in stats.values():
        proto.datasets[0].name = "train"
    schema = tfdv.infer_schema(stats["first"])
    for name in NUMERIC:
        tfdv.get_feature(schema, name).drift_comparator \
            .jensen_shannon_divergence.threshold = 0.1
    for name in CATEGORICAL:
        tfdv.get_feature(schema, name).drift_comparator \
            .infinity_norm.threshold = 0.2
    return stats, schema


def _write(path, data, mode="wb"):
    tf.io.gfile.makedirs(path.rsplit("/", 1)[0])
    with tf.io.gfile.GFile(path, mode) as f:
        f.write(data)


def _run(root, stats, schema, current, served_version=7, gate=False):
    statistics = standard_artifacts.ExampleStatistics()
    statistics.uri = f"{root}/statistics"
    statistics.split_names = artifact_utils.encode_split_names(["train"])
    _write(f"{statistics.uri}/Split-train/FeatureStats.pb",
           stats[current].SerializeToString())
    schema_artifact = standard_artifacts.Schema()
    schema_artifact.uri = f"{root}/schema"
    _write(f"{schema_artifact.uri}/schema.pbtxt", str(schema), "w")
    baseline = standard_artifacts.Model()
    baseline.uri = f"{root}/baseline"
    tf.io.gfile.makedirs(baseline.uri)
    baseline.set_int_custom_property(served_baseline.SERVED_VERSION,
                                     served_version)
    if served_version:
        _write(layout.join(baseline.uri, "Format-Serving",
                           layout.STATISTICS_FILE),
               stats["first"].SerializeToString())
    output = standard_artifacts.ExampleAnomalies()
    output.uri = f"{root}/drift"
    tf.io.gfile.makedirs(output.uri)
    Executor().Do({"statistics": [statistics], "schema": [schema_artifact],
                   "baseline": [baseline]}, {"drift": [output]},
                  {"gate": int(gate)})
    return output


def test_two_halves_of_one_span_do_not_drift(halves):
    stats, schema = halves
    output = _run("ram://drift/same", stats, schema, "second")
    record = read_report(output.uri)
    measured = {f["feature"]: f for f in record["features"]}
    assert set(measured) == set(NUMERIC) | set(CATEGORICAL)
    assert record["drifted"] == [] and output.get_string_custom_property(
        DRIFTED) == ""
    assert max(f["value"] for f in measured.values()) < 0.05
    assert output.get_int_custom_property(BASELINE_VERSION) == 7


def test_shifted_features_drift_and_are_named(halves):
    stats, schema = halves
    output = _run("ram://drift/shifted", stats, schema, "shifted")
    record = read_report(output.uri)
    assert record["drifted"] == ["fare", "trip_miles"]
    assert output.get_string_custom_property(DRIFTED) == "fare,trip_miles"
    [miles] = [f for f in record["features"] if f["feature"] == "trip_miles"]
    assert miles["measure"] == drift.JENSEN_SHANNON and miles["value"] > 0.1


def test_gate_stops_the_run_naming_feature_value_and_threshold(halves):
    stats, schema = halves
    with pytest.raises(DriftError, match=r"trip_miles Jensen-Shannon drift "
                                         r"0\.\d+ > 0\.1"):
        _run("ram://drift/gated", stats, schema, "shifted", gate=True)
    # Gate on, no drift: the run goes on.
    _run("ram://drift/gated-clean", stats, schema, "second", gate=True)


def test_nothing_served_records_an_empty_comparison(halves):
    stats, schema = halves
    output = _run("ram://drift/first", stats, schema, "shifted",
                  served_version=0, gate=True)
    assert json.loads(json.dumps(read_report(output.uri))) == {
        "baseline_version": 0, "features": [], "drifted": []}


def test_tfdvs_own_numeric_estimate_is_what_we_replace(halves):
    """Why drift.py computes Jensen-Shannon itself (its docstring's numbers)."""
    stats, schema = halves
    anomalies = tfdv.validate_statistics(stats["second"], schema,
                                         previous_statistics=stats["first"])
    tfdv_value = {i.path.step[0]: i.drift_measurements[0].value
                  for i in anomalies.drift_skew_info}
    ours = {d.feature: d.value for d in drift.measure(
        stats["second"], stats["first"], schema)}
    assert tfdv_value["trip_miles"] > 0.5 > 0.01 > ours["trip_miles"]
