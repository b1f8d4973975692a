"""Everything a report shows about one pipeline run, read from ML Metadata.

A run is a `pipeline_run` context; its executions say which components ran,
were cached, failed or were skipped. Each reader is guarded: a partial run
(stopped at the anomaly gate, not blessed, interrupted) yields what exists
plus a note of what could not be read, never an exception.
"""
import os
import traceback
from typing import Any, Callable, Optional

from pipeline import metadata
from tfx_prod import summary as summary_lib
from tfx_prod.report import lineage, stats

def find_run(store, run_id: Optional[str]):
    """The latest run, or the one named `run_id` (LookupError if unknown)."""
    runs = metadata.pipeline_runs(store)
    if run_id is None:
        return runs[-1] if runs else None
    for run in runs:
        if run.name == run_id:
            return run
    recent = ", ".join(r.name for r in runs[-5:]) or "none"
    raise LookupError(f"no pipeline run {run_id!r}; the latest runs are: "
                      f"{recent}")


def _not_run(store, pipeline_name: str, components: list[dict]) -> list[str]:
    """Nodes this pipeline has run before that have no execution here."""
    ran = {c["id"] for c in components}
    prefix = pipeline_name + "."
    nodes = sorted((c for c in store.get_contexts_by_type("node")
                    if c.name.startswith(prefix)), key=lambda c: c.id)
    return [c.name[len(prefix):] for c in nodes
            if c.name[len(prefix):] not in ran]


def _status(components: list[dict], summary: dict) -> dict[str, str]:
    """One line saying how the run ended, and a kind for its colour."""
    states = {c["id"]: c["state"] for c in components}
    failed = [node for node, state in states.items() if state == "failed"]
    if not components:
        return {"kind": "fail", "text": "No component ran in this run."}
    if failed == ["AnomalyGate"]:
        return {"kind": "fail", "text": "Stopped at the anomaly gate: the "
                "data failed validation, nothing was trained or pushed."}
    if failed:
        return {"kind": "fail", "text": f"Failed at {failed[0]}; nothing "
                "after it ran."}
    if any(s in ("running", "new", "interrupted") for s in states.values()):
        return {"kind": "fail", "text": "Incomplete: a component never "
                "finished (the run was interrupted or is still running)."}
    if summary.get("blessed") is False:
        return {"kind": "warn", "text": "Not blessed: the model was neither "
                "quantized nor pushed."}
    executed = [s for s in states.values() if s != "resolved"]
    if executed and all(s == "cached" for s in executed):
        return {"kind": "ok", "text": "Nothing new: every component was "
                "reused from the cache."}
    if summary.get("pushed_to"):
        return {"kind": "ok", "text": "Blessed and pushed."}
    return {"kind": "warn", "text": "Finished without pushing a model."}


def collect_run(metadata_path: str, run_id: Optional[str] = None) -> dict:
    """The report's data for one run (LookupError only for an unknown id)."""
    store = metadata.open_store(metadata_path)
    run = find_run(store, run_id)
    report: dict[str, Any] = {
        "metadata_path": metadata_path, "problems": [], "run_id": None,
        "pipeline_name": None, "components": [], "not_run": [], "lineage": {},
        "summary": {}, "statistics": None, "anomalies": None, "gates": [],
        "optimization": None, "optimization_path": None,
        "run_count": len(metadata.pipeline_runs(store)), "run_number": None}
    if run is None:
        report["status"] = {"kind": "fail", "text": "No pipeline run is "
                            f"recorded in {metadata_path}."}
        return report
    report["run_id"] = run.name
    report["run_number"] = 1 + [r.id for r in metadata.pipeline_runs(
        store)].index(run.id)
    report["started_ms"] = run.create_time_since_epoch
    components = metadata.run_components(store, run)
    pipeline_name = (metadata.node_of(store, components[0]["execution_id"])[0]
                     if components else "")
    report.update(pipeline_name=pipeline_name, components=components)
    report["finished_ms"] = max((c["execution"].last_update_time_since_epoch
                                 for c in components),
                                default=run.create_time_since_epoch)
    by_node = {c["id"]: c for c in components}
    attempt = _attempt_with(report["problems"])
    outputs = {node: metadata.execution_outputs(store, c["execution_id"])
               for node, c in by_node.items()}
    report["summary"] = _summary(attempt, metadata_path, by_node)
    report["not_run"] = attempt("the component list", _not_run, [], store,
                                pipeline_name, components)
    report["lineage"] = attempt("lineage", lineage.lineage, {}, by_node,
                                outputs)
    report["status"] = _status(components, report["summary"])
    statistics = outputs.get("StatisticsGen", {}).get("statistics")
    if statistics:
        report["statistics"] = attempt("the TFDV statistics",
                                       stats.read_statistics, None,
                                       statistics[0])
    anomalies = outputs.get("ExampleValidator", {}).get("anomalies")
    if anomalies:
        report["anomalies"] = attempt("the anomalies", stats.read_anomalies,
                                      None, anomalies[0])
    if "Evaluator" in by_node:
        report["gates"] = attempt("the Evaluator thresholds", lineage.gates,
                                  [], by_node["Evaluator"]["execution"])
    report["optimization"] = report["summary"].get("optimization")
    if report["lineage"].get("model_uri"):
        report["optimization_path"] = os.path.join(
            report["lineage"]["model_uri"], lineage.OPTIMIZATION_REPORT)
    for component in components:
        del component["execution"]  # protos stay out of the plain dict
    return report


def _summary(attempt, metadata_path: str, by_node: dict) -> dict:
    """`tfx_prod.summary.collect`; without the evaluation if unreadable."""
    executions = {node: c["execution_id"] for node, c in by_node.items()}
    result = attempt("the run summary", summary_lib.collect, None,
                     metadata_path, executions)
    if result is None:
        executions.pop("Evaluator", None)
        result = attempt("the run summary without the evaluation",
                         summary_lib.collect, {}, metadata_path, executions)
    return result


def _attempt_with(problems: list[str]) -> Callable:
    """Runs a reader; on error records one line and returns `default`."""
    def attempt(what: str, reader: Callable, default, *args):
        try:
            return reader(*args)
        except Exception as error:  # a report shows what it could read
            last = traceback.extract_tb(error.__traceback__)[-1]
            problems.append(f"Could not read {what}: {type(error).__name__}: "
                            f"{error} ({os.path.basename(last.filename)}:"
                            f"{last.lineno})")
            return default
    return attempt
