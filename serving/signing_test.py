"""Signed versions on TF's in-memory ram:// filesystem (so gs:// works too):
a signed version verifies; a one-byte change, an added file, an edited
manifest, an untrusted key and a missing signature are each refused with a
message naming what failed."""
import json
import uuid

import pytest
import tensorflow as tf
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519

from serving import layout, signing

WEIGHTS = "variables/variables.data-00000-of-00001"


def _write(path, data: bytes):
    tf.io.gfile.makedirs(path.rsplit("/", 1)[0])
    if tf.io.gfile.exists(path):  # ram:// does not truncate on rewrite
        tf.io.gfile.remove(path)
    with tf.io.gfile.GFile(path, "wb") as f:
        f.write(data)


@pytest.fixture
def key():
    return ed25519.Ed25519PrivateKey.generate()


@pytest.fixture
def version(key):
    """A version written like the Pusher writes it, signed; on ram://."""
    root = f"ram://signing_{uuid.uuid4().hex[:8]}/model/7"
    _write(layout.join(root, layout.SAVED_MODEL_FILE), b"graph" * 100)
    _write(layout.join(root, WEIGHTS), bytes(range(256)) * 4)
    _write(layout.join(root, layout.LINEAGE_FILE), b'{"run": 1}')
    layout.write_manifest(root, sign=signing.signer(key))
    return root


def _trusted(*keys):
    return {signing.key_id(k.public_key()): k.public_key() for k in keys}


def _flip_one_byte(path, offset=10):
    with tf.io.gfile.GFile(path, "rb") as f:
        data = bytearray(f.read())
    data[offset] ^= 0x01
    _write(path, bytes(data))


def test_a_signed_version_verifies_and_stays_complete(version, key):
    assert signing.verify_version(version, _trusted(key)) == signing.key_id(
        key.public_key())
    manifest = layout.read_manifest(version)
    assert layout.SIGNATURE_FILE not in manifest["files"]
    assert WEIGHTS in manifest["files"]
    assert layout.is_complete(version)
    with tf.io.gfile.GFile(layout.join(version, layout.SIGNATURE_FILE)) as f:
        document = json.loads(f.read())
    assert document["algorithm"] == "ed25519"
    assert document["key_id"] == signing.key_id(key.public_key())


def test_key_id_is_the_public_key_digest(key):
    raw = key.public_key().public_bytes(serialization.Encoding.Raw,
                                        serialization.PublicFormat.Raw)
    import hashlib
    assert signing.key_id(key.public_key()) == hashlib.sha256(
        raw).hexdigest()[:16]


def test_one_byte_changed_keeping_the_size_names_the_file(version, key):
    path = layout.join(version, WEIGHTS)
    size = tf.io.gfile.stat(path).length
    _flip_one_byte(path)
    assert tf.io.gfile.stat(path).length == size
    assert layout.is_complete(version)  # the size check alone misses it
    with pytest.raises(signing.SignatureError,
                       match=f"^{WEIGHTS}: SHA-256 differs from the signed "
                             r"manifest \(altered after signing\)$"):
        signing.verify_version(version, _trusted(key))


def test_a_file_added_after_signing_is_refused(version, key):
    _write(layout.join(version, "variables/extra.index"), b"x")
    with pytest.raises(signing.SignatureError,
                       match="^variables/extra.index: not in the signed "
                             "manifest"):
        signing.verify_version(version, _trusted(key))


def test_a_deleted_file_is_refused(version, key):
    tf.io.gfile.remove(layout.join(version, layout.LINEAGE_FILE))
    with pytest.raises(signing.SignatureError,
                       match=f"^{layout.LINEAGE_FILE}: missing"):
        signing.verify_version(version, _trusted(key))


def test_an_altered_manifest_is_refused(version, key):
    # Re-hashing the tampered file into the manifest does not help: the
    # signature covers the manifest's bytes.
    _flip_one_byte(layout.join(version, WEIGHTS))
    layout.write_manifest(version)  # unsigned rewrite; old manifest.sig stays
    with pytest.raises(signing.SignatureError,
                       match="signature does not match .*manifest.json "
                             r"\(the manifest was altered\)"):
        signing.verify_version(version, _trusted(key))


def test_a_version_signed_by_another_key_is_not_trusted(version, key):
    other = ed25519.Ed25519PrivateKey.generate()
    with pytest.raises(signing.SignatureError) as error:
        signing.verify_version(version, _trusted(other))
    message = str(error.value)
    assert message.startswith(
        f"signed by key {signing.key_id(key.public_key())}, which is not "
        f"trusted (trusted: {signing.key_id(other.public_key())})")
    assert "--trusted_signing_keys" in message
    # Trusting both (a rotation) accepts it.
    signing.verify_version(version, _trusted(other, key))


def test_a_signature_forged_under_a_trusted_id_is_refused(version, key):
    forger = ed25519.Ed25519PrivateKey.generate()
    with tf.io.gfile.GFile(layout.join(version, layout.MANIFEST_FILE),
                           "rb") as f:
        document = signing.sign_manifest(forger, f.read())
    document["key_id"] = signing.key_id(key.public_key())
    _write(layout.join(version, layout.SIGNATURE_FILE),
           json.dumps(document).encode())
    with pytest.raises(signing.SignatureError, match="signature does not match"):
        signing.verify_version(version, _trusted(key))


def test_an_unsigned_version_is_refused(key):
    root = f"ram://signing_{uuid.uuid4().hex[:8]}/model/1"
    _write(layout.join(root, layout.SAVED_MODEL_FILE), b"graph")
    layout.write_manifest(root)
    assert layout.is_complete(root)
    with pytest.raises(signing.SignatureError,
                       match="^unsigned: no assets.extra/tfx_prod/manifest.sig"):
        signing.verify_version(root, _trusted(key))


def test_trusted_keys_from_a_file_or_a_directory_of_pub_files():
    root = f"ram://signing_{uuid.uuid4().hex[:8]}/keys"
    keys = [ed25519.Ed25519PrivateKey.generate() for _ in range(2)]
    for index, private in enumerate(keys):
        _write(f"{root}/{index}.pub", private.public_key().public_bytes(
            serialization.Encoding.PEM,
            serialization.PublicFormat.SubjectPublicKeyInfo))
    _write(f"{root}/README", b"not a key, ignored")
    assert set(signing.load_trusted_keys(root)) == set(_trusted(*keys))
    assert set(signing.load_trusted_keys(f"{root}/1.pub")) == set(
        _trusted(keys[1]))
    with pytest.raises(signing.KeyFileError, match="no such file"):
        signing.load_trusted_keys(f"{root}/missing.pub")
    with pytest.raises(signing.KeyFileError, match="not a PEM public key"):
        signing.load_trusted_keys(f"{root}/README")


def test_an_unreadable_private_key_names_the_path():
    path = f"ram://signing_{uuid.uuid4().hex[:8]}/bad.pem"
    _write(path, b"garbage")
    with pytest.raises(signing.KeyFileError, match=f"^{path} is not"):
        signing.load_private_key(path)
    with pytest.raises(signing.KeyFileError, match="cannot read key file "
                                                   "ram://nowhere/x.pem"):
        signing.load_private_key("ram://nowhere/x.pem")
