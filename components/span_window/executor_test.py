"""SpanWindow and WindowTransform run for real: our CsvExampleGen executor
ingests spans, tf.Transform analyzes them on Beam's DirectRunner.

One module-scoped story (each Do() costs seconds of Beam start-up): span 3
arrives with spans 1-2 on disk and an empty store; the next run sees span 4.
tf.Transform's own planner (`get_analysis_dataset_keys`, the function that
decides which datasets the analyzers must read) is observed, not replaced.
"""
import json
import pathlib

import pytest
import tensorflow as tf
import tensorflow_transform as tft
from tensorflow_transform.beam import analysis_graph_builder
from tfx.components.example_gen import driver as example_gen_driver
from tfx.proto import example_gen_pb2
from tfx.types import artifact_utils, standard_artifacts
from tfx.types import standard_component_specs as specs
from tfx.utils import proto_utils

from components.csv_example_gen.executor import Executor as CsvExecutor
from components.span_window import executor as window_lib
from components.span_window import store
from components.span_window.transform import Executor as TransformExecutor

SCHEMA = """
feature { name: "id" type: INT value_count { min: 1 max: 1 } }
feature { name: "fare" type: FLOAT value_count { min: 1 max: 1 } }
feature { name: "color" type: BYTES value_count { min: 1 max: 1 } }
"""
EXAMPLE_GEN_PROPERTIES = {
    specs.INPUT_CONFIG_KEY: proto_utils.proto_to_json(example_gen_pb2.Input(
        splits=[example_gen_pb2.Input.Split(name="single_split",
                                            pattern="span-{SPAN}/*")])),
    specs.OUTPUT_CONFIG_KEY: proto_utils.proto_to_json(example_gen_pb2.Output(
        split_config=example_gen_pb2.SplitConfig(splits=[
            example_gen_pb2.SplitConfig.Split(name="train", hash_buckets=2),
            example_gen_pb2.SplitConfig.Split(name="eval", hash_buckets=1)]))),
}


def preprocessing_fn(inputs):
    """Two analyzers (a mean/var and a vocabulary): what the cache keeps."""
    return {"fare_z": tft.scale_to_z_score(inputs["fare"]),
            "color_id": tft.compute_and_apply_vocabulary(inputs["color"])}


def write_span(data: pathlib.Path, span: int, rows: int = 60) -> None:
    folder = data / f"span-{span}"
    folder.mkdir(parents=True, exist_ok=True)
    lines = ["id,fare,color"] + [
        f"{span * 1000 + i},{span + i * 0.5},{('red', 'blue', 'green')[i % 3]}"
        for i in range(rows)]
    (folder / "data.csv").write_text("\n".join(lines) + "\n")


def ingest_newest(data: pathlib.Path, out: pathlib.Path):
    """What the pipeline's CsvExampleGen does for the newest span."""
    properties = example_gen_driver.FileBasedDriver(None).resolve_exec_properties(
        {**EXAMPLE_GEN_PROPERTIES, specs.INPUT_BASE_KEY: str(data)}, None, None)
    examples = standard_artifacts.Examples()
    examples.uri = str(out)
    example_gen_driver.update_output_artifact(properties, examples.mlmd_artifact)
    CsvExecutor().Do({}, {specs.EXAMPLES_KEY: [examples]}, properties)
    return examples


def span_window(newest, data, span_store, out, size):
    window = standard_artifacts.Examples()
    window.uri = str(out)
    window_lib.Executor().Do(
        {window_lib.EXAMPLES_KEY: [newest]}, {window_lib.WINDOW_KEY: [window]},
        {window_lib.WINDOW_SIZE_KEY: size, window_lib.SPAN_STORE_KEY: span_store,
         window_lib.INPUT_BASE_KEY: str(data),
         window_lib.EXAMPLE_GEN_PROPERTIES_KEY: json.dumps(
             EXAMPLE_GEN_PROPERTIES)})
    return window


def transform(window, schema_dir, out: pathlib.Path, analyzed: list):
    """WindowTransform's Do(); `analyzed` gets the datasets tf.Transform
    chose to read for analysis (those the cache did not cover)."""
    outputs = {}
    for key, kind in ((specs.TRANSFORM_GRAPH_KEY, standard_artifacts.TransformGraph),
                      (specs.TRANSFORMED_EXAMPLES_KEY, standard_artifacts.Examples),
                      (specs.UPDATED_ANALYZER_CACHE_KEY,
                       standard_artifacts.TransformCache)):
        artifact = kind()
        artifact.uri = str(out / key)
        outputs[key] = [artifact]
    schema = standard_artifacts.Schema()
    schema.uri = str(schema_dir)
    TransformExecutor().Do(
        {specs.EXAMPLES_KEY: [window], specs.SCHEMA_KEY: [schema]}, outputs,
        {specs.PREPROCESSING_FN_KEY: f"{__name__}.preprocessing_fn",
         specs.DISABLE_STATISTICS_KEY: 1})
    return outputs


def spans_and_schema(tmp: pathlib.Path, spans=(1,)):
    """A data root holding `spans`, and a schema folder."""
    data, schema_dir = tmp / "data", tmp / "schema"
    schema_dir.mkdir()
    (schema_dir / "schema.pbtxt").write_text(SCHEMA)
    for span in spans:
        write_span(data, span)
    return data, schema_dir


