"""AES-256 key-encryption keys (KEKs): ids, names and the key file format.

No TensorFlow here, so `tfx-prod keys` starts fast; encrypting and
decrypting versions is serving/encryption.py.

A KEK is 32 random bytes, kept in a small JSON file (mode 0600) that only
the Pusher and the servers read. It is symmetric: whoever can decrypt can
also encrypt, so the key files are secrets on both sides (a Kubernetes
Secret mounted into the Pusher and into the server). A key's id is the first
16 hex digits of a domain-separated SHA-256 of the key: short, the same
wherever computed, and it reveals nothing usable about the key.
"""
import base64
import binascii
import hashlib
import json
import os

ENCRYPTION_KEY_ENV = "TFX_PROD_ENCRYPTION_KEY"       # the Pusher's one KEK
DECRYPTION_KEYS_ENV = "TFX_PROD_DECRYPTION_KEYS"     # the server's KEKs
KEY_SUFFIX = ".kek"
ALGORITHM = "AES-256-GCM"
KEY_FORMAT = 1
KEY_BYTES = 32


class KeyFormatError(ValueError):
    """Bytes that are not a tfx-prod KEK file; the message says why."""


def new_key() -> bytes:
    return os.urandom(KEY_BYTES)


def key_id(key: bytes) -> str:
    return hashlib.sha256(b"tfx-prod kek id\0" + key).hexdigest()[:16]


def key_file_bytes(key: bytes) -> bytes:
    return (json.dumps({"format": KEY_FORMAT, "algorithm": ALGORITHM,
                        "key_id": key_id(key),
                        "key": base64.b64encode(key).decode("ascii")},
                       indent=1, sort_keys=True) + "\n").encode()


def parse_key_file(data: bytes) -> tuple:
    """(key id, key) from a KEK file's bytes; raises KeyFormatError."""
    try:
        document = json.loads(data)
        key = base64.b64decode(document["key"], validate=True)
    except (ValueError, KeyError, TypeError, binascii.Error):
        raise KeyFormatError("not a tfx-prod encryption key file (JSON "
                             "with a base64 \"key\"); make one with "
                             "`tfx-prod keys init --encryption`") from None
    if document.get("algorithm") != ALGORITHM or len(key) != KEY_BYTES:
        raise KeyFormatError(f"not a {ALGORITHM} key ({len(key)} bytes, "
                             f"algorithm {document.get('algorithm')!r})")
    if document.get("key_id", key_id(key)) != key_id(key):
        raise KeyFormatError("its key_id does not match the key (the file "
                             "was edited); restore it from the backup")
    return key_id(key), key
