"""Model versions: which to serve, loading, hot reload, labels, status.

TF Serving's lifecycle, for the version directories the Pusher writes:
- a version is a numeric child of the base path; only *complete* versions
  (serving/layout.py: manifest last, every listed file present) are loaded,
  so a half-copied push is never served;
- the version policy (latest N / all / specific) picks the aspired versions;
- availability first: a new version loads while the old one serves, and the
  old one is unloaded only once an aspired version is AVAILABLE;
- a version that fails to load is reported (END with its error) and retried
  up to --max_num_load_retries, never served;
- unloaded versions stay listed as END, as in TF Serving;
- with rollouts on (serving/rollout.py), its stable and canary versions stay
  loaded whatever the policy says, rolled-back versions are not aspired, and
  default traffic is routed by the rollout instead of to the latest.
"""
import dataclasses
import logging
import threading
import time
from typing import Callable, Optional

import tensorflow as tf
from tensorflow_serving.apis import get_model_status_pb2

from serving import layout
from serving.config import ModelConfig
from serving.status import Code, invalid_argument, not_found

log = logging.getLogger("serving")
State = get_model_status_pb2.ModelVersionStatus.State


@dataclasses.dataclass
class VersionStatus:
    version: int
    state: int = State.START
    error_code: Code = Code.OK
    error_message: str = ""
    attempts: int = 0
    retry_at: float = 0.0
    digest: str = ""


@dataclasses.dataclass
class _Model:
    config: ModelConfig
    statuses: dict = dataclasses.field(default_factory=dict)
    served: dict = dataclasses.field(default_factory=dict)   # version -> Servable
    waiting_logged: set = dataclasses.field(default_factory=set)


