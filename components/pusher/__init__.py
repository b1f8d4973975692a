"""Pusher that never exposes a half-written model version."""
from components.pusher.component import AtomicPusher
from components.pusher.executor import AtomicPusherExecutor

__all__ = ["AtomicPusher", "AtomicPusherExecutor"]
