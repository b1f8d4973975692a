"""Encryption at rest: AES-256-GCM envelope encryption of a pushed version.

Per version the Pusher draws a random 256-bit data key. Every file except
PLAINTEXT is stored as MAGIC + 12-byte random nonce + AES-GCM(data key,
file, associated data = the file's relative path), so a file cannot be
altered, swapped with another file of the version or moved from another
version unnoticed. The data key is wrapped (AES-GCM) by a key-encryption
key (KEK, serving/encryption_keys.py) and stored with the KEK's id and
the list of encrypted files in `assets.extra/tfx_prod/encryption.json`,
the envelope, written last before the manifest. The list is authenticated
by the wrap (associated data), so even unsigned, no encrypted file can be
dropped or added without the KEK noticing.

Plaintext, and why: manifest.json (sizes and SHA-256 of the *encrypted*
bytes: completeness checks need no key, and a signature covers exactly what
is on disk), manifest.sig, the envelope, and lineage.json (ServedBaseline,
`tfx-prod lineage` and the orphan sweep read it with no key; it holds URIs,
ids and digests, no weights and no data). Schema and statistics are
encrypted: they describe the training data.

The envelope is not in the manifest (like manifest.sig): rotating the KEK
rewrites only the envelope (`rewrap`), atomically, so file bodies, manifest
and signature stay as they are, and a server that is loading reads either
the old or the new envelope, both usable until the old KEK is retired.

Server side, `decrypted(path, keys)` copies the version, decrypted, to TF's
in-memory ram:// filesystem, yields that directory to the loader and
deletes it afterwards (the loaded model no longer reads its files), so
plaintext never touches a disk. Files are encrypted whole (AES-GCM one-shot:
at most 2 GiB each, held in memory while processed). Everything goes
through tf.io.gfile; nothing here imports the pipeline.
"""
import base64
import contextlib
import json
import os
import uuid
from typing import Iterator, Optional

import tensorflow as tf
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from serving import layout
from serving.encryption_keys import (  # noqa: F401 (re-exported)
    ALGORITHM, DECRYPTION_KEYS_ENV, ENCRYPTION_KEY_ENV, KEY_SUFFIX,
    KeyFormatError, key_id, new_key, parse_key_file)

ENVELOPE_FORMAT = 1
MAGIC = b"TFXPENC1"          # starts every encrypted file
NONCE_BYTES = 12
MAX_FILE_BYTES = (1 << 31) - 1 - 16   # AES-GCM one-shot in `cryptography`
PLAINTEXT = frozenset({layout.MANIFEST_FILE, layout.SIGNATURE_FILE,
                       layout.ENCRYPTION_FILE, layout.LINEAGE_FILE})
_WRAP_AAD = b"tfx-prod data key\0"
_FILE_AAD = b"tfx-prod file\0"


class EncryptionError(ValueError):
    """A version that must not be served; the message names the file or key."""


class KeyFileError(ValueError):
    """A key file that cannot be used; the message names the path and fix."""


# --- keys -------------------------------------------------------------------

def load_key(path: str) -> tuple:
    """(key id, key) from one KEK file."""
    try:
        with tf.io.gfile.GFile(path, "rb") as f:
            data = f.read()
    except tf.errors.NotFoundError:
        raise KeyFileError(f"cannot read key file {path}: no such "
                           "file") from None
    except tf.errors.OpError as e:
        raise KeyFileError(f"cannot read key file {path}: {e.message}") from None
    try:
        return parse_key_file(data)
    except KeyFormatError as e:
        raise KeyFileError(f"{path}: {e}") from None


def load_keys(spec: str) -> dict:
    """{key id: key} from a KEK file or a directory of *.kek files.

    Read on every load, so `tfx-prod keys rotate|retire --encryption` on
    that directory takes effect without restarting the server.
    """
    if tf.io.gfile.isdir(spec):
        paths = [layout.join(spec, name) for name in
                 sorted(tf.io.gfile.listdir(spec)) if name.endswith(KEY_SUFFIX)]
        if not paths:
            raise KeyFileError(
                f"no *{KEY_SUFFIX} keys in {spec}; make one with `tfx-prod "
                "keys init --encryption` (it writes DIR/encryption/<id>"
                f"{KEY_SUFFIX})")
    elif tf.io.gfile.exists(spec):
        paths = [spec]
    else:
        raise KeyFileError(f"decryption keys {spec}: no such file or "
                           "directory")
    return dict(load_key(path) for path in paths)


