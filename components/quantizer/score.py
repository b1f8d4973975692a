"""Load transformed examples, run the SavedModel and TFLite variants, time them.

Both models return their one output as [N, width] (width 1, or K classes);
metrics.py turns it into the task's scores.

Timing: batch-1 latency (median, p90) and batch-256 throughput (rows per
second), both in one interpreter thread.

Everything runs eagerly on concrete functions or the TFLite interpreter; no
tf.function is traced here, so scoring costs no autograph time.
"""
import os
import statistics
import time
from typing import Callable, Dict, List, NamedTuple

import numpy as np
import tensorflow as tf
from tfx.dsl.io import fileio

from components.quantizer import tasks

Features = Dict[str, np.ndarray]
_BATCH_SIZE = 1024
_WARMUP_RUNS = 10
# Batch-1 latency is mostly per-call overhead for a small model; a batch this
# size is where int8 kernels can pay off (offline scoring, batched serving).
THROUGHPUT_BATCH_ROWS = 256


class ExampleSet(NamedTuple):
    """Dense model inputs keyed by signature input name, plus the labels."""

    features: Features
    labels: np.ndarray


class SavedModelSignature:
    """The float reference; keeps the loaded SavedModel alive while in use."""

    def __init__(self, saved_model_dir: str, signature_key: str, task: tasks.Task):
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
                f"Signature {signature_key!r} must return one output, "
                f"{tasks.expected_output(task)}; got {sorted(outputs)}."
            )
        ((self._output_name, spec),) = outputs.items()
        self.output_width = tasks.output_width(
            task, spec.shape.as_list(), signature_key, self._output_name)

    def predict(self, features: Features) -> np.ndarray:
        """The output, shape [N, output_width], in batches."""
        count = len(next(iter(features.values())))
        chunks = []
        for start in range(0, count, _BATCH_SIZE):
            batch = {name: tf.constant(values[start:start + _BATCH_SIZE])
                     for name, values in features.items()}
            chunks.append(self._fn(**batch)[self._output_name].numpy())
        return np.concatenate(chunks).reshape(count, -1)

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
        """The output, shape [N, width]; the runner resizes per batch."""
        inputs = self._model_inputs(features)
        count = len(next(iter(inputs.values())))
        chunks = []
        for start in range(0, count, _BATCH_SIZE):
            batch = {name: values[start:start + _BATCH_SIZE] for name, values in inputs.items()}
            raw = self._runner(**batch)[self._output_name]
            chunks.append(_dequantize(raw, self._output_detail))
        return np.concatenate(chunks).reshape(count, -1)

    def bound_call(self, features: Features) -> Callable[[], None]:
        """A zero-argument call on `features` (quantized once, here) for timing.

        Any batch size: the runner resizes its inputs on the first call.
        """
        inputs = self._model_inputs(features)
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
                  label_key: str, task: tasks.Task, limit: int) -> ExampleSet:
    """Read up to `limit` gzipped tf.Examples; the parse spec comes from the
    signature, the label's type from the task."""
    files = sorted(fileio.glob(os.path.join(split_uri, "*.gz")))
    if not files:
        raise ValueError(f"No *.gz TFRecord files under {split_uri}.")
    parse_spec = {label_key: tf.io.FixedLenFeature([], tf.as_dtype(task.label_dtype))}
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
    return first_rows(examples, 1)


def first_rows(examples: ExampleSet, rows: int) -> Features:
    """The first `rows` examples (all of them if the split is smaller)."""
    return {name: values[:rows] for name, values in examples.features.items()}


def _timings_ms(call: Callable[[], None], runs: int) -> List[float]:
    """Wall time of each of `runs` calls, after a short warmup."""
    for _ in range(min(_WARMUP_RUNS, runs)):
        call()
    timings = []
    for _ in range(runs):
        start = time.perf_counter()
        call()
        timings.append((time.perf_counter() - start) * 1000.0)
    return timings


def latency_ms(call: Callable[[], None], runs: int) -> Dict[str, float]:
    """Median and p90 wall time of `runs` calls, after a short warmup."""
    timings = _timings_ms(call, runs)
    return {
        "latency_ms_p50": statistics.median(timings),
        "latency_ms_p90": float(np.percentile(timings, 90)),
    }


def throughput(call: Callable[[], None], batch_rows: int, runs: int) -> Dict[str, float]:
    """Rows per second of a `batch_rows`-row call, from its median time.

    The median, like batch-1 latency, so one preempted call on a busy
    machine does not move the figure.
    """
    batch_ms = statistics.median(_timings_ms(call, runs))
    return {
        "throughput_batch_rows": int(batch_rows),
        "throughput_batch_ms_p50": batch_ms,
        "throughput_rows_per_s": batch_rows * 1000.0 / batch_ms,
    }


def directory_size_bytes(path: str) -> int:
    """Total bytes of every file under `path` (the SavedModel's on-disk size)."""
    total = 0
    for dir_name, _, files in fileio.walk(path):
        for file_name in files:
            total += fileio.stat(os.path.join(dir_name, file_name)).length
    return total
