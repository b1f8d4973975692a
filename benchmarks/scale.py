"""Benchmark the data components at scale: tfx-prod's Beam settings against
TFX's defaults, on synthesized taxi spans of (by default) 1M and 5M rows.

One repeat = for each size, smallest first: TFX's defaults (no Beam args:
DirectRunner in-process, one worker; the anchor), then ours (the
multi-processing args `tfx-prod run` picks for a large span). Each is a
fresh `benchmarks.scale_driver` process on an empty pipeline root running
CsvExampleGen, ImportSchemaGen, StatisticsGen and Transform exactly as
`create_pipeline` builds them, so its wall time and RSS (largest process,
whole process tree) are that configuration's alone. The spans are written
once per size by `tfx_prod.synth` (seed 0), before anything is timed, and
shared by both configurations and every repeat. Figures, goals and the
README table: `benchmarks/scale_report.py`.
"""
import json
import os
import tempfile
import time

from benchmarks import proc, workdirs
from benchmarks.progress import phase, say
from pipeline import configs

NAME = "scale"
LABEL = ("ExampleGen + StatisticsGen + Transform at scale: tfx-prod's "
         "multi-processing Beam vs TFX's defaults")
DEFAULT_ROWS = (1_000_000, 5_000_000)
SMOKE_ROWS = (2_000, 10_000)
SEED = 0
# Fixed order within a size: the anchor first, as in every other phase.
CONFIGS = ("tfx_default", "ours")
CONFIG_LABELS = {"tfx_default": "TFX defaults (no Beam args)",
                 "ours": "tfx-prod multi-processing"}
TIMEOUT_S = 3 * 3600  # per run; 5M rows in-process is estimated at ~30 min


def our_beam_args():
    """The args tfx-prod's `default_beam_args` picks for a large span.

    Asked of pipeline.configs (never copied): a sparse file of exactly
    MULTI_PROCESSING_MIN_BYTES, which takes no disk, is a span it calls
    large.
    """
    with tempfile.TemporaryDirectory() as data_root:
        os.makedirs(os.path.join(data_root, "span-1"))
        with open(os.path.join(data_root, "span-1", "data.csv"), "wb") as f:
            f.truncate(configs.MULTI_PROCESSING_MIN_BYTES)
        args, _ = configs.default_beam_args(data_root)
    if not args:
        raise RuntimeError("default_beam_args picked no Beam args for a "
                           "span at its multi-processing threshold")
    return args


def beam_args(config):
    return our_beam_args() if config == "ours" else []


def data_root(rows):
    return os.path.join(workdirs.WORK_DIR, NAME, f"data-{rows}")


def ensure_span(rows, seed=SEED):
    """<work>/scale/data-<rows>/span-1/data.csv from the synthesizer, written
    once (a marker records rows and seed); returns what it did."""
    from tfx_prod.synth import iter_chunks, span_path
    from tfx_prod.synth.spans import replace_atomically, write_csv

    root = data_root(rows)
    marker = os.path.join(root, "synth.json")
    wanted = {"rows": rows, "seed": seed}
    path = span_path(root, 1)
    try:
        with open(marker) as f:
            if json.load(f) == wanted and path.exists():
                return {**wanted, "csv_bytes": path.stat().st_size,
                        "synth_seconds": None}
    except (OSError, ValueError):
        pass
    start = time.monotonic()
    with phase(f"scale: synthesize {rows:,} rows"):
        with replace_atomically(path) as out:
            for index, chunk in enumerate(iter_chunks(rows, seed=seed)):
                write_csv(chunk, out, header=index == 0)
    with open(marker, "w") as f:
        json.dump(wanted, f)
    return {**wanted, "csv_bytes": path.stat().st_size,
            "synth_seconds": round(time.monotonic() - start, 1)}


