"""DriftCheck: the newest span's statistics against the served model's.

Sits between StatisticsGen and Transform. Its baseline is a ServedBaseline
output (the version served before this training ran), so it needs no ML
Metadata query and runs the same on Kubeflow. Only standard artifact types.
"""
from tfx import types
from tfx.dsl.components.base import base_component, executor_spec
from tfx.types import standard_artifacts
from tfx.types.component_spec import (ChannelParameter, ComponentSpec,
                                      ExecutionParameter)

from components.drift_check import executor as keys


class DriftCheckSpec(ComponentSpec):
    PARAMETERS = {keys.GATE_KEY: ExecutionParameter(type=int)}
    INPUTS = {
        keys.STATISTICS_KEY: ChannelParameter(
            type=standard_artifacts.ExampleStatistics),
        keys.SCHEMA_KEY: ChannelParameter(type=standard_artifacts.Schema),
        keys.BASELINE_KEY: ChannelParameter(type=standard_artifacts.Model),
    }
    OUTPUTS = {keys.DRIFT_KEY: ChannelParameter(
        type=standard_artifacts.ExampleAnomalies)}


class DriftCheck(base_component.BaseComponent):
    """Measures drift per feature with the schema's comparators.

    Example:
        served = ServedBaseline(model_base=..., examples=..., trained_with=...)
        drift = DriftCheck(statistics=statistics_gen.outputs["statistics"],
                           schema=schema_gen.outputs["schema"],
                           baseline=served.outputs["model"], gate=False)
    """

    SPEC_CLASS = DriftCheckSpec
    EXECUTOR_SPEC = executor_spec.ExecutorClassSpec(keys.Executor)

    def __init__(self, statistics: types.BaseChannel,
                 schema: types.BaseChannel, baseline: types.BaseChannel,
                 gate: bool = False):
        """`gate`: stop the run when a feature drifts (default: report)."""
        super().__init__(spec=DriftCheckSpec(
            statistics=statistics, schema=schema, baseline=baseline,
            gate=int(bool(gate)),
            drift=types.Channel(type=standard_artifacts.ExampleAnomalies)))
