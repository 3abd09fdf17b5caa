"""The parts of handlers.py that are plain functions."""

from __future__ import annotations

from djangostack_operator.handlers import retry_delay


def test_a_conflict_is_retried_in_about_a_second_not_a_minute() -> None:
    assert retry_delay(409) == 1.0
    assert retry_delay(429) == 10.0
    assert retry_delay(500) == 5.0
    assert retry_delay(None) == 5.0
