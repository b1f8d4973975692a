"""Latest blessed model as the Evaluator baseline, never the candidate itself.

With TFX's LatestBlessedModelStrategy, a re-run on unchanged data gets the
cached Trainer's model back, which the previous run blessed; the baseline then
flips from "none" to "the candidate itself", the Evaluator's inputs change and
it re-executes, so the pipeline is never fully cached (and the model is
compared with itself). Excluding the candidate keeps the baseline stable.
"""
from typing import Dict, List, Optional

import ml_metadata as mlmd
from tfx import types
from tfx.components.evaluator import constants as evaluator_constants
from tfx.dsl.components.common import resolver
from tfx.types import standard_artifacts

# Custom properties TFX's Evaluator writes on its ModelBlessing.
BLESSED_KEY = evaluator_constants.ARTIFACT_PROPERTY_BLESSED_KEY  # 'blessed'
# 'current_model_id': the id of the model the blessing is about.
CURRENT_MODEL_ID_KEY = (
    evaluator_constants.ARTIFACT_PROPERTY_CURRENT_MODEL_ID_KEY)

CANDIDATE_KEY = "candidate"
MODEL_KEY = "model"
MODEL_BLESSING_KEY = "model_blessing"

_USAGE = (
    "Use it as Resolver(strategy_class=LatestBlessedBaselineStrategy, "
    "candidate=trainer.outputs['model'], model=Channel(type=Model), "
    "model_blessing=Channel(type=ModelBlessing)).")


class LatestBlessedBaselineStrategy(resolver.ResolverStrategy):
    """Resolves the latest blessed Model other than the candidate.

    Inputs: `candidate` (the Trainer's model of this run), `model` (all
    Models) and `model_blessing` (all ModelBlessings). Outputs `model` and
    `model_blessing` like LatestBlessedModelStrategy: one each, or both empty
    when no other model is blessed; `candidate` is passed through. A
    blessing counts if `blessed` == 1, for the model whose id is its
    `current_model_id` (the properties TFX's Evaluator writes).
    """

    def resolve_artifacts(
        self, store: mlmd.MetadataStore,
        input_dict: Dict[str, List[types.Artifact]],
    ) -> Optional[Dict[str, List[types.Artifact]]]:
        missing = {CANDIDATE_KEY, MODEL_KEY, MODEL_BLESSING_KEY} - set(
            input_dict)
        if missing:
            raise ValueError(
                f"LatestBlessedBaselineStrategy needs inputs {sorted(missing)}"
                f"; got {sorted(input_dict)}. {_USAGE}")
        _check_types(input_dict)
        candidates = input_dict[CANDIDATE_KEY]
        result = latest_blessed_excluding(input_dict[MODEL_KEY],
                                          input_dict[MODEL_BLESSING_KEY],
                                          {a.id for a in candidates})
        # Every input key must come back: the Resolver exposes one output
        # per input (resolver.outputs['candidate'] is the candidate itself).
        result[CANDIDATE_KEY] = list(candidates)
        return result


def latest_blessed_excluding(models: List[types.Artifact],
                             blessings: List[types.Artifact],
                             excluded_ids: set) -> Dict[str, List]:
    """The newest (highest id) blessed model not in excluded_ids."""
    blessing_by_model_id = {}
    # Ascending id, so the newest blessing of a model wins.
    for blessing in sorted(blessings, key=lambda a: a.id):
        if (blessing.has_custom_property(BLESSED_KEY)
                and blessing.get_int_custom_property(BLESSED_KEY) == 1):
            model_id = blessing.get_int_custom_property(CURRENT_MODEL_ID_KEY)
            blessing_by_model_id[model_id] = blessing
    for model in sorted(models, key=lambda a: a.id, reverse=True):
        if model.id in excluded_ids or model.id not in blessing_by_model_id:
            continue
        return {MODEL_KEY: [model],
                MODEL_BLESSING_KEY: [blessing_by_model_id[model.id]]}
    return {MODEL_KEY: [], MODEL_BLESSING_KEY: []}


def _check_types(input_dict: Dict[str, List[types.Artifact]]) -> None:
    expected = {CANDIDATE_KEY: standard_artifacts.Model,
                MODEL_KEY: standard_artifacts.Model,
                MODEL_BLESSING_KEY: standard_artifacts.ModelBlessing}
    for key, artifact_type in expected.items():
        for artifact in input_dict[key]:
            if not isinstance(artifact, artifact_type):
                raise TypeError(
                    f"LatestBlessedBaselineStrategy input '{key}' must hold "
                    f"{artifact_type.TYPE_NAME} artifacts, got "
                    f"{artifact.type_name}. {_USAGE}")
