"""The stack's NetworkPolicies, read the way the API defines them: who may reach whom.

A small evaluator of the NetworkPolicy semantics the renderer uses (podSelector and
namespaceSelector with matchLabels and In expressions, ports) answers, for rendered pod
labels, whether a connection is allowed. The real node enforces the same policies
(tests/cluster/test_end_to_end.py)."""

from __future__ import annotations

from typing import Any

import pytest

from djangostack_operator.render import render
from djangostack_operator.spec import DjangoStack
from tests.factories import make_stack

Pod = tuple[str, dict[str, str]]  # (namespace, labels)
NAMESPACE = "shop-ns"
NAMESPACE_LABELS = {
    "shop-ns": {"kubernetes.io/metadata.name": "shop-ns"},
    "other": {"kubernetes.io/metadata.name": "other"},
    "ingress-nginx": {"kubernetes.io/metadata.name": "ingress-nginx"},
    "monitoring": {"kubernetes.io/metadata.name": "monitoring"},
}


def selects(selector: dict[str, Any], labels: dict[str, str]) -> bool:
    if any(labels.get(k) != v for k, v in selector.get("matchLabels", {}).items()):
        return False
    for requirement in selector.get("matchExpressions", []):
        assert requirement["operator"] == "In", requirement
        if labels.get(requirement["key"]) not in requirement["values"]:
            return False
    return True


def peer_matches(peer: dict[str, Any], pod: Pod) -> bool:
    namespace, labels = pod
    if "namespaceSelector" in peer:
        if not selects(peer["namespaceSelector"], NAMESPACE_LABELS[namespace]):
            return False
    elif namespace != NAMESPACE:
        return False
    return "podSelector" not in peer or selects(peer["podSelector"], labels)


def port_matches(rule: dict[str, Any], port: int, protocol: str) -> bool:
    ports = rule.get("ports")
    return not ports or any(p["port"] == port and p["protocol"] == protocol for p in ports)


def policies_of(objects: list[dict[str, Any]], pod: Pod, kind: str) -> list[dict[str, Any]]:
    return [
        o["spec"] for o in objects
        if o["kind"] == "NetworkPolicy" and pod[0] == NAMESPACE
        and selects(o["spec"]["podSelector"], pod[1]) and kind in o["spec"]["policyTypes"]
    ]  # fmt: skip


def admits(
    objects: list[dict[str, Any]], pod: Pod, direction: str, other: Pod, port: int, protocol: str
) -> bool:
    """The policies selecting `pod` in `direction` ("Ingress", "Egress") let it talk to
    `other` (an empty or missing peer list matches every peer, as the API defines)."""
    policies = policies_of(objects, pod, direction)
    rules_key, peers_key = ("ingress", "from") if direction == "Ingress" else ("egress", "to")
    return not policies or any(
        port_matches(rule, port, protocol)
        and (not rule.get(peers_key) or any(peer_matches(p, other) for p in rule[peers_key]))
        for policy in policies
        for rule in policy.get(rules_key, [])
    )


def allowed(
    objects: list[dict[str, Any]], client: Pod, server: Pod, port: int, protocol: str = "TCP"
) -> bool:
    """Both the client's egress and the server's ingress allow the connection."""
    return admits(objects, client, "Egress", server, port, protocol) and admits(
        objects, server, "Ingress", client, port, protocol
    )


def pods(stack: DjangoStack) -> dict[str, Pod]:
    """The rendered pods of each component, by their template labels."""
    found: dict[str, Pod] = {}
    for obj in render(stack):
        spec = obj.get("spec", {})
        template = spec.get("template") or spec.get("jobTemplate", {}).get("spec", {}).get(
            "template"
        )
        if template:
            labels = template["metadata"]["labels"]
            found[labels["app.kubernetes.io/component"]] = (NAMESPACE, labels)
    return found


STACK = make_stack(backup={"enabled": True}, database={"managed": {}, "restoreFrom": "latest"})
POD = pods(STACK)
OBJECTS = render(STACK)
OTHER_STACK = {**POD["web"][1], "app.kubernetes.io/instance": "blog"}
STRANGERS: dict[str, Pod] = {
    "a pod of another stack": (NAMESPACE, OTHER_STACK),
    "an unlabelled pod of the namespace": (NAMESPACE, {}),
    "a pod of another namespace with the stack's labels": ("other", POD["web"][1]),
}
INGRESS_CONTROLLER: Pod = ("ingress-nginx", {"app": "controller"})
PROMETHEUS: Pod = ("monitoring", {"app": "prometheus"})
DNS_SERVER: Pod = ("kube-system", {"k8s-app": "kube-dns"})


