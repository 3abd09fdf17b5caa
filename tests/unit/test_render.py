"""Exact expectations for each builder, through `make_stack(**overrides)`."""

from __future__ import annotations

import json
from typing import Any

import pytest

from djangostack_operator.render import (
    Release,
    RenderContext,
    backup,
    datastore,
    django,
    ingress,
    render,
)
from djangostack_operator.render.pod import app_env, config_checksum, referenced_config
from djangostack_operator.render.secrets import GeneratedSecret, generated_secrets
from djangostack_operator.validation import parse_stack
from tests.factories import UID, make_stack, stack_object


def by_kind_name(objects: list[dict[str, Any]]) -> dict[tuple[str, str], dict[str, Any]]:
    return {(o["kind"], o["metadata"]["name"]): o for o in objects}


def env_of(container: dict[str, Any]) -> dict[str, Any]:
    return {e["name"]: e.get("value", e.get("valueFrom")) for e in container["env"]}


def test_minimal_stack_renders_every_tier_in_apply_order() -> None:
    kinds = [(o["kind"], o["metadata"]["name"]) for o in render(make_stack())]
    assert kinds == [
        *[
            ("NetworkPolicy", f"shop-{c}")
            for c in (
                "web",
                "worker",
                "beat",
                "migrations",
                "manage",
                "backup",
                "restore",
                "postgres",
                "redis",
            )
        ],
        ("ConfigMap", "shop-postgres-init"),
        ("Service", "shop-postgres-headless"),
        ("Service", "shop-postgres"),
        ("StatefulSet", "shop-postgres"),
        ("Service", "shop-redis-headless"),
        ("Service", "shop-redis"),
        ("StatefulSet", "shop-redis"),
        ("Job", f"shop-migrate-{make_stack().spec.release_hash}"),
        ("Deployment", "shop-web"),
        ("Service", "shop-web"),
        ("PodDisruptionBudget", "shop-web"),
        ("Deployment", "shop-worker-default"),
        ("Deployment", "shop-beat"),
        ("Ingress", "shop-web"),
        ("ConfigMap", "shop-scripts"),
        ("PersistentVolumeClaim", "shop-backups"),
        ("CronJob", "shop-backup"),
    ]


def test_web_deployment() -> None:
    deployment = django.web_deployment(make_stack(), RenderContext())
    spec = deployment["spec"]
    assert spec["replicas"] == 2
    assert spec["selector"] == {
        "matchLabels": {
            "app.kubernetes.io/name": "djangostack",
            "app.kubernetes.io/instance": "shop",
            "app.kubernetes.io/component": "web",
        }
    }
    assert spec["strategy"] == {
        "type": "RollingUpdate",
        "rollingUpdate": {"maxSurge": "25%", "maxUnavailable": 0},
    }
    assert spec["minReadySeconds"] == 5
    container = spec["template"]["spec"]["containers"][0]
    assert container["image"] == "registry.example.com/shop:1.0.0"
    assert container["command"] == ["gunicorn", "--bind=0.0.0.0:8000", "--bind=0.0.0.0:9100",
                                    "config.wsgi:application"]  # fmt: skip
    assert container["ports"] == [
        {"name": "http", "containerPort": 8000, "protocol": "TCP"},
        {"name": "metrics", "containerPort": 9100, "protocol": "TCP"},
    ]
    assert container["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": "http"}
    assert container["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": "http"}
    assert container["startupProbe"]["httpGet"] == {"path": "/healthz", "port": "http"}
    assert container["resources"] == {
        "requests": {"cpu": "100m", "memory": "256Mi"},
        "limits": {"memory": "512Mi"},
    }
    assert spec["template"]["spec"]["automountServiceAccountToken"] is False
    # Routers drop a deleted pod before gunicorn stops accepting; then it drains in-flight.
    assert container["lifecycle"] == {"preStop": {"sleep": {"seconds": 5}}}
    assert spec["template"]["spec"]["terminationGracePeriodSeconds"] == 35


