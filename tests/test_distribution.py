"""Strategy selection (pure), real strategies on CPU, mixed precision + XLA."""
import glob
import json
import os
import re
import socket
import subprocess
import sys

import numpy as np
import pytest
import tensorflow as tf
import tf_keras as keras

from modules import distribution
from modules.distribution import (StrategyPlan, plan_strategy,
                                  precision_policy)
from modules.model import PROBABILITY_OUTPUT, build_model
from modules.taxi import features
from tests.helpers import taxi_trainer_config
from tests.mirrored_cpu_check import synthetic

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TPU = "grpc://10.0.0.2:8470"
TWO_GPUS = ["/device:GPU:0", "/device:GPU:1"]


def _tf_config(workers=2, index=0, task="worker", chief=False):
    cluster = {"worker": [f"host{i}:2222" for i in range(workers)]}
    if chief:
        cluster["chief"] = ["chief0:2222"]
    return {"cluster": cluster, "task": {"type": task, "index": index}}


def plan(requested, gpus=(), tpu_address=None, tf_config=None, cpus=()):
    return plan_strategy(requested, gpus=list(gpus), tpu_address=tpu_address,
                         tf_config=tf_config, cpus=cpus)


# --- selection logic, injected facts ----------------------------------------

def test_auto_prefers_a_resolvable_tpu():
    chosen = plan("auto", gpus=TWO_GPUS, tpu_address=TPU,
                  tf_config=_tf_config())
    assert chosen == StrategyPlan("tpu", (TPU,),
                                  f"auto: TPU at {TPU} -> TPUStrategy")
    assert chosen.accelerator == "tpu"


def test_auto_mirrors_over_two_gpus():
    chosen = plan("auto", gpus=TWO_GPUS)
    assert (chosen.kind, chosen.devices) == ("mirrored", tuple(TWO_GPUS))
    assert chosen.reason == "auto: no TPU, 2 GPUs -> MirroredStrategy"
    assert chosen.accelerator == "gpu"


def test_auto_puts_one_gpu_on_one_device():
    chosen = plan("auto", gpus=TWO_GPUS[:1])
    assert (chosen.kind, chosen.devices) == ("one-device", ("/device:GPU:0",))
    assert chosen.accelerator == "gpu"


def test_auto_without_accelerators_is_the_default_strategy_on_cpu():
    chosen = plan("auto", tf_config={"cluster": {"chief": ["h:1"]},
                                     "task": {"type": "chief", "index": 0}})
    assert chosen.kind == "default"
    assert chosen.reason == "auto: no TPU, 0 GPUs -> default strategy on CPU"
    assert chosen.accelerator == "cpu"
    assert chosen.chief


def test_auto_uses_a_multi_worker_tf_config():
    chosen = plan("auto", gpus=TWO_GPUS, tf_config=_tf_config(index=1))
    assert chosen.kind == "multiworker"
    assert "this is worker 1" in chosen.reason
    assert not chosen.chief
    assert chosen.accelerator == "gpu"


def test_multiworker_chief_is_worker_0_unless_there_is_a_chief():
    assert plan("multiworker", tf_config=_tf_config(index=0)).chief
    assert not plan("multiworker", tf_config=_tf_config(chief=True)).chief
    assert plan("multiworker",
                tf_config=_tf_config(task="chief", chief=True)).chief


@pytest.mark.parametrize("tf_config", [None, {}, {"task": {"type": "worker"}}])
def test_multiworker_without_a_cluster_says_how_to_set_tf_config(tf_config):
    with pytest.raises(ValueError, match=r"needs TF_CONFIG with a 'cluster'"):
        plan("multiworker", gpus=TWO_GPUS, tf_config=tf_config)


def test_multiworker_rejects_parameter_servers_and_missing_task():
    with pytest.raises(ValueError, match="parameter-server"):
        plan("multiworker", tf_config={"cluster": {"worker": ["a:1"],
                                                   "ps": ["b:1"]}})
    with pytest.raises(ValueError, match="needs 'task'"):
        plan("multiworker", tf_config={"cluster": {"worker": ["a:1"]}})


def test_tpu_without_a_tpu_names_how_to_point_at_one():
    with pytest.raises(ValueError, match="no TPU was found") as error:
        plan("tpu", gpus=TWO_GPUS)
    assert "TPU_NAME" in str(error.value)
    assert "grpc://<host>:8470" in str(error.value)


def _cli_strategy_choices():
    import argparse
    from tfx_prod import run_args
    parser = argparse.ArgumentParser()
    run_args.add_arguments(parser)
    [action] = [a for a in parser._actions if a.dest == "strategy"]
    return list(action.choices)


