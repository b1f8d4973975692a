"""SpanWindow executor: the newest K spans, each ingested once.

CsvExampleGen ingests the newest span (and is cached per span, as always).
This step records it in the span store, then finds the K-1 spans before it
under `input_base`: a span the store already holds with the same input
fingerprint is reused; any other is ingested here, into the store, with the
same CsvExampleGen executor and settings (so a window of 3 on a first run
costs three ingestions, and on every later run one). The output is a
manifest, not a copy: WindowTransform analyzes each member as its own
dataset, so the analyzer cache can reuse every span but the new one.
"""
import json
from typing import Any, Dict, List

import tensorflow as tf
from absl import logging
from tfx import types
from tfx.components.example_gen import driver as example_gen_driver
from tfx.components.example_gen import utils as example_gen_utils
from tfx.dsl.components.base import base_beam_executor
from tfx.proto import range_config_pb2
from tfx.types import standard_artifacts, standard_component_specs
from tfx.utils import proto_utils

from components.csv_example_gen import executor as csv_example_gen
from components.span_window import store

EXAMPLES_KEY = "examples"
WINDOW_KEY = "window"
WINDOW_SIZE_KEY = "window_size"
SPAN_STORE_KEY = "span_store"
INPUT_BASE_KEY = standard_component_specs.INPUT_BASE_KEY
# JSON: CsvExampleGen's other exec properties (input/output config, formats,
# null values), so older spans are encoded exactly as the newest was.
EXAMPLE_GEN_PROPERTIES_KEY = "example_gen_properties"
WINDOW_SPANS = store.WINDOW_SPANS
WINDOW_MEMBERS = store.WINDOW_MEMBERS
# Examples properties every member shares (file and payload format): what
# WindowTransform gives each member so TFX decodes it.
SHARED_PROPERTIES = ("file_format", "payload_format")


def span_of(artifact: types.Artifact) -> int:
    """The span ExampleGen recorded (custom property, else the property)."""
    if artifact.has_custom_property(example_gen_utils.SPAN_PROPERTY_NAME):
        return artifact.get_int_custom_property(
            example_gen_utils.SPAN_PROPERTY_NAME)
    return int(artifact.span)


def spans_under(input_base: str) -> list[int]:
    """Every `span-N` directory under the data root, newest first."""
    spans = []
    for path in tf.io.gfile.glob(f"{input_base.rstrip('/')}/span-*"):
        suffix = path.rstrip("/").rpartition("/span-")[2]
        if suffix.isdigit() and tf.io.gfile.isdir(path):
            spans.append(int(suffix))
    return sorted(spans, reverse=True)


def window_spans(newest: int, available: list[int], size: int) -> list[int]:
    """The newest span and the size-1 spans before it, newest first."""
    older = [span for span in available if span < newest]
    return [newest] + sorted(older, reverse=True)[:size - 1]


class Executor(base_beam_executor.BaseBeamExecutor):
    """Writes the window manifest; ingests spans the store lacks."""

    def Do(self, input_dict: Dict[str, List[types.Artifact]],
           output_dict: Dict[str, List[types.Artifact]],
           exec_properties: Dict[str, Any]) -> None:
        [newest] = input_dict[EXAMPLES_KEY]
        [window] = output_dict[WINDOW_KEY]
        size = int(exec_properties[WINDOW_SIZE_KEY])
        span_store = exec_properties[SPAN_STORE_KEY]
        input_base = exec_properties[INPUT_BASE_KEY]
        newest_span = span_of(newest)

        index = store.read_index(span_store)
        index[newest_span] = _entry(newest)
        spans = window_spans(newest_span, spans_under(input_base), size)
        for span in spans[1:]:
            properties = self._span_properties(exec_properties, span)
            fingerprint = properties[example_gen_utils.FINGERPRINT_PROPERTY_NAME]
            if store.reusable(index.get(span), fingerprint):
                logging.info("Span %d: reusing %s", span, index[span]["uri"])
                continue
            index[span] = _entry(self._ingest(span_store, span, properties))
        store.write_index(span_store, index)

        members = [{"span": span, **index[span]} for span in spans]
        store.write_manifest(window.uri, span_store, members)
        window.split_names = newest.split_names
        window.span = newest_span
        window.set_int_custom_property(example_gen_utils.SPAN_PROPERTY_NAME,
                                       newest_span)
        window.set_string_custom_property(
            WINDOW_SPANS, ",".join(str(span) for span in spans))
        window.set_string_custom_property(WINDOW_MEMBERS, json.dumps(
            [{"span": m["span"], "fingerprint": m["fingerprint"]}
             for m in members]))
        for name in SHARED_PROPERTIES:  # how every member is encoded
            if newest.has_custom_property(name):
                window.set_string_custom_property(
                    name, newest.get_string_custom_property(name))
        if len(spans) < size:
            logging.warning("Window of %d spans asked, %d exist up to span %d: "
                            "training on %s.", size, len(spans), newest_span,
                            spans)

    def _span_properties(self, exec_properties, span: int) -> Dict[str, Any]:
        """CsvExampleGen's exec properties for one span, resolved by TFX's
        driver code (pattern, version, input fingerprint)."""
        properties = json.loads(exec_properties[EXAMPLE_GEN_PROPERTIES_KEY])
        properties[INPUT_BASE_KEY] = exec_properties[INPUT_BASE_KEY]
        properties[standard_component_specs.RANGE_CONFIG_KEY] = (
            proto_utils.proto_to_json(range_config_pb2.RangeConfig(
                static_range=range_config_pb2.StaticRange(
                    start_span_number=span, end_span_number=span))))
        return example_gen_driver.FileBasedDriver(None).resolve_exec_properties(
            properties, None, None)

    def _ingest(self, span_store: str, span: int, properties) -> types.Artifact:
        examples = standard_artifacts.Examples()
        examples.uri = store.ingest_uri(
            span_store, span,
            properties[example_gen_utils.FINGERPRINT_PROPERTY_NAME])
        if tf.io.gfile.exists(examples.uri):  # a run that died mid-way
            tf.io.gfile.rmtree(examples.uri)
        example_gen_driver.update_output_artifact(properties,
                                                  examples.mlmd_artifact)
        logging.info("Span %d: not in the span store, ingesting into %s",
                     span, examples.uri)
        csv_example_gen.Executor(self._context).Do(
            {}, {EXAMPLES_KEY: [examples]}, properties)
        return examples


def _entry(examples: types.Artifact) -> dict:
    return {"uri": examples.uri, "split_names": examples.split_names,
            "fingerprint": examples.get_string_custom_property(
                example_gen_utils.FINGERPRINT_PROPERTY_NAME)}
