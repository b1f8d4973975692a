"""Quantizer: a TFX component that blesses the smallest TFLite variant within budget.

Modelled on tfx/components/pusher/: spec, executor class spec and a component
that validates its arguments at pipeline construction time. Only standard
artifact types and primitive parameters, so it compiles for Kubeflow.
"""
import math
from typing import Optional

from tfx import types
from tfx.dsl.components.base import base_component
from tfx.dsl.components.base import executor_spec
from tfx.types import standard_artifacts
from tfx.types.component_spec import ChannelParameter
from tfx.types.component_spec import ComponentSpec
from tfx.types.component_spec import ExecutionParameter

from components.quantizer import convert
from components.quantizer import executor

_DEFAULTS = executor.DEFAULT_PARAMETERS


class QuantizerSpec(ComponentSpec):
    """Inputs: float model + transformed examples; output: model with TFLite."""

    PARAMETERS = {
        executor.SIGNATURE_KEY_KEY: ExecutionParameter(type=str),
        executor.LABEL_KEY_KEY: ExecutionParameter(type=str),
        executor.EVAL_SPLIT_KEY: ExecutionParameter(type=str),
        executor.CALIBRATION_SPLIT_KEY: ExecutionParameter(type=str),
        executor.VARIANTS_KEY: ExecutionParameter(type=str),
        executor.MAX_AUC_DROP_KEY: ExecutionParameter(type=float),
        executor.MAX_EVAL_EXAMPLES_KEY: ExecutionParameter(type=int),
        executor.CALIBRATION_EXAMPLES_KEY: ExecutionParameter(type=int),
        executor.LATENCY_RUNS_KEY: ExecutionParameter(type=int),
    }
    INPUTS = {
        executor.MODEL_KEY: ChannelParameter(type=standard_artifacts.Model),
        executor.EXAMPLES_KEY: ChannelParameter(type=standard_artifacts.Examples),
    }
    OUTPUTS = {
        executor.QUANTIZED_MODEL_KEY: ChannelParameter(type=standard_artifacts.Model),
    }


class Quantizer(base_component.BaseComponent):
    """Builds float32/dynamic-range/float16/int8 TFLite variants of a model.

    Each variant is scored against the float SavedModel on the eval split (AUC,
    accuracy, max probability difference), sized and timed at batch 1. The
    smallest quantized variant whose AUC drop is within `max_auc_drop` is
    blessed and written as `Format-Serving/model.tflite` next to a copy of the
    SavedModel; if none qualifies only the SavedModel ships. Every variant's
    numbers are in `Format-Serving/quantization_report.json`.

    Example:
        quantizer = Quantizer(
            model=trainer.outputs["model"],
            examples=transform.outputs["transformed_examples"],
        )
        pusher = Pusher(model=quantizer.outputs["quantized_model"], ...)
    """

    SPEC_CLASS = QuantizerSpec
    EXECUTOR_SPEC = executor_spec.ExecutorClassSpec(executor.Executor)

    def __init__(
        self,
        model: types.BaseChannel,
        examples: types.BaseChannel,
        signature_key: str = _DEFAULTS[executor.SIGNATURE_KEY_KEY],
        label_key: str = _DEFAULTS[executor.LABEL_KEY_KEY],
        eval_split: str = _DEFAULTS[executor.EVAL_SPLIT_KEY],
        calibration_split: str = _DEFAULTS[executor.CALIBRATION_SPLIT_KEY],
        variants: str = _DEFAULTS[executor.VARIANTS_KEY],
        max_auc_drop: float = _DEFAULTS[executor.MAX_AUC_DROP_KEY],
        max_eval_examples: int = _DEFAULTS[executor.MAX_EVAL_EXAMPLES_KEY],
        calibration_examples: int = _DEFAULTS[executor.CALIBRATION_EXAMPLES_KEY],
        latency_runs: int = _DEFAULTS[executor.LATENCY_RUNS_KEY],
        quantized_model: Optional[types.BaseChannel] = None,
    ):
        """Construct a Quantizer.

        Args:
            model: Channel of `Model` (Trainer output); the SavedModel is read
                from `<uri>/Format-Serving`.
            examples: Channel of `Examples` from Transform
                (`transformed_examples`), with the eval and calibration splits.
            signature_key: Dense signature to convert: dict of float32 [None, d]
                inputs, one [None, 1] positive-class probability output.
            label_key: int64 0/1 label feature in the transformed examples.
            eval_split: Split the variants are scored on.
            calibration_split: Split whose examples calibrate int8.
            variants: Comma list of quantized variants from dynamic_range,
                float16, int8; float32 is always built as the anchor.
            max_auc_drop: Largest allowed reference AUC minus variant AUC.
            max_eval_examples: Cap on eval examples scored.
            calibration_examples: Examples in the int8 representative dataset.
            latency_runs: Timed batch-1 invocations per model.
            quantized_model: Optional output channel; created if omitted.

        Raises:
            ValueError: On an unknown variant, an empty name or split, a
                non-finite budget or a count below 1.
        """
        convert.parse_variant_names(variants)
        for name, value in (("signature_key", signature_key), ("label_key", label_key),
                            ("eval_split", eval_split),
                            ("calibration_split", calibration_split)):
            if not value:
                raise ValueError(f"{name} must be a non-empty string.")
        if not math.isfinite(max_auc_drop):
            raise ValueError(f"max_auc_drop must be finite, got {max_auc_drop}.")
        for name, value in (("max_eval_examples", max_eval_examples),
                            ("calibration_examples", calibration_examples),
                            ("latency_runs", latency_runs)):
            if value < 1:
                raise ValueError(f"{name} must be >= 1, got {value}.")
        spec = QuantizerSpec(
            model=model,
            examples=examples,
            signature_key=signature_key,
            label_key=label_key,
            eval_split=eval_split,
            calibration_split=calibration_split,
            variants=variants,
            max_auc_drop=float(max_auc_drop),
            max_eval_examples=int(max_eval_examples),
            calibration_examples=int(calibration_examples),
            latency_runs=int(latency_runs),
            quantized_model=quantized_model or types.Channel(type=standard_artifacts.Model),
        )
        super().__init__(spec=spec)