# --- the envelope -----------------------------------------------------------

def _wrap_aad(kek_id: str, files: list) -> bytes:
    return (_WRAP_AAD + kek_id.encode() + b"\0"
            + json.dumps(sorted(files)).encode())


def wrap(kek_id: str, kek: bytes, data_key: bytes, files: list) -> dict:
    """The envelope document: `data_key` wrapped by the KEK `kek_id`,
    bound to the list of encrypted `files`."""
    nonce = os.urandom(NONCE_BYTES)
    wrapped = AESGCM(kek).encrypt(nonce, data_key, _wrap_aad(kek_id, files))
    return {"format": ENVELOPE_FORMAT, "algorithm": ALGORITHM,
            "key_id": kek_id, "files": sorted(files),
            "nonce": base64.b64encode(nonce).decode("ascii"),
            "wrapped_key": base64.b64encode(wrapped).decode("ascii")}


def unwrap(envelope: dict, keys: dict) -> bytes:
    """The data key; EncryptionError naming the KEK id if it cannot be had."""
    kek_id = envelope.get("key_id")
    if kek_id not in keys:
        raise EncryptionError(
            f"encrypted with key {kek_id}, which is not among the "
            f"decryption keys (have: {', '.join(sorted(keys)) or 'none'}); "
            "add its .kek file to --decryption_keys (a retired key is in "
            "DIR/retired/)")
    files = envelope.get("files")
    if not isinstance(files, list) or not all(isinstance(f, str)
                                              for f in files):
        raise EncryptionError(f"{layout.ENCRYPTION_FILE}: no list of "
                              "encrypted files")
    try:
        return AESGCM(keys[kek_id]).decrypt(
            base64.b64decode(envelope["nonce"]),
            base64.b64decode(envelope["wrapped_key"]),
            _wrap_aad(kek_id, files))
    except (InvalidTag, KeyError, ValueError, TypeError):
        raise EncryptionError(
            f"{layout.ENCRYPTION_FILE}: the data key does not unwrap with "
            f"key {kek_id} (the envelope was altered, or the key file is "
            "not the key it is named after)") from None


def read_envelope(path: str) -> Optional[dict]:
    """The version's envelope; None if the version is not encrypted."""
    try:
        with tf.io.gfile.GFile(layout.join(path, layout.ENCRYPTION_FILE),
                               "rb") as f:
            envelope = json.loads(f.read())
    except tf.errors.NotFoundError:
        return None
    except ValueError:
        raise EncryptionError(f"{layout.ENCRYPTION_FILE} is not JSON") from None
    if not isinstance(envelope, dict) or envelope.get(
            "algorithm") != ALGORITHM:
        raise EncryptionError(f"{layout.ENCRYPTION_FILE}: not an {ALGORITHM} "
                              "envelope")
    if envelope.get("format") != ENVELOPE_FORMAT:
        raise EncryptionError(
            f"{layout.ENCRYPTION_FILE}: envelope format "
            f"{envelope.get('format')!r}, this server reads "
            f"{ENVELOPE_FORMAT} (pushed by a newer tfx-prod? upgrade it)")
    return envelope


def write_envelope(path: str, envelope: dict) -> None:
    """Writes the envelope atomically: a temporary file renamed over it (a
    reader sees the old or the new one, never half of one)."""
    target = layout.join(path, layout.ENCRYPTION_FILE)
    temporary = f"{target}.tmp-{uuid.uuid4().hex[:8]}"
    tf.io.gfile.makedirs(layout.join(path, layout.META_DIR))
    with tf.io.gfile.GFile(temporary, "wb") as f:
        f.write(json.dumps(envelope, indent=1, sort_keys=True).encode())
    tf.io.gfile.rename(temporary, target, overwrite=True)


# --- files ------------------------------------------------------------------

