"""`python -m serving ...`: the server alone, for images without the pipeline."""
import argparse
import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "1")

from serving import options, server  # noqa: E402  (after the TF log level)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m serving",
        description="TF Serving-compatible model server (REST + gRPC) for "
                    "tfx-prod model directories.")
    options.add_arguments(parser)
    return server.run(options.from_args(parser.parse_args(argv)))


if __name__ == "__main__":
    sys.exit(main())
