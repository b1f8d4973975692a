"""Process-wide settings every test needs before TensorFlow is imported.

TFX 1.16's Transform only works with Keras 2 (tensorflow_transform/keras_lib.py),
so the whole project runs on tf_keras; see README "Keras 2 vs Keras 3".
"""
import os

os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

# One definition of the expensive session fixtures for every test directory.
pytest_plugins = ["tests.fixtures"]
