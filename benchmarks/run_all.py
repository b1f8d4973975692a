"""Run all benchmarks and write benchmarks/results/results.{json,md}.

    python -m benchmarks.run_all [--only PHASE[,PHASE...]] [--repeats N]
                                 [--rows N] [--train-steps N] [--smoke]
                                 [--scale-rows N,N] [--soak-seconds N]
                                 [--refresh PHASE]
                                 [--keep-work] [--results-dir DIR]

Phases: TFX's own taxi example as shipped (anchor), the same example with
tfx-prod's steps and no Beam args (control), tfx-prod (ours), then
`tfx-prod compile` and the compiled Kubeflow spec executed locally as KFP
OSS would (kubeflow, against ours' cold run of the same repeat),
tfx-prod's pruning and distillation recipes in ours' pipeline home
(optimizations), and last the same span through `tfx-prod init` and the
generic defaults, no taxi modules (generic), then a rolling window
retrained as spans 2 and 3 land, cold against span store + analyzer
cache (+ warm start) (retraining), and a model trained with a watermark
key against one trained without, both verified with the key (watermark). Every repeat runs them in one
fixed order (ORDER), each cold then cached, so a slow stretch of the
shared machine hits every pipeline alike. Only when named, last (hours at
its default 1M and 5M rows): ExampleGen, StatisticsGen and Transform on
synthesized spans, tfx-prod's multi-processing Beam against TFX's
defaults in the same repeat (scale); the serving reliability benchmark
(canary rollback and kill -9 under load, `repeats` times, then one soak
at 80% of the capacity measured first, `--soak-seconds`) on a small
synthetic model (reliability). A failing run is recorded, never
fatal: results.json is rewritten after every run, and the others still
run. Exits 1 if any requested run failed.

`--smoke` proves the harness end to end cheaply (1 repeat, 2000 rows, 50
train steps, tfx-prod's absolute AUC/accuracy gates off so every model
reaches the Quantizer) and writes to benchmarks/work/smoke-results/
unless --results-dir says otherwise, so it never replaces the committed
results.
"""
import argparse
import copy
import dataclasses
import json
import os
import shutil
import subprocess
import traceback

from benchmarks import (anchor, compare, generic, kubeflow, machine,
                        opt_compare, optimizations, ours, reliability, report,
                        retraining, scale, scale_report, serving_bench,
                        watermark, workdirs)
from benchmarks.progress import phase, say
from pipeline.configs import PipelineConfig

# Within each repeat; each pipeline phase is a cold run then a cached one.
ORDER = ("anchor", "control", "ours", "kubeflow", "optimizations", "generic",
         "retraining", watermark.NAME)
# Run only when named (--only / --refresh), after the others.
OPT_IN = (scale.NAME, reliability.NAME)
# Run once after the repeats, repeating inside (reliability.run(repeats)).
SELF_REPEATING = (reliability.NAME,)
PHASES = ORDER + OPT_IN
DEFAULT_PHASES = ORDER  # no --only, or --only all
# Phases whose figures carry their own anchor, measured in the same repeats.
REFRESHABLE = (kubeflow.NAME, retraining.NAME, scale.NAME, reliability.NAME,
               watermark.NAME, serving_bench.NAME)
DEFAULT_REPEATS = 3
SMOKE = {"repeats": 1, "rows": 2000, "train_steps": 50,
         "scale_rows": list(scale.SMOKE_ROWS),
         "soak_seconds": reliability.SMOKE_SOAK_SECONDS}
SMOKE_GATES_OFF = ["--min-auc", "0", "--min-accuracy", "0"]
SMOKE_RESULTS_DIR = os.path.join(workdirs.WORK_DIR, "smoke-results")
LABELS = {**anchor.LABELS, "ours": ours.LABEL,
          "optimizations": "tfx-prod recipes (prune, distill)",
          kubeflow.NAME: kubeflow.LABEL,
          "generic": generic.LABEL, retraining.NAME: retraining.LABEL,
          scale.NAME: scale.LABEL, reliability.NAME: reliability.LABEL,
          watermark.NAME: watermark.LABEL}


def _default(field):
    """A PipelineConfig default: tfx-prod's own settings, in one place."""
    return {f.name: f.default for f in dataclasses.fields(PipelineConfig)
            }[field]


def _positive(text):
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be >= 1, got {value}")
    return value


def _phases(text):
    names = DEFAULT_PHASES if text == "all" else tuple(
        p.strip() for p in text.split(","))
    unknown = [p for p in names if p not in PHASES]
    if unknown or not names:
        raise argparse.ArgumentTypeError(
            f"unknown phase(s) {unknown}; choose from {', '.join(PHASES)} "
            f"or all (all but {', '.join(OPT_IN)})")
    # The recipes run in ours' pipeline home, on ours' cold-run baseline;
    # the Kubeflow figures are ratios to ours' cold run of the same repeat.
    return tuple(p for p in PHASES if p in names or (
        p == "ours" and {"optimizations", "kubeflow"} & set(names)))


