"""Paths and child environments shared by the anchor and our pipeline.

Everything a run writes lives under benchmarks/work/ (git-ignored), in a
fresh directory per pipeline, so a "cold" run really starts cold.
"""
import os
import shutil
import sys

BENCH_DIR = os.path.dirname(os.path.abspath(__file__))
REPO_DIR = os.path.dirname(BENCH_DIR)
WORK_DIR = os.path.join(BENCH_DIR, "work")
LOG_DIR = os.path.join(WORK_DIR, "logs")
RESULTS_DIR = os.path.join(BENCH_DIR, "results")
# The bundled taxi data: one span, identical to the TFX wheel's
# chicago_taxi_pipeline/data/simple/data.csv.
DATA_DIR = os.path.join(REPO_DIR, "data", "taxi")
SPAN_DIR = os.path.join(DATA_DIR, "span-1")


def fresh_dir(name):
    """Empty benchmarks/work/<name>, removing what a previous run left."""
    path = os.path.join(WORK_DIR, name)
    shutil.rmtree(path, ignore_errors=True)
    os.makedirs(path)
    return path


def copy_span_csv(dest_dir, rows=None):
    """The bundled span's data.csv into `dest_dir`: all of it, or its header
    plus the first `rows` rows (every line is one record: no quoted
    newlines), so a smoke run can use a small sample of the same data."""
    os.makedirs(dest_dir, exist_ok=True)
    source = os.path.join(SPAN_DIR, "data.csv")
    dest = os.path.join(dest_dir, "data.csv")
    if rows is None:
        shutil.copy(source, dest)
        return dest
    with open(source, "rb") as src, open(dest, "wb") as out:
        for index, line in enumerate(src):
            if index > rows:
                break
            out.write(line)
    return dest


def copy_data_tree(dest, rows=None):
    """The bundled data tree (span-N/ folders and schema/), the span's CSV
    capped at `rows`, so a run cannot touch the repo's data."""
    shutil.copytree(DATA_DIR, dest)
    if rows is not None:
        copy_span_csv(os.path.join(dest, os.path.basename(SPAN_DIR)), rows)
    return dest


def remove(name):
    shutil.rmtree(os.path.join(WORK_DIR, name), ignore_errors=True)


def child_env(tmp_dir, **extra):
    """Environment for a measured child.

    TMPDIR keeps temp files (TFX installs its packaged module file into a
    temp dir) inside the work dir; the pip settings make sure that install
    never reaches a package index.
    """
    os.makedirs(tmp_dir, exist_ok=True)
    env = dict(os.environ)
    env.update({
        "TMPDIR": tmp_dir,
        "PIP_NO_INDEX": "1",
        "PIP_DISABLE_PIP_VERSION_CHECK": "1",
        "PYTHONUNBUFFERED": "1",
    })
    env.update(extra)
    return env


def python():
    """The interpreter running the harness (the project venv under make)."""
    return sys.executable


def venv_script(name):
    """A console script installed next to the running interpreter."""
    candidate = os.path.join(os.path.dirname(sys.executable), name)
    return candidate if os.path.exists(candidate) else shutil.which(name)


def tfx_prod_cli(result):
    """The tfx-prod console script; None, with the error on `result`, if absent."""
    cli = venv_script("tfx-prod")
    if not cli:
        result["error"] = "tfx-prod console script not found"
    return cli


def dir_bytes(path):
    """Total size of the files under `path` (0 if it does not exist)."""
    total = 0
    for root, _, files in os.walk(path):
        total += sum(os.path.getsize(os.path.join(root, f)) for f in files)
    return total
