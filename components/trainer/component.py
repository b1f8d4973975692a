"""OptimizingTrainer: TFX's Trainer whose model carries the recipe's numbers."""
from tfx.components import Trainer
from tfx.dsl.components.base import executor_spec

from components.trainer.executor import OptimizingTrainerExecutor


class OptimizingTrainer(Trainer):
    """Trainer that records sparsity / parameter counts on its Model artifact."""

    EXECUTOR_SPEC = executor_spec.ExecutorClassSpec(OptimizingTrainerExecutor)
