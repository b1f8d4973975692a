"""Wires the server together and runs it until SIGTERM/SIGINT."""
import asyncio
import functools
import logging
import os
import signal
import sys
import threading
from typing import Optional

from serving import config as config_lib
from serving import grpc_service, http, json_codec, rest, rollout_rest
from serving.online import Evidence, Online
from serving.rollout import Rollouts
from serving.rollout_state import RolloutStore
from serving.batching import BatchScheduler
from serving.core import Limits, ServingCore
from serving.metrics import Metrics
from serving.options import ServerOptions
from serving.servable import load_servable
from serving import encryption, signing
from serving.versions import ModelManager, State

log = logging.getLogger("serving")
READY_LINE = "tfx-prod serve: ready"


def _rollouts(options: ServerOptions, metrics,
              online: Optional[Online]) -> Optional[Rollouts]:
    if not options.rollouts_on:
        return None
    evidence = Evidence(
        online.store, options.rollout_require,
        confidence=options.rollout_require_confidence,
        margin=options.rollout_require_margin,
        min_labels=options.rollout_require_min_labels) \
        if options.rollout_require else None
    return Rollouts(RolloutStore(options.resolved_rollout_state_dir()),
                    metrics, bounds=options.rollout_bounds(),
                    steps=options.rollout_steps,
                    hold_seconds=options.rollout_hold_seconds,
                    auto_canary=options.auto_canary, evidence=evidence)


def _model_configs(options: ServerOptions) -> list:
    if options.model_config_file:
        return config_lib.read_model_config_file(options.model_config_file)
    return config_lib.single_model_config(options.model_name,
                                          options.model_base_path)


def _trusted_signing_keys(options: ServerOptions) -> Optional[str]:
    """--trusted_signing_keys or its env var, checked now: a typo must stop
    the server, not make every version fail later."""
    spec = options.trusted_signing_keys or os.environ.get(
        signing.TRUSTED_KEYS_ENV) or None
    if spec:
        try:
            keys = signing.load_trusted_keys(spec)
        except signing.KeyFileError as e:
            raise config_lib.ConfigError(f"--trusted_signing_keys: {e}") from None
        log.info("only versions signed by %s load", ", ".join(sorted(keys)))
    return spec