def test_unknown_strategy_lists_exactly_the_choices_that_work():
    """The choices named in the error (and offered by `run --strategy`) are
    the ones plan_strategy accepts."""
    with pytest.raises(ValueError, match="Unknown strategy 'gpu'") as error:
        plan("gpu")
    listed = re.search(r"choose one of (.*)\.$", str(error.value)).group(1)
    listed = listed.split(", ")
    assert sorted(listed) == sorted(_cli_strategy_choices())
    kinds = {name: plan(name, tpu_address=TPU, tf_config=_tf_config()).kind
             for name in listed}
    assert set(kinds.values()) >= {"tpu", "mirrored", "multiworker",
                                   "one-device", "cpu"}


def test_explicit_choices():
    assert plan("mirrored", gpus=TWO_GPUS).devices == tuple(TWO_GPUS)
    cpus = ("/device:CPU:0", "/device:CPU:1")
    on_cpus = plan("mirrored", cpus=cpus)
    assert (on_cpus.devices, on_cpus.accelerator) == (cpus, "cpu")
    assert plan("one-device", gpus=TWO_GPUS).devices == ("/device:GPU:0",)
    assert plan("one-device").devices == ("/cpu:0",)
    forced = plan("cpu", gpus=TWO_GPUS, tpu_address=TPU)
    assert (forced.kind, forced.accelerator) == ("cpu", "cpu")
    assert plan("tpu", tpu_address=TPU).kind == "tpu"


@pytest.mark.parametrize("accelerator", ["gpu", "tpu", "cpu"])
def test_precision_policy_gives_each_accelerator_a_model_that_trains_safely(
        accelerator, restore_policy):
    """What the policy does to the real model, not its name: float32 when
    off; when on, 16-bit math with float32 variables and output, a format
    the device has (TPUs have no float16), and loss scaling for float16
    (its narrow exponent underflows small gradients)."""
    distribution.set_precision(False, accelerator)
    plain = build_model(taxi_trainer_config(hidden_units=(4,)))
    assert plain.get_layer("dense_0").compute_dtype == "float32"

    distribution.set_precision(True, accelerator)
    model = build_model(taxi_trainer_config(hidden_units=(4,)))
    compute = model.get_layer("dense_0").compute_dtype
    assert compute in ("float16", "bfloat16")
    if accelerator == "tpu":
        assert compute == "bfloat16"
    assert all(v.dtype == tf.float32 for v in model.trainable_variables)
    assert model.output.dtype == tf.float32
    scaled = isinstance(model.optimizer,
                        keras.mixed_precision.LossScaleOptimizer)
    assert scaled == (compute == "float16")


def test_precision_policy_rejects_a_strategy_name_as_accelerator():
    with pytest.raises(ValueError, match="Unknown accelerator"):
        precision_policy(True, "mirrored")


# --- the real machine -------------------------------------------------------

@pytest.fixture
def no_tpu_env(monkeypatch):
    for name in distribution.TPU_ENV_VARS + ("TF_CONFIG",):
        monkeypatch.delenv(name, raising=False)
    if glob.glob("/dev/accel*") or glob.glob("/dev/vfio/[0-9]*"):
        pytest.skip("this machine has TPU device nodes")


def test_auto_on_this_machine(no_tpu_env):
    strategy, chosen = distribution.make_strategy("auto")
    gpus = tf.config.list_logical_devices("GPU")
    assert chosen == plan("auto", gpus=[f"/gpu:{i}" for i in range(len(gpus))])
    expected = {0: "default", 1: "one-device"}.get(len(gpus), "mirrored")
    assert chosen.kind == expected
    built = {"default": type(tf.distribute.get_strategy()),
             "one-device": tf.distribute.OneDeviceStrategy,
             "mirrored": tf.distribute.MirroredStrategy}[expected]
    assert type(strategy) is built
    assert strategy.num_replicas_in_sync == max(1, len(gpus))


def test_unresolvable_tpu_name_fails_tpu_and_is_reported_by_auto(
        no_tpu_env, monkeypatch):
    monkeypatch.setenv("TPU_NAME", "no-such-tpu.invalid")
    with pytest.raises(ValueError, match="TPU_NAME") as error:
        distribution.make_strategy("tpu", tpu_timeout_s=10)
    assert "TPU_NAME='no-such-tpu.invalid' not resolvable" in str(error.value)
    _, chosen = distribution.make_strategy("auto", tpu_timeout_s=10)
    assert chosen.kind != "tpu"
    assert "not resolvable" in chosen.reason


