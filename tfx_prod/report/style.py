"""The report's CSS, inlined so the page works offline (no CDN, no fonts)."""

CSS = """
:root { --ink: #1f2933; --muted: #616e7c; --line: #d9e2ec; --bg: #f5f7fa;
  --ok: #1f7a4d; --ok-bg: #e3f6ec; --warn: #8a5a00; --warn-bg: #fff4d6;
  --fail: #b42318; --fail-bg: #fde8e7; --accent: #2457c5; }
* { box-sizing: border-box; }
body { margin: 0; background: var(--bg); color: var(--ink);
  font: 14px/1.5 system-ui, -apple-system, "Segoe UI", Roboto, Helvetica,
  Arial, sans-serif; }
main { max-width: 1120px; margin: 0 auto; padding: 24px 28px 64px; }
header { margin-bottom: 8px; }
.kicker { color: var(--muted); text-transform: uppercase; font-size: 12px;
  letter-spacing: .08em; }
h1 { font-size: 26px; margin: 2px 0 10px; }
h2 { font-size: 19px; margin: 0 0 12px; padding-bottom: 6px;
  border-bottom: 1px solid var(--line); }
h3 { font-size: 15px; margin: 18px 0 8px; }
section, .card { background: #fff; border: 1px solid var(--line);
  border-radius: 8px; padding: 18px 22px; margin: 16px 0; }
nav { display: flex; gap: 18px; flex-wrap: wrap; margin: 10px 0 4px; }
nav a { color: var(--accent); text-decoration: none; font-weight: 600; }
td:first-child code { white-space: nowrap; }
code, .mono { font-family: ui-monospace, SFMono-Regular, Menlo, Consolas,
  monospace; font-size: 12.5px; overflow-wrap: anywhere; }
.status { display: inline-block; padding: 6px 12px; border-radius: 6px;
  font-weight: 600; }
.ok { color: var(--ok); background: var(--ok-bg); }
.warn { color: var(--warn); background: var(--warn-bg); }
.fail { color: var(--fail); background: var(--fail-bg); }
.note { padding: 10px 14px; border-radius: 6px; margin: 10px 0; }
.missing { color: var(--muted); background: var(--bg); font-style: italic; }
.muted { color: var(--muted); }
dl.facts { display: grid; grid-template-columns: max-content 1fr;
  gap: 4px 18px; margin: 12px 0 0; }
dl.facts dt { color: var(--muted); }
dl.facts dd { margin: 0; }
.grid2 { display: grid; grid-template-columns: 1fr 1fr; gap: 0 16px; }
.grid2 > .card { margin: 0; }
table { border-collapse: collapse; width: 100%; margin: 6px 0 10px;
  font-variant-numeric: tabular-nums; }
th, td { padding: 5px 9px; border-bottom: 1px solid var(--line);
  text-align: left; vertical-align: top; }
th { font-size: 12px; color: var(--muted); font-weight: 600;
  text-transform: uppercase; letter-spacing: .03em; background: #fbfcfd; }
td.num, th.num { text-align: right; white-space: nowrap; }
tr.emph td { font-weight: 700; background: #f0f5ff; }
tr.blessed td { background: var(--ok-bg); font-weight: 600; }
.badge { display: inline-block; padding: 1px 8px; border-radius: 10px;
  font-size: 12px; font-weight: 600; }
.badge.complete, .badge.resolved { color: var(--ok);
  background: var(--ok-bg); }
.badge.cached { color: var(--accent); background: #e6eefc; }
.badge.skipped, .badge.new { color: var(--warn); background: var(--warn-bg); }
.badge.failed, .badge.running, .badge.interrupted, .badge.unknown { color: var(--fail);
  background: var(--fail-bg); }
details { margin: 8px 0; }
summary { cursor: pointer; font-weight: 600; padding: 4px 0; }
ul.anomalies { margin: 6px 0 0; padding-left: 20px; }
figure { margin: 12px 0 0; }
figcaption { color: var(--muted); font-size: 13px; margin-top: 4px; }
svg.tradeoff { max-width: 100%; height: auto; font-family: inherit; }
svg .frame { fill: #fbfcfd; stroke: var(--line); }
svg .grid { stroke: #e8edf3; }
svg .tick { fill: var(--muted); font-size: 11px; }
svg .axis { fill: var(--ink); font-size: 12px; font-weight: 600; }
svg .label { fill: var(--ink); font-size: 12px; }
svg .point.blessed .label { font-weight: 700; fill: var(--ok); }
svg circle.blessed { fill: var(--ok); stroke: #0b3d25; stroke-width: 2; }
svg circle.within { fill: var(--accent); }
svg circle.over { fill: var(--fail); }
svg .leader { stroke: #9aa5b1; stroke-width: 1; }
svg .budget { stroke: var(--fail); stroke-width: 1.5; stroke-dasharray: 6 4; }
svg .budget-label { fill: var(--fail); font-size: 11px; }
svg .reference { stroke: var(--muted); stroke-dasharray: 2 3; }
svg .reference-label { fill: var(--muted); font-size: 11px; }
.legend span { margin-right: 16px; }
.dot { display: inline-block; width: 10px; height: 10px; border-radius: 50%;
  margin-right: 5px; vertical-align: -1px; }
footer { color: var(--muted); font-size: 12px; margin-top: 24px; }
@media (max-width: 800px) { .grid2 { grid-template-columns: 1fr; } }
@media print { body { background: #fff; }
  section, .card { break-inside: avoid; } }
"""
