"""Synthetic spans look like span-1 to the pipeline and to the statistics.

Realism is checked against the real sample itself: same columns and CSV
dialect, no anomalies under the curated schema, and label rates, fare
quantiles, missing rates and correlations close to the real ones.
"""
import argparse
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import tensorflow_data_validation as tfdv

from modules.taxi import features
from tfx_prod import synth

REPO = Path(__file__).resolve().parent.parent
SCHEMA_PATH = REPO / "data" / "taxi" / "schema" / "schema.pbtxt"
SPAN_1_CSV = REPO / "data" / "taxi" / "span-1" / "data.csv"
SAMPLE_ROWS = 30_000
FARE_QUANTILES = [0.1, 0.25, 0.5, 0.75, 0.9, 0.95, 0.99]


@pytest.fixture(scope="module")
def real():
    return pd.read_csv(SPAN_1_CSV)


@pytest.fixture(scope="module")
def synthetic():
    return synth.synthesize(SAMPLE_ROWS, seed=7)


def run_cli(*argv: str) -> int:
    parser = argparse.ArgumentParser()
    synth.add_arguments(parser)
    return synth.main(parser.parse_args(list(argv)))


def label_rate_by_payment(frame: pd.DataFrame) -> pd.Series:
    return synth.big_tipper(frame).groupby(frame["payment_type"]).mean()


def test_written_csv_has_the_real_header_and_dialect(tmp_path):
    path = synth.write_span(synth.synthesize(2_000, seed=1), tmp_path, 2)
    assert path == tmp_path / "span-2" / "data.csv"
    assert path.read_text().splitlines()[0] == \
        SPAN_1_CSV.read_text().splitlines()[0]
    text = pd.read_csv(path, dtype=str, keep_default_na=False)
    for column in text.columns:
        cells = text[column][text[column] != ""]
        if features.raw_dtype(column) == "int":
            assert cells.str.fullmatch(r"-?\d+").all(), column
        elif features.raw_dtype(column) == "float":
            assert cells.str.contains(".", regex=False).all(), column
    assert (text["company"] == "").any()  # blanks stay blank


def test_drift_0_span_has_no_anomalies(tmp_path):
    path = synth.write_span(synth.synthesize(5_000, seed=3), tmp_path, 2)
    stats = tfdv.generate_statistics_from_csv(str(path))
    schema = tfdv.load_schema_text(str(SCHEMA_PATH))
    found = tfdv.validate_statistics(stats, schema)
    assert {k: v.description for k, v in found.anomaly_info.items()} == {}


def test_label_rate_matches_real_overall_and_per_payment_type(real, synthetic):
    assert synth.big_tipper_rate(synthetic) == pytest.approx(
        synth.big_tipper_rate(real), abs=0.02)
    real_rates = label_rate_by_payment(real)
    synthetic_rates = label_rate_by_payment(synthetic)
    for payment in ["Cash", "Credit Card"]:
        assert synthetic_rates[payment] == pytest.approx(
            real_rates[payment], abs=0.03), payment


def test_fare_quantiles_within_15_percent(real, synthetic):
    real_q = real["fare"].quantile(FARE_QUANTILES)
    synthetic_q = synthetic["fare"].quantile(FARE_QUANTILES)
    relative = (synthetic_q - real_q).abs() / real_q
    assert (relative < 0.15).all(), relative.to_dict()


def test_missing_and_zero_rates_match_real(real, synthetic):
    missing = (synthetic.isna().mean() - real.isna().mean()).abs()
    assert (missing < 0.01).all(), missing.to_dict()
    measures = ["fare", "trip_miles", "trip_seconds"]
    zeros = ((synthetic[measures] == 0).mean() - (real[measures] == 0).mean())
    assert (zeros.abs() < 0.01).all(), zeros.to_dict()


def test_trip_measures_keep_their_correlation(real, synthetic):
    measures = ["trip_miles", "trip_seconds", "fare"]

    def log_correlation(frame):
        positive = frame[measures].dropna()
        positive = positive[(positive > 0).all(axis=1)].astype(float)
        return np.log(positive).corr().to_numpy()

    difference = log_correlation(synthetic) - log_correlation(real)
    assert np.abs(difference).max() < 0.05


def test_timestamp_agrees_with_month_day_hour(synthetic):
    start = pd.to_datetime(synthetic["trip_start_timestamp"].astype(np.int64),
                           unit="s")
    assert (start.dt.month == synthetic["trip_start_month"]).all()
    assert (start.dt.hour == synthetic["trip_start_hour"]).all()
    sunday_is_1 = (start.dt.dayofweek + 1) % 7 + 1
    assert (sunday_is_1 == synthetic["trip_start_day"]).all()


