"""The local postgres and redis images honour the contract the renderer relies on: the
renderer's own StatefulSets and Services for a stack, applied on the real node, initialise,
pass their probes, and authenticate with the password from the stack's Secret."""

from __future__ import annotations

import secrets
import subprocess
from typing import Any

from kubernetes import client

from djangostack_devcluster.cluster import LocalCluster
from djangostack_operator.render.datastore import postgres_objects, redis_objects
from djangostack_operator.render.pod import PASSWORD_KEY
from tests.factories import make_stack
from tests.kube_helpers import kubectl, wait_for


def create_rendered(
    api_client: client.ApiClient, namespace: str, objects: list[dict[str, Any]]
) -> None:
    """Create what the renderer made, without the owner (no DjangoStack exists here: the
    garbage collector would delete what an absent owner owns)."""
    core, apps = client.CoreV1Api(api_client), client.AppsV1Api(api_client)
    for body in objects:
        body["metadata"].pop("ownerReferences", None)
        body["metadata"]["namespace"] = namespace
        if body["kind"] == "Service":
            core.create_namespaced_service(namespace, body)
        elif body["kind"] == "ConfigMap":
            core.create_namespaced_config_map(namespace, body)
        elif body["kind"] == "StatefulSet":
            apps.create_namespaced_stateful_set(namespace, body)
        else:
            raise AssertionError(f"unexpected {body['kind']}")


def create_password_secret(core: client.CoreV1Api, namespace: str, name: str) -> str:
    password = secrets.token_urlsafe(24)
    core.create_namespaced_secret(
        namespace,
        client.V1Secret(
            metadata=client.V1ObjectMeta(name=name), string_data={PASSWORD_KEY: password}
        ),
    )
    return password


def wait_statefulset_ready(apps: client.AppsV1Api, namespace: str, name: str) -> None:
    wait_for(
        f"StatefulSet {name} ready (its exec probes pass)",
        lambda: (
            (apps.read_namespaced_stateful_set(name, namespace).status.ready_replicas or 0) == 1
        ),
        timeout=180,
    )


def exec_in(
    cluster: LocalCluster, namespace: str, pod: str, *argv: str
) -> subprocess.CompletedProcess[str]:
    return kubectl(cluster, "exec", "-n", namespace, pod, "--", *argv)


def exec_through_service(
    cluster: LocalCluster, namespace: str, pod: str, *argv: str
) -> subprocess.CompletedProcess[str]:
    """Run a client that connects through the Service, once kube-proxy routes it: the pod's
    readiness reaches the EndpointSlice and then kube-proxy's rules a moment later, and until
    then the ClusterIP rejects with "No route to host". Any other failure is the result."""
    last: list[subprocess.CompletedProcess[str]] = []

    def routed() -> bool:
        last[:] = [exec_in(cluster, namespace, pod, *argv)]
        return "No route to host" not in last[0].stdout + last[0].stderr

    try:
        wait_for(f"the Service to route to {pod}", routed, timeout=30)
    except AssertionError as error:
        raise AssertionError(f"{error}: {last[0].stderr}") from None
    return last[0]


