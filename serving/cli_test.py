"""`tfx-prod serve`: the help teaches (TF Serving's equivalent command line),
bad flags exit 2 with the fix."""
import subprocess
import sys

from serving import testutil


def _cli(*args, timeout=120):
    return subprocess.run([sys.executable, "-m", "tfx_prod.cli", "serve", *args],
                          capture_output=True, text=True, timeout=timeout,
                          cwd=testutil.REPO)


def test_help_shows_the_tensorflow_model_server_command():
    result = _cli("--help")
    assert result.returncode == 0
    assert "tensorflow_model_server --port=8500 --rest_api_port=8501" in result.stdout
    assert f"--model_base_path={testutil.REPO}/tfx_prod_home/serving/taxi" in \
        result.stdout
    for flag in ("--model_config_file", "--enable_batching",
                 "--batching_parameters_file", "--monitoring_config_file",
                 "--file_system_poll_wait_seconds", "--runtime"):
        assert flag in result.stdout


def test_bad_flags_exit_2_with_the_fix(tmp_path):
    result = _cli(f"--model_base_path={tmp_path}",
                  f"--batching_parameters_file={tmp_path}/b.txt")
    assert result.returncode == 2
    assert "--batching_parameters_file is set without --enable_batching=true" \
        in result.stderr
    result = _cli("--model_config_file=/nonexistent.config")
    assert result.returncode == 2 and "cannot read --model_config_file" in result.stderr
