"""`create_pipeline`: the one DAG every runner (local Beam, Kubeflow) uses.

CsvExampleGen -> StatisticsGen -> ImportSchemaGen|SchemaGen -> ExampleValidator
-> AnomalyGate, ServedBefore -> DriftCheck -> [SpanWindow] -> Transform -> Trainer
-> ServedBaseline -> Evaluator -> [blessed] Quantizer -> Pusher.
"""
import hashlib
import json

from components.anomaly_gate import AnomalyGate
from components.csv_example_gen import CsvExampleGen
from components.drift_check import DriftCheck
from components.evaluator import Evaluator, gate_rules
from components.pusher import Pusher
from components.quantizer import Quantizer
from components.served_baseline import ServedBaseline
from components.span_window import SpanWindow, WindowTransform
from components.trainer import OptimizingTrainer
from components.trainer.executor import TRAIN_STEPS_KEY
from modules.model import output_name
from pipeline import dsl
from pipeline.cache_keys import code_digest, file_digest, stamp
from pipeline.configs import PipelineConfig
from pipeline.source_version import source_version

RUN_FN = "modules.trainer.run_fn"
INFERRED_SCHEMA_NOTE = "the schema SchemaGen inferred from this span"


def evaluation_gates(config: PipelineConfig):
    """The Evaluator's gates: the project's, or a Kubeflow runtime parameter."""
    return config.runtime_parameters.get(
        "gates", gate_rules.evaluation_gates(config.task, config.gates))


def quantization_budget(config: PipelineConfig):
    """The largest loss in the task's metric a TFLite variant may cost."""
    if "quantization_budget" in config.runtime_parameters:
        return config.runtime_parameters["quantization_budget"]
    key = ("quantization_max_rmse_increase" if config.task == "regression"
           else "quantization_max_auc_drop")
    return float(config.gates[key])


