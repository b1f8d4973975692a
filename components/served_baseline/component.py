"""ServedBaseline: the model that is actually being served, as a Model artifact.

The regression gate must compare a candidate with what users get today: the
newest complete version under the serving directory, not "the latest blessed
model", which may never have shipped. Reading the serving location (instead
of an ML Metadata query, as TFX's resolvers do) is also what works on
Kubeflow, where resolvers do not run at all: both runners gate against the
same thing. The same component feeds the Trainer's `base_model` (distillation
teacher, warm start).
"""
from typing import Optional

from tfx import types
from tfx.dsl.components.base import base_component, executor_spec
from tfx.types import standard_artifacts
from tfx.types.component_spec import (ChannelParameter, ComponentSpec,
                                      ExecutionParameter)

from components.served_baseline import driver, executor

KEYS = executor


class ServedBaselineSpec(ComponentSpec):
    PARAMETERS = {
        KEYS.MODEL_BASE_KEY: ExecutionParameter(type=str),
        KEYS.TRAINED_WITH_KEY: ExecutionParameter(type=str, optional=True),
        # Set at run time by the driver; part of the cache key.
        KEYS.SERVING_STATE_KEY: ExecutionParameter(type=str, optional=True),
    }
    INPUTS = {
        KEYS.CANDIDATE_KEY: ChannelParameter(type=standard_artifacts.Model,
                                             optional=True),
        KEYS.EXAMPLES_KEY: ChannelParameter(type=standard_artifacts.Examples,
                                            optional=True),
    }
    OUTPUTS = {KEYS.MODEL_KEY: ChannelParameter(type=standard_artifacts.Model)}


class ServedBaseline(base_component.BaseComponent):
    """Copies the newest complete version under `model_base` into `model`.

    With `candidate`, a version holding the candidate's own SavedModel is
    skipped, so a model is never its own baseline. When nothing is served,
    `model` has `served_version` == 0 and no files; the project's Evaluator
    then evaluates without a baseline (first model of a pipeline).

    Example:
        baseline = ServedBaseline(model_base="serving/taxi",
                                  candidate=trainer.outputs["model"])
        evaluator = Evaluator(..., baseline_model=baseline.outputs["model"])
    """

    SPEC_CLASS = ServedBaselineSpec
    EXECUTOR_SPEC = executor_spec.ExecutorClassSpec(executor.Executor)
    DRIVER_CLASS = driver.ServingStateDriver

    def __init__(self, model_base: str,
                 candidate: Optional[types.BaseChannel] = None,
                 examples: Optional[types.BaseChannel] = None,
                 trained_with: Optional[str] = None):
        """Construct a ServedBaseline.

        Args:
            model_base: The TF Serving model base (`<serving dir>/<model>`),
                any tf.io.gfile URI.
            candidate: Optional `Model` channel to exclude (the Trainer's).
            examples: Optional `Examples` channel (CsvExampleGen's), with
                `trained_with`: versions a Trainer with that fingerprint
                made from these examples are skipped. Use both for a
                Trainer's `base_model` (teacher, warm start): it is "what was
                served before this training first ran", so a re-run after its
                own push keeps its teacher and stays cached.
            trained_with: The consuming Trainer's fingerprint, the same
                string the Pusher records (see pipeline.py).
        """
        if not model_base:
            raise ValueError("model_base must be a non-empty path or URI.")
        super().__init__(spec=ServedBaselineSpec(
            model_base=model_base, candidate=candidate, examples=examples,
            trained_with=trained_with,
            model=types.Channel(type=standard_artifacts.Model)))
