"""The CLI refuses bad input before it costs anything, and its flags make a
Trainer config every recipe accepts."""
import os
import re
import subprocess
import sys

import pytest

from modules.model import TrainerConfig
from modules.recipes import settings
from pipeline import configs
from tests.helpers import PROJECT, read_text, write_span
from tfx_prod import run_args, training_args
from tfx_prod.cli import build_parser


@pytest.mark.parametrize("flags", [
    [],
    ["--optimization", "prune", "--final-sparsity", "0.9"],
    ["--optimization", "prune", "--train-steps", "1000",
     "--pruning-begin-step", "100", "--pruning-end-step", "900"],
    ["--optimization", "distill"],
    ["--optimization", "distill", "--teacher", "blessed", "--temperature", "4"],
    ["--strategy", "cpu", "--mixed-precision", "--xla"],
    ["--warm-start", "--train-steps", "50"],
])
def test_flags_make_a_config_the_recipes_accept(flags, tmp_path):
    args = build_parser().parse_args(["run", "--home", str(tmp_path), *flags])
    # The Trainer's custom_config exactly as `tfx-prod run` builds it.
    pipeline_config, _ = run_args.build_config(args)
    train_steps = pipeline_config.train_steps
    assert train_steps == (args.train_steps or configs.PipelineConfig
                           .__dataclass_fields__["train_steps"].default)
    config = TrainerConfig.from_custom_config(pipeline_config.trainer_config())
    # The project's task and label reach the Trainer with the flags.
    assert (config.task, config.label_key) == ("binary", "big_tipper")
    if config.optimization == "prune":
        schedule = settings.schedule_settings(config.options, train_steps)
        assert schedule["final_sparsity"] == (args.final_sparsity or 0.8)
        if args.pruning_end_step:
            assert schedule["end_step"] == args.pruning_end_step
    elif config.optimization == "distill":
        distill = settings.distillation_settings(config.options)
        assert distill["teacher"] == ("base_model" if args.teacher == "blessed"
                                      else "trained")
        assert distill["temperature"] == (args.temperature or 2.0)
    else:
        assert "options" not in training_args.trainer_options(args, train_steps)
    assert config.mixed_precision == ("--mixed-precision" in flags)
    assert config.warm_start == ("--warm-start" in flags)
    assert config.xla == ("--xla" in flags)


def _cli(*argv, cwd=PROJECT, timeout=120):
    return subprocess.run([sys.executable, "-m", "tfx_prod.cli", *argv],
                          capture_output=True, text=True, timeout=timeout,
                          cwd=cwd)


@pytest.mark.parametrize("argv, message", [
    (["--data", "/nonexistent"], "no such folder"),
    (["--train-steps", "0"], "must be > 0"),
    (["--optimization", "prune", "--initial-sparsity", "0.9",
      "--final-sparsity", "0.5"], "initial_sparsity <= final_sparsity"),
    (["--min-auc", "1.5"], "must be in [0, 1]"),
    (["--min-auc", "nan"], "must be a finite number"),
    (["--optimization", "distill", "--temperature", "inf"],
     "must be a finite number"),
    (["--optimization", "distill", "--temperature", "-1"], "must be > 0"),
    (["--pruning-begin-step", "-3", "--optimization", "prune"], "must be >= 0"),
    (["--final-sparsity", "0.9"], "only apply with --optimization prune"),
    (["--optimization", "prune", "--teacher", "blessed"],
     "only apply with --optimization distill"),
    (["--schema", "data/taxi/schema/schema.pbtxt", "--infer-schema"],
     "exclude each other"),
    (["--strategy", "multiworker"], "one process per worker"),
    (["--warm-start", "--optimization", "prune"],
     "--warm-start applies to --optimization none"),
    (["--model-name", "a/b"], "--model-name"),
    (["--model-name", "..x"], "--model-name"),
    (["--model-name", ""], "--model-name"),
    (["--pipeline-name", ""], "--pipeline-name"),
    (["--pipeline-name", "Taxi_Prod"], "--pipeline-name"),
    (["--data", "gs://bucket/taxi"], "must be a local folder"),
    (["--pipeline-root", "s3://bucket/root"], "must be a local folder"),
    (["--schema", "/nonexistent.pbtxt"], "no such file"),
])
def test_bad_arguments_exit_2_before_anything_runs(argv, message, tmp_path):
    result = _cli("run", "--home", str(tmp_path), *argv)
    assert result.returncode == 2, (result.stdout, result.stderr)
    assert message in result.stderr
    assert not (tmp_path / "pipeline").exists()
    assert not (tmp_path / "logs").exists()


