"""The next steps `tfx-prod run` prints after a push."""
import types

from serving import encryption_keys, testutil
from tfx_prod import run

CONFIG = types.SimpleNamespace(model_name="m", model_base="/srv/m",
                               data_root="/data")


def _version(tmp_path):
    version = tmp_path / "m" / "1"
    version.mkdir(parents=True)
    (version / "saved_model.pb").write_bytes(b"graph")
    return str(version)


def test_a_plaintext_push_suggests_saved_model_cli_and_serve(tmp_path):
    text = run._next_steps(_version(tmp_path), CONFIG)
    assert "saved_model_cli show --dir" in text
    assert "--decryption_keys" not in text


def test_an_encrypted_push_names_the_decryption_keys(tmp_path, monkeypatch):
    key = encryption_keys.new_key()
    key_file = tmp_path / "keys" / "encryption" / "k.kek"
    key_file.parent.mkdir(parents=True)
    key_file.write_bytes(encryption_keys.key_file_bytes(key))
    monkeypatch.setenv(encryption_keys.ENCRYPTION_KEY_ENV, str(key_file))
    version = _version(tmp_path)
    testutil.encrypt_version(version, encryption_keys.key_id(key), key)
    text = run._next_steps(version, CONFIG)
    assert f"--decryption_keys={key_file.parent}" in text
    assert "saved_model_cli show" not in text  # it cannot read ciphertext
