"""Managed PostgreSQL and Redis: a single-replica StatefulSet each, with a headless Service (stable
pod DNS) and a client Service. Nothing is rendered for an external service."""

from __future__ import annotations

from importlib import resources
from typing import Any

from djangostack_operator.render import meta
from djangostack_operator.render.placement import placed
from djangostack_operator.render.pod import (
    DATA_SERVICE_UID,
    PASSWORD_KEY,
    POSTGRES_PORT,
    REDIS_PORT,
    container_security_context,
    pod_security_context,
    resource_requirements,
    secret_env,
    tmp_mount,
    tmp_volume,
)
from djangostack_operator.spec import DjangoStack, Placement, Resources

POSTGRES = "postgres"
# The managed PostgreSQL's superuser (the image's POSTGRES_USER); the app has a role of its own.
SUPERUSER = "postgres"
INITDB_MOUNT = "/docker-entrypoint-initdb.d"
APP_ROLE_SCRIPT = "postgres-app-role.sh"
# Read once at import: the script is part of the package, so rendering stays pure.
APP_ROLE_SQL = (resources.files("djangostack_operator") / "scripts" / APP_ROLE_SCRIPT).read_text()
REDIS = "redis"
DATA_VOLUME = "data"


def data_claim(statefulset: str) -> str:
    """The claim the StatefulSet controller makes for the one pod's data volume."""
    return f"{DATA_VOLUME}-{statefulset}-0"


PGDATA_MOUNT = "/var/lib/postgresql/data"


def _services(
    stack: DjangoStack, component: str, name: str, headless: str, port: int
) -> list[dict[str, Any]]:
    ports = [{"name": component, "port": port, "targetPort": component, "protocol": "TCP"}]
    selector = meta.selector_labels(stack, component)
    return [
        {
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": meta.metadata(stack, headless, component),
            "spec": {
                "clusterIP": "None",
                # The StatefulSet's pod DNS must resolve before readiness (e.g. for init).
                "publishNotReadyAddresses": True,
                "selector": selector,
                "ports": ports,
            },
        },
        {
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": meta.metadata(stack, name, component),
            "spec": {"type": "ClusterIP", "selector": selector, "ports": ports},
        },
    ]


def _statefulset(
    stack: DjangoStack,
    component: str,
    *,
    name: str,
    headless: str,
    container: dict[str, Any],
    volumes: list[dict[str, Any]],
    storage: str | None,
    storage_class: str | None,
    placement: Placement,
) -> dict[str, Any]:
    """A one-replica StatefulSet; `storage` None means no volume claim (data in memory)."""
    selector = meta.selector_labels(stack, component)
    pod_spec = {
        "automountServiceAccountToken": False,
        "securityContext": pod_security_context(DATA_SERVICE_UID),
        "terminationGracePeriodSeconds": 60,
        "containers": [container],
        "volumes": volumes,
    }
    spec: dict[str, Any] = {
        "replicas": 1,
        "serviceName": headless,
        "selector": {"matchLabels": selector},
        "podManagementPolicy": "OrderedReady",
        "updateStrategy": {"type": "RollingUpdate"},
        # Retain: the data volume outlives the stack and a stack of the same name binds it again.
        # Delete: the StatefulSet owns the claim, and garbage collection removes it with the stack.
        "persistentVolumeClaimRetentionPolicy": {
            "whenDeleted": stack.spec.deletion_policy,
            "whenScaled": "Retain",
        },
        "template": placed(
            {"metadata": {"labels": meta.labels(stack, component)}, "spec": pod_spec},
            stack.spec.placement_of(placement),
            selector,
        ),
    }
    if storage is not None:
        claim_spec: dict[str, Any] = {
            "accessModes": ["ReadWriteOnce"],
            "resources": {"requests": {"storage": storage}},
        }
        if storage_class is not None:
            claim_spec["storageClassName"] = storage_class
        spec["volumeClaimTemplates"] = [
            {
                "apiVersion": "v1",
                "kind": "PersistentVolumeClaim",
                "metadata": {"name": DATA_VOLUME, "labels": meta.labels(stack, component)},
                "spec": claim_spec,
            }
        ]
    return {
        "apiVersion": "apps/v1",
        "kind": "StatefulSet",
        "metadata": meta.metadata(stack, name, component),
        "spec": spec,
    }


def _exec_probe(command: list[str], period: int, failures: int) -> dict[str, Any]:
    return {
        "exec": {"command": list(command)},
        "periodSeconds": period,
        "timeoutSeconds": 5,
        "failureThreshold": failures,
    }


def _data_container(
    name: str, image: str, port: int, resources: Resources, **fields: Any
) -> dict[str, Any]:
    container: dict[str, Any] = {
        "name": name,
        "image": image,
        "imagePullPolicy": "IfNotPresent",
        "ports": [{"name": name, "containerPort": port, "protocol": "TCP"}],
    }
    container |= fields
    container["resources"] = resource_requirements(resources)
    container["securityContext"] = container_security_context()
    return container


