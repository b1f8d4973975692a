"""AtomicPusher: TFX's Pusher with an executor that publishes versions atomically.

Subclassing (rather than `custom_executor_spec=`, deprecated in TFX 1.16) keeps
the Pusher's spec, channels and validation unchanged.
"""
from tfx.components import Pusher
from tfx.dsl.components.base import executor_spec

from components.pusher.executor import AtomicPusherExecutor


class AtomicPusher(Pusher):
    """Pusher whose filesystem push never shows a half-written version."""

    EXECUTOR_SPEC = executor_spec.ExecutorClassSpec(AtomicPusherExecutor)
