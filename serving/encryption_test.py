"""Encrypted versions on TF's in-memory ram:// filesystem (so gs:// works
too): real AES-GCM, real SavedModels loaded from the decrypted copy. One
flipped byte, a file swapped for another, a wrong or missing key and a
missing envelope are each refused with a message naming the file or key id;
re-wrapping changes only the envelope, so the signature over the encrypted
bytes still verifies and the old key stops being needed."""
import os
import uuid

import numpy as np
import pytest
import tensorflow as tf
from cryptography.hazmat.primitives.asymmetric import ed25519

from serving import (encryption, encryption_keys, layout, servable, signing,
                     testutil)

WEIGHTS = "variables/variables.data-00000-of-00001"


def _kek():
    key = encryption.new_key()
    return encryption.key_id(key), key


def _ram_version(tmp_path, kek, sign=None):
    """half_plus_two (y = 0.5x + 3) with a schema, copied to ram:// (files
    only: ram:// mislists an empty assets/ beside assets.extra/), then
    encrypted in place. Returns (ram path, {relative: plaintext bytes})."""
    module, signatures = testutil.half_plus_two(b=3.0)
    local = testutil.write_version(
        str(tmp_path / "local"), 1, module, signatures, manifest=False,
        schema=testutil.HALF_PLUS_TWO_SCHEMA)
    root = f"ram://encryption_{uuid.uuid4().hex[:8]}/model/1"
    plain = {}
    for directory, _, files in os.walk(local):
        for name in files:
            relative = os.path.relpath(os.path.join(directory, name), local)
            with open(os.path.join(directory, name), "rb") as f:
                plain[relative] = f.read()
            tf.io.gfile.makedirs(os.path.dirname(layout.join(root, relative)))
            with tf.io.gfile.GFile(layout.join(root, relative), "wb") as f:
                f.write(plain[relative])
    testutil.encrypt_version(root, *kek, sign=sign)
    return root, plain


def _read(path):
    with tf.io.gfile.GFile(path, "rb") as f:
        return f.read()


def _write(path, data):
    tf.io.gfile.remove(path)  # ram:// does not truncate on rewrite
    with tf.io.gfile.GFile(path, "wb") as f:
        f.write(data)


def test_a_version_is_stored_encrypted_and_loads_from_memory(tmp_path):
    kek = _kek()
    root, plain = _ram_version(tmp_path, kek)
    assert set(plain) >= {layout.SAVED_MODEL_FILE, WEIGHTS,
                          layout.SCHEMA_FILE, layout.LINEAGE_FILE}
    for relative, data in plain.items():
        stored = _read(layout.join(root, relative))
        if relative in encryption.PLAINTEXT:
            assert stored == data
        else:
            assert stored.startswith(encryption.MAGIC) and data not in stored
    assert layout.is_complete(root)
    keys = {kek[0]: kek[1]}
    with encryption.decrypted(root, _key_dir(tmp_path, kek)) as source:
        assert source.startswith("ram://tfx-prod-decrypted-")
        for relative, data in plain.items():
            assert _read(layout.join(source, relative)) == data
        loaded = servable.load_servable("m", 1, source, runtime="savedmodel")
    assert not tf.io.gfile.exists(source)   # plaintext freed after the load
    assert loaded.validator is not None     # the schema was decrypted too
    result = loaded.runtime.run("serving_default", {"x": [2.0]}, ("y",))
    assert float(result["y"][0]) == 4.0
    manifest = encryption.plaintext_manifest(root, keys)
    assert layout.payload_digest(manifest) == layout.payload_digest(
        {"files": {r: {"sha256": layout.file_digest(
            os.path.join(tmp_path, "local", "1", r))} for r in plain}})


def _key_dir(tmp_path, *keks):
    folder = tmp_path / f"keys-{uuid.uuid4().hex[:6]}"
    folder.mkdir()
    for key_id, key in keks:
        (folder / f"{key_id}{encryption.KEY_SUFFIX}").write_bytes(
            encryption_keys.key_file_bytes(key))
    return str(folder)


def test_one_flipped_byte_is_refused_naming_the_file(tmp_path):
    kek = _kek()
    root, _ = _ram_version(tmp_path, kek)
    stored = bytearray(_read(layout.join(root, WEIGHTS)))
    stored[-20] ^= 0x01
    _write(layout.join(root, WEIGHTS), bytes(stored))
    with pytest.raises(encryption.EncryptionError,
                       match=f"^{WEIGHTS}: does not decrypt"):
        with encryption.decrypted(root, _key_dir(tmp_path, kek)):
            pass


def test_a_file_swapped_for_another_is_refused(tmp_path):
    kek = _kek()
    root, _ = _ram_version(tmp_path, kek)
    # Same data key, valid ciphertext, wrong place: the path is bound in.
    _write(layout.join(root, layout.SCHEMA_FILE),
           _read(layout.join(root, layout.SAVED_MODEL_FILE)))
    with pytest.raises(encryption.EncryptionError,
                       match=f"^{layout.SCHEMA_FILE}: does not decrypt"):
        with encryption.decrypted(root, _key_dir(tmp_path, kek)):
            pass


