"""Which tf.distribute strategy and precision policy the Trainer runs with.

`plan_strategy` is pure (facts in, decision out) so every branch is testable
on a CPU-only machine; `make_strategy` gathers the real facts and builds it.

`auto` picks, in order:
1. TPUStrategy if a TPU cluster resolves (TPU_NAME, KUBE_GOOGLE_CLOUD_TPU_
   ENDPOINTS or TPU_CONFIG is set, or, as on a TPU VM, /dev/accel* or
   /dev/vfio/N exist and libtpu is installed);
2. MultiWorkerMirroredStrategy if TF_CONFIG describes more than one
   chief/worker task (each worker training alone would waste the cluster);
3. MirroredStrategy over the GPUs if there are 2 or more;
4. OneDeviceStrategy('/gpu:0') for exactly one GPU: same placement the
   default strategy would give, plus prefetch to the device and no
   all-reduce machinery;
5. otherwise the default strategy on CPU.
"""
import dataclasses
import glob
import importlib.util
import json
import os
import threading
from typing import Any, Mapping, Sequence

from absl import logging
import tensorflow as tf
import tf_keras as keras

STRATEGIES = ("auto", "tpu", "mirrored", "multiworker", "one-device", "cpu")

# Env vars TPUClusterResolver reads when given no address (tpu/client.py).
TPU_ENV_VARS = ("TPU_NAME", "KUBE_GOOGLE_CLOUD_TPU_ENDPOINTS", "TPU_CONFIG")
TPU_HOW_TO = ("set TPU_NAME to the Cloud TPU's name or grpc://<host>:8470 "
              "address (a TPU VM is found as 'local' from /dev/accel* or "
              "/dev/vfio plus libtpu), or pass make_strategy(..., "
              "tpu=<address>)")

# Mixed-precision policy per accelerator; float16 needs loss scaling, which
# tf_keras' compile() adds on its own (LossScaleOptimizer).
MIXED_POLICIES = {"gpu": "mixed_float16", "tpu": "mixed_bfloat16",
                  "cpu": "mixed_bfloat16"}


@dataclasses.dataclass(frozen=True)
class StrategyPlan:
    """The decision, plus a sentence for the run log and the model report."""
    kind: str  # tpu | multiworker | mirrored | one-device | cpu | default
    devices: tuple[str, ...]
    reason: str
    chief: bool = True  # False on non-chief multi-worker tasks: no export

    @property
    def accelerator(self) -> str:
        """'tpu', 'gpu' or 'cpu': what the math runs on (picks precision)."""
        if self.kind == "tpu":
            return "tpu"
        if any("gpu" in device.lower() for device in self.devices):
            return "gpu"
        return "cpu"


def _cluster_tasks(tf_config: Mapping[str, Any] | None) -> int:
    cluster = (tf_config or {}).get("cluster") or {}
    return sum(len(cluster.get(job, ())) for job in ("chief", "worker"))


def _plan_multiworker(tf_config, gpus, prefix) -> StrategyPlan:
    cluster = (tf_config or {}).get("cluster")
    if not cluster:
        raise ValueError(
            "strategy 'multiworker' needs TF_CONFIG with a 'cluster', e.g. "
            'TF_CONFIG=\'{"cluster": {"worker": ["host1:2222", '
            '"host2:2222"]}, "task": {"type": "worker", "index": 0}}\' '
            "on every worker.")
    if "ps" in cluster:
        raise ValueError(
            "TF_CONFIG has 'ps' tasks: parameter-server training is not "
            "supported; use a chief/worker cluster for 'multiworker'.")
    task = (tf_config or {}).get("task") or {}
    if "type" not in task or "index" not in task:
        raise ValueError("TF_CONFIG for 'multiworker' needs 'task': "
                         '{"type": "worker", "index": N} on each worker.')
    devices = tuple(gpus) or ("/cpu:0",)
    local = f"{len(gpus)} GPU(s)" if gpus else "CPU"
    # As tf.distribute's multi_worker_util.is_chief: the chief task, or
    # worker 0 when the cluster has no chief.
    chief = (task["type"] == "chief" if "chief" in cluster
             else task["type"] == "worker" and int(task["index"]) == 0)
    return StrategyPlan(
        "multiworker", devices,
        f"{prefix}TF_CONFIG cluster of {_cluster_tasks(tf_config)} tasks, "
        f"this is {task['type']} {task['index']}, {local} each "
        "-> MultiWorkerMirroredStrategy", chief=chief)


