"""SpanWindow: the newest K spans as one input for Transform and Trainer.

TFX trains on a rolling window with a Resolver (an ML Metadata query) in
front of Transform; open-source Kubeflow cannot run resolvers, so this step
does it from the span store instead (store.py), the same on both runners.
Its output is an Examples artifact holding a manifest of the window's
members; only WindowTransform reads it. Validation, drift and evaluation
stay on the newest span (CsvExampleGen's own output).
"""
import json

from tfx import types
from tfx.dsl.components.base import base_beam_component, executor_spec
from tfx.types import standard_artifacts
from tfx.types.component_spec import (ChannelParameter, ComponentSpec,
                                      ExecutionParameter)
from tfx.utils import proto_utils

from components.span_window import executor as keys

# CsvExampleGen's exec properties the store needs to ingest an older span.
EXAMPLE_GEN_KEYS = ("input_config", "output_config", "output_data_format",
                    "output_file_format", "null_values")


class SpanWindowSpec(ComponentSpec):
    PARAMETERS = {
        keys.WINDOW_SIZE_KEY: ExecutionParameter(type=int),
        keys.SPAN_STORE_KEY: ExecutionParameter(type=str),
        keys.INPUT_BASE_KEY: ExecutionParameter(type=str),
        keys.EXAMPLE_GEN_PROPERTIES_KEY: ExecutionParameter(type=str),
    }
    INPUTS = {keys.EXAMPLES_KEY: ChannelParameter(
        type=standard_artifacts.Examples)}
    OUTPUTS = {keys.WINDOW_KEY: ChannelParameter(
        type=standard_artifacts.Examples)}


def example_gen_properties(example_gen) -> str:
    """What of `example_gen`'s settings an older span is ingested with."""
    properties = {}
    for key in EXAMPLE_GEN_KEYS:
        value = example_gen.exec_properties.get(key)
        if value is not None:
            properties[key] = (value if isinstance(value, (str, int))
                               else proto_utils.proto_to_json(value))
    return json.dumps(properties, sort_keys=True)


class SpanWindow(base_beam_component.BaseBeamComponent):
    """The newest `window_size` spans of `example_gen`'s data.

    Example:
        window = SpanWindow(example_gen, window_size=3,
                            span_store=f"{pipeline_root}/span_store")
        transform = WindowTransform(examples=window.outputs["window"], ...)
    """

    SPEC_CLASS = SpanWindowSpec
    EXECUTOR_SPEC = executor_spec.BeamExecutorSpec(keys.Executor)

    def __init__(self, example_gen, window_size: int, span_store: str):
        """`example_gen`: our CsvExampleGen node (its output and settings)."""
        if window_size < 2:
            raise ValueError(f"window_size must be >= 2, got {window_size}: "
                             "a window of one span is the plain pipeline")
        super().__init__(spec=SpanWindowSpec(
            examples=example_gen.outputs[keys.EXAMPLES_KEY],
            window_size=window_size, span_store=span_store,
            input_base=example_gen.exec_properties[keys.INPUT_BASE_KEY],
            example_gen_properties=example_gen_properties(example_gen),
            window=types.Channel(type=standard_artifacts.Examples)))
