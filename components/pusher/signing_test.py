"""The Pusher signs what it publishes when $TFX_PROD_SIGNING_KEY names a
key file: real Executor.Do on real SavedModels, verified with the public
key; no key is an unsigned push; a key that cannot be read fails the push
naming the path; an unsigned served version is not "this push" once signing
is asked for."""
import json
import os

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519

from components.pusher import executor
from components.pusher import signing as pusher_signing
from components.pusher.testing import push, pushed_version, visible_versions
from serving import layout, signing


def _key_file(path):
    key = ed25519.Ed25519PrivateKey.generate()
    path.write_bytes(key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption()))
    return key


def _destination(pushed):
    return pushed.get_string_custom_property(executor.PUSHED_DESTINATION)


def test_with_a_key_the_pushed_version_is_signed_and_verifies(
        tmp_path, models, monkeypatch):
    key = _key_file(tmp_path / "signing.pem")
    monkeypatch.setenv(signing.SIGNING_KEY_ENV, str(tmp_path / "signing.pem"))
    pushed = push(tmp_path, models[2], str(tmp_path / "serving" / "taxi"))
    key_id = signing.key_id(key.public_key())
    target = _destination(pushed)
    assert signing.verify_version(
        target, {key_id: key.public_key()}) == key_id
    assert pushed.get_string_custom_property(executor.SIGNED_BY) == key_id
    with open(os.path.join(pushed.uri, executor.PUSH_RECORD_FILE)) as f:
        assert json.load(f)["signed_by"] == key_id
    assert layout.is_complete(target)


def test_a_signed_remote_push_verifies(tmp_path, remote_models, ram_base,
                                       monkeypatch):
    key = _key_file(tmp_path / "signing.pem")
    monkeypatch.setenv(signing.SIGNING_KEY_ENV, str(tmp_path / "signing.pem"))
    pushed = push(tmp_path, remote_models[2], ram_base)
    signing.verify_version(_destination(pushed), {
        signing.key_id(key.public_key()): key.public_key()})


def test_without_a_key_the_push_is_unsigned(tmp_path, models, monkeypatch):
    monkeypatch.delenv(signing.SIGNING_KEY_ENV, raising=False)
    pushed = push(tmp_path, models[2], str(tmp_path / "serving" / "taxi"))
    assert pushed.get_string_custom_property(executor.SIGNED_BY) == ""
    with pytest.raises(signing.SignatureError, match="^unsigned"):
        signing.verify_version(_destination(pushed), {})


def test_an_unreadable_key_fails_the_push_naming_the_path(tmp_path, models,
                                                          monkeypatch):
    missing = tmp_path / "secrets" / "signing.pem"
    monkeypatch.setenv(signing.SIGNING_KEY_ENV, str(missing))
    base = str(tmp_path / "serving" / "taxi")
    with pytest.raises(signing.KeyFileError,
                       match=f"TFX_PROD_SIGNING_KEY: cannot read key file "
                             f"{missing}"):
        push(tmp_path, models[2], base)
    assert visible_versions(base) == []


def test_an_unsigned_served_version_is_re_pushed_signed(tmp_path, models,
                                                         monkeypatch):
    base = str(tmp_path / "serving" / "taxi")
    monkeypatch.delenv(signing.SIGNING_KEY_ENV, raising=False)
    unsigned = pushed_version(push(tmp_path, models[2], base))
    _key_file(tmp_path / "signing.pem")
    monkeypatch.setenv(signing.SIGNING_KEY_ENV, str(tmp_path / "signing.pem"))
    signed = push(tmp_path, models[2], base)
    assert signed.get_int_custom_property(executor.ALREADY_SERVING) == 0
    assert pushed_version(signed) > unsigned
    # Same model, same key again: that signed version is this push.
    again = push(tmp_path, models[2], base)
    assert again.get_int_custom_property(executor.ALREADY_SERVING) == 1
    assert pushed_version(again) == pushed_version(signed)


def test_the_cache_key_names_the_signing_key(tmp_path, monkeypatch):
    monkeypatch.delenv(signing.SIGNING_KEY_ENV, raising=False)
    assert pusher_signing.cache_state() == ""
    states = set()
    for name in ("a.pem", "b.pem"):
        key = _key_file(tmp_path / name)
        monkeypatch.setenv(signing.SIGNING_KEY_ENV, str(tmp_path / name))
        state = pusher_signing.cache_state()
        assert state == f";signed_by:{signing.key_id(key.public_key())}"
        states.add(state)
    assert len(states) == 2
