"""Distillation recipe: a small student MLP learns from a bigger teacher.

Why: the student is a few percent of the teacher's size (cheaper to serve
and to quantize) but keeps most of its AUC, because the teacher's softened
probabilities carry more signal per example than the 0/1 label.

The teacher is either trained here (a wider MLP) or, with
`options["teacher"] == "base_model"`, the model the Trainer receives as
`base_model` (e.g. the latest blessed model), called through its
`predict_transformed` signature. Only the plain student model is returned.
"""
import dataclasses
import math
import os
from typing import Any, Callable, Mapping

from absl import logging
import numpy as np
from sklearn.metrics import roc_auc_score
import tensorflow as tf
import tf_keras as keras

from modules import features
from modules.model import PROBABILITY_OUTPUT, build_model
from modules.recipes import training_result

EPSILON = 1e-7
TEACHER_SIGNATURE = "predict_transformed"
TEACHER_SOURCES = ("trained", "base_model")
# Computed once in Python: a features.* call inside the traced train_step
# would make autograph transpile features.py from its source file.
INPUT_NAMES = tuple(features.transformed_input_widths())

# features dict -> P(label) of shape [batch, 1]
Predictor = Callable[[Mapping[str, tf.Tensor]], tf.Tensor]


def distillation_settings(options: Mapping[str, Any]) -> dict:
    """Validated distillation knobs from `config.options`."""
    settings = {
        "temperature": float(options.get("temperature", 2.0)),
        "alpha": float(options.get("alpha", 0.5)),
        "teacher": options.get("teacher", "trained"),
        "teacher_hidden_units": tuple(
            options.get("teacher_hidden_units", (512, 256, 128))),
        "student_hidden_units": tuple(
            options.get("student_hidden_units", (16,))),
    }
    if not (math.isfinite(settings["temperature"])
            and settings["temperature"] > 0):
        raise ValueError(f"temperature must be a positive number; got "
                         f"{settings['temperature']}.")
    if not 0 <= settings["alpha"] <= 1:
        raise ValueError(f"alpha must be in [0, 1]; got {settings['alpha']}.")
    if settings["teacher"] not in TEACHER_SOURCES:
        raise ValueError(f"teacher must be one of {TEACHER_SOURCES}; got "
                         f"{settings['teacher']!r}.")
    for key in ("teacher_hidden_units", "student_hidden_units"):
        units = settings[key]
        if not units or not all(isinstance(u, int) and u > 0 for u in units):
            raise ValueError(f"{key} must be non-empty positive ints; got "
                             f"{units}.")
    return settings


def model_inputs(batch: Mapping[str, tf.Tensor]) -> dict:
    """Just the model's inputs: the dataset may carry other columns."""
    return {name: batch[name] for name in INPUT_NAMES}


def logit(probability: tf.Tensor) -> tf.Tensor:
    """Inverse sigmoid of a clipped probability (models output sigmoid)."""
    probability = tf.clip_by_value(probability, EPSILON, 1 - EPSILON)
    return tf.math.log(probability) - tf.math.log1p(-probability)


