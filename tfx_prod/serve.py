"""`tfx-prod serve`: serve what the pipeline pushed (a thin layer over serving/).

Which model: `--model_base_path` / `--model_config_file` as with TF Serving,
else the project file's model (`--config`, default the bundled example's)
under HOME/serving/NAME, where `tfx-prod run` pushes it.
"""
import argparse
import os
import sys

from pipeline import configs


def project_model(path: str) -> str:
    """The model name a project file serves under."""
    from pipeline import project
    return project.load(path).model_name


def _bundled_model() -> str:
    """The bundled example's model name, for the help text ("MODEL" if its
    project file is not there, e.g. in a trimmed copy of the repo)."""
    from pipeline import project
    try:
        return project_model(str(configs.DEFAULT_PROJECT))
    except project.ProjectError:
        return "MODEL"


def _epilog() -> str:
    model = _bundled_model()
    base = os.path.abspath(os.path.join(configs.DEFAULT_HOME, "serving", model))
    return f"""\
what it serves:
  The numbered version directories `tfx-prod run` pushes to
  HOME/serving/MODEL, MODEL from --config (default: the bundled
  example's, so {base}),
  or --model_base_path / --model_config_file as with TF Serving. Only
  complete versions (manifest written last), newest first; a new push
  hot-loads while the old version keeps serving. Each request is validated
  against the schema shipped in the version (assets.extra/tfx_prod/
  schema.pbtxt); drift is measured against its training statistics.

examples:
  tfx-prod serve                                   # REST :8501, gRPC :8500
  tfx-prod serve --config my_project/tfx-prod.yaml # your dataset's model
  curl -d '{{"instances": [{{"fare": 12.5, "trip_miles": 2.1, ...}}]}}' \\
       localhost:8501/v1/models/{model}:predict
  curl localhost:8501/v1/models/{model}/metadata   # signatures + lineage
  curl localhost:8501/monitoring/prometheus/metrics
  tfx-prod serve --runtime tflite                  # the Quantizer's model.tflite
  tfx-prod serve --runtime onnx --model_base_path=HOME/serving-onnx/{model}
                                                   # after `tfx-prod export onnx`
  tfx-prod serve --enable_batching --batching_parameters_file=batching.txt
  tfx-prod serve --model_config_file=models.config # several models, labels

the same directory with TensorFlow Serving (flags mean the same there):
  tensorflow_model_server --port=8500 --rest_api_port=8501 \\
      --model_name={model} --model_base_path={base}
  docker run -p 8500:8500 -p 8501:8501 \\
      -v {os.path.dirname(base)}:/models -e MODEL_NAME={model} tensorflow/serving

exit codes: 0 stopped by SIGTERM/Ctrl-C, 1 cannot bind a port, 2 bad flags or
            config file"""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from serving import options
    parser.formatter_class = argparse.RawDescriptionHelpFormatter
    parser.epilog = _epilog()
    # No default name: it comes from the project, else TF Serving's.
    options.add_arguments(parser, model_name=None)
    parser.add_argument(
        "--config", metavar="FILE",
        help="a project file (tfx-prod init writes one): serve its model "
             "from HOME/serving/NAME (ours; default: the bundled example's)")
    parser.add_argument(
        "--home", metavar="DIR", default=configs.DEFAULT_HOME,
        help="the tfx-prod home `tfx-prod run` pushed into (ours; default: "
             "%(default)s)")


def _fail(message: str) -> int:
    print(f"tfx-prod serve: {message}", file=sys.stderr)
    return 2


def main(args) -> int:
    from pipeline import project
    from serving import options, server
    explicit = args.model_base_path or args.model_config_file
    if args.config and explicit:
        return _fail("--config names the model and where it is pushed; pass "
                     "it or --model_base_path/--model_config_file, not both")
    if not explicit:
        try:
            name = project_model(args.config or str(configs.DEFAULT_PROJECT))
        except project.ProjectError as error:
            return _fail(str(error))
        args.model_base_path = os.path.join(args.home, "serving", name)
        args.model_name = args.model_name or name
    args.model_name = args.model_name or options.DEFAULT_MODEL_NAME
    return server.run(options.from_args(args))
