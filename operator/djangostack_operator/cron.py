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
        value = int(end) if _NUMBER.match(end) else names.get(end.lower())
        if value is None:
            return f"{end!r} is not a number" + (" or a name" if names else "")
        if not low <= value <= high:
            return f"{value} is outside {low}-{high}"
        values.append(value)
    if len(values) == 2 and values[0] > values[1]:
        return f"the range {span} runs backwards"
    return None
