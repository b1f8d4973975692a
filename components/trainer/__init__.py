"""Trainer that records what the training recipe achieved in ML Metadata."""
from components.trainer.component import OptimizingTrainer
from components.trainer.executor import OptimizingTrainerExecutor

__all__ = ["OptimizingTrainer", "OptimizingTrainerExecutor"]
