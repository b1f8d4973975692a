"""The serving benchmark's README block (benchmarks/serving_bench.py
measures; this renders results["serving"] only)."""
from benchmarks.serving_bench import CONCURRENCY, STACKS


def _cell(summary, spec="{:.0f}"):
    if not summary:
        return "n/a"
    text = spec.format(summary["median"])
    if summary["n"] > 1 and summary["min"] != summary["max"]:
        text += f" ({spec.format(summary['min'])}–{spec.format(summary['max'])})"
    return text


def render_serving_table(results) -> str:
    serving = results.get("serving") or {}
    if serving.get("status") != "succeeded":
        return "_serving benchmark not run_"
    m = serving["machine"]
    lines = [f"Batch-1 requests from {serving['settings']['rows']} real taxi rows, "
             f"{serving['repeats']} repeats (median, min–max), "
             f"{serving['settings']['seconds']} s per point; {m['cpu_model']}, "
             f"{m['cores']} cores, shared machine.", "",
             "| stack | req/s c=1 | req/s c=8 | req/s c=64 | P50 / P99 ms c=64 | errors c=64 |",
             "|---|---|---|---|---|---|"]
    for stack in (s for s in STACKS if s in serving["stacks"]):
        points = serving["stacks"][stack]
        lines.append(f"| {stack} | " + " | ".join(
            _cell(points[str(c)]["requests_per_s"]) for c in CONCURRENCY) +
            f" | {_cell(points['64']['p50_ms'], '{:.1f}')} / "
            f"{_cell(points['64']['p99_ms'], '{:.1f}')} | "
            f"{_cell(points['64']['errors'])} |")
    floors = serving["in_process"]
    lines += ["", "In-process batch-1 call P50 (the floor): signature "
              f"{_cell(floors['signature_call_ms'], '{:.2f}')} ms, Session "
              f"{_cell(floors['session_call_ms'], '{:.2f}')} ms, TFLite "
              f"{_cell(floors['tflite_call_ms'], '{:.2f}')} ms, ONNX Runtime "
              f"{_cell(floors.get('onnx_call_ms'), '{:.2f}')} ms. Server RSS: " +
              ", ".join(f"{k} {_cell(v)} MiB" for k, v in serving["rss_mb"].items()),
              "", "| goal | value | target | met |", "|---|---|---|---|"]
    for goal in serving["goals"]:
        lines.append(f"| {goal['goal']} | {_cell(goal['spread'], '{:.2f}')} | "
                     f"{goal['better']} {goal['target']} | "
                     f"{'yes' if goal['met'] else 'no'} |")
    return "\n".join(lines)
