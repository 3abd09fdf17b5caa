"""The Ingress in front of the web Service, with one of the TLS modes."""

from __future__ import annotations

from typing import Any

from djangostack_operator.render import meta
from djangostack_operator.render.django import HTTP_PORT_NAME
from djangostack_operator.spec import DjangoStack

INGRESS = "ingress"


def tls_secret_name(stack: DjangoStack) -> str | None:
    """The Secret the Ingress serves: the user's, or <stack>-tls (cert-manager's or ours)."""
    ingress = stack.spec.ingress
    if ingress is None or not ingress.tls.enabled:
        return None
    return ingress.tls.secret_name or stack.names.tls_secret


def ingress(stack: DjangoStack) -> dict[str, Any] | None:
    spec = stack.spec.ingress
    if spec is None:
        return None
    annotations = dict(spec.annotations)
    issuer = spec.tls.issuer_ref
    if issuer is not None:
        key = (
            "cert-manager.io/cluster-issuer"
            if issuer.kind == "ClusterIssuer"
            else ("cert-manager.io/issuer")
        )
        annotations[key] = issuer.name
    body: dict[str, Any] = {}
    if spec.class_name is not None:
        body["ingressClassName"] = spec.class_name
    secret = tls_secret_name(stack)
    if secret is not None:
        body["tls"] = [{"hosts": [spec.host], "secretName": secret}]
    body["rules"] = [
        {
            "host": spec.host,
            "http": {
                "paths": [
                    {
                        "path": "/",
                        "pathType": "Prefix",
                        "backend": {
                            "service": {"name": stack.names.web, "port": {"name": HTTP_PORT_NAME}}
                        },
                    }
                ]
            },
        }
    ]
    return {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "Ingress",
        "metadata": meta.metadata(stack, stack.names.web, INGRESS, annotations=annotations or None),
        "spec": body,
    }
