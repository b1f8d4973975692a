"""Which code made a model: the git commit, and what differs from it.

Recorded in each pushed version's lineage (the Pusher's `source` property).
Computed where the pipeline is built: on the laptop for `tfx-prod run` and
`tfx-prod compile` alike, since a Kubeflow image carries no `.git`. Tracked
files only: `dirty` means an uncommitted edit, and `diff_digest` names it;
the code digest covers the project's packages by content, with or without
git.
"""
import hashlib
import subprocess

from pipeline.cache_keys import PROJECT_DIR, code_digest

PACKAGES = ("components", "modules", "pipeline", "serving")


def _git(*args: str):
    try:
        result = subprocess.run(["git", "-C", str(PROJECT_DIR), *args],
                                capture_output=True, timeout=30, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return result.stdout if result.returncode == 0 else None


def source_version() -> dict:
    """{"git_commit", "dirty", "diff_digest", "code_digest"}; git fields None
    outside a git checkout."""
    record = {"git_commit": None, "dirty": None, "diff_digest": None,
              "code_digest": code_digest(packages=PACKAGES)}
    head = _git("rev-parse", "HEAD")
    if head is None:
        return record
    diff = _git("diff", "HEAD", "--binary") or b""
    record.update(git_commit=head.decode().strip(), dirty=bool(diff),
                  diff_digest=(hashlib.sha256(diff).hexdigest()[:16]
                               if diff else None))
    return record
