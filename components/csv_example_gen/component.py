"""CsvExampleGen that also reads configured null tokens as blank cells.

TFX's CsvExampleGen interface (input_base, input_config, output_config,
range_config), its driver (spans, versions, fingerprints) and its node id
("CsvExampleGen", so MLMD queries and tests naming it keep working), plus one
exec property, `null_values`: the tokens (`NA`, `null`, ...) that mean "no
value" in this dataset. See executor.py for what happens to them.
"""
from typing import Optional, Union

from tfx import types
from tfx.components.example_gen import utils
from tfx.components.example_gen.csv_example_gen import (
    component as tfx_csv_component)
from tfx.dsl.components.base import base_beam_component, executor_spec
from tfx.dsl.placeholder import placeholder
from tfx.orchestration import data_types
from tfx.proto import example_gen_pb2, range_config_pb2
from tfx.types import standard_artifacts, standard_component_specs
from tfx.types.component_spec import ExecutionParameter

from components.csv_example_gen import null_values as null_values_lib
from components.csv_example_gen.executor import NULL_VALUES_KEY, Executor


def _optional(key: str, value: Optional[str]) -> dict:
    return {} if value is None else {key: value}


class CsvExampleGenSpec(standard_component_specs.FileBasedExampleGenSpec):
    """FileBasedExampleGen's spec plus `null_values` (a JSON list of str)."""

    PARAMETERS = {
        **standard_component_specs.FileBasedExampleGenSpec.PARAMETERS,
        NULL_VALUES_KEY: ExecutionParameter(type=str, optional=True),
    }


class CsvExampleGen(tfx_csv_component.CsvExampleGen):
    """TFX's CsvExampleGen; `null_values` cells are read as blank cells.

    With no null values it is TFX's CsvExampleGen: same exec properties (so
    the same cache key) and byte-identical examples.
    """

    SPEC_CLASS = CsvExampleGenSpec
    EXECUTOR_SPEC = executor_spec.BeamExecutorSpec(Executor)

    def __init__(
            self,
            input_base: Optional[str] = None,
            input_config: Optional[Union[example_gen_pb2.Input,
                                         data_types.RuntimeParameter]] = None,
            output_config: Optional[Union[example_gen_pb2.Output,
                                          data_types.RuntimeParameter]] = None,
            range_config: Optional[Union[placeholder.Placeholder,
                                         range_config_pb2.RangeConfig,
                                         data_types.RuntimeParameter]] = None,
            null_values: null_values_lib.NullValues = None):
        """Same arguments as TFX's CsvExampleGen, plus:

        Args:
          null_values: whole-cell tokens that mean "no value", e.g.
            ["NA", "null"] or "NA,null" (see null_values.py for the forms).
        """
        # FileBasedExampleGen.__init__ builds its own spec class, which is not
        # ours; this is its body with CsvExampleGenSpec (TFX 1.16).
        input_config = input_config or utils.make_default_input_config()
        output_config = output_config or utils.make_default_output_config(
            input_config)
        spec = CsvExampleGenSpec(
            input_base=input_base,
            input_config=input_config,
            output_config=output_config,
            custom_config=None,
            range_config=range_config,
            output_data_format=example_gen_pb2.FORMAT_TF_EXAMPLE,
            output_file_format=example_gen_pb2.FORMAT_TFRECORDS_GZIP,
            examples=types.Channel(type=standard_artifacts.Examples),
            # Unset (not None) without tokens: TFX's exec properties exactly.
            **_optional(NULL_VALUES_KEY, null_values_lib.encode(null_values)))
        base_beam_component.BaseBeamComponent.__init__(self, spec=spec)
