"""The one reader of a pipeline's ML Metadata (runs, executions, artifacts).

The CLI's summary and exit code, the HTML report, the benchmarks and the
local runner's serving-state key all read MLMD through these functions, so a
query (what a run is, which node an execution belongs to, what was pushed)
has one definition. Read-only: nothing here writes to a pipeline's MLMD.
"""
from typing import Any, Optional

from ml_metadata import metadata_store
from ml_metadata.proto import metadata_store_pb2

Execution = metadata_store_pb2.Execution
STATES = {Execution.COMPLETE: "complete", Execution.CACHED: "cached",
          Execution.FAILED: "failed", Execution.CANCELED: "skipped",
          Execution.RUNNING: "running", Execution.NEW: "new"}
# SpanWindow's output property (components/span_window/store.py), named
# here too: importing that package would load TensorFlow into every query.
WINDOW_SPANS = "window_spans"
# Custom property the local runner sets on executions Ctrl-C/SIGTERM stopped.
INTERRUPTED = "interrupted"
_OUTPUT_EVENTS = (metadata_store_pb2.Event.OUTPUT,
                  metadata_store_pb2.Event.DECLARED_OUTPUT)
_INPUT_EVENTS = (metadata_store_pb2.Event.INPUT,
                 metadata_store_pb2.Event.DECLARED_INPUT)


def open_store(metadata_path: str) -> metadata_store.MetadataStore:
    """A read-only connection to a SQLite MLMD file."""
    config = metadata_store_pb2.ConnectionConfig()
    config.sqlite.filename_uri = metadata_path
    config.sqlite.connection_mode = (
        metadata_store_pb2.SqliteMetadataSourceConfig.READONLY)
    return metadata_store.MetadataStore(config)


def value_of(prop) -> Any:
    """An MLMD `Value` as a Python value (None when unset)."""
    kind = prop.WhichOneof("value")
    if kind == "struct_value":
        from google.protobuf import json_format
        return json_format.MessageToDict(prop.struct_value)
    return getattr(prop, kind) if kind else None


def artifact_property(entity, name: str, default=None):
    """A custom or declared property of an artifact/execution, as Python."""
    for props in (entity.custom_properties, entity.properties):
        if name in props:
            return value_of(props[name])
    return default


def _events_by_key(store, execution_id: int, kinds) -> dict[str, list]:
    events = [e for e in store.get_events_by_execution_ids([execution_id])
              if e.type in kinds]
    artifacts = {a.id: a for a in store.get_artifacts_by_id(
        [e.artifact_id for e in events])}
    keyed: dict[str, list] = {}
    for event in sorted(events, key=lambda e: (e.artifact_id,)):
        key = event.path.steps[0].key if event.path.steps else ""
        keyed.setdefault(key, []).append(artifacts[event.artifact_id])
    return keyed


def execution_outputs(store, execution_id: int) -> dict[str, list]:
    """Output artifacts of one execution (cached ones included), by key."""
    return _events_by_key(store, execution_id, _OUTPUT_EVENTS)


def execution_inputs(store, execution_id: int) -> dict[str, list]:
    """Input artifacts of one execution, by key."""
    return _events_by_key(store, execution_id, _INPUT_EVENTS)


def node_of(store, execution_id: int) -> tuple[str, str]:
    """(pipeline name, node id) from the execution's `node` context."""
    for context in store.get_contexts_by_execution(execution_id):
        if context.type == "node" and "." in context.name:
            pipeline, node = context.name.split(".", 1)
            return pipeline, node
    return "", f"execution {execution_id}"


def pipeline_runs(store, pipeline_name: Optional[str] = None) -> list:
    """`pipeline_run` contexts, oldest first (of one pipeline if named)."""
    runs = store.get_contexts_by_type("pipeline_run")
    if pipeline_name is not None:
        pipeline = store.get_context_by_type_and_name("pipeline",
                                                      pipeline_name)
        if pipeline is None:
            return []
        parents = {c.id for c in store.get_contexts_by_type("pipeline_run")
                   if any(p.id == pipeline.id for p in
                          store.get_parent_contexts_by_context(c.id))}
        # TFX 1.16 links run contexts to executions, not to the pipeline
        # context, so fall back to "shares an execution with the pipeline".
        if not parents:
            pipeline_executions = {
                e.id for e in store.get_executions_by_context(pipeline.id)}
            parents = {c.id for c in runs if any(
                e.id in pipeline_executions
                for e in store.get_executions_by_context(c.id))}
        runs = [c for c in runs if c.id in parents]
    return sorted(runs, key=lambda c: (c.create_time_since_epoch, c.id))


