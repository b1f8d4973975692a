"""The quantization trade-off as an inline SVG scatter plot (no JS, no CDN).

x: TFLite file size, y: the task's metric on the eval split (AUC, macro AUC,
RMSE); each point is labelled with its variant name and batch-1 p50 latency.
The budget is a red line: a variant on its far side (below it for AUC, above
it for RMSE) cannot be blessed.
"""
import math
from html import escape

from components.quantizer import tasks

WIDTH, HEIGHT = 960, 400
LEFT, RIGHT, TOP, BOTTOM = 74, 150, 20, 52  # line labels sit on the right
LABEL_HEIGHT, CHAR_WIDTH = 15, 6.6  # 12px sans-serif, roughly


def nice_ticks(low: float, high: float, count: int = 5) -> list[float]:
    """Round tick values from at or below `low` to at or above `high`."""
    span = (high - low) or abs(high) or 1.0
    raw = span / count
    magnitude = 10 ** math.floor(math.log10(raw))
    step = next(m * magnitude for m in (1, 2, 2.5, 5, 10)
                if m * magnitude >= raw)
    first = math.floor(low / step + 1e-9)
    last = math.ceil(high / step - 1e-9)
    return [round(i * step, 12) for i in range(first, last + 1)]


def _decimals(ticks: list[float]) -> int:
    """Enough decimals to tell ticks apart (0.0025 steps need 4)."""
    if len(ticks) < 2:
        return 4
    step = ticks[1] - ticks[0]
    decimals = max(0, -math.floor(math.log10(step) + 1e-9))
    while decimals < 8 and abs(round(step, decimals) - step) > step * 1e-6:
        decimals += 1
    return decimals


def size_text(size: float) -> str:
    if size >= 1e6:
        return f"{size / 1e6:.1f} MB"
    return f"{size / 1e3:.0f} kB"


def _place_labels(points: list[dict], right_edge: float) -> None:
    """Sets label x/y/anchor per point so labels overlap no label or point."""
    placed = [(p["px"] - 8, p["py"] - 8, p["px"] + 8, p["py"] + 8)
              for p in points]
    for point in sorted(points, key=lambda p: p["py"]):
        width = len(point["label"]) * CHAR_WIDTH
        right = point["px"] + 10 + width <= right_edge
        x0 = point["px"] + 10 if right else point["px"] - 10 - width
        y = point["py"] + 4
        for step in range(60):  # 0, -4, +4, -8, +8, ... px
            candidate = y + (step + 1) // 2 * (1 if step % 2 else -1) * 4
            box = (x0, candidate - 11, x0 + width, candidate + 3)
            if not any(box[0] < b[2] and b[0] < box[2] and box[1] < b[3]
                       and b[1] < box[3] for b in placed):
                y = candidate
                break
        placed.append((x0, y - 11, x0 + width, y + 3))
        point.update(lx=point["px"] + (10 if right else -10), ly=y,
                     anchor="start" if right else "end")


class _Frame:
    """Maps (size, metric value) to SVG pixels."""

    def __init__(self, x_max: float, y_min: float, y_max: float):
        self.x_max, self.y_min, self.y_max = x_max, y_min, y_max
        self.width = WIDTH - LEFT - RIGHT
        self.height = HEIGHT - TOP - BOTTOM

    def x(self, size: float) -> float:
        return LEFT + size / self.x_max * self.width

    def y(self, value: float) -> float:
        share = (self.y_max - value) / (self.y_max - self.y_min)
        return TOP + share * self.height


def _axes(frame: _Frame, x_ticks: list, y_ticks: list, label: str) -> list[str]:
    right, bottom = LEFT + frame.width, TOP + frame.height
    out = [f'<rect x="{LEFT}" y="{TOP}" width="{frame.width}" '
           f'height="{frame.height}" class="frame"/>']
    decimals = _decimals(y_ticks)
    for tick in y_ticks:
        y = frame.y(tick)
        out.append(f'<line x1="{LEFT}" x2="{right}" y1="{y:.1f}" '
                   f'y2="{y:.1f}" class="grid"/><text x="{LEFT - 8}" '
                   f'y="{y + 4:.1f}" class="tick" text-anchor="end">'
                   f'{tick:.{decimals}f}</text>')
    for tick in x_ticks:
        x = frame.x(tick)
        out.append(f'<line x1="{x:.1f}" x2="{x:.1f}" y1="{TOP}" '
                   f'y2="{bottom}" class="grid"/><text x="{x:.1f}" '
                   f'y="{bottom + 18}" class="tick" text-anchor="middle">'
                   f'{size_text(tick)}</text>')
    out.append(f'<text x="{LEFT + frame.width / 2}" y="{HEIGHT - 10}" '
               'class="axis" text-anchor="middle">TFLite file size</text>'
               f'<text transform="translate(16 {TOP + frame.height / 2}) '
               f'rotate(-90)" class="axis" text-anchor="middle">{escape(label)} '
               '(eval split)</text>')
    return out


