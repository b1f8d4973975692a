"""Write README.md's benchmark blocks from benchmarks/results/results.json.

    python -m benchmarks.readme_tables           # rewrite the blocks
    python -m benchmarks.readme_tables --check   # exit 1 if any differs

Why: numbers typed into prose drift from the measurements. A block is the
text between `<!-- bench:NAME -->` and `<!-- /bench:NAME -->`; its content
is exactly RENDERERS[NAME](results), so the README can only say what
results.json says. `make bench` runs this after the benchmarks, and
tests/test_readme_tables.py fails when a block differs.

To add a block: one line in RENDERERS (a function results -> markdown),
and the two markers where it goes in README.md.
"""
import argparse
import collections
import json
import os
import re
import sys

from benchmarks import (kubeflow, opt_report, reliability, retraining, scale,
                        scale_report, serving_report, tables, watermark,
                        workdirs)

RENDERERS = {
    "setup": tables.setup,
    "pipeline": tables.pipeline,
    "tflite-speed": opt_report.quantization,
    "models": opt_report.optimizations,
    "serving": serving_report.render_serving_table,
    "kubeflow": kubeflow.render,
    scale.NAME: scale_report.render,
    retraining.NAME: retraining.render,
    reliability.NAME: reliability.render,
    watermark.NAME: watermark.render,
}

README = os.path.join(workdirs.REPO_DIR, "README.md")
RESULTS = os.path.join(workdirs.RESULTS_DIR, "results.json")
_BLOCK = re.compile(r"<!-- bench:(?P<name>[\w-]+) -->\n(?P<body>.*?)"
                    r"<!-- /bench:(?P=name) -->", re.DOTALL)
_OPENING = re.compile(r"<!-- bench:([\w-]+) -->")


def _body(text):
    """Block content as stored: the rendered text, its own lines."""
    return text.rstrip("\n") + "\n"


def rendered(results):
    """{block name: the content results.json gives it}."""
    return {name: _body(render(results)) for name, render in RENDERERS.items()}


def problems(readme_text, results):
    """What keeps the README from matching results.json, one line each."""
    found, closed, out = {}, collections.Counter(), []
    for match in _BLOCK.finditer(readme_text):
        name = match.group("name")
        if name in found:
            out.append(f"block {name!r} appears twice")
        found[name] = match.group("body")
        closed[name] += 1
    opened = collections.Counter(_OPENING.findall(readme_text))
    out += [f"block {name!r} has no closing <!-- /bench:{name} -->"
            for name in sorted(opened) if opened[name] > closed[name]]
    out += [f"block {name!r} in README.md has no renderer in RENDERERS"
            for name in sorted(set(found) - set(RENDERERS))]
    for name, body in rendered(results).items():
        if name not in found:
            out.append(f"block {name!r} is missing from README.md (add "
                       f"<!-- bench:{name} --> ... <!-- /bench:{name} -->)")
        elif found[name] != body:
            out.append(f"block {name!r} differs from what results.json "
                       "renders")
    return out


def rewrite(readme_text, results):
    """README text with every block re-rendered; ValueError if the markers
    themselves are wrong (missing, unknown, doubled or unclosed)."""
    broken = [p for p in problems(readme_text, results) if "differs" not in p]
    if broken:
        raise ValueError("; ".join(broken))
    bodies = rendered(results)
    return _BLOCK.sub(lambda m: (f"<!-- bench:{m.group('name')} -->\n"
                                 f"{bodies[m.group('name')]}"
                                 f"<!-- /bench:{m.group('name')} -->"),
                      readme_text)


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m benchmarks.readme_tables",
                                     description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true",
                        help="change nothing; exit 1 if a block differs")
    parser.add_argument("--results", default=RESULTS)
    parser.add_argument("--readme", default=README)
    args = parser.parse_args(argv)
    with open(args.results) as f:
        results = json.load(f)
    with open(args.readme) as f:
        text = f.read()
    if args.check:
        found = problems(text, results)
        for line in found:
            print(f"{args.readme}: {line}", file=sys.stderr)
        if found:
            print("run `python -m benchmarks.readme_tables` to rewrite the "
                  "blocks from results.json", file=sys.stderr)
        return 1 if found else 0
    try:
        new = rewrite(text, results)
    except ValueError as error:
        print(f"{args.readme}: {error}", file=sys.stderr)
        return 1
    if new != text:
        with open(args.readme, "w") as f:
            f.write(new)
    print(f"{args.readme}: {len(RENDERERS)} benchmark blocks from "
          f"{args.results}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
