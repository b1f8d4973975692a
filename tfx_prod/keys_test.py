"""`tfx-prod keys` through the real CLI entry point: init writes a 0600
private key and its public key and refuses to overwrite; rotate keeps the
old key trusted; retire stops trusting it; `serve --trusted_signing_keys
DIR/public` trusts exactly the non-retired keys; `run --signing-key` exports
a key that loads and refuses one that does not."""
import argparse
import json
import os
import stat
import uuid

import pytest

from serving import layout, signing
from tfx_prod import cli, run_args


def _keys(capsys, directory) -> list:
    capsys.readouterr()
    assert cli.main(["keys", "list", "--dir", str(directory), "--json"]) == 0
    return json.loads(capsys.readouterr().out)


def _signed_version(private_path) -> str:
    """A tiny version on ram://, signed with the key at `private_path`."""
    root = f"ram://keys_test_{uuid.uuid4().hex[:8]}/m/1"
    import tensorflow as tf
    with tf.io.gfile.GFile(layout.join(root, layout.SAVED_MODEL_FILE),
                           "wb") as f:
        f.write(b"graph")
    layout.write_manifest(root, sign=signing.signer(
        signing.load_private_key(private_path)))
    return root


def test_init_writes_a_private_key_only_its_owner_reads(tmp_path, capsys):
    directory = tmp_path / "keys"
    assert cli.main(["keys", "init", "--dir", str(directory)]) == 0
    out = capsys.readouterr().out
    [key] = _keys(capsys, directory)
    assert key["status"] == "active" and key["created"]
    assert key["id"] in out and "--trusted_signing_keys=" in out
    assert stat.S_IMODE(os.stat(key["private"]).st_mode) == 0o600
    assert key["private"] == str(directory / "private" / f"{key['id']}.pem")
    assert set(signing.load_trusted_keys(str(directory / "public"))) == {
        key["id"]}
    private = open(key["private"], "rb").read()

    assert cli.main(["keys", "init", "--dir", str(directory)]) == 2
    assert "already holds signing keys" in capsys.readouterr().err
    assert open(key["private"], "rb").read() == private
    assert _keys(capsys, directory) == [key]


def test_rotate_keeps_the_old_key_trusted_until_it_is_retired(tmp_path,
                                                              capsys):
    directory = tmp_path / "keys"
    assert cli.main(["keys", "rotate", "--dir", str(directory)]) == 2
    assert "keys init" in capsys.readouterr().err
    cli.main(["keys", "init", "--dir", str(directory)])
    [old] = _keys(capsys, directory)
    old_version = _signed_version(old["private"])
    assert cli.main(["keys", "rotate", "--dir", str(directory)]) == 0
    keys = {k["id"]: k for k in _keys(capsys, directory)}
    [new] = [k for k in keys.values() if k["id"] != old["id"]]
    assert (keys[old["id"]]["status"], new["status"]) == ("trusted", "active")
    trusted = signing.load_trusted_keys(str(directory / "public"))
    assert signing.verify_version(old_version, trusted) == old["id"]
    assert signing.verify_version(_signed_version(new["private"]),
                                  trusted) == new["id"]

    assert cli.main(["keys", "retire", new["id"], "--dir",
                     str(directory)]) == 2
    assert "is the active key" in capsys.readouterr().err
    assert cli.main(["keys", "retire", old["id"], "--dir",
                     str(directory)]) == 0
    statuses = {k["id"]: k["status"] for k in _keys(capsys, directory)}
    assert statuses == {old["id"]: "retired", new["id"]: "active"}
    trusted = signing.load_trusted_keys(str(directory / "public"))
    with pytest.raises(signing.SignatureError,
                       match=f"signed by key {old['id']}, which is not "
                             f"trusted \\(trusted: {new['id']}\\)"):
        signing.verify_version(old_version, trusted)


def test_list_prints_a_table(tmp_path, capsys):
    directory = tmp_path / "keys"
    cli.main(["keys", "list", "--dir", str(directory)])
    assert "no keys" in capsys.readouterr().out
    cli.main(["keys", "init", "--dir", str(directory)])
    [key] = _keys(capsys, directory)
    cli.main(["keys", "list", "--dir", str(directory)])
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split() == ["ID", "STATUS", "CREATED", "PRIVATE", "KEY"]
    assert lines[1].split()[:2] == [key["id"], "active"]


def test_run_signing_key_is_exported_only_when_it_loads(tmp_path, capsys,
                                                        monkeypatch):
    # setenv first, so the teardown removes what apply_signing_key exports.
    monkeypatch.setenv(signing.SIGNING_KEY_ENV, "placeholder")
    monkeypatch.delenv(signing.SIGNING_KEY_ENV)
    args = argparse.Namespace(signing_key=None)
    assert run_args.apply_signing_key(args).startswith("off")
    assert signing.SIGNING_KEY_ENV not in os.environ
    with pytest.raises(run_args.UsageError,
                       match=f"--signing-key: cannot read key file "
                             f"{tmp_path}/nope.pem"):
        run_args.apply_signing_key(argparse.Namespace(
            signing_key=str(tmp_path / "nope.pem")))
    assert signing.SIGNING_KEY_ENV not in os.environ
    cli.main(["keys", "init", "--dir", str(tmp_path / "keys")])
    [key] = _keys(capsys, tmp_path / "keys")
    note = run_args.apply_signing_key(argparse.Namespace(
        signing_key=key["private"]))
    assert note == f"key {key['id']} ({key['private']})"
    assert os.environ[signing.SIGNING_KEY_ENV] == key["private"]


