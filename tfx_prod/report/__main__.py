"""`python -m tfx_prod.report`: the report command without the full CLI."""
import argparse
import os
import sys

from tfx_prod import report

if __name__ == "__main__":
    os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")  # see README: Keras 2
    parser = argparse.ArgumentParser(prog="tfx-prod report")
    report.add_arguments(parser)
    sys.exit(report.main(parser.parse_args()))