def test_the_postgres_image_initialises_from_the_renderers_env_and_requires_the_password(
    core: client.CoreV1Api,
    apps: client.AppsV1Api,
    api_client: client.ApiClient,
    real_namespace: str,
    local_cluster: LocalCluster,
) -> None:
    stack = make_stack(namespace=real_namespace)
    managed = stack.spec.database.managed
    assert managed is not None
    password = create_password_secret(core, real_namespace, stack.names.postgres_secret)
    superuser = create_password_secret(core, real_namespace, stack.names.postgres_superuser_secret)
    create_rendered(api_client, real_namespace, postgres_objects(stack))
    wait_statefulset_ready(apps, real_namespace, stack.names.postgres)

    pod = f"{stack.names.postgres}-0"
    # Over TCP through the Service, as the app connects: scram-sha-256 with the Secret's password.
    url = f"postgresql://{managed.username}:{password}@{stack.names.postgres}:5432/{managed.database_name}"
    sql = "select current_user, current_database()"
    query = exec_through_service(local_cluster, real_namespace, pod, "psql", url, "-Atc", sql)
    assert query.returncode == 0, query.stderr
    assert query.stdout.strip() == f"{managed.username}|{managed.database_name}"

    wrong = url.replace(password, "not-the-password")
    refused = exec_in(local_cluster, real_namespace, pod, "psql", wrong, "-Atc", "select 1")
    assert refused.returncode != 0
    assert "password authentication failed" in refused.stderr

    # The app's role owns its database and nothing more.
    def as_app(sql: str, database: str = managed.database_name) -> subprocess.CompletedProcess[str]:
        target = url.rsplit("/", 1)[0] + f"/{database}"
        return exec_in(local_cluster, real_namespace, pod, "psql", target, "-Atc", sql)

    owner = as_app(
        "select pg_get_userbyid(datdba) from pg_database where datname = current_database()"
    )
    assert owner.stdout.strip() == managed.username, owner.stderr
    migrated = as_app("create table t (id int); insert into t values (1); drop table t")
    assert migrated.returncode == 0, migrated.stderr  # what migrations do
    attributes = as_app(
        "select rolsuper, rolcreaterole, rolcreatedb from pg_roles where rolname = current_user"
    )
    assert attributes.stdout.strip() == "f|f|f", attributes.stdout + attributes.stderr
    denied = {
        "create role": as_app("create role intruder login"),
        "pg_authid": as_app("select rolpassword from pg_authid"),
        "create database": as_app("create database other"),
        "database postgres": as_app("select 1", database="postgres"),
        "database template1": as_app("select 1", database="template1"),
    }
    for what, attempt in denied.items():
        assert attempt.returncode != 0, what
        assert "permission denied" in attempt.stderr, (what, attempt.stderr)
    # The superuser has a password of its own (which no app pod is given).
    admin = f"postgresql://postgres:{superuser}@{stack.names.postgres}:5432/postgres"
    as_superuser = "select rolsuper, current_setting('data_directory') from pg_roles"
    check = exec_in(local_cluster, real_namespace, pod, "psql", admin, "-Atc",
                    f"{as_superuser} where rolname = current_user")  # fmt: skip
    assert check.stdout.strip() == "t|/var/lib/postgresql/data/pgdata", check.stderr
    wrong_admin = admin.replace(superuser, password)
    wrong = exec_in(local_cluster, real_namespace, pod, "psql", wrong_admin, "-Atc", "select 1")
    assert "password authentication failed" in wrong.stderr

    # What the backup scripts need is in the image.
    tools = exec_in(
        local_cluster, real_namespace, pod, "bash", "-c", "type -P pg_dump psql gzip bash"
    )
    assert tools.returncode == 0 and len(tools.stdout.split()) == 4, tools.stdout + tools.stderr


def test_the_redis_image_runs_the_renderers_command_and_requires_the_password(
    core: client.CoreV1Api,
    apps: client.AppsV1Api,
    api_client: client.ApiClient,
    real_namespace: str,
    local_cluster: LocalCluster,
) -> None:
    stack = make_stack(namespace=real_namespace)
    create_password_secret(core, real_namespace, stack.names.redis_secret)
    create_rendered(api_client, real_namespace, redis_objects(stack))
    wait_statefulset_ready(apps, real_namespace, stack.names.redis)

    pod = f"{stack.names.redis}-0"
    service = stack.names.redis
    # The container's REDISCLI_AUTH holds the Secret's password; through the Service it works...
    ping = exec_through_service(
        local_cluster, real_namespace, pod, "redis-cli", "-h", service, "ping"
    )
    assert ping.returncode == 0 and ping.stdout.strip() == "PONG", ping.stdout + ping.stderr
    # ...and without it the server refuses.
    refused = exec_in(local_cluster, real_namespace, pod, "env", "-u", "REDISCLI_AUTH",
                      "redis-cli", "-h", service, "ping")  # fmt: skip
    assert "NOAUTH" in refused.stdout + refused.stderr
