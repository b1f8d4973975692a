"""`tfx-prod data synth`: write one synthetic span from the command line."""
import argparse
import sys
import time

from pipeline import configs
from tfx_prod.synth.checks import (check_request, check_writable,
                                   drift_fraction, non_negative_int,
                                   positive_int)
from tfx_prod.synth.spans import replace_atomically, span_path, write_csv

# The same default `tfx-prod run --data` reads, from any working directory.
DEFAULT_DATA_ROOT = str(configs.DEFAULT_DATA_ROOT)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of `tfx-prod data synth`."""
    parser.add_argument("--rows", type=positive_int, required=True,
                        help="number of rows to write (> 0)")
    parser.add_argument("--span", type=positive_int, required=True,
                        help="span number K >= 1: writes "
                             "<data-root>/span-K/data.csv")
    parser.add_argument("--drift", type=drift_fraction, default=0.0,
                        help="distribution shift in [0, 1] (default 0: like "
                             "the reference); see tfx_prod/synth/__init__.py")
    parser.add_argument("--seed", type=non_negative_int, default=0,
                        help="random seed; same arguments, same file")
    parser.add_argument("--data-root", default=DEFAULT_DATA_ROOT,
                        help="directory holding span-K/ "
                             f"(default {DEFAULT_DATA_ROOT})")
    parser.add_argument("--reference-csv",
                        help="real span to fit (default: bundled span-1)")
    parser.add_argument("--force", action="store_true",
                        help="replace the span if it already exists")


def main(args: argparse.Namespace) -> int:
    """Write one synthetic span. Exit code 0 ok, 2 bad input, 1 I/O error."""
    from tfx_prod.synth.fit import DEFAULT_REFERENCE_CSV, load_model
    from tfx_prod.synth.generate import CHUNK_ROWS, big_tipper, iter_chunks
    args.reference_csv = args.reference_csv or str(DEFAULT_REFERENCE_CSV)
    try:
        path = span_path(args.data_root, args.span)
        check_request(args.rows, args.drift, args.seed)
        check_writable(path, args.force)
        load_model(args.reference_csv)
    except (ValueError, FileExistsError, FileNotFoundError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    started = time.monotonic()
    written = big_tippers = 0
    chunks = iter_chunks(args.rows, drift=args.drift, seed=args.seed,
                         reference_csv=args.reference_csv)
    try:
        with replace_atomically(path) as out:
            for chunk in chunks:
                write_csv(chunk, out, header=written == 0)
                written += len(chunk)
                big_tippers += int(big_tipper(chunk).sum())
                if args.rows > CHUNK_ROWS:
                    elapsed = time.monotonic() - started
                    print(f"  {written:,} / {args.rows:,} rows "
                          f"({written / elapsed:,.0f} rows/s)", flush=True)
    except OSError as error:
        print(f"error: could not write {path}: {error}; any existing span "
              "is unchanged", file=sys.stderr)
        return 1
    print(f"wrote {written:,} rows (drift {args.drift:g}, seed {args.seed}) "
          f"to {path} in {time.monotonic() - started:.1f} s; "
          f"big-tipper rate {big_tippers / written:.1%}")
    return 0