def test_web_command_port_and_project_follow_the_spec() -> None:
    stack = make_stack(settingsModule="shop.settings", web={"port": 9000, "metricsPort": 9001})
    container = django.web_deployment(stack, RenderContext())["spec"]["template"]["spec"][
        "containers"
    ][0]
    assert container["command"] == ["gunicorn", "--bind=0.0.0.0:9000", "--bind=0.0.0.0:9001",
                                    "shop.wsgi:application"]  # fmt: skip
    custom = make_stack(web={"command": ["uvicorn", "config.asgi:application"]})
    assert django.web_command(custom) == ["uvicorn", "config.asgi:application"]


def test_autoscaling_adds_an_hpa_and_drops_fixed_replicas() -> None:
    stack = make_stack(web={"autoscaling": {"minReplicas": 3, "maxReplicas": 9}})
    assert "replicas" not in django.web_deployment(stack, RenderContext())["spec"]
    hpa = django.web_hpa(stack)
    assert hpa is not None
    assert hpa["spec"] == {
        "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "shop-web"},
        "minReplicas": 3,
        "maxReplicas": 9,
        "metrics": [
            {
                "type": "Resource",
                "resource": {
                    "name": "cpu",
                    "target": {"type": "Utilization", "averageUtilization": 75},
                },
            }
        ],
    }
    assert django.web_hpa(make_stack()) is None


@pytest.mark.parametrize(
    ("web", "expected"),
    [
        ({"replicas": 2}, 1),
        ({"replicas": 1}, None),
        ({"replicas": 0}, None),
        ({"replicas": 4, "pdb": {"minAvailable": 3}}, 3),
        ({"replicas": 4, "pdb": {"enabled": False}}, None),
        ({"replicas": 1, "autoscaling": {"minReplicas": 2}}, 1),
    ],
)
def test_pdb_only_while_it_cannot_block_drains(web: dict[str, Any], expected: int | None) -> None:
    pdb = django.web_pdb(make_stack(web=web))
    if expected is None:
        assert pdb is None
    else:
        assert pdb is not None
        assert pdb["spec"]["minAvailable"] == expected
        assert pdb["spec"]["selector"]["matchLabels"]["app.kubernetes.io/component"] == "web"


def test_web_service() -> None:
    service = django.web_service(make_stack())
    assert service["spec"]["ports"] == [
        {"name": "http", "port": 80, "targetPort": "http", "protocol": "TCP"}
    ]
    assert service["spec"]["selector"]["app.kubernetes.io/component"] == "web"


def test_one_deployment_per_worker_pool() -> None:
    stack = make_stack(
        workers=[
            {"name": "default"},
            {"name": "emails", "queues": ["emails", "sms"], "concurrency": 8, "replicas": 3},
        ]
    )
    pools = django.worker_deployments(stack, RenderContext())
    assert [d["metadata"]["name"] for d in pools] == ["shop-worker-default", "shop-worker-emails"]
    emails = pools[1]
    assert emails["spec"]["replicas"] == 3
    assert emails["spec"]["selector"]["matchLabels"]["djangostack.io/worker-pool"] == "emails"
    assert emails["spec"]["template"]["spec"]["containers"][0]["command"] == [
        "celery",
        "--app=config",
        "worker",
        "--queues=emails,sms",
        "--concurrency=8",
        "--hostname=emails@%h",
        "--loglevel=INFO",
    ]
    assert emails["spec"]["template"]["spec"]["terminationGracePeriodSeconds"] == 60


def test_no_workers_means_no_worker_deployments() -> None:
    assert django.worker_deployments(make_stack(workers=[]), RenderContext()) == []


@pytest.mark.parametrize(("enabled", "replicas"), [(True, 1), (False, 0)])
def test_beat_is_one_pod_at_most_and_recreated(enabled: bool, replicas: int) -> None:
    beat = django.beat_deployment(make_stack(beat={"enabled": enabled}), RenderContext())
    assert beat["spec"]["replicas"] == replicas
    assert beat["spec"]["strategy"] == {"type": "Recreate"}
    assert beat["spec"]["template"]["spec"]["containers"][0]["command"] == [
        "celery",
        "--app=config",
        "beat",
        "--schedule=/tmp/celerybeat-schedule",
        "--pidfile=/tmp/celerybeat.pid",
        "--loglevel=INFO",
    ]


