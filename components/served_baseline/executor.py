"""ServedBaseline: pick the served version, and copy it into a Model artifact.

`eligible_versions` is the one rule both the driver (for the cache key) and
the executor (for the result) apply, so a cached result is reused exactly
when the result would be the same: complete versions under the model base
(none newer than the stable version, when a rollout-enabled server keeps
its state there: newer ones are a canary in progress or rolled back),
minus those holding the candidate's own SavedModel (a model is never its
own baseline) and minus those a Trainer with the same `trained_with`
fingerprint made from the given examples (a Trainer's `base_model` is "what
was served before this very training first ran", so a re-run after its own
push finds the same teacher).

The copy (not a reference) keeps the baseline immutable for lineage, whatever
later happens to the serving directory, and gives TFX's Evaluator and Trainer
the `<uri>/Format-Serving` layout they read. An encrypted version
(serving/encryption.py) is copied decrypted with $TFX_PROD_ENCRYPTION_KEY:
the pipeline root holds plaintext models anyway; only the serving
directory is encrypted at rest. Its model digest is the one the Pusher
recorded in lineage.json (the manifest lists ciphertext).
"""
import hashlib
import json
import os
from typing import Any, Dict, List, Optional

from absl import logging
from tfx import types
from tfx.dsl.components.base import base_executor
from tfx.types import artifact_utils
from tfx.utils import io_utils, path_utils

from serving import encryption, layout
from serving.rollout_state import served_stable

# Channel and parameter keys.
CANDIDATE_KEY = "candidate"
EXAMPLES_KEY = "examples"
MODEL_KEY = "model"
MODEL_BASE_KEY = "model_base"
TRAINED_WITH_KEY = "trained_with"
SERVING_STATE_KEY = "serving_state_key"

# Output properties: `served_version` 0 means nothing is served yet.
SERVED_VERSION = "served_version"
SERVED_PATH = "served_path"
MODEL_DIGEST = "model_digest"


def has_model(artifact: types.Artifact) -> bool:
    """True if a ServedBaseline output holds a model (something was served)."""
    return (artifact.has_custom_property(SERVED_VERSION)
            and artifact.get_int_custom_property(SERVED_VERSION) > 0)


def _single(input_dict, key) -> Optional[types.Artifact]:
    artifacts = input_dict.get(key) or []
    return artifacts[0] if artifacts else None


def made_by(lineage: dict, examples_uri: str, trained_with: str) -> bool:
    """Was this version trained on `examples_uri` by a `trained_with` Trainer?"""
    return ((lineage.get("examples") or {}).get("uri") == examples_uri
            and lineage.get("trained_with") == trained_with)


def _model_digest(root: str, manifest: dict) -> Optional[str]:
    """The served model's digest; for an encrypted version, the plaintext
    digest the Pusher recorded in its lineage."""
    if encryption.read_envelope(root) is None:
        return layout.model_digest(manifest)
    return layout.read_lineage(root).get("model_digest")


def _copy_version(source: str, target: str) -> None:
    if encryption.read_envelope(source) is None:
        io_utils.copy_dir(source, target)
        return
    spec = os.environ.get(encryption.ENCRYPTION_KEY_ENV)
    try:
        encryption.decrypt_to(source, encryption.load_keys(spec)
                              if spec else {}, target)
    except (encryption.EncryptionError, encryption.KeyFileError) as e:
        raise encryption.EncryptionError(
            f"ServedBaseline: {source}: {e}. Set "
            f"${encryption.ENCRYPTION_KEY_ENV} (`tfx-prod run "
            "--encryption-key`) to a key "
            "that decrypts it; after a rotation, `tfx-prod keys rewrap` "
            "first") from None


def eligible_versions(model_base: str, input_dict,
                      trained_with: Optional[str] = None
                      ) -> list[tuple[int, dict]]:
    """(version, manifest) of every version the baseline may be, ascending."""
    candidate = _single(input_dict, CANDIDATE_KEY)
    examples = _single(input_dict, EXAMPLES_KEY)
    excluded_model = (layout.saved_model_digest(path_utils.serving_model_path(
        candidate.uri)) if candidate else None)
    eligible = []
    stable = served_stable(model_base)
    for version in layout.complete_versions(model_base):
        if stable is not None and version > stable:
            continue
        root = layout.version_dir(model_base, version)
        manifest = layout.read_manifest(root)
        if excluded_model and _model_digest(root, manifest) == excluded_model:
            continue
        if examples and made_by(layout.read_lineage(root), examples.uri,
                                trained_with):
            continue
        eligible.append((version, manifest))
    return eligible


def state_key(model_base: str, input_dict,
              trained_with: Optional[str] = None) -> str:
    """Digest of the eligible versions: equal keys, equal results."""
    entries = [[version, layout.manifest_digest(manifest)]
               for version, manifest in eligible_versions(
                   model_base, input_dict, trained_with)]
    return hashlib.sha256(json.dumps(entries).encode()).hexdigest()[:16]


class Executor(base_executor.BaseExecutor):
    """Resolves the served model; an empty Model (served_version 0) if none."""

    def Do(self, input_dict: Dict[str, List[types.Artifact]],
           output_dict: Dict[str, List[types.Artifact]],
           exec_properties: Dict[str, Any]) -> None:
        self._log_startup(input_dict, output_dict, exec_properties)
        output = artifact_utils.get_single_instance(output_dict[MODEL_KEY])
        model_base = exec_properties[MODEL_BASE_KEY].rstrip("/")
        eligible = eligible_versions(model_base, input_dict,
                                     exec_properties.get(TRAINED_WITH_KEY))
        if not eligible:
            logging.info("Nothing served under %s (or only the candidate "
                         "itself): no baseline.", model_base)
            output.set_int_custom_property(SERVED_VERSION, 0)
            return
        version, manifest = eligible[-1]
        source = layout.version_dir(model_base, version)
        _copy_version(source, path_utils.serving_model_dir(output.uri))
        output.set_int_custom_property(SERVED_VERSION, version)
        output.set_string_custom_property(SERVED_PATH, source)
        output.set_string_custom_property(
            MODEL_DIGEST, _model_digest(source, manifest) or "")
        logging.info("Served baseline: version %s from %s.", version, source)
