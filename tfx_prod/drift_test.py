"""`tfx-prod drift --serving-log`: rows written through the server's
PredictionLog, with fares deliberately shifted, against a pushed version
whose training statistics TFDV computed from the unshifted distribution."""
import json

import pytest
from google.protobuf import text_format
from tensorflow_metadata.proto.v0 import schema_pb2

from serving import testutil
from serving.prediction_log import PredictionLog
from tfx_prod import cli

COMPARATORS = {"fare": "jensen_shannon_divergence",
               "trip_start_hour": "jensen_shannon_divergence",
               "payment_type": "infinity_norm", "company": "infinity_norm"}


def _schema_with_comparators() -> str:
    schema = text_format.Parse(testutil.TAXI_LIKE_SCHEMA, schema_pb2.Schema())
    for feature in schema.feature:
        if feature.name in COMPARATORS:
            getattr(feature.drift_comparator,
                    COMPARATORS[feature.name]).threshold = (
                0.1 if COMPARATORS[feature.name].startswith("jensen")
                else 0.2)
    return text_format.MessageToString(schema)


@pytest.fixture(scope="module")
def model_base(tmp_path_factory):
    base = tmp_path_factory.mktemp("drift_cli") / "taxi_like"
    statistics = testutil.statistics_for(testutil.taxi_like_rows(2000, seed=1))
    for version in (1, 2):
        module, signatures = testutil.taxi_like()
        testutil.write_version(str(base), version, module, signatures,
                               schema=_schema_with_comparators(),
                               statistics=statistics)
    # A newer version still being copied (no manifest) is not a candidate.
    module, signatures = testutil.taxi_like()
    testutil.write_version(str(base), 3, module, signatures, manifest=False)
    return base


def _log(directory, rows, model_name="taxi_like", fare_factor=1.0):
    with PredictionLog(str(directory)) as log:
        for i, row in enumerate(rows):
            log.append({"request_id": f"r{i}", "row": 0, "time": 0.0,
                        "model_name": model_name, "version": 2,
                        "features": {**row, "fare": row["fare"] * fare_factor},
                        "score": 0.5})


def _drift(capsys, *flags):
    code = cli.main(["drift", *flags])
    out = capsys.readouterr()
    return code, out.out, out.err


def test_shifted_feature_is_over_threshold_and_the_others_are_not(
        model_base, tmp_path, capsys):
    _log(tmp_path, testutil.taxi_like_rows(1500, seed=7), fare_factor=2.5)
    code, out, err = _drift(capsys, "--serving-log", str(tmp_path),
                            "--model-base", str(model_base), "--json")
    assert code == 0, err
    record = json.loads(out)
    by_feature = {f["feature"]: f for f in record["features"]}
    assert set(by_feature) == set(COMPARATORS)
    assert record["drifted"] == ["fare"]
    assert by_feature["fare"]["value"] > by_feature["fare"]["threshold"]
    for name in ("trip_start_hour", "payment_type", "company"):
        assert not by_feature[name]["drifted"], by_feature[name]
    assert (record["baseline_version"], record["rows"]) == (2, 1500)


def test_unshifted_traffic_has_no_drift_and_prints_one_line_a_feature(
        model_base, tmp_path, capsys):
    _log(tmp_path, testutil.taxi_like_rows(1500, seed=8))
    code, out, _ = _drift(capsys, "--serving-log", str(tmp_path),
                          "--version-dir", str(model_base / "1"))
    assert code == 0
    lines = out.splitlines()
    assert lines[0] == f"serving log {tmp_path} (1500 rows):"
    assert lines[1] == ("Drift vs served version 1: 0 of 4 features above "
                        "threshold")
    assert sorted(line.split()[0] for line in lines[2:]) == sorted(COMPARATORS)
    assert "DRIFT" not in out


def test_against_picks_an_older_version(model_base, tmp_path, capsys):
    _log(tmp_path, testutil.taxi_like_rows(300, seed=9))
    code, out, _ = _drift(capsys, "--serving-log", str(tmp_path),
                          "--model-base", str(model_base), "--against", "1",
                          "--json")
    assert code == 0 and json.loads(out)["baseline_version"] == 1
    code, _, err = _drift(capsys, "--serving-log", str(tmp_path),
                          "--model-base", str(model_base), "--against", "3")
    assert code == 2 and "complete: 1, 2" in err


def test_a_log_of_several_models_needs_one_picked(model_base, tmp_path,
                                                  capsys):
    rows = testutil.taxi_like_rows(200, seed=9)
    _log(tmp_path, rows)
    _log(tmp_path, rows, model_name="other")
    code, _, err = _drift(capsys, "--serving-log", str(tmp_path),
                          "--model-base", str(model_base))
    assert code == 2 and "--served-model NAME" in err and "other: 200" in err
    code, out, _ = _drift(capsys, "--serving-log", str(tmp_path),
                          "--model-base", str(model_base), "--served-model",
                          "taxi_like", "--max-rows", "150", "--json")
    assert code == 0 and json.loads(out)["rows"] == 150


@pytest.mark.parametrize("flags,message", [
    (["--model-base", "x"], "--model-base: only with --serving-log"),
    (["--serving-log", "{log}", "--max-rows", "0"], "--max-rows must be"),
    (["--serving-log", "{log}/absent", "--model-base", "{base}"],
     "--prediction_log_dir"),
    (["--serving-log", "{log}", "--model-base", "{log}"],
     "no complete pushed version"),
    (["--serving-log", "{log}", "--version-dir", "{base}/3"],
     "not a complete pushed version"),
])
def test_bad_invocations_say_what_to_do(model_base, tmp_path, capsys, flags,
                                        message):
    _log(tmp_path, testutil.taxi_like_rows(10, seed=9))
    flags = [f.format(log=tmp_path, base=model_base) for f in flags]
    code, _, err = _drift(capsys, *flags)
    assert code == 2 and message in err