def test_release_tiers_run_the_released_image_until_the_new_one_is_migrated() -> None:
    stack = make_stack(image="registry.example.com/shop:2.0.0")
    context = RenderContext(release=Release("registry.example.com/shop:1.0.0", "0123456789"))
    objects = by_kind_name(render(stack, context))
    for name in ("shop-web", "shop-worker-default", "shop-beat"):
        container = objects[("Deployment", name)]["spec"]["template"]["spec"]["containers"][0]
        assert container["image"] == "registry.example.com/shop:1.0.0", name
        assert env_of(container)["DJANGOSTACK_RELEASE"] == "registry.example.com/shop:1.0.0"
        assert objects[("Deployment", name)]["metadata"]["annotations"] == {
            "djangostack.io/release-image": "registry.example.com/shop:1.0.0",
            "djangostack.io/release-hash": "0123456789",
        }
    job = objects[("Job", f"shop-migrate-{stack.spec.release_hash}")]
    (migrate,) = job["spec"]["template"]["spec"]["containers"]
    assert migrate["image"] == "registry.example.com/shop:2.0.0"
    assert env_of(migrate)["DJANGOSTACK_RELEASE"] == "registry.example.com/shop:2.0.0"


def test_migrations_job() -> None:
    stack = make_stack(migrations={"timeoutSeconds": 120})
    job = django.migrations_job(stack, RenderContext())
    assert job is not None
    assert job["metadata"]["name"] == f"shop-migrate-{stack.spec.release_hash}"
    assert job["metadata"]["annotations"] == {
        "djangostack.io/release-image": "registry.example.com/shop:1.0.0",
        "djangostack.io/release-hash": stack.spec.release_hash,
    }
    assert job["spec"]["backoffLimit"] == 0
    assert job["spec"]["activeDeadlineSeconds"] == 120
    pod = job["spec"]["template"]["spec"]
    assert pod["restartPolicy"] == "Never"
    assert pod["containers"][0]["command"] == ["python", "manage.py", "migrate", "--noinput"]
    assert django.migrations_job(make_stack(migrations={"enabled": False}), RenderContext()) is None


def test_contract_env_with_managed_services() -> None:
    env = env_of(
        django.web_deployment(make_stack(), RenderContext())["spec"]["template"]["spec"][
            "containers"
        ][0]
    )
    assert env == {
        "DJANGO_SETTINGS_MODULE": "config.settings",
        "DJANGOSTACK_RELEASE": "registry.example.com/shop:1.0.0",
        "DJANGOSTACK_METRICS_PORT": "9100",
        "DJANGO_SECRET_KEY": {"secretKeyRef": {"name": "shop-django", "key": "secret-key"}},
        "DJANGO_ALLOWED_HOSTS": "shop.example.com,shop-web,shop-web.shop-ns.svc,"
        "shop-web.shop-ns.svc.cluster.local",
        "DJANGO_CSRF_TRUSTED_ORIGINS": "https://shop.example.com",
        "DATABASE_PASSWORD": {"secretKeyRef": {"name": "shop-postgres", "key": "password"}},
        "DATABASE_URL": "postgres://app:$(DATABASE_PASSWORD)@shop-postgres.shop-ns.svc:5432/app",
        "REDIS_PASSWORD": {"secretKeyRef": {"name": "shop-redis", "key": "password"}},
        "REDIS_URL": "redis://:$(REDIS_PASSWORD)@shop-redis.shop-ns.svc:6379/0",
        "CELERY_BROKER_URL": "$(REDIS_URL)",
    }


def test_contract_env_with_external_services_and_own_secret_key() -> None:
    stack = make_stack(
        secretKeyRef={"name": "mine", "key": "k"},
        database={"managed": None, "external": {"urlSecretRef": {"name": "db", "key": "dsn"}}},
        redis={"managed": None, "external": {"urlSecretRef": {"name": "cache"}}},
        ingress=None,
    )
    env = env_of({"env": app_env(stack, "ghcr.io/acme/shop:1.0")})
    assert env["DJANGO_SECRET_KEY"] == {"secretKeyRef": {"name": "mine", "key": "k"}}
    assert env["DATABASE_URL"] == {"secretKeyRef": {"name": "db", "key": "dsn"}}
    assert env["REDIS_URL"] == {"secretKeyRef": {"name": "cache", "key": "url"}}
    assert "DATABASE_PASSWORD" not in env and "REDIS_PASSWORD" not in env
    assert "DJANGO_CSRF_TRUSTED_ORIGINS" not in env
    assert env["DJANGO_ALLOWED_HOSTS"].startswith("shop-web,")


