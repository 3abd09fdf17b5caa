"""Cron schedules, checked by the rules of the CronJob API.

The CronJob API parses `spec.schedule` with robfig/cron's standard parser: five fields
(minute 0-59, hour 0-23, day of month 1-31, month 1-12 or JAN-DEC, day of week 0-6 or
SUN-SAT), each a comma-separated list of `*`, `?`, a value or a range `a-b`, any of them
with a step `/n`; or one of the descriptors below. Python's cron libraries accept more than
that (7 for Sunday, `L`, `W`, `#`, `H`, a sixth field of seconds), and a schedule the CRD
and a library accepted but the CronJob API refused left a stack half-created; so the
schedule is checked here against the API's own grammar, and a cluster test compares this
check with the real API server's answers.
"""

from __future__ import annotations

import datetime
import functools
import itertools
import re

DESCRIPTORS = ("@yearly", "@annually", "@monthly", "@weekly", "@daily", "@midnight", "@hourly")
MONTHS = ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec")
DAYS = ("sun", "mon", "tue", "wed", "thu", "fri", "sat")
# (name, lowest, highest, names of values): the five fields in order.
FIELDS: tuple[tuple[str, int, int, dict[str, int]], ...] = (
    ("minute", 0, 59, {}),
    ("hour", 0, 23, {}),
    ("day of month", 1, 31, {}),
    ("month", 1, 12, {name: index + 1 for index, name in enumerate(MONTHS)}),
    ("day of week", 0, 6, {name: index for index, name in enumerate(DAYS)}),
)
_NUMBER = re.compile(r"^[0-9]{1,4}$")
_TERM = re.compile(r"^(?P<range>\*|\?|[^-/]+(-[^-/]+)?)(/(?P<step>[0-9]+))?$")


def schedule_error(schedule: str) -> str | None:
    """Why the CronJob API would refuse `schedule`, or None when it accepts it."""
    if schedule.startswith("@"):
        return None if schedule in DESCRIPTORS else f"unknown descriptor {schedule}"
    fields = schedule.split()
    if len(fields) != 5:
        return f"needs 5 fields (minute hour day-of-month month day-of-week), not {len(fields)}"
    for text, (name, low, high, names) in zip(fields, FIELDS, strict=True):
        for term in text.split(","):
            problem = _term_error(term, low, high, names)
            if problem is not None:
                return f"{name} field {text!r}: {problem}"
    return None


def _value(text: str, names: dict[str, int]) -> int | None:
    """A field's value: a number, or one of its names (JAN, MON; any case)."""
    return int(text) if _NUMBER.match(text) else names.get(text.lower())


def _term_error(term: str, low: int, high: int, names: dict[str, int]) -> str | None:
    match = _TERM.match(term)
    if match is None:
        return f"{term!r} is not a value, a range or a step"
    step = match.group("step")
    if step is not None and int(step) == 0:
        return "a step must be a positive number"
    span = match.group("range")
    if span in ("*", "?"):
        return None
    ends = span.split("-")
    values: list[int] = []
    for end in ends:
        value = _value(end, names)
        if value is None:
            return f"{end!r} is not a number" + (" or a name" if names else "")
        if not low <= value <= high:
            return f"{value} is outside {low}-{high}"
        values.append(value)
    if len(values) == 2 and values[0] > values[1]:
        return f"the range {span} runs backwards"
    return None


# What each descriptor stands for, as robfig/cron defines them.
DESCRIPTOR_SCHEDULES = {
    "@yearly": "0 0 1 1 *",
    "@annually": "0 0 1 1 *",
    "@monthly": "0 0 1 * *",
    "@weekly": "0 0 * * 0",
    "@daily": "0 0 * * *",
    "@midnight": "0 0 * * *",
    "@hourly": "0 * * * *",
}
_MINUTES_PER_DAY = 24 * 60
# Every pattern of days repeats within 28 years (the Gregorian weekday cycle); eight years
# hold every 29 February and every day-of-month/weekday pairing a schedule can ask for.
_SPAN_DAYS = 8 * 366
_EPOCH = datetime.date(2024, 1, 1)


def _expand(text: str, low: int, high: int, names: dict[str, int]) -> tuple[set[int], bool]:
    """The values of one field, and whether it was a wildcard (`*`/`?` without a range)."""
    values: set[int] = set()
    wildcard = False
    for term in text.split(","):
        match = _TERM.match(term)
        assert match is not None, f"{term!r} was not validated"
        span, step = match.group("range"), int(match.group("step") or 1)
        if span in ("*", "?"):
            start, end = low, high
            wildcard = wildcard or step == 1
        else:
            ends: list[int] = []
            for bound in span.split("-"):
                value = _value(bound, names)
                assert value is not None, f"{bound!r} was not validated"
                ends.append(value)
            # `a/n` runs from a to the end of the field, as in robfig/cron.
            start, end = ends[0], ends[-1] if len(ends) == 2 or step == 1 else high
        values.update(range(start, end + 1, step))
    return values, wildcard


@functools.lru_cache(maxsize=1024)
def longest_gap_seconds(schedule: str) -> int:
    """The longest time between two runs of a valid schedule (time-zone changes aside):
    how old the newest scheduled backup may be before one is missing."""
    fields = DESCRIPTOR_SCHEDULES.get(schedule, schedule).split()
    (minutes, _), (hours, _), (days, any_day), (months, _), (weekdays, any_weekday) = (
        _expand(text, low, high, names)
        for text, (_, low, high, names) in zip(fields, FIELDS, strict=True)
    )
    times = sorted(hour * 60 + minute for hour in hours for minute in minutes)
    longest = max((b - a for a, b in itertools.pairwise(times)), default=0)
    # Both restricted: either matches (cron's rule); one a wildcard: the other decides.
    either = not (any_day or any_weekday)
    previous: int | None = None
    for offset in range(_SPAN_DAYS):
        day = _EPOCH + datetime.timedelta(days=offset)
        if day.month not in months:
            continue
        by_date, by_weekday = day.day in days, (day.isoweekday() % 7) in weekdays
        if not ((by_date or by_weekday) if either else (by_date and by_weekday)):
            continue
        if previous is not None:
            gap = (offset - previous) * _MINUTES_PER_DAY + times[0] - times[-1]
            longest = max(longest, gap)
        previous = offset
    return longest * 60
