"""Session fixtures shared by every test directory (registered by the root
conftest.py, so tests/ and serving/ share ONE real pipeline run).

- `transformed`: the real taxi preprocessing_fn through TFT on Beam.
- `first_run`: one cold `tfx-prod run`; `fork`: a private home that starts
  where it left off.
"""
import os
import shutil

import pandas as pd
import pytest

from tests.helpers import (ROWS, TAXI_CSV, TRAIN_STEPS, raw_feature_spec,
                           read_text, rows_as_instances, tfx_prod, write_span)


@pytest.fixture(scope="session")
def taxi_sample() -> pd.DataFrame:
    return pd.read_csv(TAXI_CSV).sample(n=600, random_state=7)


@pytest.fixture(scope="session")
def transformed(tmp_path_factory, taxi_sample):
    """Runs the real preprocessing_fn through TFT on Beam; returns
    (transform_output_dir, transformed instances, raw sample)."""
    import tensorflow as tf
    import tensorflow_transform as tft
    import tensorflow_transform.beam as tft_beam
    from tensorflow_transform.tf_metadata import (dataset_metadata, metadata_io,
                                                 schema_utils)

    from modules.taxi.preprocessing import preprocessing_fn

    work = tmp_path_factory.mktemp("tft")
    # Beam does not keep row order (under load, bundles come back shuffled):
    # each row carries its position through the transform, and is put back.
    position = "__row_position"

    def keeping_position(inputs):
        outputs = preprocessing_fn(
            {k: v for k, v in inputs.items() if k != position})
        return {**outputs, position: inputs[position]}

    metadata = dataset_metadata.DatasetMetadata(
        schema_utils.schema_from_feature_spec(raw_feature_spec()))
    with_position = dataset_metadata.DatasetMetadata(
        schema_utils.schema_from_feature_spec(
            {**raw_feature_spec(),
             position: tf.io.FixedLenFeature([], tf.int64)}))
    instances = rows_as_instances(taxi_sample)
    with tft_beam.Context(temp_dir=str(work / "tmp")):
        (data, _), _ = (
            ([{**row, position: i} for i, row in enumerate(instances)],
             with_position)
            | tft_beam.AnalyzeAndTransformDataset(keeping_position))
        # The graph the model serves with: the same analysis, no position.
        transform_fn = ((instances, metadata)
                        | tft_beam.AnalyzeDataset(preprocessing_fn))
        output_dir = str(work / "transform_output")
        _ = transform_fn | tft_beam.WriteTransformFn(output_dir)
    data = sorted(data, key=lambda row: int(row[position]))
    assert [int(row.pop(position)) for row in data] == list(range(len(data)))
    # TFX's Transform also writes the raw schema; serving signatures read it.
    metadata_io.write_metadata(metadata, os.path.join(
        output_dir, tft.TFTransformOutput.RAW_METADATA_DIR))
    assert tft.TFTransformOutput(output_dir).transformed_feature_spec()
    return output_dir, data, taxi_sample



@pytest.fixture(scope="session")
def small_data(tmp_path_factory):
    return write_span(tmp_path_factory.mktemp("data"), 1, read_text(ROWS))


@pytest.fixture(scope="session")
def _live_serving(tmp_path_factory):
    """The serving dir of the first run and of every fork (see `fork`)."""
    root = tmp_path_factory.mktemp("live")
    return root / "serving", root / "pristine"


def _reset(live, pristine):
    if live.exists():
        shutil.rmtree(live)
    shutil.copytree(pristine, live, symlinks=True)


@pytest.fixture(scope="session")
def first_run(tmp_path_factory, small_data, _live_serving):
    """The one cold run every end-to-end scenario starts from.

    Read-only for tests: a scenario that runs again uses `fork`.
    """
    live, pristine = _live_serving
    home = tmp_path_factory.mktemp("home")
    live.mkdir(parents=True)
    (home / "serving").symlink_to(live, target_is_directory=True)
    result, summary = tfx_prod("--train-steps", TRAIN_STEPS, home=home,
                               data=small_data)
    shutil.copytree(live, pristine, symlinks=True)
    return home, result, summary


@pytest.fixture
def fork(first_run, tmp_path, _live_serving):
    """A private home that starts exactly where the first run left off.

    Copies ML Metadata and the saved summaries; the artifacts stay where the
    first run wrote them (MLMD records absolute URIs), so every cached step
    is reused. The serving dir must keep its path (it is part of the cache
    key), so forks share the first run's path and the fixture resets its
    content to what the first run left, before and after each scenario:
    scenarios depend neither on each other nor on their order.
    """
    home, result, _ = first_run
    assert result.returncode == 0, "the shared first run failed"
    live, pristine = _live_serving
    _reset(live, pristine)
    forked = tmp_path / "home"
    (forked / "pipeline").mkdir(parents=True)
    shutil.copy2(home / "pipeline" / "metadata.sqlite", forked / "pipeline")
    if (home / "pipeline" / "summaries").exists():
        shutil.copytree(home / "pipeline" / "summaries",
                        forked / "pipeline" / "summaries")
    (forked / "serving").symlink_to(live, target_is_directory=True)
    yield forked
    _reset(live, pristine)

