"""`tfx-prod serve`: serve what the pipeline pushed (a thin layer over serving/)."""
import argparse
import os

from pipeline import configs

def _default_model() -> str:
    from pipeline import project
    return project.load(str(configs.DEFAULT_PROJECT)).model_name


DEFAULT_MODEL = _default_model()  # the bundled example's (tfx-prod.yaml)
DEFAULT_BASE_PATH = os.path.join(configs.DEFAULT_HOME, "serving", DEFAULT_MODEL)


def _epilog() -> str:
    base = os.path.abspath(DEFAULT_BASE_PATH)
    return f"""\
what it serves:
  The numbered version directories `tfx-prod run` pushes to
  HOME/serving/MODEL (default {DEFAULT_BASE_PATH}): only complete versions
  (manifest written last), newest first; a new push hot-loads while the
  old version keeps serving. Each request is validated against the schema
  shipped in the version (assets.extra/tfx_prod/schema.pbtxt); drift is
  measured against its training statistics.

examples:
  tfx-prod serve                                   # REST :8501, gRPC :8500
  curl -d '{{"instances": [{{"fare": 12.5, "trip_miles": 2.1, ...}}]}}' \\
       localhost:8501/v1/models/{DEFAULT_MODEL}:predict
  curl localhost:8501/v1/models/{DEFAULT_MODEL}/metadata   # signatures + lineage
  curl localhost:8501/monitoring/prometheus/metrics
  tfx-prod serve --runtime tflite                  # the Quantizer's model.tflite
  tfx-prod serve --enable_batching --batching_parameters_file=batching.txt
  tfx-prod serve --model_config_file=models.config # several models, labels

the same directory with TensorFlow Serving (flags mean the same there):
  tensorflow_model_server --port=8500 --rest_api_port=8501 \\
      --model_name={DEFAULT_MODEL} --model_base_path={base}
  docker run -p 8500:8500 -p 8501:8501 \\
      -v {os.path.dirname(base)}:/models -e MODEL_NAME={DEFAULT_MODEL} tensorflow/serving

exit codes: 0 stopped by SIGTERM/Ctrl-C, 1 cannot bind a port, 2 bad flags or
            config file"""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from serving import options
    parser.formatter_class = argparse.RawDescriptionHelpFormatter
    parser.epilog = _epilog()
    options.add_arguments(parser, model_name=DEFAULT_MODEL,
                          model_base_path=DEFAULT_BASE_PATH)


def main(args) -> int:
    from serving import options, server
    values = options.from_args(args)
    if values.model_config_file and args.model_base_path == DEFAULT_BASE_PATH:
        values.model_base_path = None   # the default yields to a config file
    return server.run(values)