def _lines(frame: _Frame, reference: float, budget: float,
           higher_is_better: bool) -> list[str]:
    """Reference and budget lines, labelled in the right margin."""
    ref_y, budget_y = frame.y(reference), frame.y(budget)
    bound = "\u2265" if higher_is_better else "\u2264"
    label_y = max(budget_y, ref_y + LABEL_HEIGHT)  # apart when lines touch
    out = []
    for line_y, text_y, css, text in (
            (ref_y, ref_y, "reference", f"reference {reference:.4f}"),
            (budget_y, label_y, "budget",
             f"budget {bound} {budget:.4f}")):
        out.append(f'<line x1="{LEFT}" x2="{LEFT + frame.width}" '
                   f'y1="{line_y:.1f}" y2="{line_y:.1f}" class="{css}"/>'
                   f'<text x="{LEFT + frame.width + 8}" y="{text_y + 4:.1f}" '
                   f'class="{css}-label">{escape(text)}</text>')
    return out


def _points(frame: _Frame, rows: list[dict], blessed, metric: str,
            label: str) -> list[str]:
    points = [{"row": v, "px": frame.x(v["size_bytes"]),
               "py": frame.y(v[metric]),
               "label": f"{v['name']} \u00b7 {v['latency_ms_p50']:.3f} ms"
                        + (" (blessed)" if v["name"] == blessed else "")}
              for v in rows]
    _place_labels(points, LEFT + frame.width - 4)
    out = []
    for point in points:
        row = point["row"]
        css = ("blessed" if row["name"] == blessed else
               "within" if row["within_budget"] else "over")
        tip = (f"{row['name']}: {row['size_bytes']:,} bytes, {label} "
               f"{row[metric]:.4f}, p50 {row['latency_ms_p50']:.3f} ms")
        leader = ""
        if abs(point["ly"] - 4 - point["py"]) > 6:
            leader = (f'<line x1="{point["px"]:.1f}" y1="{point["py"]:.1f}" '
                      f'x2="{point["lx"]:.1f}" y2="{point["ly"] - 4:.1f}" '
                      'class="leader"/>')
        out.append(f'<g class="point {css}"><title>{escape(tip)}</title>'
                   f'{leader}<circle cx="{point["px"]:.1f}" '
                   f'cy="{point["py"]:.1f}" r="{7 if css == "blessed" else 5}"'
                   f' class="{css}"/><text x="{point["lx"]:.1f}" '
                   f'y="{point["ly"]:.1f}" text-anchor="{point["anchor"]}" '
                   f'class="label">{escape(point["label"])}</text></g>')
    return out


def tradeoff_plot(quantization: dict) -> str:
    """SVG markup for a Quantizer report (`quantization_report.json`)."""
    quantization = tasks.readable(quantization)
    metric, label = quantization["metric"], quantization["metric_label"]
    reference = quantization["reference"][metric]
    budget = tasks.budget_bound(quantization)
    rows = [v for v in quantization["variants"] if not v.get("error")]
    if not rows:
        return ""
    x_ticks = nice_ticks(0, max(v["size_bytes"] for v in rows) * 1.05)
    values = [v[metric] for v in rows] + [reference, budget]
    pad = max((max(values) - min(values)) * 0.08, 2e-4)
    y_ticks = nice_ticks(min(values) - pad, max(values) + pad)
    frame = _Frame(x_ticks[-1], y_ticks[0], y_ticks[-1])
    return "\n".join(
        [f'<svg class="tradeoff" xmlns="http://www.w3.org/2000/svg" '
         f'viewBox="0 0 {WIDTH} {HEIGHT}" width="{WIDTH}" height="{HEIGHT}" '
         'role="img" aria-labelledby="tradeoff-title">',
         f'<title id="tradeoff-title">TFLite variants: file size against '
         f'{escape(label)}, with the {escape(label)} budget line</title>']
        + _axes(frame, x_ticks, y_ticks, label)
        + _lines(frame, reference, budget, quantization["higher_is_better"])
        + _points(frame, rows, quantization.get("blessed_variant"), metric, label)
        + ["</svg>"])