def test_user_env_replaces_contract_entries_by_name_and_appends_the_rest() -> None:
    stack = make_stack(
        env=[
            {"name": "DJANGO_ALLOWED_HOSTS", "value": "*"},
            {"name": "FEATURE", "value": "on"},
        ],
        envFrom=[{"configMapRef": {"name": "shop-config"}}],
    )
    env = app_env(stack, "ghcr.io/acme/shop:1.0")
    names = [e["name"] for e in env]
    assert names.count("DJANGO_ALLOWED_HOSTS") == 1
    assert env[names.index("DJANGO_ALLOWED_HOSTS")] == {
        "name": "DJANGO_ALLOWED_HOSTS",
        "value": "*",
    }
    assert names[-1] == "FEATURE"
    container = django.web_deployment(stack, RenderContext())["spec"]["template"]["spec"][
        "containers"
    ][0]
    assert container["envFrom"] == [{"configMapRef": {"name": "shop-config"}}]


def test_checksum_changes_when_referenced_config_changes() -> None:
    stack = make_stack(envFrom=[{"secretRef": {"name": "shop-settings"}}])
    assert referenced_config(stack) == ["Secret/shop-settings"]
    before = config_checksum(stack, RenderContext(config_digests={"Secret/shop-settings": "a"}))
    after = config_checksum(stack, RenderContext(config_digests={"Secret/shop-settings": "b"}))
    unrelated = config_checksum(
        stack, RenderContext(config_digests={"Secret/shop-settings": "a", "Secret/other": "z"})
    )
    assert before != after
    assert before == unrelated
    annotations = django.web_deployment(
        stack, RenderContext(config_digests={"Secret/shop-settings": "b"})
    )["spec"]["template"]["metadata"]["annotations"]
    assert annotations == {"djangostack.io/config-checksum": after}


def test_referenced_config_lists_every_secret_and_config_map() -> None:
    stack = make_stack(
        secretKeyRef={"name": "key", "key": "k"},
        database={"managed": None, "external": {"urlSecretRef": {"name": "db"}}},
        env=[
            {"name": "A", "valueFrom": {"secretKeyRef": {"name": "s1", "key": "a"}}},
            {"name": "B", "valueFrom": {"configMapKeyRef": {"name": "c1", "key": "b"}}},
            {"name": "C", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}},
        ],
        envFrom=[{"configMapRef": {"name": "c2"}}, {"secretRef": {"name": "s1"}}],
    )
    assert referenced_config(stack) == [
        "ConfigMap/c1",
        "ConfigMap/c2",
        "Secret/db",
        "Secret/key",
        "Secret/s1",
    ]


def test_postgres_statefulset_and_services() -> None:
    objects = by_kind_name(datastore.postgres_objects(make_stack()))
    headless = objects[("Service", "shop-postgres-headless")]["spec"]
    assert headless["clusterIP"] == "None"
    assert headless["publishNotReadyAddresses"] is True
    client = objects[("Service", "shop-postgres")]["spec"]
    assert client["ports"] == [
        {"name": "postgres", "port": 5432, "targetPort": "postgres", "protocol": "TCP"}
    ]
    sts = objects[("StatefulSet", "shop-postgres")]["spec"]
    assert sts["serviceName"] == "shop-postgres-headless"
    assert sts["replicas"] == 1
    assert sts["persistentVolumeClaimRetentionPolicy"] == {
        "whenDeleted": "Retain",
        "whenScaled": "Retain",
    }
    claim = sts["volumeClaimTemplates"][0]
    assert claim["metadata"]["name"] == "data"
    assert claim["spec"] == {
        "accessModes": ["ReadWriteOnce"],
        "resources": {"requests": {"storage": "10Gi"}},
    }
    pod = sts["template"]["spec"]
    assert pod["securityContext"]["runAsUser"] == 999
    container = pod["containers"][0]
    # The image's superuser has a password of its own; the app's role is made beside it.
    assert env_of(container) == {
        "POSTGRES_USER": "postgres",
        "POSTGRES_PASSWORD": {
            "secretKeyRef": {"name": "shop-postgres-superuser", "key": "password"}
        },
        "DJANGOSTACK_APP_USER": "app",
        "DJANGOSTACK_APP_DATABASE": "app",
        "DJANGOSTACK_APP_PASSWORD": {"secretKeyRef": {"name": "shop-postgres", "key": "password"}},
        "PGDATA": "/var/lib/postgresql/data/pgdata",
    }
    assert container["readinessProbe"]["exec"]["command"][0] == "pg_isready"
    mounts = {m["name"]: m["mountPath"] for m in container["volumeMounts"]}
    assert mounts["initdb"] == "/docker-entrypoint-initdb.d"
    init = by_kind_name(datastore.postgres_objects(make_stack()))[
        ("ConfigMap", "shop-postgres-init")
    ]
    assert "NOSUPERUSER NOCREATEDB NOCREATEROLE" in init["data"]["postgres-app-role.sh"]


