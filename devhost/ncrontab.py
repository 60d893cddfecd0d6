"""NCRONTAB schedules as the Functions timer trigger reads them: six fields, second minute
hour day month day-of-week, each `*`, `*/n`, `a`, `a-b`, `a-b/n` or a comma list of those."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

# (name, lowest, highest); day-of-week 0-6 is Sunday-Saturday, 7 is Sunday too.
_FIELDS = (("second", 0, 59), ("minute", 0, 59), ("hour", 0, 23), ("day", 1, 31),
           ("month", 1, 12), ("day-of-week", 0, 7))  # fmt: skip
_MONTHS = ["JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC"]
_DAYS = ["SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"]


@dataclass(frozen=True)
class Schedule:
    seconds: frozenset[int]
    minutes: frozenset[int]
    hours: frozenset[int]
    days: frozenset[int]
    months: frozenset[int]
    weekdays: frozenset[int]  # 0 = Sunday
    any_day: bool  # day-of-month was `*`
    any_weekday: bool  # day-of-week was `*`

    def matches(self, at: datetime) -> bool:
        if at.second not in self.seconds or at.minute not in self.minutes:
            return False
        return at.hour in self.hours and self._day_matches(at)

    def _day_matches(self, at: datetime) -> bool:
        if at.month not in self.months:
            return False
        day, weekday = at.day in self.days, (at.isoweekday() % 7) in self.weekdays
        if self.any_day or self.any_weekday:
            return day and weekday
        return day or weekday  # both restricted: either matches, as in cron

    def next_after(self, at: datetime) -> datetime:
        """The first occurrence strictly after `at` (same time zone, whole seconds)."""
        candidate = at.replace(microsecond=0) + timedelta(seconds=1)
        limit = candidate + timedelta(days=366 * 5)
        while candidate < limit:
            if not self._day_matches(candidate):
                candidate = candidate.replace(hour=0, minute=0, second=0) + timedelta(days=1)
            elif candidate.hour not in self.hours:
                candidate = candidate.replace(minute=0, second=0) + timedelta(hours=1)
            elif candidate.minute not in self.minutes:
                candidate = candidate.replace(second=0) + timedelta(minutes=1)
            elif candidate.second not in self.seconds:
                candidate += timedelta(seconds=1)
            else:
                return candidate
        raise ValueError("the schedule never fires")


def parse(expression: str) -> Schedule:
    """A Schedule from a six-field NCRONTAB expression; ValueError if malformed."""
    parts = expression.split()
    if len(parts) != 6:
        raise ValueError(
            f"{expression!r}: NCRONTAB needs 6 fields (second minute hour day month"
            f" day-of-week), got {len(parts)}"
        )
    values = [_field(part, *spec) for part, spec in zip(parts, _FIELDS, strict=True)]
    weekdays = frozenset(d % 7 for d in values[5])
    return Schedule(*values[:5], weekdays, parts[3] == "*", parts[5] == "*")  # type: ignore[arg-type]


def _field(text: str, name: str, low: int, high: int) -> frozenset[int]:
    found: set[int] = set()
    for item in text.split(","):
        found |= _item(item, name, low, high)
    return frozenset(found)


def _item(item: str, name: str, low: int, high: int) -> set[int]:
    body, _, step_text = item.partition("/")
    step = _number(step_text, name) if step_text else 1
    if step < 1:
        raise ValueError(f"{name}: step must be at least 1 in {item!r}")
    if body == "*":
        start, end = low, high
    elif "-" in body:
        first, _, last = body.partition("-")
        start, end = _value(first, name), _value(last, name)
    else:
        start = _value(body, name)
        end = high if step_text else start
    if not low <= start <= end <= high:
        raise ValueError(f"{name}: {item!r} is outside {low}-{high} or reversed")
    return set(range(start, end + 1, step))


def _value(text: str, name: str) -> int:
    upper = text.upper()
    if name == "month" and upper in _MONTHS:
        return _MONTHS.index(upper) + 1
    if name == "day-of-week" and upper in _DAYS:
        return _DAYS.index(upper)
    return _number(text, name)


def _number(text: str, name: str) -> int:
    if not (text.isascii() and text.isdigit()):  # str.isdigit alone accepts "²"
        raise ValueError(f"{name}: {text!r} is not a number")
    return int(text)
