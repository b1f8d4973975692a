"""One loaded model version: runtime + everything that shipped beside it.

A version directory carries the schema (validation), the training statistics
(drift), the lineage (metadata) and the missing-value sentinels; any of them
may be absent, in which case the server serves without that feature and
says so in the log and in `…/metadata`.
"""
import dataclasses
import logging
import time
from typing import Optional

import tensorflow as tf

from serving import drift, layout, runtimes, validation

log = logging.getLogger("serving")


@dataclasses.dataclass
class Servable:
    model_name: str
    version: int
    path: str
    runtime: object
    validator: Optional[validation.Validator]
    drift: Optional[drift.DriftMonitor]
    lineage: dict
    notes: list                       # what this version serves without
    loaded_at: float = dataclasses.field(default_factory=time.time)

    @property
    def signatures(self) -> dict:
        return self.runtime.signatures

    @property
    def signature_defs(self) -> dict:
        return self.runtime.signature_defs

    def describe(self) -> dict:
        """Our block in `…/metadata`: lineage and what validation covers."""
        return {
            "runtime": self.runtime.name,
            "schema_validation": self.validator is not None,
            "validated_features": sorted(self.validator.rules)
            if self.validator else [],
            "drift_features": sorted(self.drift.references)
            if self.drift else [],
            "notes": list(self.notes),
            "lineage": self.lineage,
        }


def _read_schema(path: str):
    from google.protobuf import text_format
    from tensorflow_metadata.proto.v0 import schema_pb2
    schema_path = layout.join(path, layout.SCHEMA_FILE)
    if not tf.io.gfile.exists(schema_path):
        return None
    with tf.io.gfile.GFile(schema_path, "r") as f:
        return text_format.Parse(f.read(), schema_pb2.Schema())


def _read_statistics(path: str):
    from tensorflow_metadata.proto.v0 import statistics_pb2
    stats_path = layout.join(path, layout.STATISTICS_FILE)
    if not tf.io.gfile.exists(stats_path):
        return None
    with tf.io.gfile.GFile(stats_path, "rb") as f:
        return statistics_pb2.DatasetFeatureStatisticsList.FromString(f.read())


def load_servable(model_name: str, version: int, path: str, *, runtime: str,
                  tags=("serve",), intra_op: int = 0, inter_op: int = 0,
                  drift_window: int = drift.DEFAULT_WINDOW,
                  on_tolerated=None) -> Servable:
    """Loads the model and its companions; raises on an unusable version."""
    model = runtimes.load_runtime(runtime, path, tags=tags, intra_op=intra_op,
                                  inter_op=inter_op)
    notes = []
    try:
        schema = _read_schema(path)
    except Exception as e:  # text_format.ParseError, DecodeError, IO errors
        raise runtimes.LoadError(f"{layout.SCHEMA_FILE} in {path} does not "
                                 f"parse as a tensorflow_metadata Schema: {e}")
    validator = None
    if schema is None:
        notes.append(f"no {layout.SCHEMA_FILE}: requests are not validated "
                     "against a training schema")
    else:
        rules = validation.compile_rules(schema,
                                         layout.read_missing_values(path))
        validator = validation.Validator(
            rules, on_tolerated=lambda feature, count: on_tolerated(
                model_name, feature, count) if on_tolerated else None)
        _check_schema_matches_signatures(rules, model.signatures, notes)
    monitor = None
    try:
        statistics = _read_statistics(path)
    except Exception as e:
        raise runtimes.LoadError(f"{layout.STATISTICS_FILE} in {path} does not "
                                 f"parse as DatasetFeatureStatisticsList: {e}")
    if statistics is None:
        notes.append(f"no {layout.STATISTICS_FILE}: no drift monitoring")
    else:
        monitor = drift.DriftMonitor(
            drift.references_from_statistics(statistics), drift_window,
            drift.thresholds_from_schema(schema))
    for note in notes:
        log.warning("model %s version %d: %s", model_name, version, note)
    return Servable(model_name, version, path, model, validator, monitor,
                    layout.read_lineage(path), notes)


def _check_schema_matches_signatures(rules: dict, signatures: dict,
                                     notes: list) -> None:
    """Drops rules whose kind contradicts a signature input's dtype (a model
    or schema bug, not a client error) and says so once, at load."""
    from tensorflow.core.framework import types_pb2
    accepts = {"FLOAT": {types_pb2.DT_FLOAT, types_pb2.DT_DOUBLE,
                         types_pb2.DT_HALF},
               "INT": {types_pb2.DT_INT64, types_pb2.DT_INT32,
                       types_pb2.DT_INT16, types_pb2.DT_INT8,
                       types_pb2.DT_UINT8, types_pb2.DT_BOOL},
               "BYTES": {types_pb2.DT_STRING}}
    for signature in signatures.values():
        for alias, spec in signature.inputs.items():
            rule = rules.get(alias)
            if rule is not None and spec.dtype not in accepts[rule.kind]:
                notes.append(f"signature {signature.key} input {alias} has "
                             f"dtype {spec.dtype}, the schema says "
                             f"{rule.kind}: not validated")
                del rules[alias]
