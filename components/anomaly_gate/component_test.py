"""AnomalyGate on real TFDV statistics and real ExampleValidator output."""
import os

import ml_metadata as mlmd
import pytest
import tensorflow_data_validation as tfdv
from ml_metadata.proto.metadata_store_pb2 import Execution
from tfx import v1 as tfx
from tfx.components.example_validator import executor as validator_executor
from tfx.types import (artifact_utils, standard_artifacts,
                       standard_component_specs)
from tfx.dsl.component.experimental.decorators import component
from tfx.utils import io_utils

from components.anomaly_gate import (AnomalyGate, DataAnomaliesError,
                                     describe_anomalies)

HEADER = "fare,trip_miles,payment_type,company\n"
GOOD_ROWS = ["12.5,1.2,Cash,A", "7.0,0.5,Credit Card,B", "30.25,10.0,Cash,A",
             "5.5,0.3,Credit Card,C"]
# `fare` gets a string, `trip_miles` is dropped, `payment_type` a new value.
SCHEMA_IN_USE = "/srv/project/my_schema.pbtxt"
BAD_CSV = ("fare,payment_type,company\n"
           "12.5,Cash,A\nabc,Bitcoin,B\n30.25,Cash,A\n")


def _write(path, text):
    with open(path, "w") as f:
        f.write(text)
    return str(path)


@pytest.fixture(scope="module")
def tfdv_outputs(tmp_path_factory):
    """Real statistics of a good and a bad CSV; schema inferred from good."""
    tmp = tmp_path_factory.mktemp("csv")
    good = tfdv.generate_statistics_from_csv(
        _write(tmp / "good.csv", HEADER + "\n".join(GOOD_ROWS) + "\n"))
    bad = tfdv.generate_statistics_from_csv(_write(tmp / "bad.csv", BAD_CSV))
    return {"good": good, "bad": bad, "schema": tfdv.infer_schema(good)}


def _validate(tmp_path, stats_by_split, schema):
    """Run the real ExampleValidator executor; return its ExampleAnomalies."""
    stats = standard_artifacts.ExampleStatistics()
    stats.uri = str(tmp_path / "stats")
    stats.split_names = artifact_utils.encode_split_names(list(stats_by_split))
    for split, proto in stats_by_split.items():
        io_utils.write_bytes_file(
            os.path.join(stats.uri, f"Split-{split}", "FeatureStats.pb"),
            proto.SerializeToString())
    schema_artifact = standard_artifacts.Schema()
    schema_artifact.uri = str(tmp_path / "schema")
    os.makedirs(schema_artifact.uri)
    tfdv.write_schema_text(schema,
                           os.path.join(schema_artifact.uri, "schema.pbtxt"))
    anomalies = standard_artifacts.ExampleAnomalies()
    anomalies.uri = str(tmp_path / "anomalies")
    validator_executor.Executor().Do(
        {standard_component_specs.STATISTICS_KEY: [stats],
         standard_component_specs.SCHEMA_KEY: [schema_artifact]},
        {standard_component_specs.ANOMALIES_KEY: [anomalies]},
        {standard_component_specs.EXCLUDE_SPLITS_KEY: "[]"})
    return anomalies


def test_bad_split_stops_the_run_naming_each_feature(tmp_path, tfdv_outputs):
    anomalies = _validate(
        tmp_path, {"train": tfdv_outputs["good"], "eval": tfdv_outputs["bad"]},
        tfdv_outputs["schema"])
    assert os.path.exists(
        os.path.join(anomalies.uri, "Split-eval", "SchemaDiff.pb"))

    with pytest.raises(DataAnomaliesError) as raised:
        AnomalyGate.test_call(anomalies=anomalies, schema_path=SCHEMA_IN_USE)

    message = str(raised.value)
    assert message.startswith("Data validation found 3 anomalies")
    assert "eval/fare: Unexpected data type — Expected data of type: FLOAT" \
        in message
    assert "eval/trip_miles: Column dropped — Column is completely missing" \
        in message
    assert "eval/payment_type: Unexpected string values" in message
    assert "Bitcoin" in message
    assert "train/" not in message
    assert SCHEMA_IN_USE in message
    assert "\n\n" not in message  # one paragraph


def test_describe_anomalies_finds_splits_from_the_uri(tmp_path, tfdv_outputs):
    anomalies = _validate(tmp_path, {"eval": tfdv_outputs["bad"]},
                          tfdv_outputs["schema"])
    lines = describe_anomalies(anomalies.uri)
    assert [line.split(":")[0] for line in lines] == [
        "eval/fare", "eval/payment_type", "eval/trip_miles"]


