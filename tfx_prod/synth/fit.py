"""Fitting: the generative model learned from one reference CSV.

What the model holds and why is described in the package docstring
(tfx_prod/synth/__init__.py); generate.py samples from it.
"""
import functools
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from scipy import special, stats

from modules.taxi import features

DEFAULT_REFERENCE_CSV = (Path(__file__).resolve().parents[2]
                         / "data" / "taxi" / "span-1" / "data.csv")

CASH = "Cash"
CREDIT_CARD = "Credit Card"
OTHER_PAYMENTS = "other"  # rare payment types share one trip-measure model

MILES = "trip_miles"
SECONDS = "trip_seconds"
TIMESTAMP = "trip_start_timestamp"
HOUR = "trip_start_hour"
DAY = "trip_start_day"
MONTH = "trip_start_month"
PAYMENT = "payment_type"
# Copied verbatim (blanks included) from the resampled real row.
CONTEXT_COLUMNS = [PAYMENT, "company", "pickup_community_area",
                   "dropoff_community_area", "pickup_census_tract",
                   "dropoff_census_tract", HOUR, DAY, MONTH]
TRIP_MEASURES = [MILES, SECONDS, features.FARE]
# (area column, latitude column, longitude column) per trip end.
TRIP_ENDS = [
    ("pickup_community_area", "pickup_latitude", "pickup_longitude"),
    ("dropoff_community_area", "dropoff_latitude", "dropoff_longitude"),
]
REQUIRED_COLUMNS = (CONTEXT_COLUMNS + TRIP_MEASURES
                    + [c for end in TRIP_ENDS for c in end[1:]]
                    + [TIMESTAMP, features.TIPS])
# Never blank in a usable reference: the model conditions on them.
ALWAYS_PRESENT = [PAYMENT, features.FARE, features.TIPS, TIMESTAMP,
                  HOUR, DAY, MONTH]

# Copula cells with fewer rows borrow the pattern's model pooled over payments.
MIN_CELL_ROWS = 30
# Fare bins for the tip ratio: one per this many rows of a payment type, <= 10.
ROWS_PER_TIP_BIN = 500
MAX_TIP_BINS = 10


@dataclass(frozen=True)
class _CopulaCell:
    """Joint model of the positive trip measures of one cell."""
    positive: tuple      # indices into TRIP_MEASURES drawn from the copula
    sorted_values: list  # per positive measure: sorted real values
    cholesky: np.ndarray


@dataclass(frozen=True)
class _TipModel:
    """Tip-to-fare ratios of one payment type, by fare bin."""
    inner_edges: np.ndarray  # fare bin boundaries (len = bins - 1)
    ratios: list             # per bin: real tips / fare values


@dataclass(frozen=True)
class Model:
    """Everything fitted from one reference CSV (read-only, cached)."""
    columns: list            # reference column order
    rows: pd.DataFrame       # the reference sample, source of context tuples
    years: np.ndarray        # per reference row: start year
    states: np.ndarray       # per row and measure: 0 blank, 1 zero, 2 > 0
    row_cell: np.ndarray     # per reference row: index into cells
    cells: list
    centroids: dict          # lat/lon column -> {area: mean coordinate}
    tips: dict               # payment type -> _TipModel
    zero_fare_tips: np.ndarray


def load_model(reference_csv) -> Model:
    path = Path(reference_csv)
    if not path.is_file():
        raise FileNotFoundError(f"reference CSV not found: {path}")
    return _fit_cached(str(path.resolve()), path.stat().st_mtime_ns)


@functools.lru_cache(maxsize=4)
def _fit_cached(path: str, mtime_ns: int) -> Model:
    del mtime_ns  # part of the cache key only: refit when the file changes
    return _fit(_read_reference(path))


def _read_reference(path: str) -> pd.DataFrame:
    # Only blank cells are missing: "NA" or "None" could be real strings.
    strings = {c: str for c in features.STRING_CATEGORICAL_FEATURES}
    rows = pd.read_csv(path, keep_default_na=False, na_values=[""],
                       dtype=strings)
    missing = sorted(set(REQUIRED_COLUMNS) - set(rows.columns))
    extra = sorted(set(rows.columns) - set(REQUIRED_COLUMNS))
    if missing or extra:
        raise ValueError(f"reference CSV {path} does not have the taxi "
                         f"columns: missing {missing}, unexpected {extra}")
    blank = [c for c in ALWAYS_PRESENT if rows[c].isna().any()]
    if blank:
        raise ValueError(f"reference CSV {path} has blanks in {blank}")
    return rows


