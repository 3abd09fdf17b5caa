"""The release flow as a pure decision: given what the cluster shows, what runs and what to do.

A release is spec.image plus the migration command, identified by `spec.release_hash`. Web,
workers and beat keep serving the previous release until the migrations Job of the new one
has succeeded; a failed or timed-out migration leaves them untouched. The serving release is
read from the app Deployments' annotations, so the cluster itself (not the status) is the
record of what was migrated.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from djangostack_operator.render import meta
from djangostack_operator.render.pod import Release
from djangostack_operator.spec import DjangoStack
from djangostack_operator.status_types import Phase

JobState = Literal["absent", "running", "succeeded", "failed"]


def job_state(job: dict[str, Any] | None) -> JobState:
    if job is None:
        return "absent"
    conditions = {c.get("type"): c for c in job.get("status", {}).get("conditions") or []}
    if conditions.get("Complete", {}).get("status") == "True":
        return "succeeded"
    if conditions.get("Failed", {}).get("status") == "True":
        return "failed"
    return "running"


def job_failure(job: dict[str, Any] | None) -> tuple[str, str]:
    """(reason, message) of a failed Job: TimedOut for an exceeded deadline, else Failed."""
    for condition in (job or {}).get("status", {}).get("conditions") or []:
        if condition.get("type") == "Failed" and condition.get("status") == "True":
            if condition.get("reason") == "DeadlineExceeded":
                return "TimedOut", condition.get("message") or "the Job ran past its deadline"
            return "Failed", condition.get("message") or "the migration container failed"
    return "Failed", "the migration Job failed"


def released_from(deployment: dict[str, Any] | None) -> Release | None:
    """The release an app Deployment runs, from the annotations the renderer puts on it."""
    if deployment is None:
        return None
    annotations = deployment.get("metadata", {}).get("annotations") or {}
    image = annotations.get(meta.RELEASE_IMAGE)
    release_hash = annotations.get(meta.RELEASE_HASH)
    if not image or not release_hash:
        return None
    return Release(image, release_hash)


# Migrated reasons that need a person, and the Stalled reason each one gives.
STALL_REASONS = {
    "Failed": "MigrationFailed",
    "TimedOut": "MigrationTimedOut",
    "BackupFailed": "BackupFailed",
    "RestoreFailed": "RestoreFailed",
}


@dataclass(frozen=True)
class ReleasePlan:
    """What this reconcile does about the release.

    serving: the release web, workers and beat should run now (None: nothing released yet,
    so the app tiers are not created). start_migration / start_backup / start_restore:
    create that Job now. hold: a restore is pending, so the app tiers run no pods.
    migrated: the Migrated condition as (status, reason, message).
    """

    serving: Release | None
    start_migration: bool
    migrated: tuple[str, str, str]
    start_backup: bool = False
    start_restore: bool = False
    hold: bool = False

    @property
    def stalled(self) -> bool:
        return self.migrated[0] == "False" and self.migrated[1] in STALL_REASONS

    @property
    def stall_reason(self) -> str:
        return STALL_REASONS.get(self.migrated[1], "") if self.stalled else ""

    @property
    def migrating(self) -> bool:
        return self.migrated[0] == "False" and not self.stalled

    @property
    def phase(self) -> Phase:
        """The phase while the release is not done: Restoring, BackingUp or Migrating."""
        if self.hold:
            return "Restoring"
        return "BackingUp" if self.migrated[1] == "BackingUp" else "Migrating"


def plan_release(
    stack: DjangoStack,
    released: Release | None,
    migration_job: dict[str, Any] | None,
    database_ready: bool,
    *,
    backup_job: dict[str, Any] | None = None,
    restore_job: dict[str, Any] | None = None,
) -> ReleasePlan:
    """Restore first (if asked), then back up (if asked and there is a release to protect),
    then migrate, then serve the new release."""
    spec = stack.spec
    desired = Release(spec.image, spec.release_hash)
    restore_from = spec.database.restore_from
    if restore_from is not None and spec.backup.enabled:
        state = job_state(restore_job)
        name = stack.names.restore_job(restore_from)
        if state == "failed":
            _, detail = job_failure(restore_job)
            return ReleasePlan(
                released, False, ("False", "RestoreFailed", f"Job {name}: {detail}"), hold=True
            )
        if state != "succeeded":
            waiting = ("False", "WaitingForRestore", f"restoring {restore_from} (Job {name})")
            start = state == "absent" and database_ready
            return ReleasePlan(released, False, waiting, start_restore=start, hold=True)
    if not spec.migrations.enabled:
        return ReleasePlan(desired, False, ("True", "Disabled", "migrations are disabled"))
    migrated = ("True", "Succeeded", f"{spec.image} is migrated")
    if released is not None and released.hash == desired.hash:
        return ReleasePlan(desired, False, migrated)
    job_name = stack.names.migrations_job(desired.hash)
    state = job_state(migration_job)
    if state == "succeeded":
        return ReleasePlan(desired, False, migrated)
    if state == "failed":
        reason, detail = job_failure(migration_job)
        keeping = f"; still serving {released.image}" if released else ""
        message = f"Job {job_name} for {spec.image}: {detail}{keeping}"
        return ReleasePlan(released, False, ("False", reason, message))
    if state == "running":
        return ReleasePlan(released, False, ("False", "Running", f"Job {job_name} is running"))
    if not database_ready:
        return ReleasePlan(
            released, False, ("False", "WaitingForDatabase", "migrations wait for the database")
        )
    if spec.migrations.backup_before and released is not None:
        backup_name = stack.names.pre_migration_backup_job(desired.hash)
        backup = job_state(backup_job)
        if backup == "failed":
            _, detail = job_failure(backup_job)
            message = f"Job {backup_name}: {detail}; migrations not started"
            return ReleasePlan(released, False, ("False", "BackupFailed", message))
        if backup != "succeeded":
            backing_up = ("False", "BackingUp", f"backup before migrating (Job {backup_name})")
            return ReleasePlan(released, False, backing_up, start_backup=backup == "absent")
    return ReleasePlan(released, True, ("False", "Running", f"starting Job {job_name}"))
