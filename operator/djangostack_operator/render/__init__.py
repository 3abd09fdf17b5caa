"""Pure builders: a DjangoStack (plus a RenderContext) in, plain Kubernetes objects out.

No I/O, no randomness, no clock: rendering the same input twice gives the same objects.
A builder returns None (or an empty list) for an object that should not exist, so that the
reconciler can prune it.
"""

from __future__ import annotations

import copy
from typing import Any

from djangostack_operator.render import (
    backup,
    datastore,
    django,
    ingress,
    meta,
    monitoring,
    networkpolicy,
)
from djangostack_operator.render.pod import Release, RenderContext
from djangostack_operator.spec import DjangoStack

__all__ = ["Release", "RenderContext", "render"]


def render(stack: DjangoStack, context: RenderContext | None = None) -> list[dict[str, Any]]:
    """Every child object of the stack, in apply order.

    NetworkPolicies come first (no pod runs before the policy covering it), then the data
    services, then the migrations Job, then the tiers that run the release,
    then the edge and the backups.
    """
    context = context or RenderContext()
    candidates: list[dict[str, Any] | None] = [
        *networkpolicy.network_policies(stack),
        *datastore.postgres_objects(stack),
        *datastore.redis_objects(stack),
        django.migrations_job(stack, context),
        django.web_deployment(stack, context),
        django.web_service(stack),
        django.web_pdb(stack),
        django.web_hpa(stack),
        *django.worker_deployments(stack, context),
        *django.worker_pdbs(stack),
        django.beat_deployment(stack, context),
        ingress.ingress(stack),
        monitoring.pod_monitor(stack),
        *backup.backup_objects(stack),
        backup.restore_job(stack),
        backup.on_demand_backup_job(stack),
    ]
    # Every child says which release it belongs to (the migrations Job: the one it migrates).
    serving = django.serving_release(stack, context).image
    # Independent copies: builders share small constant parts, callers may mutate the result.
    return [meta.with_version(copy.deepcopy(obj), serving) for obj in candidates if obj is not None]
