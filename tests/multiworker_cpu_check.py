"""One worker of a real 2-process MultiWorkerMirroredStrategy run on CPU.

tests/test_distribution.py starts two of these with TF_CONFIG pointing at
localhost ports (opt-in: TFX_PROD_MULTIWORKER_TEST=1, it costs ~1 min).
Argument: the chief's export dir. Prints one JSON line.
"""
import json
import os
import shutil
import sys
import tempfile

os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402
import tf_keras as keras  # noqa: E402

from modules.distribution import make_strategy  # noqa: E402
from modules.model import build_model  # noqa: E402
from tests.helpers import taxi_trainer_config  # noqa: E402
from tests.mirrored_cpu_check import synthetic  # noqa: E402


def main(export_dir):
    # First TF call of the process, as run_fn does it.
    strategy, plan = make_strategy("multiworker")
    keras.utils.set_random_seed(0)
    with strategy.scope():
        model = build_model(taxi_trainer_config(hidden_units=(16,),
                                                learning_rate=1e-2))
    inputs, labels = synthetic(1024, seed=1)
    options = tf.data.Options()
    options.experimental_distribute.auto_shard_policy = (
        tf.data.experimental.AutoShardPolicy.DATA)
    dataset = (tf.data.Dataset.from_tensor_slices((inputs, labels))
               .batch(64).repeat().with_options(options))
    history = model.fit(dataset, steps_per_epoch=10, epochs=2,
                        verbose=0).history
    # Every worker saves (it may need collectives); only the chief keeps it.
    target = export_dir if plan.chief else tempfile.mkdtemp()
    model.save(target, save_format="tf")
    if not plan.chief:
        shutil.rmtree(target, ignore_errors=True)
    test_inputs, _ = synthetic(64, seed=3)
    print(json.dumps({
        "chief": plan.chief,
        "kind": plan.kind,
        "reason": plan.reason,
        "replicas": strategy.num_replicas_in_sync,
        "loss": history["loss"],
        "weights_sum": float(sum(np.abs(v.numpy()).sum()
                                 for v in model.trainable_variables)),
        "predictions": model(test_inputs).numpy()[:8, 0].tolist(),
    }))


if __name__ == "__main__":
    main(sys.argv[1])
