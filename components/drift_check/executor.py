"""DriftCheck executor: the newest span against what the served model saw.

Statistics of the newest span's train split (StatisticsGen) are measured
against the training statistics shipped inside the served version
(`assets.extra/tfx_prod/statistics.pb`, copied by ServedBaseline), with the
comparators of the curated schema (drift.py). The result is `drift.json` in
the output artifact and its summary on the artifact's properties, so ML
Metadata, the run summary and `tfx-prod drift` read the same record.
Drift is a report unless `gate` is set: then the run stops before Transform.
"""
import json
from typing import Any, Dict, List

import tensorflow as tf
from absl import logging
from tfx import types
from tfx.dsl.components.base import base_executor
from tfx.types import artifact_utils
from tfx.utils import io_utils, path_utils

from components.drift_check import drift
from components.served_baseline import executor as served_baseline
from serving import layout

STATISTICS_KEY = "statistics"
SCHEMA_KEY = "schema"
BASELINE_KEY = "baseline"
DRIFT_KEY = "drift"
GATE_KEY = "gate"
SPLIT = "train"
REPORT_FILE = "drift.json"

# Output properties.
DRIFTED = "drifted_features"      # comma list, "" when none
BASELINE_VERSION = "baseline_version"  # 0: nothing served, nothing compared


class DriftError(RuntimeError):
    """Drift above threshold with `gate` on: the run stops before training."""


def report(measured: List[drift.FeatureDrift], baseline_version: int) -> dict:
    """The JSON record: every measured feature, and which drifted."""
    return {"baseline_version": baseline_version,
            "features": [{"feature": d.feature, "measure": d.measure,
                          "value": d.value, "threshold": d.threshold,
                          "drifted": d.drifted} for d in measured],
            "drifted": [d.feature for d in measured if d.drifted]}


def read_report(artifact_uri: str) -> dict:
    with tf.io.gfile.GFile(layout.join(artifact_uri, REPORT_FILE)) as f:
        return json.load(f)


class Executor(base_executor.BaseExecutor):

    def Do(self, input_dict: Dict[str, List[types.Artifact]],
           output_dict: Dict[str, List[types.Artifact]],
           exec_properties: Dict[str, Any]) -> None:
        output = artifact_utils.get_single_instance(output_dict[DRIFT_KEY])
        baseline = artifact_utils.get_single_instance(input_dict[BASELINE_KEY])
        version = (baseline.get_int_custom_property(served_baseline.SERVED_VERSION)
                   if served_baseline.has_model(baseline) else 0)
        measured = []
        if version:
            statistics = artifact_utils.get_single_instance(
                input_dict[STATISTICS_KEY])
            current = drift.read_statistics(layout.join(artifact_utils.get_split_uri(
                [statistics], SPLIT), "FeatureStats.pb"))
            served = drift.read_statistics(layout.join(path_utils.serving_model_dir(
                baseline.uri), layout.STATISTICS_FILE))
            schema = drift.read_schema(io_utils.get_only_uri_in_dir(
                artifact_utils.get_single_instance(input_dict[SCHEMA_KEY]).uri))
            measured = drift.measure(current, served, schema, SPLIT)
        else:
            logging.info("DriftCheck: nothing served yet, nothing to compare.")
        record = report(measured, version)
        output.split_names = artifact_utils.encode_split_names([SPLIT])
        with tf.io.gfile.GFile(layout.join(output.uri, REPORT_FILE), "w") as f:
            f.write(json.dumps(record, indent=2))
        output.set_string_custom_property(DRIFTED, ",".join(record["drifted"]))
        output.set_int_custom_property(BASELINE_VERSION, version)
        for line in (d.describe() for d in measured):
            logging.info("DriftCheck: %s", line)
        if record["drifted"] and exec_properties.get(GATE_KEY):
            raise DriftError(
                f"drift against served version {version} above threshold: "
                + "; ".join(d.describe() for d in measured if d.drifted)
                + ". Retrain on purpose with --drift report, or raise the "
                "feature's drift_comparator threshold in the schema.")
