"""A rollout's durable state and its event history.

One JSON file per model (`<state dir>/<model>.rollout.json`), replaced
atomically (write a temporary file, fsync, rename, fsync the directory), so
`kill -9` at any instant leaves either the old or the new state, never a
torn one. Every decision is also appended to `<model>.events.jsonl`, the
history `tfx-prod rollout status --history` prints. The state directory is
the server's own local disk (a rename is atomic only there), not the model
base path, which may be an object store.
"""
import dataclasses
import json
import os
import re
import tempfile
import threading
import time
from typing import Optional

IDLE, RUNNING = "idle", "running"
PROMOTED, ROLLED_BACK, ABORTED = "promoted", "rolled_back", "aborted"
STATES = (IDLE, RUNNING, PROMOTED, ROLLED_BACK, ABORTED)
_SAFE_NAME = re.compile(r"[^A-Za-z0-9_.-]")
# The default state directory, under a local model base path.
DEFAULT_DIR_NAME = ".rollout"
STATE_SUFFIX = ".rollout.json"


@dataclasses.dataclass
class RolloutState:
    """Where one model's traffic goes. `percent` is the canary's share."""
    model_name: str
    stable: Optional[int] = None
    canary: Optional[int] = None
    state: str = IDLE
    steps: tuple = ()
    step: int = 0                  # index into steps
    percent: float = 0.0
    hold_seconds: float = 0.0      # per step
    step_started: float = 0.0      # wall clock (survives a restart)
    started: float = 0.0
    reason: str = ""
    rejected: tuple = ()           # versions rolled back: never auto-canaried
    updated: float = 0.0

    @property
    def active(self) -> bool:
        return self.state == RUNNING and self.canary is not None

    def as_dict(self) -> dict:
        document = dataclasses.asdict(self)
        document["steps"] = list(self.steps)
        document["rejected"] = list(self.rejected)
        return document

    @classmethod
    def from_dict(cls, document: dict) -> "RolloutState":
        known = {f.name for f in dataclasses.fields(cls)}
        values = {k: v for k, v in document.items() if k in known}
        values["steps"] = tuple(values.get("steps") or ())
        values["rejected"] = tuple(values.get("rejected") or ())
        if values.get("state") not in STATES:
            raise ValueError(f"unknown rollout state {values.get('state')!r}")
        return cls(**values)


def _fsync_dir(path: str) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class RolloutStore:
    """Reads and atomically writes RolloutState; appends events."""

    def __init__(self, directory: str):
        self.directory = directory
        os.makedirs(directory, exist_ok=True)
        self._lock = threading.Lock()

    def _path(self, model_name: str, suffix: str) -> str:
        return os.path.join(self.directory,
                            _SAFE_NAME.sub("_", model_name) + suffix)

    def load(self, model_name: str) -> Optional[RolloutState]:
        """The saved state, None if there is none; a damaged file is an
        error that names it (never silently reset to 'no rollout')."""
        path = self._path(model_name, STATE_SUFFIX)
        try:
            with open(path) as f:
                return RolloutState.from_dict(json.load(f))
        except FileNotFoundError:
            return None
        except (ValueError, TypeError) as e:
            raise ValueError(f"rollout state {path} is unreadable ({e}); "
                             "fix or remove it to start from no rollout") from e

    def save(self, state: RolloutState) -> None:
        state.updated = time.time()
        path = self._path(state.model_name, STATE_SUFFIX)
        with self._lock:
            fd, tmp = tempfile.mkstemp(dir=self.directory, prefix=".rollout-")
            try:
                with os.fdopen(fd, "w") as f:
                    json.dump(state.as_dict(), f, indent=1, sort_keys=True)
                    f.flush()
                    os.fsync(f.fileno())
                os.replace(tmp, path)
            except BaseException:
                if os.path.exists(tmp):
                    os.unlink(tmp)
                raise
            _fsync_dir(self.directory)

    def append_event(self, model_name: str, event: dict) -> dict:
        record = {"time": round(time.time(), 3), "model_name": model_name,
                  **event}
        line = json.dumps(record, sort_keys=True) + "\n"
        with self._lock, open(self._path(model_name, ".events.jsonl"),
                              "a") as f:
            f.write(line)
            f.flush()
            os.fsync(f.fileno())
        return record

    def history(self, model_name: str, limit: int = 0) -> list:
        """Events oldest first; a torn last line (kill -9 mid-write) is
        skipped."""
        events = []
        try:
            with open(self._path(model_name, ".events.jsonl")) as f:
                for line in f:
                    try:
                        events.append(json.loads(line))
                    except ValueError:
                        continue
        except FileNotFoundError:
            return []
        return events[-limit:] if limit else events


def served_stable(model_base: str) -> Optional[int]:
    """The stable version a rollout-enabled server recorded in the default
    state directory under `model_base`, or None (no rollouts there).

    For the pipeline's served baseline: versions newer than stable are a
    canary in progress, or were rolled back, and are not what is served.
    """
    import tensorflow as tf  # here: the server's flag parsing stays TF-free
    pattern = f"{model_base.rstrip('/')}/{DEFAULT_DIR_NAME}/*{STATE_SUFFIX}"
    stables = []
    for path in tf.io.gfile.glob(pattern):
        try:
            with tf.io.gfile.GFile(path) as f:
                stable = json.loads(f.read()).get("stable")
        except (tf.errors.OpError, ValueError, AttributeError):
            continue
        if isinstance(stable, int):
            stables.append(stable)
    return max(stables) if stables else None
