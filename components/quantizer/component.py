"""Quantizer: a TFX component that blesses the smallest TFLite variant within budget.

Modelled on tfx/components/pusher/: spec, executor class spec and a component
that validates its arguments at pipeline construction time. Only standard
artifact types and primitive parameters, so it compiles for Kubeflow.
"""
from typing import Optional, Union

from tfx import types
from tfx.dsl.components.base import base_component
from tfx.dsl.components.base import executor_spec
from tfx.orchestration import data_types
from tfx.types import standard_artifacts
from tfx.types.component_spec import ChannelParameter
from tfx.types.component_spec import ComponentSpec
from tfx.types.component_spec import ExecutionParameter

from components.quantizer import executor

_DEFAULTS = executor.DEFAULT_PARAMETERS


class QuantizerSpec(ComponentSpec):
    """Inputs: float model + transformed examples; output: model with TFLite."""

    PARAMETERS = {
        executor.TASK_KEY: ExecutionParameter(type=str),
        executor.SIGNATURE_KEY_KEY: ExecutionParameter(type=str),
        executor.LABEL_KEY_KEY: ExecutionParameter(type=str),
        executor.EVAL_SPLIT_KEY: ExecutionParameter(type=str),
        executor.CALIBRATION_SPLIT_KEY: ExecutionParameter(type=str),
        executor.VARIANTS_KEY: ExecutionParameter(type=str),
        executor.MAX_METRIC_LOSS_KEY: ExecutionParameter(type=float),
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

    Each variant is scored against the float SavedModel on the eval split with
    the task's metric (binary: AUC, multiclass: macro one-vs-rest AUC,
    regression: RMSE; see tasks.py), sized and timed. The smallest quantized
    variant whose loss in that metric (AUC drop, RMSE increase) is within
    `max_metric_loss` is blessed and written as `Format-Serving/model.tflite`
    next to a copy of the SavedModel; if none qualifies only the SavedModel
    ships. Every variant's numbers are in
    `Format-Serving/assets.extra/quantization_report.json`.

    Example:
        quantizer = Quantizer(
            model=trainer.outputs["model"],
            examples=transform.outputs["transformed_examples"],
            label_key="big_tipper",
        )
        pusher = Pusher(model=quantizer.outputs["quantized_model"], ...)
    """

    SPEC_CLASS = QuantizerSpec
    EXECUTOR_SPEC = executor_spec.ExecutorClassSpec(executor.Executor)

    def __init__(
        self,
        model: types.BaseChannel,
        examples: types.BaseChannel,
        label_key: str,
        task: str = _DEFAULTS[executor.TASK_KEY],
        max_metric_loss: Union[float, data_types.RuntimeParameter, None] = None,
        signature_key: str = _DEFAULTS[executor.SIGNATURE_KEY_KEY],
        eval_split: str = _DEFAULTS[executor.EVAL_SPLIT_KEY],
        calibration_split: str = _DEFAULTS[executor.CALIBRATION_SPLIT_KEY],
        variants: str = _DEFAULTS[executor.VARIANTS_KEY],
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
            label_key: Label feature in the transformed examples: int64 0/1
                (binary), int64 class index 0..K-1 (multiclass) or float32
                (regression).
            task: "binary", "multiclass" or "regression"; says what the
                signature outputs, how variants are scored and the budget's unit.
            max_metric_loss: Largest allowed loss in the task's metric: AUC
                drop (binary), macro AUC drop (multiclass) or RMSE increase in
                the label's units (regression). Default 0.01 for binary and
                multiclass; regression has none and must pass one. A float
                RuntimeParameter (Kubeflow) is checked when the executor runs.
            signature_key: Dense signature to convert: dict of float32 [None, d]
                inputs, one output: [None, 1] P(positive) (binary), [None, K]
                softmax (multiclass) or [None, 1] prediction (regression).
            eval_split: Split the variants are scored on.
            calibration_split: Split whose examples calibrate int8.
            variants: Comma list of quantized variants from dynamic_range,
                float16, int8; float32 is always built as the anchor.
            max_eval_examples: Cap on eval examples scored.
            calibration_examples: Examples in the int8 representative dataset.
            latency_runs: Timed batch-1 (and batch-256) invocations per model.
            quantized_model: Optional output channel; created if omitted.

        Raises:
            ValueError: On an unknown task or variant, an empty name or split,
                a negative or non-finite budget (or none for regression), or
                a count below 1.
        """
        at_run_time = isinstance(max_metric_loss, data_types.RuntimeParameter)
        if at_run_time and max_metric_loss.ptype is not float:
            raise TypeError("max_metric_loss as a runtime parameter must be a float")
        params = executor.parameters({
            executor.TASK_KEY: task,
            executor.SIGNATURE_KEY_KEY: signature_key,
            executor.LABEL_KEY_KEY: label_key,
            executor.EVAL_SPLIT_KEY: eval_split,
            executor.CALIBRATION_SPLIT_KEY: calibration_split,
            executor.VARIANTS_KEY: variants,
            # Any valid budget stands in for a runtime one while checking the rest.
            executor.MAX_METRIC_LOSS_KEY: 0.0 if at_run_time else max_metric_loss,
            executor.MAX_EVAL_EXAMPLES_KEY: max_eval_examples,
            executor.CALIBRATION_EXAMPLES_KEY: calibration_examples,
            executor.LATENCY_RUNS_KEY: latency_runs,
        })
        if at_run_time:
            params[executor.MAX_METRIC_LOSS_KEY] = max_metric_loss
        super().__init__(spec=QuantizerSpec(
            model=model,
            examples=examples,
            quantized_model=quantized_model or types.Channel(type=standard_artifacts.Model),
            **params,
        ))
