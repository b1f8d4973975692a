"""The compiled Kubeflow spec, executed here as open-source KFP would run it.

`tfx-prod compile --run-local` compiles the pipeline, then runs each task's
exact command from the YAML with the ExecutorInput KFP OSS builds (untyped
upstream artifacts, no ExampleGen driver, no resolvers). Two runs: span 1
pushes a model that loads and predicts; a new span 2 is read and trained on
(no {SPAN} resolution from any driver), together with span 1: the second
spec is compiled with `--window 2`.
"""
import json
import os
import pathlib
import shutil

import pandas as pd
import pytest

from tests.helpers import (TRAIN_STEPS, raw_dense_inputs, read_text, tfx_prod,
                           write_span)

pytestmark = pytest.mark.e2e


def _runs(root: pathlib.Path) -> dict:
    """run id -> task -> its ExecutorOutput, from the local execution's files."""
    runs = {}
    for output in sorted((root / "_local_kfp").glob("*/*/output_metadata.json")):
        runs.setdefault(output.parent.parent.name, {})[output.parent.name] = (
            json.loads(output.read_text()))
    return runs


def _compile_and_run(tmp_path, data, serving, root, *flags):
    return tfx_prod("--output", str(tmp_path / "pipeline.yaml"),
                    "--data", str(data), "--serving-dir", str(serving),
                    "--pipeline-root", str(root), "--train-steps", TRAIN_STEPS,
                    "--run-local", *flags, command=("compile",), home=tmp_path)


def test_compiled_spec_runs_as_kfp_oss_would_and_retrains_on_a_new_span(
        tmp_path):
    import tensorflow as tf
    data, serving, root = tmp_path / "data", tmp_path / "serving", tmp_path / "root"
    write_span(data, 1, read_text(3000))
    result, _ = _compile_and_run(tmp_path, data, serving, root)
    assert result.returncode == 0, result.stderr[-3000:]
    [version] = os.listdir(serving / "taxi")
    assert f"pushed {serving / 'taxi' / version}" in result.stdout

    rows = pd.read_csv(data / "span-1" / "data.csv").head(50)
    loaded = tf.saved_model.load(str(serving / "taxi" / version))
    probabilities = loaded.signatures["serving_default"](
        **raw_dense_inputs(rows))["probabilities"].numpy()
    assert probabilities.shape == (50, 1)
    assert ((probabilities[:, 0] > 0.5) == (
        rows["tips"] > 0.2 * rows["fare"]).to_numpy()).mean() > 0.8

    # Span 2: rows the first run never saw; the spec, compiled with a window
    # of two spans, reads it and trains on it and on span 1 (no resolver).
    frame = read_text(4500).iloc[3000:]
    write_span(data, 2, frame)
    result, _ = _compile_and_run(tmp_path, data, serving, root, "--window", "2")
    assert result.returncode == 0, result.stderr[-3000:]
    first, second = sorted(_runs(root).items())
    examples = second[1]["CsvExampleGen"]["artifacts"]["examples"][
        "artifacts"][0]
    assert examples["metadata"]["span"] == 2
    assert "Trainer" in second[1]
    window = second[1]["SpanWindow"]["artifacts"]["window"]["artifacts"][0]
    assert window["metadata"]["window_spans"] == "2,1"
    assert first[1]["CsvExampleGen"]["artifacts"]["examples"]["artifacts"][0][
        "metadata"]["span"] == 1
    # The second baseline is what the first run pushed: no resolver needed.
    baseline = second[1]["ServedBaseline"]["artifacts"]["model"]["artifacts"][0]
    assert baseline["metadata"]["served_version"] == int(version)
    shutil.rmtree(root / "_local_kfp", ignore_errors=True)
