"""`tfx-prod report`: one static HTML page describing a pipeline run.

Everything is read back from ML Metadata and the run's artifacts (TFDV
statistics, ExampleValidator anomalies, TFMA metrics, the Quantizer's
report), so a report can be rebuilt for any past run. The page has inline
CSS and SVG and no scripts: it opens offline, from a file or a mail.

Heavy imports (TFMA, TFDV) happen inside `build_report`, so importing this
package to build the CLI parser stays cheap.
"""
import argparse
import os
import re
import sys
import tempfile
from typing import Optional

EXIT_OK, EXIT_USAGE = 0, 2


def default_output(pipeline_root: str, run_id: Optional[str]) -> str:
    """`<pipeline_root>/reports/<run id>.html`, with ':' etc. made safe."""
    name = re.sub(r"[^A-Za-z0-9._-]", "-", run_id or "no-run")
    return os.path.join(pipeline_root, "reports", f"{name}.html")


def build_report(pipeline_root: str, output_path: Optional[str] = None,
                 run_id: Optional[str] = None) -> str:
    """Writes the report of `run_id` (default: latest run); returns its path.

    Never raises because a run is partial or its store is missing: the page
    says what is missing. Raises LookupError only for an unknown `run_id`.
    """
    from tfx_prod.report import collect, page
    metadata_path = os.path.join(pipeline_root, "metadata.sqlite")
    if os.path.exists(metadata_path):
        try:
            report = collect.collect_run(metadata_path, run_id)
        except LookupError:
            raise
        except Exception as error:  # e.g. a corrupt store: say so, on the page
            report = _empty(metadata_path, f"Could not read ML Metadata: "
                            f"{type(error).__name__}: {error}")
    else:
        if run_id is not None:
            raise LookupError(f"no pipeline run {run_id!r}: there is no ML "
                              f"Metadata store at {metadata_path}")
        report = _empty(metadata_path, f"No pipeline run is recorded: there "
                        f"is no ML Metadata store at {metadata_path}.")
    output_path = output_path or default_output(pipeline_root,
                                                report["run_id"])
    _write_atomically(output_path, page.render(report, pipeline_root))
    return output_path


def _empty(metadata_path: str, reason: str) -> dict:
    return {"metadata_path": metadata_path, "run_id": None, "run_count": 0,
            "run_number": None,
            "pipeline_name": None, "problems": [],
            "status": {"kind": "fail", "text": reason}}


def _write_atomically(path: str, text: str) -> None:
    """A reader (browser, web server) never sees a half-written page."""
    folder = os.path.dirname(os.path.abspath(path))
    os.makedirs(folder, exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=folder, prefix=".report-",
                                         suffix=".html")
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as f:
            f.write(text)
        os.chmod(temporary, 0o644)
        os.replace(temporary, path)
    except BaseException:
        os.unlink(temporary)
        raise


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Flags of `tfx-prod report` (same --home/--pipeline-root as `run`)."""
    parser.description = ("Write a static HTML report of a pipeline run: "
                          "lineage, data statistics and anomalies, evaluation "
                          "per slice, optimization and the quantization "
                          "trade-off. Opens offline (no scripts, no CDN).")
    where = parser.add_mutually_exclusive_group()
    where.add_argument("--home", default="tfx_prod_home", metavar="DIR",
                       help="the `tfx-prod run --home`; reads HOME/pipeline "
                            "(default: %(default)s)")
    where.add_argument("--pipeline-root", metavar="DIR",
                       help="pipeline root holding metadata.sqlite "
                            "(default: HOME/pipeline)")
    parser.add_argument("--output", metavar="FILE",
                        help="where to write the page (default: "
                             "PIPELINE_ROOT/reports/<run id>.html)")
    parser.add_argument("--run-id", metavar="ID",
                        help="pipeline run to report, e.g. "
                             "2026-11-27T20:36:09.719331 (default: latest)")


def main(args: argparse.Namespace) -> int:
    """Runs `tfx-prod report`; prints the page's path."""
    root = os.path.abspath(args.pipeline_root
                           or os.path.join(args.home, "pipeline"))
    if not os.path.exists(os.path.join(root, "metadata.sqlite")):
        print(f"tfx-prod report: error: no pipeline runs under {root} (no "
              "metadata.sqlite). Pass the --home or --pipeline-root that "
              "`tfx-prod run` used.", file=sys.stderr)
        return EXIT_USAGE
    from tfx_prod.quiet import quiet_libraries
    quiet_libraries()
    try:
        path = build_report(root, args.output, args.run_id)
    except LookupError as error:
        print(f"tfx-prod report: error: {error}", file=sys.stderr)
        return EXIT_USAGE
    print(path)
    return EXIT_OK