def postgres_objects(stack: DjangoStack) -> list[dict[str, Any]]:
    managed = stack.spec.database.managed
    if managed is None:
        return []
    names = stack.names
    ready = ["pg_isready", "--host=127.0.0.1", f"--username={managed.username}",
             f"--dbname={managed.database_name}"]  # fmt: skip
    container = _data_container(
        POSTGRES,
        managed.image,
        POSTGRES_PORT,
        managed.resources,
        env=[
            # The image makes POSTGRES_USER the superuser; postgres-app-role.sh then makes the
            # app's own role and database (the image's POSTGRES_DB would belong to the superuser).
            {"name": "POSTGRES_USER", "value": SUPERUSER},
            secret_env("POSTGRES_PASSWORD", names.postgres_superuser_secret, PASSWORD_KEY),
            {"name": "DJANGOSTACK_APP_USER", "value": managed.username},
            {"name": "DJANGOSTACK_APP_DATABASE", "value": managed.database_name},
            secret_env("DJANGOSTACK_APP_PASSWORD", names.postgres_secret, PASSWORD_KEY),
            # A subfolder: the volume's root may hold lost+found, which initdb refuses.
            {"name": "PGDATA", "value": f"{PGDATA_MOUNT}/pgdata"},
        ],
        startupProbe=_exec_probe(ready, period=2, failures=150),
        livenessProbe=_exec_probe(ready, period=10, failures=6),
        readinessProbe=_exec_probe(ready, period=5, failures=3),
        volumeMounts=[
            {"name": DATA_VOLUME, "mountPath": PGDATA_MOUNT},
            {"name": "run", "mountPath": "/var/run/postgresql"},
            {"name": "shm", "mountPath": "/dev/shm"},
            {"name": "initdb", "mountPath": INITDB_MOUNT, "readOnly": True},
            tmp_mount(),
        ],
    )
    volumes = [
        {"name": "run", "emptyDir": {}},
        {"name": "initdb", "configMap": {"name": names.postgres_init, "defaultMode": 0o555}},
        # Parallel queries use shared memory; the runtime's default /dev/shm is 64 MiB.
        {"name": "shm", "emptyDir": {"medium": "Memory", "sizeLimit": "256Mi"}},
        tmp_volume(),
    ]
    init = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": meta.metadata(stack, names.postgres_init, POSTGRES),
        "data": {APP_ROLE_SCRIPT: APP_ROLE_SQL},
    }
    return [
        init,
        *_services(stack, POSTGRES, names.postgres, names.postgres_headless, POSTGRES_PORT),
        _statefulset(
            stack,
            POSTGRES,
            name=names.postgres,
            headless=names.postgres_headless,
            container=container,
            volumes=volumes,
            storage=managed.storage,
            storage_class=managed.storage_class_name,
            placement=managed.placement,
        ),
    ]


# The password reaches redis-server through a config file on the /tmp volume, never argv.
REDIS_START = (
    'umask 077 && printf "requirepass %s\\n" "$REDISCLI_AUTH" > /tmp/redis.conf'
    ' && exec redis-server /tmp/redis.conf --dir /data --appendonly "$REDIS_APPENDONLY"'
)


def redis_objects(stack: DjangoStack) -> list[dict[str, Any]]:
    managed = stack.spec.redis.managed
    if managed is None:
        return []
    names = stack.names
    ping = ["redis-cli", "ping"]
    container = _data_container(
        REDIS,
        managed.image,
        REDIS_PORT,
        managed.resources,
        command=["sh", "-c", REDIS_START],
        # redis-cli reads REDISCLI_AUTH, so the probes authenticate without a password in argv.
        env=[
            secret_env("REDISCLI_AUTH", names.redis_secret, PASSWORD_KEY),
            {"name": "REDIS_APPENDONLY", "value": "yes" if managed.persistence else "no"},
        ],
        startupProbe=_exec_probe(ping, period=2, failures=60),
        livenessProbe=_exec_probe(ping, period=10, failures=6),
        readinessProbe=_exec_probe(ping, period=5, failures=3),
        volumeMounts=[{"name": DATA_VOLUME, "mountPath": "/data"}, tmp_mount()],
    )
    volumes = [tmp_volume()]
    if not managed.persistence:
        volumes.insert(0, {"name": DATA_VOLUME, "emptyDir": {}})
    return [
        *_services(stack, REDIS, names.redis, names.redis_headless, REDIS_PORT),
        _statefulset(
            stack,
            REDIS,
            name=names.redis,
            headless=names.redis_headless,
            container=container,
            volumes=volumes,
            storage=managed.storage if managed.persistence else None,
            storage_class=managed.storage_class_name,
            placement=managed.placement,
        ),
    ]
