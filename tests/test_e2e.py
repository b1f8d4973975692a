"""End to end: the real `tfx-prod run` (real TFX, Beam, MLMD) on a slice of the
bundled taxi data, run the way a user runs it.

The runs share one pipeline home and build on each other, like a user's days:
first run pushes; a re-run reuses everything; a worse model is refused.
"""
import pathlib

import numpy as np
import pandas as pd
import pytest

from modules import features
from tests.conftest import (TRAIN_STEPS, raw_dense_inputs, read_text,
                            serialize_rows, tfx_prod, versions)

pytestmark = pytest.mark.e2e


def test_first_run_trains_blesses_quantizes_and_pushes(first_run):
    home, result, summary = first_run
    assert result.returncode == 0, result.stderr
    states = {c["id"]: c["state"] for c in summary["components"]}
    for node in ("CsvExampleGen", "StatisticsGen", "ImportSchemaGen",
                 "ExampleValidator", "AnomalyGate", "Transform", "Trainer",
                 "Evaluator", "Quantizer", "Pusher"):
        assert states[node] == "complete", (node, states)
    assert summary["blessed"] is True
    assert summary["eval"]["overall"]["auc"] >= 0.90
    assert set(summary["eval"]["slices"]) >= {"payment_type=Cash",
                                              "payment_type=Credit Card"}
    # The terminal shows progress and the summary, not the TF log flood.
    assert "Trainer" in result.stdout and "BLESSED" in result.stdout
    assert "tensorflow" not in result.stdout.lower()
    log = pathlib.Path(summary["log"])
    assert log.stat().st_size > 10_000


def test_pushed_version_is_complete_and_serves(first_run, small_data):
    import tensorflow as tf
    home, _, summary = first_run
    [version] = versions(home)
    version_dir = home / "serving" / "taxi" / version
    assert summary["pushed_to"].rstrip("/").endswith(version)
    names = {p.name for p in version_dir.iterdir()}
    assert {"saved_model.pb", "variables", "model.tflite",
            "quantization_report.json"} <= names
    assert not [p for p in version_dir.parent.iterdir() if p.name.startswith(".")]

    rows = pd.read_csv(small_data / "span-1" / "data.csv").head(50)
    loaded = tf.saved_model.load(str(version_dir))
    raw = raw_dense_inputs(rows)
    probabilities = loaded.signatures["serving_default"](**raw)["probabilities"]
    assert probabilities.shape == (50, 1)
    labels = (rows["tips"] > 0.2 * rows["fare"]).to_numpy()
    predicted = probabilities.numpy()[:, 0] > 0.5
    assert (predicted == labels).mean() > 0.8

    # The shipped TFLite file runs in the interpreter and agrees with the
    # SavedModel on the same transformed inputs.
    transformed = loaded.signatures["transform_features"](
        examples=serialize_rows(rows))
    inputs = {name: transformed[name].numpy()
              for name in features.transformed_input_widths()}
    reference = loaded.signatures["predict_transformed"](
        **{k: tf.constant(v) for k, v in inputs.items()})["probabilities"].numpy()
    interpreter = tf.lite.Interpreter(str(version_dir / "model.tflite"))
    runner = interpreter.get_signature_runner()
    lite = np.array([_run_lite(runner, {k: v[i:i + 1] for k, v in inputs.items()})
                     for i in range(len(rows))]).reshape(-1, 1)
    assert np.abs(lite - reference).max() < 0.05


def _run_lite(runner, inputs):
    """One batch-1 call, quantizing int8 inputs/outputs if the variant has them."""
    details = runner.get_input_details()
    feed = {}
    for name, value in inputs.items():
        spec = details[name]
        if spec["dtype"] == np.int8:
            scale, zero = spec["quantization"]
            value = np.clip(np.round(value / scale + zero), -128, 127)
        feed[name] = value.astype(spec["dtype"])
    [(out_name, out)] = runner(**feed).items()
    spec = runner.get_output_details()[out_name]
    if spec["dtype"] == np.int8:
        scale, zero = spec["quantization"]
        out = (out.astype(np.float32) - zero) * scale
    return float(out.reshape(-1)[0])


