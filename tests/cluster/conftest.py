"""Fixtures for tests against the real local control plane.

One cluster per test session (its own state folder, so a developer's `make cluster-up` is
never touched) with kwok's fake node and the machine's real node, and a fresh namespace per
test that is deleted afterwards, waiting until the deletion has really completed. A test's
namespace puts its pods on the fake node unless the test asks for the real one
(`real_namespace`).

Tests marked `owns_real_node` run after all others: they stop the session's cluster first,
since there is one real node per machine.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
import yaml
from kubernetes import client, config
from kubernetes.client.exceptions import ApiException

from djangostack_devcluster import tools, topology
from djangostack_devcluster.cluster import LocalCluster
from tests.factories import REPO
from tests.infrastructure import missing_infrastructure
from tests.kube_helpers import namespace_body, wait_for, wait_gone
from tests.operator_process import OperatorProcess

SESSION_CLUSTERS = pytest.StashKey[list[LocalCluster]]()


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Tests that need the machine's real node for themselves go last."""
    items.sort(key=lambda item: item.get_closest_marker("owns_real_node") is not None)


@pytest.fixture(scope="session")
def local_cluster(
    tmp_path_factory: pytest.TempPathFactory, request: pytest.FixtureRequest
) -> Iterator[LocalCluster]:
    toolset = tools.installed()
    if toolset is None:
        missing_infrastructure("cluster binaries are not installed")
    assert toolset is not None
    cluster = LocalCluster(tmp_path_factory.mktemp("cluster"), toolset)
    request.config.stash.setdefault(SESSION_CLUSTERS, []).append(cluster)
    cluster.up(attached=True)
    try:
        yield cluster
    finally:
        cluster.down(quiet=True)


@pytest.fixture
def exclusive_real_node(request: pytest.FixtureRequest) -> list[LocalCluster]:
    """Stop the session's cluster, if it runs, so that the test may start its own real node;
    returns the clusters it stopped."""
    stopped = request.config.stash.get(SESSION_CLUSTERS, [])
    if stopped:
        # The namespaces deleted so far must be gone while the apiserver still answers.
        reaper: NamespaceReaper = request.getfixturevalue("namespace_reaper")
        reaper.wait_all_gone()
    for cluster in stopped:
        cluster.down(quiet=True)
    return stopped


@pytest.fixture(scope="session")
def kubeconfig(local_cluster: LocalCluster) -> Path:
    return local_cluster.kubeconfig


@pytest.fixture(scope="session")
def api_client(kubeconfig: Path) -> Iterator[client.ApiClient]:
    api = config.new_client_from_config(config_file=str(kubeconfig))
    try:
        yield api
    finally:
        api.close()


@pytest.fixture(scope="session")
def core(api_client: client.ApiClient) -> client.CoreV1Api:
    return client.CoreV1Api(api_client)


@pytest.fixture(scope="session")
def apps(api_client: client.ApiClient) -> client.AppsV1Api:
    return client.AppsV1Api(api_client)


@pytest.fixture(scope="session")
def batch(api_client: client.ApiClient) -> client.BatchV1Api:
    return client.BatchV1Api(api_client)


class NamespaceReaper:
    """Deletes test namespaces at once and checks, at the end of the session, that every
    deletion completed: the namespace controller takes 5-15 s per namespace, and waiting for
    each in turn would dominate the run."""

    def __init__(self, core: client.CoreV1Api) -> None:
        self.core = core
        self.deleted: list[str] = []

    def delete(self, name: str) -> None:
        self.core.delete_namespace(name)
        self.deleted.append(name)

    def wait_all_gone(self) -> None:
        for name in self.deleted:
            wait_gone(f"namespace {name}", lambda n=name: self.core.read_namespace(n), timeout=180)
        self.deleted.clear()


@pytest.fixture(scope="session")
def namespace_reaper(core: client.CoreV1Api) -> Iterator[NamespaceReaper]:
    reaper = NamespaceReaper(core)
    yield reaper
    reaper.wait_all_gone()


@contextmanager
def fresh_namespace(
    reaper: NamespaceReaper, hint: str, prefix: str = "", node_type: str = topology.FAKE_NODE_TYPE
) -> Iterator[str]:
    """A new namespace with its default ServiceAccount whose pods land on `node_type`;
    deleted afterwards (see the reaper)."""
    core = reaper.core
    slug = re.sub(r"[^a-z0-9]+", "-", hint.lower()).strip("-")[:40].strip("-")
    name = f"{prefix}{slug}-{uuid.uuid4().hex[:6]}"
    core.create_namespace(namespace_body(name, node_type))
    # Generous: after the apiserver-outage test the controller-manager's watches back off for
    # a while before its ServiceAccount controller sees new namespaces again.
    wait_for(
        f"default ServiceAccount in {name}",
        lambda: core.read_namespaced_service_account("default", name),
        timeout=180,
    )
    try:
        yield name
    finally:
        reaper.delete(name)