def test_clean_data_passes_with_zero_anomalies(tmp_path, tfdv_outputs):
    good = tfdv_outputs["good"]
    anomalies = _validate(tmp_path, {"train": good, "eval": good},
                          tfdv_outputs["schema"])
    assert AnomalyGate.test_call(anomalies=anomalies, schema_path=SCHEMA_IN_USE) == {"anomaly_count": 0}

    # Through the component's own executor: the Integer output is written.
    count = standard_artifacts.Integer()
    count.uri = str(tmp_path / "anomaly_count")
    executor = AnomalyGate.EXECUTOR_SPEC.executor_class()
    executor.Do({"anomalies": [anomalies]}, {"anomaly_count": [count]},
                {"schema_path": SCHEMA_IN_USE})
    assert count.read() == 0


def test_missing_split_file_is_an_error_not_a_pass(tmp_path, tfdv_outputs):
    anomalies = _validate(tmp_path, {"train": tfdv_outputs["good"]},
                          tfdv_outputs["schema"])
    anomalies.split_names = artifact_utils.encode_split_names(
        ["train", "eval"])
    with pytest.raises(FileNotFoundError, match="split 'eval'"):
        AnomalyGate.test_call(anomalies=anomalies, schema_path=SCHEMA_IN_USE)
    with pytest.raises(FileNotFoundError, match="does not exist"):
        describe_anomalies(str(tmp_path / "nowhere"))


@component
def Downstream(anomaly_count: int) -> None:
    """Stands in for Transform: must never run after a failed gate."""
    del anomaly_count


def _run_gate_pipeline(root, anomalies):
    """Importer(anomalies) -> AnomalyGate -> Downstream on LocalDagRunner."""
    importer = tfx.dsl.Importer(
        source_uri=anomalies.uri,
        artifact_type=standard_artifacts.ExampleAnomalies,
        properties={"split_names": anomalies.split_names}).with_id("importer")
    gate = AnomalyGate(anomalies=importer.outputs["result"],
                       schema_path=SCHEMA_IN_USE)
    downstream = Downstream(anomaly_count=gate.outputs["anomaly_count"])
    db = os.path.join(root, "metadata.sqlite")
    config = tfx.orchestration.metadata.sqlite_metadata_connection_config(db)
    tfx.orchestration.LocalDagRunner().run(tfx.dsl.Pipeline(
        pipeline_name="anomaly-gate-test", pipeline_root=root,
        components=[importer, gate, downstream], enable_cache=True,
        metadata_connection_config=config))
    store = mlmd.MetadataStore(config)
    return {t.name: [e.last_known_state
                     for e in store.get_executions_by_type(t.name)]
            for t in store.get_execution_types()}


def test_local_dag_runner_stops_before_downstream(tmp_path, tfdv_outputs):
    bad = _validate(tmp_path / "bad", {"eval": tfdv_outputs["bad"]},
                    tfdv_outputs["schema"])
    with pytest.raises(DataAnomaliesError, match="eval/fare"):
        _run_gate_pipeline(str(tmp_path / "bad_root"), bad)
    store = mlmd.MetadataStore(
        tfx.orchestration.metadata.sqlite_metadata_connection_config(
            str(tmp_path / "bad_root" / "metadata.sqlite")))
    states = {t.name: [e.last_known_state
                       for e in store.get_executions_by_type(t.name)]
              for t in store.get_execution_types()}
    # The run got as far as the gate, the gate failed, nothing ran after it.
    assert next(v for k, v in states.items() if "AnomalyGate" in k) == [
        Execution.FAILED]
    assert not [v for k, v in states.items() if "Downstream" in k and v]

    clean = _validate(tmp_path / "clean", {"eval": tfdv_outputs["good"]},
                      tfdv_outputs["schema"])
    root = str(tmp_path / "clean_root")
    _run_gate_pipeline(root, clean)
    states = _run_gate_pipeline(root, clean)
    gate_states = next(v for k, v in states.items() if "AnomalyGate" in k)
    assert gate_states == [Execution.COMPLETE, Execution.CACHED]
    # The same lookup finds Downstream when the gate passes: the check above
    # is not vacuous.
    downstream = next(v for k, v in states.items() if "Downstream" in k)
    assert downstream == [Execution.COMPLETE, Execution.CACHED]
