"""TFDV statistics and ExampleValidator anomalies as plain rows for a table."""
import json
import os
from typing import Any, Optional

from components.anomaly_gate import describe_anomalies
from pipeline.metadata import artifact_property

STATS_FILE = "FeatureStats.pb"


def split_names(artifact) -> Optional[list[str]]:
    """The artifact's `split_names` property, or None to list the folder."""
    names = artifact_property(artifact, "split_names")
    try:
        return json.loads(names) if names else None
    except ValueError:
        return None


def _feature_row(feature) -> dict[str, Any]:
    from tensorflow_metadata.proto.v0 import statistics_pb2
    kind = feature.WhichOneof("stats")
    stats = getattr(feature, kind) if kind else None
    common = getattr(stats, "common_stats", None)
    name = ".".join(feature.path.step) or feature.name
    row: dict[str, Any] = {
        "name": name,
        "type": statistics_pb2.FeatureNameStatistics.Type.Name(feature.type),
        "present": None, "missing_pct": None}
    if common is not None:
        examples = common.num_non_missing + common.num_missing
        missing = common.num_missing
        if common.max_num_values <= 1:
            # CsvExampleGen writes a blank cell as an empty list: present,
            # but no value. Counted as missing, which is what it means.
            missing += common.num_non_missing - common.tot_num_values
        row["present"] = examples - missing
        row["missing_pct"] = 100.0 * missing / examples if examples else None
    if kind == "num_stats":
        row.update(mean=stats.mean, std=stats.std_dev, min=stats.min,
                   max=stats.max, zeros=stats.num_zeros)
    elif kind == "string_stats":
        top = stats.top_values[0] if stats.top_values else None
        row.update(unique=stats.unique,
                   top=top.value if top else None,
                   top_count=top.frequency if top else None)
    return row


def read_statistics(artifact) -> dict[str, Any]:
    """Per split: example count and one row per feature."""
    import tensorflow_data_validation as tfdv  # slow import; only when needed
    names = split_names(artifact) or sorted(
        entry[len("Split-"):] for entry in os.listdir(artifact.uri)
        if entry.startswith("Split-"))
    splits = {}
    for split in names:
        path = os.path.join(artifact.uri, f"Split-{split}", STATS_FILE)
        if not os.path.exists(path):
            splits[split] = {"error": f"no {STATS_FILE} at {path}"}
            continue
        dataset = tfdv.load_stats_binary(path).datasets[0]
        splits[split] = {
            "num_examples": dataset.num_examples,
            "features": sorted((_feature_row(f) for f in dataset.features),
                               key=lambda row: row["name"])}
    return {"uri": artifact.uri, "splits": splits}


def read_anomalies(artifact) -> dict[str, Any]:
    """ExampleValidator's findings, one line each (empty: clean data)."""
    names = split_names(artifact)
    return {"uri": artifact.uri, "splits": names or [],
            "lines": describe_anomalies(artifact.uri, names)}
