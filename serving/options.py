"""Server flags: TF Serving's names (so a command line can swap binaries),
plus ours for what TF Serving lacks. The one home of every default.

Imports no TensorFlow, so building the `tfx-prod` parser stays fast.
"""
import argparse
import dataclasses
import os
from typing import Optional

from serving import drift, rollout, rollout_state
from serving.rollout_stats import Bounds

_BOUNDS = Bounds()

DEFAULT_GRPC_PORT = 8500
DEFAULT_REST_PORT = 8501
DEFAULT_MODEL_NAME = "default"   # TF Serving's; `tfx-prod serve` passes its own
RUNTIMES = ("savedmodel", "tflite", "onnx")
DEFAULT_RUNTIME = "savedmodel"


def parse_bool(text) -> bool:
    """TF Serving's `--flag`, `--flag=true|false|1|0`."""
    if isinstance(text, bool):
        return text
    value = str(text).strip().lower()
    if value in ("true", "1", "yes"):
        return True
    if value in ("false", "0", "no"):
        return False
    raise argparse.ArgumentTypeError(f"expected true or false, got {text!r}")


@dataclasses.dataclass
class ServerOptions:
    port: int = DEFAULT_GRPC_PORT
    rest_api_port: int = DEFAULT_REST_PORT
    host: str = "0.0.0.0"
    model_name: str = DEFAULT_MODEL_NAME
    model_base_path: Optional[str] = None
    model_config_file: Optional[str] = None
    model_config_file_poll_wait_seconds: float = 0
    file_system_poll_wait_seconds: float = 1
    enable_batching: bool = False
    batching_parameters_file: Optional[str] = None
    monitoring_config_file: Optional[str] = None
    rest_api_timeout_in_ms: int = 30000
    saved_model_tags: str = "serve"
    tensorflow_intra_op_parallelism: int = 0
    tensorflow_inter_op_parallelism: int = 0
    max_num_load_retries: int = 5
    load_retry_interval_micros: int = 60_000_000
    allow_version_labels_for_unavailable_models: bool = False
    runtime: str = DEFAULT_RUNTIME
    max_request_bytes: int = 64 << 20
    max_request_rows: int = 10000
    drift_window: int = drift.DEFAULT_WINDOW
    allow_versions_without_manifest: bool = False
    trusted_signing_keys: Optional[str] = None   # serving/signing.py
    decryption_keys: Optional[str] = None        # serving/encryption.py
    # Rollouts (ours; serving/rollout.py).
    enable_rollouts: bool = False
    auto_canary: bool = False
    rollout_steps: str = ",".join(f"{s:g}" for s in rollout.DEFAULT_STEPS)
    rollout_hold_seconds: float = rollout.DEFAULT_HOLD_SECONDS
    rollout_check_seconds: float = 5.0
    rollout_state_dir: Optional[str] = None
    rollout_key_header: str = "x-rollout-key"
    rollout_key_feature: Optional[str] = None
    rollout_min_requests: int = _BOUNDS.min_requests
    rollout_max_error_rate_increase: float = _BOUNDS.max_error_rate_increase
    rollout_max_p99_ratio: float = _BOUNDS.max_p99_ratio
    rollout_p99_slack_ms: float = _BOUNDS.p99_slack_ms
    rollout_max_confidence_distance: float = _BOUNDS.max_confidence_distance
    allow_remote_admin: bool = False
    # Online feedback and the A/B evidence a promotion may require (ours;
    # serving/online.py). Defaults as in serving/feedback.py, abtest.py.
    enable_feedback: bool = False
    feedback_max_pending: int = 100_000
    prediction_log_dir: Optional[str] = None
    rollout_require: Optional[str] = None     # "accuracy" | "auc"
    rollout_require_confidence: float = 0.95
    rollout_require_margin: float = 0.01
    rollout_require_min_labels: int = 100

    @property
    def feedback_on(self) -> bool:
        return self.enable_feedback or bool(self.rollout_require)

    def _check_feedback(self) -> Optional[str]:
        if self.rollout_require not in (None, "", "accuracy", "auc"):
            return (f"--rollout_require must be accuracy or auc, got "
                    f"{self.rollout_require!r}")
        if self.rollout_require and not self.rollouts_on:
            return ("--rollout_require gates a rollout's promotion: add "
                    "--enable_rollouts or --auto_canary")
        if not 0 < self.rollout_require_confidence < 1:
            return "--rollout_require_confidence must be in (0, 1), e.g. 0.95"
        if not 0 <= self.rollout_require_margin < 1:
            return "--rollout_require_margin must be in [0, 1), e.g. 0.01"
        if self.rollout_require_min_labels < 1 or self.feedback_max_pending < 1:
            return ("--rollout_require_min_labels and --feedback_max_pending "
                    "must be >= 1")
        return None

    @property
    def rollouts_on(self) -> bool:
        return self.enable_rollouts or self.auto_canary

    def rollout_bounds(self) -> Bounds:
        return Bounds(
            min_requests=self.rollout_min_requests,
            max_error_rate_increase=self.rollout_max_error_rate_increase,
            max_p99_ratio=self.rollout_max_p99_ratio,
            p99_slack_ms=self.rollout_p99_slack_ms,
            max_confidence_distance=self.rollout_max_confidence_distance)

    def resolved_rollout_state_dir(self) -> Optional[str]:
        """--rollout_state_dir, else beside the models on a local disk."""
        if self.rollout_state_dir:
            return self.rollout_state_dir
        base = self.model_base_path or (
            os.path.dirname(self.model_config_file)
            if self.model_config_file else None)
        if base and "://" not in base:
            return os.path.join(base, rollout_state.DEFAULT_DIR_NAME)
        return None

    def check(self) -> Optional[str]:
        """A usage problem, worded as the fix, or None."""
        if not self.model_config_file and not self.model_base_path:
            return ("nothing to serve: pass --model_base_path=DIR (the "
                    "directory holding numbered versions) or "
                    "--model_config_file=FILE")
        if self.model_config_file and self.model_base_path:
            return ("pass either --model_config_file or --model_base_path, "
                    "not both (TF Serving's rule)")
        if self.batching_parameters_file and not self.enable_batching:
            return ("--batching_parameters_file is set without "
                    "--enable_batching=true")
        for name in ("port", "rest_api_port"):
            if not 0 <= getattr(self, name) < 65536:
                return f"--{name} must be a TCP port (0-65535)"
        if self.port and self.port == self.rest_api_port:
            return "--port and --rest_api_port must differ"
        if self.rest_api_timeout_in_ms <= 0:
            return "--rest_api_timeout_in_ms must be positive"
        if self.max_request_bytes < 1024 or self.max_request_rows < 1:
            return "--max_request_bytes must be >= 1024 and --max_request_rows >= 1"
        problem = self._check_feedback()
        if problem:
            return problem
        if self.rollouts_on:
            return self._check_rollout()
        return None

    def _check_rollout(self) -> Optional[str]:
        try:
            rollout.parse_steps(self.rollout_steps)
        except rollout.RolloutError as e:
            return str(e).replace("--steps", "--rollout_steps")
        if not self.resolved_rollout_state_dir():
            return ("rollouts keep their state on a local disk: pass "
                    "--rollout_state_dir=DIR (the model base path is not "
                    "local)")
        if self.rollout_hold_seconds < 0 or self.rollout_check_seconds <= 0:
            return ("--rollout_hold_seconds must be >= 0 and "
                    "--rollout_check_seconds > 0")
        return None