def _fit(rows: pd.DataFrame) -> Model:
    measures = rows[TRIP_MEASURES].to_numpy(dtype=float)
    states = np.where(np.isnan(measures), 0, np.where(measures > 0, 2, 1))
    payment = rows[PAYMENT]
    payment_groups = payment.where(payment.isin([CASH, CREDIT_CARD]),
                                   OTHER_PAYMENTS).to_numpy()
    cells, row_cell = _fit_copula_cells(measures, states, payment_groups)
    years = pd.to_datetime(rows[TIMESTAMP], unit="s").dt.year.to_numpy()
    fare = rows[features.FARE].to_numpy(dtype=float)
    tips = rows[features.TIPS].to_numpy(dtype=float)
    zero_fare_tips = tips[fare == 0] if (fare == 0).any() else np.zeros(1)
    return Model(
        columns=list(rows.columns),
        rows=rows,
        years=years,
        states=states,
        row_cell=row_cell,
        cells=cells,
        centroids={coordinate: rows.groupby(area)[coordinate].mean().to_dict()
                   for area, *coordinates in TRIP_ENDS
                   for coordinate in coordinates},
        tips={value: _fit_tips(fare[mask], tips[mask])
              for value, mask in value_masks(payment.to_numpy())},
        zero_fare_tips=zero_fare_tips,
    )


def _fit_copula_cells(measures, states, payment_groups):
    """One copula per (payment group, zero/blank pattern); small cells pool."""
    patterns = [tuple(s) for s in states]
    keys = list(zip(payment_groups, patterns))
    cells, cell_index, row_cell = [], {}, np.empty(len(keys), dtype=int)
    counts = pd.Series(keys).value_counts().to_dict()
    for row, (group, pattern) in enumerate(keys):
        big_enough = counts[(group, pattern)] >= MIN_CELL_ROWS
        key = (group, pattern) if big_enough else ("*", pattern)
        if key not in cell_index:
            members = [i for i, p in enumerate(patterns) if p == pattern
                       and (key[0] == "*" or payment_groups[i] == group)]
            cell_index[key] = len(cells)
            cells.append(_fit_copula(measures[members], pattern))
        row_cell[row] = cell_index[key]
    return cells, row_cell


def _fit_copula(measures: np.ndarray, pattern: tuple) -> _CopulaCell:
    """Rank correlation as normal scores, plus each measure's real values."""
    positive = tuple(i for i, state in enumerate(pattern) if state == 2)
    values = measures[:, positive]
    correlation = np.eye(len(positive))
    if len(values) >= 10 and len(positive) >= 2:
        ranks = stats.rankdata(values, axis=0)
        scores = special.ndtri((ranks - 0.5) / len(values))
        correlation = np.corrcoef(scores, rowvar=False)
    # A small ridge keeps the factorization stable for near-singular cells.
    cholesky = np.linalg.cholesky(correlation + 1e-9 * np.eye(len(positive)))
    return _CopulaCell(positive=positive,
                       sorted_values=[np.sort(values[:, j])
                                      for j in range(len(positive))],
                       cholesky=cholesky)


def _fit_tips(fare: np.ndarray, tips: np.ndarray) -> _TipModel:
    """Real tip/fare ratios by fare quantile bin (~ROWS_PER_TIP_BIN rows)."""
    paid = fare > 0
    if not paid.any():  # zero fares only: their tips come from zero_fare_tips
        return _TipModel(inner_edges=np.array([]), ratios=[np.zeros(1)])
    fare, ratio = fare[paid], tips[paid] / fare[paid]
    bins = int(np.clip(len(fare) // ROWS_PER_TIP_BIN, 1, MAX_TIP_BINS))
    cut_points = np.linspace(0, 1, bins + 1)[1:-1]
    inner_edges = np.unique(np.quantile(fare, cut_points))
    which = np.searchsorted(inner_edges, fare, side="right")
    # Quantile ties can leave a bin empty; it borrows the whole payment type.
    ratios = [ratio[which == b] if (which == b).any() else ratio
              for b in range(len(inner_edges) + 1)]
    return _TipModel(inner_edges=inner_edges, ratios=ratios)


def value_masks(values: np.ndarray):
    """(value, boolean mask) for each distinct value."""
    for value in pd.unique(values):
        yield value, values == value
