"""The served model (newest complete version) as the Evaluator's baseline."""
from components.served_baseline.component import ServedBaseline
from components.served_baseline.executor import has_model

__all__ = ["ServedBaseline", "has_model"]