def _parse(argv):
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.run_all",
        description="Benchmark tfx-prod against TFX's own taxi example.")
    parser.add_argument("--only", type=_phases, default=DEFAULT_PHASES,
                        help="comma list of phases (anchor, control, ours, "
                             "kubeflow, optimizations, generic, retraining, "
                             "watermark, scale, reliability) or "
                             "all (every one but scale and reliability, "
                             "which run only when named); optimizations "
                             "and kubeflow also run ours (its home; its "
                             "cold run is their anchor)")
    parser.add_argument("--repeats", type=_positive,
                        help=f"timed repeats of every run (default "
                             f"{DEFAULT_REPEATS}; a figure is the median)")
    parser.add_argument("--rows", type=_positive,
                        help="use only the first N rows of the bundled "
                             "span (default: all)")
    parser.add_argument("--train-steps", type=_positive,
                        help="tfx-prod's train steps, also given to the "
                             "control (default: PipelineConfig's "
                             f"{_default('train_steps')})")
    parser.add_argument("--smoke", action="store_true",
                        help=f"cheap end-to-end check of the harness: "
                             f"defaults {SMOKE}, results in "
                             f"{os.path.relpath(SMOKE_RESULTS_DIR)}")
    parser.add_argument("--keep-work", action="store_true",
                        help="keep pipeline roots under benchmarks/work/")
    parser.add_argument("--scale-rows", type=scale.parse_rows,
                        help=f"the scale phase's span sizes, comma list "
                             f"(default {scale.DEFAULT_ROWS}, --smoke "
                             f"{scale.SMOKE_ROWS}); its goals compare the "
                             "smallest with the largest")
    parser.add_argument("--soak-seconds", type=_positive,
                        help=f"the reliability phase's soak at 80%% of "
                             f"capacity (default {reliability.SOAK_SECONDS}, "
                             f"--smoke {reliability.SMOKE_SOAK_SECONDS})")
    parser.add_argument("--refresh", metavar="PHASE",
                        help="re-measure one phase (kubeflow, retraining, "
                             "watermark, scale, reliability or serving) and "
                             "replace only it in "
                             "the existing results.json; every other table "
                             "keeps its run. Its anchor (kubeflow: ours' "
                             "cold run; retraining: a cold retrain; scale: "
                             "TFX's default Beam settings; watermark: a "
                             "model trained without the key; reliability: "
                             "capacity and the soak's own start) is "
                             "re-measured in the same repeats and stored "
                             "with it")
    parser.add_argument("--results-dir",
                        help="where results.json/.md go (default: "
                             "benchmarks/results)")
    args = parser.parse_args(argv)
    if args.refresh is not None:
        if args.refresh not in REFRESHABLE:
            parser.error(f"--refresh supports {' and '.join(REFRESHABLE)} "
                         "only (their ratios carry their own anchor); run "
                         "everything otherwise")
        # The serving benchmark is not a pipeline phase: it runs after them
        # (on ours' push in a full run, else on a push of its own).
        args.only = (() if args.refresh == serving_bench.NAME
                     else _phases(args.refresh))
    base = SMOKE if args.smoke else {}
    for key, fallback in (("repeats", DEFAULT_REPEATS), ("rows", None),
                          ("train_steps", _default("train_steps")),
                          ("scale_rows", list(scale.DEFAULT_ROWS)),
                          ("soak_seconds", reliability.SOAK_SECONDS)):
        if getattr(args, key) is None:
            setattr(args, key, base.get(key, fallback))
    if args.results_dir is None:
        args.results_dir = (SMOKE_RESULTS_DIR if args.smoke
                            else workdirs.RESULTS_DIR)
    return args


def _settings(args):
    """What every pipeline ran with; renderers print it beside the tables."""
    train_steps, eval_steps = args.train_steps, _default("eval_steps")
    our_flags = ([] if train_steps == _default("train_steps")
                 else ["--train-steps", str(train_steps)])
    if args.smoke:
        # A few steps on a small sample may miss the absolute gates; the
        # smoke must still reach the Quantizer and the recipes' files.
        our_flags += SMOKE_GATES_OFF
    return {"repeats": args.repeats, "rows": args.rows,
            "train_steps": train_steps, "eval_steps": eval_steps,
            "our_flags": our_flags, "order": list(ORDER),
            "phases": list(args.only), "smoke": args.smoke,
            "scale_rows": list(args.scale_rows),
            "soak_seconds": args.soak_seconds}


def _warm_up():
    """Load TF and TFX once, unmeasured, so neither side pays a cold disk."""
    with phase("warm-up (import tensorflow, tfx)"):
        subprocess.run([workdirs.python(), "-c", "import tensorflow, tfx"],
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                       env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3"),
                       check=False)


def _guarded(name, repeat, fn):
    """Run one phase of one repeat; a crash becomes a recorded failure."""
    with phase(f"{name} benchmark, repeat {repeat}"):
        try:
            result = fn()
        except Exception:  # Record harness bugs too, then carry on.
            result = {"repeat": repeat, "status": "failed",
                      "error": traceback.format_exc(limit=5)}
    say(f"{name} repeat {repeat}: {result.get('status')}")
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