class Server:
    """Everything one `tfx-prod serve` process runs."""

    def __init__(self, options: ServerOptions):
        self.options = options
        self.metrics = Metrics()
        self.prometheus_path = (
            config_lib.read_prometheus_path(options.monitoring_config_file)
            if options.monitoring_config_file
            else config_lib.DEFAULT_PROMETHEUS_PATH)
        batching = (config_lib.read_batching_parameters(
            options.batching_parameters_file) if options.enable_batching else None)
        configs = _model_configs(options)
        self.trusted_signing_keys = _trusted_signing_keys(options)
        self.decryption_keys = encryption.checked_spec(options)
        self.online = Online(
            self.metrics, feedback_on=options.feedback_on,
            max_pending=options.feedback_max_pending,
            log_dir=options.prediction_log_dir) \
            if options.feedback_on or options.prediction_log_dir else None
        self.rollouts = _rollouts(options, self.metrics, self.online)
        load = functools.partial(
            self._load, runtime=options.runtime,
            tags=tuple(t.strip() for t in options.saved_model_tags.split(",")))
        self.manager = ModelManager(
            configs, load,
            require_manifest=not options.allow_versions_without_manifest,
            allow_labels_for_unavailable=(
                options.allow_version_labels_for_unavailable_models),
            max_load_retries=options.max_num_load_retries,
            retry_interval_s=options.load_retry_interval_micros / 1e6,
            on_state_change=self._state_changed, rollouts=self.rollouts)
        self.scheduler = BatchScheduler(batching, self.metrics) if batching else None
        self.core = ServingCore(
            self.manager, self.metrics, self.scheduler,
            Limits(options.max_request_bytes, options.max_request_rows),
            executor_threads=max(4, 2 * (os.cpu_count() or 1)),
            rollouts=self.rollouts, online=self.online)
        self.rollout_key = rollout_rest.rollout_key_reader(options.rollout_key_header,
                                              options.rollout_key_feature) \
            if self.rollouts else None
        self.metrics.add_drift_source(self._drift_points)
        self._config_text = None
        self._stop = threading.Event()

    def _load(self, name, version, path, *, runtime, tags):
        import time
        started = time.perf_counter()
        try:
            if self.trusted_signing_keys:  # re-read: rotations apply live
                signing.verify_version(path, signing.load_trusted_keys(
                    self.trusted_signing_keys))
            # Signed bytes are the encrypted ones: verify, then decrypt
            # into ram:// (keys re-read), load, free the plaintext copy.
            with encryption.decrypted(path, self.decryption_keys) as source:
                servable = load_servable(
                    name, version, source, runtime=runtime, tags=tags,
                    intra_op=self.options.tensorflow_intra_op_parallelism,
                    inter_op=self.options.tensorflow_inter_op_parallelism,
                    drift_window=self.options.drift_window,
                    on_tolerated=lambda model, feature, count:
                        self.metrics.out_of_domain.inc((model, feature),
                                                       count))
            servable.path = path
        except Exception:
            self.metrics.load_attempt_count.inc((path, "FAILED"))
            raise
        self.metrics.load_attempt_count.inc((path, "OK"))
        self.metrics.load_latency.observe((path,), (time.perf_counter() - started) * 1e6)
        self.metrics.schema_validation.set(
            (name, str(version)), 1 if servable.validator is not None else 0)
        return servable

    def _state_changed(self, name, status):
        version = str(status.version)
        self.metrics.version_state.remove_matching(
            lambda key: key[0] == name and key[1] == version)
        self.metrics.version_state.set(
            (name, version, State.Name(status.state)), 1)
        if self.rollouts is not None and status.state == State.AVAILABLE:
            self.rollouts.on_available(name, status.version)

    def _drift_points(self):
        for servable in self.manager.served():
            if servable.drift is None:
                continue
            for feature, measure, value, size in servable.drift.distances():
                yield ((servable.model_name, str(servable.version), feature,
                        measure), value, size,
                       servable.drift.thresholds.get((feature, measure)))

    def _watch_config(self):
        """`--model_config_file_poll_wait_seconds`: apply edits of the file."""
        wait = self.options.model_config_file_poll_wait_seconds
        path = self.options.model_config_file
        while not self._stop.wait(wait):
            try:
                with open(path) as f:
                    text = f.read()
                if text != self._config_text:
                    configs = config_lib.parse_model_config_text(text, path)
                    self._config_text = text
                    log.info("model config %s changed; reloading", path)
                    self.manager.reload_config(configs)
            except (OSError, config_lib.ConfigError) as e:
                log.error("keeping the current models: %s", e)

    async def run(self, ready_file: Optional[str] = None) -> None:
        loop = asyncio.get_running_loop()
        if self.rollouts is not None:
            self.rollouts.load(self.manager.model_names())
        await loop.run_in_executor(
            None, self.manager.start, self.options.file_system_poll_wait_seconds)
        if self.rollouts is not None:
            self.rollouts.begin_serving(self.manager.served_versions())
            self.rollouts.start_loop(self.options.rollout_check_seconds)
        if self.options.model_config_file and \
                self.options.model_config_file_poll_wait_seconds > 0:
            with open(self.options.model_config_file) as f:
                self._config_text = f.read()
            threading.Thread(target=self._watch_config, daemon=True,
                             name="config-poller").start()
        servers, ports = [], []
        if self.options.port:
            grpc_server, port = await grpc_service.start(
                self.core, self.manager, self.options.host, self.options.port,
                self.rollout_key)
            servers.append(grpc_server)
            ports.append(f"gRPC {self.options.host}:{port}")
        if self.options.rest_api_port:
            api = rest.RestApi(self.core, self.manager, self.metrics,
                               self.prometheus_path,
                               self.options.rest_api_timeout_in_ms / 1000,
                               rollout_key=self.rollout_key,
                               admin=rollout_rest.AdminApi(
                                   self.rollouts, self.manager,
                                   self.options.allow_remote_admin,
                                   online=self.online),
                               online=self.online)
            http_server = await http.serve(api.handle, json_codec.error_body,
                                           self.options.host,
                                           self.options.rest_api_port,
                                           self.options.max_request_bytes)
            servers.append(http_server)
            ports.append(f"REST http://{self.options.host}:"
                         f"{self.options.rest_api_port}")
        stop = asyncio.Event()
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(signum, stop.set)
        print(f"{READY_LINE}: {', '.join(ports)}; models "
              f"{', '.join(self.manager.model_names())}; metrics "
              f"{self.prometheus_path or 'off'}", file=sys.stderr, flush=True)
        await stop.wait()
        log.info("shutting down")
        self._stop.set()
        if self.rollouts is not None:
            self.rollouts.stop()
        self.manager.stop()
        for server in servers:
            if isinstance(server, grpc_service.grpc.aio.Server):
                await server.stop(grace=2)
            else:   # asyncio's or uvloop's (not an AbstractServer) server
                server.close()
        self.core.close()
        if self.online is not None:
            self.online.close()        # flushes the prediction log


def run(options: ServerOptions) -> int:
    """Blocking entry point for `tfx-prod serve` and `python -m serving`."""
    logging.basicConfig(level=logging.INFO, stream=sys.stderr,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    problem = options.check()
    if problem:
        print(f"tfx-prod serve: error: {problem}", file=sys.stderr)
        return 2
    try:
        server = Server(options)
    except config_lib.ConfigError as e:
        print(f"tfx-prod serve: error: {e}", file=sys.stderr)
        return 2
    try:
        import uvloop
        uvloop.install()
    except ImportError:  # plain asyncio works, only slower
        pass
    try:
        asyncio.run(server.run())
    except OSError as e:
        print(f"tfx-prod serve: error: {e}", file=sys.stderr)
        return 1
    return 0
