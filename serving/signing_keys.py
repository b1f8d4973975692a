"""Ed25519 signing keys: ids, names and PEM encoding. No TensorFlow here, so
`tfx-prod keys` starts fast; verification is serving/signing.py.

A key's id is the first 16 hex digits of the SHA-256 of its raw 32-byte
public key: short enough to read in a log, and the same wherever computed.
"""
import hashlib

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519

SIGNING_KEY_ENV = "TFX_PROD_SIGNING_KEY"
TRUSTED_KEYS_ENV = "TFX_PROD_TRUSTED_SIGNING_KEYS"
PUBLIC_KEY_SUFFIX = ".pub"
PRIVATE_KEY_SUFFIX = ".pem"


def key_id(public_key: ed25519.Ed25519PublicKey) -> str:
    raw = public_key.public_bytes(serialization.Encoding.Raw,
                                  serialization.PublicFormat.Raw)
    return hashlib.sha256(raw).hexdigest()[:16]


def private_pem(key: ed25519.Ed25519PrivateKey) -> bytes:
    """Unencrypted PKCS#8: file permissions (or a Kubernetes Secret) guard it."""
    return key.private_bytes(serialization.Encoding.PEM,
                             serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption())


def public_pem(key: ed25519.Ed25519PublicKey) -> bytes:
    return key.public_bytes(serialization.Encoding.PEM,
                            serialization.PublicFormat.SubjectPublicKeyInfo)
