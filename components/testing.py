"""Test support shared by our components' tests (no executor imports it)."""
import tensorflow as tf
from tfx.dsl.io import filesystem_registry
from tfx.dsl.io.plugins import tensorflow_gfile


class Scaler(tf.Module):
    """y = factor * x: a real SavedModel in milliseconds. Different factors
    are different models with the same architecture (same file sizes)."""

    def __init__(self, factor):
        super().__init__()
        self.factor = tf.Variable(float(factor))

    @tf.function(input_signature=[tf.TensorSpec([None], tf.float32)])
    def __call__(self, x):
        return x * self.factor


class _RamFilesystem(tensorflow_gfile.TensorflowFilesystem):
    """TF's in-memory filesystem, standing in for gs:// without a network."""
    SUPPORTED_SCHEMES = ["ram://"]


def register_ram_filesystem() -> None:
    """Lets TFX's fileio (which our executors use) read and write ram://."""
    filesystem_registry.DEFAULT_FILESYSTEM_REGISTRY.register(_RamFilesystem,
                                                             priority=5)