def test_no_pod_but_postgres_reads_the_superuser_password() -> None:
    stack = make_stack(backup={"enabled": True})
    readers = set()
    for obj in render(stack):
        text = json.dumps(obj)
        if "shop-postgres-superuser" in text:
            readers.add((obj["kind"], obj["metadata"]["name"]))
    assert readers == {("StatefulSet", "shop-postgres")}


def test_postgres_storage_class_and_delete_policy() -> None:
    stack = make_stack(
        database={"managed": {"storageClassName": "fast", "storage": "50Gi"}},
        deletionPolicy="Delete",
    )
    sts = by_kind_name(datastore.postgres_objects(stack))[("StatefulSet", "shop-postgres")]
    assert sts["spec"]["persistentVolumeClaimRetentionPolicy"]["whenDeleted"] == "Delete"
    assert sts["spec"]["volumeClaimTemplates"][0]["spec"]["storageClassName"] == "fast"
    assert sts["spec"]["volumeClaimTemplates"][0]["spec"]["resources"] == {
        "requests": {"storage": "50Gi"}
    }


def test_redis_keeps_its_password_out_of_argv() -> None:
    sts = by_kind_name(datastore.redis_objects(make_stack()))[("StatefulSet", "shop-redis")]
    container = sts["spec"]["template"]["spec"]["containers"][0]
    assert container["command"][:2] == ["sh", "-c"]
    assert "$REDISCLI_AUTH" in container["command"][2]
    assert env_of(container)["REDISCLI_AUTH"] == {
        "secretKeyRef": {"name": "shop-redis", "key": "password"}
    }
    assert env_of(container)["REDIS_APPENDONLY"] == "yes"
    assert sts["spec"]["volumeClaimTemplates"][0]["spec"]["resources"] == {
        "requests": {"storage": "1Gi"}
    }


def test_redis_without_persistence_keeps_data_in_memory() -> None:
    stack = make_stack(redis={"managed": {"persistence": False}})
    sts = by_kind_name(datastore.redis_objects(stack))[("StatefulSet", "shop-redis")]
    assert "volumeClaimTemplates" not in sts["spec"]
    assert {"name": "data", "emptyDir": {}} in sts["spec"]["template"]["spec"]["volumes"]
    container = sts["spec"]["template"]["spec"]["containers"][0]
    assert env_of(container)["REDIS_APPENDONLY"] == "no"


def test_external_services_render_no_data_objects() -> None:
    stack = make_stack(
        database={"managed": None, "external": {"urlSecretRef": {"name": "db"}}},
        redis={"managed": None, "external": {"urlSecretRef": {"name": "cache"}}},
    )
    kinds = {o["kind"] for o in render(stack)}
    assert "StatefulSet" not in kinds
    assert datastore.postgres_objects(stack) == [] and datastore.redis_objects(stack) == []


