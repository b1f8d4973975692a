"""The report's model sections: optimization and the quantization trade-off."""
from components.quantizer import tasks
from tfx_prod.report import svg
from tfx_prod.report.cells import esc, missing, num, table, why_missing


def _value(value) -> str:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return esc(value)
    return f"{value:,}" if isinstance(value, int) else f"{value:.4f}"


def optimization(report: dict) -> str:
    parts = ['<section id="optimization"><h2>Optimization</h2>']
    found = report["optimization"]
    if found is None:
        where = report.get("optimization_path")
        text = (f"No optimization report at <code>{esc(where)}</code>: "
                "models trained before the Trainer wrote "
                "<code>assets.extra/optimization_report.json</code> have none."
                if where else why_missing(report, "Trainer"))
        return "".join(parts) + missing(text) + "</section>"
    scalars = "".join(f"<dt>{esc(k.replace('_', ' '))}</dt><dd>{_value(v)}"
                      "</dd>" for k, v in found.items()
                      if not isinstance(v, (dict, list)))
    parts.append(f'<dl class="facts">{scalars}</dl>')
    if found.get("teacher_params") and found.get("params"):
        ratio = found["teacher_params"] / found["params"]
        parts.append(f"<p>The student has {ratio:.1f}x fewer parameters than "
                     "its teacher.</p>")
    for key, value in found.items():
        if isinstance(value, dict):
            parts.append(f"<h3>{esc(key.replace('_', ' '))}</h3>" + table(
                ["Name", "Value"], [(f"<code>{esc(k)}</code>", _value(v))
                                    for k, v in value.items()], numeric=[1]))
    return "".join(parts) + "</section>"


def _heading(label: str) -> str:
    """'accuracy' -> 'Accuracy'; 'MAE' stays 'MAE'."""
    return esc(label[:1].upper() + label[1:])


def _variant_rows(quantization: dict):
    metric, secondary = quantization["metric"], quantization["secondary_metric"]
    for v in quantization["variants"]:
        if v.get("error"):
            yield (esc(v["name"]), *[""] * 8, f"failed: {esc(v['error'])}")
            continue
        verdict = ("blessed" if v["name"] == quantization["blessed_variant"]
                   else "anchor" if v["name"] == "float32" else
                   "within budget" if v["within_budget"] else "over budget")
        yield (esc(v["name"]), f"{v['size_bytes']:,}",
               num(v["size_ratio_vs_float32"], ".2f") + "x", num(v[metric]),
               # + 0.0: no "-0.0000"
               num(round(tasks.change(quantization, v), 4) + 0.0, "+.4f"),
               num(v[secondary]),
               num(v["latency_ms_p50"], ".3f"),
               num(v["latency_ms_p90"], ".3f"),
               num(v["speedup_vs_float32"], ".2f") + "x", verdict)


def quantization(report: dict) -> str:
    parts = ['<section id="quantization"><h2>Quantization trade-off</h2>']
    found = report["summary"].get("quantization")
    if not found:
        text = ("Not quantized: the Quantizer only runs on a blessed model."
                if report["summary"].get("blessed") is False
                else why_missing(report, "Quantizer"))
        return "".join(parts) + missing(text) + "</section>"
    found = tasks.readable(found)
    label = esc(found["metric_label"])
    blessed = found.get("blessed_variant")
    parts.append(f'<div class="note {"ok" if blessed else "warn"}">'
                 f"{esc(found['reason'])}</div>")
    parts.append(f'<p class="muted">{esc(found["task"])} model; '
                 f'{found["eval_examples"]:,} eval examples; '
                 f'reference SavedModel {label} '
                 f'{found["reference"][found["metric"]]:.4f}, budget: '
                 f'{esc(found["metric_loss_label"])} \u2264 '
                 f'{found["max_metric_loss"]:g}.</p>')
    parts.append(table(
        ["Variant", "Bytes", "vs float32", label, f"\u0394{label}",
         _heading(found["secondary_metric_label"]),
         "p50 ms", "p90 ms", "Speed-up", "Verdict"],
        _variant_rows(found), numeric=range(1, 9),
        row_class=lambda _, row: "blessed" if row[-1] == "blessed" else None))
    plot = svg.tradeoff_plot(found)
    if plot:
        side = "Below" if found["higher_is_better"] else "Above"
        parts.append(
            f"<figure>{plot}<figcaption class=\"legend\">"
            '<span><i class="dot" style="background:#1f7a4d"></i>blessed'
            '</span><span><i class="dot" style="background:#2457c5"></i>'
            'within budget</span><span><i class="dot" style="background:'
            '#b42318"></i>over budget</span>Labels: variant \u00b7 batch-1 '
            f"p50 latency. {side} the red line a variant costs more {label} "
            "than the budget allows.</figcaption></figure>")
    return "".join(parts) + "</section>"