def test_coordinates_are_the_community_area_centroid(real, synthetic):
    centroid = real.groupby("pickup_community_area")["pickup_latitude"].mean()
    rows = synthetic.dropna(subset=["pickup_community_area"])
    assert len(rows) > 0.9 * len(synthetic)  # not vacuous
    expected = rows["pickup_community_area"].astype(float).map(centroid)
    assert expected.notna().all()
    assert np.allclose(rows["pickup_latitude"], expected, atol=1e-8)


def test_drift_shifts_fares_payment_mix_and_hours(synthetic):
    drifted = synth.synthesize(SAMPLE_ROWS, seed=7, drift=0.5)
    assert drifted["fare"].mean() > 1.4 * synthetic["fare"].mean()
    cash_share = (synthetic["payment_type"] == "Cash").mean()
    drifted_cash_share = (drifted["payment_type"] == "Cash").mean()
    assert drifted_cash_share == pytest.approx(cash_share / 2, abs=0.02)
    assert (synth.big_tipper_rate(drifted)
            > synth.big_tipper_rate(synthetic) + 0.15)
    hours = [frame["trip_start_hour"].value_counts(normalize=True)
             .reindex(range(24), fill_value=0)
             for frame in (synthetic, drifted)]
    assert 0.5 * (hours[0] - hours[1]).abs().sum() > 0.1  # total variation


def test_same_seed_same_rows_other_seed_other_rows():
    first = synth.synthesize(3_000, seed=11, drift=0.3)
    again = synth.synthesize(3_000, seed=11, drift=0.3)
    pd.testing.assert_frame_equal(first, again)
    assert not first.equals(synth.synthesize(3_000, seed=12, drift=0.3))


def test_cli_refuses_to_overwrite_a_span_without_force(tmp_path, capsys):
    assert run_cli("--rows", "100", "--span", "3",
                   "--data-root", str(tmp_path)) == 0
    path = tmp_path / "span-3" / "data.csv"
    before = path.read_bytes()
    capsys.readouterr()

    assert run_cli("--rows", "100", "--span", "3", "--seed", "1",
                   "--data-root", str(tmp_path)) == 2
    assert "--force" in capsys.readouterr().err
    assert path.read_bytes() == before

    # Even with --force, a run that cannot start leaves the span alone.
    assert run_cli("--rows", "100", "--span", "3", "--force",
                   "--data-root", str(tmp_path),
                   "--reference-csv", str(tmp_path / "missing.csv")) == 2
    assert "reference CSV not found" in capsys.readouterr().err
    assert path.read_bytes() == before

    assert run_cli("--rows", "100", "--span", "3", "--seed", "1",
                   "--data-root", str(tmp_path), "--force") == 0
    assert path.read_bytes() != before
    leftovers = sorted(p.name for p in tmp_path.iterdir())
    assert leftovers == ["span-3"]  # no temp file left behind


def test_write_span_refuses_an_existing_span(tmp_path):
    rows = synth.synthesize(50, seed=1)
    path = synth.write_span(rows, tmp_path, 5)
    before = path.read_bytes()
    with pytest.raises(FileExistsError, match="span-5"):
        synth.write_span(synth.synthesize(50, seed=2), tmp_path, 5)
    assert path.read_bytes() == before
    synth.write_span(synth.synthesize(50, seed=2), tmp_path, 5,
                     overwrite=True)
    assert path.read_bytes() != before
    assert len(pd.read_csv(path)) == 50


def test_cli_rejects_zero_rows_with_a_clear_message(tmp_path, capsys):
    with pytest.raises(SystemExit) as exit_info:
        run_cli("--rows", "0", "--span", "2", "--data-root", str(tmp_path))
    assert exit_info.value.code == 2
    assert "--rows: must be greater than 0" in capsys.readouterr().err
    # Namespaces built elsewhere get the same check, and nothing is written.
    args = argparse.Namespace(rows=0, span=2, drift=0.0, seed=0, force=False,
                              data_root=str(tmp_path),
                              reference_csv=str(SPAN_1_CSV))
    assert synth.main(args) == 2
    assert "rows must be a positive integer" in capsys.readouterr().err
    assert not any(tmp_path.iterdir())


def test_cli_rejects_drift_outside_0_1(capsys):
    with pytest.raises(SystemExit):
        run_cli("--rows", "10", "--span", "2", "--drift", "1.5")
    assert "--drift: must be in [0, 1]" in capsys.readouterr().err


def test_50k_rows_finish_quickly_and_report_path_and_label_rate(
        tmp_path, capsys):
    started = time.monotonic()
    assert run_cli("--rows", "50000", "--span", "4",
                   "--data-root", str(tmp_path), "--drift", "0.2") == 0
    assert time.monotonic() - started < 20
    path = tmp_path / "span-4" / "data.csv"
    last_line = capsys.readouterr().out.strip().splitlines()[-1]
    assert str(path) in last_line and "big-tipper rate" in last_line
    written = pd.read_csv(path)
    assert len(written) == 50_000
    assert f"{synth.big_tipper_rate(written):.1%}" in last_line
