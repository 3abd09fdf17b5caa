"""Backups and restores as the operator drives them on the local control plane."""

from __future__ import annotations

import datetime
from typing import Any

import pytest
from kubernetes import client

from djangostack_operator.spec import GROUP, PLURAL, VERSION
from tests.kube_helpers import wait_for
from tests.stacks import Stacks

V2 = "registry.example.com/shop:2.0.0"
SLOW_JOBS = {"pod-complete.stage.kwok.x-k8s.io/delay": "3s"}
FAIL_JOBS = {"pod-container-running-failed.stage.kwok.x-k8s.io": "true"}
BACKUP_NOW = "djangostack.io/backup-now"


@pytest.fixture
def stacks(api_client: client.ApiClient, op_namespace: str) -> Stacks:
    return Stacks(api_client, op_namespace)


def annotate(stacks: Stacks, value: str) -> None:
    stacks.objects.patch_namespaced_custom_object(
        GROUP, VERSION, stacks.namespace, PLURAL, "shop",
        {"metadata": {"annotations": {BACKUP_NOW: value}}},
    )  # fmt: skip


def parse_time(value: Any) -> datetime.datetime:
    if isinstance(value, datetime.datetime):
        return value
    return datetime.datetime.fromisoformat(str(value).replace("Z", "+00:00"))


def test_backup_cronjob_is_applied_with_the_schedule(stacks: Stacks) -> None:
    stacks.create(backup={"schedule": "15 2 * * *", "retain": 4, "suspend": True})
    stacks.wait_ready()
    cronjob = stacks.batch.read_namespaced_cron_job("shop-backup", stacks.namespace)
    assert cronjob.spec.schedule == "15 2 * * *"
    assert cronjob.spec.suspend is True
    assert cronjob.spec.concurrency_policy == "Forbid"
    env = {e.name: e.value for e in cronjob.spec.job_template.spec.template.spec.containers[0].env}
    assert env["BACKUP_RETAIN"] == "4"
    stacks.patch_spec({"backup": {"schedule": "0 4 * * 0"}})
    wait_for(
        "the new schedule",
        lambda: (
            stacks.batch.read_namespaced_cron_job("shop-backup", stacks.namespace).spec.schedule
            == "0 4 * * 0"
        ),
    )


def test_one_backup_job_per_backup_now_value(stacks: Stacks) -> None:
    stacks.create()
    stacks.wait_ready()
    annotate(stacks, "first")
    wait_for("the on-demand backup Job", lambda: stacks.jobs("shop-backup-now-"))
    first = stacks.wait_condition("BackupSucceeded")
    assert first["status"]["lastBackup"]["name"].startswith("shop-backup-now-")
    # Re-applying the same value asks for nothing new.
    annotate(stacks, "first")
    stacks.patch_spec({"web": {"replicas": 3}})
    stacks.wait_ready()
    assert len(stacks.jobs("shop-backup-now-")) == 1
    annotate(stacks, "second")
    wait_for(
        "the second backup",
        lambda: (
            stacks.get()["status"].get("lastBackup", {}).get("name")
            != first["status"]["lastBackup"]["name"]
        ),
    )
    # The Job of the previous request is pruned; exactly one per current value remains.
    wait_for("one on-demand Job", lambda: len(stacks.jobs("shop-backup-now-")) == 1)


def test_backup_now_is_not_repeated_after_an_operator_restart(
    api_client: client.ApiClient, solo_namespace: str, solo_operator: Any
) -> None:
    stacks = Stacks(api_client, solo_namespace)
    first = solo_operator()
    stacks.create()
    stacks.wait_ready()
    annotate(stacks, "nightly-extra")
    stacks.wait_condition("BackupSucceeded")
    (job,) = stacks.jobs("shop-backup-now-")
    first.stop()
    solo_operator()
    stacks.patch_spec({"web": {"replicas": 1}})
    wait_for(
        "the restarted operator to apply a change",
        lambda: (
            stacks.apps.read_namespaced_deployment("shop-web", solo_namespace).spec.replicas == 1
        ),
    )
    assert [j.metadata.uid for j in stacks.jobs("shop-backup-now-")] == [job.metadata.uid]


def test_backup_before_migrate_completes_before_the_migrations_job_exists(stacks: Stacks) -> None:
    stacks.create(migrations={"backupBefore": True}, podAnnotations=SLOW_JOBS)
    ready = stacks.wait_ready()
    # The first release has no data to protect: no backup before its migrations.
    assert stacks.jobs("shop-backup-pre-") == []
    stacks.patch_spec({"image": V2})
    backing_up = stacks.wait_condition("Migrated", "False")
    assert backing_up["status"]["phase"] in ("BackingUp", "Migrating")
    stack = stacks.wait_ready()
    assert stack["status"]["releasedImage"] == V2
    assert ready["status"]["releasedImage"] != V2
    (backup_job,) = stacks.jobs("shop-backup-pre-")
    migrations = [
        j for j in stacks.jobs("shop-migrate-")
        if j.metadata.annotations["djangostack.io/release-image"] == V2
    ]  # fmt: skip
    assert len(migrations) == 1
    assert backup_job.status.completion_time is not None
    assert parse_time(migrations[0].metadata.creation_timestamp) >= parse_time(
        backup_job.status.completion_time
    )
    assert stack["status"]["lastBackup"]["name"] == backup_job.metadata.name


def test_restore_holds_web_workers_and_beat_until_it_completes(stacks: Stacks) -> None:
    stacks.create(database={"managed": {}, "restoreFrom": "latest"}, podAnnotations=SLOW_JOBS)
    restoring = stacks.wait_condition("Migrated", "False")
    wait_for("the restore Job", lambda: stacks.jobs("shop-restore-"))
    assert stacks.get()["status"]["phase"] in ("Provisioning", "Restoring")
    # While the restore runs there is no app pod: no Deployment of web, workers or beat.
    assert stacks.apps.list_namespaced_deployment(stacks.namespace).items == []
    assert restoring["status"]["conditions"]
    stack = stacks.wait_ready()
    (restore,) = stacks.jobs("shop-restore-")
    web = stacks.apps.read_namespaced_deployment("shop-web", stacks.namespace)
    assert parse_time(web.metadata.creation_timestamp) >= parse_time(restore.status.completion_time)
    (migration,) = stacks.jobs("shop-migrate-")
    assert parse_time(migration.metadata.creation_timestamp) >= parse_time(
        restore.status.completion_time
    )
    assert stack["status"]["phase"] == "Ready"


def test_a_failed_backup_and_a_failed_restore_show_in_status(stacks: Stacks) -> None:
    # Only Job pods fail (kwok): migrations are off so the stack itself can run.
    stacks.create(migrations={"enabled": False}, podAnnotations=FAIL_JOBS)
    stacks.wait_ready()
    annotate(stacks, "will-fail")
    failed = stacks.wait_condition("BackupSucceeded", "False")
    condition = next(c for c in failed["status"]["conditions"] if c["type"] == "BackupSucceeded")
    assert condition["reason"] == "Failed"
    assert "shop-backup-now-" in condition["message"]
    stacks.patch_spec({"database": {"restoreFrom": "latest"}})
    stalled = stacks.wait_condition("Stalled", "True")
    condition = next(c for c in stalled["status"]["conditions"] if c["type"] == "Stalled")
    assert condition["reason"] == "RestoreFailed"
    # The restore holds the app tiers at zero pods; nothing writes to the database.
    wait_for(
        "the web tier to be held at 0",
        lambda: (
            stacks.apps.read_namespaced_deployment("shop-web", stacks.namespace).spec.replicas == 0
        ),
    )
