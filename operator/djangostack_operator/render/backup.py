"""Backups: the scripts ConfigMap, the backup volume and the CronJob running backup.sh.

`backup_pod_template` is shared by the CronJob and by one-off backup Jobs.
"""

from __future__ import annotations

from importlib import resources
from typing import Any

from djangostack_operator.render import meta
from djangostack_operator.render.placement import placed
from djangostack_operator.render.pod import (
    DATA_SERVICE_UID,
    PASSWORD_KEY,
    POSTGRES_PORT,
    container_security_context,
    pod_security_context,
    secret_env,
    service_host,
    tmp_mount,
    tmp_volume,
)
from djangostack_operator.spec import DEFAULT_POSTGRES_IMAGE, DjangoStack

BACKUP = "backup"
BACKUP_MOUNT = "/backups"
SCRIPTS_MOUNT = "/scripts"
# Read once at import: the scripts are part of the package, so rendering stays pure.
SCRIPTS = {
    name: (resources.files("djangostack_operator") / "scripts" / name).read_text()
    for name in ("backup.sh", "restore.sh")
}
RESTORE = "restore"
PURPOSE = "djangostack.io/purpose"


def backup_image(stack: DjangoStack) -> str:
    spec = stack.spec
    if spec.backup.image is not None:
        return spec.backup.image
    if spec.database.managed is not None:
        return spec.database.managed.image
    return DEFAULT_POSTGRES_IMAGE


def database_env(stack: DjangoStack) -> list[dict[str, Any]]:
    """libpq environment for the managed database, or DATABASE_URL for an external one."""
    database = stack.spec.database
    if database.managed is not None:
        return [
            {"name": "PGHOST", "value": service_host(stack, stack.names.postgres)},
            {"name": "PGPORT", "value": str(POSTGRES_PORT)},
            {"name": "PGUSER", "value": database.managed.username},
            {"name": "PGDATABASE", "value": database.managed.database_name},
            secret_env("PGPASSWORD", stack.names.postgres_secret, PASSWORD_KEY),
        ]
    assert database.external is not None
    ref = database.external.url_secret_ref
    return [secret_env("DATABASE_URL", ref.name, ref.key)]


def scripts_config_map(stack: DjangoStack) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": meta.metadata(stack, stack.names.scripts, BACKUP),
        "data": dict(SCRIPTS),
    }


def backup_volume(stack: DjangoStack) -> dict[str, Any]:
    """The backup PVC; owned by the stack (deleted with it) only with deletionPolicy Delete."""
    backup = stack.spec.backup
    spec: dict[str, Any] = {
        "accessModes": ["ReadWriteOnce"],
        "resources": {"requests": {"storage": backup.storage}},
    }
    if backup.storage_class_name is not None:
        spec["storageClassName"] = backup.storage_class_name
    return {
        "apiVersion": "v1",
        "kind": "PersistentVolumeClaim",
        "metadata": meta.metadata(
            stack,
            stack.names.backup_pvc,
            BACKUP,
            owned=stack.spec.deletion_policy == "Delete",
        ),
        "spec": spec,
    }


