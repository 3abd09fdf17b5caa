"""Status as a pure function of the stack, the observed children and the release plan."""

from __future__ import annotations

from typing import Any

from djangostack_operator.release import ReleasePlan
from djangostack_operator.render.pod import Release
from djangostack_operator.status import Observation, compute_status, rolled_out
from djangostack_operator.status_types import DjangoStackStatus
from tests.factories import make_stack
from tests.phases import observed, released

NOW = "2026-11-22T10:00:00Z"
LATER = "2026-11-22T10:05:00Z"


def conditions(status: DjangoStackStatus) -> dict[str, tuple[str, str]]:
    return {c.type: (c.status, c.reason) for c in status.conditions}


def test_everything_running_is_ready() -> None:
    stack = make_stack()
    status = compute_status(
        stack, Observation(observed(stack), released(stack), tls_secret_present=True), None, NOW
    )
    assert status.phase == "Ready"
    found = conditions(status)
    assert found["Ready"] == ("True", "Available")
    assert found["Stalled"] == ("False", "Reconciled")
    assert found["Reconciling"] == ("False", "Idle")
    assert found["BackupSucceeded"] == ("Unknown", "NoBackupYet")
    assert status.released_image == stack.spec.image
    assert status.url == "https://shop.example.com"
    assert status.components.web.desired == 2 and status.components.web.ready == 2
    assert status.components.workers["default"].ready == 1
    assert [c.type for c in status.conditions][:3] == ["Ready", "Reconciling", "Stalled"]
    assert all(c.observed_generation == stack.metadata.generation for c in status.conditions)


def test_data_services_not_ready_is_provisioning() -> None:
    stack = make_stack()
    children = observed(stack)
    children["StatefulSet"]["shop-postgres"]["status"]["readyReplicas"] = 0
    plan = ReleasePlan(None, False, ("False", "WaitingForDatabase", "waiting"))
    status = compute_status(stack, Observation(children, plan, True), None, NOW)
    assert status.phase == "Provisioning"
    found = conditions(status)
    assert found["DatabaseReady"] == ("False", "Provisioning")
    assert found["Reconciling"] == ("True", "Provisioning")
    assert found["WebAvailable"] == ("False", "NotReleased")
    assert found["Ready"][0] == "False"


def test_running_migration_is_migrating_while_the_old_release_serves() -> None:
    stack = make_stack(image="registry.example.com/shop:2.0.0")
    old = Release("registry.example.com/shop:1.0.0", "aaaaaaaaaa")
    plan = ReleasePlan(old, False, ("False", "Running", "Job running"))
    status = compute_status(stack, Observation(observed(stack, release=old), plan, True), None, NOW)
    assert status.phase == "Migrating"
    assert status.released_image == old.image
    assert conditions(status)["Migrated"] == ("False", "Running")


def test_failed_migration_is_stalled() -> None:
    stack = make_stack()
    old = Release("registry.example.com/shop:0.1.0", "bbbbbbbbbb")
    plan = ReleasePlan(old, False, ("False", "Failed", "Job failed; still serving 0.1.0"))
    status = compute_status(stack, Observation(observed(stack, release=old), plan, True), None, NOW)
    assert status.phase == "Stalled"
    found = conditions(status)
    assert found["Stalled"] == ("True", "MigrationFailed")
    assert found["Ready"] == ("False", "MigrationFailed")


def test_problems_stall_with_every_message() -> None:
    stack = make_stack()
    problems = (("SecretMissing", "Secret a does not exist"), ("SecretMissing", "Secret b ..."))
    status = compute_status(
        stack, Observation(observed(stack), released(stack), True, problems), None, NOW
    )
    stalled = next(c for c in status.conditions if c.type == "Stalled")
    assert (stalled.status, stalled.reason) == ("True", "SecretMissing")
    assert "Secret a" in stalled.message and "Secret b" in stalled.message