@pytest.fixture
def namespace(namespace_reaper: NamespaceReaper, request: pytest.FixtureRequest) -> Iterator[str]:
    """A fresh namespace per test, named after it."""
    with fresh_namespace(namespace_reaper, request.node.name) as name:
        yield name


@pytest.fixture
def real_namespace(
    namespace_reaper: NamespaceReaper, request: pytest.FixtureRequest
) -> Iterator[str]:
    """A fresh namespace whose pods run as real containers on the real node."""
    with fresh_namespace(
        namespace_reaper, request.node.name, node_type=topology.REAL_NODE_TYPE
    ) as name:
        yield name


@pytest.fixture(scope="module")
def module_namespace(
    namespace_reaper: NamespaceReaper, request: pytest.FixtureRequest
) -> Iterator[str]:
    """One namespace for a module whose tests create nothing that outlives them."""
    with fresh_namespace(namespace_reaper, request.module.__name__.rsplit(".", 1)[-1]) as name:
        yield name


@pytest.fixture(scope="session")
def djangostack_crd(api_client: client.ApiClient) -> dict[str, Any]:
    """The generated CRD (crds/djangostacks.yaml), installed and Established."""
    extensions = client.ApiextensionsV1Api(api_client)
    crd: dict[str, Any] = yaml.safe_load((REPO / "crds" / "djangostacks.yaml").read_text())
    name = crd["metadata"]["name"]
    try:
        extensions.create_custom_resource_definition(crd)
    except ApiException as error:
        if error.status != 409:
            raise
        current = extensions.read_custom_resource_definition(name)
        crd["metadata"]["resourceVersion"] = current.metadata.resource_version
        extensions.replace_custom_resource_definition(name, crd)

    def established() -> bool:
        status = extensions.read_custom_resource_definition(name).status
        return any(c.type == "Established" and c.status == "True" for c in status.conditions or [])

    wait_for(f"CRD {name} to be established", established)
    return crd


@pytest.fixture(scope="session")
def shared_operator(
    kubeconfig: Path,
    djangostack_crd: dict[str, Any],
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[OperatorProcess]:
    """One operator for the tests that do not stop it: it watches the namespaces op-*."""
    log = tmp_path_factory.mktemp("operator") / "shared-operator.log"
    operator = OperatorProcess(kubeconfig, log, ["op-*"]).start()
    try:
        yield operator
    finally:
        operator.stop()


@pytest.fixture
def op_namespace(
    namespace_reaper: NamespaceReaper,
    shared_operator: OperatorProcess,
    request: pytest.FixtureRequest,
) -> Iterator[str]:
    """A fresh namespace watched by the shared operator."""
    with fresh_namespace(namespace_reaper, request.node.name, prefix="op-") as name:
        yield name


@pytest.fixture
def solo_namespace(
    namespace_reaper: NamespaceReaper,
    djangostack_crd: dict[str, Any],
    request: pytest.FixtureRequest,
) -> Iterator[str]:
    """A fresh namespace no shared operator watches: the test runs its own (solo_operator)."""
    with fresh_namespace(namespace_reaper, request.node.name, prefix="solo-") as name:
        yield name


@pytest.fixture
def solo_operator(
    kubeconfig: Path, solo_namespace: str, tmp_path: Path
) -> Iterator[Callable[..., OperatorProcess]]:
    """Start operators that watch only the test's solo namespace; all are stopped afterwards."""
    started: list[OperatorProcess] = []

    def start(resync_seconds: float = 30) -> OperatorProcess:
        log = tmp_path / f"operator-{len(started)}.log"
        operator = OperatorProcess(kubeconfig, log, [solo_namespace], resync_seconds)
        started.append(operator)
        return operator.start()

    try:
        yield start
    finally:
        for operator in started:
            operator.kill()


@contextmanager
def installed_pod_monitor_crd(api_client: client.ApiClient) -> Iterator[str]:
    """prometheus-operator's PodMonitor CRD (tools.ensure_monitoring_crds), installed and
    Established, and removed afterwards, so that other tests meet a cluster without it."""
    extensions = client.ApiextensionsV1Api(api_client)
    (path,) = [p for p in tools.ensure_monitoring_crds() if "podmonitors" in p.name]
    crd = yaml.safe_load(path.read_text())
    name = crd["metadata"]["name"]
    extensions.create_custom_resource_definition(crd)
    try:

        def established() -> bool:
            status = extensions.read_custom_resource_definition(name).status
            return any(
                c.type == "Established" and c.status == "True" for c in status.conditions or []
            )

        wait_for(f"CRD {name} to be established", established)
        yield name
    finally:
        extensions.delete_custom_resource_definition(name)
        wait_gone(f"CRD {name}", lambda: extensions.read_custom_resource_definition(name))


@pytest.fixture
def pod_monitor_crd(api_client: client.ApiClient) -> Iterator[str]:
    with installed_pod_monitor_crd(api_client) as name:
        yield name