def read_outcome(pipeline_root):
    """Component seconds and the examples StatisticsGen counted, from MLMD
    and its output (read here, unmeasured; neither needs TensorFlow)."""
    from tensorflow_metadata.proto.v0 import statistics_pb2

    from pipeline import metadata
    store = metadata.open_store(os.path.join(pipeline_root,
                                             "metadata.sqlite"))
    runs = metadata.pipeline_runs(store)
    if not runs:
        return {"components": [], "examples": None}
    components = [{"id": row["id"], "state": row["state"],
                   "seconds": round(row["seconds"], 2)}
                  for row in metadata.run_components(store, runs[-1])]
    examples = None
    for artifact in metadata.run_outputs_by_type(store, runs[-1]).get(
            "ExampleStatistics", []):
        for split in sorted(os.listdir(artifact.uri)):
            path = os.path.join(artifact.uri, split, "FeatureStats.pb")
            if not os.path.exists(path):
                continue
            stats = statistics_pb2.DatasetFeatureStatisticsList()
            with open(path, "rb") as f:
                stats.ParseFromString(f.read())
            examples = (examples or 0) + sum(d.num_examples
                                             for d in stats.datasets)
    return {"components": components, "examples": examples}


def run_ok(run):
    """Exited 0 and StatisticsGen saw every synthesized row."""
    return bool(run) and run.get("returncode") == 0 and (
        run.get("examples") == run.get("rows"))


def measured_run(repeat, rows, config):
    """One configuration on one size, in a fresh process and pipeline root."""
    root = workdirs.fresh_dir(os.path.join(NAME, f"root-{config}"))
    args = beam_args(config)
    log = os.path.join(workdirs.LOG_DIR,
                       f"scale-r{repeat}-{rows}-{config}.log")
    cmd = [workdirs.python(), "-m", "benchmarks.scale_driver",
           "--data-root", data_root(rows), "--pipeline-root", root,
           *[f"--beam-arg={arg}" for arg in args]]
    env = workdirs.child_env(os.path.join(root, "tmp"))
    with phase(f"scale: {rows:,} rows, {CONFIG_LABELS[config]}"):
        result = proc.run_measured(cmd, log, env=env, cwd=workdirs.REPO_DIR,
                                   timeout=TIMEOUT_S)
    result.update(rows=rows, beam_args=args)
    if result["returncode"] == 0:
        result.update(read_outcome(root))
    if run_ok(result):
        result["rows_per_second"] = round(rows / result["wall_seconds"], 1)
    else:
        result["error_tail"] = proc.log_tail(log)
        say(f"scale: {rows:,} rows, {config} FAILED (exit "
            f"{result['returncode']}, {result.get('examples')} examples "
            f"counted), log: {log}")
    # Transform's output at 5M rows is GBs; the figures are already read.
    workdirs.remove(os.path.join(NAME, f"root-{config}"))
    return result


def run(repeat, settings):
    """One repeat over every size; JSON-ready. A failed run is recorded and
    the rest still run."""
    sizes = list(settings["scale_rows"])
    result = {"repeat": repeat, "status": "failed", "rows": sizes,
              "seed": SEED, "sizes": []}
    for rows in sizes:
        span = ensure_span(rows)
        picked, why = configs.default_beam_args(data_root(rows))
        size = {**span, "tfx_prod_picks": picked, "tfx_prod_picks_why": why,
                "runs": {}}
        result["sizes"].append(size)
        for config in CONFIGS:
            size["runs"][config] = measured_run(repeat, rows, config)
    if all(run_ok(run) for size in result["sizes"]
           for run in size["runs"].values()):
        result["status"] = "succeeded"
    return result


def parse_rows(text):
    """`--scale-rows 1000000,5000000`: two or more distinct sizes, ascending
    (the goals compare the smallest with the largest)."""
    import argparse
    try:
        sizes = sorted({int(part) for part in text.split(",") if part.strip()})
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a comma list of row counts: "
                                         f"{text!r}") from None
    if len(sizes) < 2 or sizes[0] < 1:
        raise argparse.ArgumentTypeError(
            f"need two or more distinct sizes >= 1, got {text!r}")
    return sizes
