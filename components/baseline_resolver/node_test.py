"""baseline_resolver() compiles for LocalDagRunner and for KFP v2."""
import pytest
from tfx import v1 as tfx
from tfx.dsl.compiler import compiler

from components.baseline_resolver import (RESOLVER_ID,
                                          LatestBlessedBaselineStrategy,
                                          baseline_resolver)
from components.baseline_resolver.pipeline_test import (TinyEvaluator,
                                                        TinyTrainer)


def _pipeline(resolver_for):
    trainer = TinyTrainer().with_id("trainer")
    resolver = resolver_for(trainer.outputs["model"])
    evaluator = TinyEvaluator(model=trainer.outputs["model"],
                              baseline_model=resolver.outputs["model"])
    return tfx.dsl.Pipeline(pipeline_name="baseline-node-test",
                            pipeline_root="/tmp/unused",
                            components=[trainer, resolver, evaluator])


def _kfp_v2_compile(pipeline, tmp_path):
    runner = tfx.orchestration.experimental.KubeflowV2DagRunner(
        config=tfx.orchestration.experimental.KubeflowV2DagRunnerConfig(
            default_image="tfx-prod:test"),
        output_dir=str(tmp_path))
    return runner.run(pipeline, write_out=False)


def test_local_ir_resolves_candidate_from_the_current_run_only():
    ir = compiler.Compiler().compile(_pipeline(baseline_resolver))
    [node] = [n.pipeline_node for n in ir.nodes
              if n.pipeline_node.node_info.id == RESOLVER_ID]
    [graph] = node.inputs.input_graphs.values()
    op_types = [n.op_node.op_type for n in graph.nodes.values()
                if n.HasField("op_node")]
    assert op_types == [LatestBlessedBaselineStrategy.__module__
                        + ".LatestBlessedBaselineStrategy"]
    [trainer_input] = [spec for spec in node.inputs.inputs.values()
                       if spec.channels
                       and spec.channels[0].producer_node_query.id]
    queried = {q.type.name for q in trainer_input.channels[0].context_queries}
    assert "pipeline_run" in queried


def test_kubeflow_v2_gets_the_stock_strategy(tmp_path):
    job = _kfp_v2_compile(
        _pipeline(lambda c: baseline_resolver(c, kubeflow_v2=True)), tmp_path)
    assert RESOLVER_ID in str(job)


def test_kubeflow_v2_rejects_custom_strategies(tmp_path):
    # Documents the TFX 1.16 limit that baseline_resolver() works around.
    with pytest.raises(TypeError, match="Unexpected resolver policy"):
        _kfp_v2_compile(_pipeline(baseline_resolver), tmp_path)
