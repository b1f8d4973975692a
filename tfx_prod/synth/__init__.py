"""Realistic taxi-like CSV spans for scale runs and new-span retraining.

The bundled span-1 sample is too small to load-test the pipeline and too
static to exercise retraining, so this package fits a small generative model to
a real span and writes new spans of any size in the same CSV dialect.

The model, fitted once per reference CSV:
  * Categorical context is resampled as whole real rows, which keeps the joint
    structure of payment_type, company, pickup/dropoff community area, census
    tracts, start hour/day/month and year, including which of them are blank.
  * Trip measures (trip_miles, trip_seconds, fare) come from a Gaussian copula
    fitted per cell = (payment group, which measures are zero/blank): normal
    scores of the positive values give the correlation, and samples map back
    through the cell's empirical quantiles. Values stay inside the real range
    and keep the real formatting (meter-grid fares, 0.1 miles, whole minutes);
    zero fares/miles/seconds keep their real frequency because the cell is
    taken from the resampled row.
  * Tips are a tip-to-fare ratio drawn from real rows with the same payment
    type and fare bin (deciles for cash and card), so the big-tipper rate
    per payment type and its dependence on fare match the sample (cash ~0%,
    credit card ~68%).
  * Latitude/longitude are the sample's per-community-area centroid (where
    the row's area is blank, the real row's point or blank).
  * The timestamp is a random 15-minute slot on a date of the row's year and
    month that falls on its weekday, at its hour (UTC clock fields, as in the
    real data), so it agrees with trip_start_month/day/hour.

Drift X in [0, 1] moves three things, all linear in X:
  * fare is multiplied by (1 + X) (price rise); tips keep their ratio to the
    undrifted fare, so the fare at which people tip big moves too;
  * a fraction X of the cash share moves to credit card (X = 0.5: cash 66% ->
    33%), which raises the overall big-tipper rate;
  * trip start hours move later by 4X hours on average (wrapping at midnight).

Layout (imports run one way, cli -> generate -> fit; checks is shared):
  fit.py       fit the model to a reference CSV (cached per file and mtime)
  generate.py  synthesize / iter_chunks: sample rows, apply drift
  spans.py     span_path / write_span: <data_root>/span-K/data.csv, atomic
  checks.py    argument checks for the functions and the command line
  cli.py       add_arguments / main: `tfx-prod data synth`
"""
import importlib

# Lazy (PEP 562): the CLI parser imports this package, and pandas/scipy
# (fit, generate) would add ~2 s to every `tfx-prod` command.
_HOMES = {
    "DEFAULT_DATA_ROOT": "cli", "add_arguments": "cli", "main": "cli",
    "DEFAULT_REFERENCE_CSV": "fit",
    "CHUNK_ROWS": "generate", "big_tipper": "generate",
    "big_tipper_rate": "generate", "iter_chunks": "generate",
    "synthesize": "generate",
    "SPAN_FILE_NAME": "spans", "span_path": "spans", "write_span": "spans",
}
__all__ = sorted(_HOMES)


def __getattr__(name):
    if name not in _HOMES:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f"{__name__}.{_HOMES[name]}"),
                   name)
