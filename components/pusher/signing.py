"""The Pusher's signing key: a file named by $TFX_PROD_SIGNING_KEY, never a
component parameter (parameters land in ML Metadata and in the compiled
Kubeflow spec; on Kubeflow the file is a mounted Secret).

Caching: the driver adds the key's id (public, not secret) to the Pusher's
`serving_state_key`, so a push cached while unsigned, or signed by a key
since rotated, is not reused once signing with this key is asked for; and
the executor counts an already-served version as "this push" only if this
key signed it.
"""
import dataclasses
import os
from typing import Callable, Optional

from absl import logging

from serving import signing


@dataclasses.dataclass(frozen=True)
class Signer:
    key_id: str
    sign: Callable[[bytes], dict]       # what layout.write_manifest takes
    trusted: dict                       # {key_id: public key}: to verify


def from_environment() -> Optional[Signer]:
    """The configured signer; None (logged) when no key is configured.

    Raises signing.KeyFileError naming the path when a key is configured but
    cannot be read: asked-for signing never silently becomes unsigned.
    """
    path = os.environ.get(signing.SIGNING_KEY_ENV)
    if not path:
        logging.info("$%s is not set: pushing an unsigned version (servers "
                     "with --trusted_signing_keys will refuse it).",
                     signing.SIGNING_KEY_ENV)
        return None
    try:
        key = signing.load_private_key(path)
    except signing.KeyFileError as e:
        raise signing.KeyFileError(
            f"${signing.SIGNING_KEY_ENV}: {e}. Point it at the PEM file "
            "`tfx-prod keys list` shows, or unset it to push "
            "unsigned.") from None
    key_id = signing.key_id(key.public_key())
    return Signer(key_id, signing.signer(key), {key_id: key.public_key()})


def cache_state() -> str:
    """What the driver appends to `serving_state_key`: '' when unsigned."""
    signer = from_environment()
    return f";signed_by:{signer.key_id}" if signer else ""


def signed_by(signer: Signer, version_dir: str) -> bool:
    """True if `version_dir` is intact and signed by this signer's key."""
    try:
        signing.verify_version(version_dir, signer.trusted)
    except signing.SignatureError as e:
        logging.info("%s is not signed by key %s as it stands (%s).",
                     version_dir, signer.key_id, e)
        return False
    return True
