"""Distillation recipe: a small student MLP learns from a bigger teacher.

Why: the student is a few percent of the teacher's size (cheaper to serve
and to quantize) but keeps most of its quality, because the teacher's
softened outputs carry more signal per example than the label alone. Works
for every task (see `soft_loss`).

The teacher is either trained here (a wider MLP) or, with
`options["teacher"] == "base_model"`, the model the Trainer receives as
`base_model` (the model being served, from ServedBaseline), called through its
`predict_transformed` signature. Only the plain student model is returned.
"""
import dataclasses
import os
from typing import Callable, Mapping

from absl import logging
import numpy as np
from sklearn.metrics import roc_auc_score
import tensorflow as tf
import tensorflow_transform as tft
import tf_keras as keras
from tfx_bsl.public import tfxio

from modules.model import build_model, output_name
from modules.recipes import training_result
from modules.recipes.settings import distillation_settings

EPSILON = 1e-7
TEACHER_SIGNATURE = "predict_transformed"

# features dict -> the model's output ([batch, 1] or [batch, K])
Predictor = Callable[[Mapping[str, tf.Tensor]], tf.Tensor]


def logit(probability: tf.Tensor) -> tf.Tensor:
    """Inverse sigmoid of a clipped probability (binary models output sigmoid)."""
    probability = tf.clip_by_value(probability, EPSILON, 1 - EPSILON)
    return tf.math.log(probability) - tf.math.log1p(-probability)


def soft_loss(task: str, label, teacher, student, temperature: float,
              alpha: float):
    """Per-example distillation loss for the task.

    binary:     alpha * BCE(label, p_s) + (1-alpha) * T^2 * BCE(sigmoid(z_t/T),
                sigmoid(z_s/T)), z the logits recovered from the sigmoid outputs;
    multiclass: the same with softmax over log-probabilities (softened class
                distributions);
    regression: alpha * Huber(label, y_s) + (1-alpha) * (y_t - y_s)^2, i.e.
                the student matches the teacher's outputs (no temperature).
    T^2 keeps the soft term's gradient scale independent of T (Hinton 2015).
    """
    if task == "regression":
        label = tf.reshape(tf.cast(label, tf.float32), tf.shape(student))
        hard = keras.losses.Huber(reduction="none")(label, student)
        return alpha * hard + (1 - alpha) * tf.reduce_mean(
            tf.square(teacher - student), axis=-1)
    if task == "multiclass":
        log_student = tf.math.log(tf.clip_by_value(student, EPSILON, 1.0))
        log_teacher = tf.math.log(tf.clip_by_value(teacher, EPSILON, 1.0))
        hard = tf.nn.sparse_softmax_cross_entropy_with_logits(
            labels=tf.reshape(tf.cast(label, tf.int64), [-1]),
            logits=log_student)
        soft = tf.nn.softmax_cross_entropy_with_logits(
            labels=tf.nn.softmax(log_teacher / temperature),
            logits=log_student / temperature)
        return alpha * hard + (1 - alpha) * temperature ** 2 * soft
    student_logit = logit(student)
    # TFXIO yields labels as [batch]; the model's output is [batch, 1].
    label = tf.reshape(tf.cast(label, tf.float32), tf.shape(student_logit))
    hard = tf.nn.sigmoid_cross_entropy_with_logits(labels=label,
                                                   logits=student_logit)
    soft = tf.nn.sigmoid_cross_entropy_with_logits(
        labels=tf.sigmoid(logit(teacher) / temperature),
        logits=student_logit / temperature)
    return tf.reduce_mean(alpha * hard
                          + (1 - alpha) * temperature ** 2 * soft, axis=-1)


class Distiller(keras.Model):
    """Trains `student` on labels plus the frozen teacher's soft targets."""

    def __init__(self, student: keras.Model, teacher: Predictor, task: str,
                 input_names, temperature: float, alpha: float):
        super().__init__()
        self.student = student
        # A plain function, so Keras never tracks or trains teacher weights.
        self._teacher = teacher
        self.task = task
        # A tuple computed in Python: autograph must not trace its origin.
        self.input_names = tuple(input_names)
        self.temperature = temperature
        self.alpha = alpha
        self.loss_tracker = keras.metrics.Mean(name="loss")

    @property
    def metrics(self):
        return [self.loss_tracker]

    def call(self, inputs, training=False):
        return self.student({n: inputs[n] for n in self.input_names},
                            training=training)

    def per_example_loss(self, label, teacher_output, student_output):
        return soft_loss(self.task, label, teacher_output, student_output,
                         self.temperature, self.alpha)

    def train_step(self, data):
        batch, label = data
        teacher_output = tf.stop_gradient(self._teacher(batch))
        with tf.GradientTape() as tape:
            student_output = self(batch, training=True)
            per_example = self.per_example_loss(label, teacher_output,
                                                student_output)
            # Divides by the global batch, so replicas' gradients sum right.
            loss = tf.nn.compute_average_loss(per_example)
        # minimize() applies loss scaling under a mixed_float16 policy.
        self.optimizer.minimize(loss, self.student.trainable_variables,
                                tape=tape)
        self.loss_tracker.update_state(per_example)
        return {m.name: m.result() for m in self.metrics}


def _keras_predictor(model: keras.Model, input_names) -> Predictor:
    names = tuple(input_names)
    return lambda batch: model({n: batch[n] for n in names}, training=False)