class Distiller(keras.Model):
    """Trains `student` on labels plus the frozen teacher's soft labels.

    Loss = alpha * BCE(label, p_student) + (1 - alpha) * T^2
           * BCE(sigmoid(z_teacher / T), sigmoid(z_student / T)),
    with z the logits recovered from the models' sigmoid outputs.
    T^2 keeps the soft term's gradient scale independent of T (Hinton 2015).
    """

    def __init__(self, student: keras.Model, teacher: Predictor,
                 temperature: float, alpha: float):
        super().__init__()
        self.student = student
        # A plain function, so Keras never tracks or trains teacher weights.
        self._teacher = teacher
        self.temperature = temperature
        self.alpha = alpha
        self.loss_tracker = keras.metrics.Mean(name="loss")

    @property
    def metrics(self):
        return [self.loss_tracker]

    def call(self, inputs, training=False):
        return self.student(model_inputs(inputs), training=training)

    def per_example_loss(self, label, teacher_probability,
                         student_probability):
        student_logit = logit(student_probability)
        # TFXIO yields labels as [batch]; the model's output is [batch, 1].
        label = tf.reshape(tf.cast(label, tf.float32), tf.shape(student_logit))
        hard = tf.nn.sigmoid_cross_entropy_with_logits(
            labels=label, logits=student_logit)
        soft_target = tf.sigmoid(logit(teacher_probability) / self.temperature)
        soft = tf.nn.sigmoid_cross_entropy_with_logits(
            labels=soft_target, logits=student_logit / self.temperature)
        loss = (self.alpha * hard
                + (1 - self.alpha) * self.temperature ** 2 * soft)
        return tf.reduce_mean(loss, axis=-1)

    def train_step(self, data):
        batch, label = data
        teacher_probability = tf.stop_gradient(self._teacher(batch))
        with tf.GradientTape() as tape:
            student_probability = self(batch, training=True)
            per_example = self.per_example_loss(label, teacher_probability,
                                                student_probability)
            # Divides by the global batch, so replicas' gradients sum right.
            loss = tf.nn.compute_average_loss(per_example)
        # minimize() applies loss scaling under a mixed_float16 policy.
        self.optimizer.minimize(loss, self.student.trainable_variables,
                                tape=tape)
        self.loss_tracker.update_state(per_example)
        return {m.name: m.result() for m in self.metrics}


def _keras_predictor(model: keras.Model) -> Predictor:
    return lambda batch: model(model_inputs(batch), training=False)


def _load_teacher(export_dir: str) -> tuple[Predictor, int]:
    """The exported model's `predict_transformed` signature and its size."""
    loaded = tf.saved_model.load(export_dir)
    signature = loaded.signatures[TEACHER_SIGNATURE]

    def predict(batch):
        return signature(**model_inputs(batch))[PROBABILITY_OUTPUT]

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
    return _keras_predictor(teacher), int(teacher.count_params())


def evaluate_auc(eval_dataset, steps: int,
                 predictors: Mapping[str, Predictor]) -> dict:
    """AUC of each predictor on the same `steps` eval batches."""
    labels, scores = [], {name: [] for name in predictors}
    for batch, label in eval_dataset.take(steps):
        labels.append(np.reshape(label.numpy(), -1))
        for name, predict in predictors.items():
            scores[name].append(np.reshape(np.asarray(predict(batch)), -1))
    truth = np.concatenate(labels)
    return {name: float(roc_auc_score(truth, np.concatenate(values)))
            for name, values in scores.items()}


def train_distilled(config, strategy, train_dataset, eval_dataset, fn_args):
    """Gets a teacher, distills it into a small student, compares AUCs."""
    settings = distillation_settings(config.options)
    use_base_model = settings["teacher"] == "base_model"
    if use_base_model and not fn_args.base_model:
        # First run of a pipeline: no blessed model exists yet.
        logging.warning("teacher='base_model' but the Trainer got no "
                        "base_model; training a teacher instead.")
        use_base_model = False
    if use_base_model:
        teacher, teacher_params = _load_teacher(fn_args.base_model)
    else:
        teacher, teacher_params = _train_teacher(
            config, settings["teacher_hidden_units"], strategy, train_dataset,
            fn_args)

    with strategy.scope():
        student = build_model(dataclasses.replace(
            config, hidden_units=settings["student_hidden_units"]))
        distiller = Distiller(student, teacher, settings["temperature"],
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

    auc = evaluate_auc(
        eval_dataset, fn_args.eval_steps,
        {"teacher": teacher, "student": _keras_predictor(student)})
    params = int(student.count_params())
    report = {
        "optimization": "distill",
        "params": params,
        "teacher_params": teacher_params,
        "param_ratio": params / teacher_params,
        "teacher_auc": auc["teacher"],
        "student_auc": auc["student"],
        "auc_retention": auc["student"] / auc["teacher"],
        "temperature": settings["temperature"],
        "alpha": settings["alpha"],
        "teacher_source": "base_model" if use_base_model else "trained",
    }
    logging.info("Distilled model: %s", report)
    return training_result(student, report)
