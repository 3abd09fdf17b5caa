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


@dataclass(frozen=True)
class ReleasePlan:
    """What this reconcile does about the release.

    serving: the release web, workers and beat should run now (None: nothing released yet,
    so the app tiers are not created). start_migration: create the migrations Job now.
    migrated: the Migrated condition as (status, reason, message).
    """

    serving: Release | None
    start_migration: bool
    migrated: tuple[str, str, str]

    @property
    def stalled(self) -> bool:
        return self.migrated[0] == "False" and self.migrated[1] in ("Failed", "TimedOut")

    @property
    def migrating(self) -> bool:
        return self.migrated[0] == "False" and not self.stalled


def plan_release(
    stack: DjangoStack,
    released: Release | None,
    migration_job: dict[str, Any] | None,
    database_ready: bool,
) -> ReleasePlan:
    spec = stack.spec
    desired = Release(spec.image, spec.release_hash)
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
    return ReleasePlan(released, True, ("False", "Running", f"starting Job {job_name}"))
