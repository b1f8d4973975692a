"""A real `python -m serving --trusted_signing_keys DIR` process: a signed
version serves; a newer version with one byte changed after signing, and an
unsigned one, are never served (default requests keep the old version) and
`GET /v1/models/m` shows each one's error naming what failed."""
import os

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519

from serving import layout, signing, testutil
from serving.testutil import rest_json, wait_for

WEIGHTS = "variables/variables.data-00000-of-00001"


def _publish(staging, base, version, key=None, tamper=None):
    """Writes version `version` (y = 0.5x + version + 1) aside, signed with
    `key` if given, optionally changes one byte of `tamper`, then renames it
    into `base` as the Pusher does."""
    module, signatures = testutil.half_plus_two(b=float(version + 1))
    path = testutil.write_version(str(staging), version, module, signatures,
                                  manifest=False)
    layout.write_manifest(path, sign=signing.signer(key) if key else None)
    if tamper:
        with open(os.path.join(path, tamper), "r+b") as f:
            first = f.read(1)
            f.seek(0)
            f.write(bytes([first[0] ^ 0x01]))
    os.rename(path, os.path.join(base, str(version)))


def test_only_intact_versions_signed_by_a_trusted_key_serve(tmp_path):
    key = ed25519.Ed25519PrivateKey.generate()
    public = tmp_path / "keys" / "public"
    public.mkdir(parents=True)
    (public / f"{signing.key_id(key.public_key())}.pub").write_bytes(
        key.public_key().public_bytes(
            serialization.Encoding.PEM,
            serialization.PublicFormat.SubjectPublicKeyInfo))
    base, staging = tmp_path / "m", tmp_path / "staging"
    base.mkdir()
    staging.mkdir()
    _publish(staging, base, 1, key)
    with testutil.ServerProcess(
            "--model_name=m", f"--model_base_path={base}",
            f"--trusted_signing_keys={public}", "--max_num_load_retries=0",
            "--file_system_poll_wait_seconds=0.2", "--port=0") as server:
        assert testutil.version_statuses(server) == {"1": ("AVAILABLE", "")}
        predict = f"{server.url}/v1/models/m:predict"
        assert rest_json(predict, {"instances": [2.0]}) == (
            200, {"predictions": [3.0]})

        _publish(staging, base, 2, key, tamper=WEIGHTS)
        assert wait_for(lambda: testutil.version_statuses(server).get("2", ("",))[0] == "END")
        _publish(staging, base, 3)  # unsigned
        assert wait_for(lambda: testutil.version_statuses(server).get("3", ("",))[0] == "END")

        statuses = testutil.version_statuses(server)
        assert statuses["1"] == ("AVAILABLE", "")
        assert statuses["2"][1] == (
            f"SignatureError: {WEIGHTS}: SHA-256 differs from the signed "
            "manifest (altered after signing)")
        assert statuses["3"][1].startswith(
            f"SignatureError: unsigned: no {layout.SIGNATURE_FILE}")
        _, metadata = rest_json(f"{server.url}/v1/models/m/metadata")
        assert metadata["model_spec"]["version"] == "1"
        assert rest_json(predict, {"instances": [2.0]}) == (
            200, {"predictions": [3.0]})
        assert rest_json(f"{server.url}/v1/models/m/versions/2:predict",
                         {"instances": [2.0]})[0] == 404
    assert f"{WEIGHTS}: SHA-256 differs" in server.log


def test_a_missing_trusted_key_path_stops_the_server(tmp_path):
    base = tmp_path / "m"
    base.mkdir()
    server = testutil.ServerProcess(
        f"--model_base_path={base}",
        f"--trusted_signing_keys={tmp_path / 'nowhere'}", wait=False)
    assert server.process.wait(timeout=120) == 2
    server.stop()
    assert (f"--trusted_signing_keys: trusted signing keys "
            f"{tmp_path / 'nowhere'}: no such file or directory") in server.log
