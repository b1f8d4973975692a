"""The serving core shared by REST and gRPC: resolve the version, check the
request, run the model (batched or not), observe what it predicted.

Both front ends convert their wire format to numpy and back; everything in
between (validation, limits, batching, metrics, drift) happens here once.
"""
import asyncio
import dataclasses
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Optional

import numpy as np
from tensorflow.core.framework import types_pb2

from serving import examples as examples_lib
from serving import signatures as sig
from serving.status import (Code, ServingError, from_exception,
                            invalid_argument)
from serving.validation import limit_error

CONFIDENCE_OUTPUTS = ("probabilities", "probability", "scores", "score")
EXAMPLE_INPUTS = ("examples", "inputs")


@dataclasses.dataclass(frozen=True)
class Limits:
    max_request_bytes: int = 64 << 20
    max_request_rows: int = 10000


class ServingCore:
    def __init__(self, manager, metrics, scheduler=None, limits=Limits(),
                 executor_threads: int = 8, rollouts=None, online=None):
        self.manager = manager
        self.metrics = metrics
        self.scheduler = scheduler
        self.limits = limits
        self.rollouts = rollouts
        self.online = online           # serving.online.Online: feedback, log
        self._executor = ThreadPoolExecutor(executor_threads,
                                            thread_name_prefix="model")

    # --- bookkeeping -------------------------------------------------------
    def record(self, model_name: str, api: str, entrypoint: str,
               error: Optional[ServingError], started: float,
               servable=None, attempt_started: Optional[float] = None) -> None:
        """One client request. `servable`: the version that answered (its
        attempt began at `attempt_started`, later than `started` after a
        canary fallback)."""
        status = "OK" if error is None else error.code.name
        latency_us = (time.perf_counter() - started) * 1e6
        self.metrics.request_count.inc((model_name, status))
        if servable is not None:
            self.record_attempt(servable, error, attempt_started or started)
        if error is None:
            self.metrics.request_latency.observe(
                (model_name, api, entrypoint), latency_us)
        elif error.rule:
            self.metrics.validation_errors.inc(
                (model_name, error.feature or "", error.rule))
        if error is not None and error.code == Code.UNAVAILABLE and \
                self.scheduler is not None:
            self.metrics.queue_rejections.inc((model_name,))

    def record_attempt(self, servable, error: Optional[ServingError],
                       started: float) -> None:
        """One version's attempt at a request: per-version metrics and the
        rollout's window (a failed canary attempt retried on stable is
        recorded here only, so request_count still counts clients)."""
        latency_us = (time.perf_counter() - started) * 1e6
        status = "OK" if error is None else error.code.name
        labels = (servable.model_name, str(servable.version))
        self.metrics.version_request_count.inc((*labels, status))
        if error is None:
            self.metrics.version_request_latency.observe(labels, latency_us)
        if self.rollouts is not None:
            self.rollouts.observe_request(
                servable, latency_us / 1e3, error is not None and (
                    error.model_error or error.code == Code.DEADLINE_EXCEEDED))

    # --- running -------------------------------------------------------------
    def _runner(self, servable, key: str, outputs: tuple, api: str):
        runtime, metrics = servable.runtime, self.metrics
        labels = (servable.model_name, api, runtime.name)

        def run(inputs):
            started = time.perf_counter()
            try:
                result = runtime.run(key, inputs, outputs)
            except Exception as e:
                error = from_exception(e)
                error.model_error = True
                raise error from None
            metrics.runtime_latency.observe(labels,
                                            (time.perf_counter() - started) * 1e6)
            return result
        return run

    async def _execute(self, servable, key: str, inputs: dict, outputs: tuple,
                       api: str) -> dict:
        run = self._runner(servable, key, outputs, api)
        rows = _common_batch(inputs)
        loop = asyncio.get_running_loop()
        if self.scheduler is None or rows is None:
            try:
                return await loop.run_in_executor(self._executor, run, inputs)
            except ServingError:
                raise
            except Exception as e:  # TF's errors become the client's error
                raise from_exception(e) from None
        queue_key = (id(servable), key, outputs, tuple(
            (alias, array.shape[1:], array.dtype.str)
            for alias, array in sorted(inputs.items())))
        future = loop.create_future()
        self.scheduler.submit(queue_key, run, inputs, rows, future)
        return await future

    def _observe(self, servable, outputs: dict, observed: dict) -> None:
        if servable.drift is not None and observed:
            servable.drift.observe(observed)
        for alias in CONFIDENCE_OUTPUTS:
            array = outputs.get(alias)
            if array is None or array.dtype.kind != "f" or array.ndim == 0 \
                    or array.size == 0:
                continue
            width = array.size // array.shape[0]
            values = array.reshape(-1).tolist()
            if not (0.0 <= min(values) and max(values) <= 1.0):
                continue
            labels = (servable.model_name, str(servable.version))
            if width == 1:
                self.metrics.score.observe_many(labels, values)
                confidence = [v if v >= 0.5 else 1.0 - v for v in values]
            else:
                confidence = [max(values[i:i + width])
                              for i in range(0, len(values), width)]
            self.metrics.confidence.observe_many(labels, confidence)
            if self.rollouts is not None:
                self.rollouts.observe_confidence(servable, confidence)
            return

    def _count_examples(self, servable, rows: int) -> None:
        self.metrics.example_counts.observe((servable.model_name,), rows)
        self.metrics.example_count_total.inc((servable.model_name,), rows)

    # --- validation ------------------------------------------------------------
    def _check_inputs(self, servable, signature, inputs: dict) -> dict:
        for alias, array in inputs.items():
            spec = signature.inputs[alias]
            if not spec.accepts_shape(array.shape):
                raise invalid_argument(
                    f"input {alias}: shape {list(array.shape)} does not match "
                    f"the signature's {spec.shape_text()} (-1 = any size)",
                    feature=alias, rule="shape")
            if array.ndim and array.shape[0] > self.limits.max_request_rows:
                raise limit_error("batch_size", f"{array.shape[0]} rows; this "
                                  f"server takes at most "
                                  f"{self.limits.max_request_rows} "
                                  "(--max_request_rows)")
        validator = servable.validator
        if validator is None:
            return {}
        observed = validator.check_dense(inputs)
        for alias in EXAMPLE_INPUTS:
            spec = signature.inputs.get(alias)
            if (spec is not None and spec.dtype == types_pb2.DT_STRING
                    and alias not in validator.rules and len(signature.inputs) == 1):
                dicts = examples_lib.parse_serialized(inputs[alias])
                observed.update(validator.check_examples(dicts))
        return observed

    # --- the APIs ----------------------------------------------------------------
    async def predict(self, servable, signature_key: str, inputs: dict,
                      output_filter=(), *, rest: bool, api: str,
                      request_id: Optional[str] = None) -> tuple:
        signature = sig.find_signature(servable.signatures, signature_key, rest)
        check_input_names(signature, inputs)
        outputs = _output_aliases(signature, output_filter)
        observed = self._check_inputs(servable, signature, inputs)
        result = await self._execute(servable, signature.key, inputs, outputs,
                                     api)
        self._observe(servable, result, observed)
        if self.online is not None:
            self.online.observe(servable, request_id, result, inputs=inputs)
        return signature.key, result

    async def _run_examples(self, servable, signature, feature_dicts,
                            serialized, api: str,
                            request_id: Optional[str] = None) -> dict:
        if len(serialized) > self.limits.max_request_rows:
            raise limit_error("batch_size", f"{len(serialized)} examples; this "
                              f"server takes at most "
                              f"{self.limits.max_request_rows} "
                              "(--max_request_rows)")
        observed = (servable.validator.check_examples(feature_dicts)
                    if servable.validator is not None else {})
        inputs = {sig.CLASSIFY_INPUTS: examples_lib.string_tensor(serialized)}
        result = await self._execute(servable, signature.key, inputs,
                                     tuple(sorted(signature.outputs)), api)
        self._observe(servable, result, observed)
        if self.online is not None:
            self.online.observe(servable, request_id, result,
                                dicts=feature_dicts)
        self._count_examples(servable, len(serialized))
        return result

    async def classify(self, servable, signature_key: str, feature_dicts,
                       serialized, *, rest: bool, api: str = "Classify",
                       request_id: Optional[str] = None):
        """-> (signature key, [[(label, score), ...] per example])."""
        signature = sig.find_signature(servable.signatures, signature_key, rest)
        sig.check_classify_signature(signature)
        result = await self._run_examples(servable, signature, feature_dicts,
                                          serialized, api, request_id)
        return signature.key, classifications(result, len(serialized))

    async def regress(self, servable, signature_key: str, feature_dicts,
                      serialized, *, rest: bool, api: str = "Regress"):
        """-> (signature key, [value per example])."""
        signature = sig.find_signature(servable.signatures, signature_key, rest)
        sig.check_regress_signature(signature)
        result = await self._run_examples(servable, signature, feature_dicts,
                                          serialized, api)
        values = result[sig.REGRESS_OUTPUTS]
        if values.ndim == 2 and values.shape[1] == 1:
            values = values[:, 0]
        if values.ndim != 1 or values.shape[0] != len(serialized):
            raise invalid_argument(f"Expected output Tensor shape to be either "
                                   f"[batch_size] or [batch_size, 1] but got "
                                   f"{list(result[sig.REGRESS_OUTPUTS].shape)}")
        return signature.key, values.astype(np.float32).tolist()

    def close(self) -> None:
        if self.scheduler is not None:
            self.scheduler.stop()
        self._executor.shutdown(wait=False, cancel_futures=True)


