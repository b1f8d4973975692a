"""The report's data and evaluation sections."""
from tfx_prod.report.cells import (Span, esc, missing, num, table,
                                   why_missing)

MAX_INLINE_SLICES = 8  # bigger slice groups fold into a <details>


def _stat(value) -> str:
    """Exact integers (tracts, timestamps); 5 significant digits else."""
    if value is None or value != value:
        return ""
    if float(value).is_integer() and abs(value) < 1e15:
        return f"{value:,.0f}"
    return f"{value:,.1f}" if abs(value) >= 1000 else f"{value:.5g}"


def _percent(value) -> str:
    """Missing share; never rounds 1 in 12,002 to '0.0%' or '100.0%'."""
    if value is None:
        return ""
    if value == 0:
        return '<span class="muted">0%</span>'
    if value == 100:
        return "100%"
    if value < 0.1 or value > 99.9:
        return "&lt;0.1%" if value < 0.1 else "&gt;99.9%"
    return f"{value:.1f}%"


def _feature_rows(features):
    for f in features:
        cells = (f"<code>{esc(f['name'])}</code>", esc(f["type"].lower()),
                 num(f.get("present"), ",.0f"), _percent(f.get("missing_pct")))
        if "unique" in f:
            text = f"{f['unique']:,} unique values"
            if f.get("top") is not None:
                text += (f"; most frequent <code>{esc(f['top'])}</code> "
                         f"({f['top_count']:,.0f})")
            yield cells + (Span(text, 4),)
        else:
            yield cells + tuple(_stat(f.get(k))
                                for k in ("mean", "std", "min", "max"))


def data(report: dict) -> str:
    parts = ['<section id="data"><h2>Data</h2>']
    anomalies = report["anomalies"]
    if anomalies is None:
        parts.append(missing("No anomaly check: "
                             + why_missing(report, "ExampleValidator")))
    elif anomalies["lines"]:
        lines = anomalies["lines"]
        items = "".join(f"<li>{esc(line)}</li>" for line in lines)
        noun = "anomaly" if len(lines) == 1 else "anomalies"
        parts.append(f'<div class="note fail"><strong>ExampleValidator found '
                     f"{len(lines)} {noun}</strong> against the schema:"
                     f'<ul class="anomalies">{items}</ul></div>')
    else:
        parts.append(f'<div class="note ok">No anomalies: every split '
                     f'({esc(", ".join(anomalies["splits"]))}) matches the '
                     "schema.</div>")
    parts.append(_drift((report.get("summary") or {}).get("drift")))
    statistics = report["statistics"]
    if statistics is None:
        parts.append(missing("No statistics: "
                             + why_missing(report, "StatisticsGen")))
    else:
        headers = ["Feature", "Type", "Present", "Missing", "Mean", "Std",
                   "Min", "Max"]
        for index, (split, stats) in enumerate(statistics["splits"].items()):
            if "error" in stats:
                parts.append(missing(f"{esc(split)}: {esc(stats['error'])}"))
                continue
            parts.append(
                f"<details{' open' if index == 0 else ''}><summary>"
                f"{esc(split)} split: {stats['num_examples']:,} examples, "
                f"{len(stats['features'])} features</summary>"
                + table(headers, _feature_rows(stats["features"]),
                        numeric=range(2, 8)) + "</details>")
        parts.append('<p class="muted">Missing counts blank CSV cells too. '
                     f'TFDV statistics: <code>{esc(statistics["uri"])}</code>'
                     "</p>")
    return "".join(parts) + "</section>"


def _drift(drift) -> str:
    """DriftCheck's record: the span against the version served before."""
    if drift is None:
        return missing("No drift check in this run.")
    if not drift["baseline_version"]:
        return '<p class="muted">Drift: nothing was served yet, nothing to compare.</p>'
    drifted = drift["drifted"]
    head = (f'<div class="note {"fail" if drifted else "ok"}">Drift against '
            f'served version {drift["baseline_version"]}: '
            + (f"<strong>{esc(', '.join(drifted))}</strong> above threshold"
               if drifted else "no feature above its threshold") + "</div>")
    rows = [[esc(f["feature"]), f["measure"], f"{f['value']:.3f}",
             f"{f['threshold']:g}", "yes" if f["drifted"] else "no"]
            for f in drift["features"]]
    return head + table(["Feature", "Measure", "Drift", "Threshold", "Drifted"],
                        rows, numeric=range(2, 4))