@pytest.fixture(scope="module")
def story(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("window")
    data, schema_dir = spans_and_schema(tmp, spans=(1, 2, 3))
    span_store = str(tmp / "store")
    analyzed = []
    planner = analysis_graph_builder.get_analysis_dataset_keys

    def observed(*args, **kwargs):
        keys = planner(*args, **kwargs)
        analyzed.append(sorted(str(key) for key in keys))
        return keys

    analysis_graph_builder.get_analysis_dataset_keys = observed
    try:
        first = span_window(ingest_newest(data, tmp / "eg3"), data, span_store,
                            tmp / "w1", size=3)
        first_index = store.read_index(span_store)
        first_out = transform(first, schema_dir, tmp / "t1", analyzed)
        write_span(data, 4)
        second = span_window(ingest_newest(data, tmp / "eg4"), data,
                             span_store, tmp / "w2", size=3)
        second_out = transform(second, schema_dir, tmp / "t2", analyzed)
    finally:
        analysis_graph_builder.get_analysis_dataset_keys = planner
    return {"tmp": tmp, "store": span_store, "first": first,
            "second": second, "first_index": first_index,
            "second_out": second_out, "first_out": first_out,
            "analyzed": analyzed}


def test_window_spans_newest_first_and_short_windows():
    assert window_lib.window_spans(5, [7, 5, 4, 2, 1], 3) == [5, 4, 2]
    assert window_lib.window_spans(2, [2, 1], 3) == [2, 1]


def test_the_first_window_ingests_the_older_spans_once(story):
    manifest = store.read_manifest(story["first"].uri)
    assert [m["span"] for m in manifest["members"]] == [3, 2, 1]
    index = story["first_index"]
    assert index[3]["uri"] == str(story["tmp"] / "eg3")
    for span in (1, 2):  # not run by CsvExampleGen: ingested into the store
        assert index[span]["uri"].startswith(story["store"])
        assert tf.io.gfile.glob(f"{index[span]['uri']}/Split-train/*")
    assert story["first"].get_string_custom_property(
        window_lib.WINDOW_SPANS) == "3,2,1"
    members = json.loads(story["first"].get_string_custom_property(
        window_lib.WINDOW_MEMBERS))
    assert [m["fingerprint"] for m in members] == [
        index[s]["fingerprint"] for s in (3, 2, 1)]


def test_the_next_window_reuses_every_span_it_already_holds(story):
    manifest = store.read_manifest(story["second"].uri)
    uris = {m["span"]: m["uri"] for m in manifest["members"]}
    assert sorted(uris) == [2, 3, 4]
    assert uris[3] == story["first_index"][3]["uri"]
    assert uris[2] == story["first_index"][2]["uri"]
    assert uris[4] == str(story["tmp"] / "eg4")


def test_a_span_whose_files_changed_is_ingested_again(story, tmp_path):
    data = story["tmp"] / "data"
    write_span(data, 2, rows=61)  # new size: a new input fingerprint
    before = store.read_index(story["store"])[2]["uri"]
    window = span_window(ingest_newest(data, tmp_path / "eg"), data,
                         story["store"], tmp_path / "w", size=3)
    again = {m["span"]: m["uri"] for m in
             store.read_manifest(window.uri)["members"]}[2]
    assert again != before and tf.io.gfile.exists(again)


def test_the_analyzer_cache_leaves_only_the_new_span_to_analyze(story):
    first, second = story["analyzed"]
    assert len(first) == 3  # no cache yet: every span is analyzed
    assert len(second) == 1 and "eg4-Split-train" in second[0], second
    recorded = store.analyzer_cache_uri(story["store"])
    assert recorded == story["second_out"][
        specs.UPDATED_ANALYZER_CACHE_KEY][0].uri


def test_every_member_is_transformed_into_one_artifact(story):
    transformed = story["second_out"][specs.TRANSFORMED_EXAMPLES_KEY][0]
    # (TFX makes a set of the members' split names: any order.)
    assert sorted(artifact_utils.decode_split_names(
        transformed.split_names)) == ["eval", "train"]
    for split in ("train", "eval"):
        names = sorted(tf.io.gfile.listdir(f"{transformed.uri}/Split-{split}"))
        assert [n.split("-")[1] for n in names] == ["2", "3", "4"], names
    assert sorted(tf.io.gfile.listdir(transformed.uri)) == [
        "Split-eval", "Split-train"]


def test_a_window_of_one_span_is_transformed_in_place(tmp_path):
    """The first run of `--window 3` has one span: TFX writes it in place."""
    data, schema_dir = spans_and_schema(tmp_path)
    window = span_window(ingest_newest(data, tmp_path / "eg"), data,
                         str(tmp_path / "store"), tmp_path / "w", size=3)
    outputs = transform(window, schema_dir, tmp_path / "t", [])
    transformed = outputs[specs.TRANSFORMED_EXAMPLES_KEY][0]
    for split in ("train", "eval"):
        assert tf.io.gfile.glob(f"{transformed.uri}/Split-{split}/*")


def test_a_plain_examples_artifact_is_tfx_transform_exactly(tmp_path):
    data, schema_dir = spans_and_schema(tmp_path)
    outputs = transform(ingest_newest(data, tmp_path / "eg"), schema_dir,
                        tmp_path / "t", [])
    transformed = outputs[specs.TRANSFORMED_EXAMPLES_KEY][0]
    assert tf.io.gfile.glob(
        f"{transformed.uri}/Split-train/transformed_examples-*")
