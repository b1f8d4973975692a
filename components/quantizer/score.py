"""Load transformed examples, run the SavedModel and TFLite variants, time them.

Everything runs eagerly on concrete functions or the TFLite interpreter; no
tf.function is traced here, so scoring costs no autograph time.
"""
import os
import statistics
import time
from typing import Callable, Dict, List, NamedTuple

import numpy as np
import tensorflow as tf
from sklearn import metrics
from tfx.dsl.io import fileio

Features = Dict[str, np.ndarray]
_BATCH_SIZE = 1024
_WARMUP_RUNS = 10


class ExampleSet(NamedTuple):
    """Dense model inputs keyed by signature input name, plus 0/1 labels."""

    features: Features
    labels: np.ndarray


class SavedModelSignature:
    """The float reference; keeps the loaded SavedModel alive while in use."""

    def __init__(self, saved_model_dir: str, signature_key: str):
        self._root = tf.saved_model.load(saved_model_dir)
        if signature_key not in self._root.signatures:
            raise ValueError(
                f"Signature {signature_key!r} not in {saved_model_dir}; "
                f"available: {sorted(self._root.signatures.keys())}."
            )
        self._fn = self._root.signatures[signature_key]
        self.input_specs = dict(self._fn.structured_input_signature[1])
        outputs = self._fn.structured_outputs
        if len(outputs) != 1:
            raise ValueError(
                f"Signature {signature_key!r} must return one output "
                f"(positive-class probability), got {sorted(outputs)}."
            )
        self._output_name = next(iter(outputs))

    def predict(self, features: Features) -> np.ndarray:
        """Positive-class probabilities, shape [N], in batches."""
        count = len(next(iter(features.values())))
        chunks = []
        for start in range(0, count, _BATCH_SIZE):
            batch = {name: tf.constant(values[start:start + _BATCH_SIZE])
                     for name, values in features.items()}
            chunks.append(self._fn(**batch)[self._output_name].numpy())
        return np.concatenate(chunks).reshape(-1)

    def single_call(self, example: Features) -> Callable[[], None]:
        """A zero-argument batch-1 call for latency timing."""
        tensors = {name: tf.constant(values) for name, values in example.items()}
        return lambda: self._fn(**tensors)


class TFLiteSignature:
    """One TFLite variant; (de)quantizes int8 inputs and outputs transparently."""

    def __init__(self, model_content: bytes, signature_key: str):
        interpreter = tf.lite.Interpreter(model_content=model_content, num_threads=1)
        self._runner = interpreter.get_signature_runner(signature_key)
        self._input_details = self._runner.get_input_details()
        output_details = self._runner.get_output_details()
        if len(output_details) != 1:
            raise ValueError(f"TFLite model must have one output, got {sorted(output_details)}.")
        self._output_name, self._output_detail = next(iter(output_details.items()))

    def _model_inputs(self, features: Features) -> Features:
        return {name: _quantize(values, self._input_details[name])
                for name, values in features.items()}

    def predict(self, features: Features) -> np.ndarray:
        """Positive-class probabilities, shape [N]; the runner resizes per batch."""
        inputs = self._model_inputs(features)
        count = len(next(iter(inputs.values())))
        chunks = []
        for start in range(0, count, _BATCH_SIZE):
            batch = {name: values[start:start + _BATCH_SIZE] for name, values in inputs.items()}
            raw = self._runner(**batch)[self._output_name]
            chunks.append(_dequantize(raw, self._output_detail))
        return np.concatenate(chunks).reshape(-1)

    def single_call(self, example: Features) -> Callable[[], None]:
        """A zero-argument batch-1 call (input already quantized) for timing."""
        inputs = self._model_inputs(example)
        return lambda: self._runner(**inputs)


def _quantize(values: np.ndarray, detail: dict) -> np.ndarray:
    """Float -> the tensor's dtype with its (scale, zero_point); floats pass."""
    dtype = detail["dtype"]
    if not np.issubdtype(dtype, np.integer):
        return values.astype(dtype)
    scale, zero_point = detail["quantization"]
    limits = np.iinfo(dtype)
    quantized = np.round(values / scale + zero_point)
    return np.clip(quantized, limits.min, limits.max).astype(dtype)


def _dequantize(values: np.ndarray, detail: dict) -> np.ndarray:
    if not np.issubdtype(detail["dtype"], np.integer):
        return values.astype(np.float32)
    scale, zero_point = detail["quantization"]
    return (values.astype(np.float32) - zero_point) * scale


def load_examples(split_uri: str, input_specs: Dict[str, tf.TensorSpec],
                  label_key: str, limit: int) -> ExampleSet:
    """Read up to `limit` gzipped tf.Examples; the parse spec comes from the signature."""
    files = sorted(fileio.glob(os.path.join(split_uri, "*.gz")))
    if not files:
        raise ValueError(f"No *.gz TFRecord files under {split_uri}.")
    parse_spec = {label_key: tf.io.FixedLenFeature([], tf.int64)}
    for name, spec in input_specs.items():
        if spec.shape.rank != 2 or spec.shape[1] is None:
            raise ValueError(f"Input {name!r} must be dense [None, d], got {spec.shape}.")
        parse_spec[name] = tf.io.FixedLenFeature([spec.shape[1]], spec.dtype)
    dataset = tf.data.TFRecordDataset(files, compression_type="GZIP")
    columns: Dict[str, List[np.ndarray]] = {name: [] for name in parse_spec}
    for serialized in dataset.take(limit).batch(_BATCH_SIZE):
        parsed = tf.io.parse_example(serialized, parse_spec)
        for name, values in parsed.items():
            columns[name].append(values.numpy())
    if not columns[label_key]:
        raise ValueError(f"No examples in {split_uri}.")
    merged = {name: np.concatenate(chunks) for name, chunks in columns.items()}
    labels = merged.pop(label_key)
    return ExampleSet(features=merged, labels=labels)


def representative_dataset(examples: ExampleSet):
    """Calibration generator for int8: one batch-1 input dict per example."""
    def generate():
        for index in range(len(examples.labels)):
            yield {name: values[index:index + 1] for name, values in examples.features.items()}
    return generate


def first_example(examples: ExampleSet) -> Features:
    return {name: values[:1] for name, values in examples.features.items()}


def classification_metrics(labels: np.ndarray, probabilities: np.ndarray) -> Dict[str, float]:
    """AUC and accuracy at 0.5; AUC needs both classes in the eval split."""
    if len(np.unique(labels)) < 2:
        raise ValueError("Eval split has a single label class; AUC is undefined.")
    return {
        "auc": float(metrics.roc_auc_score(labels, probabilities)),
        "accuracy": float(np.mean((probabilities >= 0.5) == (labels == 1))),
    }


def latency_ms(call: Callable[[], None], runs: int) -> Dict[str, float]:
    """Median and p90 wall time of `runs` calls, after a short warmup."""
    for _ in range(min(_WARMUP_RUNS, runs)):
        call()
    timings = []
    for _ in range(runs):
        start = time.perf_counter()
        call()
        timings.append((time.perf_counter() - start) * 1000.0)
    return {
        "latency_ms_p50": statistics.median(timings),
        "latency_ms_p90": float(np.percentile(timings, 90)),
    }


def directory_size_bytes(path: str) -> int:
    """Total bytes of every file under `path` (the SavedModel's on-disk size)."""
    total = 0
    for dir_name, _, files in fileio.walk(path):
        for file_name in files:
            total += fileio.stat(os.path.join(dir_name, file_name)).length
    return total
