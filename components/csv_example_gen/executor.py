"""CsvExampleGen's executor with one extra step: null tokens become blanks.

TFX's CSV -> tf.Example transform reads each file's records (quote-aware,
multi-line strings kept whole), parses them with tfx_bsl's `ParseCSVLine`
(Python's `csv` module, one record at a time), infers each column's type over
the split and encodes every row. A token such as `NA` in a numeric column
makes the whole column a string there, and in a string column it becomes a
category. This executor inserts `BlankNullTokens` between parsing and type
inference: a cell whose *parsed* value equals a configured token (exact,
whole-cell, case-sensitive; quoting does not protect it, as in pandas) is
replaced by an empty cell. From there on it is TFX's code path, so a null
token is encoded exactly like a blank cell: a present feature with zero
values of the column's type, which the curated schemas already accept
(`value_count {max: 1}`).

With no null values configured, the executor hands the split to TFX's own
`_CsvToExample` untouched: the output is TFX's, byte for byte.

The pieces reused from `tfx.components.example_gen.csv_example_gen.executor`
are private to TFX; TFX is pinned in requirements.lock, and executor_test.py
compares this executor with TFX's on real data so an upgrade that changes
them fails there first.
"""
import re
from typing import Any, Dict, FrozenSet, Iterable, List

from absl import logging
import apache_beam as beam
import tensorflow as tf
from tfx.components.example_gen import driver as example_gen_driver
from tfx.components.example_gen.csv_example_gen import executor as tfx_csv
from tfx.proto import example_gen_pb2
from tfx.types import standard_component_specs
from tfx.utils import io_utils, proto_utils
from tfx_bsl.coders import csv_decoder

from components.csv_example_gen import null_values as null_values_lib

NULL_VALUES_KEY = "null_values"
# A split pattern the ExampleGen driver would have resolved ({SPAN}, ...).
UNRESOLVED = re.compile(r"\{(SPAN|VERSION|YYYY|MM|DD)(:[^}]*)?\}")


def resolve_span(exec_properties: Dict[str, Any],
                 output_dict: Dict[str, List]) -> Dict[str, Any]:
    """Resolves `{SPAN}` patterns when ExampleGen's driver did not run.

    Open-source Kubeflow never runs the driver (`lifecycle.preCacheCheck`),
    so the executor would read the literal pattern `span-{SPAN}/*`. This runs
    TFX's own driver code (newest span and version, input fingerprint) and
    records span/version/fingerprint on the Examples as the driver would. On
    LocalDagRunner the driver already resolved it and this is a no-op.
    """
    input_config = example_gen_pb2.Input()
    proto_utils.json_to_proto(
        exec_properties[standard_component_specs.INPUT_CONFIG_KEY],
        input_config)
    if not any(UNRESOLVED.search(split.pattern)
               for split in input_config.splits):
        return exec_properties
    resolved = example_gen_driver.FileBasedDriver(None).resolve_exec_properties(
        dict(exec_properties), None, None)
    for artifact in output_dict[standard_component_specs.EXAMPLES_KEY]:
        example_gen_driver.update_output_artifact(resolved,
                                                  artifact.mlmd_artifact)
        artifact.span = resolved["span"]  # the Examples' own property too
    logging.info("No ExampleGen driver ran: resolved span %s (version %s) "
                 "here.", resolved["span"], resolved["version"])
    return resolved


def blank_null_tokens(cells: List[bytes],
                      tokens: FrozenSet[bytes]) -> List[bytes]:
    """One parsed CSV record with every null-token cell made empty."""
    return [b"" if cell in tokens else cell for cell in cells]


def _join(base: str, pattern: str) -> str:
    """`input_base` + split pattern, for local paths and URIs alike."""
    return f"{base.rstrip('/')}/{pattern}"


@beam.typehints.with_input_types(beam.Pipeline)
@beam.typehints.with_output_types(tf.train.Example)
class _NullAwareCsvToExample(beam.PTransform):
    """TFX's `_CsvToExample` with `BlankNullTokens` after parsing.

    The steps (and their labels) are TFX's, in TFX's order; only
    'BlankNullTokens' is new.
    """

    def __init__(self, exec_properties: Dict[str, Any], split_pattern: str,
                 tokens: Iterable[str]):
        super().__init__()
        self._csv_pattern = _join(
            exec_properties[standard_component_specs.INPUT_BASE_KEY],
            split_pattern)
        self._tokens = frozenset(token.encode() for token in tokens)

    def expand(self, pipeline: beam.Pipeline):
        logging.info("Processing input csv data %s to TFExample; null tokens "
                     "%s become empty cells.", self._csv_pattern,
                     sorted(self._tokens))
        csv_files = tf.io.gfile.glob(self._csv_pattern)
        if not csv_files:
            raise RuntimeError(f"Split pattern {self._csv_pattern} does not "
                               f"match any files.")
        column_names = io_utils.load_csv_column_names(csv_files[0])
        for csv_file in csv_files[1:]:
            if io_utils.load_csv_column_names(csv_file) != column_names:
                raise RuntimeError(f"Files in same split {self._csv_pattern} "
                                   f"have different header.")
        parsed_csv_lines = (
            pipeline
            | "CreateFilenames" >> beam.Create(csv_files)
            | "ReadFromText" >> beam.ParDo(
                tfx_csv._ReadCsvRecordsFromTextFile())  # pylint: disable=protected-access
            | "ParseCSVLine" >> beam.ParDo(
                csv_decoder.ParseCSVLine(delimiter=","))
            | "ExtractParsedCSVLines" >> beam.Keys()
            | "BlankNullTokens" >> beam.Map(blank_null_tokens, self._tokens))
        column_infos = beam.pvalue.AsSingleton(
            parsed_csv_lines
            | "InferColumnTypes" >> beam.CombineGlobally(
                csv_decoder.ColumnTypeInferrer(column_names,
                                               skip_blank_lines=True)))
        return (parsed_csv_lines
                | "ToTFExample" >> beam.ParDo(
                    tfx_csv._ParsedCsvToTfExample(), column_infos))  # pylint: disable=protected-access


def csv_to_example(exec_properties: Dict[str, Any],
                   split_pattern: str) -> beam.PTransform:
    """The split's CSV -> tf.Example transform: the executor's hook, and the
    way to encode a CSV exactly as the pipeline will (tests, tools)."""
    tokens = null_values_lib.parse(exec_properties.get(NULL_VALUES_KEY))
    if not tokens:
        return tfx_csv._CsvToExample(exec_properties, split_pattern)  # pylint: disable=protected-access
    return _NullAwareCsvToExample(exec_properties, split_pattern, tokens)


class Executor(tfx_csv.Executor):
    """TFX's CSV ExampleGen executor, reading `null_values` (see module doc)."""

    def GetInputSourceToExamplePTransform(self):
        return csv_to_example

    def Do(self, input_dict, output_dict, exec_properties):
        super().Do(input_dict, output_dict,
                   resolve_span(exec_properties, output_dict))
