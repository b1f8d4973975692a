"""A real `python -m serving --decryption_keys DIR` process: encrypted
versions serve and predict; one flipped byte, or a key the server does not
hold, is "failed to load, never served" with the file or key id named,
while the old version keeps serving. Key rotation under a bounded loopback
load: a new key is added, a late push with the old key still loads, every
version is re-wrapped, a push with the new key loads, the old key is
retired; no request fails, and a restarted server with only the new key
serves every version."""
import os
import shutil

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519

from serving import encryption, encryption_keys, layout, signing, testutil
from serving.testutil import Load, rest_json, wait_for

WEIGHTS = "variables/variables.data-00000-of-00001"
PREDICT = "/v1/models/m:predict"


def _kek(folder=None):
    key = encryption.new_key()
    key_id = encryption.key_id(key)
    if folder is not None:
        os.makedirs(folder, exist_ok=True)
        with open(os.path.join(folder, key_id + encryption.KEY_SUFFIX),
                  "wb") as f:
            f.write(encryption_keys.key_file_bytes(key))
    return key_id, key


def _publish(staging, base, version, kek, tamper=None, sign=None):
    """Version `version` (y = 0.5x + version + 1), encrypted with `kek`
    aside (then signed with `sign`: over the encrypted bytes), one
    ciphertext byte of `tamper` flipped, renamed into `base`."""
    module, signatures = testutil.half_plus_two(b=float(version + 1))
    path = testutil.write_version(str(staging), version, module, signatures,
                                  manifest=False,
                                  schema=testutil.HALF_PLUS_TWO_SCHEMA)
    testutil.encrypt_version(path, *kek, sign=sign)
    if tamper:
        with open(os.path.join(path, tamper), "r+b") as f:
            f.seek(-5, os.SEEK_END)
            byte = f.read(1)
            f.seek(-5, os.SEEK_END)
            f.write(bytes([byte[0] ^ 0x01]))
    os.rename(path, os.path.join(base, str(version)))


def _predict(server, version=None):
    path = f"/v1/models/m/versions/{version}:predict" if version else PREDICT
    return rest_json(server.url + path, {"instances": [2.0]})


def test_encrypted_versions_serve_and_broken_ones_never_do(tmp_path):
    keys = tmp_path / "keys"
    kek = _kek(keys)
    stranger = _kek()
    base, staging = tmp_path / "m", tmp_path / "staging"
    base.mkdir()
    staging.mkdir()
    _publish(staging, base, 1, kek)
    with testutil.ServerProcess(
            "--model_name=m", f"--model_base_path={base}",
            f"--decryption_keys={keys}", "--max_num_load_retries=0",
            "--file_system_poll_wait_seconds=0.2", "--port=0") as server:
        assert testutil.version_statuses(server) == {"1": ("AVAILABLE", "")}
        assert _predict(server) == (200, {"predictions": [3.0]})
        # The schema was decrypted too: requests are validated against it.
        status, body = rest_json(server.url + PREDICT,
                                 {"instances": [5000.0]})
        assert status == 400 and "x" in body["error"]

        _publish(staging, base, 2, kek, tamper=WEIGHTS)
        assert wait_for(lambda: testutil.version_statuses(server).get("2", ("",))[0] == "END")
        _publish(staging, base, 3, stranger)
        assert wait_for(lambda: testutil.version_statuses(server).get("3", ("",))[0] == "END")

        statuses = testutil.version_statuses(server)
        assert statuses["1"] == ("AVAILABLE", "")
        assert statuses["2"][1] == (
            f"EncryptionError: {WEIGHTS}: does not decrypt (altered after "
            "the push, or moved here from another file or version)")
        assert statuses["3"][1].startswith(
            f"EncryptionError: encrypted with key {stranger[0]}, which is "
            f"not among the decryption keys (have: {kek[0]})")
        assert _predict(server) == (200, {"predictions": [3.0]})
        assert _predict(server, 2)[0] == 404
    assert f"{WEIGHTS}: does not decrypt" in server.log
    # Nothing decrypted was left beside the versions.
    assert sorted(os.listdir(base)) == ["1", "2", "3"]


