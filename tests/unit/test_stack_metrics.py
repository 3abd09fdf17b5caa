"""Per-stack metrics: the sample each reconcile takes (pure), how StackMetrics publishes and
removes it, and the longest gap between scheduled backups the backup alert compares with."""

from __future__ import annotations

import dataclasses
import datetime

import pytest
from prometheus_client import REGISTRY

from djangostack_operator.cron import longest_gap_seconds
from djangostack_operator.metrics import StackMetrics
from djangostack_operator.stackmetrics import StackSample, sample
from djangostack_operator.status_types import Condition, DjangoStackStatus, LastBackup
from tests.factories import make_stack
from tests.phases import NOW, phase_cases

HOUR = 3600


@pytest.mark.parametrize(
    ("schedule", "hours"),
    [
        ("@hourly", 1),
        ("@daily", 24),
        ("30 2 * * *", 24),
        ("*/15 * * * *", 0.25),
        ("5/20 * * * *", 20 / 60),
        ("0 3 * * 1-5", 72),  # Friday to Monday
        ("0 0 1,15 * 1", 7 * 24),  # either the date or Monday: at most a week
        ("0 0 * * 0", 7 * 24),
        ("0 0 31 * *", 61 * 24),  # 31 May to 31 July
        ("0 0 29 2 *", (366 + 365 * 3) * 24),  # leap days
    ],
)
def test_longest_gap_between_scheduled_runs(schedule: str, hours: float) -> None:
    assert longest_gap_seconds(schedule) == pytest.approx(hours * HOUR)


def status_with(
    release_hash: str | None, migrated: tuple[str, str] = ("True", "Succeeded")
) -> DjangoStackStatus:
    ready = next(case for case in phase_cases() if case.phase == "Ready").status
    conditions = [
        c.model_copy(update={"status": migrated[0], "reason": migrated[1]})
        if c.type == "Migrated" else c
        for c in ready.conditions
    ]  # fmt: skip
    return ready.model_copy(update={"release_hash": release_hash, "conditions": conditions})


def test_every_phase_gives_ready_only_when_ready() -> None:
    stack = make_stack()
    for case in phase_cases():
        taken = sample(stack, case.status, None, tls_not_after=None, jobs={}, now=NOW)
        assert taken.ready == (case.phase == "Ready"), case.name
        assert taken.phase == case.phase


def test_a_release_is_timed_from_its_migrations_job_once() -> None:
    stack = make_stack()
    job_name = stack.names.migrations_job(stack.spec.release_hash)
    jobs = {job_name: {"metadata": {"creationTimestamp": "2026-11-22T09:57:30Z"}}}
    new = status_with(stack.spec.release_hash)
    finished = sample(stack, new, status_with("aaaaaaaaaa"), tls_not_after=None, jobs=jobs, now=NOW)
    assert finished.release_seconds == 150
    # The next pass sees the same release: nothing more to time.
    again = sample(stack, new, new, tls_not_after=None, jobs=jobs, now=NOW)
    assert again.release_seconds is None
    # The first release of a stack is its creation, not a release to time.
    first = sample(stack, new, status_with(None), tls_not_after=None, jobs=jobs, now=NOW)
    assert first.release_seconds is None


def test_a_failed_migration_counts_once() -> None:
    stack = make_stack()
    failed = status_with("aaaaaaaaaa", ("False", "Failed"))
    running = status_with("aaaaaaaaaa", ("False", "Running"))
    first = sample(stack, failed, running, tls_not_after=None, jobs={}, now=NOW)
    assert first.migration_failed
    # Restarted operators read the stored status: still failed, not a new failure.
    assert not sample(stack, failed, failed, tls_not_after=None, jobs={}, now=NOW).migration_failed


def test_backup_and_certificate_times() -> None:
    stack = make_stack(backup={"schedule": "0 */6 * * *"})
    status = status_with(stack.spec.release_hash).model_copy(
        update={"last_backup": LastBackup(time="2026-11-22T06:00:05Z", name="shop-backup-1")}
    )
    taken = sample(stack, status, status, tls_not_after="2027-01-01T00:00:00Z", jobs={}, now=NOW)
    assert taken.backup_interval == 6 * HOUR
    epoch = datetime.datetime(2026, 11, 22, 6, 0, 5, tzinfo=datetime.UTC).timestamp()
    assert taken.last_backup == epoch
    assert (
        taken.certificate_expiry == datetime.datetime(2027, 1, 1, tzinfo=datetime.UTC).timestamp()
    )
    suspended = make_stack(backup={"suspend": True})
    assert (
        sample(suspended, status, status, tls_not_after=None, jobs={}, now=NOW).backup_interval
        is None
    )


def value(metric: str, **labels: str) -> float | None:
    return REGISTRY.get_sample_value(metric, labels)


def test_stack_metrics_publish_and_remove_a_stack() -> None:
    metrics = StackMetrics()
    key = {"namespace": "metrics-ns", "name": "shop"}
    taken = StackSample(
        ready=True, phase="Ready", last_backup=100.0, backup_interval=86400.0,
        certificate_expiry=200.0, release_seconds=42.0, migration_failed=False,
    )  # fmt: skip
    metrics.record("metrics-ns", "shop", taken)
    assert value("djangostack_stack_ready", **key) == 1
    assert value("djangostack_stack_phase", **key, phase="Ready") == 1
    assert value("djangostack_stack_phase", **key, phase="Migrating") == 0
    assert value("djangostack_stack_last_backup_timestamp_seconds", **key) == 100
    assert value("djangostack_stack_backup_interval_seconds", **key) == 86400
    assert value("djangostack_stack_certificate_expiry_timestamp_seconds", **key) == 200
    assert value("djangostack_stack_last_release_duration_seconds", **key) == 42
    assert value("djangostack_migration_failures_total", **key) == 0

    failing = dataclasses.replace(
        taken, ready=False, phase="Stalled", release_seconds=None, migration_failed=True,
        backup_interval=None,
    )  # fmt: skip
    metrics.record("metrics-ns", "shop", failing)
    metrics.record("metrics-ns", "shop", dataclasses.replace(failing, migration_failed=False))
    assert value("djangostack_stack_ready", **key) == 0
    assert value("djangostack_stack_phase", **key, phase="Stalled") == 1
    assert value("djangostack_stack_phase", **key, phase="Ready") == 0
    assert value("djangostack_migration_failures_total", **key) == 1
    assert value("djangostack_stack_backup_interval_seconds", **key) is None
    assert value("djangostack_stack_last_release_duration_seconds", **key) == 42

    metrics.record("metrics-ns", "shop", None)
    assert value("djangostack_stack_ready", **key) is None
    assert value("djangostack_stack_phase", **key, phase="Stalled") is None
    assert value("djangostack_migration_failures_total", **key) is None
    assert value("djangostack_stack_last_backup_timestamp_seconds", **key) is None


def test_invalid_condition_types_do_not_matter() -> None:
    # A status without a Ready condition (an older operator's) is not ready.
    bare = DjangoStackStatus(conditions=[Condition(type="Other", status="True", reason="X",
                                                   last_transition_time=NOW)])  # fmt: skip
    assert not sample(make_stack(), bare, None, tls_not_after=None, jobs={}, now=NOW).ready
