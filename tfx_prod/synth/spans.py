"""Span files: `<data_root>/span-K/data.csv`, written atomically."""
import contextlib
import os
from pathlib import Path

import pandas as pd

from tfx_prod.synth.checks import check_writable, is_int

SPAN_FILE_NAME = "data.csv"


def span_path(data_root, span: int) -> Path:
    """`<data_root>/span-<span>/data.csv`, the layout CsvExampleGen reads."""
    if not is_int(span) or span < 1:
        raise ValueError(f"span must be an integer >= 1, got {span!r}")
    return Path(data_root) / f"span-{span}" / SPAN_FILE_NAME


def write_span(df: pd.DataFrame, data_root, span: int, *,
               overwrite: bool = False) -> Path:
    """Write `df` as `<data_root>/span-<span>/data.csv`; return the path."""
    path = span_path(data_root, span)
    check_writable(path, overwrite)
    with replace_atomically(path) as out:
        write_csv(df, out, header=True)
    return path


def write_csv(df: pd.DataFrame, out, header: bool) -> None:
    # Ints as Int64 print without decimals; NaN/<NA> print as blank cells.
    df.to_csv(out, header=header, index=False, na_rep="",
              lineterminator="\n")


@contextlib.contextmanager
def replace_atomically(path: Path):
    """Write to a hidden temp file beside the span dir, then rename into place.

    A failed or interrupted run leaves any existing span untouched, and the
    temp file is outside span-K/ so CsvExampleGen never reads a partial file.
    """
    path.parent.parent.mkdir(parents=True, exist_ok=True)
    temp = path.parent.parent / f".{path.parent.name}.{os.getpid()}.partial"
    try:
        with open(temp, "w", newline="") as out:
            yield out
        path.parent.mkdir(exist_ok=True)
        os.replace(temp, path)
    finally:
        if temp.exists():
            temp.unlink()