def backup_pod_template(
    stack: DjangoStack, component: str = BACKUP, command: list[str] | None = None
) -> dict[str, Any]:
    """Pod of every backup and restore Job: the scripts, the backup volume, libpq settings."""
    container = {
        "name": component,
        "image": backup_image(stack),
        "imagePullPolicy": "IfNotPresent",
        "command": command or ["bash", f"{SCRIPTS_MOUNT}/backup.sh"],
        "env": [
            *database_env(stack),
            {"name": "BACKUP_DIR", "value": BACKUP_MOUNT},
            {"name": "BACKUP_RETAIN", "value": str(stack.spec.backup.retain)},
        ],
        "resources": {"requests": {"cpu": "50m", "memory": "64Mi"}, "limits": {"memory": "512Mi"}},
        "securityContext": container_security_context(),
        "volumeMounts": [
            {"name": "backups", "mountPath": BACKUP_MOUNT},
            {"name": "scripts", "mountPath": SCRIPTS_MOUNT, "readOnly": True},
            tmp_mount(),
        ],
    }
    metadata: dict[str, Any] = {"labels": meta.labels(stack, component)}
    if stack.spec.pod_annotations:
        metadata["annotations"] = dict(stack.spec.pod_annotations)
    template = {
        "metadata": metadata,
        "spec": {
            "restartPolicy": "Never",
            "automountServiceAccountToken": False,
            # The postgres image's own user, which also owns the volume through fsGroup.
            "securityContext": pod_security_context(DATA_SERVICE_UID),
            "containers": [container],
            "volumes": [
                {"name": "backups", "persistentVolumeClaim": {"claimName": stack.names.backup_pvc}},
                {
                    "name": "scripts",
                    "configMap": {"name": stack.names.scripts, "defaultMode": 0o555},
                },
                tmp_volume(),
            ],
        },
    }
    placement = stack.spec.placement_of(stack.spec.backup.placement)
    return placed(template, placement, meta.selector_labels(stack, component))


def backup_cronjob(stack: DjangoStack) -> dict[str, Any]:
    backup = stack.spec.backup
    spec: dict[str, Any] = {
        "schedule": backup.schedule,
        "suspend": backup.suspend,
        # Never two dumps at once; a missed run is caught up within the hour, then skipped.
        "concurrencyPolicy": "Forbid",
        "startingDeadlineSeconds": 3600,
        "successfulJobsHistoryLimit": 3,
        "failedJobsHistoryLimit": 3,
        "jobTemplate": {
            "metadata": {"labels": meta.labels(stack, BACKUP)},
            "spec": {"backoffLimit": 1, "template": backup_pod_template(stack)},
        },
    }
    if backup.time_zone is not None:
        spec["timeZone"] = backup.time_zone
    return {
        "apiVersion": "batch/v1",
        "kind": "CronJob",
        "metadata": meta.metadata(stack, stack.names.backup, BACKUP),
        "spec": spec,
    }


def _one_off_job(
    stack: DjangoStack, name: str, component: str, purpose: str, pod: dict[str, Any]
) -> dict[str, Any]:
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": meta.metadata(stack, name, component, annotations={PURPOSE: purpose}),
        # Not retried: a failed backup or restore is reported, and a person decides.
        "spec": {"backoffLimit": 0, "template": pod},
    }


def pre_migration_backup_job(stack: DjangoStack) -> dict[str, Any]:
    """The backup taken before the migrations of spec.image (migrations.backupBefore)."""
    name = stack.names.pre_migration_backup_job(stack.spec.release_hash)
    return _one_off_job(stack, name, BACKUP, "pre-migration", backup_pod_template(stack))


def on_demand_backup_job(stack: DjangoStack) -> dict[str, Any] | None:
    """One backup per value of the djangostack.io/backup-now annotation."""
    request = stack.backup_request
    if request is None or not stack.spec.backup.enabled:
        return None
    name = stack.names.on_demand_backup_job(request)
    return _one_off_job(stack, name, BACKUP, "on-demand", backup_pod_template(stack))


def restore_job(stack: DjangoStack) -> dict[str, Any] | None:
    """Restores spec.database.restoreFrom from the backup volume, once per value."""
    source = stack.spec.database.restore_from
    if source is None or not stack.spec.backup.enabled:
        return None
    command = ["bash", f"{SCRIPTS_MOUNT}/restore.sh", source]
    pod = backup_pod_template(stack, component=RESTORE, command=command)
    return _one_off_job(stack, stack.names.restore_job(source), RESTORE, "restore", pod)


def backup_objects(stack: DjangoStack) -> list[dict[str, Any]]:
    if not stack.spec.backup.enabled:
        return []
    return [scripts_config_map(stack), backup_volume(stack), backup_cronjob(stack)]