@pytest.mark.parametrize(
    ("tls", "secret", "annotations"),
    [
        ({"selfSigned": True}, "shop-tls", None),
        ({"secretName": "my-cert"}, "my-cert", None),
        (
            {"issuerRef": {"name": "letsencrypt"}},
            "shop-tls",
            {"cert-manager.io/cluster-issuer": "letsencrypt"},
        ),
        (
            {"issuerRef": {"name": "local", "kind": "Issuer"}},
            "shop-tls",
            {"cert-manager.io/issuer": "local"},
        ),
    ],
)
def test_ingress_tls_modes(
    tls: dict[str, Any], secret: str, annotations: dict[str, str] | None
) -> None:
    stack = make_stack(ingress={"tls": tls, "className": "nginx"})
    rendered = ingress.ingress(stack)
    assert rendered is not None
    assert rendered["spec"]["ingressClassName"] == "nginx"
    assert rendered["spec"]["tls"] == [{"hosts": ["shop.example.com"], "secretName": secret}]
    assert rendered["metadata"].get("annotations") == annotations
    assert rendered["spec"]["rules"][0]["http"]["paths"][0]["backend"] == {
        "service": {"name": "shop-web", "port": {"name": "http"}}
    }


def test_ingress_without_tls_and_without_ingress() -> None:
    plain = ingress.ingress(make_stack(ingress={"tls": {"disabled": True}}))
    assert plain is not None and "tls" not in plain["spec"]
    assert "ingressClassName" not in plain["spec"]
    assert ingress.ingress(make_stack(ingress=None)) is None
    env = env_of({"env": app_env(make_stack(ingress={"tls": {"disabled": True}}), "shop:1")})
    assert env["DJANGO_CSRF_TRUSTED_ORIGINS"] == "http://shop.example.com"


def test_user_ingress_annotations_are_kept() -> None:
    stack = make_stack(
        ingress={"annotations": {"nginx.ingress.kubernetes.io/proxy-body-size": "20m"}}
    )
    rendered = ingress.ingress(stack)
    assert rendered is not None
    assert rendered["metadata"]["annotations"] == {
        "nginx.ingress.kubernetes.io/proxy-body-size": "20m"
    }


def test_backup_cronjob() -> None:
    stack = make_stack(backup={"schedule": "15 1 * * *", "retain": 3, "timeZone": "Europe/Berlin"})
    cronjob = backup.backup_cronjob(stack)["spec"]
    assert cronjob["schedule"] == "15 1 * * *"
    assert cronjob["timeZone"] == "Europe/Berlin"
    assert cronjob["suspend"] is False
    assert cronjob["concurrencyPolicy"] == "Forbid"
    assert (cronjob["successfulJobsHistoryLimit"], cronjob["failedJobsHistoryLimit"]) == (3, 3)
    pod = cronjob["jobTemplate"]["spec"]["template"]["spec"]
    container = pod["containers"][0]
    assert container["image"] == "postgres:17.12-trixie"
    assert container["command"] == ["bash", "/scripts/backup.sh"]
    assert env_of(container) == {
        "PGHOST": "shop-postgres.shop-ns.svc",
        "PGPORT": "5432",
        "PGUSER": "app",
        "PGDATABASE": "app",
        "PGPASSWORD": {"secretKeyRef": {"name": "shop-postgres", "key": "password"}},
        "BACKUP_DIR": "/backups",
        "BACKUP_RETAIN": "3",
    }
    volumes = {v["name"]: v for v in pod["volumes"]}
    assert volumes["backups"]["persistentVolumeClaim"] == {"claimName": "shop-backups"}
    assert volumes["scripts"]["configMap"] == {"name": "shop-scripts", "defaultMode": 0o555}


def test_backup_of_an_external_database_uses_its_url() -> None:
    stack = make_stack(database={"managed": None, "external": {"urlSecretRef": {"name": "db"}}})
    container = backup.backup_cronjob(stack)["spec"]["jobTemplate"]["spec"]["template"]["spec"][
        "containers"
    ][0]
    assert env_of(container)["DATABASE_URL"] == {"secretKeyRef": {"name": "db", "key": "url"}}
    assert "PGHOST" not in env_of(container)
    assert container["image"] == "postgres:17.12-trixie"


def test_backup_scripts_ship_in_a_config_map() -> None:
    config_map = backup.scripts_config_map(make_stack())
    assert config_map["data"]["backup.sh"].startswith("#!/usr/bin/env bash")


@pytest.mark.parametrize(("policy", "owned"), [("Retain", False), ("Delete", True)])
def test_backup_volume_is_owned_only_when_it_should_go_with_the_stack(
    policy: str, owned: bool
) -> None:
    volume = backup.backup_volume(make_stack(deletionPolicy=policy))
    assert ("ownerReferences" in volume["metadata"]) is owned
    assert volume["spec"]["resources"] == {"requests": {"storage": "10Gi"}}


