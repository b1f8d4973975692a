"""`tfx-prod export onnx` on the model the shared pipeline run pushed: a
signed copy plus model.onnx that `serve --runtime onnx` answers exactly as
the SavedModel's signature computes; the pushed version is left untouched;
an existing export, an encrypted version and a bad VERSION are refused."""
import os
import shutil

import numpy as np
import pytest

from serving import layout, testutil
from serving.testutil import rest_json, wait_for
from tests.helpers import MODEL_NAME, tfx_prod, versions

pytestmark = [pytest.mark.e2e, pytest.mark.xdist_group("first_run")]


@pytest.fixture(scope="module")
def pushed(first_run):
    home, result, _ = first_run
    assert result.returncode == 0, "the shared first run failed"
    [version] = versions(home)
    return home, version, str(home / "serving" / MODEL_NAME / version)


def _export(home, *flags):
    result, _ = tfx_prod(*flags, "--home", str(home),
                         command=("export", "onnx"), home=home)
    return result


def test_exported_onnx_version_is_signed_and_serves_the_savedmodels_answers(
        pushed, tmp_path):
    home, version, source = pushed
    before = sorted(layout.walk_files(source))
    keys = tmp_path / "keys"
    result, _ = tfx_prod("init", "--dir", str(keys), command=("keys",),
                         home=home)
    assert result.returncode == 0, result.stderr
    [private] = (keys / "private").glob("*.pem")
    out = tmp_path / "onnx" / MODEL_NAME
    result = _export(home, version, "--out", str(out),
                     "--signing-key", str(private))
    assert result.returncode == 0, result.stderr
    assert "max |ONNX - SavedModel|" in result.stdout
    assert f"--model_base_path={out} --runtime onnx" in result.stdout
    exported = out / version
    manifest = layout.read_manifest(str(exported))
    assert layout.ONNX_FILE in manifest["files"]
    assert set(manifest["files"]) == set(before) - {
        layout.MANIFEST_FILE, layout.SIGNATURE_FILE} | {layout.ONNX_FILE}
    assert sorted(layout.walk_files(source)) == before  # pushed one untouched

    import tensorflow as tf
    signature = tf.saved_model.load(source).signatures["predict_transformed"]
    widths = {name: int(spec.shape[1]) for name, spec in
              signature.structured_input_signature[1].items()}
    rng = np.random.default_rng(3)
    rows = {name: rng.uniform(0, 1, (5, width)).astype(np.float32)
            for name, width in widths.items()}
    expected = signature(**{k: tf.constant(v) for k, v in rows.items()})
    [(output, values)] = expected.items()

    with testutil.ServerProcess(f"--model_name={MODEL_NAME}",
                                f"--model_base_path={out}", "--runtime=onnx",
                                f"--trusted_signing_keys={keys / 'public'}"
                                ) as server:
        assert wait_for(lambda: testutil.version_statuses(
            server, MODEL_NAME) == {version: ("AVAILABLE", "")}), server.log
        status, metadata = rest_json(
            f"{server.url}/v1/models/{MODEL_NAME}/metadata")
        assert status == 200
        signatures = metadata["metadata"]["signature_def"]["signature_def"]
        assert set(signatures) == {"predict_transformed"}
        assert set(signatures["predict_transformed"]["inputs"]) == set(widths)
        status, body = rest_json(
            f"{server.url}/v1/models/{MODEL_NAME}:predict",
            {"signature_name": "predict_transformed",
             "instances": [{k: v[i].tolist() for k, v in rows.items()}
                           for i in range(5)]})
        assert status == 200, body
    np.testing.assert_allclose(np.array(body["predictions"]).reshape(5, -1),
                               values.numpy().reshape(5, -1), atol=1e-5)

    again = _export(home, version, "--out", str(out))
    assert again.returncode == 1 and "already exported" in again.stderr


def test_an_unknown_version_or_an_encrypted_one_is_refused(pushed, tmp_path):
    home, version, source = pushed
    missing = _export(home, "7", "--out", str(tmp_path / "x"))
    assert missing.returncode == 2
    assert f"complete: {version}" in missing.stderr
    from serving import encryption_keys
    encrypted = tmp_path / "enc" / MODEL_NAME / version
    shutil.copytree(source, encrypted)
    key = encryption_keys.new_key()
    testutil.encrypt_version(str(encrypted), encryption_keys.key_id(key), key)
    result = _export(home, str(encrypted), "--out", str(tmp_path / "y"))
    assert result.returncode == 1 and "encrypted at rest" in result.stderr
    assert not os.path.exists(tmp_path / "y")
