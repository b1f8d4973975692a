"""Pusher executor: check the blessing, skip what is already served, publish.

`Do` is bookkeeping (artifacts in, properties out); the publishing protocol is
`publish.py`; the version layout is `serving/layout.py`.
"""
import datetime
import json
from typing import Any, Dict, List, Optional

from absl import logging
import tensorflow as tf
from tfx import types
from tfx.dsl.components.base import base_executor
from tfx.proto import pusher_pb2
from tfx.types import artifact_utils
from tfx.utils import path_utils, proto_utils

from components.pusher import encryption as pusher_encryption
from components.pusher import publish
from components.pusher import signing as pusher_signing
from components.span_window import store as span_window
from serving import layout

# Channel and parameter keys (TFX's names where TFX has them).
MODEL_KEY = "model"
MODEL_BLESSING_KEY = "model_blessing"
SCHEMA_KEY = "schema"
STATISTICS_KEY = "statistics"
EXAMPLES_KEY = "examples"
# A SpanWindow's output: the spans trained on, when more than the newest.
TRAINING_EXAMPLES_KEY = "training_examples"
TRANSFORM_GRAPH_KEY = "transform_graph"
RECIPE_KEY = "recipe"      # JSON: the training recipe and its settings
SOURCE_KEY = "source"      # JSON: git commit, dirty, diff and code digests
PUSHED_MODEL_KEY = "pushed_model"
PUSH_DESTINATION_KEY = "push_destination"
MODEL_BASE_KEY = "model_base"
PIPELINE_NAME_KEY = "pipeline_name"
TRAINED_WITH_KEY = "trained_with"
SERVING_STATE_KEY = "serving_state_key"

# Output properties; the first three are TFX Pusher's own.
PUSHED = "pushed"
PUSHED_DESTINATION = "pushed_destination"
PUSHED_VERSION = "pushed_version"
MODEL_DIGEST = "model_digest"
PAYLOAD_DIGEST = "payload_digest"
SOURCE_MODEL_ID = "source_model_id"
ALREADY_SERVING = "already_serving"
SIGNED_BY = "signed_by"    # the signing key's id; "" for an unsigned push
ENCRYPTED_WITH = "encrypted_with"  # the KEK's id; "" for a plaintext push

PUSH_RECORD_FILE = "push.json"  # in the PushedModel artifact's own dir
TRAIN_SPLIT = "train"


def _is_blessed(blessing: types.Artifact) -> bool:
    return (blessing.has_custom_property("blessed")
            and blessing.get_int_custom_property("blessed") == 1)


def _artifact_facts(artifact: types.Artifact) -> dict:
    """id, uri and scalar custom properties: what lineage wants to know."""
    facts = {"id": artifact.id, "uri": artifact.uri}
    for name, value in artifact.mlmd_artifact.custom_properties.items():
        kind = value.WhichOneof("value")
        if kind in ("int_value", "double_value", "string_value"):
            facts[name] = getattr(value, kind)
    return facts


def model_base_of(exec_properties) -> str:
    """The model base: `model_base`, else the destination's base directory."""
    if exec_properties.get(MODEL_BASE_KEY):
        return exec_properties[MODEL_BASE_KEY].rstrip("/")
    destination = pusher_pb2.PushDestination()
    proto_utils.json_to_proto(exec_properties[PUSH_DESTINATION_KEY],
                              destination)
    return destination.filesystem.base_directory.rstrip("/")