def _signing_key(folder):
    """An Ed25519 key whose public half is trusted from `folder`."""
    key = ed25519.Ed25519PrivateKey.generate()
    folder.mkdir()
    (folder / f"{signing.key_id(key.public_key())}.pub").write_bytes(
        key.public_key().public_bytes(
            serialization.Encoding.PEM,
            serialization.PublicFormat.SubjectPublicKeyInfo))
    return signing.signer(key)


def test_rotation_under_load_fails_no_request(tmp_path):
    """Signed as well: re-wrapping leaves the signed bytes alone."""
    keys = tmp_path / "keys"
    old = _kek(keys)
    sign = _signing_key(tmp_path / "trusted")
    base, staging = tmp_path / "m", tmp_path / "staging"
    base.mkdir()
    staging.mkdir()
    _publish(staging, base, 1, old, sign=sign)
    config = tmp_path / "models.config"
    config.write_text("model_config_list { config { name: 'm' base_path: "
                      "'%s' model_version_policy { all {} } } }" % base)
    flags = (f"--model_config_file={config}", f"--decryption_keys={keys}",
             f"--trusted_signing_keys={tmp_path / 'trusted'}",
             "--max_num_load_retries=0", "--file_system_poll_wait_seconds=0.2",
             "--port=0")
    with testutil.ServerProcess(*flags) as server, Load(
            server.rest_port, PREDICT, b'{"instances": [2.0]}') as load:
        assert wait_for(lambda: load.ok >= 20)
        new = _kek(keys)                       # `keys rotate --encryption`
        _publish(staging, base, 2, old, sign=sign)   # late push, old key
        assert wait_for(lambda: testutil.version_statuses(server).get("2") == (
            "AVAILABLE", ""))
        rewrapped = encryption.rewrap_model_base(
            str(base), encryption.load_keys(str(keys)), *new)
        assert rewrapped == [(1, old[0]), (2, old[0])]
        _publish(staging, base, 3, new, sign=sign)
        assert wait_for(lambda: testutil.version_statuses(server).get("3") == (
            "AVAILABLE", ""))
        (keys / "retired").mkdir()
        shutil.move(str(keys / f"{old[0]}.kek"), str(keys / "retired"))
        _publish(staging, base, 4, old, sign=sign)   # retired: never
        assert wait_for(lambda: testutil.version_statuses(server).get("4", ("",))[0] == "END")
        assert testutil.version_statuses(server)["4"][1].startswith(
            f"EncryptionError: encrypted with key {old[0]}, which is not "
            f"among the decryption keys (have: {new[0]})")
        assert _predict(server) == (200, {"predictions": [5.0]})
        count = load.ok
        assert wait_for(lambda: load.ok >= count + 20)
    assert load.failed == [] and load.ok > 0, load.failed[:5]
    assert len(load.answers) == 3   # 3.0, then 4.0, then 5.0: all served
    assert all(encryption.read_envelope(layout.version_dir(str(base), v))[
        "key_id"] == new[0] for v in (1, 2, 3))

    with testutil.ServerProcess(*flags) as restarted:
        statuses = testutil.version_statuses(restarted)
        assert {v: s[0] for v, s in statuses.items()} == {
            "1": "AVAILABLE", "2": "AVAILABLE", "3": "AVAILABLE", "4": "END"}
        for version, answer in ((1, 3.0), (2, 4.0), (3, 5.0)):
            assert _predict(restarted, version) == (
                200, {"predictions": [answer]})
    print(f"\nrotation under load: {load.ok} requests, 0 failed")


def test_a_missing_decryption_keys_path_stops_the_server(tmp_path):
    base = tmp_path / "m"
    base.mkdir()
    server = testutil.ServerProcess(
        f"--model_base_path={base}",
        f"--decryption_keys={tmp_path / 'nowhere'}", wait=False)
    assert server.process.wait(timeout=120) == 2
    server.stop()
    assert (f"--decryption_keys: decryption keys {tmp_path / 'nowhere'}: "
            "no such file or directory") in server.log
