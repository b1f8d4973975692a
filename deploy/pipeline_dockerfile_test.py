"""Static checks of deploy/pipeline.Dockerfile: what breaks silently when nobody can build it here.

There is no Docker engine in this environment, so these read the Dockerfile and
stage its COPY layout in a temp dir instead of building.
"""
import ast
import fnmatch
import shutil
import subprocess
import sys
from pathlib import Path, PurePosixPath

ROOT = Path(__file__).resolve().parents[1]
DOCKERFILE = ROOT / "deploy" / "pipeline.Dockerfile"
RUNNER = ROOT / "pipeline" / "kubeflow_runner.py"


def _instructions():
    """(INSTRUCTION, argument) pairs, continuation lines joined, comments dropped."""
    out, pending = [], ""
    for line in DOCKERFILE.read_text().splitlines():
        if not pending and (not line.strip() or line.lstrip().startswith("#")):
            continue
        pending += line.rstrip()
        if pending.endswith("\\"):
            pending = pending[:-1] + " "
            continue
        word, _, rest = pending.strip().partition(" ")
        out.append((word.upper(), rest.strip()))
        pending = ""
    return out


def _args(name):
    return [arg for word, arg in _instructions() if word == name]


def _copies():
    """(sources, destination) of every COPY, flags such as --chown dropped."""
    result = []
    for arg in _args("COPY"):
        parts = [p for p in arg.split() if not p.startswith("--")]
        result.append((parts[:-1], parts[-1]))
    return result


def _runner_constant(name):
    """A module-level constant of pipeline/kubeflow_runner.py, read without importing TFX."""
    for node in ast.parse(RUNNER.read_text()).body:
        if isinstance(node, ast.Assign) and any(getattr(t, "id", None) == name for t in node.targets):
            return ast.literal_eval(node.value)
    raise AssertionError(f"{name} not found in {RUNNER}")


def _workdir():
    (workdir,) = _args("WORKDIR")
    return workdir


def test_base_image_is_python_310():
    (base,) = _args("FROM")
    assert base.startswith("python:3.10"), base


def test_workdir_is_the_project_root_compiled_specs_assume():
    assert _workdir() == _runner_constant("IMAGE_PROJECT_DIR")


def test_every_copy_source_exists_and_is_not_dockerignored():
    ignored = [p.strip().rstrip("/") for p in (ROOT / ".dockerignore").read_text().splitlines()
               if p.strip() and not p.startswith("#")]
    for sources, _ in _copies():
        for src in sources:
            assert (ROOT / src).exists(), f"COPY source {src} is not in the repo"
            clean = src.rstrip("/")
            hits = [p for p in ignored if fnmatch.fnmatch(clean, p) or clean.startswith(p + "/")]
            assert not hits, f"COPY source {src} is excluded by .dockerignore {hits}"


def test_lock_is_installed_without_resolving_and_checked():
    runs = " && ".join(_args("RUN"))
    assert "pip install --no-deps -r requirements.lock" in runs
    assert "pip check" in runs
    assert "TF_USE_LEGACY_KERAS=1" in " ".join(_args("ENV"))


def test_no_entrypoint_since_kfp_runs_the_ir_command():
    assert not _args("ENTRYPOINT") and not _args("CMD")


def test_spec_command_module_is_importable_from_the_copied_tree(tmp_path):
    """Stage the COPY layout under a fake WORKDIR and import the spec's module from there."""
    command = _runner_constant("ENTRYPOINT")
    assert command[:2] == ("python", "-m"), command
    module = command[2]
    for sources, dest in _copies():
        dest_path = PurePosixPath(dest)
        if dest_path.is_absolute():
            dest_path = dest_path.relative_to(_workdir())
        target = tmp_path / dest_path
        for src in sources:
            path = ROOT / src
            if path.is_dir():
                shutil.copytree(path, target, dirs_exist_ok=True,
                                ignore=shutil.ignore_patterns("__pycache__"))
            else:
                out = target / path.name if dest.endswith("/") or dest in (".", "./") else target
                out.parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(path, out)
    code = f"import importlib, sys; m = importlib.import_module({module!r}); print(m.__file__)"
    proc = subprocess.run([sys.executable, "-c", code], cwd=tmp_path,
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert Path(proc.stdout.strip()).resolve().is_relative_to(tmp_path.resolve()), proc.stdout