class Executor(base_executor.BaseExecutor):
    """Publishes a blessed model; never reports a version that holds another."""

    def Do(self, input_dict: Dict[str, List[types.Artifact]],
           output_dict: Dict[str, List[types.Artifact]],
           exec_properties: Dict[str, Any]) -> None:
        self._log_startup(input_dict, output_dict, exec_properties)
        pushed = artifact_utils.get_single_instance(
            output_dict[PUSHED_MODEL_KEY])
        blessing = artifact_utils.get_single_instance(
            input_dict[MODEL_BLESSING_KEY])
        if not _is_blessed(blessing):
            logging.info("Model blessing %s is not blessed: nothing pushed.",
                         blessing.uri)
            pushed.set_int_custom_property(PUSHED, 0)
            return
        model_base = model_base_of(exec_properties)
        signer = pusher_signing.from_environment()
        encrypter = pusher_encryption.from_environment()
        model = artifact_utils.get_single_instance(input_dict[MODEL_KEY])
        model_dir = path_utils.serving_model_path(model.uri)
        digest, payload = layout.directory_digests(model_dir)

        newest = publish.newest_complete(model_base) if tf.io.gfile.isdir(
            model_base) else None
        if newest and pusher_encryption.payload_digest(
                layout.version_dir(model_base, newest[0]), newest[1],
                encrypter) == payload and (
                not layout.changed_files(layout.version_dir(
                    model_base, newest[0]), newest[1])) and (
                signer is None or pusher_signing.signed_by(
                    signer, layout.version_dir(model_base, newest[0]))):
            # A re-run after a crash that followed the publish, or a model
            # that is already the one served: never a duplicate version.
            version, already = newest[0], True
            logging.info("Version %s already serves this model; not pushing "
                         "it again.", version)
        else:
            def write_metadata(target: str) -> None:
                self._write_metadata(target, input_dict, exec_properties,
                                     model, blessing, digest, run_id)
            run_id = self._context.pipeline_run_id if self._context else None
            version, already = publish.publish(
                model_base, model_dir, write_metadata,
                sign=signer.sign if signer else None,
                new_sealer=encrypter.sealer if encrypter else None), False
        target = layout.version_dir(model_base, version)
        manifest = layout.read_manifest(target)
        if manifest is None or pusher_encryption.payload_digest(
                target, manifest, encrypter) != payload:
            raise RuntimeError(
                f"{target} does not hold the model that was pushed (its "
                "manifest is missing or lists other files). Another process "
                "is writing into this serving directory; nothing is reported "
                "as pushed.")
        pushed.set_int_custom_property(PUSHED, 1)
        pushed.set_string_custom_property(PUSHED_DESTINATION, target)
        pushed.set_string_custom_property(PUSHED_VERSION, str(version))
        pushed.set_string_custom_property(MODEL_DIGEST, digest)
        pushed.set_string_custom_property(PAYLOAD_DIGEST, payload)
        pushed.set_int_custom_property(SOURCE_MODEL_ID, model.id)
        pushed.set_int_custom_property(ALREADY_SERVING, int(already))
        signed_by = signer.key_id if signer else ""
        pushed.set_string_custom_property(SIGNED_BY, signed_by)
        encrypted_with = encrypter.key_id if encrypter else ""
        pushed.set_string_custom_property(ENCRYPTED_WITH, encrypted_with)
        with tf.io.gfile.GFile(layout.join(pushed.uri, PUSH_RECORD_FILE),
                               "w") as f:
            f.write(json.dumps({"destination": target, "version": version,
                                "already_serving": already,
                                "signed_by": signed_by,
                                "encrypted_with": encrypted_with}))
        logging.info("Model %s serves as version %s at %s.", model.uri,
                     version, target)

    @staticmethod
    def _write_metadata(target: str, input_dict, exec_properties,
                        model: types.Artifact, blessing: types.Artifact,
                        digest: str, run_id) -> None:
        """lineage.json first (its age dates a push), then schema and stats.

        Lineage: the pipeline and run; the examples (span, version, content
        fingerprint) and, for a window, every span trained on with its
        fingerprint; the Transform graph; the recipe and its settings; the
        source (git commit, dirty + diff digest, code digest); the model
        (the Quantizer's choice on its properties); the blessing (verdict
        and the served version it was compared with).
        """
        meta = layout.join(target, layout.META_DIR)
        tf.io.gfile.makedirs(meta)
        lineage = {
            "pipeline_name": exec_properties[PIPELINE_NAME_KEY],
            "pushed_at": datetime.datetime.now(datetime.timezone.utc)
                         .isoformat(timespec="seconds"),
            "model_digest": digest,
            "model": _artifact_facts(model),
            "blessing": _artifact_facts(blessing),
        }
        examples = _single_or_none(input_dict, EXAMPLES_KEY)
        if examples is not None:
            # What ServedBaseline's `examples` exclusion matches on.
            lineage["examples"] = _artifact_facts(examples)
        window = _single_or_none(input_dict, TRAINING_EXAMPLES_KEY)
        if (window is not None
                and window.has_custom_property(span_window.WINDOW_MEMBERS)):
            lineage["training_spans"] = json.loads(
                window.get_string_custom_property(span_window.WINDOW_MEMBERS))
        if exec_properties.get(TRAINED_WITH_KEY):
            lineage["trained_with"] = exec_properties[TRAINED_WITH_KEY]
        transform_graph = _single_or_none(input_dict, TRANSFORM_GRAPH_KEY)
        if transform_graph is not None:
            lineage["transform_graph"] = _artifact_facts(transform_graph)
        for key in (RECIPE_KEY, SOURCE_KEY):
            if exec_properties.get(key):
                lineage[key] = json.loads(exec_properties[key])
        lineage["run_id"] = run_id
        with tf.io.gfile.GFile(layout.join(target, layout.LINEAGE_FILE),
                               "w") as f:
            f.write(json.dumps(lineage, indent=2, sort_keys=True))
        schema = _single_or_none(input_dict, SCHEMA_KEY)
        if schema is not None:
            tf.io.gfile.copy(layout.join(schema.uri, "schema.pbtxt"),
                             layout.join(target, layout.SCHEMA_FILE),
                             overwrite=True)
        statistics = _single_or_none(input_dict, STATISTICS_KEY)
        if statistics is not None:
            source = layout.join(artifact_utils.get_split_uri(
                [statistics], TRAIN_SPLIT), "FeatureStats.pb")
            tf.io.gfile.copy(source, layout.join(target,
                                                 layout.STATISTICS_FILE),
                             overwrite=True)


def _single_or_none(input_dict, key: str) -> Optional[types.Artifact]:
    artifacts = input_dict.get(key) or []
    return artifacts[0] if artifacts else None
