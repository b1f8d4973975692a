"""The Pusher exactly as `create_pipeline` wires it, and its constructor."""
import json

import pytest
from tfx import types
from tfx.dsl.compiler import compiler
from tfx.dsl.experimental.conditionals import conditional
from tfx.proto import pusher_pb2
from tfx.proto.orchestration import executable_spec_pb2, pipeline_pb2
from tfx.types import standard_artifacts

from components.pusher import Pusher, driver, executor
from pipeline.configs import taxi_config
from pipeline.pipeline import create_pipeline


def _config(tmp_path, **overrides):
    return taxi_config(str(tmp_path / "root"), str(tmp_path / "serving"),
                       **overrides)


def _nodes(pipeline):
    return {node.id: node for node in pipeline.components}


@pytest.fixture(params=["curated_schema", "inferred_schema"])
def config(request, tmp_path):
    if request.param == "inferred_schema":
        return _config(tmp_path, schema_path=None)
    return _config(tmp_path)


def test_pusher_takes_the_evaluators_blessing_and_ships_schema_and_stats(
        config):
    pipeline = create_pipeline(config)
    nodes = _nodes(pipeline)
    pusher = nodes["Pusher"]
    schema_gen = nodes.get("ImportSchemaGen") or nodes["SchemaGen"]

    assert isinstance(pusher, Pusher)
    assert pusher.executor_spec.executor_class is executor.Executor
    assert pusher.inputs[executor.MODEL_BLESSING_KEY] is (
        nodes["Evaluator"].outputs["blessing"])
    assert pusher.inputs[executor.MODEL_KEY] is (
        nodes["Quantizer"].outputs["quantized_model"])
    assert pusher.inputs[executor.SCHEMA_KEY] is schema_gen.outputs["schema"]
    assert pusher.inputs[executor.STATISTICS_KEY] is (
        nodes["StatisticsGen"].outputs["statistics"])
    # The training examples, recorded in the lineage (what ServedBaseline's
    # `examples` exclusion matches on).
    assert pusher.inputs[executor.EXAMPLES_KEY] is (
        nodes["CsvExampleGen"].outputs["examples"])

    properties = pusher.exec_properties
    assert properties[executor.PIPELINE_NAME_KEY] == config.pipeline_name
    assert properties[executor.MODEL_BASE_KEY] == config.model_base


def test_pusher_is_inside_the_blessing_cond(config):
    pipeline = create_pipeline(config)
    nodes = _nodes(pipeline)
    registry = pipeline.dsl_context_registry
    (predicate,) = conditional.get_predicates(nodes["Pusher"], registry)
    # The very predicate the Quantizer runs under (one Cond holds both).
    (quantizer_predicate,) = conditional.get_predicates(nodes["Quantizer"],
                                                        registry)
    assert predicate.internal_equals(quantizer_predicate)
    assert conditional.get_predicates(nodes["Evaluator"], registry) == ()


def _compiled_node(pipeline, node_id):
    ir = compiler.Compiler().compile(pipeline)
    (node,) = [n.pipeline_node for n in ir.nodes
               if n.pipeline_node.node_info.id == node_id]
    return node, ir


def _custom_driver(ir, node_id):
    """The class path of `node_id`'s driver, as LocalDagRunner loads it."""
    deployment = pipeline_pb2.IntermediateDeploymentConfig()
    ir.deployment_config.Unpack(deployment)
    if node_id not in deployment.custom_driver_specs:
        return None
    spec = executable_spec_pb2.PythonClassExecutableSpec()
    deployment.custom_driver_specs[node_id].Unpack(spec)
    return spec.class_path


