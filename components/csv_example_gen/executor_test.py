"""The null-aware CsvExampleGen executor, run for real (Do() on Beam's
DirectRunner, artifacts made by hand) against TFX's own executor.

Each Do() costs ~2 s of Beam start-up, so every test shares one messy CSV:
numeric (int and float) and string columns with null tokens, quoted cells
holding a token inside longer text or next to commas, and a multi-line cell.
"""
import pathlib

import pytest
import tensorflow as tf
from tfx.components.example_gen.csv_example_gen import executor as tfx_csv
from tfx.proto import example_gen_pb2
from tfx.types import artifact_utils, standard_artifacts
from tfx.types import standard_component_specs as specs
from tfx.utils import proto_utils

from components.csv_example_gen import NULL_VALUES_KEY
from components.csv_example_gen.executor import Executor

SPLITS = ("train", "eval")

# Row ids make every example distinct (hash splits and comparisons stay
# stable); `NA` and `null` sit in an INT, a FLOAT and a string column.
WITH_TOKENS = '''id,count,price,color,note
1,3,1.5,red,plain
2,NA,2.25,blue,"NA, or not"
3,7,NA,NA,"not NA"
4,null,3.0,red,"NA"
5,2,null,"green, light",NAN
6,5,4.75,blue,na
7,1,0.5,null," NA"
8,4,NA,red,"line one
NA"
9,6,2.0,blue,"null"
10,8,1.25,red,NA
'''
# The same table with every whole-cell token written as a blank cell.
WITH_BLANKS = '''id,count,price,color,note
1,3,1.5,red,plain
2,,2.25,blue,"NA, or not"
3,7,,,"not NA"
4,,3.0,red,
5,2,,"green, light",NAN
6,5,4.75,blue,na
7,1,0.5,," NA"
8,4,,red,"line one
NA"
9,6,2.0,blue,
10,8,1.25,red,
'''


def _run(executor_class, csv_text: str, tmp: pathlib.Path,
         **extra) -> dict[str, list[bytes]]:
    """Do() on one CSV; split name -> its tf.Examples, canonically serialized.

    TFX's own output is not byte-reproducible: tf.Example's feature map is
    written in hash order, which differs between two runs of TFX itself. So
    "byte for byte" means the same records, each re-serialized with sorted
    map keys (`deterministic=True`), as a sorted list per split.
    """
    input_base = tmp / "input"
    input_base.mkdir(parents=True)
    (input_base / "data.csv").write_text(csv_text)
    examples = standard_artifacts.Examples()
    examples.uri = str(tmp / "examples")
    exec_properties = {
        specs.INPUT_BASE_KEY: str(input_base),
        specs.INPUT_CONFIG_KEY: proto_utils.proto_to_json(
            example_gen_pb2.Input(splits=[example_gen_pb2.Input.Split(
                name="single_split", pattern="*")])),
        specs.OUTPUT_CONFIG_KEY: proto_utils.proto_to_json(
            example_gen_pb2.Output(split_config=example_gen_pb2.SplitConfig(
                splits=[example_gen_pb2.SplitConfig.Split(
                            name="train", hash_buckets=2),
                        example_gen_pb2.SplitConfig.Split(
                            name="eval", hash_buckets=1)]))),
        **extra,
    }
    executor_class().Do({}, {specs.EXAMPLES_KEY: [examples]}, exec_properties)
    assert artifact_utils.decode_split_names(examples.split_names) == list(
        SPLITS)
    records = {}
    for split in SPLITS:
        files = sorted(tf.io.gfile.glob(f"{examples.uri}/Split-{split}/*"))
        records[split] = sorted(
            tf.train.Example.FromString(r.numpy()).SerializeToString(
                deterministic=True)
            for r in tf.data.TFRecordDataset(files, compression_type="GZIP"))
    return records


def _by_id(records: dict[str, list[bytes]]) -> dict[int, tf.train.Example]:
    examples = {}
    for serialized in (r for split in SPLITS for r in records[split]):
        example = tf.train.Example.FromString(serialized)
        examples[example.features.feature["id"].int64_list.value[0]] = example
    return examples


def _value(example: tf.train.Example, name: str):
    """(kind, values) of one feature: kind is the tf.train.Feature oneof."""
    feature = example.features.feature[name]
    kind = feature.WhichOneof("kind")
    return kind, list(getattr(feature, kind).value) if kind else []


@pytest.fixture(scope="module")
def tfx_on_blanks(tmp_path_factory):
    return _run(tfx_csv.Executor, WITH_BLANKS,
                tmp_path_factory.mktemp("tfx_blanks"))