_HELP = {
    "port": "gRPC port (TF Serving's --port; 0 = no gRPC)",
    "rest_api_port": "REST port (0 = no REST; TF Serving's default is 0, "
                     "its Docker image and ours use 8501)",
    "host": "address to bind (ours)",
    "model_name": "name clients use in /v1/models/NAME and ModelSpec.name",
    "model_base_path": "directory of numbered version dirs (what the Pusher "
                       "writes)",
    "model_config_file": "TF Serving ModelServerConfig text proto: several "
                         "models, version policy, version_labels",
    "model_config_file_poll_wait_seconds": "re-read --model_config_file every "
                                           "N seconds (0 = read once)",
    "file_system_poll_wait_seconds": "look for new/removed versions every N "
                                     "seconds (0 = once at start)",
    "enable_batching": "batch concurrent requests server-side",
    "batching_parameters_file": "TF Serving BatchingParameters text proto "
                                "(max_batch_size, batch_timeout_micros, "
                                "num_batch_threads, max_enqueued_batches, "
                                "allowed_batch_sizes)",
    "monitoring_config_file": "TF Serving MonitoringConfig text proto; "
                              "without one, metrics are on at "
                              "/monitoring/prometheus/metrics",
    "rest_api_timeout_in_ms": "REST request deadline (504 after it)",
    "saved_model_tags": "comma-separated meta graph tags to load",
    "tensorflow_intra_op_parallelism": "TF intra-op threads (0 = auto)",
    "tensorflow_inter_op_parallelism": "TF inter-op threads (0 = auto)",
    "max_num_load_retries": "retries for a version that fails to load",
    "load_retry_interval_micros": "wait between load retries",
    "allow_version_labels_for_unavailable_models":
        "let version_labels point at versions not yet AVAILABLE",
    "runtime": "savedmodel (default), tflite: the Quantizer's blessed "
               "model.tflite (TF Serving's --prefer_tflite_model), or onnx: "
               "model.onnx from `tfx-prod export onnx` (ours)",
    "max_request_bytes": "largest request body (400 body_size above it; ours)",
    "max_request_rows": "most rows/examples per request (400 batch_size; ours)",
    "drift_window": "values per feature in the drift sliding window (ours)",
    "allow_versions_without_manifest":
        "also load versions without assets.extra/tfx_prod/manifest.json, "
        "as TF Serving does (then a half-copied version can be loaded)",
    "trusted_signing_keys": "public key PEM file, or a directory of *.pub "
                            "files; when set, only versions signed by one "
                            "of them load (ours; default: "
                            "$TFX_PROD_TRUSTED_SIGNING_KEYS)",
    "decryption_keys": "AES key file (.kek), or a directory of *.kek files, "
                       "that decrypt encrypted versions; re-read on every "
                       "load, so rotations need no restart (ours; default: "
                       "$TFX_PROD_DECRYPTION_KEYS)",
    "enable_rollouts": "a newly pushed version loads but takes no default "
                       "traffic until `tfx-prod rollout start` (ours)",
    "auto_canary": "roll each newly pushed version out as a canary by itself "
                   "(--rollout_steps, rolled back on a breach); implies "
                   "--enable_rollouts (ours)",
    "rollout_steps": "canary traffic percents, rising, ending at 100",
    "rollout_hold_seconds": "how long each step must stay within bounds",
    "rollout_check_seconds": "how often the bounds are checked",
    "rollout_state_dir": "local directory for rollout state and history "
                         "(default: MODEL_BASE_PATH/.rollout)",
    "rollout_key_header": "request header whose value picks stable or "
                          "canary (sticky); gRPC: the same metadata key",
    "rollout_key_feature": "else the value of this input feature in the "
                           "request's first row (REST); neither: random",
    "rollout_min_requests": "requests per version per step before judging",
    "rollout_max_error_rate_increase": "canary model-error rate may exceed "
                                       "stable's by at most this",
    "rollout_max_p99_ratio": "canary P99 <= stable P99 x this + slack",
    "rollout_p99_slack_ms": "absolute P99 slack (ms) for that bound",
    "rollout_max_confidence_distance": "largest Jensen-Shannon distance "
                                       "between canary and stable "
                                       "confidence histograms",
    "allow_remote_admin": "accept rollout changes from any address, not "
                          "only loopback (put auth in front first)",
    "enable_feedback": "remember each predict/classify's probabilities under "
                       "its X-Request-Id (echoed; made up when absent) so "
                       "POST /v1/models/NAME/feedback can join labels: "
                       "online accuracy/AUC per version (ours)",
    "feedback_max_pending": "unlabelled predictions kept for feedback (the "
                            "oldest are dropped)",
    "prediction_log_dir": "append every predicted row (features, score, "
                          "request id) to rotating JSON-lines files here, "
                          "for `tfx-prod drift --serving-log` (local disk)",
    "rollout_require": "accuracy or auc: promote a canary only when labelled "
                       "feedback shows it no worse than stable (z-test or "
                       "bootstrap), roll it back when it is significantly "
                       "worse; implies --enable_feedback",
    "rollout_require_confidence": "confidence of that test",
    "rollout_require_margin": "how much worse than stable the canary may be "
                              "(accuracy or AUC points, e.g. 0.01)",
    "rollout_require_min_labels": "labelled rows per version before the "
                                  "test decides (the rollout holds until "
                                  "then)",
}


