"""WindowTransform: TFX's Transform over a SpanWindow, one dataset per span.

TFX's Transform analyzes several Examples artifacts as separate datasets and
caches the analyzers' partial results per dataset (tf.Transform's analyzer
cache, keyed on each dataset's file pattern). A span's Examples never move,
so last run's cache covers every span but the new one: a window of K costs
one span of analysis, not K. TFX wires last run's cache in with a Resolver;
this executor reads it from the span store instead (both runners), and
records the cache it wrote there once the run has succeeded.

The K per-span outputs TFX writes are gathered into the one
`transformed_examples` artifact (`Split-train/span-N-...`), so the Trainer
and Quantizer read it as they read a single span's.
"""
import copy

import tensorflow as tf
from absl import logging
from tfx.components import Transform
from tfx.components.transform import executor as tfx_transform
from tfx.dsl.components.base import executor_spec
from tfx.types import artifact_utils, standard_artifacts
from tfx.types import standard_component_specs as keys

from components.span_window import executor as window_executor
from components.span_window import store


def members_of(window, manifest: dict) -> list:
    """One Examples artifact per window member, oldest first."""
    members = []
    for member in sorted(manifest["members"], key=lambda m: m["span"]):
        examples = standard_artifacts.Examples()
        examples.uri = member["uri"]
        examples.split_names = member["split_names"]
        examples.span = member["span"]
        for name in window_executor.SHARED_PROPERTIES:
            if window.has_custom_property(name):
                examples.set_string_custom_property(
                    name, window.get_string_custom_property(name))
        members.append(examples)
    return members


def gather(per_span: list, members: list, transformed) -> None:
    """Moves each member's transformed splits into `transformed`."""
    splits = artifact_utils.decode_split_names(per_span[0].split_names)
    for split in splits:
        target = f"{transformed.uri.rstrip('/')}/Split-{split}"
        tf.io.gfile.makedirs(target)
        for member, output in zip(members, per_span):
            source = f"{output.uri.rstrip('/')}/Split-{split}"
            for name in tf.io.gfile.listdir(source):
                tf.io.gfile.rename(f"{source}/{name}",
                                   f"{target}/span-{member.span}-{name}")
    for output in per_span:
        tf.io.gfile.rmtree(output.uri)
    transformed.split_names = per_span[0].split_names


class Executor(tfx_transform.Executor):
    """TFX's Transform executor, expanding a window and its analyzer cache."""

    def Do(self, input_dict, output_dict, exec_properties) -> None:
        [window] = input_dict[keys.EXAMPLES_KEY]
        manifest = store.read_manifest(window.uri)
        if manifest is None:  # plain Examples: TFX's Transform exactly
            super().Do(input_dict, output_dict, exec_properties)
            return
        members = members_of(window, manifest)
        inputs = {**input_dict, keys.EXAMPLES_KEY: members}
        cache_uri = store.analyzer_cache_uri(manifest["store"])
        if cache_uri:
            cache = standard_artifacts.TransformCache()
            cache.uri = cache_uri
            inputs[keys.ANALYZER_CACHE_KEY] = [cache]
        logging.info("Window of spans %s; analyzer cache: %s",
                     [m.span for m in members], cache_uri or "none yet")
        # TFX replicates the output per member (under <uri>/<i>) in this copy.
        outputs = copy.copy(output_dict)
        [transformed] = output_dict[keys.TRANSFORMED_EXAMPLES_KEY]
        outputs[keys.TRANSFORMED_EXAMPLES_KEY] = [transformed]
        super().Do(inputs, outputs, exec_properties)
        if len(members) > 1:  # one member is written in place, as by TFX
            gather(outputs[keys.TRANSFORMED_EXAMPLES_KEY], members, transformed)
        for updated in output_dict.get(keys.UPDATED_ANALYZER_CACHE_KEY, []):
            store.record_analyzer_cache(manifest["store"], updated.uri)


class WindowTransform(Transform):
    """TFX's Transform component; its `examples` may be a SpanWindow's."""

    EXECUTOR_SPEC = executor_spec.BeamExecutorSpec(Executor)
