"""Child-process driver for TFX's own Chicago taxi example (the anchor).

Run by `benchmarks.anchor` in a subprocess so its wall time and memory can
be measured in isolation:

    python -m benchmarks.anchor_driver run --pipeline-root R --metadata M \
        --serving-dir S --data-root D
    python -m benchmarks.anchor_driver report --pipeline-root R \
        --metadata M --out report.json

`run` builds the example's pipeline unchanged from the installed wheel
(its own module file, train/eval steps and Beam args) and runs it with
LocalDagRunner. `report` reads what it produced back from MLMD.
"""
import argparse
import json
import os

# The example's Trainer module fails under Keras 3 ("`inputs` not connected
# to `outputs`"); it needs Keras 2, and this must be set before TF loads.
os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")


def run(args):
    """Build the example pipeline with our directories and run it."""
    from absl import logging
    from tfx.examples.chicago_taxi_pipeline import (
        taxi_pipeline_native_keras as example)
    from tfx.orchestration.local.local_dag_runner import LocalDagRunner

    logging.set_verbosity(logging.INFO)
    module_file = os.path.join(os.path.dirname(example.__file__),
                               "taxi_utils_native_keras.py")
    pipeline = example._create_pipeline(
        pipeline_name=example._pipeline_name,
        pipeline_root=args.pipeline_root,
        data_root=args.data_root,
        module_file=module_file,
        serving_model_dir=args.serving_dir,
        metadata_path=args.metadata,
        beam_pipeline_args=example._beam_pipeline_args)
    LocalDagRunner().run(pipeline)


def report(args):
    """Write the runs, eval metrics and model size found in MLMD as JSON."""
    from benchmarks import mlmd_report

    result = mlmd_report.collect(args.metadata)
    with open(args.out, "w") as f:
        json.dump(result, f, indent=2)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    run_p = sub.add_parser("run")
    run_p.add_argument("--pipeline-root", required=True)
    run_p.add_argument("--metadata", required=True)
    run_p.add_argument("--serving-dir", required=True)
    run_p.add_argument("--data-root", required=True)
    rep_p = sub.add_parser("report")
    rep_p.add_argument("--metadata", required=True)
    rep_p.add_argument("--out", required=True)
    args = parser.parse_args(argv)
    {"run": run, "report": report}[args.command](args)


if __name__ == "__main__":
    main()