class Sealer:
    """Encrypts one version: a fresh data key, wrapped by the KEK."""

    def __init__(self, kek_id: str, kek: bytes):
        self._data_key = AESGCM.generate_key(bit_length=256)
        self._kek_id, self._kek = kek_id, kek
        self._sealed = set()

    @property
    def envelope(self) -> dict:
        """The envelope for every file sealed so far: write it last."""
        return wrap(self._kek_id, self._kek, self._data_key,
                    sorted(self._sealed))

    def seal(self, relative: str, data: bytes) -> bytes:
        """The bytes to store for the file at `relative` (PLAINTEXT as is)."""
        if relative in PLAINTEXT:
            return data
        if len(data) > MAX_FILE_BYTES:
            raise EncryptionError(
                f"{relative}: {len(data)} bytes; files of 2 GiB or more "
                "cannot be encrypted (shard the variables, or push "
                "unencrypted)")
        self._sealed.add(relative)
        nonce = os.urandom(NONCE_BYTES)
        return MAGIC + nonce + AESGCM(self._data_key).encrypt(
            nonce, data, _FILE_AAD + relative.encode())


def open_file(data_key: bytes, relative: str, stored: bytes) -> bytes:
    """The plaintext of one stored file; EncryptionError naming it."""
    if relative in PLAINTEXT:
        return stored
    if not stored.startswith(MAGIC):
        raise EncryptionError(f"{relative}: not encrypted, in an encrypted "
                              "version (replaced after the push?)")
    nonce = stored[len(MAGIC):len(MAGIC) + NONCE_BYTES]
    try:
        return AESGCM(data_key).decrypt(nonce, stored[len(MAGIC) + NONCE_BYTES:],
                                        _FILE_AAD + relative.encode())
    except InvalidTag:
        raise EncryptionError(
            f"{relative}: does not decrypt (altered after the push, or "
            "moved here from another file or version)") from None


def _read(path: str) -> bytes:
    with tf.io.gfile.GFile(path, "rb") as f:
        return f.read()


def _files(path: str, envelope: dict) -> list:
    """Relative paths to copy: the envelope's (authenticated) list of
    encrypted files, plus the manifest and lineage; refuses a file the
    manifest lists that is neither (added after the push)."""
    manifest = layout.read_manifest(path)
    listed = set(manifest["files"]) if manifest is not None else set()
    encrypted = set(envelope["files"])
    added = sorted(listed - encrypted - PLAINTEXT)
    if added:
        raise EncryptionError(f"{added[0]}: not in the encryption envelope "
                              "(added after the push?)")
    plain = {layout.MANIFEST_FILE} if manifest is not None else set()
    plain |= listed & {layout.LINEAGE_FILE}
    return sorted(encrypted | plain)


def _refuse_orphaned_ciphertext(path: str) -> None:
    """No envelope, yet the model is ciphertext: say so, not 'bad proto'."""
    for name in (layout.SAVED_MODEL_FILE, layout.TFLITE_FILE):
        try:
            with tf.io.gfile.GFile(layout.join(path, name), "rb") as f:
                head = f.read(len(MAGIC))
        except tf.errors.NotFoundError:
            continue
        if head == MAGIC:
            raise EncryptionError(
                f"{name} is encrypted but {layout.ENCRYPTION_FILE} is "
                "missing: the version cannot be decrypted; push it again")


def data_key_for(path: str, keys: dict) -> Optional[bytes]:
    """The version's data key (None if it is not encrypted)."""
    envelope = read_envelope(path)
    if envelope is None:
        _refuse_orphaned_ciphertext(path)
        return None
    return unwrap(envelope, keys)


def _decrypt_into(path: str, envelope: dict, data_key: bytes, root: str,
                  written: list) -> None:
    """Writes the decrypted files of `path` under `root`, appending each
    target to `written` before writing it (so a caller can clean up)."""
    for relative in _files(path, envelope):
        try:
            stored = _read(layout.join(path, relative))
        except tf.errors.NotFoundError:
            raise EncryptionError(f"{relative}: missing") from None
        plain = open_file(data_key, relative, stored)
        target = layout.join(root, relative)
        tf.io.gfile.makedirs(os.path.dirname(target))
        written.append(target)
        with tf.io.gfile.GFile(target, "wb") as f:
            f.write(plain)


