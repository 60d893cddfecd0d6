"""The NCRONTAB parser of the local host's timer triggers."""

from datetime import UTC, datetime

import pytest

from devhost.ncrontab import parse

pytestmark = pytest.mark.unit

AT = datetime(2026, 3, 14, 10, 15, 30, tzinfo=UTC)  # a Saturday


def test_every_minute_at_second_zero_fires_at_the_next_whole_minute():
    assert parse("0 */1 * * * *").next_after(AT) == datetime(2026, 3, 14, 10, 16, 0, tzinfo=UTC)


def test_steps_ranges_and_lists_combine_in_one_field():
    schedule = parse("0,30 10-20/5 9 * * *")
    assert schedule.minutes == {10, 15, 20}
    assert schedule.seconds == {0, 30}
    assert schedule.next_after(AT) == datetime(2026, 3, 15, 9, 10, 0, tzinfo=UTC)


def test_a_step_from_a_single_value_runs_to_the_end_of_the_range():
    assert parse("5/20 * * * * *").seconds == {5, 25, 45}


def test_day_of_week_names_and_seven_mean_sunday():
    assert parse("0 0 12 * * SUN").weekdays == parse("0 0 12 * * 7").weekdays == {0}
    assert parse("0 0 12 * * SUN").next_after(AT) == datetime(2026, 3, 15, 12, tzinfo=UTC)


def test_month_names_restrict_the_month():
    assert parse("0 0 0 1 JAN *").next_after(AT) == datetime(2027, 1, 1, tzinfo=UTC)


def test_restricted_day_and_weekday_fire_on_either_as_in_cron():
    schedule = parse("0 0 0 20 * MON")
    assert schedule.next_after(AT) == datetime(2026, 3, 16, tzinfo=UTC)  # Monday before the 20th


def test_the_next_occurrence_is_strictly_after_the_given_time():
    at = datetime(2026, 1, 1, 0, 1, 0, tzinfo=UTC)
    assert parse("0 * * * * *").next_after(at) == datetime(2026, 1, 1, 0, 2, tzinfo=UTC)


@pytest.mark.parametrize(
    "expression",
    ["* * * * *", "60 * * * * *", "* * 24 * * *", "*/0 * * * * *", "a * * * * *", "5-1 * * * * *"],
)
def test_malformed_expressions_are_refused(expression):
    with pytest.raises(ValueError, match=r"."):
        parse(expression)
