"""Child process of the scale phase: tfx-prod's own data components, alone.

    python -m benchmarks.scale_driver --data-root D --pipeline-root R \
        [--beam-arg=ARG ...]

Why a process per run: the harness measures wall time and the RSS of this
process and every Beam worker it starts, so each configuration must start
from nothing. The components are taken from `pipeline.create_pipeline`
(tfx-prod's CsvExampleGen, the curated schema's ImportSchemaGen,
StatisticsGen, and Transform with the taxi preprocessing module), so the
scale phase measures exactly what `tfx-prod run` builds; only the nodes
after Transform are dropped. The Beam args are the harness's choice
(none = TFX's defaults); caching is off so every run computes.
"""
import argparse
import os

# ImportSchemaGen is in because Transform needs the schema (it takes 0.1 s).
SCALE_COMPONENTS = ("CsvExampleGen", "ImportSchemaGen", "StatisticsGen",
                    "Transform")


def scale_pipeline(data_root, pipeline_root, beam_args):
    """The scale components of tfx-prod's taxi pipeline, with `beam_args`."""
    from pipeline import configs, dsl
    from pipeline.pipeline import create_pipeline

    config = configs.taxi_config(
        pipeline_root, os.path.join(pipeline_root, "serving"),
        data_root=data_root, beam_pipeline_args=list(beam_args),
        enable_cache=False)
    nodes = {node.id: node for node in create_pipeline(config).components}
    missing = [name for name in SCALE_COMPONENTS if name not in nodes]
    if missing:
        raise RuntimeError(f"create_pipeline has no {missing}; it builds "
                           f"{sorted(nodes)}")
    kept = [nodes[name] for name in SCALE_COMPONENTS]
    # Transform waits on the gates (AnomalyGate, DriftCheck) by explicit
    # edges; cut every edge that leaves the kept nodes.
    for node in kept:
        for other in list(node.upstream_nodes):
            if other not in kept:
                node.remove_upstream_node(other)
        for other in list(node.downstream_nodes):
            if other not in kept:
                node.remove_downstream_node(other)
    return dsl.Pipeline(
        pipeline_name=f"{config.pipeline_name}-scale",
        pipeline_root=config.pipeline_root, components=kept,
        enable_cache=False,
        metadata_connection_config=dsl.sqlite_metadata_connection_config(
            config.metadata_path),
        beam_pipeline_args=config.beam_pipeline_args)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-root", required=True,
                        help="directory holding span-1/data.csv")
    parser.add_argument("--pipeline-root", required=True)
    parser.add_argument("--beam-arg", action="append", default=[],
                        help="one Beam pipeline arg (repeatable); none: "
                             "TFX's DirectRunner defaults")
    args = parser.parse_args(argv)
    from absl import logging

    from pipeline import dsl
    logging.set_verbosity(logging.INFO)
    dsl.LocalDagRunner().run(scale_pipeline(
        os.path.abspath(args.data_root), os.path.abspath(args.pipeline_root),
        args.beam_arg))


if __name__ == "__main__":
    main()
