"""Pruning and distillation recipes on a small learnable synthetic dataset.

The data has the real transformed feature widths, so the recipes build the
production model; the label depends on a few inputs, so AUCs mean something.
"""
import json
import types

import numpy as np
import pytest
from sklearn.metrics import roc_auc_score
import tensorflow as tf
import tensorflow_transform as tft
import tf_keras as keras

from modules import features
from tests.synthetic import transformed_inputs
from modules.model import PROBABILITY_OUTPUT, TrainerConfig
from modules.recipes import distill, prune
from modules.signatures import export_serving_model

BATCH = 64
TRAIN_STEPS = 100
DISTILL_STEPS = 200  # at 100 the 16-unit student sometimes trails by ~2%
EVAL_STEPS = 16
FINAL_SPARSITY = 0.8
PRUNED_UNITS = (32, 16)


def synthetic_examples(count, seed):
    """One-hot categoricals and N(0, 1) numerics; a noisy nonlinear label."""
    rng = np.random.default_rng(seed)
    columns = transformed_inputs(rng, count)
    score = (2 * columns["fare_xf"][:, 0]
             - 1.5 * np.abs(columns["trip_miles_xf"][:, 0])
             + 2 * columns["payment_type_xf"][:, 0]
             + 3 * columns["trip_start_hour_xf"][:, :6].sum(axis=1) + 0.5)
    label = score + rng.normal(scale=0.5, size=count) > 0
    return columns, label.astype(np.int64)


def repeating_dataset(count, seed):
    """Like the Trainer's TFXIO input: (features, [batch] label), forever."""
    return tf.data.Dataset.from_tensor_slices(
        synthetic_examples(count, seed)).batch(BATCH).repeat()


@pytest.fixture(scope="module")
def datasets():
    return repeating_dataset(4096, seed=0), repeating_dataset(1024, seed=1)


def fn_args(tmp_path, train_steps=TRAIN_STEPS, base_model=None):
    return types.SimpleNamespace(
        train_steps=train_steps, eval_steps=EVAL_STEPS,
        model_run_dir=str(tmp_path), base_model=base_model)


def run_recipe(recipe, datasets, args, **config):
    """Calls a recipe the way `run_fn` does, seeded the same way."""
    config = TrainerConfig(learning_rate=1e-2, **config)
    keras.utils.set_random_seed(config.seed)
    return recipe(config, tf.distribute.get_strategy(), *datasets, args)


def dense_kernel_zeros(kernels):
    return (sum(int(np.sum(k == 0)) for k in kernels)
            / sum(k.size for k in kernels))


# --- pruning -----------------------------------------------------------------

@pytest.fixture(scope="module")
def pruned(datasets, tmp_path_factory):
    return run_recipe(prune.train_pruned, datasets,
                      fn_args(tmp_path_factory.mktemp("prune_logs")),
                      hidden_units=PRUNED_UNITS,
                      options={"final_sparsity": FINAL_SPARSITY})


@pytest.fixture(scope="module")
def pruned_export(pruned, transformed, tmp_path_factory):
    transform_dir, _, _ = transformed
    export_dir = str(tmp_path_factory.mktemp("pruned") / "serving")
    export_serving_model(pruned.model, tft.TFTransformOutput(transform_dir),
                         export_dir)
    return export_dir


def test_pruning_reaches_final_sparsity(pruned):
    model, report = pruned.model, pruned.report
    assert not any("prune" in layer.__class__.__name__.lower()
                   for layer in model.layers), "wrappers must be stripped"
    kernels = [layer.kernel.numpy() for layer in model.layers
               if isinstance(layer, keras.layers.Dense)]
    assert len(kernels) == len(PRUNED_UNITS) + 1
    assert dense_kernel_zeros(kernels) == pytest.approx(FINAL_SPARSITY,
                                                        abs=0.02)
    assert report["sparsity"] == pytest.approx(FINAL_SPARSITY, abs=0.02)
    assert set(report["sparsity_per_layer"]) == {
        "dense_0", "dense_1", PROBABILITY_OUTPUT}
    assert report["params"] == model.count_params()
    assert report["nonzero_params"] < 0.3 * report["params"]
    assert report["schedule"]["end_step"] == int(0.8 * TRAIN_STEPS)
    json.dumps(report)


