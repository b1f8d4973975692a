"""Random inputs shaped like Transform's output (numpy only: safe to import
in a fresh process before TensorFlow configures its devices)."""
import numpy as np

from modules.taxi import features


def transformed_inputs(rng: np.random.Generator, rows: int) -> dict:
    """N(0, 1) for width-1 features, a random one-hot for the rest."""
    inputs = {}
    for name, width in features.transformed_input_widths().items():
        if width == 1:
            inputs[name] = rng.normal(size=(rows, 1)).astype(np.float32)
        else:
            inputs[name] = np.eye(width, dtype=np.float32)[
                rng.integers(0, width, rows)]
    return inputs
