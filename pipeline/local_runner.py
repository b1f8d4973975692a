"""Runs `create_pipeline` with TFX's LocalDagRunner (Beam DirectRunner).

`run_pipeline` reports each node as it starts and ends, so callers can show
live progress instead of TFX's log stream. `python -m pipeline.local_runner`
runs the defaults without the CLI's progress view.
"""
import contextlib
import dataclasses
import os
import time
from typing import Callable, Optional

from ml_metadata.proto import metadata_store_pb2
from tfx.orchestration.portable import launcher

from pipeline import dsl
from pipeline.configs import PipelineConfig
from pipeline.pipeline import create_pipeline

_STATES = {
    metadata_store_pb2.Execution.COMPLETE: "complete",
    metadata_store_pb2.Execution.CACHED: "cached",
    metadata_store_pb2.Execution.CANCELED: "skipped",
    metadata_store_pb2.Execution.FAILED: "failed",
}


@dataclasses.dataclass
class NodeEvent:
    """One node starting (`state` None) or finishing."""
    node_id: str
    state: Optional[str] = None  # complete|cached|skipped|resolved|failed
    seconds: float = 0.0
    execution_id: Optional[int] = None
    error: Optional[BaseException] = None


NodeListener = Callable[[NodeEvent], None]


def _execution_state(mlmd_connection, execution_id: int) -> str:
    with mlmd_connection as mlmd:
        [execution] = mlmd.store.get_executions_by_id([execution_id])
    return _STATES.get(execution.last_known_state, "complete")


@contextlib.contextmanager
def _listening(listener: Optional[NodeListener]):
    """Wraps `Launcher.launch`, the one call LocalDagRunner makes per node.

    TFX 1.16 has no public per-node hook for the local runner; the Launcher is
    stable across 1.x and pinned by requirements.lock.
    """
    if listener is None:
        yield
        return
    original_launch = launcher.Launcher.launch

    def launch(self):
        node_id = self._pipeline_node.node_info.id
        listener(NodeEvent(node_id))
        started = time.monotonic()
        try:
            info = original_launch(self)
        except BaseException as error:
            listener(NodeEvent(node_id, "failed", time.monotonic() - started,
                               error=error))
            raise
        seconds = time.monotonic() - started
        if self._system_node_handler:
            state = "resolved"
        elif info is None or info.execution_id is None:
            state = "skipped"
        else:
            state = _execution_state(self._mlmd_connection, info.execution_id)
        listener(NodeEvent(node_id, state, seconds,
                           info.execution_id if info else None))
        return info

    launcher.Launcher.launch = launch
    try:
        yield
    finally:
        launcher.Launcher.launch = original_launch


def node_ids(config: PipelineConfig) -> list[str]:
    """Node ids in the order LocalDagRunner runs them."""
    return [node.id for node in create_pipeline(config).components]


def run_pipeline(config: PipelineConfig,
                 listener: Optional[NodeListener] = None) -> None:
    """Runs the whole DAG; raises the failing component's exception."""
    os.makedirs(config.pipeline_root, exist_ok=True)
    with _listening(listener):
        dsl.LocalDagRunner().run(create_pipeline(config))


if __name__ == "__main__":
    from absl import logging as absl_logging
    from pipeline.configs import PROJECT_DIR, default_beam_args
    absl_logging.set_verbosity(absl_logging.INFO)
    home = PROJECT_DIR / "tfx_prod_home"
    default_config = PipelineConfig(pipeline_root=str(home / "pipeline"),
                                    serving_dir=str(home / "serving"))
    default_config.beam_pipeline_args = default_beam_args(
        default_config.data_root)[0]
    run_pipeline(default_config)