def classifications(result: dict, batch: int) -> list:
    classes = result.get(sig.CLASSIFY_CLASSES)
    scores = result.get(sig.CLASSIFY_SCORES)
    for name, array in ((sig.CLASSIFY_CLASSES, classes),
                        (sig.CLASSIFY_SCORES, scores)):
        if array is not None and (array.ndim != 2 or array.shape[0] != batch):
            raise invalid_argument(f"Expected Tensor shape: [batch_size "
                                   f"num_classes] but got {list(array.shape)} "
                                   f"for {name}")
    if classes is not None and scores is not None and \
            classes.shape[1] != scores.shape[1]:
        raise invalid_argument(f"Tensors class and score should match in "
                               f"dim_size(1). Got {classes.shape[1]} vs. "
                               f"{scores.shape[1]}")
    width = (classes if classes is not None else scores).shape[1]
    rows = []
    for i in range(batch):
        rows.append([(classes[i, j].decode("utf-8", "replace")
                      if classes is not None else "",
                      float(scores[i, j]) if scores is not None else 0.0)
                     for j in range(width)])
    return rows


def _common_batch(inputs: dict) -> Optional[int]:
    sizes = {array.shape[0] if array.ndim else None for array in inputs.values()}
    if len(sizes) != 1:
        return None
    (size,) = sizes
    return size if size else None


def check_input_names(signature, inputs: dict) -> None:
    """`VerifyRequestInputsSize`, in TF Serving's words."""
    if set(inputs) == set(signature.inputs):
        return
    sent, wanted = sorted(inputs), sorted(signature.inputs)
    extra = sorted(set(sent) - set(wanted))
    missing = sorted(set(wanted) - set(sent))
    raise invalid_argument(
        f"input size does not match signature: {len(sent)}!={len(wanted)} "
        f"len({{{','.join(sent)}}}) != len({{{','.join(wanted)}}}). Sent extra: "
        f"{{{','.join(extra)}}}. Missing but required: {{{','.join(missing)}}}.",
        feature=(missing or extra)[0], rule="required" if missing else "unknown_input")


def _output_aliases(signature, output_filter) -> tuple:
    if not output_filter:
        return tuple(sorted(signature.outputs))
    seen = []
    for alias in output_filter:
        if alias not in signature.outputs:
            raise invalid_argument(
                f"output tensor alias not found in signature: {alias} Outputs "
                f"expected to be in the set {{{','.join(sorted(signature.outputs))}}}.")
        if alias in seen:
            raise invalid_argument(f"duplicate output tensor alias: {alias}")
        seen.append(alias)
    return tuple(seen)
