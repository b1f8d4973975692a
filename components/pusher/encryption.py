"""The Pusher's encryption key: a KEK file named by $TFX_PROD_ENCRYPTION_KEY,
never a component parameter (parameters land in ML Metadata and in the
compiled Kubeflow spec; on Kubeflow the file is a mounted Secret).

Caching, as for signing (components/pusher/signing.py): the driver adds the
key's id to `serving_state_key`, so a push cached while unencrypted, or
encrypted with a key since rotated, is not reused once this key is asked
for; and the executor counts an already-served version as "this push" only
if it is encrypted with this key and decrypts to this model.
"""
import dataclasses
import os
from typing import Optional

from absl import logging

from serving import encryption, layout


@dataclasses.dataclass(frozen=True)
class Encrypter:
    key_id: str
    key: bytes = dataclasses.field(repr=False)

    def sealer(self) -> encryption.Sealer:
        """A fresh data key for one version (what publish.publish takes)."""
        return encryption.Sealer(self.key_id, self.key)

    @property
    def keys(self) -> dict:
        return {self.key_id: self.key}


def from_environment() -> Optional[Encrypter]:
    """The configured KEK; None (logged) when none is configured.

    Raises encryption.KeyFileError naming the path when a key is configured
    but cannot be read: asked-for encryption never silently becomes a
    plaintext push.
    """
    path = os.environ.get(encryption.ENCRYPTION_KEY_ENV)
    if not path:
        logging.info("$%s is not set: pushing an unencrypted version.",
                     encryption.ENCRYPTION_KEY_ENV)
        return None
    try:
        key_id, key = encryption.load_key(path)
    except encryption.KeyFileError as e:
        raise encryption.KeyFileError(
            f"${encryption.ENCRYPTION_KEY_ENV}: {e}. Point it at the .kek "
            "file `tfx-prod keys list` shows, or unset it to push "
            "unencrypted.") from None
    return Encrypter(key_id, key)


def cache_state() -> str:
    """What the driver appends to `serving_state_key`: '' when unencrypted."""
    encrypter = from_environment()
    return f";encrypted_with:{encrypter.key_id}" if encrypter else ""


def payload_digest(version_dir: str, manifest: dict,
                   encrypter: Optional[Encrypter]) -> Optional[str]:
    """layout.payload_digest of what the version serves once decrypted;
    None if it cannot be this push (encrypted, but not with this key, or
    plaintext while encryption is asked for)."""
    try:
        plain = encryption.plaintext_manifest(
            version_dir, encrypter.keys if encrypter else {})
    except encryption.EncryptionError as e:
        logging.info("%s is not encrypted with key %s as it stands (%s).",
                     version_dir, encrypter.key_id if encrypter else "-", e)
        return None
    if plain is None:        # not encrypted
        return None if encrypter else layout.payload_digest(manifest)
    return layout.payload_digest(plain)
