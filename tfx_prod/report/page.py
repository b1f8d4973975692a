"""Turns a collected run (`collect.collect_run`) into one self-contained page.

Every value from the run is HTML-escaped: slice names, feature values and
paths come from user data. Missing sections say why they are missing.
"""
import datetime
from typing import Optional

from tfx_prod.report import sections, shipping
from tfx_prod.report.cells import esc, num, table, why_missing
from tfx_prod.report.style import CSS


def _when(ms: Optional[int]) -> str:
    if not ms:
        return "\u2013"
    moment = datetime.datetime.fromtimestamp(ms / 1000).astimezone()
    return moment.strftime("%Y-%m-%d %H:%M:%S %Z")


def _duration(seconds: float) -> str:
    minutes, rest = divmod(round(seconds), 60)
    return f"{minutes} min {rest} s" if minutes else f"{seconds:.1f} s"


def _facts(pairs) -> str:
    items = "".join(f"<dt>{k}</dt><dd>{v}</dd>" for k, v in pairs if v)
    return f'<dl class="facts">{items}</dl>'


def _header(report: dict, pipeline_root: str) -> str:
    status = report["status"]
    seconds = ((report.get("finished_ms") or 0)
               - (report.get("started_ms") or 0)) / 1000
    return (
        '<header><div class="kicker">tfx-prod run report</div>'
        f"<h1>{esc(report['pipeline_name'] or 'pipeline')}</h1>"
        f'<div class="status {status["kind"]}">{esc(status["text"])}</div>'
        + _facts([
            ("Run id", f"<code>{esc(report['run_id'])}</code>"
             + (f' <span class="muted">(run {report["run_number"]} of '
                f'{report["run_count"]} recorded)</span>'
                if report["run_id"] else "")),
            ("Started", esc(_when(report.get("started_ms")))),
            ("Duration", f"{_duration(seconds)} (start to last component's "
             "end)" if report["run_id"] else ""),
            ("Pipeline root", f"<code>{esc(pipeline_root)}</code>"),
        ])
        + ('<nav><a href="#lineage">Lineage</a><a href="#data">Data</a>'
           '<a href="#evaluation">Evaluation</a><a href="#optimization">'
           'Optimization</a><a href="#quantization">Quantization</a>'
           '<a href="#components">Components</a></nav>'
           if report["run_id"] else "")
        + "</header>")


def _lineage(report: dict) -> str:
    lineage, summary = report["lineage"], report["summary"]
    data = "\u2013"
    if summary.get("span") is not None or lineage.get("input_base"):
        files = lineage.get("input_files")
        size = lineage.get("input_bytes")
        data = (f"span {esc(summary.get('span'))} from "
                f"<code>{esc(lineage.get('input_base'))}/"
                f"{esc(lineage.get('input_pattern') or '')}</code>"
                + (f" ({esc(files)} file(s), {int(size) / 2**20:.1f} MiB)"
                   if files and size and size.isdigit() else ""))
    versions = {lineage.get("trainer_code_version"),
                lineage.get("transform_code_version")} - {None}
    code = (" / ".join(f"<code>{esc(v)}</code>" for v in sorted(versions))
            + ' <span class="muted">(hash of modules/*.py)</span>'
            if versions else why_missing(report, "Trainer"))
    earlier = ' <span class="muted">(cached: made by an earlier run)</span>'
    model = (f"#{lineage['model_id']} <code>{esc(lineage['model_uri'])}"
             f"</code>" + (f" \u00b7 {lineage['train_steps']} training steps"
                           if lineage.get("train_steps") else "")
             + (earlier if lineage.get("model_cached") else "")
             if lineage.get("model_id") else why_missing(report, "Trainer"))
    if lineage.get("baseline_model_id"):
        baseline = (f"#{lineage['baseline_model_id']} <code>"
                    f"{esc(lineage.get('baseline_model_uri'))}</code>")
    elif "model_id" in lineage and summary.get("blessed") is not None:
        baseline = "none (no model had been blessed before)"
    else:
        baseline = ""
    if lineage.get("pushed_version"):
        pushed = (f"version <strong>{esc(lineage['pushed_version'])}</strong>"
                  f" to <code>{esc(lineage['pushed_destination'])}</code>"
                  + (earlier if lineage.get("push_cached") else ""))
    else:
        pushed = "nothing pushed in this run"
    return ('<section id="lineage"><h2>Lineage</h2>' + _facts([
        ("Data", data), ("Code version", code), ("Model", model),
        ("Baseline", baseline), ("Pushed", pushed)]) + "</section>")


def _components(report: dict) -> str:
    rows = [(esc(c["id"]), f'<span class="badge {esc(c["state"])}">'
             f'{esc(c["state"])}</span>', num(c["seconds"], ".1f") + " s")
            for c in report["components"]]
    text = table(["Component", "State", "Time"], rows, numeric=[2])
    if report["not_run"]:
        why = (" (they run only on a blessed model)"
               if report["summary"].get("blessed") is False else "")
        text += (f'<p class="muted">Did not run in this run: '
                 f'{esc(", ".join(report["not_run"]))}{why}.</p>')
    return f'<section id="components"><h2>Components</h2>{text}</section>'


def _problems(report: dict) -> str:
    if not report["problems"]:
        return ""
    items = "".join(f"<li>{esc(p)}</li>" for p in report["problems"])
    return (f'<div class="note warn"><strong>Parts of this run could not be '
            f'read:</strong><ul>{items}</ul></div>')


def render(report: dict, pipeline_root: str) -> str:
    """The whole page as one HTML string (inline CSS and SVG, no JS)."""
    title = f"{report['pipeline_name'] or 'pipeline'} run {report['run_id']}"
    body = [_header(report, pipeline_root), _problems(report)]
    if report["run_id"]:
        body += [_lineage(report), sections.data(report),
                 sections.evaluation(report), shipping.optimization(report),
                 shipping.quantization(report), _components(report)]
    generated = datetime.datetime.now().astimezone().strftime(
        "%Y-%m-%d %H:%M:%S %Z")
    body.append(f"<footer>Generated {esc(generated)} by <code>tfx-prod "
                f"report</code> from <code>{esc(report['metadata_path'])}"
                "</code>.</footer>")
    return ("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
            '<meta name="viewport" content="width=device-width, '
            'initial-scale=1">'
            f"<title>{esc(title)}</title><style>{CSS}</style></head>"
            f"<body><main>{''.join(body)}</main></body></html>\n")
