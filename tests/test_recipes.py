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
from tensorflow_transform.tf_metadata import (dataset_metadata, metadata_io,
                                             schema_utils)
import tf_keras as keras
from tfx.components.trainer import fn_args_utils
from tfx.components.util import tfxio_utils
from tfx.types import artifact_utils, standard_artifacts

from modules.taxi import features
from tests.helpers import taxi_trainer_config
from tests.synthetic import transformed_inputs
from modules.model import PROBABILITY_OUTPUT, TrainerConfig
from modules.recipes import distill, prune
from modules.signatures import export_serving_model

# The session `transformed` TFT run is computed once per worker (make test).
pytestmark = pytest.mark.xdist_group("transformed")

BATCH = 64
TRAIN_STEPS = 100
DISTILL_STEPS = 200  # at 100 the 16-unit student sometimes trails by ~2%
EVAL_STEPS = 16
EVAL_ROWS, EVAL_SEED = 1024, 1
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
    return (repeating_dataset(4096, seed=0),
            repeating_dataset(EVAL_ROWS, seed=EVAL_SEED))


@pytest.fixture(scope="module")
def eval_split(tmp_path_factory):
    """The eval rows of `datasets` as the Trainer gets them: gzipped
    tf.Examples, a real TFXIO data accessor and a transformed schema."""
    root = tmp_path_factory.mktemp("eval_split")
    columns, label = synthetic_examples(EVAL_ROWS, seed=EVAL_SEED)
    split_dir = root / "examples" / "Split-eval"
    split_dir.mkdir(parents=True)
    with tf.io.TFRecordWriter(str(split_dir / "data.gz"), "GZIP") as writer:
        for i in range(EVAL_ROWS):
            feature = {name: tf.train.Feature(float_list=tf.train.FloatList(
                value=values[i])) for name, values in columns.items()}
            feature[features.LABEL_KEY] = tf.train.Feature(
                int64_list=tf.train.Int64List(value=[label[i]]))
            writer.write(tf.train.Example(features=tf.train.Features(
                feature=feature)).SerializeToString())
    spec = {name: tf.io.FixedLenFeature([values.shape[1]], tf.float32)
            for name, values in columns.items()}
    spec[features.LABEL_KEY] = tf.io.FixedLenFeature([], tf.int64)
    transform_output = root / "transform_output"
    metadata_io.write_metadata(
        dataset_metadata.DatasetMetadata(
            schema_utils.schema_from_feature_spec(spec)),
        str(transform_output / tft.TFTransformOutput.TRANSFORMED_METADATA_DIR))
    examples = standard_artifacts.Examples()
    examples.uri = str(root / "examples")
    examples.split_names = artifact_utils.encode_split_names(["eval"])
    accessor = fn_args_utils.DataAccessor(
        tf_dataset_factory=tfxio_utils.get_tf_dataset_factory_from_artifact(
            [examples], []),
        record_batch_factory=None, data_view_decode_fn=None)
    return {"eval_files": [str(split_dir / "*")], "data_accessor": accessor,
            "transform_output": str(transform_output)}


def fn_args(tmp_path, eval_split, train_steps=TRAIN_STEPS, base_model=None,
            eval_steps=EVAL_STEPS):
    return types.SimpleNamespace(
        train_steps=train_steps, eval_steps=eval_steps,
        model_run_dir=str(tmp_path), base_model=base_model, **eval_split)


def recipe_config(**overrides):
    """The taxi project's TrainerConfig (binary, label `big_tipper`, the
    transformed widths the synthetic data has), as `run_fn` completes it."""
    return taxi_trainer_config(learning_rate=1e-2, **overrides)


def run_recipe(recipe, datasets, args, **config):
    """Calls a recipe the way `run_fn` does, seeded the same way."""
    config = recipe_config(**config)
    keras.utils.set_random_seed(config.seed)
    return recipe(config, tf.distribute.get_strategy(), *datasets, args)


def dense_kernel_zeros(kernels):
    return (sum(int(np.sum(k == 0)) for k in kernels)
            / sum(k.size for k in kernels))


# --- pruning -----------------------------------------------------------------

@pytest.fixture(scope="module")
def pruned(datasets, eval_split, tmp_path_factory):
    return run_recipe(prune.train_pruned, datasets,
                      fn_args(tmp_path_factory.mktemp("prune_logs"),
                              eval_split),
                      hidden_units=PRUNED_UNITS,
                      options={"final_sparsity": FINAL_SPARSITY})


@pytest.fixture(scope="module")
def pruned_export(pruned, transformed, tmp_path_factory):
    transform_dir, _, _ = transformed
    export_dir = str(tmp_path_factory.mktemp("pruned") / "serving")
    export_serving_model(pruned.model, tft.TFTransformOutput(transform_dir),
                         export_dir, recipe_config(hidden_units=PRUNED_UNITS))
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
    json.dumps(report)


