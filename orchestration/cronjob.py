"""A Kubernetes CronJob that runs `tfx-prod submit` on a schedule.

The alternative to a KFP recurring run: scheduling stays in k8s (5-field
cron, real `timeZone`, `concurrencyPolicy: Forbid`) and every firing submits
the package baked into the image with KFP caching off. Validation is offline:
the kubernetes client silently drops unknown keys and checks no enums, so we
round-trip through its model and diff, then check what it does not.
"""
import json
from typing import List, Mapping, Optional

import yaml

from orchestration import kfp_submit

CONCURRENCY_POLICIES = ("Allow", "Forbid", "Replace")
MIN_STARTING_DEADLINE = 10  # the controller looks every 10 s; less may never fire


def cronjob_manifest(name: str, cron5: str, image: str, host: str,
                     package_path_in_image: str, params: Mapping[str, str],
                     timezone: Optional[str] = None,
                     starting_deadline_seconds: Optional[int] = 300,
                     namespace: Optional[str] = None,
                     backoff_limit: int = 0) -> dict:
    """batch/v1 CronJob; a failed submit is not retried (the next firing is)."""
    command = ["tfx-prod", "submit", "--host", host, "--package", package_path_in_image]
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
                "containers": [{"name": "submit", "image": image, "command": command}],
            }},
        }},
    }
    if starting_deadline_seconds is not None:  # without it >100 misses stop the CronJob
        spec["startingDeadlineSeconds"] = starting_deadline_seconds
    if timezone:
        spec["timeZone"] = timezone
    return {"apiVersion": "batch/v1", "kind": "CronJob", "metadata": metadata, "spec": spec}


def validate_cronjob(manifest: dict) -> None:
    """Raise ValueError listing every problem found in the manifest."""
    from kubernetes import client

    class _Response:  # ApiClient.deserialize reads `.data`
        data = json.dumps(manifest)

    api = client.ApiClient()
    try:
        model = api.deserialize(_Response(), "V1CronJob")
    except ValueError as e:
        raise ValueError(f"CronJob is incomplete: {e}") from e
    problems = [f"unknown key {path} (misspelled? kubernetes would drop it)"
                for path in _dropped(manifest, api.sanitize_for_serialization(model))]
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


def to_yaml(manifest: dict) -> str:
    return yaml.safe_dump(manifest, sort_keys=False)


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
