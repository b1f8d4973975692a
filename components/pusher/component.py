"""Pusher: publishes a blessed model as a new TF Serving version, safely.

TFX's Pusher gates on the blessing only when it is wired in (the Cond in
`create_pipeline` is a second, independent gate), names versions by the
current second (two pushes in one second collide and the second is silently
"skipped" yet reported as pushed), and copies straight into the version dir
(a reader can see half a model). This component keeps TFX's interface and
output properties (`pushed`, `pushed_destination`, `pushed_version`) and
fixes those: see `publish.py` for the protocol.
"""
import json
from typing import Optional

from tfx import types
from tfx.dsl.components.base import base_component, executor_spec
from tfx.proto import pusher_pb2
from tfx.types import standard_artifacts
from tfx.types.component_spec import (ChannelParameter, ComponentSpec,
                                      ExecutionParameter)

from components.pusher import driver, executor

KEYS = executor


class PusherSpec(ComponentSpec):
    """Model + its blessing in (both required); a PushedModel out."""

    PARAMETERS = {
        KEYS.PUSH_DESTINATION_KEY: ExecutionParameter(
            type=pusher_pb2.PushDestination, optional=True),
        # The model base as a plain string: what a Kubeflow runtime
        # parameter can be (it cannot sit inside the proto).
        KEYS.MODEL_BASE_KEY: ExecutionParameter(type=str, optional=True),
        KEYS.PIPELINE_NAME_KEY: ExecutionParameter(type=str),
        KEYS.TRAINED_WITH_KEY: ExecutionParameter(type=str, optional=True),
        KEYS.RECIPE_KEY: ExecutionParameter(type=str, optional=True),
        KEYS.SOURCE_KEY: ExecutionParameter(type=str, optional=True),
        # Set at run time by the driver; part of the cache key.
        KEYS.SERVING_STATE_KEY: ExecutionParameter(type=str, optional=True),
    }
    INPUTS = {
        KEYS.MODEL_KEY: ChannelParameter(type=standard_artifacts.Model),
        KEYS.MODEL_BLESSING_KEY: ChannelParameter(
            type=standard_artifacts.ModelBlessing),
        KEYS.SCHEMA_KEY: ChannelParameter(type=standard_artifacts.Schema,
                                          optional=True),
        KEYS.STATISTICS_KEY: ChannelParameter(
            type=standard_artifacts.ExampleStatistics, optional=True),
        KEYS.EXAMPLES_KEY: ChannelParameter(type=standard_artifacts.Examples,
                                            optional=True),
        KEYS.TRAINING_EXAMPLES_KEY: ChannelParameter(
            type=standard_artifacts.Examples, optional=True),
        KEYS.TRANSFORM_GRAPH_KEY: ChannelParameter(
            type=standard_artifacts.TransformGraph, optional=True),
    }
    OUTPUTS = {
        KEYS.PUSHED_MODEL_KEY: ChannelParameter(
            type=standard_artifacts.PushedModel),
    }


class Pusher(base_component.BaseComponent):
    """Pushes `model` to `<base_directory>/<version>/` only if it is blessed.

    Example:
        pusher = Pusher(
            model=quantizer.outputs["quantized_model"],
            model_blessing=evaluator.outputs["blessing"],
            push_destination=PushDestination(filesystem=PushDestination.
                Filesystem(base_directory="serving/taxi")),
            pipeline_name="tfx-prod-taxi",
            schema=schema_gen.outputs["schema"],
            statistics=statistics_gen.outputs["statistics"])
    """

    SPEC_CLASS = PusherSpec
    EXECUTOR_SPEC = executor_spec.ExecutorClassSpec(executor.Executor)
    DRIVER_CLASS = driver.RepushDriver

    def __init__(self, model: types.BaseChannel,
                 model_blessing: types.BaseChannel,
                 push_destination: Optional[pusher_pb2.PushDestination] = None,
                 pipeline_name: str = "",
                 schema: Optional[types.BaseChannel] = None,
                 statistics: Optional[types.BaseChannel] = None,
                 examples: Optional[types.BaseChannel] = None,
                 training_examples: Optional[types.BaseChannel] = None,
                 trained_with: Optional[str] = None,
                 model_base=None,
                 transform_graph: Optional[types.BaseChannel] = None,
                 recipe: Optional[dict] = None,
                 source: Optional[dict] = None):
        """Construct a Pusher.

        Args:
            model: Channel of `Model`; `<uri>/Format-Serving` is pushed.
            model_blessing: Channel of `ModelBlessing` from the Evaluator.
                Required: the push is refused unless `blessed` == 1.
            push_destination: A `filesystem` destination; `base_directory`
                is the model base TF Serving watches (`<serving dir>/<model>`).
            pipeline_name: Recorded in the version's lineage.
            schema: Optional `Schema`, shipped as the training schema.
            statistics: Optional `ExampleStatistics`; its train split ships
                as the training statistics (input validation, drift).
            examples: Optional `Examples` the model was trained on (from
                ExampleGen); recorded in the lineage.
            training_examples: Optional SpanWindow output: with a window,
                the spans trained on (and their fingerprints), recorded too.
            trained_with: Optional fingerprint of the Trainer's settings and
                code, recorded in the lineage (ServedBaseline matches it).
            model_base: Instead of `push_destination`: the model base as a
                string or a runtime parameter (Kubeflow).
            transform_graph: Optional `TransformGraph`; recorded in the lineage.
            recipe: Optional training recipe and settings (JSON-able), and
            source: optional code version (pipeline/source_version.py);
                both recorded in the lineage.

        Raises:
            ValueError: On a destination other than a non-empty filesystem
                base directory.
        """
        if (push_destination is None) == (model_base is None):
            raise ValueError("Pass exactly one of push_destination and "
                             "model_base.")
        if push_destination is not None and (
                push_destination.WhichOneof("destination") != "filesystem"
                or not push_destination.filesystem.base_directory):
            raise ValueError(
                "push_destination must be PushDestination(filesystem="
                "PushDestination.Filesystem(base_directory=...)) with a "
                "non-empty base_directory.")
        if not pipeline_name:
            raise ValueError("pipeline_name must be a non-empty string.")
        super().__init__(spec=PusherSpec(
            model=model, model_blessing=model_blessing, schema=schema,
            statistics=statistics, examples=examples,
            training_examples=training_examples, trained_with=trained_with,
            transform_graph=transform_graph,
            recipe=json.dumps(recipe, sort_keys=True, default=str)
            if recipe is not None else None,
            source=json.dumps(source, sort_keys=True)
            if source is not None else None,
            push_destination=push_destination, model_base=model_base,
            pipeline_name=pipeline_name,
            pushed_model=types.Channel(type=standard_artifacts.PushedModel)))