def test_compiled_pusher_requires_the_blessing_and_gates_on_it(tmp_path):
    config = _config(tmp_path)
    node, ir = _compiled_node(create_pipeline(config), "Pusher")
    inputs = node.inputs.inputs

    blessing = inputs[executor.MODEL_BLESSING_KEY]
    assert blessing.min_count == 1  # required: no blessing, no execution
    (channel,) = blessing.channels
    assert channel.producer_node_query.id == "Evaluator"
    assert channel.output_key == "blessing"
    assert channel.artifact_query.type.name == "ModelBlessing"
    assert inputs[executor.MODEL_KEY].channels[0].producer_node_query.id == (
        "Quantizer")
    assert inputs[executor.SCHEMA_KEY].channels[0].producer_node_query.id == (
        "ImportSchemaGen")
    assert inputs[executor.STATISTICS_KEY].channels[0] \
        .producer_node_query.id == "StatisticsGen"
    assert inputs[executor.EXAMPLES_KEY].channels[0].producer_node_query.id \
        == "CsvExampleGen"

    # The Cond compiles to a predicate on that same input's `blessed` == 1.
    (predicate,) = node.inputs.conditionals.values()
    compare = predicate.placeholder_expression.operator.compare_op
    artifact_property = compare.lhs.operator.artifact_property_op
    assert artifact_property.key == "blessed"
    assert artifact_property.is_custom_property
    assert artifact_property.expression.operator.index_op.expression \
        .placeholder.key == executor.MODEL_BLESSING_KEY
    assert compare.rhs.value.int_value == 1
    assert compare.op == compare.Operation.EQUAL

    parameters = node.parameters.parameters
    assert parameters[executor.MODEL_BASE_KEY].field_value.string_value == (
        config.model_base)
    assert parameters[executor.PIPELINE_NAME_KEY].field_value.string_value \
        == config.pipeline_name
    # The serving state is not a constant of the compiled pipeline: the
    # driver sets it at run time, before the cache lookup.
    assert executor.SERVING_STATE_KEY not in parameters
    assert _custom_driver(ir, "Pusher") == (
        f"{driver.RepushDriver.__module__}.{driver.RepushDriver.__name__}")


def _channels():
    return {"model": types.Channel(type=standard_artifacts.Model),
            "model_blessing": types.Channel(
                type=standard_artifacts.ModelBlessing)}


def _filesystem(base):
    return pusher_pb2.PushDestination(
        filesystem=pusher_pb2.PushDestination.Filesystem(
            base_directory=base))


@pytest.mark.parametrize("destination", [
    pusher_pb2.PushDestination(),                       # none at all
    _filesystem(""),                                    # no base directory
], ids=["empty", "no_base_directory"])
def test_a_bad_destination_is_refused(destination):
    with pytest.raises(ValueError, match="base_directory"):
        Pusher(**_channels(), push_destination=destination,
               pipeline_name="p")


def test_pipeline_name_is_required():
    with pytest.raises(ValueError, match="pipeline_name"):
        Pusher(**_channels(), push_destination=_filesystem("/srv/m"),
               pipeline_name="")


def test_model_blessing_is_required():
    with pytest.raises(TypeError):
        Pusher(model=_channels()["model"],  # pylint: disable=missing-kwoa
               push_destination=_filesystem("/srv/m"), pipeline_name="p")
    with pytest.raises(TypeError):
        Pusher(model=_channels()["model"], model_blessing=None,
               push_destination=_filesystem("/srv/m"), pipeline_name="p")


def test_a_channel_of_the_wrong_type_is_refused():
    with pytest.raises(TypeError):
        Pusher(model=_channels()["model"],
               model_blessing=types.Channel(type=standard_artifacts.Model),
               push_destination=_filesystem("/srv/m"), pipeline_name="p")


def test_a_remote_destination_is_accepted_as_given():
    pusher = Pusher(**_channels(), push_destination=_filesystem(
        "gs://bucket/serving/taxi"), pipeline_name="p")
    assert json.loads(pusher.exec_properties[executor.PUSH_DESTINATION_KEY]) \
        == {"filesystem": {"base_directory": "gs://bucket/serving/taxi"}}


def test_model_base_and_push_destination_exclude_each_other():
    from tfx.proto import pusher_pb2
    from tfx.types import channel, standard_artifacts
    from components.pusher import Pusher
    model = channel.Channel(type=standard_artifacts.Model)
    blessing = channel.Channel(type=standard_artifacts.ModelBlessing)
    destination = pusher_pb2.PushDestination(
        filesystem=pusher_pb2.PushDestination.Filesystem(base_directory="s/m"))
    for kwargs in ({}, {"push_destination": destination, "model_base": "s/m"}):
        with pytest.raises(ValueError, match="exactly one"):
            Pusher(model=model, model_blessing=blessing, pipeline_name="p",
                   **kwargs)
