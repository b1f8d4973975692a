"""`tfx-prod init`: a project from your CSV (a thin layer over pipeline/init/).

Parsing stays import-light (every `tfx-prod` command builds this parser);
TFDV is imported only when init runs.
"""
import argparse
import sys
import textwrap

from pipeline.project import TASKS   # light: yaml only

EPILOG = """\
what it writes (the CSV is copied, never rewritten):
  DIR/span-1/data.csv     your CSV, byte for byte (new data: span-2/, ...)
  DIR/schema/schema.pbtxt the schema inferred from TFDV statistics, curated,
                          with a comment on every constraint
  DIR/tfx-prod.yaml       label, task, features and encodings, dropped
                          columns, slices, gates: each with its reason

examples:
  tfx-prod init iris --csv iris.csv --label species --null-values NA
  tfx-prod init churn --csv churn.csv --label churned --positive yes
  tfx-prod init prices --csv houses.csv --label price --task regression

exit codes: 0 written, 2 bad input or an existing project (nothing written)"""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.formatter_class = argparse.RawDescriptionHelpFormatter
    if parser.description:   # raw formatting: wrap it here
        parser.description = textwrap.fill(parser.description, 79)
    parser.epilog = EPILOG
    parser.add_argument("dir", metavar="DIR",
                        help="the project directory (created if missing)")
    parser.add_argument("--csv", required=True, metavar="FILE",
                        help="your data: comma-separated UTF-8 text with a "
                             "header line")
    parser.add_argument("--label", required=True, metavar="COLUMN",
                        help="the column to predict")
    parser.add_argument("--task", choices=TASKS,
                        help="default: inferred from the label (2 values: "
                             "binary; text or a few integer codes: "
                             "multiclass; other numbers: regression)")
    parser.add_argument("--positive", metavar="VALUE",
                        help="binary: the label value that counts as "
                             "positive (needed unless it is obvious, e.g. "
                             "1/0, yes/no)")
    parser.add_argument("--null-values", metavar="TOKENS",
                        help="cells that mean 'missing', comma-separated "
                             "(e.g. NA,null,N/A); a JSON list for tokens "
                             "with commas or spaces. Exact whole-cell matches")
    parser.add_argument("--name", help="names the pipeline and the served "
                                       "model ([a-z0-9-]; default: from the "
                                       "CSV's file name)")
    parser.add_argument("--force", action="store_true",
                        help="replace an existing project in DIR (the old "
                             "files move to DIR/init-backup-<time>/)")


def main(args) -> int:
    from tfx_prod.quiet import quiet_libraries
    quiet_libraries()
    from pipeline.init import InitError, init_project

    def progress(message: str) -> None:
        print(f"tfx-prod init: {message} ...", file=sys.stderr, flush=True)

    try:
        result = init_project(
            args.dir, csv=args.csv, label=args.label, task=args.task,
            positive=args.positive, null_values=args.null_values,
            name=args.name, force=args.force, progress=progress)
    except InitError as error:
        print(f"tfx-prod init: {error}", file=sys.stderr)
        return 2
    print(result.report())
    return 0
