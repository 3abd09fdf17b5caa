"""The release flow as a pure decision."""

from __future__ import annotations

from typing import Any

import pytest

from djangostack_operator.release import (
    job_failure,
    job_state,
    plan_release,
    released_from,
)
from djangostack_operator.render.pod import Release
from tests.factories import make_stack

OLD = Release("registry.example.com/shop:0.9.0", "aaaaaaaaaa")


def job(*conditions: tuple[str, str, str]) -> dict[str, Any]:
    return {
        "status": {
            "conditions": [
                {"type": kind, "status": "True", "reason": reason, "message": message}
                for kind, reason, message in conditions
            ]
        }
    }


@pytest.mark.parametrize(
    ("obj", "state"),
    [
        (None, "absent"),
        ({"status": {}}, "running"),
        (job(("Complete", "", "")), "succeeded"),
        (job(("Failed", "BackoffLimitExceeded", "")), "failed"),
        (job(("SuccessCriteriaMet", "", ""), ("Complete", "", "")), "succeeded"),
    ],
)
def test_job_state(obj: dict[str, Any] | None, state: str) -> None:
    assert job_state(obj) == state


def test_job_failure_tells_a_timeout_from_a_failure() -> None:
    assert job_failure(job(("Failed", "DeadlineExceeded", "Job was active longer")))[0] == (
        "TimedOut"
    )
    assert job_failure(job(("Failed", "BackoffLimitExceeded", "has reached the limit"))) == (
        "Failed",
        "has reached the limit",
    )


def test_released_from_reads_the_deployment_annotations() -> None:
    annotations = {
        "djangostack.io/release-image": OLD.image,
        "djangostack.io/release-hash": OLD.hash,
    }
    assert released_from({"metadata": {"annotations": annotations}}) == OLD
    assert released_from({"metadata": {}}) is None
    assert released_from(None) is None


def test_first_release_waits_for_the_database_then_starts_the_job() -> None:
    stack = make_stack()
    waiting = plan_release(stack, None, None, database_ready=False)
    assert waiting.serving is None and not waiting.start_migration
    assert waiting.migrated[:2] == ("False", "WaitingForDatabase")
    starting = plan_release(stack, None, None, database_ready=True)
    assert starting.serving is None and starting.start_migration
    assert starting.migrating and not starting.stalled


def test_running_migration_keeps_the_old_release_and_starts_nothing() -> None:
    plan = plan_release(make_stack(), OLD, {"status": {}}, database_ready=True)
    assert plan.serving == OLD
    assert not plan.start_migration
    assert plan.migrated[:2] == ("False", "Running")


def test_succeeded_migration_rolls_the_new_release() -> None:
    stack = make_stack()
    plan = plan_release(stack, OLD, job(("Complete", "", "")), database_ready=True)
    assert plan.serving == Release(stack.spec.image, stack.spec.release_hash)
    assert plan.migrated[0] == "True"


@pytest.mark.parametrize(("reason", "expected"), [("BackoffLimitExceeded", "Failed"),
                                                  ("DeadlineExceeded", "TimedOut")])  # fmt: skip
def test_failed_migration_stalls_on_the_old_release(reason: str, expected: str) -> None:
    plan = plan_release(make_stack(), OLD, job(("Failed", reason, "boom")), database_ready=True)
    assert plan.serving == OLD
    assert not plan.start_migration
    assert plan.stalled and not plan.migrating
    assert plan.migrated[:2] == ("False", expected)
    assert OLD.image in plan.migrated[2]


def test_released_stack_needs_no_job_even_when_its_job_is_gone() -> None:
    stack = make_stack()
    current = Release(stack.spec.image, stack.spec.release_hash)
    plan = plan_release(stack, current, None, database_ready=True)
    assert plan.serving == current and not plan.start_migration
    assert plan.migrated == ("True", "Succeeded", f"{stack.spec.image} is migrated")


def test_disabled_migrations_release_at_once() -> None:
    stack = make_stack(migrations={"enabled": False})
    plan = plan_release(stack, OLD, None, database_ready=False)
    assert plan.serving == Release(stack.spec.image, stack.spec.release_hash)
    assert plan.migrated[:2] == ("True", "Disabled")


def test_a_restore_comes_first_and_holds_the_app_tiers() -> None:
    stack = make_stack(database={"managed": {}, "restoreFrom": "latest"})
    waiting = plan_release(stack, None, None, database_ready=False)
    assert waiting.hold and not waiting.start_restore and not waiting.start_migration
    start = plan_release(stack, None, None, database_ready=True)
    assert start.hold and start.start_restore and not start.start_migration
    assert start.phase == "Restoring"
    running = plan_release(stack, None, None, database_ready=True, restore_job={"status": {}})
    assert running.hold and not running.start_restore
    failed = plan_release(
        stack, None, None, True, restore_job=job(("Failed", "BackoffLimitExceeded", "bad dump"))
    )
    assert failed.stalled and failed.stall_reason == "RestoreFailed" and failed.hold
    done = plan_release(stack, None, None, True, restore_job=job(("Complete", "", "")))
    assert not done.hold and done.start_migration


def test_backup_before_migrating_protects_an_existing_release() -> None:
    stack = make_stack(migrations={"backupBefore": True})
    first = plan_release(stack, None, None, database_ready=True)
    assert first.start_migration and not first.start_backup  # nothing to protect yet
    start = plan_release(stack, OLD, None, database_ready=True)
    assert start.start_backup and not start.start_migration
    assert start.migrated[1] == "BackingUp" and start.phase == "BackingUp"
    running = plan_release(stack, OLD, None, True, backup_job={"status": {}})
    assert not running.start_backup and not running.start_migration
    done = plan_release(stack, OLD, None, True, backup_job=job(("Complete", "", "")))
    assert done.start_migration and done.serving == OLD
    failed = plan_release(stack, OLD, None, True, backup_job=job(("Failed", "x", "no space")))
    assert failed.stalled and failed.stall_reason == "BackupFailed"
    assert not failed.start_migration and failed.serving == OLD