def test_synth_rejects_zero_rows(tmp_path):
    result = _cli("data", "synth", "--rows", "0", "--span", "2",
                  "--data-root", str(tmp_path))
    assert result.returncode == 2 and "rows" in result.stderr


@pytest.mark.parametrize("content, problem", [
    (b"fare,tips\n1.0,2\x00\x00\x00", "NUL byte at offset 15"),
    ("fare,tips\n1.0,2\n".encode("utf-16"), "NUL byte"),
    (b"fare,tips\n\xff\xfe\xfa 1.0,2\n" + b"x" * 100, "not UTF-8 text"),
])
def test_a_binary_data_file_is_a_data_error_naming_it(tmp_path, content,
                                                      problem):
    data = write_span(tmp_path / "data", 1, read_text(50))
    (data / "span-1" / "extra.csv").write_bytes(content)
    result = _cli("run", "--home", str(tmp_path / "home"), "--data", str(data))
    assert result.returncode == 3, (result.stdout, result.stderr)
    assert str(data / "span-1" / "extra.csv") in result.stderr
    assert problem in result.stderr
    assert not (tmp_path / "home" / "pipeline").exists()


def test_someone_elses_csv_against_the_taxi_project_says_to_init(tmp_path):
    """A user's table run without --config would reach the taxi modules and
    die in Transform (KeyError: 'fare'); it is refused before anything runs."""
    span = tmp_path / "data" / "span-1"
    span.mkdir(parents=True)
    (span / "data.csv").write_text("sepal_length,species\n5.1,setosa\n")
    result = _cli("run", "--home", str(tmp_path / "home"), "--data",
                  str(tmp_path / "data"), "--infer-schema")
    assert result.returncode == 2, (result.stdout, result.stderr)
    assert re.search(r"lacks (\d+) of the \1 feature columns", result.stderr)
    assert "tfx-prod init DIR --csv FILE --label COLUMN" in result.stderr
    assert not (tmp_path / "home" / "pipeline").exists()


def test_second_run_on_the_same_pipeline_root_is_refused(tmp_path):
    from pipeline.local_runner import exclusive
    data = write_span(tmp_path / "data", 1, read_text(50))
    root = tmp_path / "home" / "pipeline"
    with exclusive(str(root)):
        result = _cli("run", "--home", str(tmp_path / "home"), "--data",
                      str(data), timeout=300)
    assert result.returncode == 2, (result.stdout, result.stderr)
    assert "Another tfx-prod run is using" in result.stderr
    assert f"pid {os.getpid()}" in result.stderr
    assert not (root / "metadata.sqlite").exists()


def test_synth_and_run_share_one_default_data_root_from_any_directory(
        tmp_path):
    """`run` reads the data root from the project file (--config, default
    the bundled one); `data synth` writes where that run reads."""
    parser = build_parser()
    run = parser.parse_args(["run", "--home", str(tmp_path / "home")])
    synth = parser.parse_args(["data", "synth", "--rows", "1", "--span", "9"])
    assert run.config == str(configs.DEFAULT_PROJECT)
    data_root = run_args.build_config(run)[0].data_root
    assert data_root == synth.data_root == str(configs.DEFAULT_DATA_ROOT)
    assert os.path.isabs(data_root)
    # And from another working directory the CLI resolves the same folder.
    result = subprocess.run(
        [sys.executable, "-c", "from tfx_prod.cli import build_parser; "
         "from tfx_prod.run_args import build_config; "
         "print(build_config(build_parser().parse_args("
         f"['run', '--home', {str(tmp_path / 'home')!r}]))[0].data_root)"],
        capture_output=True, text=True, cwd=tmp_path, timeout=60)
    assert result.stdout.strip().splitlines()[-1:] == [
        str(configs.DEFAULT_DATA_ROOT)], result.stderr[-2000:]


def test_a_component_failure_names_its_root_cause_and_the_line(tmp_path):
    """TFX wraps an executor's error (Keras: "in user code:"); the message
    gives the innermost exception and where in non-installed code it was
    raised, not only the wrapper."""
    from tfx_prod import run

    def preprocessing_fn():  # stands in for a user module
        return {}["fare"]

    try:
        try:
            preprocessing_fn()
        except KeyError as error:
            raise RuntimeError("in user code:") from error
    except RuntimeError as error:
        code, message = run._failure(error, "Transform", tmp_path / "run.log")
    assert code == run.EXIT_FAILED
    assert "Component Transform failed with RuntimeError: in user code:." in (
        message)
    assert "Root cause: KeyError: 'fare'." in message
    assert f"Raised at {__file__}:" in message
    assert "in preprocessing_fn." in message
