"""Turn one SavedModel signature into TFLite flatbuffers, one per variant.

Full-integer int8 is configured here on `tf.lite.TFLiteConverter` directly:
TFX's TFLiteRewriter only validates `quantization_enable_full_integer` and
never sets int8 ops or int8 input/output types.
"""
from typing import Callable, Dict, Iterable, List, Optional

import numpy as np
import tensorflow as tf

# Always built and scored: the size and latency anchor, never blessed.
ANCHOR_VARIANT = "float32"
QUANTIZED_VARIANTS = ("dynamic_range", "float16", "int8")

# Yields one batch-1 input dict per calibration example (int8 only).
RepresentativeDataset = Callable[[], Iterable[Dict[str, np.ndarray]]]


def parse_variant_names(variants: str) -> List[str]:
    """Split a comma list of quantized variants, rejecting unknown names early."""
    names = []
    for name in (part.strip() for part in variants.split(",")):
        if name and name not in names:
            names.append(name)
    unknown = [name for name in names if name not in QUANTIZED_VARIANTS]
    if unknown or not names:
        raise ValueError(
            f"variants={variants!r}: unknown or empty {unknown or names}; "
            f"allowed: {', '.join(QUANTIZED_VARIANTS)} "
            f"({ANCHOR_VARIANT} is always built as the anchor)."
        )
    return names


def needs_calibration(variant: str) -> bool:
    """Only full-integer quantization needs a representative dataset."""
    return variant == "int8"


def _configure_float32(converter, representative_dataset):
    del converter, representative_dataset  # Plain conversion.


def _configure_dynamic_range(converter, representative_dataset):
    del representative_dataset
    converter.optimizations = [tf.lite.Optimize.DEFAULT]


def _configure_float16(converter, representative_dataset):
    del representative_dataset
    converter.optimizations = [tf.lite.Optimize.DEFAULT]
    converter.target_spec.supported_types = [tf.float16]


def _configure_int8(converter, representative_dataset):
    if representative_dataset is None:
        raise ValueError("int8 needs a representative dataset.")
    converter.optimizations = [tf.lite.Optimize.DEFAULT]
    converter.representative_dataset = representative_dataset
    converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
    converter.inference_input_type = tf.int8
    converter.inference_output_type = tf.int8


_CONFIGURE = {
    ANCHOR_VARIANT: _configure_float32,
    "dynamic_range": _configure_dynamic_range,
    "float16": _configure_float16,
    "int8": _configure_int8,
}


def convert_variant(
    saved_model_dir: str,
    signature_key: str,
    variant: str,
    representative_dataset: Optional[RepresentativeDataset] = None,
) -> bytes:
    """Convert only `signature_key` (the dense one) into a `variant` flatbuffer."""
    if variant not in _CONFIGURE:
        raise ValueError(f"Unknown variant {variant!r}; allowed: {sorted(_CONFIGURE)}.")
    converter = tf.lite.TFLiteConverter.from_saved_model(
        saved_model_dir, signature_keys=[signature_key]
    )
    _CONFIGURE[variant](converter, representative_dataset)
    return converter.convert()