def test_rollout_in_progress_is_rolling_and_unready_pods_are_degraded() -> None:
    stack = make_stack()
    rolling = observed(stack)
    rolling["Deployment"]["shop-web"]["metadata"]["generation"] = 2
    status = compute_status(stack, Observation(rolling, released(stack), True), None, NOW)
    assert status.phase == "Rolling"
    assert conditions(status)["WebAvailable"] == ("False", "Progressing")
    degraded = observed(stack)
    degraded["Deployment"]["shop-web"]["status"]["readyReplicas"] = 1
    status = compute_status(stack, Observation(degraded, released(stack), True), None, NOW)
    assert status.phase == "Degraded"


def test_web_pods_ready_but_not_yet_available_keep_the_stack_unready() -> None:
    # Ready pods within the Deployment's minReadySeconds: routers may not send them traffic yet.
    stack = make_stack()
    fresh = observed(stack)
    fresh["Deployment"]["shop-web"]["status"]["availableReplicas"] = 0
    status = compute_status(stack, Observation(fresh, released(stack), True), None, NOW)
    assert conditions(status)["WebAvailable"] == ("False", "Progressing")
    assert status.phase != "Ready"


def test_app_tiers_still_at_zero_replicas_after_a_restore_are_not_available() -> None:
    # The reconcile that ends a restore's hold computes status from what it read before its
    # own write scaled the tiers back up: zero pods must not read as "rolled out".
    stack = make_stack()
    stale = observed(stack)
    for name in ("shop-web", "shop-worker-default", "shop-beat"):
        deployment = stale["Deployment"][name]
        deployment["spec"]["replicas"] = 0
        deployment["status"] = {**deployment["status"], "replicas": 0, "updatedReplicas": 0,
                                "readyReplicas": 0, "availableReplicas": 0}  # fmt: skip
    status = compute_status(stack, Observation(stale, released(stack), True), None, NOW)
    found = conditions(status)
    assert found["WebAvailable"] == ("False", "Progressing")
    assert found["WorkersAvailable"] == ("False", "Progressing")
    assert found["BeatAvailable"] == ("False", "Progressing")
    assert status.phase != "Ready"


def test_missing_tls_secret_keeps_the_stack_unready() -> None:
    stack = make_stack()
    status = compute_status(stack, Observation(observed(stack), released(stack), False), None, NOW)
    assert conditions(status)["TLSReady"] == ("False", "WaitingForCertificate")
    assert status.phase != "Ready"
    plain = make_stack(ingress={"tls": {"disabled": True}})
    status = compute_status(plain, Observation(observed(plain), released(plain), False), None, NOW)
    assert conditions(status)["TLSReady"] == ("True", "NotRequired")
    assert status.url == "http://shop.example.com"


def test_disabled_parts_count_as_available() -> None:
    stack = make_stack(
        workers=[],
        beat={"enabled": False},
        backup={"enabled": False},
        ingress=None,
        database={"managed": None, "external": {"urlSecretRef": {"name": "db"}}},
        redis={"managed": None, "external": {"urlSecretRef": {"name": "r"}}},
    )
    status = compute_status(stack, Observation(observed(stack), released(stack), False), None, NOW)
    found = conditions(status)
    assert found["WorkersAvailable"] == ("True", "NoWorkers")
    assert found["BeatAvailable"] == ("True", "Disabled")
    assert found["BackupSucceeded"] == ("True", "Disabled")
    assert found["DatabaseReady"] == ("True", "External")
    assert found["CacheReady"] == ("True", "External")
    assert status.phase == "Ready"
    assert status.url == "http://shop-web.shop-ns.svc"


def test_unchanged_status_keeps_transition_times_and_compares_equal() -> None:
    stack = make_stack()
    observation = Observation(observed(stack), released(stack), True)
    first = compute_status(stack, observation, None, NOW)
    second = compute_status(stack, observation, first, LATER)
    assert second == first
    assert all(c.last_transition_time == NOW for c in second.conditions)


