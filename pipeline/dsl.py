"""The TFX names this project uses, imported from their own modules.

`from tfx import v1` also imports kfp and google-cloud-aiplatform for its
Kubeflow/Vertex namespaces: 5 s on our 2-core machines, paid by every
`tfx-prod run` (a fully cached re-run takes ~11 s in all). These are the same
classes `tfx.v1` re-exports; the paths are pinned with TFX in requirements.lock.
"""
from tfx.components import (CsvExampleGen, Evaluator, ExampleValidator,
                            Pusher, SchemaGen, StatisticsGen, Trainer,
                            Transform)
from tfx.components.schema_gen.import_schema_gen.component import (
    ImportSchemaGen)
from tfx.dsl.components.common.resolver import Resolver
from tfx.dsl.experimental.conditionals.conditional import Cond
from tfx.dsl.input_resolution.strategies.latest_blessed_model_strategy import (
    LatestBlessedModelStrategy)
from tfx.orchestration.local.local_dag_runner import LocalDagRunner
from tfx.orchestration.metadata import sqlite_metadata_connection_config
from tfx.orchestration.pipeline import Pipeline
from tfx.proto import example_gen_pb2, pusher_pb2, trainer_pb2
from tfx.types import Channel, standard_artifacts

__all__ = [
    "Channel", "Cond", "CsvExampleGen", "Evaluator", "ExampleValidator",
    "ImportSchemaGen", "LatestBlessedModelStrategy", "LocalDagRunner",
    "Pipeline", "Pusher", "Resolver", "SchemaGen", "StatisticsGen", "Trainer",
    "Transform", "example_gen_pb2", "pusher_pb2", "sqlite_metadata_connection_config",
    "standard_artifacts", "trainer_pb2",
]