def _load_teacher(export_dir: str, config) -> tuple[Predictor, int]:
    """The exported model's `predict_transformed` signature and its size."""
    loaded = tf.saved_model.load(export_dir)
    signature = loaded.signatures[TEACHER_SIGNATURE]
    names, head = tuple(config.input_widths), output_name(config.task)
    if set(signature.structured_input_signature[1]) != set(names):
        raise ValueError(
            f"The served model at {export_dir} takes other inputs than this "
            "run's Transform makes, so it cannot teach this student (was the "
            "preprocessing changed?). Use --teacher train.")

    def predict(batch):
        return signature(**{n: batch[n] for n in names})[head]

    # A signature does not keep its SavedModel's variables alive; this does.
    predict.saved_model = loaded
    params = sum(int(np.prod(v.shape)) for v in signature.trainable_variables)
    return predict, params


def _train_teacher(config, units, strategy, train_dataset, fn_args):
    with strategy.scope():
        teacher = build_model(dataclasses.replace(config, hidden_units=units))
    teacher.fit(
        train_dataset,
        steps_per_epoch=fn_args.train_steps,
        verbose=2,
        callbacks=[keras.callbacks.TensorBoard(
            os.path.join(fn_args.model_run_dir, "teacher"), profile_batch=0)])
    return (_keras_predictor(teacher, config.input_widths),
            int(teacher.count_params()))


def single_pass_eval_dataset(fn_args, batch_size: int,
                             label_key: str) -> tf.data.Dataset:
    """Every eval row exactly once, in file order: what a scored figure needs.

    The Trainer's eval dataset repeats (and shuffles) forever for Keras'
    validation steps, so `take(steps)` of it scores some rows twice
    whenever steps x batch exceeds the split, and which rows depends on the
    shuffle. This one is read from the same eval files with one epoch.
    """
    schema = tft.TFTransformOutput(
        fn_args.transform_output).transformed_metadata.schema
    return fn_args.data_accessor.tf_dataset_factory(
        fn_args.eval_files,
        tfxio.TensorFlowDatasetOptions(batch_size=batch_size,
                                       label_key=label_key,
                                       num_epochs=1, shuffle=False),
        schema)


def quality(task: str, truth: np.ndarray, output: np.ndarray) -> float:
    """The task's headline metric: AUC (macro one-vs-rest) or RMSE."""
    if task == "regression":
        return float(np.sqrt(np.mean((output.reshape(-1) - truth) ** 2)))
    if task == "multiclass":
        return float(roc_auc_score(truth, output, multi_class="ovr",
                                   average="macro",
                                   labels=list(range(output.shape[1]))))
    return float(roc_auc_score(truth, output.reshape(-1)))


def evaluate(task: str, dataset: tf.data.Dataset,
             predictors: Mapping[str, Predictor]) -> tuple[dict, int]:
    """The metric of each predictor over `dataset` read to its end, and rows.

    `dataset` must be finite (`single_pass_eval_dataset`): the figure is
    then over each of its rows exactly once.
    """
    labels, outputs = [], {name: [] for name in predictors}
    for batch, label in dataset:
        labels.append(np.reshape(label.numpy(), -1))
        for name, predict in predictors.items():
            outputs[name].append(np.asarray(predict(batch)))
    truth = np.concatenate(labels)
    return ({name: quality(task, truth, np.concatenate(values))
             for name, values in outputs.items()}, int(truth.size))


def train_distilled(config, strategy, train_dataset, eval_dataset, fn_args):
    """Gets a teacher, distills it into a small student, compares AUCs."""
    settings = distillation_settings(config.options)
    use_base_model = settings["teacher"] == "base_model"
    if use_base_model and not (fn_args.base_model and tf.io.gfile.exists(
            os.path.join(fn_args.base_model, "saved_model.pb"))):
        # Nothing is served yet (first model of a pipeline): the served-
        # model component hands over an empty Model.
        logging.warning("teacher='base_model' but no model is served yet; "
                        "training a teacher instead.")
        use_base_model = False
    if use_base_model:
        teacher, teacher_params = _load_teacher(fn_args.base_model, config)
    else:
        teacher, teacher_params = _train_teacher(
            config, settings["teacher_hidden_units"], strategy, train_dataset,
            fn_args)

    with strategy.scope():
        student = build_model(dataclasses.replace(
            config, hidden_units=settings["student_hidden_units"]))
        distiller = Distiller(student, teacher, config.task,
                              config.input_widths, settings["temperature"],
                              settings["alpha"])
        distiller.compile(
            optimizer=keras.optimizers.Adam(config.learning_rate),
            jit_compile=student.jit_compile)
    distiller.fit(
        train_dataset,
        steps_per_epoch=fn_args.train_steps,
        verbose=2,
        callbacks=[keras.callbacks.TensorBoard(fn_args.model_run_dir,
                                               profile_batch=0)])

    # `eval_dataset` repeats (it feeds Keras validation); score each row once.
    del eval_dataset
    scores, eval_examples = evaluate(config.task, single_pass_eval_dataset(
        fn_args, config.eval_batch_size, config.label_key), {
            "teacher": teacher,
            "student": _keras_predictor(student, config.input_widths)})
    params = int(student.count_params())
    metric = "rmse" if config.task == "regression" else "auc"
    # Retention = share of the teacher's quality the student keeps (>1 better).
    retention = (scores["teacher"] / scores["student"] if metric == "rmse"
                 else scores["student"] / scores["teacher"])
    report = {
        "optimization": "distill",
        "params": params,
        "teacher_params": teacher_params,
        "param_ratio": params / teacher_params,
        "metric": metric,
        f"teacher_{metric}": scores["teacher"],
        f"student_{metric}": scores["student"],
        f"{metric}_retention": retention,
        "eval_examples": eval_examples,
        "temperature": settings["temperature"],
        "alpha": settings["alpha"],
        "teacher_source": "base_model" if use_base_model else "trained",
    }
    logging.info("Distilled model: %s", report)
    return training_result(student, report)
