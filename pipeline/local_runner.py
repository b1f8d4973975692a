"""Runs `create_pipeline` with TFX's LocalDagRunner (Beam DirectRunner).

What only the local runner needs lives here: one run per pipeline root at a
time, a clean end on Ctrl-C / SIGTERM, and
freezing a schema SchemaGen inferred. `run_pipeline` reports each node as it
starts and ends, so callers can show live progress instead of TFX's log
stream. `python -m pipeline.local_runner` runs the defaults without the CLI.
"""
import contextlib
import dataclasses
import datetime
import fcntl
import json
import os
import shutil
import time
from typing import Callable, Optional

from ml_metadata import metadata_store
from ml_metadata.proto import metadata_store_pb2
from tfx.orchestration.portable import launcher

from pipeline import dsl, metadata
from pipeline.configs import PipelineConfig, frozen_schema_path
from pipeline.pipeline import create_pipeline

LOCK_FILE = ".tfx-prod.lock"


class PipelineBusyError(RuntimeError):
    """Another run holds the pipeline root's lock."""


class RunInterrupted(KeyboardInterrupt):
    """Ctrl-C or SIGTERM stopped the run; nothing running was recorded as done."""

    def __init__(self, node_id: Optional[str]):
        super().__init__(node_id)
        self.node_id = node_id

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
    state: Optional[str] = None  # complete|cached|skipped|resolved|failed|
    #                               interrupted
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
            state = ("interrupted" if isinstance(error, KeyboardInterrupt)
                     else "failed")
            listener(NodeEvent(node_id, state, time.monotonic() - started,
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


@contextlib.contextmanager
def exclusive(pipeline_root: str):
    """One run per pipeline root: two would race on MLMD and on the pushes."""
    os.makedirs(pipeline_root, exist_ok=True)
    path = os.path.join(pipeline_root, LOCK_FILE)
    with open(path, "a+") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.seek(0)
            holder = handle.read().strip() or "another process"
            raise PipelineBusyError(
                f"Another tfx-prod run is using {pipeline_root} ({holder}). "
                "Wait for it to finish, or use another --pipeline-root / "
                "--home for an independent pipeline.") from None
        handle.seek(0)
        handle.truncate()
        handle.write(f"pid {os.getpid()}, started "
                     f"{datetime.datetime.now().isoformat(timespec='seconds')}")
        handle.flush()
        try:
            yield
        finally:
            handle.truncate(0)
            fcntl.flock(handle, fcntl.LOCK_UN)


def _cancel_unfinished(metadata_path: str) -> None:
    """Marks executions an interrupt left RUNNING as CANCELED + interrupted.

    LocalDagRunner records failures but not KeyboardInterrupt, which would
    leave an execution RUNNING forever; no cache ever reuses it either way.
    """
    if not os.path.exists(metadata_path):
        return
    store = metadata_store.MetadataStore(
        dsl.sqlite_metadata_connection_config(metadata_path))
    running = [e for e in store.get_executions()
               if e.last_known_state in (metadata_store_pb2.Execution.RUNNING,
                                         metadata_store_pb2.Execution.NEW)]
    for execution in running:
        execution.last_known_state = metadata_store_pb2.Execution.CANCELED
        execution.custom_properties[metadata.INTERRUPTED].int_value = 1
    if running:
        store.put_executions(running)


def run_pipeline(config: PipelineConfig,
                 listener: Optional[NodeListener] = None) -> None:
    """Runs the whole DAG; raises the failing component's exception.

    Ctrl-C (and SIGTERM, if the caller maps it to KeyboardInterrupt) raises
    RunInterrupted after marking the unfinished executions; re-running the
    same command resumes: finished steps are reused from the cache.
    """
    current = {"node": None}

    def track(event: NodeEvent) -> None:
        # The node that was running when an interrupt (if any) arrived.
        in_flight = event.state in (None, "interrupted")
        current["node"] = event.node_id if in_flight else None
        if listener:
            listener(event)

    os.makedirs(config.pipeline_root, exist_ok=True)
    try:
        with _listening(track):
            dsl.LocalDagRunner().run(create_pipeline(config))
    except KeyboardInterrupt:
        _cancel_unfinished(config.metadata_path)
        raise RunInterrupted(current["node"]) from None


def freeze_inferred_schema(config: PipelineConfig,
                           executions: dict[str, int]) -> Optional[str]:
    """Copies SchemaGen's schema to `frozen_schema_path`; returns the path.

    Later runs validate new spans against this frozen schema (ImportSchemaGen)
    instead of re-inferring one from each span, which would accept anything.
    Done even when a later component failed: the schema is still right.
    """
    if "SchemaGen" not in executions:
        return None
    store = metadata.open_store(config.metadata_path)
    outputs = metadata.execution_outputs(store, executions["SchemaGen"])
    if not outputs.get("schema"):
        return None
    target = frozen_schema_path(config.pipeline_root)
    os.makedirs(os.path.dirname(target), exist_ok=True)
    shutil.copyfile(os.path.join(outputs["schema"][0].uri, "schema.pbtxt"),
                    target + ".tmp")
    os.replace(target + ".tmp", target)
    with open(os.path.join(os.path.dirname(target), "source.json"), "w") as f:
        json.dump({"inferred_from": config.data_root,
                   "frozen_at": datetime.datetime.now().isoformat(
                       timespec="seconds")}, f)
    return target


if __name__ == "__main__":
    from absl import logging as absl_logging
    from pipeline.configs import DEFAULT_HOME, default_beam_args, taxi_config
    absl_logging.set_verbosity(absl_logging.INFO)
    default_config = taxi_config(
        pipeline_root=os.path.abspath(os.path.join(DEFAULT_HOME, "pipeline")),
        serving_dir=os.path.abspath(os.path.join(DEFAULT_HOME, "serving")))
    default_config.beam_pipeline_args = default_beam_args(
        default_config.data_root)[0]
    with exclusive(default_config.pipeline_root):
        run_pipeline(default_config)
