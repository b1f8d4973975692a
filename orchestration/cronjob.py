"""A Kubernetes CronJob that runs `tfx-prod submit` on a schedule.

The alternative to a KFP recurring run: scheduling stays in k8s (5-field
cron, real `timeZone`, `concurrencyPolicy: Forbid`) and every firing submits
the compiled package with KFP caching off. The package travels in a
ConfigMap mounted into the pod, so a recompile needs no image rebuild. Validation is offline:
the kubernetes client silently drops unknown keys and checks no enums, so we
round-trip through its model and diff, then check what it does not.
"""
import json
from typing import List, Mapping, Optional

import yaml

from orchestration import kfp_submit

CONCURRENCY_POLICIES = ("Allow", "Forbid", "Replace")
PACKAGE_MOUNT = "/etc/tfx-prod"  # where the pod sees the ConfigMap
PACKAGE_KEY = "pipeline.yaml"
CONFIG_MAP_MAX_BYTES = 1024 * 1024  # the API server's (etcd's) object limit
MIN_STARTING_DEADLINE = 10  # the controller looks every 10 s; less may never fire


def package_config_map(name: str, package_text: str,
                       namespace: Optional[str] = None) -> dict:
    """v1 ConfigMap `NAME-package` holding the compiled spec for the pod."""
    return {"apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {"name": f"{name}-package",
                         **({"namespace": namespace} if namespace else {})},
            "data": {PACKAGE_KEY: package_text}}


def cronjob_manifest(name: str, cron5: str, image: str, host: str,
                     params: Mapping[str, str],
                     pipeline_root: Optional[str] = None,
                     timezone: Optional[str] = None,
                     starting_deadline_seconds: Optional[int] = 300,
                     namespace: Optional[str] = None,
                     backoff_limit: int = 0) -> dict:
    """batch/v1 CronJob submitting the package from `package_config_map`;
    a failed submit is not retried (the next firing is)."""
    command = ["tfx-prod", "submit", "--host", host,
               "--package", f"{PACKAGE_MOUNT}/{PACKAGE_KEY}"]
    if pipeline_root:
        command += ["--pipeline-root", pipeline_root]
    if namespace:  # a multi-user KFP profile: the CronJob lives there too
        command += ["--namespace", namespace]
    for key, value in params.items():
        command += ["--param", f"{key}={value}"]
    metadata = {"name": name, **({"namespace": namespace} if namespace else {})}
    spec = {
        "schedule": cron5,
        "concurrencyPolicy": "Forbid",
        "jobTemplate": {"spec": {
            "backoffLimit": backoff_limit,
            "template": {"spec": {
                "restartPolicy": "Never",
                "containers": [{
                    "name": "submit", "image": image, "command": command,
                    "volumeMounts": [{"name": "package", "readOnly": True,
                                      "mountPath": PACKAGE_MOUNT}]}],
                "volumes": [{"name": "package", "configMap": {
                    "name": f"{name}-package"}}],
            }},
        }},
    }
    if starting_deadline_seconds is not None:  # without it >100 misses stop the CronJob
        spec["startingDeadlineSeconds"] = starting_deadline_seconds
    if timezone:
        spec["timeZone"] = timezone
    return {"apiVersion": "batch/v1", "kind": "CronJob", "metadata": metadata, "spec": spec}


def _model_problems(manifest: dict, kind: str) -> List[str]:
    """Round trip through the kubernetes client's model: what it drops."""
    from kubernetes import client

    class _Response:  # ApiClient.deserialize reads `.data`
        data = json.dumps(manifest)

    api = client.ApiClient()
    try:
        model = api.deserialize(_Response(), f"V1{kind}")
    except ValueError as e:
        raise ValueError(f"{kind} is incomplete: {e}") from e
    return [f"unknown key {path} (misspelled? kubernetes would drop it)"
            for path in _dropped(manifest, api.sanitize_for_serialization(model))]


def validate_config_map(manifest: dict) -> None:
    """Raise ValueError if the ConfigMap is malformed or too big to store."""
    problems = _model_problems(manifest, "ConfigMap")
    size = sum(len(v.encode()) for v in manifest.get("data", {}).values())
    if size > CONFIG_MAP_MAX_BYTES:
        problems.append(f"data is {size} bytes; a ConfigMap holds at most "
                        f"{CONFIG_MAP_MAX_BYTES} (bake the package into the "
                        "image instead)")
    if problems:
        raise ValueError("invalid ConfigMap: " + "; ".join(problems))


def validate_cronjob(manifest: dict) -> None:
    """Raise ValueError listing every problem found in the manifest."""
    problems = _model_problems(manifest, "CronJob")
    spec = manifest.get("spec", {})
    policy = spec.get("concurrencyPolicy", "Allow")
    if policy not in CONCURRENCY_POLICIES:
        problems.append(f"spec.concurrencyPolicy {policy!r} is not one of "
                        f"{', '.join(CONCURRENCY_POLICIES)}")
    schedule = str(spec.get("schedule", ""))
    if not schedule.startswith("@") and len(schedule.split()) != 5:
        problems.append(f"spec.schedule {schedule!r} must have 5 fields "
                        "(k8s cron; KFP's 6-field form does not apply here)")
    try:
        kfp_submit.check_timezone(spec.get("timeZone"))
    except ValueError as e:
        problems.append(f"spec.timeZone: {e}")
    deadline = spec.get("startingDeadlineSeconds")
    if deadline is not None and deadline < MIN_STARTING_DEADLINE:
        problems.append(f"spec.startingDeadlineSeconds {deadline} < "
                        f"{MIN_STARTING_DEADLINE}: the job may never start")
    if problems:
        raise ValueError("invalid CronJob: " + "; ".join(problems))


def to_yaml(*manifests: dict) -> str:
    """One YAML stream (`kubectl apply -f` takes the documents in order)."""
    return yaml.safe_dump_all(manifests, sort_keys=False)


def _dropped(given, kept, path: str = "") -> List[str]:
    """Key paths present in `given` but missing after the model round trip."""
    if isinstance(given, dict):
        kept = kept if isinstance(kept, dict) else {}
        out = []
        for key, value in given.items():
            child = f"{path}.{key}" if path else key
            out += _dropped(value, kept[key], child) if key in kept else [child]
        return out
    if isinstance(given, list):
        kept = kept if isinstance(kept, list) else []
        return [p for i, item in enumerate(given)
                for p in _dropped(item, kept[i] if i < len(kept) else None, f"{path}[{i}]")]
    return []
