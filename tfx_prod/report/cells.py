"""Small HTML building blocks shared by the report's sections."""
from html import escape
from typing import Iterable, NamedTuple


def esc(value) -> str:
    """Escaped text; run data (slice names, paths) is never trusted markup."""
    return escape("" if value is None else str(value))


def num(value, spec: str = ".4f", empty: str = "\u2013") -> str:
    """A number formatted for a table cell; None/NaN as a dash."""
    if value is None or value != value:
        return empty
    return format(value, spec)


class Span(NamedTuple):
    """A cell covering `columns` columns (e.g. string stats under numeric)."""
    html: str
    columns: int


def table(headers: Iterable[str], rows: Iterable[tuple],
          numeric: Iterable[int] = (), row_class=None) -> str:
    """Rows of already-escaped cell HTML; `numeric` columns align right."""
    numeric = set(numeric)
    head = "".join(f'<th{" class=num" if i in numeric else ""}>{h}</th>'
                   for i, h in enumerate(headers))
    body = []
    for index, row in enumerate(rows):
        css = row_class(index, row) if row_class else None
        cells, column = [], 0
        for cell in row:
            if isinstance(cell, Span):
                cells.append(f'<td colspan="{cell.columns}">{cell.html}</td>')
                column += cell.columns
                continue
            align = " class=num" if column in numeric else ""
            cells.append(f"<td{align}>{cell}</td>")
            column += 1
        body.append(f'<tr{f" class={css}" if css else ""}>{"".join(cells)}'
                    "</tr>")
    return (f"<table><thead><tr>{head}</tr></thead>"
            f"<tbody>{''.join(body)}</tbody></table>")


def missing(text: str) -> str:
    """A grey note standing in for a section the run did not produce."""
    return f'<p class="note missing">{text}</p>'


def why_missing(report: dict, node: str) -> str:
    """Why a component's output is absent, from its state in this run."""
    states = {c["id"]: c["state"] for c in report["components"]}
    state = states.get(node)
    if state == "failed":
        return f"{esc(node)} failed in this run."
    if state == "skipped":
        return f"{esc(node)} was skipped in this run."
    if state is None:
        failed = [c["id"] for c in report["components"]
                  if c["state"] == "failed"]
        return (f"{esc(node)} did not run in this run"
                + (f": the run stopped at {esc(failed[0])}." if failed
                   else "."))
    return f"{esc(node)} ({esc(state)}) left no readable output."
