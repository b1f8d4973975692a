"""Child-process driver for TFX's own Chicago taxi example (the anchor).

Run by `benchmarks.anchor` in a subprocess so its wall time and memory can
be measured in isolation:

    python -m benchmarks.anchor_driver run --pipeline-root R --metadata M \
        --serving-dir S --data-root D [--train-steps N --eval-steps N]
        [--no-beam-args]
    python -m benchmarks.anchor_driver report --metadata M --out report.json

`run` builds the example's pipeline from the installed wheel (its own
module file) and runs it with LocalDagRunner. Without options it is
exactly as shipped (its train/eval steps and Beam args); the options make
the matched control: the same example with tfx-prod's steps and, like
tfx-prod on small data, no Beam args. `report` reads what a pipeline
produced back from MLMD (where the steps it really ran with are checked).
"""
import argparse
import json
import os

# The example's Trainer module fails under Keras 3 ("`inputs` not connected
# to `outputs`"); it needs Keras 2, and this must be set before TF loads.
os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")


def _set_trainer_steps(pipeline, train_steps, eval_steps):
    """Replace the steps the example hard-codes in its Trainer.

    `_create_pipeline` takes no steps argument, so the built component's
    execution properties are edited, in the JSON form TFX stores them in.
    """
    from tfx.proto import trainer_pb2
    from tfx.utils import proto_utils

    trainers = [c for c in pipeline.components
                if "train_args" in c.exec_properties]
    if len(trainers) != 1:
        raise RuntimeError(f"expected one Trainer in the example, found "
                           f"{[c.id for c in trainers]}")
    props = trainers[0].exec_properties
    if train_steps is not None:
        props["train_args"] = proto_utils.proto_to_json(
            trainer_pb2.TrainArgs(num_steps=train_steps))
    if eval_steps is not None:
        props["eval_args"] = proto_utils.proto_to_json(
            trainer_pb2.EvalArgs(num_steps=eval_steps))


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
        beam_pipeline_args=([] if args.no_beam_args
                            else example._beam_pipeline_args))
    _set_trainer_steps(pipeline, args.train_steps, args.eval_steps)
    LocalDagRunner().run(pipeline)


def report(args):
    """Write the runs, eval metrics and model size found in MLMD as JSON."""
    from tfx.examples.chicago_taxi_pipeline import (
        taxi_pipeline_native_keras as example)

    from benchmarks import mlmd_report

    result = mlmd_report.collect(args.metadata)
    result["shipped_beam_args"] = list(example._beam_pipeline_args)
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
    run_p.add_argument("--train-steps", type=int,
                       help="replace the example's train steps")
    run_p.add_argument("--eval-steps", type=int,
                       help="replace the example's eval steps")
    run_p.add_argument("--no-beam-args", action="store_true",
                       help="run without the example's Beam args")
    rep_p = sub.add_parser("report")
    rep_p.add_argument("--metadata", required=True)
    rep_p.add_argument("--out", required=True)
    args = parser.parse_args(argv)
    {"run": run, "report": report}[args.command](args)


if __name__ == "__main__":
    main()
