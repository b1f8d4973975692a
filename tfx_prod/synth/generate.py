"""Generation: sample rows from the fitted model, optionally drifted.

How each column is drawn and what drift X does is described in the package
docstring (tfx_prod/synth/__init__.py); fit.py builds the model.
"""
from typing import Iterator

import numpy as np
import pandas as pd
from scipy import special

from modules.taxi import features
from tfx_prod.synth.checks import check_request
from tfx_prod.synth.fit import (CASH, CONTEXT_COLUMNS, CREDIT_CARD, DAY,
                                DEFAULT_REFERENCE_CSV, HOUR, MILES, MONTH,
                                PAYMENT, TIMESTAMP, TRIP_ENDS, TRIP_MEASURES,
                                Model, load_model, value_masks)

# Rows generated and written at a time: bounds memory for any --rows.
CHUNK_ROWS = 100_000
# Decimals written per float column (the sample's own precision).
FLOAT_DECIMALS = {features.FARE: 2, features.TIPS: 2, MILES: 2}
COORDINATE_DECIMALS = 9
HOUR_DRIFT_HOURS = 4.0
SECONDS_PER_SLOT = 15 * 60  # Chicago publishes start times in 15-minute slots


def synthesize(n_rows: int, *, drift: float = 0.0, seed: int = 0,
               reference_csv: str = str(DEFAULT_REFERENCE_CSV),
               ) -> pd.DataFrame:
    """`n_rows` synthetic rows in the reference CSV's columns and dtypes."""
    return pd.concat(list(iter_chunks(n_rows, drift=drift, seed=seed,
                                      reference_csv=reference_csv)),
                     ignore_index=True)


def iter_chunks(n_rows: int, *, drift: float = 0.0, seed: int = 0,
                reference_csv: str = str(DEFAULT_REFERENCE_CSV),
                ) -> Iterator[pd.DataFrame]:
    """Yield the rows of `synthesize` in CHUNK_ROWS pieces (bounded memory).

    Chunk k uses its own random stream (seed, k), so output depends only on
    the arguments, never on how it is consumed.
    """
    check_request(n_rows, drift, seed)  # here, not at the first next()
    model = load_model(reference_csv)
    return (_generate(model, min(CHUNK_ROWS, n_rows - start), drift,
                      np.random.default_rng([seed, index]))
            for index, start in enumerate(range(0, n_rows, CHUNK_ROWS)))


def big_tipper_rate(df: pd.DataFrame) -> float:
    """Fraction of rows with the label Transform derives (big tippers)."""
    return float(big_tipper(df).mean())


def big_tipper(df: pd.DataFrame) -> pd.Series:
    """Per row: the label Transform derives from tips and fare."""
    return df[features.TIPS] > features.BIG_TIP_FRACTION * df[features.FARE]


def _generate(model: Model, n: int, drift: float,
              rng: np.random.Generator) -> pd.DataFrame:
    source = rng.choice(len(model.rows), size=n, p=_row_weights(model, drift))
    out = {c: model.rows[c].to_numpy()[source] for c in CONTEXT_COLUMNS}
    out[HOUR] = _drift_hours(out[HOUR], drift, rng)
    out[TIMESTAMP] = _timestamps(model.years[source], out[MONTH], out[DAY],
                                 out[HOUR], rng)
    measures = _trip_measures(model, source, rng)
    for j, column in enumerate(TRIP_MEASURES):
        out[column] = measures[:, j]
    ratio = _tip_ratios(model, out[PAYMENT], out[features.FARE], rng)
    out[features.FARE] = np.round(out[features.FARE] * (1.0 + drift), 2)
    out[features.TIPS] = _tips(model, ratio, out[features.FARE], rng)
    out.update(_coordinates(model, source, out))
    return _to_frame(out, model.columns)


def _row_weights(model: Model, drift: float) -> np.ndarray:
    """Uniform resampling weights; drift moves cash mass to credit card."""
    payment = model.rows[PAYMENT].to_numpy()
    weights = np.ones(len(payment))
    cash, card = payment == CASH, payment == CREDIT_CARD
    if drift and cash.any() and card.any():
        moved = drift * cash.sum()
        weights[cash] = 1.0 - drift
        weights[card] = (card.sum() + moved) / card.sum()
    return weights / weights.sum()


def _drift_hours(hours: np.ndarray, drift: float,
                 rng: np.random.Generator) -> np.ndarray:
    """Shift hours later by HOUR_DRIFT_HOURS * drift on average."""
    shift = HOUR_DRIFT_HOURS * drift
    whole = np.floor(shift)
    extra = rng.random(len(hours)) < shift - whole
    return ((hours.astype(int) + int(whole) + extra) % 24).astype(int)