class ModelManager:
    def __init__(self, configs: list, load: Callable, *,
                 require_manifest: bool = True,
                 allow_labels_for_unavailable: bool = False,
                 max_load_retries: int = 5, retry_interval_s: float = 60.0,
                 on_state_change: Optional[Callable] = None, rollouts=None):
        self._load = load                     # (name, version, path) -> Servable
        self._rollouts = rollouts
        self._require_manifest = require_manifest
        self._allow_unavailable_labels = allow_labels_for_unavailable
        self._max_retries = max_load_retries
        self._retry_interval = retry_interval_s
        self._on_state_change = on_state_change or (lambda *a: None)
        self._models = {c.name: _Model(c) for c in configs}
        self._routes = {}      # name -> (served dict, latest Servable, labels)
        self._lock = threading.RLock()
        self._stop = threading.Event()
        self._thread = None

    # --- what is on disk ---------------------------------------------------
    def _loadable(self, model: _Model) -> dict:
        """{version: manifest digest} of the complete versions on disk."""
        found = {}
        base = model.config.base_path
        for version in layout.version_numbers(base):
            path = layout.version_dir(base, version)
            manifest = layout.read_manifest(path)
            if manifest is not None:
                problems = layout.missing_or_wrong_size(path, manifest)
                if not problems:
                    found[version] = layout.manifest_digest(manifest)
                    continue
                reason = "incomplete: " + "; ".join(problems[:3])
            elif not self._require_manifest:
                if tf.io.gfile.exists(layout.join(path, layout.SAVED_MODEL_FILE)) or \
                        tf.io.gfile.exists(layout.join(path, layout.TFLITE_FILE)):
                    found[version] = ""
                    continue
                reason = f"no {layout.SAVED_MODEL_FILE} yet"
            else:
                reason = (f"no {layout.MANIFEST_FILE} (the Pusher writes it "
                          "last, so the push may still be running); pass "
                          "--allow_versions_without_manifest to load "
                          "SavedModels the way TF Serving does")
            if version not in model.waiting_logged:
                model.waiting_logged.add(version)
                log.warning("model %s version %d at %s is not loaded: %s",
                            model.config.name, version, path, reason)
        return found

    # --- reconciling ---------------------------------------------------------
    def poll_once(self) -> None:
        with self._lock:
            for model in list(self._models.values()):
                try:
                    self._reconcile(model)
                except Exception:  # never let one model stop the poller
                    log.exception("polling model %s failed", model.config.name)
            self._publish()

    def _set(self, model, status: VersionStatus, state: int, code=Code.OK,
             message=""):
        status.state, status.error_code, status.error_message = state, code, message
        self._on_state_change(model.config.name, status)

    def _reconcile(self, model: _Model) -> None:
        loadable = self._loadable(model)
        aspired = self._aspired(model.config, loadable)
        now = time.monotonic()
        for version in aspired:
            status = model.statuses.get(version)
            if version in model.served:
                continue
            if status is None or status.digest != loadable[version]:
                status = model.statuses[version] = VersionStatus(
                    version, digest=loadable[version])
            elif status.error_code != Code.OK and (
                    status.attempts > self._max_retries or now < status.retry_at):
                continue
            self._load_version(model, status)
        available_aspired = any(v in model.served for v in aspired)
        for version in sorted(model.served):
            if version not in aspired and (available_aspired or not loadable):
                self._unload(model, version)

    def _aspired(self, config: ModelConfig, loadable: dict) -> list:
        if self._rollouts is None:
            return config.policy.choose(sorted(loadable))
        rejected = self._rollouts.rejected(config.name)
        chosen = config.policy.choose(sorted(v for v in loadable
                                             if v not in rejected))
        pinned = self._rollouts.pinned(config.name) & set(loadable)
        return sorted(set(chosen) | pinned)

    def _load_version(self, model: _Model, status: VersionStatus) -> None:
        name, version = model.config.name, status.version
        path = layout.version_dir(model.config.base_path, version)
        self._set(model, status, State.LOADING)
        self._publish()
        status.attempts += 1
        log.info("loading model %s version %d from %s", name, version, path)
        started = time.monotonic()
        try:
            servable = self._load(name, version, path)
        except Exception as e:  # any load failure is reported, never served
            status.retry_at = time.monotonic() + self._retry_interval
            left = max(0, self._max_retries + 1 - status.attempts)
            message = f"{type(e).__name__}: {e}"
            self._set(model, status, State.END, Code.UNKNOWN, message)
            log.error("model %s version %d failed to load (%s); %s", name,
                      version, message, f"retrying in {self._retry_interval:g}s"
                      f" ({left} attempts left)" if left else "not retrying")
            return
        model.served[version] = servable
        self._set(model, status, State.AVAILABLE)
        log.info("model %s version %d AVAILABLE after %.1fs", name, version,
                 time.monotonic() - started)

    def _unload(self, model: _Model, version: int) -> None:
        status = model.statuses.setdefault(version, VersionStatus(version))
        self._set(model, status, State.UNLOADING)
        del model.served[version]
        self._publish()
        # In-flight requests keep their reference; the runtime is freed with
        # the last one, so an unload never fails a request.
        self._set(model, status, State.END)
        log.info("model %s version %d unloaded", model.config.name, version)

    def _publish(self) -> None:
        """Swaps in a read-only routing snapshot (the request path is lock-free)."""
        routes = {}
        for name, model in self._models.items():
            served = dict(model.served)
            latest = served[max(served)] if served else None
            routes[name] = (served, latest, model.config.label_map())
        self._routes = routes

    # --- config changes --------------------------------------------------------
    def reload_config(self, configs: list) -> None:
        """A new config fully replaces the old; omitted models are unloaded."""
        with self._lock:
            wanted = {c.name: c for c in configs}
            for name in list(self._models):
                if name not in wanted:
                    model = self._models.pop(name)
                    for version in sorted(model.served):
                        self._unload(model, version)
            for name, config in wanted.items():
                if name in self._models:
                    self._models[name].config = config
                else:
                    self._models[name] = _Model(config)
            self._check_labels()
            self.poll_once()

    def _check_labels(self) -> None:
        if self._allow_unavailable_labels:
            return
        for model in self._models.values():
            for label, version in model.config.labels:
                if version not in model.served:
                    log.warning("model %s label %s points at version %d, "
                                "which is not AVAILABLE; requests for it fail "
                                "until it is (or pass "
                                "--allow_version_labels_for_unavailable_models)",
                                model.config.name, label, version)

    # --- polling ---------------------------------------------------------------
    def start(self, poll_seconds: float) -> None:
        self.poll_once()
        self._check_labels()
        if poll_seconds > 0:
            self._thread = threading.Thread(target=self._poll_loop,
                                            args=(poll_seconds,),
                                            name="version-poller", daemon=True)
            self._thread.start()

    def _poll_loop(self, poll_seconds: float) -> None:
        while not self._stop.wait(poll_seconds):
            self.poll_once()

    def stop(self) -> None:
        self._stop.set()
        if self._thread:
            self._thread.join(timeout=10)

    # --- request path ----------------------------------------------------------
    def route(self, name: str, version: Optional[int] = None,
              label: Optional[str] = None, key: Optional[str] = None):
        """-> (servable, fallback or None): `resolve`, except that default
        traffic follows a rollout (a sticky share to the canary, whose model
        errors are retried on the fallback, stable)."""
        if version is None and not label and self._rollouts is not None:
            route = self._routes.get(name)
            picked = self._rollouts.route(name, route[0], key) if route else None
            if picked is not None:
                return picked
        return self.resolve(name, version, label), None

    def resolve(self, name: str, version: Optional[int] = None,
                label: Optional[str] = None):
        route = self._routes.get(name)
        if version is not None:
            servable = route[0].get(version) if route else None
            if servable is None:
                raise not_found(f"Servable not found for request: "
                                f"Specific({name}, {version})")
            return servable
        if label:
            labels = route[2] if route else {}
            if label not in labels and self._rollouts is not None:
                labels = {**self._rollouts.labels(name), **labels}
            if label not in labels:
                raise invalid_argument(f"Unrecognized servable version label: "
                                       f"{label}")
            servable = route[0].get(labels[label])
            if servable is None:
                raise not_found(f"Servable not found for request: "
                                f"Specific({name}, {labels[label]})")
            return servable
        if route is None or route[1] is None:
            raise not_found(f"Servable not found for request: Latest({name})")
        if self._rollouts is not None:
            picked = self._rollouts.route(name, route[0], None, canary=False)
            if picked is not None:
                return picked[0]
        return route[1]

    def statuses(self, name: str, version: Optional[int] = None) -> list:
        """GetModelStatus: newest first; labels are ignored, as in TF Serving."""
        # No lock: a load in progress must not block status requests.
        model = self._models.get(name)
        entries = dict(model.statuses) if model else {}
        if version is not None:
            if version not in entries:
                raise not_found(f"Could not find version {version} of model "
                                f"{name}")
            return [entries[version]]
        if not entries:
            raise not_found(f"Could not find any versions of model {name}")
        return [entries[v] for v in sorted(entries, reverse=True)]

    def model_names(self) -> list:
        return sorted(self._models)

    def loadable_versions(self, name: str) -> set:
        """The complete versions of `name` on disk now. No lock: the
        poller holds it for a whole load, and the REST handler asking must
        not stall the event loop that long (this only reads the disk)."""
        model = self._models.get(name)
        return set(self._loadable(model)) if model else set()

    def served_versions(self) -> dict:
        """{model: [AVAILABLE versions]}."""
        return {name: sorted(route[0])
                for name, route in self._routes.items()}

    def served(self) -> list:
        """Every AVAILABLE Servable (for metrics)."""
        return [s for served, _, _ in self._routes.values()
                for s in served.values()]