@pytest.fixture(scope="module")
def ours_on_tokens(tmp_path_factory):
    return _run(Executor, WITH_TOKENS, tmp_path_factory.mktemp("ours_tokens"),
                **{NULL_VALUES_KEY: '["NA", "null"]'})


def test_null_tokens_yield_the_examples_of_blank_cells(ours_on_tokens,
                                                       tfx_on_blanks):
    assert ours_on_tokens == tfx_on_blanks


def test_columns_with_tokens_keep_their_real_type(ours_on_tokens):
    """`NA` no longer turns count/price into strings: a token cell is a
    present feature with zero values of the column's type."""
    examples = _by_id(ours_on_tokens)
    assert len(examples) == 10
    assert _value(examples[1], "count") == ("int64_list", [3])
    assert _value(examples[2], "count") == ("int64_list", [])
    assert _value(examples[4], "count") == ("int64_list", [])
    assert _value(examples[1], "price") == ("float_list", [1.5])
    assert _value(examples[3], "price") == ("float_list", [])
    assert _value(examples[3], "color") == ("bytes_list", [])
    assert _value(examples[7], "color") == ("bytes_list", [])


def test_only_whole_cells_equal_to_a_token_are_blanked(ours_on_tokens):
    examples = _by_id(ours_on_tokens)
    note = {i: _value(examples[i], "note")[1] for i in examples}
    # Untouched: the token inside longer text, next to a comma, on one line
    # of a multi-line cell, with a leading space, in another case.
    assert note[2] == [b"NA, or not"]
    assert note[3] == [b"not NA"]
    assert note[5] == [b"NAN"]
    assert note[6] == [b"na"]
    assert note[7] == [b" NA"]
    assert note[8] == [b"line one\nNA"]
    assert _value(examples[5], "color")[1] == [b"green, light"]
    # Blanked: the parsed cell is the token, quoted or not (as pandas reads
    # a quoted "NA"): quoting is CSV syntax, not part of the value.
    assert note[4] == [] and note[9] == [] and note[10] == []


def test_without_null_values_the_output_is_tfxs_byte_for_byte(tmp_path):
    tfx = _run(tfx_csv.Executor, WITH_TOKENS, tmp_path / "tfx")
    assert tfx == _run(Executor, WITH_TOKENS, tmp_path / "unset")
    assert tfx == _run(Executor, WITH_TOKENS, tmp_path / "empty",
                       **{NULL_VALUES_KEY: "[]"})
    # Tokens that never occur: the extra step is the only difference, and it
    # changes nothing.
    assert tfx == _run(Executor, WITH_TOKENS, tmp_path / "absent",
                       **{NULL_VALUES_KEY: "N/A,-"})
    # TFX's own reading of the tokens, for the record: strings everywhere.
    assert _value(_by_id(tfx)[1], "count") == ("bytes_list", [b"3"])


def test_comma_string_form_is_read_like_the_json_list(ours_on_tokens,
                                                      tmp_path):
    assert _run(Executor, WITH_TOKENS, tmp_path,
                **{NULL_VALUES_KEY: "NA, null"}) == ours_on_tokens


def test_an_unresolved_span_pattern_reads_the_newest_span(tmp_path):
    """Kubeflow OSS runs no ExampleGen driver: the executor resolves {SPAN}."""
    for span, rows in ((1, "1,a\n2,b\n"), (2, "7,c\n8,d\n9,e\n")):
        folder = tmp_path / "data" / f"span-{span}"
        folder.mkdir(parents=True)
        (folder / "data.csv").write_text("id,color\n" + rows)
    examples = standard_artifacts.Examples()
    examples.uri = str(tmp_path / "examples")
    Executor().Do({}, {specs.EXAMPLES_KEY: [examples]}, {
        specs.INPUT_BASE_KEY: str(tmp_path / "data"),
        specs.INPUT_CONFIG_KEY: proto_utils.proto_to_json(example_gen_pb2.Input(
            splits=[example_gen_pb2.Input.Split(name="single_split",
                                                pattern="span-{SPAN}/*")])),
        specs.OUTPUT_CONFIG_KEY: proto_utils.proto_to_json(
            example_gen_pb2.Output(split_config=example_gen_pb2.SplitConfig(
                splits=[example_gen_pb2.SplitConfig.Split(
                    name="train", hash_buckets=1)]))),
    })
    assert examples.span == 2
    assert examples.get_string_custom_property("input_fingerprint")
    files = tf.io.gfile.glob(f"{examples.uri}/Split-train/*")
    ids = sorted(tf.train.Example.FromString(r.numpy()).features.feature[
        "id"].int64_list.value[0]
        for r in tf.data.TFRecordDataset(files, compression_type="GZIP"))
    assert ids == [7, 8, 9]
