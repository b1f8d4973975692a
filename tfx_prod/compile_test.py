"""`tfx-prod compile` through the real CLI: flags become the spec's values."""
import json

import yaml

from tests.helpers import tfx_prod


def _compile(tmp_path, *flags):
    out = tmp_path / "pipeline.yaml"
    result, _ = tfx_prod("--output", str(out), *flags, command=("compile",),
                         home=tmp_path, timeout=600)
    return result, out


def test_gate_and_recipe_flags_reach_the_spec_and_its_parameters(tmp_path):
    result, out = _compile(tmp_path, "--min-auc", "0.7",
                           "--quantization-budget", "0.02",
                           "--optimization", "distill", "--teacher", "blessed")
    assert result.returncode == 0, result.stderr[-3000:]
    recorded = json.loads((tmp_path / "pipeline.yaml.params.json").read_text())
    assert json.loads(recorded["parameters"]["gates"])["min_auc"] == 0.7
    assert recorded["parameters"]["quantization_budget"] == 0.02
    tasks = yaml.safe_load(out.read_text())["root"]["dag"]["tasks"]
    # The served model is the teacher: read by our component, no resolver.
    assert "ServedBefore" in tasks["Trainer"]["dependentTasks"]


def test_flags_that_do_not_fit_exit_2_and_write_nothing(tmp_path):
    for flags, message in (
            (["--summary-json", "s.json"], "add --run-local"),
            (["--max-rmse", "3"], "applies to regression"),
            (["--temperature", "2"], "only apply with --optimization distill")):
        result, out = _compile(tmp_path, *flags)
        assert result.returncode == 2, (flags, result.stderr[-2000:])
        assert message in result.stderr
        assert not out.exists()
