"""`create_pipeline`: the one DAG every runner (local Beam, Kubeflow) uses.

CsvExampleGen -> StatisticsGen -> ImportSchemaGen|SchemaGen -> ExampleValidator
-> AnomalyGate -> Transform -> Trainer -> baseline Resolver -> Evaluator
-> [blessed] Quantizer -> Pusher.
"""
import tensorflow_model_analysis as tfma

from components.anomaly_gate import AnomalyGate
from components.baseline_resolver import LatestBlessedBaselineStrategy
from components.pusher import AtomicPusher
from components.quantizer import Quantizer
from components.trainer import OptimizingTrainer
from modules import features
from modules.model import PROBABILITY_OUTPUT
from pipeline import dsl
from pipeline.configs import PipelineConfig, code_version

PREPROCESSING_FN = "modules.preprocessing.preprocessing_fn"
RUN_FN = "modules.trainer.run_fn"


def make_eval_config(config: PipelineConfig) -> tfma.EvalConfig:
    """AUC/accuracy floors plus 'no worse than the latest blessed model'.

    Gates apply to the overall slice only (`per_slice_thresholds`; a plain
    `threshold` would gate every slice, and cash rides have almost no big
    tippers, so their AUC is noise). Per-slice metrics are reported, not gated.
    """
    overall = [tfma.SlicingSpec()]
    auc_threshold = tfma.MetricThreshold(
        value_threshold=tfma.GenericValueThreshold(
            lower_bound={"value": config.min_auc}),
        # Skipped automatically on the first run (no baseline yet).
        change_threshold=tfma.GenericChangeThreshold(
            direction=tfma.MetricDirection.HIGHER_IS_BETTER,
            absolute={"value": -config.max_auc_regression}))
    accuracy_threshold = tfma.MetricThreshold(
        value_threshold=tfma.GenericValueThreshold(
            lower_bound={"value": config.min_accuracy}))
    return tfma.EvalConfig(
        model_specs=[tfma.ModelSpec(
            signature_name="serving_tf_example",
            preprocessing_function_names=["transform_features"],
            label_key=features.LABEL_KEY,
            prediction_key=PROBABILITY_OUTPUT)],
        slicing_specs=[tfma.SlicingSpec()] + [
            tfma.SlicingSpec(feature_keys=[key])
            for key in features.SLICE_FEATURES],
        metrics_specs=[tfma.MetricsSpec(metrics=[
            tfma.MetricConfig(class_name="ExampleCount"),
            tfma.MetricConfig(
                class_name="AUC",
                per_slice_thresholds=[tfma.PerSliceMetricThreshold(
                    slicing_specs=overall, threshold=auc_threshold)]),
            tfma.MetricConfig(
                class_name="BinaryAccuracy",
                per_slice_thresholds=[tfma.PerSliceMetricThreshold(
                    slicing_specs=overall, threshold=accuracy_threshold)]),
            tfma.MetricConfig(class_name="Calibration"),
            tfma.MetricConfig(class_name="CalibrationPlot"),
            tfma.MetricConfig(class_name="MeanLabel"),
            tfma.MetricConfig(class_name="MeanPrediction"),
            tfma.MetricConfig(class_name="Precision"),
            tfma.MetricConfig(class_name="Recall"),
        ])])