def test_disabled_backups_render_nothing() -> None:
    assert backup.backup_objects(make_stack(backup={"enabled": False})) == []


def test_suspended_backups_keep_the_cronjob() -> None:
    assert backup.backup_cronjob(make_stack(backup={"suspend": True}))["spec"]["suspend"] is True


DATABASE = ("data-shop-postgres-0",)  # the database's data volume claim


def test_generated_secrets_are_names_and_keys_only() -> None:
    assert generated_secrets(make_stack()) == [
        GeneratedSecret("shop-django", "web", "random", ("secret-key",), guards=DATABASE),
        GeneratedSecret("shop-postgres", "postgres", "random", ("password",), guards=DATABASE),
        GeneratedSecret("shop-postgres-superuser", "postgres", "random", ("password",)),
        GeneratedSecret("shop-redis", "redis", "random", ("password",)),
        GeneratedSecret(
            "shop-tls", "ingress", "self-signed-tls", ("tls.crt", "tls.key"), "shop.example.com"
        ),
    ]
    external = make_stack(
        secretKeyRef={"name": "k", "key": "k"},
        database={"managed": None, "external": {"urlSecretRef": {"name": "db"}}},
        redis={"managed": None, "external": {"urlSecretRef": {"name": "r"}}},
        ingress={"tls": {"secretName": "cert"}},
    )
    assert generated_secrets(external) == []


def test_owner_reference_points_at_the_stack() -> None:
    for obj in render(make_stack()):
        if "ownerReferences" in obj["metadata"]:
            assert obj["metadata"]["ownerReferences"] == [
                {
                    "apiVersion": "djangostack.io/v1alpha1",
                    "kind": "DjangoStack",
                    "name": "shop",
                    "uid": UID,
                    "controller": True,
                    "blockOwnerDeletion": True,
                }
            ]


def test_one_off_backup_and_restore_jobs() -> None:
    stack = make_stack(
        database={"managed": {}, "restoreFrom": "latest"},
        podAnnotations={"example.com/trace": "on"},
    )
    restore = backup.restore_job(stack)
    assert restore is not None
    assert restore["metadata"]["name"] == stack.names.restore_job("latest")
    assert restore["metadata"]["annotations"] == {"djangostack.io/purpose": "restore"}
    assert restore["spec"]["backoffLimit"] == 0
    pod = restore["spec"]["template"]
    assert pod["metadata"]["annotations"] == {"example.com/trace": "on"}
    assert pod["metadata"]["labels"]["app.kubernetes.io/component"] == "restore"
    assert pod["spec"]["containers"][0]["command"] == ["bash", "/scripts/restore.sh", "latest"]
    pre = backup.pre_migration_backup_job(stack)
    assert pre["metadata"]["name"] == f"shop-backup-pre-{stack.spec.release_hash}"
    assert pre["spec"]["template"]["spec"]["containers"][0]["command"] == [
        "bash",
        "/scripts/backup.sh",
    ]
    assert backup.on_demand_backup_job(stack) is None
    assert backup.restore_job(make_stack()) is None


def test_backup_now_annotation_asks_for_one_job_per_value() -> None:
    def job_for(value: str) -> dict[str, Any] | None:
        document = stack_object(**{})
        document["metadata"]["annotations"] = {"djangostack.io/backup-now": value}
        return backup.on_demand_backup_job(parse_stack(document))

    first, again, other = job_for("a"), job_for("a"), job_for("b")
    assert first is not None and again is not None and other is not None
    assert first["metadata"]["name"] == again["metadata"]["name"]
    assert first["metadata"]["name"] != other["metadata"]["name"]
    assert first["metadata"]["annotations"] == {"djangostack.io/purpose": "on-demand"}
    assert any(o["metadata"]["name"] == first["metadata"]["name"] for o in render(
        parse_stack({**stack_object(), "metadata": {**stack_object()["metadata"],
                     "annotations": {"djangostack.io/backup-now": "a"}}})
    ))  # fmt: skip


def test_restore_script_ships_beside_the_backup_script() -> None:
    config_map = backup.scripts_config_map(make_stack())
    assert set(config_map["data"]) == {"backup.sh", "restore.sh"}
