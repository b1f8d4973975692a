"""Pusher executor that never exposes a half-written model version."""
from components.pusher.executor import AtomicPusherExecutor

__all__ = ["AtomicPusherExecutor"]