def test_pruned_model_stays_sparse_after_export_and_serves(pruned,
                                                           pruned_export,
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
    served = loaded.signatures["predict_transformed"](
        **columns)[PROBABILITY_OUTPUT].numpy()
    # The served model is the pruned one, not a re-initialised or dense copy.
    in_memory = pruned.model.predict(columns, verbose=0)
    assert in_memory.std() > 1e-3
    np.testing.assert_allclose(served, in_memory, atol=1e-5)


@pytest.mark.parametrize("options", [
    {"initial_sparsity": 0.9, "final_sparsity": 0.8},
    {"final_sparsity": 1.0},
    {"initial_sparsity": -0.1},
    {"pruning_begin_step": 50, "pruning_end_step": 50},
    {"pruning_end_step": TRAIN_STEPS + 1},
    {"pruning_end_step": 80, "pruning_frequency": 30},
])
def test_bad_pruning_schedule_is_rejected(options, datasets, eval_split,
                                          tmp_path):
    with pytest.raises(ValueError, match="prun|sparsity"):
        run_recipe(prune.train_pruned, datasets, fn_args(tmp_path, eval_split),
                   options=options)


# --- distillation ------------------------------------------------------------

@pytest.fixture(scope="module")
def distilled(datasets, eval_split, tmp_path_factory):
    return run_recipe(distill.train_distilled, datasets,
                      fn_args(tmp_path_factory.mktemp("distill_logs"),
                              eval_split, train_steps=DISTILL_STEPS))


def test_student_is_small_and_keeps_the_teachers_auc(distilled):
    student, report = distilled.model, distilled.report
    assert set(report) == {
        "optimization", "params", "teacher_params", "param_ratio", "metric",
        "teacher_auc", "student_auc", "auc_retention", "eval_examples",
        "temperature", "alpha", "teacher_source"}
    json.dumps(report)
    assert report["metric"] == "auc"  # a binary task's headline metric
    assert report["auc_retention"] == pytest.approx(
        report["student_auc"] / report["teacher_auc"])
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
                                                datasets, eval_split,
                                                tmp_path):
    # More eval steps than the split holds: a repeated stream would score
    # the first rows twice and move the AUC.
    steps = EVAL_ROWS // BATCH + 4
    result = run_recipe(
        distill.train_distilled, datasets,
        fn_args(tmp_path, eval_split, train_steps=20,
                base_model=pruned_export, eval_steps=steps),
        options={"teacher": "base_model"})
    report = result.report
    assert report["teacher_source"] == "base_model"
    assert report["teacher_params"] == pruned.report["params"]
    assert report["teacher_auc"] > 0.8  # the pruned model learned the task

    # Each eval row scored exactly once: the AUC of the same teacher
    # computed here over the split's rows, once each.
    assert report["eval_examples"] == EVAL_ROWS
    columns, label = synthetic_examples(EVAL_ROWS, seed=EVAL_SEED)
    teacher = tf.saved_model.load(pruned_export).signatures[
        distill.TEACHER_SIGNATURE]
    batch = TrainerConfig().eval_batch_size  # as the recipe scores
    probabilities = np.concatenate([teacher(**{
        name: tf.constant(values[start:start + batch])
        for name, values in columns.items()})[PROBABILITY_OUTPUT].numpy()
        for start in range(0, EVAL_ROWS, batch)]).reshape(-1)
    assert report["teacher_auc"] == pytest.approx(
        roc_auc_score(label, probabilities), abs=1e-9)


@pytest.mark.parametrize("options", [
    {"temperature": 0},
    {"alpha": 1.5},
    {"teacher": "ensemble"},
    {"student_hidden_units": ()},
])
def test_bad_distillation_options_are_rejected(options, datasets, eval_split,
                                               tmp_path):
    with pytest.raises(ValueError):
        run_recipe(distill.train_distilled, datasets,
                   fn_args(tmp_path, eval_split),
                   options=options)


# --- warm start --------------------------------------------------------------

def test_warm_start_copies_the_served_weights_or_says_why_not(pruned,
                                                              pruned_export):
    from modules.model import build_model
    from modules.trainer import warm_start
    model = build_model(recipe_config(hidden_units=PRUNED_UNITS))
    assert warm_start(model, pruned_export) == {"applied": True,
                                                "from": pruned_export}
    for ours, served in zip(model.get_weights(), pruned.model.get_weights()):
        np.testing.assert_array_equal(ours, served)
    other = build_model(recipe_config(hidden_units=(8,)))
    refused = warm_start(other, pruned_export)
    assert not refused["applied"] and "differ in shape" in refused["reason"]
    assert warm_start(other, None) == {"applied": False,
                                       "reason": "nothing served yet"}


def test_plain_recipe_fine_tunes_from_the_served_model(pruned_export, datasets,
                                                       eval_split, tmp_path):
    from modules.trainer import train_plain
    result = run_recipe(train_plain, datasets,
                        fn_args(tmp_path, eval_split, train_steps=3,
                                base_model=pruned_export),
                        hidden_units=PRUNED_UNITS, warm_start=True)
    assert result.report["warm_start"]["applied"] is True
    # Three steps from the served weights keep what it learned; from
    # scratch, three steps do not.
    columns, label = synthetic_examples(1024, seed=5)
    warm = roc_auc_score(label, result.model.predict(columns, verbose=0))
    cold = run_recipe(train_plain, datasets,
                      fn_args(tmp_path / "cold", eval_split, train_steps=3),
                      hidden_units=PRUNED_UNITS)
    assert "warm_start" not in cold.report
    assert warm > roc_auc_score(label, cold.model.predict(columns, verbose=0))
