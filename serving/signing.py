"""Signed versions: Ed25519 over the exact bytes of a version's manifest.

The manifest (serving/layout.py) already lists the size and SHA-256 of every
file, so signing it signs the whole version: the Pusher writes
`manifest.sig` (JSON: format, key_id, algorithm, base64 signature) just
before `manifest.json`, and a server started with trusted public keys loads
a version only if the signature is by one of them, matches the manifest,
and every file on disk still has the signed digest (recomputed, so a
one-byte change that keeps the size is caught) with no file added.

Keys are files (PEM), never part of the repo or of a pipeline parameter:
the private key's path comes from $TFX_PROD_SIGNING_KEY, the trusted
public keys from --trusted_signing_keys or $TFX_PROD_TRUSTED_SIGNING_KEYS
(key ids and encoding: serving/signing_keys.py). Everything goes through
tf.io.gfile (gs://, ram://). Imports nothing from the pipeline: the server
uses it.
"""
import base64
import json
from typing import Callable

import tensorflow as tf
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519

from serving import layout
from serving.signing_keys import (  # noqa: F401 (re-exported)
    PUBLIC_KEY_SUFFIX, SIGNING_KEY_ENV, TRUSTED_KEYS_ENV, key_id)

ALGORITHM = "ed25519"
SIGNATURE_FORMAT = 1


class SignatureError(ValueError):
    """A version that must not be served; the message names what failed."""


class KeyFileError(ValueError):
    """A key file that cannot be used; the message names the path and fix."""


def _read(path: str) -> bytes:
    try:
        with tf.io.gfile.GFile(path, "rb") as f:
            return f.read()
    except tf.errors.NotFoundError:
        raise KeyFileError(f"cannot read key file {path}: no such "
                           "file") from None
    except tf.errors.OpError as e:
        raise KeyFileError(f"cannot read key file {path}: {e.message}") from None


def load_private_key(path: str) -> ed25519.Ed25519PrivateKey:
    text = _read(path)
    try:
        key = serialization.load_pem_private_key(text, password=None)
    except (ValueError, TypeError) as e:
        raise KeyFileError(
            f"{path} is not an unencrypted PEM private key ({e}); make one "
            "with `tfx-prod keys init`") from None
    if not isinstance(key, ed25519.Ed25519PrivateKey):
        raise KeyFileError(f"{path} is not an Ed25519 key; make one with "
                           "`tfx-prod keys init`")
    return key


def load_public_key(path: str) -> ed25519.Ed25519PublicKey:
    text = _read(path)
    try:
        key = serialization.load_pem_public_key(text)
    except ValueError as e:
        raise KeyFileError(f"{path} is not a PEM public key ({e})") from None
    if not isinstance(key, ed25519.Ed25519PublicKey):
        raise KeyFileError(f"{path} is not an Ed25519 public key")
    return key


def load_trusted_keys(spec: str) -> dict:
    """{key id: public key} from a PEM file or a directory of *.pub files.

    Read on every check, so `tfx-prod keys rotate|retire` on that directory
    takes effect without restarting the server.
    """
    if tf.io.gfile.isdir(spec):
        paths = [layout.join(spec, name) for name in
                 sorted(tf.io.gfile.listdir(spec))
                 if name.endswith(PUBLIC_KEY_SUFFIX)]
        if not paths:
            raise KeyFileError(
                f"no *{PUBLIC_KEY_SUFFIX} public keys in {spec}; make one "
                "with `tfx-prod keys init` (it writes DIR/public/<id>.pub)")
    elif tf.io.gfile.exists(spec):
        paths = [spec]
    else:
        raise KeyFileError(f"trusted signing keys {spec}: no such file or "
                           "directory")
    keys = (load_public_key(path) for path in paths)
    return {key_id(key): key for key in keys}


def sign_manifest(private_key: ed25519.Ed25519PrivateKey,
                  manifest_bytes: bytes) -> dict:
    """The manifest.sig document for these exact manifest bytes."""
    return {"format": SIGNATURE_FORMAT, "algorithm": ALGORITHM,
            "key_id": key_id(private_key.public_key()),
            "signature": base64.b64encode(
                private_key.sign(manifest_bytes)).decode("ascii")}


def signer(private_key) -> Callable[[bytes], dict]:
    """What `layout.write_manifest(root, sign=...)` takes."""
    return lambda manifest_bytes: sign_manifest(private_key, manifest_bytes)


def _read_signature(path: str) -> dict:
    try:
        with tf.io.gfile.GFile(layout.join(path, layout.SIGNATURE_FILE),
                               "rb") as f:
            document = json.loads(f.read())
    except tf.errors.NotFoundError:
        raise SignatureError(
            f"unsigned: no {layout.SIGNATURE_FILE} (push it with "
            f"${SIGNING_KEY_ENV} set, e.g. `tfx-prod run --signing-key "
            "FILE`)") from None
    except ValueError:
        raise SignatureError(f"{layout.SIGNATURE_FILE} is not JSON") from None
    if not isinstance(document, dict) or document.get(
            "algorithm") != ALGORITHM or not isinstance(
                document.get("signature"), str):
        raise SignatureError(f"{layout.SIGNATURE_FILE}: not an {ALGORITHM} "
                             "signature document")
    return document


def _check_signature(path: str, document: dict, trusted: dict) -> bytes:
    """The manifest bytes, once their signature is by a trusted key."""
    signer_id = document.get("key_id")
    if signer_id not in trusted:
        raise SignatureError(
            f"signed by key {signer_id}, which is not trusted (trusted: "
            f"{', '.join(sorted(trusted)) or 'none'}); add its public key "
            "to --trusted_signing_keys")
    try:
        with tf.io.gfile.GFile(layout.join(path, layout.MANIFEST_FILE),
                               "rb") as f:
            manifest_bytes = f.read()
    except tf.errors.NotFoundError:
        raise SignatureError(f"no {layout.MANIFEST_FILE}") from None
    try:
        trusted[signer_id].verify(base64.b64decode(document["signature"]),
                                  manifest_bytes)
    except (InvalidSignature, ValueError):
        raise SignatureError(
            f"signature does not match {layout.MANIFEST_FILE} (the manifest "
            "was altered)") from None
    return manifest_bytes


def verify_version(path: str, trusted: dict) -> str:
    """Raises SignatureError unless `path` is exactly what a trusted key
    signed; returns the signer's key id. Hashes every file."""
    document = _read_signature(path)
    signed = json.loads(_check_signature(path, document, trusted))["files"]
    actual = layout.build_manifest(path)["files"]
    for relative in sorted(set(signed) | set(actual)):
        if relative not in actual:
            raise SignatureError(f"{relative}: missing (listed in the signed "
                                 "manifest)")
        if relative not in signed:
            raise SignatureError(f"{relative}: not in the signed manifest "
                                 "(added after signing)")
        if actual[relative]["sha256"] != signed[relative]["sha256"]:
            raise SignatureError(f"{relative}: SHA-256 differs from the "
                                 "signed manifest (altered after signing)")
    return document["key_id"]
