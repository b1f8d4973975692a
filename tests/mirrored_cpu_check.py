"""Real MirroredStrategy training on two logical CPUs; run as its own process.

Logical devices can only be configured before TensorFlow initializes, which
pytest's process has long done, so tests/test_distribution.py runs this
script with `sys.executable` and parses the JSON line it prints last.
"""
import json
import os
import sys
import tempfile
import time

os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402
import tf_keras as keras  # noqa: E402

from modules.taxi import features  # noqa: E402
from modules.distribution import make_strategy  # noqa: E402
from modules.model import build_model  # noqa: E402
from tests.helpers import taxi_trainer_config  # noqa: E402
from tests.synthetic import transformed_inputs  # noqa: E402

ROWS, GLOBAL_BATCH, STEPS, EPOCHS = 2048, 64, 20, 2


def synthetic(rows, seed):
    """Transformed-shaped inputs; the label is a simple rule an MLP learns."""
    inputs = transformed_inputs(np.random.default_rng(seed), rows)
    fare = inputs[features.transformed_name("fare")][:, 0]
    card = inputs[features.transformed_name("payment_type")][:, 0]
    labels = (fare + 1.5 * card - 0.3 > 0).astype(np.float32)[:, None]
    return inputs, labels


def main():
    start = time.time()
    cpu = tf.config.list_physical_devices("CPU")[0]
    tf.config.set_logical_device_configuration(
        cpu, [tf.config.LogicalDeviceConfiguration(),
              tf.config.LogicalDeviceConfiguration()])
    strategy, plan = make_strategy("mirrored")
    assert strategy.num_replicas_in_sync == 2, plan
    keras.utils.set_random_seed(0)
    with strategy.scope():
        model = build_model(taxi_trainer_config(hidden_units=(16,),
                                                learning_rate=1e-2))
    inputs, labels = synthetic(ROWS, seed=1)
    dataset = (tf.data.Dataset.from_tensor_slices((inputs, labels))
               .shuffle(ROWS, seed=2).batch(GLOBAL_BATCH).repeat())
    history = model.fit(dataset, steps_per_epoch=STEPS, epochs=EPOCHS,
                        verbose=0).history
    test_inputs, test_labels = synthetic(256, seed=3)
    # Direct calls, not predict()/evaluate(): each of those traces (and
    # autograph-converts) another Keras function, which costs ~10s of CPU.
    in_memory = model(test_inputs).numpy()
    accuracy = float(((in_memory > 0.5) == test_labels).mean())

    export_dir = os.path.join(tempfile.mkdtemp(), "model")
    model.save(export_dir, save_format="tf")
    reloaded = keras.models.load_model(export_dir)  # outside the scope
    serving = tf.saved_model.load(export_dir).signatures["serving_default"]
    by_keras = reloaded(test_inputs).numpy()
    by_signature = next(iter(serving(**{
        name: tf.constant(value) for name, value in test_inputs.items()
    }).values())).numpy()
    print(json.dumps({
        "replicas": strategy.num_replicas_in_sync,
        "kind": plan.kind,
        "reason": plan.reason,
        "variable_type": type(model.trainable_variables[0]).__name__,
        "first_loss": history["loss"][0],
        "last_loss": history["loss"][-1],
        "test_accuracy": accuracy,
        "max_diff_keras": float(np.abs(by_keras - in_memory).max()),
        "max_diff_signature": float(np.abs(by_signature - in_memory).max()),
        "seconds": round(time.time() - start, 1),
    }))


if __name__ == "__main__":
    main()
