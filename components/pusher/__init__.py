"""Pusher that publishes blessed models as complete, strictly newer versions."""
from components.pusher.component import Pusher, PusherSpec
from components.pusher.executor import Executor

__all__ = ["Executor", "Pusher", "PusherSpec"]
