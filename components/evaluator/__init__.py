"""TFX's Evaluator, taking its baseline from ServedBaseline.

The component loads lazily, so `gate_rules` (imported by `tfx-prod submit`
to check gates) does not pull in TFX and TFMA.
"""
__all__ = ["BASELINE_VERSION", "Evaluator"]


def __getattr__(name):
    if name == "Evaluator":
        from components.evaluator.component import Evaluator
        return Evaluator
    if name == "BASELINE_VERSION":
        from components.evaluator.executor import BASELINE_VERSION
        return BASELINE_VERSION
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
