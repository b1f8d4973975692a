"""The CLI's flags -> the Trainer config every recipe validates, and usage errors."""
import subprocess
import sys

import pytest

from modules.model import TrainerConfig
from modules.recipes import distill, prune
from tfx_prod import run_args
from tfx_prod.cli import build_parser


@pytest.mark.parametrize("flags", [
    [],
    ["--optimization", "prune", "--final-sparsity", "0.9"],
    ["--optimization", "prune", "--train-steps", "1000",
     "--pruning-begin-step", "100", "--pruning-end-step", "900"],
    ["--optimization", "distill"],
    ["--optimization", "distill", "--teacher", "blessed", "--temperature", "4"],
    ["--strategy", "cpu", "--mixed-precision", "--xla"],
])
def test_flags_make_a_config_the_recipes_accept(flags):
    args = build_parser().parse_args(["run", *flags])
    config = TrainerConfig.from_custom_config(run_args.trainer_options(args))
    if config.optimization == "prune":
        settings = prune.schedule_settings(config.options, args.train_steps)
        assert settings["final_sparsity"] == args.final_sparsity
    elif config.optimization == "distill":
        settings = distill.distillation_settings(config.options)
        expected = "base_model" if args.teacher == "blessed" else "trained"
        assert settings["teacher"] == expected
    assert config.mixed_precision == ("--mixed-precision" in flags)
    assert config.xla == ("--xla" in flags)


def test_recipe_settings_stay_out_of_a_plain_run():
    """So tuning a recipe flag does not invalidate a cached plain model."""
    plain = run_args.trainer_options(build_parser().parse_args(
        ["run", "--temperature", "9", "--final-sparsity", "0.6"]))
    assert "options" not in plain


@pytest.mark.parametrize("argv, message", [
    (["run", "--data", "/nonexistent"], "no such folder"),
    (["run", "--train-steps", "0"], "must be > 0"),
    (["run", "--optimization", "prune", "--initial-sparsity", "0.9",
      "--final-sparsity", "0.5"], "--initial-sparsity must not exceed"),
    (["run", "--min-auc", "1.5"], "must be in [0, 1]"),
    (["data", "synth", "--rows", "0", "--span", "2"], "rows"),
])
def test_bad_arguments_exit_2_with_a_clear_message(argv, message, tmp_path):
    result = subprocess.run([sys.executable, "-m", "tfx_prod.cli", *argv,
                             *(["--home", str(tmp_path)] if argv[0] == "run"
                               else [])],
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 2, (result.stdout, result.stderr)
    assert message in result.stderr
    assert not (tmp_path / "pipeline").exists()