def _status(phase_result, repeats):
    done = phase_result["repeats"]
    if not done:
        return phase_result["status"]
    if any(r.get("status") != "succeeded" for r in done):
        return "failed"
    return "succeeded" if len(done) == repeats else "running"


def _write(results, results_dir):
    """results.json + results.md from what has run so far."""
    os.makedirs(results_dir, exist_ok=True)
    results["comparison"] = compare.compute(results)
    results["comparison"][kubeflow.NAME] = kubeflow.figures(results)
    results["comparison"]["models"] = opt_compare.merge(
        [r for r in results["optimizations"]["repeats"] if "rows" in r])
    results["comparison"][scale.NAME] = scale_report.figures(results)
    results["comparison"][retraining.NAME] = retraining.figures(results)
    results["comparison"][watermark.NAME] = watermark.figures(results)
    results = _relative(results)
    with open(os.path.join(results_dir, "results.json"), "w") as f:
        json.dump(results, f, indent=2, ensure_ascii=False)
        f.write("\n")
    with open(os.path.join(results_dir, "results.md"), "w") as f:
        # (report.render covers the other phases; the scale detail follows.)
        f.write(report.render(results) + scale_report.detail(results))


def _merged(committed, fresh, name):
    """The committed results with only phase `name` replaced (--refresh)."""
    merged = copy.deepcopy(committed)
    merged[name] = fresh[name]
    for phase_name in PHASES:  # phases newer than the committed file
        merged.setdefault(phase_name, fresh[phase_name])
    merged.setdefault("refreshed", {})[name] = {
        "machine": fresh["machine"], "settings": fresh["settings"]}
    return merged


def _run_phase(name, repeat, settings, results):
    if name in ("anchor", "control"):
        return anchor.run(name, repeat, settings)
    if name == "ours":
        return ours.run(repeat, settings)
    if name == "generic":
        return generic.run(repeat, settings)
    if name == kubeflow.NAME:
        return kubeflow.run(repeat, settings, results["ours"]["repeats"][-1])
    if name == scale.NAME:
        return scale.run(repeat, settings)
    if name == retraining.NAME:
        return retraining.run(repeat, settings)
    if name == watermark.NAME:
        return watermark.run(repeat, settings)
    return optimizations.run(results["ours"]["repeats"][-1], settings)


def main(argv=None):
    args = _parse(argv)
    results_dir = os.path.abspath(args.results_dir)
    settings = _settings(args)
    committed = None
    if args.refresh:
        with open(os.path.join(results_dir, "results.json")) as f:
            committed = json.load(f)

    def save(results):
        for name in PHASES:
            results[name]["status"] = _status(results[name], args.repeats)
        _write(_merged(committed, results, args.refresh) if committed
               else results, results_dir)
    shutil.rmtree(workdirs.LOG_DIR, ignore_errors=True)
    results = {"machine": machine.describe(), "settings": settings}
    for name in PHASES:
        results[name] = {"label": LABELS[name], "repeats": [],
                         "status": ("pending" if name in args.only
                                    else "not_run")}
    say(f"machine: {results['machine']['cpu_model']}, "
        f"{results['machine']['cores']} cores; {args.repeats} repeat(s) of "
        f"{', '.join(args.only)}; logs in {workdirs.LOG_DIR}")
    _warm_up()
    for repeat in range(1, args.repeats + 1):
        for name in (n for n in args.only if n not in SELF_REPEATING):
            results[name]["repeats"].append(_guarded(
                name, repeat,
                lambda: _run_phase(name, repeat, settings, results)))
            save(results)  # Keep what ran if the next hangs.
    if reliability.NAME in args.only:
        results[reliability.NAME].update(_guarded(
            reliability.NAME, f"1-{args.repeats}", lambda: reliability.run(
                args.repeats, args.soak_seconds)))
        save(results)
    # A full run also serves ours' push; --refresh serving pushes its own.
    serve = args.only == DEFAULT_PHASES or args.refresh == serving_bench.NAME
    if serve:
        with phase("serving benchmark"):
            try:
                results[serving_bench.NAME] = serving_bench.run(
                    args.repeats, model_base=None if args.refresh else
                    os.path.join(workdirs.WORK_DIR, ours.NAME, "serving",
                                 "taxi"))
            except Exception:  # recorded, like every other phase
                results[serving_bench.NAME] = {
                    "status": "failed", "error": traceback.format_exc(limit=5)}
            save(results)
    if not args.keep_work:
        with phase("remove pipeline roots (--keep-work keeps them)"):
            for name in ("anchor", "control", ours.NAME, generic.NAME,
                         kubeflow.NAME, retraining.NAME, watermark.NAME,
                         scale.NAME):
                workdirs.remove(name)
    say(f"results written to {results_dir}/results.{{json,md}}")
    requested = [results[name] for name in args.only] + (
        [results[serving_bench.NAME]] if serve else [])
    return 0 if all(r["status"] == "succeeded" for r in requested) else 1


if __name__ == "__main__":
    raise SystemExit(main())
