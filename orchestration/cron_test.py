"""The 5-field cron matcher against hand-checked calendar minutes."""
import datetime

import pytest

from orchestration import cron

UTC = datetime.timezone.utc


def at(*args):
    return datetime.datetime(*args, tzinfo=UTC)


def test_daily_at_three_fires_once_a_day():
    daily = cron.parse("0 3 * * *")
    ticks = daily.ticks_between(at(2026, 12, 1, 0, 0), at(2026, 12, 3, 23, 59))
    assert ticks == [at(2026, 12, 1, 3, 0), at(2026, 12, 2, 3, 0),
                     at(2026, 12, 3, 3, 0)]


def test_steps_lists_ranges_and_sunday_as_0_or_7():
    every_15 = cron.parse("*/15 9-10 * * 1-5")
    # 2026-12-07 is a Monday, 2026-12-06 a Sunday.
    assert every_15.matches(at(2026, 12, 7, 9, 45))
    assert not every_15.matches(at(2026, 12, 7, 9, 50))
    assert not every_15.matches(at(2026, 12, 6, 9, 45))
    assert cron.parse("0 0 * * 7").matches(at(2026, 12, 6, 0, 0))
    assert cron.parse("0 0 * * 0").matches(at(2026, 12, 6, 0, 0))
    assert cron.parse("5,35 * * * *").matches(at(2026, 12, 6, 13, 35))


def test_both_day_fields_restricted_match_either_as_vixie_cron():
    first_or_monday = cron.parse("0 0 1 * 1")
    assert first_or_monday.matches(at(2026, 12, 1, 0, 0))   # a Tuesday, the 1st
    assert first_or_monday.matches(at(2026, 12, 7, 0, 0))   # a Monday
    assert not first_or_monday.matches(at(2026, 12, 8, 0, 0))


@pytest.mark.parametrize("text, words", [
    ("0 3 * *", "has 4 fields"), ("60 * * * *", "minute '60'"),
    ("* 5-2 * * *", "runs backwards"), ("*/0 * * * *", "step '0'"),
    ("* * * 13 *", "month '13'"), ("* * x * *", "day-of-month 'x'"),
])
def test_bad_cron_names_the_field(text, words):
    with pytest.raises(ValueError, match=words):
        cron.parse(text)
