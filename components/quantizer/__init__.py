"""Quantizer component: TFLite variants gated on a budget in the task's metric.

`Quantizer` is imported on first use, so readers of the report can import
`components.quantizer.tasks` without TensorFlow or TFX.
"""
__all__ = ["Quantizer"]


def __getattr__(name):
    if name == "Quantizer":
        from components.quantizer.component import Quantizer  # pylint: disable=import-outside-toplevel
        return Quantizer
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
