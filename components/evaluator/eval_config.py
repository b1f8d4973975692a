"""The Evaluator's metrics and gates, built from JSON-able facts.

A pure function of the evaluation recipe (task, label, prediction key,
slices, class count) and the gate values, so the gates can be a Kubeflow
runtime parameter (one JSON string): the executor then builds at run time
exactly the EvalConfig a local run compiles in.
"""
import tensorflow_model_analysis as tfma


def _gated(class_name: str, threshold: tfma.MetricThreshold, **kwargs):
    """A metric gated on the overall slice only (`per_slice_thresholds`).

    A plain `threshold` would gate every slice, and small slices' metrics
    are noise (taxi: cash rides have almost no big tippers). Per-slice
    metrics are reported, not gated.
    """
    return tfma.MetricConfig(
        class_name=class_name, per_slice_thresholds=[
            tfma.PerSliceMetricThreshold(slicing_specs=[tfma.SlicingSpec()],
                                         threshold=threshold)], **kwargs)


def _floor_and_change(floor: float, max_drop: float) -> tfma.MetricThreshold:
    return tfma.MetricThreshold(
        value_threshold=tfma.GenericValueThreshold(
            lower_bound={"value": floor}),
        # Skipped automatically on the first model (nothing served yet).
        change_threshold=tfma.GenericChangeThreshold(
            direction=tfma.MetricDirection.HIGHER_IS_BETTER,
            absolute={"value": -max_drop}))


def _floor(floor: float) -> tfma.MetricThreshold:
    return tfma.MetricThreshold(value_threshold=tfma.GenericValueThreshold(
        lower_bound={"value": floor}))


def _metrics(task: str, num_classes: int, gates: dict) -> list:
    if task == "binary":
        return [tfma.MetricsSpec(metrics=[
            tfma.MetricConfig(class_name="ExampleCount"),
            _gated("AUC", _floor_and_change(gates["min_auc"],
                                            gates["max_auc_regression"])),
            _gated("BinaryAccuracy", _floor(gates["min_accuracy"])),
            tfma.MetricConfig(class_name="Calibration"),
            tfma.MetricConfig(class_name="CalibrationPlot"),
            tfma.MetricConfig(class_name="MeanLabel"),
            tfma.MetricConfig(class_name="MeanPrediction"),
            tfma.MetricConfig(class_name="Precision"),
            tfma.MetricConfig(class_name="Recall"),
        ])]
    if task == "multiclass":
        classes = list(range(num_classes))
        return [
            tfma.MetricsSpec(metrics=[
                tfma.MetricConfig(class_name="ExampleCount"),
                _gated("SparseCategoricalAccuracy",
                       _floor(gates["min_accuracy"])),
                tfma.MetricConfig(class_name="MultiClassConfusionMatrixPlot"),
            ]),
            # One-vs-rest AUC per class, and their macro average (gated).
            tfma.MetricsSpec(
                metrics=[_gated("AUC", _floor_and_change(
                    gates["min_auc"], gates["max_auc_regression"]))],
                binarize=tfma.BinarizationOptions(class_ids={"values": classes}),
                # TFMA needs the weights to average over all classes.
                aggregate=tfma.AggregationOptions(
                    macro_average=True,
                    class_weights={i: 1.0 for i in classes})),
        ]
    rmse = tfma.MetricThreshold(change_threshold=tfma.GenericChangeThreshold(
        direction=tfma.MetricDirection.LOWER_IS_BETTER,
        absolute={"value": gates["max_rmse_increase"]}))
    if gates.get("max_rmse") is not None:
        rmse.value_threshold.CopyFrom(tfma.GenericValueThreshold(
            upper_bound={"value": gates["max_rmse"]}))
    return [tfma.MetricsSpec(metrics=[
        tfma.MetricConfig(class_name="ExampleCount"),
        _gated("RootMeanSquaredError", rmse),
        tfma.MetricConfig(class_name="MeanAbsoluteError"),
        tfma.MetricConfig(class_name="MeanLabel"),
        tfma.MetricConfig(class_name="MeanPrediction"),
    ])]


def make_eval_config(eval_recipe: dict, gates: dict) -> tfma.EvalConfig:
    """The task's metrics and gates: floors plus "no worse than what is served"."""
    return tfma.EvalConfig(
        model_specs=[tfma.ModelSpec(
            signature_name=eval_recipe["signature_name"],
            preprocessing_function_names=eval_recipe[
                "preprocessing_function_names"],
            label_key=eval_recipe["label_key"],
            prediction_key=eval_recipe["prediction_key"])],
        slicing_specs=[tfma.SlicingSpec()] + [
            tfma.SlicingSpec(feature_keys=[key])
            for key in eval_recipe["slice_features"]],
        metrics_specs=_metrics(eval_recipe["task"],
                               eval_recipe["num_classes"], gates))
