"""TFX's Evaluator, taking its baseline from ServedBaseline."""
from components.evaluator.component import Evaluator
from components.evaluator.executor import BASELINE_VERSION

__all__ = ["BASELINE_VERSION", "Evaluator"]