def run_components(store, run) -> list[dict]:
    """One row per execution of a run: node id, state, seconds, execution."""
    types = {t.id: t.name for t in store.get_execution_types()}
    rows = []
    for execution in sorted(store.get_executions_by_context(run.id),
                            key=lambda e: e.id):
        _, node = node_of(store, execution.id)
        state = STATES.get(execution.last_known_state, "unknown")
        if types.get(execution.type_id, "").endswith(".Resolver"):
            state = "resolved" if state == "complete" else state
        if artifact_property(execution, INTERRUPTED) == 1:
            state = "interrupted"
        rows.append({"id": node, "state": state, "execution_id": execution.id,
                     "execution": execution,
                     "seconds": (execution.last_update_time_since_epoch
                                 - execution.create_time_since_epoch) / 1e3})
    return rows


def run_outputs_by_type(store, run) -> dict[str, list]:
    """Artifacts a run's executions output (cached reuse included), keyed by
    artifact type name, oldest first; resolver nodes are skipped, since what
    they emit is an older run's artifact. Used by the benchmarks to read a
    pipeline they did not build (TFX's taxi example) without its node ids.
    """
    types = {t.id: t.name for t in store.get_artifact_types()}
    by_type: dict[str, list] = {}
    for row in run_components(store, run):
        if row["state"] == "resolved":
            continue
        for artifacts in execution_outputs(store, row["execution_id"]).values():
            for artifact in artifacts:
                by_type.setdefault(types.get(artifact.type_id, ""),
                                   []).append(artifact)
    return {name: sorted(found, key=lambda a: a.id)
            for name, found in by_type.items()}


def run_outcome(store, executions: dict[str, int],
                evaluator: str = "Evaluator", pusher: str = "Pusher") -> dict:
    """Blessed? Pushed where? From the executions' own MLMD records.

    `executions` maps node id -> execution id for one run (cached executions
    included: they point at the artifacts they reused). `blessed` is None
    when no blessing was recorded (the run stopped before the Evaluator);
    raises if MLMD cannot be read, so a caller never mistakes "could not
    tell" for "fine".
    """
    outcome = {"blessed": None, "pushed": False, "pushed_to": None,
               "pushed_version": None}
    if evaluator in executions:
        blessings = execution_outputs(store, executions[evaluator]).get(
            "blessing", [])
        if blessings:
            outcome["blessed"] = artifact_property(blessings[0], "blessed") == 1
    if pusher in executions:
        pushed = execution_outputs(store, executions[pusher]).get(
            "pushed_model", [])
        if pushed and artifact_property(pushed[0], "pushed") == 1:
            outcome.update(
                pushed=True,
                pushed_to=artifact_property(pushed[0], "pushed_destination"),
                pushed_version=artifact_property(pushed[0], "pushed_version"))
    return outcome


def latest_output(store, node: str, key: str, pipeline_name: Optional[str] = None):
    """The newest run's (cached or fresh) `node` output artifact `key`, with
    that run's context; (None, None) if no run executed `node`."""
    for run in reversed(pipeline_runs(store, pipeline_name)):
        for row in run_components(store, run):
            if row["id"] == node and row["state"] in ("complete", "cached"):
                artifacts = execution_outputs(store, row["execution_id"]).get(key)
                if artifacts:
                    return artifacts[0], run
    return None, None


def window_spans(store, executions: dict) -> list:
    """The spans a `--window` run trained on, newest first ([] without one)."""
    if "SpanWindow" not in executions:
        return []
    window = execution_outputs(store, executions["SpanWindow"]).get("window")
    listed = artifact_property(window[0], WINDOW_SPANS) if window else None
    return [int(span) for span in listed.split(",")] if listed else []


def run_record(store, run) -> dict:
    """One line of `tfx-prod runs`: when, which span (and the window's spans,
    newest first), outcome, push, time."""
    rows = run_components(store, run)
    executions = {row["id"]: row["execution_id"] for row in rows}
    outcome = run_outcome(store, executions)
    span = None
    if "CsvExampleGen" in executions:
        examples = execution_outputs(store, executions["CsvExampleGen"]).get(
            "examples")
        span = artifact_property(examples[0], "span") if examples else None
    spans = window_spans(store, executions) or (
        [span] if span is not None else [])
    states = {row["state"] for row in rows}
    status = next((s for s in ("failed", "interrupted", "running")
                   if s in states), "succeeded")
    executions_proto = [row["execution"] for row in rows]
    started = min((e.create_time_since_epoch for e in executions_proto),
                  default=run.create_time_since_epoch)
    ended = max((e.last_update_time_since_epoch for e in executions_proto),
                default=started)
    return {"run_id": run.name, "started_ms": started,
            "wall_seconds": (ended - started) / 1e3, "span": span,
            "spans": spans,
            "status": status, "blessed": outcome["blessed"],
            "pushed_version": outcome["pushed_version"],
            "failed": [row["id"] for row in rows if row["state"] == "failed"]}
