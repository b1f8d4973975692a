"""The span store: which ingested Examples hold each span, across runs.

A rolling window needs the Examples of spans earlier runs ingested. TFX gets
them with a Resolver (an ML Metadata query), which open-source Kubeflow
cannot run, so the store is a small JSON index on the same filesystem as the
artifacts: `{store}/spans.json` maps each span to the URI of its Examples and
the input fingerprint (file sizes and mtimes, TFX's own) they were made from.
A span whose files changed, or whose Examples were deleted, is ingested again.

The window manifest (`window.json` inside SpanWindow's output) lists the
window's members, newest first, and names the store; WindowTransform reads
it. All paths are URIs (tf.io.gfile): the same code runs on gs:// or s3://.
"""
import hashlib
import json
from typing import Optional

import tensorflow as tf

INDEX_FILE = "spans.json"
# SpanWindow's output properties: the window's spans, newest first ("5,4,3"),
# and the same as JSON with each span's input fingerprint (for the lineage).
WINDOW_SPANS = "window_spans"
WINDOW_MEMBERS = "window_members"
MANIFEST_FILE = "window.json"
ANALYZER_CACHE_FILE = "analyzer_cache.json"


def _join(base: str, name: str) -> str:
    return f"{base.rstrip('/')}/{name}"


def read_json(uri: str) -> Optional[dict]:
    """The JSON object at `uri`, or None when there is none."""
    if not tf.io.gfile.exists(uri):
        return None
    with tf.io.gfile.GFile(uri) as f:
        return json.load(f)


def write_json_atomically(uri: str, record: dict) -> None:
    """Writes then renames: a reader sees the old record or the new one."""
    parent = uri.rpartition("/")[0]
    tf.io.gfile.makedirs(parent)
    partial = f"{uri}.partial"
    with tf.io.gfile.GFile(partial, "w") as f:
        json.dump(record, f, indent=1, sort_keys=True)
    tf.io.gfile.rename(partial, uri, overwrite=True)


def read_index(store: str) -> dict[int, dict]:
    """span -> {"uri", "fingerprint", "split_names"}."""
    record = read_json(_join(store, INDEX_FILE)) or {}
    return {int(span): entry for span, entry in record.get("spans", {}).items()}


def write_index(store: str, index: dict[int, dict]) -> None:
    write_json_atomically(_join(store, INDEX_FILE), {
        "spans": {str(span): entry for span, entry in sorted(index.items())}})


def reusable(entry: Optional[dict], fingerprint: str) -> bool:
    """Are these recorded Examples still this span's data, and present?"""
    return (entry is not None and entry.get("fingerprint") == fingerprint
            and tf.io.gfile.exists(entry["uri"]))


def ingest_uri(store: str, span: int, fingerprint: str) -> str:
    """Where the store ingests a span itself: one directory per content."""
    digest = hashlib.sha256(fingerprint.encode()).hexdigest()[:16]
    return _join(store, f"span-{span}/{digest}")


def read_manifest(examples_uri: str) -> Optional[dict]:
    """{"store", "members": [{"span", "uri", "split_names", ...}]} or None
    (a plain Examples artifact, not a window)."""
    return read_json(_join(examples_uri, MANIFEST_FILE))


def write_manifest(examples_uri: str, store: str, members: list[dict]) -> None:
    write_json_atomically(_join(examples_uri, MANIFEST_FILE),
                          {"store": store, "members": members})


def analyzer_cache_uri(store: str) -> Optional[str]:
    """The analyzer cache the last successful WindowTransform wrote."""
    record = read_json(_join(store, ANALYZER_CACHE_FILE))
    uri = record and record.get("uri")
    return uri if uri and tf.io.gfile.exists(uri) else None


def record_analyzer_cache(store: str, uri: str) -> None:
    write_json_atomically(_join(store, ANALYZER_CACHE_FILE), {"uri": uri})
