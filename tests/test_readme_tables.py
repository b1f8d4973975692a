"""README.md's benchmark blocks are exactly what results.json renders.

Fast (no TensorFlow): the harness and its renderers are plain Python.
"""
import copy
import json
import re

import pytest

from benchmarks import readme_tables, stats, tables


@pytest.fixture(scope="module")
def results():
    with open(readme_tables.RESULTS) as f:
        return json.load(f)


@pytest.fixture(scope="module")
def readme():
    with open(readme_tables.README) as f:
        return f.read()


def test_readme_blocks_match_results_json(readme, results):
    assert readme_tables.problems(readme, results) == [], (
        "README.md's benchmark blocks are stale: run "
        "`python -m benchmarks.readme_tables`")


def test_an_edited_number_is_caught_and_rewritten(readme, results):
    block = re.search(r"<!-- bench:pipeline -->\n(.*?)<!-- /bench:pipeline -->",
                      readme, re.DOTALL)
    digit = re.search(r"\d", block.group(1))
    position = block.start(1) + digit.start()
    edited = (readme[:position] + str((int(readme[position]) + 1) % 10)
              + readme[position + 1:])

    assert readme_tables.problems(edited, results) == [
        "block 'pipeline' differs from what results.json renders"]
    assert readme_tables.rewrite(edited, results) == readme


def test_missing_unknown_and_unclosed_blocks_are_reported(readme, results):
    without = re.sub(r"<!-- bench:models -->.*?<!-- /bench:models -->\n", "",
                     readme, flags=re.DOTALL)
    assert any("'models' is missing" in p
               for p in readme_tables.problems(without, results))

    unknown = readme + "\n<!-- bench:nope -->\nx\n<!-- /bench:nope -->\n"
    assert any("'nope' in README.md has no renderer" in p
               for p in readme_tables.problems(unknown, results))
    with pytest.raises(ValueError, match="nope"):
        readme_tables.rewrite(unknown, results)

    unclosed = readme + "\n<!-- bench:setup -->\n"
    assert any("no closing" in p
               for p in readme_tables.problems(unclosed, results))


def test_no_benchmark_numbers_outside_the_blocks(readme):
    """The Benchmarks section's own prose states no measured figure."""
    section = readme[readme.index("## Benchmarks\n"):]
    section = section[:section.index("\n## ", 1)]
    prose = re.sub(r"<!-- bench:([\w-]+) -->.*?<!-- /bench:\1 -->", "",
                   section, flags=re.DOTALL)
    figures = re.findall(r"\d+\.\d+|\d+(?:\.\d+)?\s*[×%]|\d+(?:\.\d+)? ?(?:s|ms|MB|B)\b",
                         prose)
    assert figures == []


def test_a_missed_goal_prints_its_number_not_a_rounded_tie():
    goal = stats.goal("cached_rerun", "re-run ≤ 0.1× cold",
                      stats.summarize([0.1024, 0.1031, 0.0999]), 0.1, "<=")
    assert goal["met"] is False  # judged on the median, 0.1024
    (line,) = tables.goal_lines([goal])
    assert line.startswith("- **missed**: re-run ≤ 0.1× cold (median 0.102× of "
                           "3 repeats, 0.100×–0.103×; target <= 0.100×)")


def test_a_goal_whose_phase_failed_is_missed_not_dropped(results):
    broken = copy.deepcopy(results)
    for repeat in broken["ours"]["repeats"]:
        repeat["status"] = "failed"
        repeat["cold"]["returncode"] = 1
    from benchmarks import compare
    goals = {g["id"]: g for g in compare.compute(broken)["goals"]}
    assert goals["cached_rerun"]["met"] is False
    assert goals["cached_rerun"]["value"] is None
    assert "**missed**" in tables.goal_lines([goals["cached_rerun"]])[0]
