"""NetworkPolicies derived from the stack's topology: one per component, each pod reachable
only by what the stack needs.

- PostgreSQL accepts the stack's web, worker, beat, migrations, one-off command (manage),
  backup and restore pods; Redis its web, worker, beat and manage pods; web the Ingress
  controller on its HTTP port and the metrics scraper on its metrics port
  (spec.networkPolicy.ingressFrom, metricsFrom); the rest accept nothing.
- Egress: every pod may resolve names (port 53, any address: cluster DNS runs as pods, on
  the nodes or in a node-local cache). The data services reach nothing else; the app tiers
  and Jobs reach the stack's PostgreSQL and Redis, unless spec.networkPolicy.appEgress is
  Unrestricted or the database or Redis is external (its address is in a Secret the
  operator never reads), when their egress is not restricted.

Rendered first (render.render), so a pod never runs before the policy that covers it.
"""

from __future__ import annotations

from typing import Any

from djangostack_operator import vocabulary as keys
from djangostack_operator.render import meta
from djangostack_operator.render.backup import BACKUP, RESTORE
from djangostack_operator.render.datastore import POSTGRES, REDIS
from djangostack_operator.render.django import BEAT, MANAGE, MIGRATIONS, WEB, WORKER
from djangostack_operator.render.pod import POSTGRES_PORT, REDIS_PORT
from djangostack_operator.spec import DjangoStack, NetworkPeer

APP_CLIENTS = (WEB, WORKER, BEAT, MANAGE)
DATABASE_CLIENTS = (WEB, WORKER, BEAT, MIGRATIONS, MANAGE, BACKUP, RESTORE)
DNS_PORT = 53


def _stack_pods(stack: DjangoStack, *components: str) -> dict[str, Any]:
    """A podSelector of the stack's pods of these components."""
    selector = meta.selector_labels(stack, components[0])
    del selector[keys.COMPONENT]
    return {
        "matchLabels": selector,
        "matchExpressions": [
            {"key": keys.COMPONENT, "operator": "In", "values": sorted(components)}
        ],
    }


def _peer(peer: NetworkPeer) -> dict[str, Any]:
    dumped: dict[str, Any] = peer.model_dump(mode="json", by_alias=True, exclude_none=True)
    for selector in dumped.values():
        # The API drops empty fields: writing them would be a change on every comparison.
        for field in ("matchLabels", "matchExpressions"):
            if not selector.get(field):
                selector.pop(field, None)
    return dumped


def _tcp(port: int) -> dict[str, Any]:
    return {"protocol": "TCP", "port": port}


DNS = {"ports": [{"protocol": "UDP", "port": DNS_PORT}, {"protocol": "TCP", "port": DNS_PORT}]}


def _policy(
    stack: DjangoStack,
    component: str,
    ingress: list[dict[str, Any]],
    egress: list[dict[str, Any]] | None,
) -> dict[str, Any]:
    """`egress` None: egress is not restricted."""
    spec: dict[str, Any] = {
        "podSelector": {"matchLabels": meta.selector_labels(stack, component)},
        "policyTypes": ["Ingress"] if egress is None else ["Ingress", "Egress"],
        "ingress": ingress,
    }
    if egress is not None:
        spec["egress"] = egress
    return {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "NetworkPolicy",
        "metadata": meta.metadata(stack, f"{stack.name}-{component}", component),
        "spec": spec,
    }


def _data_egress(stack: DjangoStack, *, database: bool, redis: bool) -> list[dict[str, Any]]:
    rules: list[dict[str, Any]] = [DNS]
    if database:
        rules.append({"to": [{"podSelector": _stack_pods(stack, POSTGRES)}],
                      "ports": [_tcp(POSTGRES_PORT)]})  # fmt: skip
    if redis:
        rules.append({"to": [{"podSelector": _stack_pods(stack, REDIS)}],
                      "ports": [_tcp(REDIS_PORT)]})  # fmt: skip
    return rules


def _from_stack(stack: DjangoStack, components: tuple[str, ...], port: int) -> list[Any]:
    return [{"from": [{"podSelector": _stack_pods(stack, *components)}], "ports": [_tcp(port)]}]


def network_policies(stack: DjangoStack) -> list[dict[str, Any]]:
    spec = stack.spec
    policy = spec.network_policy
    if not policy.enabled:
        return []
    managed_db = spec.database.managed is not None
    managed_redis = spec.redis.managed is not None
    unrestricted = policy.app_egress == "Unrestricted"
    app_egress = (
        None
        if unrestricted or not (managed_db and managed_redis)
        else _data_egress(stack, database=True, redis=True)
    )
    job_egress = (
        None if unrestricted or not managed_db else _data_egress(stack, database=True, redis=False)
    )
    # A rule with no peers would admit every source: an empty list gets no rule at all.
    web_ingress = [
        {"from": [_peer(peer) for peer in peers], "ports": [_tcp(port)]}
        for peers, port in (
            (policy.ingress_from, spec.web.port),
            (policy.metrics_from, spec.web.metrics_port),
        )
        if peers
    ]
    policies = [
        _policy(stack, WEB, web_ingress, app_egress),
        _policy(stack, WORKER, [], app_egress),
        _policy(stack, BEAT, [], app_egress),
        _policy(stack, MIGRATIONS, [], app_egress),
        _policy(stack, MANAGE, [], app_egress),
        _policy(stack, BACKUP, [], job_egress),
        _policy(stack, RESTORE, [], job_egress),
    ]
    if managed_db:
        accepting = _from_stack(stack, DATABASE_CLIENTS, POSTGRES_PORT)
        policies.append(_policy(stack, POSTGRES, accepting, [DNS]))
    if managed_redis:
        accepting = _from_stack(stack, APP_CLIENTS, REDIS_PORT)
        policies.append(_policy(stack, REDIS, accepting, [DNS]))
    return policies
