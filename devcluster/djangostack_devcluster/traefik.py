"""Traefik as the Ingress controller, on loopback ports, terminating TLS.

It runs on the host and watches Ingress objects of its IngressClass (the cluster default),
with a ServiceAccount token and a role of its own, and routes to the pod addresses behind
each Service. `websecure` serves TLS with the Secret each Ingress names; `web` is plain HTTP.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from djangostack_devcluster import topology

NAMESPACE = "kube-system"
SERVICE_ACCOUNT = "traefik"
CONTROLLER = "traefik.io/ingress-controller"
# A year: the token is written for one cluster's lifetime and dies with its signing key.
TOKEN_SECONDS = 365 * 24 * 3600

RBAC = f"""
apiVersion: v1
kind: ServiceAccount
metadata:
  name: {SERVICE_ACCOUNT}
  namespace: {NAMESPACE}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata:
  name: djangostack:traefik
rules:
  - apiGroups: [""]
    resources: [services, secrets, nodes]
    verbs: [get, list, watch]
  - apiGroups: [discovery.k8s.io]
    resources: [endpointslices]
    verbs: [list, watch]
  - apiGroups: [networking.k8s.io]
    resources: [ingresses, ingressclasses]
    verbs: [get, list, watch]
  - apiGroups: [networking.k8s.io]
    resources: [ingresses/status]
    verbs: [update]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata:
  name: djangostack:traefik
roleRef:
  apiGroup: rbac.authorization.k8s.io
  kind: ClusterRole
  name: djangostack:traefik
subjects:
  - kind: ServiceAccount
    name: {SERVICE_ACCOUNT}
    namespace: {NAMESPACE}
---
apiVersion: networking.k8s.io/v1
kind: IngressClass
metadata:
  name: {topology.INGRESS_CLASS}
  annotations:
    ingressclass.kubernetes.io/is-default-class: "true"
spec:
  controller: {CONTROLLER}
"""


def static_config(api_url: str, token: str, ca_cert: Path, ping_port: int) -> dict[str, Any]:
    loopback = "127.0.0.1"
    return {
        "global": {"checkNewVersion": False, "sendAnonymousUsage": False},
        "entryPoints": {
            # HTTP only redirects (to the HTTPS entry point's port), as a production edge
            # does; the app's own redirect would keep the HTTP port in its Location.
            "web": {
                "address": f"{loopback}:{topology.INGRESS_HTTP_PORT}",
                "http": {"redirections": {"entryPoint": {"to": "websecure", "scheme": "https"}}},
            },
            "websecure": {
                "address": f"{loopback}:{topology.INGRESS_HTTPS_PORT}",
                "http": {"tls": {}},
            },
            "ping": {"address": f"{loopback}:{ping_port}"},
        },
        "ping": {"entryPoint": "ping"},
        "providers": {
            "kubernetesIngress": {
                "endpoint": api_url,
                "token": token,
                "certAuthFilePath": str(ca_cert),
                "ingressEndpoint": {"ip": loopback},
                "throttleDuration": "1s",
            }
        },
        "log": {"level": "INFO", "noColor": True},
    }


def args(config_file: Path) -> list[str]:
    return [f"--configFile={config_file}"]
