"""Argument checks shared by the library functions and `tfx-prod data synth`.

The first three raise ValueError / FileExistsError for calls from Python;
the argparse types reject bad command-line text before anything runs.
"""
import argparse
from pathlib import Path

import numpy as np


def check_request(n_rows, drift, seed) -> None:
    if not is_int(n_rows) or n_rows <= 0:
        raise ValueError(f"rows must be a positive integer, got {n_rows!r}")
    if not isinstance(drift, (int, float)) or not 0.0 <= drift <= 1.0:
        raise ValueError(f"drift must be in [0, 1], got {drift!r}")
    if not is_int(seed) or seed < 0:
        raise ValueError(f"seed must be a non-negative integer, got {seed!r}")


def is_int(value) -> bool:
    return isinstance(value, (int, np.integer)) and not isinstance(value, bool)


def check_writable(path: Path, overwrite: bool) -> None:
    """Refuse a non-empty span dir unless told to overwrite: lose nothing."""
    if path.parent.exists() and any(path.parent.iterdir()) and not overwrite:
        raise FileExistsError(
            f"{path.parent} already exists and is not empty; rerun with "
            "--force (overwrite=True) to replace its data.csv")


def positive_int(text: str) -> int:
    value = _integer(text)
    if value <= 0:
        raise argparse.ArgumentTypeError(
            f"must be greater than 0, got {value}")
    return value


def non_negative_int(text: str) -> int:
    value = _integer(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"must not be negative, got {value}")
    return value


def _integer(text: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an integer: {text!r}") from None


def drift_fraction(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not 0.0 <= value <= 1.0:
        raise argparse.ArgumentTypeError(f"must be in [0, 1], got {value:g}")
    return value
