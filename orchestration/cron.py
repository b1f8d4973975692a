"""Standard 5-field cron: parse once, then ask which minutes match.

For the local scheduler (and --emit cron/systemd); KFP and Kubernetes parse
cron themselves. Fields: minute hour day-of-month month day-of-week, each
`*`, `N`, `A-B`, a comma list, and `/STEP` on `*` or a range. Day of week 0
or 7 is Sunday. As in Vixie cron, when both day fields are restricted a day
matches if either does.
"""
import dataclasses
import datetime
from typing import FrozenSet

_RANGES = ((0, 59), (0, 23), (1, 31), (1, 12), (0, 7))
_NAMES = ("minute", "hour", "day-of-month", "month", "day-of-week")


@dataclasses.dataclass(frozen=True)
class Cron:
    text: str
    minutes: FrozenSet[int]
    hours: FrozenSet[int]
    days: FrozenSet[int]
    months: FrozenSet[int]
    weekdays: FrozenSet[int]   # 0 = Sunday
    days_restricted: bool
    weekdays_restricted: bool

    def matches(self, moment: datetime.datetime) -> bool:
        """Does the minute `moment` falls in fire?"""
        weekday = (moment.weekday() + 1) % 7   # Python: Monday 0
        day_ok = moment.day in self.days
        weekday_ok = weekday in self.weekdays
        if self.days_restricted and self.weekdays_restricted:
            date_ok = day_ok or weekday_ok
        else:
            date_ok = day_ok and weekday_ok
        return (moment.minute in self.minutes and moment.hour in self.hours
                and moment.month in self.months and date_ok)

    def ticks_between(self, start: datetime.datetime,
                      end: datetime.datetime) -> list:
        """Matching minutes in (start, end], oldest first (a bounded scan)."""
        moment = start.replace(second=0, microsecond=0) + datetime.timedelta(
            minutes=1)
        found = []
        while moment <= end and len(found) < 10_000:
            if self.matches(moment):
                found.append(moment)
            moment += datetime.timedelta(minutes=1)
        return found


def _field(text: str, index: int) -> FrozenSet[int]:
    low, high = _RANGES[index]
    values = set()
    for part in text.split(","):
        body, _, step_text = part.partition("/")
        step = 1
        if step_text:
            if not step_text.isdigit() or int(step_text) < 1:
                raise ValueError(f"{_NAMES[index]} step {step_text!r} must be a "
                                 "positive integer")
            step = int(step_text)
        if body == "*":
            start, stop = low, high
        elif "-" in body:
            first, _, last = body.partition("-")
            start, stop = _number(first, index), _number(last, index)
            if start > stop:
                raise ValueError(f"{_NAMES[index]} range {body!r} runs backwards")
        else:
            start = stop = _number(body, index)
            if step_text:
                stop = high
        values.update(range(start, stop + 1, step))
    return frozenset(values)


def _number(text: str, index: int) -> int:
    low, high = _RANGES[index]
    if not text.isdigit() or not low <= int(text) <= high:
        raise ValueError(f"{_NAMES[index]} {text!r} must be a number in "
                         f"{low}..{high}")
    return int(text)


def parse(text: str) -> Cron:
    """A 5-field cron string -> Cron; ValueError naming the bad field."""
    fields = text.split()
    if len(fields) != 5:
        raise ValueError(f"cron {text!r} has {len(fields)} fields; give 5 "
                         "(minute hour day-of-month month day-of-week), "
                         "e.g. '0 3 * * *'")
    parsed = [_field(f, i) for i, f in enumerate(fields)]
    weekdays = frozenset(0 if d == 7 else d for d in parsed[4])
    return Cron(text, *parsed[:4], weekdays,
                days_restricted=fields[2] != "*",
                weekdays_restricted=fields[4] != "*")
