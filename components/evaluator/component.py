"""Evaluator: TFX's component, gating against the served model (see executor).

The gates may be a Kubeflow runtime parameter: then the EvalConfig cannot be
compiled in (a runtime parameter cannot sit inside a proto), so the
component carries the evaluation recipe and the gates as JSON strings and
the executor builds the EvalConfig at run time (eval_config.py: one builder
for both paths; gate_rules.py checks the values).
"""
import json
from typing import Any, Dict, Optional, Union

from tfx import types
from tfx.components import Evaluator as TfxEvaluator
from tfx.dsl.components.base import base_beam_component, executor_spec
from tfx.orchestration import data_types
from tfx.types import standard_artifacts, standard_component_specs
from tfx.types.component_spec import ExecutionParameter
from tfx.utils import json_utils

from components.evaluator import eval_config, gate_rules
from components.evaluator.executor import Executor


class EvaluatorSpec(standard_component_specs.EvaluatorSpec):
    """TFX's spec plus the recipe and gates a run-time EvalConfig needs."""

    PARAMETERS = {
        **standard_component_specs.EvaluatorSpec.PARAMETERS,
        gate_rules.RECIPE_KEY: ExecutionParameter(type=str, optional=True),
        gate_rules.GATES_KEY: ExecutionParameter(type=str, optional=True),
    }


class Evaluator(TfxEvaluator):
    """TFX's Evaluator; a ServedBaseline with nothing served means no baseline.

    Example:
        Evaluator(examples=..., model=..., baseline_model=...,
                  recipe=gate_rules.recipe("binary", "label", "probability"),
                  gates={"min_auc": 0.7, "min_accuracy": 0.0,
                         "max_auc_regression": 0.002})
    """

    SPEC_CLASS = EvaluatorSpec
    EXECUTOR_SPEC = executor_spec.BeamExecutorSpec(Executor)

    def __init__(self, examples: types.BaseChannel, model: types.BaseChannel,
                 baseline_model: Optional[types.BaseChannel],
                 recipe: Dict[str, Any],
                 gates: Union[Dict[str, Any], data_types.RuntimeParameter]):
        """Gates as a dict compile into TFX's eval_config (recorded in ML
        Metadata, as TFX does); as a str RuntimeParameter (JSON) they are
        checked and applied when the executor runs."""
        at_run_time = isinstance(gates, data_types.RuntimeParameter)
        if at_run_time and gates.ptype is not str:
            raise TypeError("gates as a runtime parameter must be a str (JSON)")
        config = None
        if not at_run_time:
            config = eval_config.make_eval_config(
                recipe, gate_rules.parse_gates(recipe["task"], json.dumps(gates)))
        spec = EvaluatorSpec(
            examples=examples, model=model, baseline_model=baseline_model,
            eval_config=config,
            fairness_indicator_thresholds=json_utils.dumps(None),
            example_splits=json_utils.dumps(None),
            evaluation=types.Channel(type=standard_artifacts.ModelEvaluation),
            blessing=types.Channel(type=standard_artifacts.ModelBlessing),
            **({gate_rules.RECIPE_KEY: json.dumps(recipe, sort_keys=True),
                gate_rules.GATES_KEY: gates} if at_run_time else {}))
        base_beam_component.BaseBeamComponent.__init__(self, spec=spec)