def test_a_wrong_or_missing_key_is_refused_naming_the_key_id(tmp_path):
    kek, other = _kek(), _kek()
    root, _ = _ram_version(tmp_path, kek)
    with pytest.raises(encryption.EncryptionError,
                       match=f"encrypted with key {kek[0]}, which is not "
                             f"among the decryption keys \\(have: "
                             f"{other[0]}\\)"):
        with encryption.decrypted(root, _key_dir(tmp_path, other)):
            pass
    with pytest.raises(encryption.EncryptionError,
                       match=f"encrypted with key {kek[0]}, and the server "
                             "has no decryption keys"):
        with encryption.decrypted(root, None):
            pass
    # A key file under the right name holding another key.
    impostor = tmp_path / "impostor.kek"
    impostor.write_bytes(encryption_keys.key_file_bytes(other[1]).replace(
        other[0].encode(), kek[0].encode()))
    with pytest.raises(encryption.KeyFileError, match="key_id does not match"):
        encryption.load_keys(str(impostor))
    with pytest.raises(encryption.EncryptionError,
                       match=f"does not unwrap with key {kek[0]}"):
        encryption.unwrap(encryption.read_envelope(root), {kek[0]: other[1]})


def test_ciphertext_without_its_envelope_is_refused(tmp_path):
    kek = _kek()
    root, _ = _ram_version(tmp_path, kek)
    tf.io.gfile.remove(layout.join(root, layout.ENCRYPTION_FILE))
    with pytest.raises(encryption.EncryptionError,
                       match=f"{layout.SAVED_MODEL_FILE} is encrypted but "
                             f"{layout.ENCRYPTION_FILE} is missing"):
        with encryption.decrypted(root, None):
            pass


def test_rewrap_changes_only_the_envelope_and_keeps_the_signature(tmp_path):
    old, new = _kek(), _kek()
    signer = ed25519.Ed25519PrivateKey.generate()
    trusted = {signing.key_id(signer.public_key()): signer.public_key()}
    root, plain = _ram_version(tmp_path, old, sign=signing.signer(signer))
    # Signed after encrypting: the signature covers the bytes on disk.
    signing.verify_version(root, trusted)
    before = {r: _read(layout.join(root, r)) for r in plain}
    manifest = _read(layout.join(root, layout.MANIFEST_FILE))
    base = root.rsplit("/", 1)[0]
    assert encryption.rewrap_model_base(
        base, {old[0]: old[1]}, *new) == [(1, old[0])]
    assert encryption.read_envelope(root)["key_id"] == new[0]
    assert {r: _read(layout.join(root, r)) for r in plain} == before
    assert _read(layout.join(root, layout.MANIFEST_FILE)) == manifest
    signing.verify_version(root, trusted)
    assert not [n for n in tf.io.gfile.listdir(layout.join(
        root, layout.META_DIR)) if ".tmp-" in n]
    # The old key is no longer needed; a second rewrap writes nothing.
    with encryption.decrypted(root, _key_dir(tmp_path, new)) as source:
        assert _read(layout.join(source, WEIGHTS)) == plain[WEIGHTS]
    assert encryption.rewrap(root, {}, *new) == new[0]
    with pytest.raises(encryption.EncryptionError,
                       match=f"version 1 .*encrypted with key {new[0]}"):
        encryption.rewrap_model_base(base, {old[0]: old[1]}, *_kek())


def test_key_specs_name_the_problem(tmp_path):
    with pytest.raises(encryption.KeyFileError, match="no such file"):
        encryption.load_keys(str(tmp_path / "nowhere"))
    with pytest.raises(encryption.KeyFileError, match="no \\*.kek keys"):
        encryption.load_keys(str(tmp_path))
    (tmp_path / "bad.kek").write_text("not json")
    with pytest.raises(encryption.KeyFileError,
                       match="bad.kek: not a tfx-prod encryption key file"):
        encryption.load_keys(str(tmp_path))


def test_the_tflite_variant_is_decrypted_and_runs(tmp_path):
    kek = _kek()
    module, signatures = testutil.half_plus_two(b=3.0)
    local = testutil.write_version(
        str(tmp_path / "local"), 1, module, signatures, manifest=False,
        tflite_signature="serving_default")
    testutil.encrypt_version(local, *kek)
    assert _read(layout.join(local, layout.TFLITE_FILE)).startswith(
        encryption.MAGIC)
    with encryption.decrypted(local, _key_dir(tmp_path, kek)) as source:
        loaded = servable.load_servable("m", 1, source, runtime="tflite")
    result = loaded.runtime.run("serving_default",
                                {"x": np.array([2.0], np.float32)}, ("y",))
    assert float(result["y"][0]) == 4.0


def test_the_envelope_lists_the_encrypted_files_unforgeably(tmp_path):
    kek = _kek()
    root, _ = _ram_version(tmp_path, kek)
    envelope = encryption.read_envelope(root)
    assert WEIGHTS in envelope["files"] and layout.SCHEMA_FILE in (
        envelope["files"]) and layout.LINEAGE_FILE not in envelope["files"]
    # Dropping the schema from the list (to serve unvalidated) breaks the wrap.
    envelope["files"].remove(layout.SCHEMA_FILE)
    with pytest.raises(encryption.EncryptionError, match="does not unwrap"):
        encryption.unwrap(envelope, {kek[0]: kek[1]})
    # A file added after the push (and to an unsigned manifest) is refused.
    with tf.io.gfile.GFile(layout.join(root, "variables", "planted"),
                           "wb") as f:
        f.write(b"planted")
    tf.io.gfile.remove(layout.join(root, layout.MANIFEST_FILE))
    layout.write_manifest(root)
    with pytest.raises(encryption.EncryptionError,
                       match="^variables/planted: not in the encryption "
                             "envelope"):
        with encryption.decrypted(root, _key_dir(tmp_path, kek)):
            pass
