"""Markdown for the models: TFLite speed, sizes and AUC, and their goals.

Rows come from `results["comparison"]["models"]` (opt_compare.merge: one
row per model and format, numbers summarized over repeats).
"""
from benchmarks import opt_compare
from benchmarks.tables import cell, goal_lines, median, num, row

_FORMAT_LABELS = {"SavedModel": "SavedModel", "float32": "float32 TFLite",
                  "dynamic_range": "dynamic_range", "float16": "float16",
                  "int8": "int8"}
# Published speed-ups these numbers can test: TFLite's post-training
# quantization guide (tensorflow.org/lite/performance/
# post_training_quantization), "Benefit" column, CPU.
GUIDE_CLAIMS = (("int8", 3.0, "full integer: \"3x+ speedup\""),
                ("dynamic_range", 2.0, "dynamic range: \"2x-3x speedup\""))


def _models(results):
    return (results.get("comparison") or {}).get("models") or {}


def _name(r):
    return f"{r['model']} · {_FORMAT_LABELS.get(r['format'])}"


def _not_measured(results):
    opt = results.get("optimizations") or {}
    if opt.get("status", "not_run") == "not_run":
        return ("Not run: the optimizations phase (`--only optimizations` "
                "or all) reads every model's files.")
    if not _models(results).get("rows"):
        errors = "; ".join(r["error"] for r in opt.get("repeats") or []
                           if r.get("error"))
        return ("No model was measured: "
                + (errors or "see the failures in results.md."))
    return None


def _speed_row(r):
    if r.get("format") is None:
        return row([f"{r['model']}: {r['error']}"] + [""] * 4)
    if r.get("error"):
        return row([_name(r), f"failed: {r['error']}"] + [""] * 3)
    saved = r["format"] == "SavedModel"
    return row([
        _name(r),
        cell(r.get("latency_ms_p50"), ".3f"),
        cell(r.get("speedup_vs_float32"), ".2f", "×"),
        "not timed" if saved else cell(r.get("throughput_rows_per_s"), ",.0f"),
        "–" if saved else cell(r.get("throughput_vs_float32"), ".2f", "×"),
    ])


def _claim_lines(rows):
    """Each model's measured speed-up against the guide's published one."""
    lines = []
    for model in opt_compare.MODELS:
        parts = []
        for fmt, floor, claim in GUIDE_CLAIMS:
            r = next((x for x in rows if x.get("model") == model
                      and x.get("format") == fmt and not x.get("error")),
                     None)
            if r is None:
                continue
            one, many = (median(r.get("speedup_vs_float32")),
                         median(r.get("throughput_vs_float32")))
            best = max((v for v in (one, many) if v is not None),
                       default=None)
            verdict = ("not measured" if best is None else
                       "holds" if best >= floor else "does not hold")
            at_batch = ("batch-256 throughput not measured" if many is None
                        else f"{many:.2f}× at batch "
                        f"{num(r.get('throughput_batch_rows'), '.0f')}")
            parts.append(f"{claim} {verdict} ({num(one, '.2f')}× at batch "
                         f"1, {at_batch})")
        if parts:
            lines.append(f"- {model}: " + "; ".join(parts) + ".")
    return lines


def quantization(results):
    """TFLite speed: batch-1 latency beside batch-256 throughput."""
    why = _not_measured(results)
    if why:
        return why
    rows = _models(results)["rows"]
    batch = next((num(r.get("throughput_batch_rows"), ".0f") for r in rows
                  if r.get("throughput_batch_rows")), "256")
    return "\n".join([
        "| model · format | batch-1 p50 ms | batch-1 speed-up vs float32 "
        f"| batch-{batch} rows/s | batch-{batch} speed-up vs float32 |",
        "|---|---:|---:|---:|---:|",
        *[_speed_row(r) for r in rows], "",
        "- Timed by the Quantizer inside each run: one interpreter thread, "
        f"batch 1 = median of single-row calls, batch {batch} = rows per "
        "second from the median time of a batch call (both after a "
        "warm-up). Speed-ups are against the float32 TFLite model of the "
        "same run. The SavedModel is timed at batch 1 only.",
        "- Against TFLite's post-training quantization guide (CPU; a claim "
        "holds if either batch size reaches its lower bound):",
        *["  " + line for line in _claim_lines(rows)],
    ])


def _size_row(r):
    if r.get("format") is None:
        return row([f"{r['model']}: {r['error']}"] + [""] * 7)
    if r.get("error"):
        return row([_name(r), f"failed: {r['error']}"] + [""] * 6)
    delta = median(r.get("auc_delta_vs_baseline"))
    saved = r["format"] == "SavedModel"
    return row([
        _name(r),
        num(r.get("params"), ","),
        num(r.get("sparsity"), ".1%"),
        num(r.get("saved_model_bytes"), ",.0f") if saved else "–",
        num(r.get("gzip_bytes"), ",.0f"),
        "–" if saved else num(r.get("tflite_bytes"), ",.0f"),
        num(r.get("auc"), ".4f"),
        # + 0.0 turns a rounded-away -0.0 into 0.0: "+0.0000", not "-0.0000".
        "n/a" if delta is None else f"{round(delta, 4) + 0.0:+.4f}",
    ])


def _weights_lines(results):
    """Like-for-like sizes: a SavedModel may also store optimizer slots."""
    weights = _models(results).get("weights") or []
    slots = [f"{w['model']} {num(w.get('optimizer_bytes'), ',.0f')} B"
             for w in weights if w.get("optimizer_bytes") is not None]
    ratios = [f"{w['model']} {num(w.get('weights_gzip_vs_baseline'), '.2f')}×"
              for w in weights
              if w.get("weights_gzip_vs_baseline") is not None]
    lines = []
    if slots:
        lines.append("- Optimizer state inside each SavedModel's "
                     "`variables/` (raw): " + ", ".join(slots) + ".")
    if ratios:
        lines.append("- Model weights alone (no optimizer or metric state), "
                     "raw float32 gzip level 9, vs the baseline's: "
                     + ", ".join(ratios) + ".")
    return lines


def optimizations(results):
    """Sizes, sparsity and AUC of every model and format, and the goals."""
    why = _not_measured(results)
    if why:
        return why
    models = _models(results)
    return "\n".join([
        "| variant | params | sparsity | SavedModel size | gzipped "
        "| TFLite size | AUC | Δ AUC vs float baseline |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
        *[_size_row(r) for r in models["rows"]], "",
        "- Medians over repeats. Sizes in bytes. SavedModel size: the "
        "Trainer's export as the Quantizer measured it (includes assets). "
        "gzipped: for SavedModel rows, a tar of `saved_model.pb` + "
        "`variables/` compressed with gzip level 9; for TFLite rows, the "
        "`.tflite` file gzip level 9.",
        "- sparsity: fraction of zeros in the Dense kernels (biases "
        "excluded). AUC: the Quantizer's, on the same eval examples for "
        "every model; Δ AUC is against the baseline's float SavedModel AUC "
        "of the same repeat.",
        *_weights_lines(results), "",
        *goal_lines(models.get("goals") or []),
    ])
