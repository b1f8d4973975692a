"""Evaluator: TFX's component, gating against the served model (see executor)."""
from tfx.components import Evaluator as TfxEvaluator
from tfx.dsl.components.base import executor_spec

from components.evaluator.executor import Executor


class Evaluator(TfxEvaluator):
    """TFX's Evaluator; a ServedBaseline with nothing served means no baseline."""

    EXECUTOR_SPEC = executor_spec.BeamExecutorSpec(Executor)
