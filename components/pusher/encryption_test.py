"""The Pusher encrypts what it publishes when $TFX_PROD_ENCRYPTION_KEY names
a KEK file: real Executor.Do on real SavedModels (locally and on ram://, as
on gs://), every model and metadata file stored as ciphertext, the version
decrypting and loading back; signed, the signature covers the encrypted
bytes; a plaintext served version is not "this push" once encryption is
asked for; the cache key and the driver's "holds" know the key."""
import json
import os

import pytest
import tensorflow as tf
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519

from components.pusher import driver, executor
from components.pusher import encryption as pusher_encryption
from components.pusher.testing import (factor_served, push, pushed_version,
                                       read_bytes, visible_versions)
from serving import encryption, encryption_keys, layout, signing


def _kek_file(path):
    key = encryption.new_key()
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(encryption_keys.key_file_bytes(key))
    return encryption.key_id(key), key


def _destination(pushed):
    return pushed.get_string_custom_property(executor.PUSHED_DESTINATION)


def _check_encrypted_and_loads(tmp_path, target, kek, factor):
    envelope = encryption.read_envelope(target)
    assert envelope["key_id"] == kek[0]
    for relative in layout.read_manifest(target)["files"]:
        stored = read_bytes(layout.join(target, relative))
        assert stored.startswith(encryption.MAGIC) == (
            relative not in encryption.PLAINTEXT), relative
    assert json.loads(read_bytes(layout.join(target, layout.LINEAGE_FILE)))[
        "pipeline_name"]
    assert not layout.changed_files(target, layout.read_manifest(target))
    spec = tmp_path / "server-keys"
    spec.mkdir(exist_ok=True)
    (spec / f"{kek[0]}.kek").write_bytes(encryption_keys.key_file_bytes(kek[1]))
    with encryption.decrypted(target, str(spec)) as source:
        assert factor_served(source) == factor
        schema = read_bytes(layout.join(source, layout.SCHEMA_FILE)).decode()
        assert 'name: "x"' in schema
        assert read_bytes(layout.join(source, layout.TFLITE_FILE)) == (
            b"tflite for factor %d" % factor)


def test_with_a_key_the_pushed_version_is_encrypted_and_loads_back(
        tmp_path, models, monkeypatch):
    kek = _kek_file(tmp_path / "secrets" / "push.kek")
    monkeypatch.setenv(encryption.ENCRYPTION_KEY_ENV,
                       str(tmp_path / "secrets" / "push.kek"))
    monkeypatch.delenv(signing.SIGNING_KEY_ENV, raising=False)
    base = str(tmp_path / "serving" / "taxi")
    pushed = push(tmp_path, models[2], base)
    target = _destination(pushed)
    _check_encrypted_and_loads(tmp_path, target, kek, 2.0)
    assert pushed.get_string_custom_property(executor.ENCRYPTED_WITH) == kek[0]
    with open(os.path.join(pushed.uri, executor.PUSH_RECORD_FILE)) as f:
        assert json.load(f)["encrypted_with"] == kek[0]
    # No plaintext scratch or staging left under the model base.
    assert sorted(os.listdir(base)) == [str(pushed_version(pushed))]
    # Same model, same key again: that encrypted version is this push.
    again = push(tmp_path, models[2], base)
    assert again.get_int_custom_property(executor.ALREADY_SERVING) == 1
    assert visible_versions(base) == [pushed_version(pushed)]


def test_an_encrypted_remote_push_is_signed_over_its_ciphertext(
        tmp_path, remote_models, ram_base, monkeypatch):
    kek = _kek_file(tmp_path / "push.kek")
    monkeypatch.setenv(encryption.ENCRYPTION_KEY_ENV, str(tmp_path / "push.kek"))
    signer = ed25519.Ed25519PrivateKey.generate()
    (tmp_path / "signing.pem").write_bytes(signer.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption()))
    monkeypatch.setenv(signing.SIGNING_KEY_ENV, str(tmp_path / "signing.pem"))
    pushed = push(tmp_path, remote_models[2], ram_base)
    target = _destination(pushed)
    assert target.startswith("ram://")
    signing.verify_version(target, {
        signing.key_id(signer.public_key()): signer.public_key()})
    _check_encrypted_and_loads(tmp_path, target, kek, 2.0)


def test_a_plaintext_served_version_is_re_pushed_encrypted(tmp_path, models,
                                                            monkeypatch):
    base = str(tmp_path / "serving" / "taxi")
    monkeypatch.delenv(encryption.ENCRYPTION_KEY_ENV, raising=False)
    plain = push(tmp_path, models[3], base)
    assert plain.get_string_custom_property(executor.ENCRYPTED_WITH) == ""
    assert encryption.read_envelope(_destination(plain)) is None
    kek = _kek_file(tmp_path / "push.kek")
    monkeypatch.setenv(encryption.ENCRYPTION_KEY_ENV, str(tmp_path / "push.kek"))
    encrypted = push(tmp_path, models[3], base)
    assert encrypted.get_int_custom_property(executor.ALREADY_SERVING) == 0
    assert pushed_version(encrypted) > pushed_version(plain)
    _check_encrypted_and_loads(tmp_path, _destination(encrypted), kek, 3.0)
    payload = encrypted.get_string_custom_property(executor.PAYLOAD_DIGEST)
    encrypter = pusher_encryption.from_environment()
    assert driver.holds(_destination(encrypted), payload, encrypter)
    assert not driver.holds(_destination(encrypted), payload, None)
    other = _kek_file(tmp_path / "other.kek")
    assert not driver.holds(_destination(encrypted), payload,
                            pusher_encryption.Encrypter(*other))


def test_an_unreadable_key_fails_the_push_naming_the_path(tmp_path, models,
                                                          monkeypatch):
    missing = tmp_path / "secrets" / "push.kek"
    monkeypatch.setenv(encryption.ENCRYPTION_KEY_ENV, str(missing))
    base = str(tmp_path / "serving" / "taxi")
    with pytest.raises(encryption.KeyFileError,
                       match=f"TFX_PROD_ENCRYPTION_KEY: cannot read key file "
                             f"{missing}"):
        push(tmp_path, models[2], base)
    assert not tf.io.gfile.exists(base) or visible_versions(base) == []


def test_the_cache_key_names_the_encryption_key(tmp_path, monkeypatch):
    monkeypatch.delenv(encryption.ENCRYPTION_KEY_ENV, raising=False)
    assert pusher_encryption.cache_state() == ""
    states = set()
    for name in ("a.kek", "b.kek"):
        key_id, _ = _kek_file(tmp_path / name)
        monkeypatch.setenv(encryption.ENCRYPTION_KEY_ENV, str(tmp_path / name))
        state = pusher_encryption.cache_state()
        assert state == f";encrypted_with:{key_id}"
        states.add(state)
    assert len(states) == 2
