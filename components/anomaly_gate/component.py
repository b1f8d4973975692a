"""AnomalyGate: fail the run when ExampleValidator found anomalies.

ExampleValidator only records anomalies; placing this component between it and
Transform makes the run stop with a readable list instead of training on bad
data. It has an output so that, on a clean re-run, it is cached like the rest.
"""
from typing import TypedDict

from absl import logging
# The modules behind tfx.v1.dsl.components, imported directly so that the CLI
# (which only needs describe_anomalies) does not pay for importing tfx.v1.
from tfx.dsl.component.experimental.annotations import (InputArtifact,
                                                        Parameter)
from tfx.dsl.component.experimental.decorators import component
from tfx.types import artifact_utils
from tfx.types.standard_artifacts import ExampleAnomalies

from components.anomaly_gate.anomalies import (DataAnomaliesError,
                                               describe_anomalies)


class GateResult(TypedDict):
    """Outputs of AnomalyGate (TypedDict: TFX 1.16 deprecates OutputDict)."""
    anomaly_count: int


@component
def AnomalyGate(anomalies: InputArtifact[ExampleAnomalies],
                schema_path: Parameter[str]) -> GateResult:
    """Raises DataAnomaliesError listing every anomaly; else returns 0.

    `schema_path` is the schema file the data was validated against, named
    in the error so the user edits the file actually in use.
    """
    split_names = (artifact_utils.decode_split_names(anomalies.split_names)
                   if anomalies.split_names else None)
    lines = describe_anomalies(anomalies.uri, split_names)
    if lines:
        raise DataAnomaliesError(lines, schema_path)
    logging.info("AnomalyGate: no anomalies in %s.", anomalies.uri)
    return {"anomaly_count": 0}
