"""Read the anomalies ExampleValidator wrote and turn them into one message.

ExampleValidator (TFX 1.16) writes one binary `Anomalies` proto per split to
`<artifact uri>/Split-<split>/SchemaDiff.pb` and lets the run carry on; this
module is the reading half of the gate that stops it.
"""
import os
from typing import Iterable, Optional

from tensorflow_metadata.proto.v0 import anomalies_pb2
from tfx.dsl.io import fileio

# Layout written by tfx/components/example_validator/executor.py.
SCHEMA_DIFF_FILE = "SchemaDiff.pb"
SPLIT_PREFIX = "Split-"

# Key used for anomalies about the dataset as a whole (e.g. too few examples).
DATASET_KEY = "(dataset)"


class DataAnomaliesError(ValueError):
    """Validation found anomalies: stops the run before Transform."""

    def __init__(self, lines: list[str], schema_path: str):
        self.lines = list(lines)
        count = len(self.lines)
        noun = "anomaly" if count == 1 else "anomalies"
        message = "\n".join(
            [f"Data validation found {count} {noun}; stopping the run "
             "before Transform and Trainer:"]
            + [f"  {line}" for line in self.lines]
            + ["Fix the data, or, if the change is intended, update "
               f"{schema_path} to accept it, then re-run the pipeline."])
        super().__init__(message)


def split_names_in(anomalies_uri: str) -> list[str]:
    """Split names under an ExampleAnomalies URI (`Split-<name>` dirs)."""
    if not fileio.isdir(anomalies_uri):
        raise FileNotFoundError(
            f"ExampleAnomalies directory {anomalies_uri} does not exist; pass "
            "the URI of ExampleValidator's 'anomalies' output.")
    names = []
    for entry in fileio.listdir(anomalies_uri):
        entry = entry.rstrip("/")
        if entry.startswith(SPLIT_PREFIX):
            names.append(entry[len(SPLIT_PREFIX):])
    return sorted(names)


def load_split(anomalies_uri: str, split: str) -> anomalies_pb2.Anomalies:
    """One split's Anomalies; a missing file is an error, never 'clean'."""
    path = os.path.join(anomalies_uri, SPLIT_PREFIX + split, SCHEMA_DIFF_FILE)
    if not fileio.exists(path):
        raise FileNotFoundError(
            f"No {SCHEMA_DIFF_FILE} for split '{split}' at {path}. The gate "
            "reads the TFX >= 0.29 layout written by ExampleValidator; check "
            "the artifact was produced by ExampleValidator of TFX 1.16.")
    anomalies = anomalies_pb2.Anomalies()
    with fileio.open(path, "rb") as f:
        anomalies.ParseFromString(f.read())
    return anomalies


def _info_lines(prefix: str, info: anomalies_pb2.AnomalyInfo) -> list[str]:
    # One line per reason: TFDV folds several reasons into "Multiple errors".
    if info.reason:
        return [f"{prefix}: {r.short_description} — {r.description.strip()}"
                for r in info.reason]
    return [f"{prefix}: {info.short_description} — {info.description.strip()}"]


def describe_split(split: str,
                   anomalies: anomalies_pb2.Anomalies) -> list[str]:
    """Lines `split/feature: short description — description` for one split."""
    lines = []
    for feature in sorted(anomalies.anomaly_info):
        lines += _info_lines(f"{split}/{feature}",
                             anomalies.anomaly_info[feature])
    if anomalies.HasField("dataset_anomaly_info"):
        lines += _info_lines(f"{split}/{DATASET_KEY}",
                             anomalies.dataset_anomaly_info)
    if anomalies.data_missing:
        lines.append(f"{split}/{DATASET_KEY}: No data — the split has no "
                     "examples, so nothing could be validated")
    return lines


def describe_anomalies(
        anomalies_uri: str,
        split_names: Optional[Iterable[str]] = None) -> list[str]:
    """Every anomaly under an ExampleAnomalies URI, one line each.

    An empty list means the data is clean.

    `split_names` defaults to the `Split-*` directories present; pass the
    artifact's split names to also catch a split whose file is missing.
    """
    splits = (list(split_names) if split_names is not None
              else split_names_in(anomalies_uri))
    if not splits:
        raise FileNotFoundError(
            f"No splits to check under {anomalies_uri}: expected "
            f"ExampleValidator output (Split-<name>/{SCHEMA_DIFF_FILE}). If "
            "ExampleValidator excluded every split (exclude_splits), the "
            "gate has nothing to validate; remove it or validate a split.")
    lines = []
    for split in splits:
        lines += describe_split(split, load_split(anomalies_uri, split))
    return lines
