"""The container command of our compiled Kubeflow spec: TFX's executor entrypoint, made to work on KFP OSS.

    python -m orchestration.kfp_entrypoint --executor_class_path ... \\
        --json_serialized_invocation_args '{{$}}' \\
        --json_serialized_inputs_spec_args '{...}' [beam args]

The flags are exactly those of TFX's
`tfx.orchestration.kubeflow.v2.container.kubeflow_v2_run_executor`, whose own
flag parser and `main` do the work. This shim only fixes what open-source KFP v2
does differently from Vertex (see ../shared/reference/kubeflow-v2.md):

1. Untyped input artifacts (reference §1.4 "Inputs", §3.1 patches 1, 2, 4; Traps).
   KFP OSS 2.0.5 (and master) sends upstream artifacts as
   `type: {instanceSchema: ""}` (KFP `metadata/client.go:775`), and TFX 1.16's
   `_retrieve_class_path` crashes on it. We fill each such input's type from
   the inputs spec (`artifacts[key].artifactType`), which `use_pipeline_spec_2_1=True`
   compiles in; `system.*` titles are treated as untyped too. No monkeypatching:
   the ExecutorInput JSON is rewritten before TFX reads it.
2. Zero-byte GCS directory markers (kubeflow/pipelines#13476, reference §3.2,
   §3.1 patch 7). TF's GCS filesystem leaves `…/` blobs that the KFP launcher
   later downloads as files, breaking the next task's `mkdir`. After the
   executor we delete zero-byte `/`-ending blobs under each `gs://` output URI.
3. Interpreter-shutdown crash (reference §3.1 patch 8, kfp-operator PR #1286).
   Protobuf/MLMD destructors can abort ("pure virtual method called") after a
   successful run, so once the ExecutorOutput is written we flush and `os._exit(0)`;
   on error we print the traceback and `os._exit(1)`.
"""
import json
import os
import sys
import traceback
from typing import Any, Dict, Iterable, List, Optional

from absl import app, logging

_GS = "gs://"


class InputTypeError(ValueError):
    """An input artifact has no usable type and the inputs spec has none either."""


def _title(type_schema: Dict[str, Any]) -> Optional[str]:
    """The schema title TFX would import, or None when TFX cannot use this type."""
    title = type_schema.get("schemaTitle", type_schema.get("schema_title"))
    schema = type_schema.get("instanceSchema", type_schema.get("instance_schema"))
    if schema and schema.strip():
        import yaml  # TFX's own dependency; only needed when a schema is present.

        data = yaml.safe_load(schema)
        title = data.get("title") if isinstance(data, dict) else None
    if not title or title.startswith("system."):
        return None  # "" crashes TFX; system.* titles are not importable classes.
    return title


def fill_input_types(invocation_json: str, inputs_spec_json: Optional[str]) -> str:
    """Returns the ExecutorInput JSON with every untyped input artifact typed from the inputs spec."""
    invocation = json.loads(invocation_json)
    spec = json.loads(inputs_spec_json) if inputs_spec_json else {}
    spec_artifacts = spec.get("artifacts") or {}
    inputs = (invocation.get("inputs") or {}).get("artifacts") or {}
    for key, artifact_list in inputs.items():
        for artifact in artifact_list.get("artifacts") or []:
            if _title(artifact.get("type") or {}):
                continue
            spec_entry = spec_artifacts.get(key) or {}
            spec_type = spec_entry.get("artifactType", spec_entry.get("artifact_type")) or {}
            if not _title(spec_type):
                where = ("the inputs spec has no type for it" if inputs_spec_json else
                         "no --json_serialized_inputs_spec_args was given "
                         "(compile with use_pipeline_spec_2_1=True)")
                raise InputTypeError(
                    f"input artifact {key!r} arrived untyped (type={artifact.get('type')!r}, "
                    f"as KFP OSS sends upstream artifacts) and {where}")
            artifact["type"] = dict(spec_type)
    return json.dumps(invocation)


def output_uris(invocation_json: str) -> List[str]:
    """Every output artifact URI in an ExecutorInput JSON."""
    outputs = (json.loads(invocation_json).get("outputs") or {}).get("artifacts") or {}
    return [a["uri"] for lst in outputs.values() for a in lst.get("artifacts") or [] if a.get("uri")]


def remove_gcs_dir_markers(uris: Iterable[str], client: Any) -> List[str]:
    """Deletes zero-byte `…/` blobs under each gs:// URI (kubeflow/pipelines#13476).

    `client` is a `google.cloud.storage.Client` or anything with the same
    `bucket(name).list_blobs(prefix=...)` / `blob.delete()` surface.
    Returns the deleted objects as gs:// URIs.
    """
    deleted = []
    for uri in uris:
        if not uri.startswith(_GS):
            continue
        bucket_name, _, path = uri[len(_GS):].partition("/")
        prefix = path.rstrip("/") + "/" if path.strip("/") else ""
        bucket = client.bucket(bucket_name)
        for blob in bucket.list_blobs(prefix=prefix):
            if blob.name.endswith("/") and blob.size == 0:
                blob.delete()
                deleted.append(f"{_GS}{bucket_name}/{blob.name}")
    return deleted


def _default_gcs_client() -> Any:
    """A real GCS client, or None (logged) when google-cloud-storage is not installed."""
    try:
        from google.cloud import storage
    except ImportError:
        logging.warning("google-cloud-storage is not installed: GCS directory markers are left "
                        "in place (kubeflow/pipelines#13476)")
        return None
    return storage.Client()


def _cleanup_outputs(invocation_json: str) -> None:
    """Removes GCS directory markers under the gs:// outputs, if there are any."""
    uris = [u for u in output_uris(invocation_json) if u.startswith(_GS)]
    if not uris:
        return
    client = _default_gcs_client()
    if client is not None:
        for name in remove_gcs_dir_markers(uris, client):
            logging.info("deleted GCS directory marker %s", name)


def main(parsed_argv) -> None:
    """Rewrites the ExecutorInput, runs TFX's entrypoint on it, cleans up, then exits hard."""
    from tfx.orchestration.kubeflow.v2.container import kubeflow_v2_run_executor

    args, beam_args = parsed_argv
    try:
        args.json_serialized_invocation_args = fill_input_types(
            args.json_serialized_invocation_args,
            getattr(args, "json_serialized_inputs_spec_args", None))
        kubeflow_v2_run_executor.main((args, beam_args))
        _cleanup_outputs(args.json_serialized_invocation_args)
    except BaseException:  # noqa: BLE001 - any failure must exit 1 without running destructors.
        traceback.print_exc()
        _hard_exit(1)
    _hard_exit(0)


def _hard_exit(code: int) -> None:
    """Flushes stdio and exits without interpreter teardown (see module docstring, fix 3)."""
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


def _parse_flags(argv):
    """TFX's own flag parser, so the flags and beam-arg handling stay identical."""
    from tfx.orchestration.kubeflow.v2.container import kubeflow_v2_run_executor

    return kubeflow_v2_run_executor._parse_flags(argv)  # pylint: disable=protected-access


if __name__ == "__main__":
    app.run(main, flags_parser=_parse_flags)