def create_pipeline(config: PipelineConfig) -> dsl.Pipeline:
    """Builds the pipeline; runners only choose where it runs."""
    example_gen = CsvExampleGen(
        input_base=config.data_root,
        # The dataset's null tokens (NA, null, ...) are blank cells.
        null_values=config.null_values or None,
        # Newest `span-N` folder by default: a new day of data is a new span.
        input_config=dsl.example_gen_pb2.Input(splits=[
            dsl.example_gen_pb2.Input.Split(name="single_split", pattern="span-{SPAN}/*")]),
        output_config=dsl.example_gen_pb2.Output(split_config=dsl.example_gen_pb2.SplitConfig(
            splits=[dsl.example_gen_pb2.SplitConfig.Split(name="train", hash_buckets=4),
                    dsl.example_gen_pb2.SplitConfig.Split(name="eval", hash_buckets=1)])))
    statistics_gen = dsl.StatisticsGen(
        examples=example_gen.outputs["examples"])
    if config.schema_path:
        # The schema is named by path; its content must be in the key too,
        # or an edited schema is served the old validation from cache.
        schema_gen = stamp(dsl.ImportSchemaGen(schema_file=config.schema_path),
                           schema_digest=file_digest(config.schema_path))
    else:
        schema_gen = dsl.SchemaGen(
            statistics=statistics_gen.outputs["statistics"],
            infer_feature_shape=False)
    example_validator = dsl.ExampleValidator(
        statistics=statistics_gen.outputs["statistics"],
        schema=schema_gen.outputs["schema"])
    anomaly_gate = _ours(AnomalyGate(
        anomalies=example_validator.outputs["anomalies"],
        schema_path=config.schema_path or INFERRED_SCHEMA_NOTE))

    model_base = config.model_base
    trainer_code = code_digest(
        OptimizingTrainer.EXECUTOR_SPEC.executor_class.__module__,
        RUN_FN.rpartition(".")[0], packages=("modules",))
    # What makes this Trainer's models: a teacher excludes versions it made
    # itself from the same data, the Pusher records it.
    trainer_config = config.trainer_config()
    # (A Kubeflow runtime parameter enters by name: default=str.)
    trained_with = hashlib.sha256(json.dumps(
        [trainer_config, config.train_steps, config.eval_steps,
         trainer_code], sort_keys=True, default=str).encode()).hexdigest()[:16]
    # What was served before this training first ran: the drift baseline and
    # the distillation teacher (a re-run after its own push keeps both).
    served_before = _ours(ServedBaseline(
        model_base=model_base, examples=example_gen.outputs["examples"],
        trained_with=trained_with).with_id("ServedBefore"))
    drift_check = _ours(DriftCheck(
        statistics=statistics_gen.outputs["statistics"],
        schema=schema_gen.outputs["schema"],
        baseline=served_before.outputs["model"], gate=config.drift_gate))

    # Train on the newest span, or on a window of the newest spans.
    span_window, transform_class = None, dsl.Transform
    training_examples = example_gen.outputs["examples"]
    if config.window > 1:
        span_window = _ours(SpanWindow(example_gen, window_size=config.window,
                                       span_store=config.span_store))
        transform_class = WindowTransform
        training_examples = span_window.outputs["window"]
    transform = stamp(transform_class(
        examples=training_examples,
        schema=schema_gen.outputs["schema"],
        preprocessing_fn=config.preprocessing_fn,
        custom_config={"feature_plan": config.feature_plan},
        # StatisticsGen already profiled the data; skip Transform's own pass.
        disable_statistics=True).with_id("Transform"),
        code_version=code_digest(
            config.preprocessing_fn.rpartition(".")[0],
            *([WindowTransform.EXECUTOR_SPEC.executor_class.__module__]
              if span_window else [])))
    transform.add_upstream_node(anomaly_gate)  # no training on bad data
    transform.add_upstream_node(drift_check)  # nor on drifted data, if gated

    # Distillation from the serving model (the teacher), or warm start: the
    # Trainer's base_model is what was served before it trained.
    base_model = None
    if (config.trainer_options.get("options", {}).get("teacher") == "base_model"
            or config.trainer_options.get("warm_start")):
        base_model = served_before

    steps = config.train_steps
    trainer = stamp(OptimizingTrainer(
        run_fn=RUN_FN,
        base_model=base_model.outputs["model"] if base_model else None,
        examples=transform.outputs["transformed_examples"],
        transform_graph=transform.outputs["transform_graph"],
        schema=schema_gen.outputs["schema"],
        train_args=dsl.trainer_pb2.TrainArgs(
            num_steps=steps if isinstance(steps, int) else None),
        eval_args=dsl.trainer_pb2.EvalArgs(num_steps=config.eval_steps),
        custom_config=trainer_config,
    ).with_id("Trainer"),
        # run_fn looks up recipes at run time: all of modules/ is its code.
        code_version=trainer_code)
    if not isinstance(steps, int):  # a Kubeflow runtime parameter
        stamp(trainer, **{TRAIN_STEPS_KEY: steps})

    # The regression gate compares with what is served, never with itself.
    baseline = _ours(ServedBaseline(
        model_base=model_base, candidate=trainer.outputs["model"],
    ).with_id("ServedBaseline"))

    evaluator = _ours(Evaluator(
        examples=example_gen.outputs["examples"],
        model=trainer.outputs["model"],
        baseline_model=baseline.outputs["model"],
        recipe=gate_rules.recipe(
            config.task, config.label_key, output_name(config.task),
            config.slice_features, len(config.classes)),
        gates=evaluation_gates(config)))

    with dsl.Cond(evaluator.outputs["blessing"].future()[0]
                      .custom_property("blessed") == 1):
        quantizer = _ours(Quantizer(
            model=trainer.outputs["model"],
            examples=transform.outputs["transformed_examples"],
            label_key=config.label_key,
            task=config.task,
            max_metric_loss=quantization_budget(config)))
        # The Cond is one gate; the Pusher checks the blessing itself too.
        pusher = _ours(Pusher(
            model=quantizer.outputs["quantized_model"],
            model_blessing=evaluator.outputs["blessing"],
            model_base=model_base,
            pipeline_name=config.pipeline_name,
            schema=schema_gen.outputs["schema"],
            statistics=statistics_gen.outputs["statistics"],
            examples=example_gen.outputs["examples"],
            training_examples=(span_window.outputs["window"] if span_window
                               else None),
            transform_graph=transform.outputs["transform_graph"],
            recipe={"trainer": trainer_config, "eval_steps": config.eval_steps,
                    **({"train_steps": steps} if isinstance(steps, int) else {})},
            source=source_version(),
            trained_with=trained_with).with_id("Pusher"))

    return dsl.Pipeline(
        pipeline_name=config.pipeline_name,
        pipeline_root=config.pipeline_root,
        components=[example_gen, statistics_gen, schema_gen, example_validator,
                    anomaly_gate, served_before, drift_check,
                    *([span_window] if span_window else []), transform,
                    trainer, baseline, evaluator, quantizer, pusher],
        enable_cache=config.enable_cache,
        # Kubeflow keeps its own ML Metadata; TFX's V2 runner ignores this.
        metadata_connection_config=(
            dsl.sqlite_metadata_connection_config(config.metadata_path)
            if config.local_metadata else None),
        beam_pipeline_args=config.beam_pipeline_args)


def _ours(node):
    """Our component, keyed on its own code (TFX keys only on its inputs)."""
    return stamp(node, code_version=code_digest(
        type(node).EXECUTOR_SPEC.executor_class.__module__))