def add_arguments(parser: argparse.ArgumentParser, **defaults) -> None:
    """Adds every server flag; `defaults` overrides ServerOptions' defaults."""
    base = ServerOptions(**defaults)
    for field in dataclasses.fields(ServerOptions):
        default = getattr(base, field.name)
        kwargs = {"default": default, "help": _HELP[field.name]}
        if field.type in (bool, "bool"):
            kwargs.update(nargs="?", const=True, type=parse_bool,
                          metavar="true|false")
        elif field.name == "runtime":
            kwargs.update(choices=RUNTIMES)
        elif field.type in (int, "int"):
            kwargs["type"] = int
        elif field.type in (float, "float"):
            kwargs["type"] = float
        if default not in (None, False, ""):
            kwargs["help"] += f" (default: {default})"
        parser.add_argument(f"--{field.name}", **kwargs)
    parser.add_argument("--auto-canary", dest="auto_canary", nargs="?",
                        const=True, type=parse_bool, help=argparse.SUPPRESS)
    parser.add_argument("--prefer_tflite_model", nargs="?", const=True,
                        default=False, type=parse_bool, metavar="true|false",
                        help="TF Serving's spelling of --runtime tflite")


def from_args(args: argparse.Namespace) -> ServerOptions:
    values = {f.name: getattr(args, f.name)
              for f in dataclasses.fields(ServerOptions)}
    if getattr(args, "prefer_tflite_model", False):
        values["runtime"] = "tflite"
    for name in ("model_base_path", "model_config_file",
                 "batching_parameters_file", "monitoring_config_file"):
        if values[name] and "://" not in values[name]:
            values[name] = os.path.abspath(values[name])
    return ServerOptions(**values)
