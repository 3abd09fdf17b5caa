"""The pure half of `make app-up`: rendered pod specs -> local processes."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from djangostack_devcluster import localrun
from djangostack_devcluster.localrun import LocalRunError, expand, resolve_env
from djangostack_operator.render import render
from tests.factories import make_stack

ROOT = Path("/state/pods")
SECRETS = {
    ("shop-django", "secret-key"): "django-secret",
    ("shop-postgres", "password"): "pg-secret",
    ("shop-postgres-superuser", "password"): "pg-superuser-secret",
    ("shop-redis", "password"): "redis-secret",
}
ADDRESSES = {"postgres": ("127.0.0.1", 15432), "redis": ("127.0.0.1", 16379)}


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("plain", "plain"),
        ("$(A)", "a"),
        ("x$(A)y$(B)z", "xaybz"),
        ("$(MISSING)", "$(MISSING)"),
        ("$$(A)", "$(A)"),
        ("$$", "$"),
        ("$(A", "$(A"),
        ("cost: $5", "cost: $5"),
        ("trailing $", "trailing $"),
        ("$()", "$()"),
    ],
)
def test_expand_follows_kubernetes_rules(text: str, expected: str) -> None:
    assert expand(text, {"A": "a", "B": "b"}) == expected


def test_env_expands_only_earlier_variables() -> None:
    container = {
        "name": "web",
        "env": [
            {"name": "LATER_REF", "value": "$(B)"},
            {"name": "B", "value": "b"},
            {"name": "C", "value": "$(B)-$(LATER_REF)"},
        ],
    }
    assert resolve_env(container, {}) == {"LATER_REF": "$(B)", "B": "b", "C": "b-$(B)"}


def test_env_reads_secret_key_refs() -> None:
    container = {
        "name": "web",
        "env": [
            {"name": "P", "valueFrom": {"secretKeyRef": {"name": "s", "key": "k"}}},
            {"name": "URL", "value": "x://u:$(P)@h"},
        ],
    }
    assert resolve_env(container, {("s", "k"): "pw"}) == {"P": "pw", "URL": "x://u:pw@h"}


def test_env_skips_a_missing_optional_secret() -> None:
    ref = {"secretKeyRef": {"name": "s", "key": "k", "optional": True}}
    assert resolve_env({"name": "web", "env": [{"name": "P", "valueFrom": ref}]}, {}) == {}


def test_env_names_a_secret_without_local_value() -> None:
    ref = {"secretKeyRef": {"name": "user-secret", "key": "token"}}
    with pytest.raises(LocalRunError, match=r"env\[0\] \(T\): no local value for Secret"):
        resolve_env({"name": "web", "env": [{"name": "T", "valueFrom": ref}]}, {})


@pytest.mark.parametrize(
    ("container", "message"),
    [
        ({"name": "w", "envFrom": [{"secretRef": {"name": "x"}}]}, "envFrom is not supported"),
        (
            {"name": "w", "env": [{"name": "X", "valueFrom": {"fieldRef": {"fieldPath": "a"}}}]},
            r"only secretKeyRef is supported, not \['fieldRef'\]",
        ),
    ],
)
def test_env_refuses_what_it_cannot_provide(container: dict[str, Any], message: str) -> None:
    with pytest.raises(LocalRunError, match=message):
        resolve_env(container, {})


def _objects(**overrides: Any) -> list[dict[str, Any]]:
    return render(make_stack(**overrides))


def test_service_rewrites_cover_every_dns_form_and_nothing_else() -> None:
    rewrites = localrun.service_rewrites(_objects(), ADDRESSES)

    def apply(text: str) -> str:
        for pattern, replacement in rewrites:
            text = pattern.sub(replacement, text)
        return text

    for host in (
        "shop-postgres",
        "shop-postgres.shop-ns",
        "shop-postgres.shop-ns.svc",
        "shop-postgres.shop-ns.svc.cluster.local",
    ):
        assert apply(f"postgres://u:p@{host}:5432/app") == "postgres://u:p@127.0.0.1:15432/app"
    assert apply("redis://:p@shop-redis.shop-ns.svc:6379/0") == "redis://:p@127.0.0.1:16379/0"
    for untouched in (
        "postgres://u:p@myshop-postgres:5432/app",
        "postgres://u:p@shop-postgres:54321/app",
        "postgres://u:p@shop-postgres.other.svc:5432/app",
        "http://shop-web:80/",
    ):
        assert apply(untouched) == untouched


def test_plan_of_the_default_stack() -> None:
    plan = localrun.plan(_objects(), SECRETS, ADDRESSES, ROOT)

    assert plan.database == localrun.DatabaseAccount("app", "pg-secret", "app")
    assert plan.redis_password == "redis-secret"
    assert plan.migrate.argv == ("python", "manage.py", "migrate", "--noinput")
    assert [process.name for process in plan.services] == ["web", "worker-default", "beat"]

    web = plan.services[0]
    assert web.argv == ("gunicorn", "--bind=127.0.0.1:8000", "--bind=127.0.0.1:9100",
                        "config.wsgi:application")  # fmt: skip
    assert web.http_port == 8000
    assert web.env["DATABASE_URL"] == "postgres://app:pg-secret@127.0.0.1:15432/app"
    assert web.env["REDIS_URL"] == "redis://:redis-secret@127.0.0.1:16379/0"
    assert web.env["CELERY_BROKER_URL"] == web.env["REDIS_URL"]
    assert web.env["DJANGO_SECRET_KEY"] == "django-secret"
    assert web.env["TMPDIR"] == str(ROOT / "web" / "tmp")
    assert web.folders == (ROOT / "web" / "tmp",)

    beat = plan.services[2]
    assert f"--schedule={ROOT}/beat/tmp/celerybeat-schedule" in beat.argv
    assert f"--pidfile={ROOT}/beat/tmp/celerybeat.pid" in beat.argv
    assert beat.http_port is None


def test_plan_keeps_every_env_name_of_the_pod_spec() -> None:
    objects = _objects(env=[{"name": "FEATURE", "value": "on-$(DJANGO_SETTINGS_MODULE)"}])
    plan = localrun.plan(objects, SECRETS, ADDRESSES, ROOT)
    deployment = next(
        o for o in objects if (o["kind"], o["metadata"]["name"]) == ("Deployment", "shop-web")
    )
    declared = {e["name"] for e in deployment["spec"]["template"]["spec"]["containers"][0]["env"]}
    web = plan.services[0]
    assert set(web.env) == declared | {"TMPDIR"}
    assert web.env["FEATURE"] == "on-config.settings"


def test_plan_expands_variables_in_commands() -> None:
    objects = _objects(web={"command": ["gunicorn", "--bind=0.0.0.0:$(PORT)", "x.wsgi"]},
                       env=[{"name": "PORT", "value": "9000"}])  # fmt: skip
    web = localrun.plan(objects, SECRETS, ADDRESSES, ROOT).services[0]
    assert web.argv == ("gunicorn", "--bind=127.0.0.1:9000", "x.wsgi")


def test_plan_names_every_worker_pool() -> None:
    objects = _objects(workers=[{"name": "default"}, {"name": "mail", "queues": ["mail"]}])
    names = [p.name for p in localrun.plan(objects, SECRETS, ADDRESSES, ROOT).services]
    assert names == ["web", "worker-default", "worker-mail", "beat"]


def test_plan_refuses_an_external_database() -> None:
    objects = _objects(
        database={"external": {"urlSecretRef": {"name": "db", "key": "url"}}},
    )
    with pytest.raises(LocalRunError, match="StatefulSet of component postgres"):
        localrun.plan(objects, SECRETS, ADDRESSES, ROOT)