def decrypt_to(path: str, keys: dict, target: str) -> None:
    """Writes a decrypted copy of the encrypted version at `path` to
    `target` (for the pipeline's own, plaintext, artifact store)."""
    envelope = read_envelope(path)
    if envelope is None:
        raise EncryptionError(f"{path} is not encrypted")
    _decrypt_into(path, envelope, unwrap(envelope, keys), target, [])


@contextlib.contextmanager
def decrypted(path: str, keys_spec: Optional[str]) -> Iterator[str]:
    """Yields a directory to load the version at `path` from: `path` itself
    if it is not encrypted, else a decrypted copy on ram://, deleted on
    exit. Raises EncryptionError naming the key id or the file."""
    envelope = read_envelope(path)
    if envelope is None:
        _refuse_orphaned_ciphertext(path)
        yield path
        return
    if not keys_spec:
        raise EncryptionError(
            f"encrypted with key {envelope.get('key_id')}, and the server "
            "has no decryption keys: start it with --decryption_keys DIR "
            f"(or ${DECRYPTION_KEYS_ENV}) holding that key's .kek file")
    data_key = unwrap(envelope, load_keys(keys_spec))
    root = layout.join(f"ram://tfx-prod-decrypted-{uuid.uuid4().hex}",
                       os.path.basename(path.rstrip("/")))
    written = []
    try:
        _decrypt_into(path, envelope, data_key, root, written)
        yield root
    finally:
        for target in written:
            with contextlib.suppress(tf.errors.NotFoundError):
                tf.io.gfile.remove(target)
        with contextlib.suppress(tf.errors.OpError):
            tf.io.gfile.rmtree(root.rsplit("/", 1)[0])


def plaintext_manifest(path: str, keys: dict) -> Optional[dict]:
    """The manifest the version would have unencrypted ({"files": {path:
    {"sha256"}}}), by decrypting in memory; None if it is not encrypted."""
    import hashlib
    data_key = data_key_for(path, keys)
    manifest = layout.read_manifest(path)
    if data_key is None or manifest is None:
        return None
    return {"files": {relative: {"sha256": hashlib.sha256(open_file(
        data_key, relative, _read(layout.join(path, relative)))).hexdigest()}
        for relative in manifest["files"]}}


# --- rotation -----------------------------------------------------------------

def rewrap(path: str, keys: dict, new_id: str, new_key_bytes: bytes) -> str:
    """Re-wraps one version's data key with KEK `new_id` (file bodies are
    untouched); returns the id it was wrapped with before ('' if the
    version is not encrypted; no write if it already uses `new_id`)."""
    envelope = read_envelope(path)
    if envelope is None:
        return ""
    old_id = envelope.get("key_id")
    if old_id != new_id:
        data_key = unwrap(envelope, keys)
        write_envelope(path, wrap(new_id, new_key_bytes, data_key,
                                  envelope["files"]))
    return old_id


def rewrap_model_base(model_base: str, keys: dict, new_id: str,
                      new_key_bytes: bytes) -> list:
    """[(version, previous key id or '')] for every version under
    `model_base`; raises EncryptionError (naming the version) at the first
    one whose key is not in `keys`, after re-wrapping the ones before it."""
    done = []
    for version in layout.version_numbers(model_base):
        path = layout.version_dir(model_base, version)
        try:
            done.append((version, rewrap(path, keys, new_id, new_key_bytes)))
        except EncryptionError as e:
            raise EncryptionError(f"version {version} ({path}): {e}") from None
    return done


def checked_spec(options) -> Optional[str]:
    """--decryption_keys or its env var, checked at start: a typo must stop
    the server, not make every encrypted version fail later."""
    from serving import config
    spec = options.decryption_keys or os.environ.get(
        DECRYPTION_KEYS_ENV) or None
    if spec:
        try:
            keys = load_keys(spec)
        except KeyFileError as e:
            raise config.ConfigError(f"--decryption_keys: {e}") from None
        import logging
        logging.getLogger("serving").info(
            "encrypted versions decrypt with keys %s", ", ".join(sorted(keys)))
    return spec
