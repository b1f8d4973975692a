"""Evaluator executor: TFX's, with "nothing served yet" meaning "no baseline".

ServedBaseline always outputs a Model (TFX 1.16 has no optional outputs); one
with `served_version` 0 holds no files, and TFX's Evaluator would fail to
load it. Dropping it gives TFX's own first-run behaviour: change thresholds
are skipped. The served version the candidate was gated against is recorded on
the blessing, for lineage.

Gates given at run time (a Kubeflow runtime parameter, component.py) are
checked and built into the EvalConfig here, before TFX's executor reads it.
"""
import json

from tfx.components.evaluator import executor as tfx_evaluator
from tfx.types import artifact_utils, standard_component_specs as specs
from tfx.utils import proto_utils

from components.evaluator import eval_config, gate_rules
from components.served_baseline import executor as served_baseline

BASELINE_VERSION = "baseline_version"  # on the blessing; 0 = no baseline


class Executor(tfx_evaluator.Executor):

    def Do(self, input_dict, output_dict, exec_properties):
        exec_properties = with_run_time_gates(exec_properties)
        baselines = input_dict.get(specs.BASELINE_MODEL_KEY) or []
        version = 0
        if baselines and served_baseline.has_model(baselines[0]):
            version = baselines[0].get_int_custom_property(
                served_baseline.SERVED_VERSION)
        elif baselines:
            input_dict = {key: value for key, value in input_dict.items()
                          if key != specs.BASELINE_MODEL_KEY}
        super().Do(input_dict, output_dict, exec_properties)
        blessing = artifact_utils.get_single_instance(
            output_dict[specs.BLESSING_KEY])
        blessing.set_int_custom_property(BASELINE_VERSION, version)


def with_run_time_gates(exec_properties: dict) -> dict:
    """`exec_properties` with the EvalConfig built from run-time gates, if any.

    Raises:
        ValueError: when the gates JSON is malformed or misses a gate.
    """
    gates = exec_properties.get(gate_rules.GATES_KEY)
    if not gates:
        return exec_properties
    recipe = json.loads(exec_properties[gate_rules.RECIPE_KEY])
    config = eval_config.make_eval_config(
        recipe, gate_rules.parse_gates(recipe["task"], gates))
    return {**exec_properties,
            specs.EVAL_CONFIG_KEY: proto_utils.proto_to_json(config)}