def _columns(task: str):
    from tfx_prod.render import EVAL_COLUMNS  # one home for the task's metrics
    return EVAL_COLUMNS[task]


def _slice_rows(items, task: str):
    for name, m in items:
        label = m.get("mean_label")
        cells = [esc(name), num(m.get("example_count"), ",.0f")]
        for _, key, spec in _columns(task):
            if task == "binary" and key == "auc" and label is not None and (
                    not 0 < label < 1):
                cells.append('<span class="muted" title="one class only: AUC '
                             'undefined">\u2013</span>')
            else:
                cells.append(num(m.get(key), spec))
        yield tuple(cells)


def _slice_key(name: str):
    value = name.split("=", 1)[-1]
    return (0, float(value), "") if _is_number(value) else (1, 0.0, value)


def _is_number(text: str) -> bool:
    try:
        float(text)
        return True
    except ValueError:
        return False


def _slices(evaluation: dict, task: str) -> str:
    columns = _columns(task)
    headers = ["Slice", "Examples"] + [title for title, _, _ in columns]
    numeric = range(1, len(headers))
    title, headline, spec = columns[0]
    groups: dict[str, list] = {}
    for name, metrics in evaluation["slices"].items():
        groups.setdefault(name.split("=", 1)[0], []).append((name, metrics))
    rows, folded = [("overall", evaluation["overall"])], []
    for feature in sorted(groups):
        items = sorted(groups[feature], key=lambda item: _slice_key(item[0]))
        if len(items) <= MAX_INLINE_SLICES:
            rows += items
        else:
            folded.append((feature, items))
    html = table(headers, _slice_rows(rows, task), numeric,
                 row_class=lambda i, _: "emph" if i == 0 else None)
    for feature, items in folded:
        scored = sorted((m[headline], n) for n, m in items
                        if m.get(headline) is not None
                        and m.get("example_count", 0) >= 50)
        spread = ""
        if scored:
            (low, low_name), (high, high_name) = scored[0], scored[-1]
            spread = (f": {title} {low:{spec}} ({esc(low_name)}) to "
                      f"{high:{spec}} ({esc(high_name)}) among slices with "
                      "\u2265 50 examples")
        html += (f"<details><summary>{len(items)} {esc(feature)} slices"
                 f"{spread}</summary>"
                 + table(headers, _slice_rows(items, task), numeric)
                 + "</details>")
    return html


def _baseline(report: dict, overall: dict, task: str) -> str:
    diffs = [(key, overall[f"{key}_diff"]) for _, key, _ in _columns(task)
             if overall.get(f"{key}_diff") is not None]
    if not diffs:
        return ('<p class="muted">No baseline comparison: nothing was being '
                "served when this model was evaluated.</p>")
    rows = [(esc(name), num(overall.get(name)),
             num(overall.get(name) - diff if overall.get(name) is not None
                 else None), num(diff, "+.4f")) for name, diff in diffs]
    version = report["summary"].get("baseline_version")
    return (f"<h3>Against the served model"
            f"{f' (version {version})' if version else ''}</h3>"
            + table(["Metric", "Candidate", "Baseline", "Difference"], rows,
                    numeric=[1, 2, 3]))


def evaluation(report: dict) -> str:
    summary = report["summary"]
    parts = ['<section id="evaluation"><h2>Evaluation</h2>']
    if not summary.get("eval"):
        parts.append(missing("No evaluation: "
                             + why_missing(report, "Evaluator")))
        return "".join(parts) + "</section>"
    blessed = summary.get("blessed")
    parts.append(f'<div class="note {"ok" if blessed else "fail"}"><strong>'
                 f'{"BLESSED" if blessed else "NOT BLESSED"}</strong>: '
                 f'{esc(summary.get("blessing_reason"))}</div>')
    if report["gates"]:
        parts.append(f'<p class="muted">Gates on the overall slice: '
                     f'{esc("; ".join(report["gates"]))}.</p>')
    task = summary.get("task") or "binary"
    parts.append(_baseline(report, summary["eval"]["overall"], task))
    parts.append("<h3>Per slice (eval split, candidate model)</h3>")
    parts.append(_slices(summary["eval"], task))
    return "".join(parts) + "</section>"
