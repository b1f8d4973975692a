"""Stop the pipeline when ExampleValidator found data anomalies."""
from components.anomaly_gate.anomalies import (DataAnomaliesError,
                                               describe_anomalies)
from components.anomaly_gate.component import AnomalyGate

__all__ = ["AnomalyGate", "DataAnomaliesError", "describe_anomalies"]
