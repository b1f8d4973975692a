"""The component keeps TFX's CsvExampleGen interface and adds `null_values`."""
import json

import pytest
from tfx.components import CsvExampleGen as TfxCsvExampleGen
from tfx.dsl.compiler import compiler
from tfx.orchestration import pipeline as tfx_pipeline
from tfx.proto import example_gen_pb2, range_config_pb2
from tfx.proto.orchestration import executable_spec_pb2, pipeline_pb2

from components.csv_example_gen import NULL_VALUES_KEY, CsvExampleGen
from components.csv_example_gen import null_values


def _configs():
    return dict(
        input_config=example_gen_pb2.Input(splits=[example_gen_pb2.Input.Split(
            name="single_split", pattern="span-{SPAN}/*")]),
        output_config=example_gen_pb2.Output(
            split_config=example_gen_pb2.SplitConfig(splits=[
                example_gen_pb2.SplitConfig.Split(name="train",
                                                  hash_buckets=4),
                example_gen_pb2.SplitConfig.Split(name="eval",
                                                  hash_buckets=1)])),
        range_config=range_config_pb2.RangeConfig(
            static_range=range_config_pb2.StaticRange(
                start_span_number=1, end_span_number=1)))


def test_without_null_values_it_is_tfxs_component():
    """Same id, driver, outputs and exec properties: the same cache key."""
    ours = CsvExampleGen(input_base="/data", **_configs())
    tfx = TfxCsvExampleGen(input_base="/data", **_configs())
    assert ours.id == tfx.id == "CsvExampleGen"
    assert ours.driver_class is tfx.driver_class
    assert ours.exec_properties == tfx.exec_properties
    assert list(ours.outputs) == list(tfx.outputs) == ["examples"]
    assert isinstance(ours, TfxCsvExampleGen)
    assert CsvExampleGen(input_base="/data", null_values=[],
                         **_configs()).exec_properties == tfx.exec_properties


@pytest.mark.parametrize("given", [["NA", "null"], "NA,null", " NA , null ",
                                   '["NA", "null"]', ("NA", "", "null", "NA")])
def test_null_values_are_stored_as_one_json_list(given):
    node = CsvExampleGen(input_base="/data", null_values=given)
    assert json.loads(node.exec_properties[NULL_VALUES_KEY]) == ["NA", "null"]


def test_json_form_keeps_commas_and_spaces():
    assert null_values.parse('["n, a", " NA"]') == ("n, a", " NA")


@pytest.mark.parametrize("bad", ['["NA", 1]', "[NA", [None]])
def test_bad_null_values_say_how_to_write_them(bad):
    with pytest.raises(ValueError, match="NA"):
        CsvExampleGen(input_base="/data", null_values=bad)


def test_compiles_into_a_pipeline_with_the_property(tmp_path):
    node = CsvExampleGen(input_base=str(tmp_path), null_values="NA",
                         **_configs())
    ir = compiler.Compiler().compile(tfx_pipeline.Pipeline(
        pipeline_name="p", pipeline_root=str(tmp_path / "root"),
        components=[node]))
    parameters = ir.nodes[0].pipeline_node.parameters.parameters
    assert parameters[NULL_VALUES_KEY].field_value.string_value == '["NA"]'
    deployment = pipeline_pb2.IntermediateDeploymentConfig()
    ir.deployment_config.Unpack(deployment)
    executor = executable_spec_pb2.BeamExecutableSpec()
    deployment.executor_specs["CsvExampleGen"].Unpack(executor)
    assert executor.python_executor_spec.class_path == (
        "components.csv_example_gen.executor.Executor")
