"""Benchmark the bring-your-own-data path on the taxi span: what the taxi
example's hand-written modules buy over the generic defaults.

One repeat = the bundled span with its label written out as a column
(`big_tipper` = tips > 20% of fare, exactly what modules/taxi derives) and
`tips` dropped (it would leak the label), then `tfx-prod init` on that CSV
and `tfx-prod run --config` cold and cached: no user module, no schema
written by hand. Same rows, train steps and gates as ours.

The eval split is CsvExampleGen's hash of each record; with one column
fewer the records hash differently, so both pipelines evaluate on a third
of the same data but not on the same rows.
"""
import csv
import os
import subprocess

from benchmarks import ours, workdirs
from benchmarks.progress import phase, say
from modules.taxi import features
from pipeline import configs

NAME = "generic"
LABEL = "tfx-prod, generic defaults (init, no taxi modules)"
LABEL_COLUMN = "big_tipper"


def _number(text):
    try:
        return float(text)
    except ValueError:
        return 0.0  # blank: the taxi preprocessing fills 0.0 too


def write_labelled_csv(source, dest):
    """`source` with `tips` replaced by the derived 0/1 label column."""
    with open(source, newline="") as src, open(dest, "w", newline="") as out:
        reader = csv.DictReader(src)
        columns = [c for c in reader.fieldnames if c != features.TIPS]
        writer = csv.DictWriter(out, columns + [LABEL_COLUMN])
        writer.writeheader()
        for record in reader:
            tips = _number(record.pop(features.TIPS))
            fare = _number(record[features.FARE])
            record[LABEL_COLUMN] = int(tips > features.BIG_TIP_FRACTION * fare)
            writer.writerow(record)
    return dest


def run(repeat, settings):
    """One repeat of init + generic run cold and cached; JSON-ready."""
    result = {"repeat": repeat, "status": "failed"}
    cli = workdirs.tfx_prod_cli(result)
    if not cli:
        return result
    work = workdirs.fresh_dir(NAME)
    paths = {**ours.layout(work), "data": os.path.join(work, "project")}
    span_copy = workdirs.copy_span_csv(os.path.join(work, "source"),
                                       settings["rows"])
    labelled = write_labelled_csv(span_copy,
                                  os.path.join(work, "taxi-labelled.csv"))
    env = ours.child_env(work)
    os.makedirs(workdirs.LOG_DIR, exist_ok=True)
    log = os.path.join(workdirs.LOG_DIR, f"generic-r{repeat}-init.log")
    init = [cli, "init", paths["data"], "--csv", labelled, "--label",
            LABEL_COLUMN, "--task", "binary", "--positive", "1",
            "--name", "taxi-generic"]
    with phase("generic: tfx-prod init"), open(log, "w") as out:
        code = subprocess.run(init, stdout=out, stderr=subprocess.STDOUT,
                              env=env, cwd=workdirs.REPO_DIR,
                              check=False).returncode
    if code != 0:
        result["error"] = f"tfx-prod init exited {code}; log: {log}"
        say(f"generic: {result['error']}")
        return result
    flags = [*settings["our_flags"], "--config",
             os.path.join(paths["data"], "tfx-prod.yaml")]
    result["flags"] = flags
    result["beam_args"] = configs.default_beam_args(paths["data"])[0]
    result["cold"] = ours.measured_run(f"generic-r{repeat}-cold", cli, paths,
                                       env, flags)
    if not ours.ok(result["cold"]):
        return result
    result["cached"] = ours.measured_run(f"generic-r{repeat}-cached", cli,
                                         paths, env, flags)
    cold = result["cold"]["summary"]
    result["eval"] = (cold.get("eval") or {}).get("overall")
    result["blessed"] = cold.get("blessed")
    result["pushed_to"] = cold.get("pushed_to")
    if result["pushed_to"] and os.path.isdir(result["pushed_to"]):
        result["pushed_bytes"] = workdirs.dir_bytes(result["pushed_to"])
    if ours.ok(result["cached"]):
        result["status"] = "succeeded"
    return result
