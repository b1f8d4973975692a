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