def test_unknown_strategy_fails_before_probing(monkeypatch):
    monkeypatch.setenv("TF_CONFIG", "{not json")
    with pytest.raises(ValueError, match="Unknown strategy"):
        distribution.make_strategy("tpus")


def _script_env(**extra):
    env = dict(os.environ, TF_USE_LEGACY_KERAS="1", TF_CPP_MIN_LOG_LEVEL="2",
               PYTHONPATH=REPO + os.pathsep + os.environ.get("PYTHONPATH", ""))
    for name in distribution.TPU_ENV_VARS + ("TF_CONFIG",):
        env.pop(name, None)
    return {**env, **extra}


def _last_json_line(stdout):
    return json.loads(stdout.strip().splitlines()[-1])


def test_mirrored_training_on_two_logical_cpus_saves_and_reloads():
    """Logical CPUs need a TF that is not initialized yet: a fresh process."""
    done = subprocess.run(
        [sys.executable, os.path.join(REPO, "tests", "mirrored_cpu_check.py")],
        env=_script_env(), cwd=REPO, capture_output=True, text=True,
        timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    result = _last_json_line(done.stdout)
    assert result["replicas"] == 2
    assert result["kind"] == "mirrored"
    assert result["variable_type"] == "MirroredVariable"
    assert result["last_loss"] < result["first_loss"]
    assert result["test_accuracy"] > 0.75
    assert result["max_diff_keras"] < 1e-5
    assert result["max_diff_signature"] < 1e-5


def _free_port():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.mark.skipif(os.environ.get("TFX_PROD_MULTIWORKER_TEST") != "1",
                    reason="opt-in (~1 min more): TFX_PROD_MULTIWORKER_TEST=1")
def test_multiworker_on_two_local_cpu_processes(tmp_path):
    """Two real workers on localhost gRPC, TF_CONFIG as a cluster sets it."""
    cluster = {"worker": [f"127.0.0.1:{_free_port()}" for _ in range(2)]}
    script = os.path.join(REPO, "tests", "multiworker_cpu_check.py")
    workers = [subprocess.Popen(
        [sys.executable, script, str(tmp_path / "model")], cwd=REPO,
        env=_script_env(TF_CONFIG=json.dumps(
            {"cluster": cluster, "task": {"type": "worker", "index": i}})),
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        for i in range(2)]
    try:
        outputs = [worker.communicate(timeout=600) for worker in workers]
    finally:
        for worker in workers:
            worker.kill()
    for worker, (_, stderr) in zip(workers, outputs):
        assert worker.returncode == 0, stderr[-3000:]
    chief, other = (_last_json_line(stdout) for stdout, _ in outputs)
    assert (chief["chief"], other["chief"]) == (True, False)
    assert chief["kind"] == other["kind"] == "multiworker"
    assert chief["replicas"] == other["replicas"] == 2
    assert chief["loss"] == other["loss"]  # one all-reduced model
    assert chief["loss"][-1] < chief["loss"][0]
    assert chief["weights_sum"] == pytest.approx(other["weights_sum"])
    reloaded = keras.models.load_model(str(tmp_path / "model"))
    test_inputs, _ = synthetic(64, seed=3)
    np.testing.assert_allclose(reloaded(test_inputs).numpy()[:8, 0],
                               chief["predictions"], atol=1e-5)


# --- mixed precision + XLA --------------------------------------------------

@pytest.fixture
def restore_policy():
    yield
    keras.mixed_precision.set_global_policy("float32")


def test_mixed_bfloat16_with_xla_trains_and_outputs_float32(restore_policy):
    policy = distribution.set_precision(True, "cpu")
    assert policy == keras.mixed_precision.global_policy().name \
        == "mixed_bfloat16"
    model = build_model(taxi_trainer_config(hidden_units=(16,),
                                            mixed_precision=True, xla=True))
    assert model.jit_compile
    assert model.get_layer("dense_0").compute_dtype == "bfloat16"
    assert model.get_layer(PROBABILITY_OUTPUT).compute_dtype == "float32"
    assert model.output.dtype == tf.float32

    rng = np.random.default_rng(0)
    inputs = {name: rng.normal(size=(256, width)).astype(np.float32)
              for name, width in features.transformed_input_widths().items()}
    labels = (inputs["fare_xf"][:, :1] > 0).astype(np.float32)
    history = model.fit(inputs, labels, batch_size=32, epochs=2,
                        verbose=0).history
    assert np.isfinite(history["loss"]).all()
    assert history["loss"][-1] < history["loss"][0]
    assert model(inputs).dtype == tf.float32
    # Variables stay float32 (only the math is bfloat16).
    assert all(v.dtype == tf.float32 for v in model.trainable_variables)