def test_rerun_with_no_new_data_is_fully_cached(first_run, small_data):
    home, _, _ = first_run
    result, summary = tfx_prod("--train-steps", TRAIN_STEPS, home=home,
                               data=small_data)
    assert result.returncode == 0, result.stderr
    assert summary["all_cached"] is True
    executed = [c for c in summary["components"] if c["state"] == "complete"]
    assert executed == []
    assert "Nothing new" in result.stdout
    assert len(versions(home)) == 1


def test_worse_model_than_blessed_baseline_is_not_pushed(first_run, small_data):
    home, _, _ = first_run
    result, summary = tfx_prod("--train-steps", "2", home=home, data=small_data)
    assert result.returncode == 4, result.stderr
    states = {c["id"]: c["state"] for c in summary["components"]}
    assert states["Trainer"] == "complete" and states["Evaluator"] == "complete"
    assert states["Pusher"] == "skipped" and states["Quantizer"] == "skipped"
    assert summary["blessed"] is False
    assert "change vs baseline" in summary["blessing_reason"]
    assert "not blessed" in result.stderr
    assert len(versions(home)) == 1


def _corrupt(tmp_path, frame):
    root = tmp_path / "bad"
    (root / "span-1").mkdir(parents=True)
    frame.to_csv(root / "span-1" / "data.csv", index=False)
    return root


@pytest.mark.parametrize("damage, feature", [
    ("string_fare", "fare"),
    ("missing_column", "payment_type"),
])
def test_bad_data_stops_before_training(tmp_path, damage, feature):
    frame = read_text(1000)
    if damage == "string_fare":
        frame.loc[frame.index[:50], "fare"] = "twelve dollars"
    else:
        frame = frame.drop(columns=[feature])
    home = tmp_path / "home"
    result, summary = tfx_prod(home=home, data=_corrupt(tmp_path, frame))
    assert result.returncode == 3, result.stderr
    assert feature in result.stderr
    ran = {c["id"] for c in summary["components"]}
    assert "Transform" not in ran and "Trainer" not in ran
    assert versions(home) == []


@pytest.mark.parametrize("flags, recipe", [
    (("--optimization", "prune", "--final-sparsity", "0.8"), "prune"),
    (("--optimization", "distill"), "distill"),
])
def test_optimized_model_is_quantized_to_int8_and_pushed(first_run, small_data,
                                                         flags, recipe):
    """Pruned + int8 and distilled + int8, end to end. The bench measures these
    variants rather than gating them, so the baseline comparison is relaxed."""
    home, _, _ = first_run
    pushed_before = len(versions(home))
    result, summary = tfx_prod("--train-steps", TRAIN_STEPS, *flags,
                               "--max-auc-regression", "1", home=home,
                               data=small_data)
    assert result.returncode == 0, result.stderr
    states = {c["id"]: c["state"] for c in summary["components"]}
    assert states["Transform"] == "cached" and states["Trainer"] == "complete"
    report = summary["optimization"]
    assert report["optimization"] == recipe
    if recipe == "prune":
        assert abs(report["sparsity"] - 0.8) < 0.02
    else:
        assert report["param_ratio"] <= 0.10
        assert report["auc_retention"] >= 0.9
    int8 = {v["name"]: v for v in summary["quantization"]["variants"]}["int8"]
    assert int8["error"] is None
    # The 7k-parameter student's flatbuffer is mostly fixed overhead (measured
    # 0.36x); the 159k-parameter pruned model shows the weight saving (0.26x).
    assert int8["size_ratio_vs_float32"] < (0.3 if recipe == "prune" else 0.5)
    assert len(versions(home)) == pushed_before + 1
    newest = home / "serving" / "taxi" / versions(home)[-1]
    pushed_report = newest / "assets.extra" / "optimization_report.json"
    assert pushed_report.exists()