def test_pruned_model_stays_sparse_after_export_and_serves(pruned_export,
                                                           transformed):
    loaded = tf.saved_model.load(pruned_export)
    kernels = [v.numpy() for v in loaded.variables if "kernel" in v.name]
    assert len(kernels) == len(PRUNED_UNITS) + 1
    assert dense_kernel_zeros(kernels) == pytest.approx(FINAL_SPARSITY,
                                                        abs=0.02)

    _, transformed_rows, _ = transformed
    columns = {name: tf.constant(np.stack([row[name] for row in
                                           transformed_rows[:50]]),
                                 tf.float32)
               for name in features.transformed_input_widths()}
    probabilities = loaded.signatures["predict_transformed"](
        **columns)[PROBABILITY_OUTPUT].numpy()
    assert probabilities.shape == (50, 1)
    assert ((probabilities >= 0) & (probabilities <= 1)).all()


@pytest.mark.parametrize("options", [
    {"initial_sparsity": 0.9, "final_sparsity": 0.8},
    {"final_sparsity": 1.0},
    {"initial_sparsity": -0.1},
    {"pruning_begin_step": 50, "pruning_end_step": 50},
    {"pruning_end_step": TRAIN_STEPS + 1},
    {"pruning_end_step": 80, "pruning_frequency": 30},
])
def test_bad_pruning_schedule_is_rejected(options, datasets, tmp_path):
    with pytest.raises(ValueError, match="prun|sparsity"):
        run_recipe(prune.train_pruned, datasets, fn_args(tmp_path),
                   options=options)


# --- distillation ------------------------------------------------------------

@pytest.fixture(scope="module")
def distilled(datasets, tmp_path_factory):
    return run_recipe(distill.train_distilled, datasets,
                      fn_args(tmp_path_factory.mktemp("distill_logs"),
                              train_steps=DISTILL_STEPS))


def test_student_is_small_and_keeps_the_teachers_auc(distilled):
    student, report = distilled.model, distilled.report
    assert set(report) == {
        "optimization", "params", "teacher_params", "param_ratio",
        "teacher_auc", "student_auc", "auc_retention", "temperature", "alpha",
        "teacher_source"}
    json.dumps(report)
    assert report["teacher_source"] == "trained"
    assert report["params"] == student.count_params()
    assert report["params"] <= 0.10 * report["teacher_params"]
    assert report["teacher_auc"] > 0.85
    assert report["student_auc"] >= 0.97 * report["teacher_auc"]

    # The returned model is the plain student and scores unseen data as well.
    assert not isinstance(student, distill.Distiller)
    assert student.output_names == [PROBABILITY_OUTPUT]
    assert sorted(student.input_names) == sorted(
        features.transformed_input_widths())
    columns, label = synthetic_examples(1024, seed=2)
    scores = student.predict(columns, batch_size=256, verbose=0)
    assert roc_auc_score(label, scores) >= 0.97 * report["teacher_auc"]


def test_distills_from_the_base_model_signature(pruned, pruned_export,
                                                datasets, tmp_path):
    result = run_recipe(
        distill.train_distilled, datasets,
        fn_args(tmp_path, train_steps=20, base_model=pruned_export),
        options={"teacher": "base_model"})
    report = result.report
    assert report["teacher_source"] == "base_model"
    assert report["teacher_params"] == pruned.report["params"]
    assert report["teacher_auc"] > 0.8  # the pruned model learned the task
    assert 0 <= report["student_auc"] <= 1


@pytest.mark.parametrize("options", [
    {"temperature": 0},
    {"alpha": 1.5},
    {"teacher": "ensemble"},
    {"student_hidden_units": ()},
])
def test_bad_distillation_options_are_rejected(options, datasets, tmp_path):
    with pytest.raises(ValueError):
        run_recipe(distill.train_distilled, datasets, fn_args(tmp_path),
                   options=options)
