"""Evaluator executor: TFX's, with "nothing served yet" meaning "no baseline".

ServedBaseline always outputs a Model (TFX 1.16 has no optional outputs); one
with `served_version` 0 holds no files, and TFX's Evaluator would fail to
load it. Dropping it gives TFX's own first-run behaviour: change thresholds
are skipped. The served version the candidate was gated against is recorded on
the blessing, for lineage.
"""
from tfx.components.evaluator import executor as tfx_evaluator
from tfx.types import artifact_utils, standard_component_specs as specs

from components.served_baseline import executor as served_baseline

BASELINE_VERSION = "baseline_version"  # on the blessing; 0 = no baseline


class Executor(tfx_evaluator.Executor):

    def Do(self, input_dict, output_dict, exec_properties):
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