def plan_strategy(requested: str, *, gpus: Sequence[str],
                  tpu_address: str | None,
                  tf_config: Mapping[str, Any] | None,
                  cpus: Sequence[str] = ()) -> StrategyPlan:
    """Decides the strategy from injected facts (see module docstring).

    `cpus` (logical CPU devices) matters only to an explicit 'mirrored' with
    no GPU, which mirrors over them: that is how the CPU test gets 2 replicas.
    """
    if requested not in STRATEGIES:
        raise ValueError(f"Unknown strategy {requested!r}; "
                         f"choose one of {', '.join(STRATEGIES)}.")
    gpus = tuple(gpus)
    if requested == "auto":
        if tpu_address is not None:
            return StrategyPlan("tpu", (tpu_address,),
                                f"auto: TPU at {tpu_address} -> TPUStrategy")
        if _cluster_tasks(tf_config) > 1:
            return _plan_multiworker(tf_config, gpus, "auto: no TPU, ")
        if len(gpus) > 1:
            return StrategyPlan(
                "mirrored", gpus,
                f"auto: no TPU, {len(gpus)} GPUs -> MirroredStrategy")
        if gpus:
            return StrategyPlan(
                "one-device", gpus[:1],
                f"auto: no TPU, 1 GPU -> OneDeviceStrategy({gpus[0]})")
        return StrategyPlan("default", ("/cpu:0",),
                            "auto: no TPU, 0 GPUs -> default strategy on CPU")
    if requested == "tpu":
        if tpu_address is None:
            raise ValueError(
                f"strategy 'tpu' but no TPU was found: {TPU_HOW_TO}.")
        return StrategyPlan("tpu", (tpu_address,),
                            f"tpu: TPU at {tpu_address} -> TPUStrategy")
    if requested == "multiworker":
        return _plan_multiworker(tf_config, gpus, "multiworker: ")
    if requested == "mirrored":
        if gpus:
            return StrategyPlan(
                "mirrored", gpus,
                f"mirrored: {len(gpus)} GPU(s) -> MirroredStrategy")
        devices = tuple(cpus) or ("/cpu:0",)
        return StrategyPlan(
            "mirrored", devices,
            f"mirrored: 0 GPUs -> MirroredStrategy over {len(devices)} "
            "logical CPU device(s)")
    if requested == "one-device":
        device = gpus[0] if gpus else "/cpu:0"
        return StrategyPlan("one-device", (device,),
                            f"one-device: {len(gpus)} GPU(s) -> "
                            f"OneDeviceStrategy({device})")
    return StrategyPlan("cpu", ("/cpu:0",),
                        "cpu: requested -> OneDeviceStrategy(/cpu:0)")


def _read_tf_config() -> dict | None:
    raw = os.environ.get("TF_CONFIG", "").strip()
    if not raw:
        return None
    try:
        return json.loads(raw)
    except json.JSONDecodeError as error:
        raise ValueError(f"TF_CONFIG is not valid JSON: {error}") from error


def _visible_gpus() -> list[str]:
    """GPU names without initializing the TF runtime.

    MultiWorkerMirroredStrategy must configure collective ops before the
    runtime starts, so list_logical_devices (which starts it) is avoided.
    """
    visible = tf.config.get_visible_devices("GPU")
    return [f"/gpu:{i}" for i in range(len(visible))]


def _tpu_hint(tpu: str | None) -> str | None:
    """Address for TPUClusterResolver; None when nothing hints at a TPU."""
    if tpu:
        return tpu
    if any(os.environ.get(name) for name in TPU_ENV_VARS):
        return ""  # the resolver reads the env vars itself
    devices = glob.glob("/dev/accel*") or glob.glob("/dev/vfio/[0-9]*")
    if devices and _has_libtpu():  # vfio alone is also GPU/NIC passthrough
        return "local"
    return None


def _has_libtpu() -> bool:
    """TF drives a TPU VM's chips through libtpu; without it, no TPU."""
    return bool(importlib.util.find_spec("libtpu")
                or os.environ.get("TPU_LIBRARY_PATH")
                or os.path.exists("/usr/lib/libtpu.so"))


