"""Run all benchmarks and write benchmarks/results/results.{json,md}.

    python -m benchmarks.run_all [--only {anchor,ours,optimizations,all}]
                                 [--keep-work] [--results-dir DIR]

Runs TFX's own taxi example (the anchor), then tfx-prod, each cold and
cached in subprocesses, then tfx-prod's pruning and distillation recipes
in tfx-prod's pipeline home. A failing pipeline is recorded, never fatal:
the others' results are still written. Exits 1 if any requested run
failed.
"""
import argparse
import json
import os
import shutil
import subprocess
import traceback

from benchmarks import (anchor, compare, machine, optimizations, ours,
                        report, workdirs)
from benchmarks.progress import phase, say


def _parse(argv):
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.run_all",
        description="Benchmark tfx-prod against TFX's own taxi example.")
    parser.add_argument("--only",
                        choices=("anchor", "ours", "optimizations", "all"),
                        default="all",
                        help="which pipeline(s) to run; optimizations "
                             "builds on ours' pipeline home, so it runs "
                             "ours first")
    parser.add_argument("--keep-work", action="store_true",
                        help="keep pipeline roots under benchmarks/work/")
    parser.add_argument("--results-dir", default=workdirs.RESULTS_DIR,
                        help="where results.json/.md go "
                             "(default: benchmarks/results)")
    return parser.parse_args(argv)


def _warm_up():
    """Load TF and TFX once, unmeasured, so neither side pays a cold disk."""
    with phase("warm-up (import tensorflow, tfx)"):
        subprocess.run([workdirs.python(), "-c", "import tensorflow, tfx"],
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                       env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3"),
                       check=False)


def _guarded(name, fn):
    """Run one pipeline's benchmark; a crash becomes a recorded failure."""
    with phase(f"{name} benchmark"):
        try:
            result = fn()
        except Exception:  # Record harness bugs too, then carry on.
            result = {"status": "failed",
                      "error": traceback.format_exc(limit=5)}
    say(f"{name}: {result.get('status')}")
    return result


def _relative(value):
    """Repo-relative paths, so results.json reads the same on any clone."""
    if isinstance(value, dict):
        return {k: _relative(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_relative(v) for v in value]
    if isinstance(value, str) and value.startswith(workdirs.REPO_DIR + "/"):
        return os.path.relpath(value, workdirs.REPO_DIR)
    return value


def _write(results, results_dir):
    os.makedirs(results_dir, exist_ok=True)
    results["comparison"] = compare.compute(results["anchor"],
                                            results["ours"])
    results = _relative(results)
    with open(os.path.join(results_dir, "results.json"), "w") as f:
        json.dump(results, f, indent=2, ensure_ascii=False)
        f.write("\n")
    with open(os.path.join(results_dir, "results.md"), "w") as f:
        f.write(report.render(results))


def main(argv=None):
    args = _parse(argv)
    results_dir = os.path.abspath(args.results_dir)
    shutil.rmtree(workdirs.LOG_DIR, ignore_errors=True)
    results = {
        "machine": machine.describe(),
        "only": args.only,
        "anchor": {"status": "not_run"},
        "ours": {"status": "not_run"},
        "optimizations": {"status": "not_run"},
    }
    say(f"machine: {results['machine']['cpu_model']}, "
        f"{results['machine']['cores']} cores; logs in {workdirs.LOG_DIR}")
    _warm_up()
    if args.only in ("anchor", "all"):
        results["anchor"] = _guarded("anchor", anchor.run)
        _write(results, results_dir)  # Keep the anchor even if ours hangs.
    if args.only in ("ours", "optimizations", "all"):
        results["ours"] = _guarded("ours", ours.run)
    if args.only in ("optimizations", "all"):
        _write(results, results_dir)  # Keep ours even if these hang.
        results["optimizations"] = _guarded(
            "optimizations", lambda: optimizations.run(results["ours"]))
    _write(results, results_dir)
    if not args.keep_work:
        with phase("remove pipeline roots (--keep-work keeps them)"):
            workdirs.remove(anchor.NAME)
            workdirs.remove(ours.NAME)
    say(f"results written to {results_dir}/results.{{json,md}}")
    requested = [results[k] for k in ("anchor", "ours", "optimizations")
                 if results[k]["status"] != "not_run"]
    return 0 if all(r["status"] == "succeeded" for r in requested) else 1


if __name__ == "__main__":
    raise SystemExit(main())