def test_every_component_has_a_policy() -> None:
    assert set(POD) == {"web", "worker", "beat", "migrations", "backup", "restore", "postgres",
                        "redis"}  # fmt: skip
    for component, pod in POD.items():
        assert policies_of(OBJECTS, pod, "Ingress"), component


@pytest.mark.parametrize("client", ["web", "worker", "beat", "migrations", "backup", "restore"])
def test_postgres_accepts_the_stacks_app_and_job_pods(client: str) -> None:
    assert allowed(OBJECTS, POD[client], POD["postgres"], 5432)


@pytest.mark.parametrize("client", ["web", "worker", "beat"])
def test_redis_accepts_web_worker_and_beat(client: str) -> None:
    assert allowed(OBJECTS, POD[client], POD["redis"], 6379)


@pytest.mark.parametrize("client", ["migrations", "backup", "restore", "postgres"])
def test_redis_refuses_the_rest_of_the_stack(client: str) -> None:
    assert not allowed(OBJECTS, POD[client], POD["redis"], 6379)


@pytest.mark.parametrize("stranger", STRANGERS)
@pytest.mark.parametrize("server", ["postgres", "redis", "web", "worker"])
def test_nothing_outside_the_stack_reaches_its_pods(stranger: str, server: str) -> None:
    port = {"postgres": 5432, "redis": 6379, "web": 8000, "worker": 8000}[server]
    assert not allowed(OBJECTS, STRANGERS[stranger], POD[server], port)


def test_web_accepts_the_ingress_controller_and_prometheus_each_on_its_own_port() -> None:
    assert allowed(OBJECTS, INGRESS_CONTROLLER, POD["web"], 8000)
    assert allowed(OBJECTS, PROMETHEUS, POD["web"], 9100)
    assert not allowed(OBJECTS, INGRESS_CONTROLLER, POD["web"], 9100)
    assert not allowed(OBJECTS, PROMETHEUS, POD["web"], 8000)
    assert not allowed(OBJECTS, INGRESS_CONTROLLER, POD["web"], 22)
    assert not allowed(OBJECTS, INGRESS_CONTROLLER, POD["postgres"], 5432)
    assert not allowed(OBJECTS, POD["worker"], POD["web"], 8000)


@pytest.mark.parametrize("component", list(POD))
def test_every_pod_resolves_names_and_app_pods_reach_nothing_else(component: str) -> None:
    assert allowed(OBJECTS, POD[component], DNS_SERVER, 53, "UDP")
    assert allowed(OBJECTS, POD[component], DNS_SERVER, 53, "TCP")
    outside = ("other", {"app": "api"})
    assert not allowed(OBJECTS, POD[component], outside, 443)
    other_postgres = (NAMESPACE, {**POD["postgres"][1], "app.kubernetes.io/instance": "blog"})
    assert not allowed(OBJECTS, POD[component], other_postgres, 5432)


def test_unrestricted_or_external_services_open_the_apps_egress() -> None:
    outside = ("other", {"app": "api"})
    unrestricted = render(make_stack(networkPolicy={"appEgress": "Unrestricted"}))
    database = {"managed": None, "external": {"urlSecretRef": {"name": "db"}}}
    external = render(make_stack(database=database))
    for objects in (unrestricted, external):
        for component in ("web", "worker", "beat", "migrations"):
            assert allowed(objects, POD[component], outside, 443), component
        # Ingress stays as tight.
        assert not allowed(objects, STRANGERS["a pod of another stack"], POD["web"], 8000)
    # Data services never get more egress than DNS.
    assert not allowed(unrestricted, POD["postgres"], outside, 443)


def test_the_peers_are_the_users_and_policies_can_be_turned_off() -> None:
    mine = render(make_stack(networkPolicy={
        "ingressFrom": [{"namespaceSelector": {"matchLabels": {"team": "edge"}},
                         "podSelector": {"matchLabels": {"app": "proxy"}}}],
        "metricsFrom": [],
    }))  # fmt: skip
    NAMESPACE_LABELS["edge"] = {"team": "edge"}
    assert allowed(mine, ("edge", {"app": "proxy"}), POD["web"], 8000)
    assert not allowed(mine, ("edge", {"app": "other"}), POD["web"], 8000)
    assert not allowed(mine, INGRESS_CONTROLLER, POD["web"], 8000)
    # No metrics peers: nobody reaches the metrics port (an empty rule would admit anyone).
    assert not allowed(mine, PROMETHEUS, POD["web"], 9100)
    assert not allowed(mine, ("other", {}), POD["web"], 9100)
    none = render(make_stack(networkPolicy={"ingressFrom": [], "metricsFrom": []}))
    assert not allowed(none, INGRESS_CONTROLLER, POD["web"], 8000)
    assert not [o for o in render(make_stack(networkPolicy={"enabled": False}))
                if o["kind"] == "NetworkPolicy"]  # fmt: skip