# --- encryption keys (serving/encryption.py) ----------------------------------

def _encrypted_version(base, kek_path) -> tuple:
    """A tiny encrypted version on ram:// under `base`; returns its path."""
    import tensorflow as tf
    from serving import encryption, testutil
    root = layout.version_dir(base, 1)
    with tf.io.gfile.GFile(layout.join(root, layout.SAVED_MODEL_FILE),
                           "wb") as f:
        f.write(b"graph")
    testutil.encrypt_version(root, *encryption.load_key(kek_path))
    return root


def test_encryption_keys_rotate_rewrap_then_retire(tmp_path, capsys):
    from serving import encryption
    directory = tmp_path / "keys"
    assert cli.main(["keys", "rotate", "--encryption", "--dir",
                     str(directory)]) == 2
    assert "keys init --encryption" in capsys.readouterr().err
    assert cli.main(["keys", "init", "--encryption", "--dir",
                     str(directory)]) == 0
    assert "--decryption_keys=" in capsys.readouterr().out
    [old] = _keys(capsys, directory)
    assert (old["kind"], old["status"]) == ("encryption", "active")
    assert stat.S_IMODE(os.stat(old["key"]).st_mode) == 0o600
    # Signing keys are separate: init still makes the first one.
    assert cli.main(["keys", "init", "--dir", str(directory)]) == 0
    base = f"ram://keys_test_{uuid.uuid4().hex[:8]}/m"
    version = _encrypted_version(base, old["key"])

    assert cli.main(["keys", "rotate", "--encryption", "--dir",
                     str(directory)]) == 0
    keks = {k["id"]: k for k in _keys(capsys, directory)
            if k.get("kind") == "encryption"}
    [new] = [k for k in keks.values() if k["id"] != old["id"]]
    assert (keks[old["id"]]["status"], new["status"]) == ("trusted", "active")
    assert cli.main(["keys", "retire", new["id"], "--dir",
                     str(directory)]) == 2
    assert "active encryption key" in capsys.readouterr().err
    assert cli.main(["keys", "retire", old["id"], "--model_base_path", base,
                     "--dir", str(directory)]) == 2
    assert f"{base}/1 is still wrapped with {old['id']}" in (
        capsys.readouterr().err)
    assert cli.main(["keys", "rewrap", "--model_base_path", base, "--dir",
                     str(directory)]) == 0
    assert f"{base}/1: re-wrapped (was {old['id']})" in (
        capsys.readouterr().out)
    assert cli.main(["keys", "retire", old["id"], "--model_base_path", base,
                     "--dir", str(directory)]) == 0
    assert "rewrap" in capsys.readouterr().out
    statuses = {k["id"]: k["status"] for k in _keys(capsys, directory)
                if k.get("kind") == "encryption"}
    assert statuses == {old["id"]: "retired", new["id"]: "active"}
    # Only the new key is left to servers, and it decrypts the version.
    assert set(encryption.load_keys(str(directory / "encryption"))) == {
        new["id"]}
    with encryption.decrypted(version, str(directory / "encryption")) as src:
        import tensorflow as tf
        with tf.io.gfile.GFile(layout.join(src, layout.SAVED_MODEL_FILE),
                               "rb") as f:
            assert f.read() == b"graph"
    cli.main(["keys", "list", "--dir", str(directory)])
    lines = capsys.readouterr().out.splitlines()
    assert ["ID", "STATUS", "CREATED", "ENCRYPTION", "KEY"] in [
        line.split() for line in lines]


def test_rewrap_stops_at_a_version_no_key_unwraps(tmp_path, capsys):
    from serving import encryption, encryption_keys
    directory = tmp_path / "keys"
    cli.main(["keys", "init", "--encryption", "--dir", str(directory)])
    stray = tmp_path / "stray.kek"
    stray.write_bytes(encryption_keys.key_file_bytes(encryption.new_key()))
    base = f"ram://keys_test_{uuid.uuid4().hex[:8]}/m"
    _encrypted_version(base, str(stray))
    capsys.readouterr()
    assert cli.main(["keys", "rewrap", "--model_base_path", base, "--dir",
                     str(directory)]) == 2
    assert (f"{base}: version 1 ({base}/1): encrypted with key "
            f"{encryption.load_key(str(stray))[0]}, which is not among") in (
        capsys.readouterr().err)


def test_run_encryption_key_is_exported_only_when_it_loads(tmp_path, capsys,
                                                           monkeypatch):
    from serving import encryption
    monkeypatch.setenv(encryption.ENCRYPTION_KEY_ENV, "placeholder")
    monkeypatch.delenv(encryption.ENCRYPTION_KEY_ENV)
    args = argparse.Namespace(encryption_key=None)
    assert run_args.apply_encryption_key(args).startswith("off")
    with pytest.raises(run_args.UsageError,
                       match=f"--encryption-key: cannot read key file "
                             f"{tmp_path}/nope.kek"):
        run_args.apply_encryption_key(argparse.Namespace(
            encryption_key=str(tmp_path / "nope.kek")))
    assert encryption.ENCRYPTION_KEY_ENV not in os.environ
    cli.main(["keys", "init", "--encryption", "--dir", str(tmp_path / "k")])
    [key] = _keys(capsys, tmp_path / "k")
    note = run_args.apply_encryption_key(argparse.Namespace(
        encryption_key=key["key"]))
    assert note == f"key {key['id']} ({key['key']})"
    assert os.environ[encryption.ENCRYPTION_KEY_ENV] == key["key"]