def _find_tpu(tpu: str | None, timeout_s: float):
    """(resolver, address), (None, why it failed), or (None, None) if no hint.

    Resolving a TPU *name* asks the Cloud TPU API / GCE metadata server,
    which can stall off GCP, so it runs in a daemon thread we can abandon.
    """
    hint = _tpu_hint(tpu)
    if hint is None:
        return None, None
    found = {}

    def resolve():
        try:
            resolver = tf.distribute.cluster_resolver.TPUClusterResolver(
                tpu=hint or None)
            found["address"] = resolver.master() or "local"
            found["resolver"] = resolver
        except Exception as error:  # pylint: disable=broad-except
            found["error"] = f"{type(error).__name__}: {error}"

    thread = threading.Thread(target=resolve, daemon=True)
    thread.start()
    thread.join(timeout_s)
    if "resolver" in found:
        return found["resolver"], found["address"]
    why = found.get("error", f"timed out after {timeout_s:g}s")
    where = hint or ", ".join(f"{name}={os.environ[name]!r}"
                              for name in TPU_ENV_VARS if os.environ.get(name))
    logging.warning("TPU %s not resolvable: %s", where, why)
    return None, f"TPU {where} not resolvable: {why}"


def _build(plan: StrategyPlan, resolver) -> tf.distribute.Strategy:
    if plan.kind == "tpu":
        tf.config.experimental_connect_to_cluster(resolver)
        tf.tpu.experimental.initialize_tpu_system(resolver)
        return tf.distribute.TPUStrategy(resolver)
    if plan.kind == "multiworker":
        return tf.distribute.MultiWorkerMirroredStrategy()
    if plan.kind == "mirrored":
        return tf.distribute.MirroredStrategy(devices=list(plan.devices))
    if plan.kind in ("one-device", "cpu"):
        return tf.distribute.OneDeviceStrategy(plan.devices[0])
    return tf.distribute.get_strategy()


def make_strategy(requested: str, *, tpu: str | None = None,
                  tpu_timeout_s: float = 60.0):
    """Gathers the machine's facts, plans, builds: -> (strategy, StrategyPlan).

    `tpu` overrides TPU_NAME. Call it before any other TF op in the process
    (TF_CONFIG multi-worker training requires that).
    """
    if requested not in STRATEGIES:  # fail before probing anything
        plan_strategy(requested, gpus=(), tpu_address=None, tf_config=None)
    tf_config = _read_tf_config()
    gpus = _visible_gpus()
    resolver, tpu_address, tpu_note = None, None, None
    if requested in ("auto", "tpu"):
        resolver, found = _find_tpu(tpu, tpu_timeout_s)
        if resolver is None:
            tpu_note = found
        else:
            tpu_address = found
    cpus = ()
    if requested == "mirrored" and not gpus:
        cpus = [d.name for d in tf.config.list_logical_devices("CPU")]
    try:
        plan = plan_strategy(requested, gpus=gpus, tpu_address=tpu_address,
                             tf_config=tf_config, cpus=cpus)
    except ValueError as error:
        if tpu_note:
            raise ValueError(f"{error} [{tpu_note}]") from None
        raise
    if tpu_note:  # auto fell back although a TPU was pointed at: say so
        plan = dataclasses.replace(plan, reason=f"{plan.reason} ({tpu_note})")
    return _build(plan, resolver), plan


def precision_policy(mixed: bool, accelerator: str) -> str:
    """Policy name for `accelerator` ('tpu' | 'gpu' | 'cpu')."""
    if accelerator not in MIXED_POLICIES:
        raise ValueError(f"Unknown accelerator {accelerator!r}; "
                         f"expected one of {sorted(MIXED_POLICIES)}.")
    return MIXED_POLICIES[accelerator] if mixed else "float32"


def set_precision(mixed: bool, accelerator: str) -> str:
    """Sets tf_keras' global dtype policy (before building the model).

    On CPUs without native bfloat16 (no AVX512_BF16/AMX), mixed_bfloat16 is
    numerically fine but usually slower than float32; it is opt-in.
    """
    name = precision_policy(mixed, accelerator)
    keras.mixed_precision.set_global_policy(name)
    return name
