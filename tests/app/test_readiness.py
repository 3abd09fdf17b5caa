"""/readyz reports each dependency; a stopped one turns it 503 and is named."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from djangostack_devcluster.processes import free_port
from djangostack_devcluster.services import PostgresServer, RedisServer
from tests.app.conftest import contract_env
from tests.app.http import Client
from tests.app.processes import AppProcesses
from tests.conftest import postgres_bin_dir, require_redis_server
from tests.kube_helpers import wait_for


@pytest.fixture
def own_services() -> Iterator[tuple[PostgresServer, RedisServer]]:
    """A PostgreSQL and a Redis of this test alone: it stops them."""
    require_redis_server()
    postgres = PostgresServer(postgres_bin_dir()).start()
    redis = RedisServer("readiness-test-password").start()
    try:
        postgres.wait_ready()
        yield postgres, redis
    finally:
        redis.stop()
        postgres.stop()


@pytest.fixture
def lonely_web(
    own_services: tuple[PostgresServer, RedisServer], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[Client, PostgresServer, RedisServer]]:
    postgres, redis = own_services
    root = tmp_path_factory.mktemp("readiness")
    app = AppProcesses(root, contract_env(postgres, redis, "readiness", root / "static"))
    app.manage("migrate", "--noinput")
    port = free_port()
    app.start(
        "web",
        ["gunicorn", f"--bind=127.0.0.1:{port}", "config.wsgi:application"],
        env={"GUNICORN_WORKERS": "1"},
    )
    client = Client(port)
    try:
        app.wait_ready("web", client)
        yield client.direct(), postgres, redis
    finally:
        app.stop_all()


def _readyz(client: Client) -> tuple[int, dict[str, dict[str, object]]]:
    reply = client.get("/readyz")
    return reply.status, reply.json()["checks"]


def test_stopped_database_fails_readiness_and_is_named(
    lonely_web: tuple[Client, PostgresServer, RedisServer],
) -> None:
    client, postgres, _ = lonely_web
    assert _readyz(client)[0] == 200

    postgres.stop(remove=False)
    _, checks = wait_for("/readyz to fail", lambda: (r := _readyz(client))[0] == 503 and r)
    assert checks["database"]["ok"] is False
    assert "OperationalError" in str(checks["database"]["error"])
    assert checks["cache"]["ok"] is True
    assert checks["broker"]["ok"] is True
    assert client.get("/healthz").status == 200  # liveness does no I/O: no restart

    postgres.start()
    wait_for("/readyz to recover", lambda: _readyz(client)[0] == 200)


def test_stopped_redis_fails_cache_and_broker(
    lonely_web: tuple[Client, PostgresServer, RedisServer],
) -> None:
    client, _, redis = lonely_web
    redis.stop(remove=False)
    _, checks = wait_for("/readyz to fail", lambda: (r := _readyz(client))[0] == 503 and r)
    assert checks["database"]["ok"] is True
    assert checks["cache"]["ok"] is False
    assert checks["broker"]["ok"] is False
    assert "ConnectionError" in str(checks["broker"]["error"])
    assert client.get("/healthz").status == 200
    # Through the Ingress: which check failed, and nothing of hosts, ports or error texts.
    public = Client(client.port).get("/readyz")
    assert public.status == 503
    assert public.json() == {
        "status": "unavailable",
        "checks": {"database": {"ok": True}, "cache": {"ok": False}, "broker": {"ok": False}},
    }
    assert str(redis.port) not in public.text
