"""SpanWindow (the newest K spans) and WindowTransform (Transform over them,
with the analyzer cache carried from run to run)."""
from components.span_window.component import SpanWindow
from components.span_window.transform import WindowTransform

__all__ = ["SpanWindow", "WindowTransform"]
