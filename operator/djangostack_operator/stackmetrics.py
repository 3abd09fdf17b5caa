"""What one reconcile says about a stack for its per-stack metrics (metrics.StackMetrics
publishes it): pure, from the stack, the status just computed and the one before it."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from djangostack_operator.certificates import parse_time
from djangostack_operator.cron import longest_gap_seconds
from djangostack_operator.spec import DjangoStack
from djangostack_operator.status_types import DjangoStackStatus, Phase

# Reasons of the Migrated condition that mean the release's migration failed.
MIGRATION_FAILED_REASONS = ("Failed", "TimedOut")


def _seconds(timestamp: str | None) -> float | None:
    """Unix seconds of an API timestamp (vocabulary.TIME_FORMAT), None when absent or odd."""
    if not timestamp:
        return None
    try:
        return parse_time(timestamp).timestamp()
    except ValueError:
        return None


@dataclass(frozen=True)
class StackSample:
    ready: bool
    phase: Phase | None
    # Unix seconds of the newest successful backup.
    last_backup: float | None = None
    # Longest time between two scheduled backups (None: no schedule runs).
    backup_interval: float | None = None
    # Unix seconds at which the certificate the Ingress serves expires.
    certificate_expiry: float | None = None
    # A release finished in this pass, this many seconds after its migrations Job started.
    release_seconds: float | None = None
    # The migration of a release failed in this pass (counted once per failure).
    migration_failed: bool = False


def _condition_reason(status: DjangoStackStatus | None, kind: str) -> tuple[str, str] | None:
    if status is None:
        return None
    found = next((c for c in status.conditions if c.type == kind), None)
    return (found.status, found.reason) if found else None


def sample(
    stack: DjangoStack,
    status: DjangoStackStatus,
    previous: DjangoStackStatus | None,
    *,
    tls_not_after: str | None,
    jobs: Mapping[str, dict[str, Any]],
    now: str,
) -> StackSample:
    backup = stack.spec.backup
    interval = (
        float(longest_gap_seconds(backup.schedule))
        if backup.enabled and not backup.suspend
        else None
    )
    release_seconds = None
    released = previous is not None and previous.release_hash not in (None, status.release_hash)
    if released and status.release_hash is not None:
        job = jobs.get(stack.names.migrations_job(status.release_hash))
        started = _seconds((job or {}).get("metadata", {}).get("creationTimestamp"))
        finished = _seconds(now)
        if started is not None and finished is not None:
            release_seconds = max(0.0, finished - started)
    migrated = _condition_reason(status, "Migrated")
    failed = migrated is not None and migrated[1] in MIGRATION_FAILED_REASONS
    return StackSample(
        ready=(_condition_reason(status, "Ready") or ("", ""))[0] == "True",
        phase=status.phase,
        last_backup=_seconds(status.last_backup.time) if status.last_backup else None,
        backup_interval=interval,
        certificate_expiry=_seconds(tls_not_after),
        release_seconds=release_seconds,
        migration_failed=failed and _condition_reason(previous, "Migrated") != migrated,
    )
