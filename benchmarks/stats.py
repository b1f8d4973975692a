"""Median and spread over repeats, and goals judged on the median.

Why: the bench machine is shared (2 cores), so one run's time says little.
Every timed run is repeated; a figure is reported as the median with its
min–max, and a goal is met or missed on the median, never on a lucky run.
Ratios are taken within one repeat (both sides measured minutes apart in
the same fixed order) before they are summarized.
"""
import statistics


def summarize(values):
    """{"median", "min", "max", "n"} of the numbers among `values`, or None."""
    numbers = [v for v in values
               if isinstance(v, (int, float)) and not isinstance(v, bool)]
    if not numbers:
        return None
    return {"median": statistics.median(numbers), "min": min(numbers),
            "max": max(numbers), "n": len(numbers)}


def median(stat):
    return None if stat is None else stat["median"]


def ratio(numerator, denominator):
    if numerator is None or not denominator:
        return None
    return numerator / denominator


def judge(value, target, better):
    if value is None:
        return None
    return value <= target if better == "<=" else value >= target


def goal(goal_id, text, stat, target, better, owed=True, explain=""):
    """A goal on the median of `stat` (a summary, or one repeat's number).

    `owed`: the phases it needs ran, so a missing number is a miss, not n/a.
    """
    if not isinstance(stat, dict):
        stat = summarize([stat])
    met = judge(median(stat), target, better)
    if met is None and owed:
        met = False
    return {"id": goal_id, "goal": text, "value": median(stat), "spread": stat,
            "target": target, "better": better, "met": met,
            "explain": explain}


def _median_position(values):
    """Index of the (lower) median among the non-None values, else 0."""
    present = sorted((v, i) for i, v in enumerate(values) if v is not None)
    return present[(len(present) - 1) // 2][1] if present else 0


def merge_rows(per_repeat, key_fields):
    """One row per key over repeats: numbers become summaries.

    `per_repeat` is a list (one per repeat) of row lists; a row's other
    fields (e.g. an error) come from the first repeat that has the row.
    """
    merged, order = {}, []
    for rows in per_repeat:
        for row in rows:
            key = tuple(row.get(field) for field in key_fields)
            if key not in merged:
                merged[key] = []
                order.append(key)
            merged[key].append(row)
    out = []
    for key in order:
        rows = merged[key]
        row = {}
        for field in rows[0]:
            values = [r.get(field) for r in rows]
            stat = (None if field in key_fields else summarize(values))
            row[field] = stat if stat is not None else next(
                (v for v in values if v is not None), None)
        out.append(row)
    return out


def merge_goals(per_repeat):
    """Goals over repeats: value = summary, met on its median.

    The explanation is the one of the repeat that gave the median, so the
    numbers it quotes are those of a real run.
    """
    by_id, order = {}, []
    for goals in per_repeat:
        for item in goals:
            if item["id"] not in by_id:
                by_id[item["id"]] = []
                order.append(item["id"])
            by_id[item["id"]].append(item)
    out = []
    for goal_id in order:
        items = by_id[goal_id]
        values = [item.get("value") for item in items]
        stat = summarize(values)
        first = items[0]
        merged = goal(goal_id, first["goal"], stat, first["target"],
                      first["better"],
                      owed=any(item["met"] is not None for item in items),
                      explain=items[_median_position(values)].get("explain"))
        out.append(merged)
    return out