def create_pipeline(config: PipelineConfig) -> dsl.Pipeline:
    """Builds the pipeline; runners only choose where it runs."""
    example_gen = dsl.CsvExampleGen(
        input_base=config.data_root,
        # Newest `span-N` folder by default: a new day of data is a new span.
        input_config=dsl.example_gen_pb2.Input(splits=[
            dsl.example_gen_pb2.Input.Split(name="single_split", pattern="span-{SPAN}/*")]),
        output_config=dsl.example_gen_pb2.Output(split_config=dsl.example_gen_pb2.SplitConfig(
            splits=[dsl.example_gen_pb2.SplitConfig.Split(name="train", hash_buckets=4),
                    dsl.example_gen_pb2.SplitConfig.Split(name="eval", hash_buckets=1)])))
    statistics_gen = dsl.StatisticsGen(
        examples=example_gen.outputs["examples"])
    if config.schema_path:
        schema_gen = dsl.ImportSchemaGen(
            schema_file=config.schema_path)
    else:
        schema_gen = dsl.SchemaGen(
            statistics=statistics_gen.outputs["statistics"],
            infer_feature_shape=False)
    example_validator = dsl.ExampleValidator(
        statistics=statistics_gen.outputs["statistics"],
        schema=schema_gen.outputs["schema"])
    anomaly_gate = AnomalyGate(
        anomalies=example_validator.outputs["anomalies"])

    version = code_version()
    transform = dsl.Transform(
        examples=example_gen.outputs["examples"],
        schema=schema_gen.outputs["schema"],
        preprocessing_fn=PREPROCESSING_FN,
        custom_config={"code_version": version},
        # StatisticsGen already profiled the data; skip Transform's own pass.
        disable_statistics=True)
    transform.add_upstream_node(anomaly_gate)  # no training on bad data

    # Distillation from the serving model: the latest blessed model is the teacher.
    teacher = None
    if config.trainer_options.get("options", {}).get("teacher") == "base_model":
        teacher = dsl.Resolver(
            strategy_class=dsl.LatestBlessedModelStrategy,
            model=dsl.Channel(type=dsl.standard_artifacts.Model),
            model_blessing=dsl.Channel(
                type=dsl.standard_artifacts.ModelBlessing),
        ).with_id("teacher_model_resolver")

    trainer = OptimizingTrainer(
        run_fn=RUN_FN,
        base_model=teacher.outputs["model"] if teacher else None,
        examples=transform.outputs["transformed_examples"],
        transform_graph=transform.outputs["transform_graph"],
        schema=schema_gen.outputs["schema"],
        train_args=dsl.trainer_pb2.TrainArgs(num_steps=config.train_steps),
        eval_args=dsl.trainer_pb2.EvalArgs(num_steps=config.eval_steps),
        custom_config={**config.trainer_options, "code_version": version},
    ).with_id("Trainer")

    baseline = dsl.Resolver(
        strategy_class=LatestBlessedBaselineStrategy,
        candidate=trainer.outputs["model"],
        model=dsl.Channel(type=dsl.standard_artifacts.Model),
        model_blessing=dsl.Channel(
            type=dsl.standard_artifacts.ModelBlessing),
    ).with_id("latest_blessed_model_resolver")

    evaluator = dsl.Evaluator(
        examples=example_gen.outputs["examples"],
        model=trainer.outputs["model"],
        baseline_model=baseline.outputs["model"],
        eval_config=make_eval_config(config))

    with dsl.Cond(evaluator.outputs["blessing"].future()[0]
                      .custom_property("blessed") == 1):
        quantizer = Quantizer(
            model=trainer.outputs["model"],
            examples=transform.outputs["transformed_examples"],
            label_key=features.LABEL_KEY,
            max_auc_drop=config.quantization_max_auc_drop,
            # 1000 real rows cover the feature tails; 200 clipped outliers.
            calibration_examples=1000)
        # The Cond above is the blessing gate, so no model_blessing input.
        pusher = AtomicPusher(
            model=quantizer.outputs["quantized_model"],
            push_destination=dsl.pusher_pb2.PushDestination(
                filesystem=dsl.pusher_pb2.PushDestination.Filesystem(
                    base_directory=f"{config.serving_dir}/{config.model_name}")),
        ).with_id("Pusher")

    return dsl.Pipeline(
        pipeline_name=config.pipeline_name,
        pipeline_root=config.pipeline_root,
        components=[example_gen, statistics_gen, schema_gen, example_validator,
                    anomaly_gate, transform, *([teacher] if teacher else []),
                    trainer, baseline, evaluator, quantizer, pusher],
        enable_cache=config.enable_cache,
        metadata_connection_config=(
            dsl.sqlite_metadata_connection_config(
                config.metadata_path)),
        beam_pipeline_args=config.beam_pipeline_args)
