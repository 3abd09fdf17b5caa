"""The reference app against real services: PostgreSQL, Redis, gunicorn, a Celery worker and
beat, all started once per session on free ports (the `postgres` and `redis_server` fixtures
are in tests/conftest.py)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from djangostack_devcluster.processes import free_port
from djangostack_devcluster.services import PostgresServer, RedisServer
from djangostack_operator.secretgen import random_token
from tests.app.http import HOST, Client
from tests.app.processes import AppProcesses

DATABASE_PASSWORD = "app-test-password"
RELEASE = "registry.example.com/shop:1.0.0"
REDIS_DATABASE = 1  # the session's Redis is shared; keep the app's keys apart


def contract_env(
    postgres: PostgresServer, redis: RedisServer, database: str, static_root: Path
) -> dict[str, str]:
    """The variables the operator gives every app pod, pointing at the local servers."""
    postgres.ensure_database("app", DATABASE_PASSWORD, database)
    redis_url = redis.url(REDIS_DATABASE)
    return {
        "DJANGO_SETTINGS_MODULE": "config.settings",
        "DJANGO_SECRET_KEY": random_token(),
        "DJANGO_ALLOWED_HOSTS": f"{HOST},web",
        "DJANGO_CSRF_TRUSTED_ORIGINS": f"https://{HOST}",
        "DATABASE_URL": f"postgres://app:{DATABASE_PASSWORD}@127.0.0.1:{postgres.port}/{database}",
        "REDIS_URL": redis_url,
        "CELERY_BROKER_URL": redis_url,
        "DJANGO_STATIC_ROOT": str(static_root),
        "HEARTBEAT_INTERVAL_SECONDS": "1",
        "DJANGOSTACK_RELEASE": RELEASE,
    }


@pytest.fixture(scope="session")
def app(
    postgres: PostgresServer, redis_server: RedisServer, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[AppProcesses]:
    """A migrated database with collected static files, and a place for the app's processes."""
    root = tmp_path_factory.mktemp("app")
    processes = AppProcesses(
        root, contract_env(postgres, redis_server, "app_tests", root / "static")
    )
    processes.manage("collectstatic", "--noinput")
    processes.manage("migrate", "--noinput")
    try:
        yield processes
    finally:
        processes.stop_all()


@dataclass(frozen=True)
class Web:
    client: Client
    processes: AppProcesses
    metrics_port: int

    @property
    def scraper(self) -> Client:
        """Prometheus: directly at the metrics port."""
        return Client(self.metrics_port, headers={"Host": f"10.0.0.7:{self.metrics_port}"})


@pytest.fixture(scope="session")
def web(app: AppProcesses) -> Web:
    """gunicorn with two workers, exactly as the operator starts it (binds, app module and
    the metrics port in the environment)."""
    port, metrics_port = free_port(), free_port()
    app.start(
        "web",
        ["gunicorn", f"--bind=127.0.0.1:{port}", f"--bind=127.0.0.1:{metrics_port}",
         "config.wsgi:application"],
        env={"DJANGOSTACK_METRICS_PORT": str(metrics_port)},
    )  # fmt: skip
    client = Client(port)
    app.wait_ready("web", client)
    return Web(client, app, metrics_port)


@pytest.fixture(scope="session")
def worker(app: AppProcesses) -> None:
    app.start(
        "worker",
        ["celery", "--app=config", "worker", "--queues=celery", "--concurrency=2",
         "--hostname=default@%h", "--loglevel=INFO"],
    )  # fmt: skip


@pytest.fixture(scope="session")
def beat(app: AppProcesses, tmp_path_factory: pytest.TempPathFactory) -> None:
    folder = tmp_path_factory.mktemp("beat")
    app.start(
        "beat",
        ["celery", "--app=config", "beat", f"--schedule={folder}/celerybeat-schedule",
         f"--pidfile={folder}/celerybeat.pid", "--loglevel=INFO"],
    )  # fmt: skip


@dataclass(frozen=True)
class Users:
    alice: Client  # staff, superuser
    bob: Client
    alice_password: str


@pytest.fixture(scope="session")
def users(web: Web) -> Users:
    """Two users created with manage.py, each with a token obtained through the API."""
    passwords = {"alice": random_token(), "bob": random_token()}
    web.processes.manage(
        "createsuperuser", "--noinput", "--username=alice", "--email=alice@example.com",
        env={"DJANGO_SUPERUSER_PASSWORD": passwords["alice"]},
    )  # fmt: skip
    web.processes.manage(
        "shell", "-c",
        "from django.contrib.auth import get_user_model; "
        f"get_user_model().objects.create_user('bob', password='{passwords['bob']}')",
    )  # fmt: skip
    tokens = {}
    for name, password in passwords.items():
        reply = web.client.post("/api/auth/token/", {"username": name, "password": password})
        assert reply.status == 200, reply.text
        tokens[name] = reply.json()["token"]
    return Users(
        web.client.as_user(tokens["alice"]),
        web.client.as_user(tokens["bob"]),
        passwords["alice"],
    )