def test_a_changed_condition_gets_a_new_transition_time() -> None:
    stack = make_stack()
    first = compute_status(stack, Observation(observed(stack), released(stack), True), None, NOW)
    unready = observed(stack)
    unready["Deployment"]["shop-beat"]["status"]["readyReplicas"] = 0
    second = compute_status(stack, Observation(unready, released(stack), True), first, LATER)
    times = {c.type: c.last_transition_time for c in second.conditions}
    assert times["BeatAvailable"] == LATER
    assert times["Ready"] == LATER
    assert times["DatabaseReady"] == NOW


def test_rolled_out_needs_the_image_all_replicas_and_no_old_pods() -> None:
    stack = make_stack()
    web = observed(stack)["Deployment"]["shop-web"]
    assert rolled_out(web, stack.spec.image)
    assert not rolled_out(web, "other:1.0")
    assert not rolled_out(None, stack.spec.image)
    surplus = {**web, "status": {**web["status"], "replicas": 3}}
    assert not rolled_out(surplus, stack.spec.image)


def backup_job(name: str, finished: str, ok: bool) -> dict[str, Any]:
    if ok:
        status = {
            "completionTime": finished,
            "conditions": [{"type": "Complete", "status": "True"}],
        }
    else:
        status = {
            "conditions": [
                {"type": "Failed", "status": "True", "lastTransitionTime": finished,
                 "reason": "BackoffLimitExceeded", "message": "Job has reached the limit"}
            ]
        }  # fmt: skip
    return {"metadata": {"name": name}, "status": status}


def test_last_backup_and_backup_condition_follow_the_jobs() -> None:
    stack = make_stack()
    jobs = (
        backup_job("shop-backup-1", "2026-11-20T03:00:05Z", ok=True),
        backup_job("shop-backup-2", "2026-11-21T03:00:05Z", ok=True),
        {"metadata": {"name": "shop-backup-3"}, "status": {}},  # still running
    )
    observation = Observation(observed(stack), released(stack), True, backups=jobs)
    status = compute_status(stack, observation, None, NOW)
    assert status.last_backup is not None
    assert (status.last_backup.name, status.last_backup.time) == (
        "shop-backup-2",
        "2026-11-21T03:00:05Z",
    )
    assert conditions(status)["BackupSucceeded"] == ("True", "Succeeded")
    failing = (*jobs, backup_job("shop-backup-now-x", "2026-11-22T09:00:00Z", ok=False))
    observation = Observation(observed(stack), released(stack), True, backups=failing)
    status = compute_status(stack, observation, None, NOW)
    assert conditions(status)["BackupSucceeded"] == ("False", "Failed")
    assert status.last_backup is not None and status.last_backup.name == "shop-backup-2"
    # A failed backup is reported, but the app still serves: it does not make it unready.
    assert status.phase == "Ready"


def test_pods_the_controller_cannot_create_are_named_with_the_apis_reason() -> None:
    stack = make_stack(workers=[{"name": "default"}, {"name": "mail"}])
    children = observed(stack, ready=False)
    refusal = 'pods "shop-web-5d9c" is forbidden: no PriorityClass with name shop-high was found'
    failure = {"type": "ReplicaFailure", "status": "True", "reason": "FailedCreate",
               "message": refusal}  # fmt: skip
    for name in ("shop-web", "shop-worker-mail", "shop-beat"):
        children["Deployment"][name]["status"]["conditions"] = [failure]
    status = compute_status(stack, Observation(children, released(stack), True), None, NOW)
    by_type = {c.type: c for c in status.conditions}
    for kind in ("WebAvailable", "WorkersAvailable", "BeatAvailable"):
        assert (by_type[kind].status, by_type[kind].reason) == ("False", "FailedCreate"), kind
        assert refusal in by_type[kind].message, kind
    assert "pool mail cannot create pods" in by_type["WorkersAvailable"].message
    assert "pool default" not in by_type["WorkersAvailable"].message
    # Once the controller can create them again, the reason is progress again.
    children["Deployment"]["shop-web"]["status"]["conditions"] = [{**failure, "status": "False"}]
    status = compute_status(stack, Observation(children, released(stack), True), None, NOW)
    assert conditions(status)["WebAvailable"] == ("False", "Progressing")
