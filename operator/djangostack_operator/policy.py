"""What the platform team allows every stack, set once for the operator (`djangostack run`).

Ingress annotations are controller configuration: copied through unfiltered, they would let
anyone who may edit a DjangoStack configure the cluster's Ingress controller for every
tenant (an nginx `server-snippet` runs arbitrary directives in the shared proxy). So only
keys on an allow-list reach the Ingress; a stack asking for another one is stalled, naming
the key, and its running children stay as they are.
"""

from __future__ import annotations

from dataclasses import dataclass

from djangostack_operator.spec import DjangoStack
from djangostack_operator.status_types import Reason

ALLOW_ANY = "*"
# Entries ending in "/" allow every key of that prefix; others allow exactly that key.
DEFAULT_INGRESS_ANNOTATIONS: tuple[str, ...] = (
    "cert-manager.io/",
    "acme.cert-manager.io/",
    "external-dns.alpha.kubernetes.io/",
    "traefik.ingress.kubernetes.io/router.entrypoints",
    "traefik.ingress.kubernetes.io/router.middlewares",
    "traefik.ingress.kubernetes.io/router.tls",
    "nginx.ingress.kubernetes.io/proxy-body-size",
    "nginx.ingress.kubernetes.io/proxy-read-timeout",
    "nginx.ingress.kubernetes.io/proxy-send-timeout",
    "nginx.ingress.kubernetes.io/ssl-redirect",
    "nginx.ingress.kubernetes.io/force-ssl-redirect",
    "nginx.ingress.kubernetes.io/limit-rps",
    "nginx.ingress.kubernetes.io/limit-connections",
)


@dataclass(frozen=True)
class Policy:
    ingress_annotations: tuple[str, ...] = DEFAULT_INGRESS_ANNOTATIONS

    def allows_ingress_annotation(self, key: str) -> bool:
        return any(
            entry in (ALLOW_ANY, key) or (entry.endswith("/") and key.startswith(entry))
            for entry in self.ingress_annotations
        )


def policy_problems(stack: DjangoStack, policy: Policy) -> list[tuple[str, str]]:
    """(reason, message) for each part of the stack the operator's policy refuses."""
    ingress = stack.spec.ingress
    if ingress is None:
        return []
    refused = sorted(k for k in ingress.annotations if not policy.allows_ingress_annotation(k))
    if not refused:
        return []
    return [
        (
            Reason.ANNOTATION_NOT_ALLOWED,
            f"spec.ingress.annotations: {', '.join(refused)} not allowed by the operator"
            " (its --allow-ingress-annotation list; ask the platform team, or remove them)",
        )
    ]
