"""Build the baseline Resolver node the Evaluator takes as `baseline_model`.

KubeflowV2DagRunner (TFX 1.16) compiles only LatestArtifactStrategy and
LatestBlessedModelStrategy into Vertex/KFP resolver tasks and raises TypeError
for any other strategy, so the KFP v2 build keeps the stock strategy (and its
re-run cache miss); local and Beam runs get LatestBlessedBaselineStrategy.
"""
from tfx import types
from tfx.dsl.components.common.resolver import Resolver
from tfx.dsl.input_resolution.strategies.latest_blessed_model_strategy import (
    LatestBlessedModelStrategy)
from tfx.types import channel, standard_artifacts

from components.baseline_resolver.strategy import (
    CANDIDATE_KEY, LatestBlessedBaselineStrategy)

RESOLVER_ID = "latest_blessed_model_resolver"


def baseline_resolver(candidate: types.BaseChannel,
                      kubeflow_v2: bool = False) -> Resolver:
    """Resolver whose outputs['model'] is the Evaluator's baseline model.

    candidate: the Trainer's `model` output; excluded from the baseline.
    kubeflow_v2: True when compiling with KubeflowV2DagRunner.
    """
    inputs = {
        "model": channel.Channel(type=standard_artifacts.Model),
        "model_blessing": channel.Channel(
            type=standard_artifacts.ModelBlessing),
    }
    if kubeflow_v2:
        strategy = LatestBlessedModelStrategy
    else:
        strategy = LatestBlessedBaselineStrategy
        inputs[CANDIDATE_KEY] = candidate
    return Resolver(strategy_class=strategy, **inputs).with_id(RESOLVER_ID)
