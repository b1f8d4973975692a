"""Weight counts and sparsity of SavedModels, read from their checkpoints.

    python -m benchmarks.weights SAVED_MODEL_DIR...   # prints JSON

Run in a child process (`measure`) because it imports TensorFlow, which the
harness itself never loads. Why it exists: the baseline's optimization
report may lack params and has no sparsity, and a SavedModel's variables
also hold the optimizer's slots (Adam keeps two per weight once a model has
trained), which inflate its size independently of pruning. These numbers
separate the model's own weights from that training state.
"""
import gzip
import json
import os
import subprocess
import sys

from benchmarks import workdirs

TIMEOUT_S = 600
_VALUE_SUFFIX = "/.ATTRIBUTES/VARIABLE_VALUE"


def _is_optimizer(name):
    return name.startswith("optimizer/")


def _is_weight(name):
    """A model weight: not optimizer state, metric state or a counter."""
    return (name.endswith(_VALUE_SUFFIX) and not _is_optimizer(name)
            and not name.startswith(("keras_api/", "save_counter/")))


def _is_dense_kernel(name, value):
    return "/kernel/" in name and value.ndim == 2


def describe(saved_model_dir):
    """Params, Dense-kernel sparsity and weight bytes of one SavedModel."""
    import numpy as np
    import tensorflow as tf
    reader = tf.train.load_checkpoint(
        os.path.join(saved_model_dir, "variables", "variables"))
    params = zeros = kernel_zeros = kernel_size = 0
    optimizer_bytes, weights = 0, []
    for name in sorted(reader.get_variable_to_shape_map()):
        if not name.endswith(_VALUE_SUFFIX):
            continue
        value = np.asarray(reader.get_tensor(name))
        if _is_optimizer(name):
            optimizer_bytes += value.nbytes
        if not _is_weight(name):
            continue
        params += value.size
        zeros += int(np.sum(value == 0))
        weights.append(value.tobytes())
        if _is_dense_kernel(name, value):
            kernel_size += value.size
            kernel_zeros += int(np.sum(value == 0))
    raw = b"".join(weights)
    return {
        "params": params,
        "nonzero_params": params - zeros,
        "sparsity": kernel_zeros / kernel_size if kernel_size else None,
        "weights_bytes": len(raw),
        "weights_gzip_bytes": len(gzip.compress(raw, 9, mtime=0)),
        "optimizer_bytes": optimizer_bytes,
    }


def _failed(dirs, why):
    return {d: {"error": why} for d in dirs}


def measure(saved_model_dirs, env=None):
    """{dir: stats or {"error": ...}} from one child process (one TF load)."""
    dirs = [d for d in saved_model_dirs if d]
    if not dirs:
        return {}
    env = dict(env or os.environ, TF_CPP_MIN_LOG_LEVEL="3")
    try:
        done = subprocess.run(
            [workdirs.python(), "-m", "benchmarks.weights", *dirs],
            capture_output=True, text=True, env=env, cwd=workdirs.REPO_DIR,
            timeout=TIMEOUT_S, check=False)
    except subprocess.TimeoutExpired:
        return _failed(dirs, f"timed out after {TIMEOUT_S}s")
    try:
        return json.loads(done.stdout.strip().splitlines()[-1])
    except (ValueError, IndexError):
        tail = " | ".join(done.stderr.strip().splitlines()[-3:])
        return _failed(dirs, f"exit {done.returncode}: {tail}")


def main(argv):
    found = {}
    for saved_model_dir in argv:
        try:
            found[saved_model_dir] = describe(saved_model_dir)
        except Exception as error:  # One bad model must not hide the rest.
            found[saved_model_dir] = {
                "error": f"{type(error).__name__}: {error}"}
    print(json.dumps(found))


if __name__ == "__main__":
    main(sys.argv[1:])