def _timestamps(years, months, weekdays, hours, rng) -> np.ndarray:
    """Epoch seconds on a date of (year, month) that is `weekdays` (1=Sun)."""
    month_index = (years - 1970) * 12 + (months.astype(int) - 1)
    first_days = _days_since_epoch(month_index)
    month_days = _days_since_epoch(month_index + 1) - first_days
    first_weekday = (first_days + 4) % 7  # 1970-01-01 was a Thursday; 0 = Sun
    offset = (weekdays.astype(int) - 1 - first_weekday) % 7
    occurrences = (month_days - offset + 6) // 7
    week = np.floor(rng.random(len(years)) * occurrences)
    day = first_days + offset + 7 * week
    slot = rng.integers(0, 3600 // SECONDS_PER_SLOT, size=len(years))
    return (day.astype(np.int64) * 86400 + hours.astype(np.int64) * 3600
            + slot * SECONDS_PER_SLOT)


def _days_since_epoch(month_index: np.ndarray) -> np.ndarray:
    """Day number of the 1st of each month (months counted from 1970-01)."""
    first = month_index.astype("datetime64[M]").astype("datetime64[D]")
    return first.astype(np.int64)


def _trip_measures(model: Model, source: np.ndarray,
                   rng: np.random.Generator) -> np.ndarray:
    """miles, seconds, fare: zeros/blanks as in the source row, else copula."""
    states = model.states[source]
    values = np.where(states == 1, 0.0, np.nan)
    cell_of_row = model.row_cell[source]
    for cell_id in np.unique(cell_of_row):
        cell = model.cells[cell_id]
        rows = np.flatnonzero(cell_of_row == cell_id)
        if not cell.positive:
            continue
        normal = rng.standard_normal((len(rows), len(cell.positive)))
        uniform = special.ndtr(normal @ cell.cholesky.T)
        for j, measure in enumerate(cell.positive):
            real = cell.sorted_values[j]
            picks = np.minimum((uniform[:, j] * len(real)).astype(int),
                               len(real) - 1)
            values[rows, measure] = real[picks]
    return values


def _tip_ratios(model: Model, payment: np.ndarray, fare: np.ndarray,
                rng: np.random.Generator) -> np.ndarray:
    """A real tip/fare ratio of the same payment type and (base) fare bin."""
    ratio = np.zeros(len(fare))
    for value, mask in value_masks(payment):
        tip_model = model.tips[value]
        which = np.searchsorted(tip_model.inner_edges, fare[mask],
                                side="right")
        drawn = np.empty(mask.sum())
        for b, real in enumerate(tip_model.ratios):
            in_bin = which == b
            picks = rng.integers(0, len(real), size=in_bin.sum())
            drawn[in_bin] = real[picks]
        ratio[mask] = drawn
    return ratio


def _tips(model: Model, ratio: np.ndarray, fare: np.ndarray,
          rng: np.random.Generator) -> np.ndarray:
    """ratio * fare in cents, rounded so the drawn ratio's label survives.

    Ratios <= 20% round down and larger ones round up. Zero-fare trips draw a
    real zero-fare tip instead (always 0 in span-1).
    """
    cents = ratio * fare * 100.0
    big = ratio > features.BIG_TIP_FRACTION
    cents = np.where(big, np.ceil(cents - 1e-6), np.floor(cents + 1e-6))
    tips = cents / 100.0
    free = fare <= 0
    picks = rng.integers(0, len(model.zero_fare_tips), size=free.sum())
    tips[free] = model.zero_fare_tips[picks]
    return tips


def _coordinates(model: Model, source: np.ndarray, out: dict) -> dict:
    """Area centroid; where the area is blank keep the real row's point."""
    coordinates = {}
    for area, lat, lon in TRIP_ENDS:
        areas = pd.Series(out[area])
        known = areas.notna().to_numpy()
        for column in (lat, lon):
            values = model.rows[column].to_numpy(dtype=float)[source]
            centroid = areas[known].map(model.centroids[column])
            values[known] = centroid.to_numpy()
            coordinates[column] = np.round(values, COORDINATE_DECIMALS)
    return coordinates


def _to_frame(out: dict, columns: list) -> pd.DataFrame:
    """Columns in reference order, with the dtypes CsvExampleGen will infer."""
    frame = {}
    for column in columns:
        kind = features.raw_dtype(column)
        values = out[column]
        if kind == "int":
            frame[column] = pd.array(pd.to_numeric(values), dtype="Int64")
        elif kind == "float":
            decimals = FLOAT_DECIMALS.get(column, COORDINATE_DECIMALS)
            frame[column] = np.round(values.astype(float), decimals)
        else:
            frame[column] = pd.Series(values, dtype=object)
    return pd.DataFrame(frame, columns=columns)
