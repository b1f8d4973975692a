"""Summary + report of a set of artifacts, kept for fully cached re-runs.

A run whose every component is reused from cache produced nothing new, so its
summary and report are those of the run that made the artifacts. Keyed by the
output artifact ids (a cached execution is a new MLMD record but points at the
same artifacts), so any re-executed component makes a new key.
"""
import hashlib
import json
import os
from typing import Optional


def cache_key(outputs: dict[str, list[int]]) -> str:
    text = json.dumps(sorted(outputs.items()))
    return hashlib.sha256(text.encode()).hexdigest()[:20]


def _path(pipeline_root: str, key: str) -> str:
    return os.path.join(pipeline_root, "summaries", f"{key}.json")


def load(pipeline_root: str, key: str) -> Optional[dict]:
    """The saved summary, if it exists and its report file still does."""
    try:
        with open(_path(pipeline_root, key)) as f:
            saved = json.load(f)
    except (OSError, ValueError):
        return None
    if saved.get("report") and not os.path.exists(saved["report"]):
        return None
    return saved


def save(pipeline_root: str, key: str, summary: dict) -> None:
    path = _path(pipeline_root, key)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    temporary = path + ".tmp"
    with open(temporary, "w") as f:
        json.dump(summary, f, default=str)
    os.replace(temporary, path)
