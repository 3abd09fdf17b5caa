"""metrics-server: the resource metrics API (metrics.k8s.io) behind the apiserver's aggregation
layer, so `kubectl top` and HorizontalPodAutoscalers work on the real node.

It runs on the host (like CoreDNS) on the node IP, with its own client certificate and a
serving certificate from the cluster CA for `metrics-server.kube-system.svc` (the APIService
carries the CA, so the aggregator verifies it). The APIService points at a Service without a
selector whose Endpoints name the node IP; the apiserver routes to the endpoint directly
(`--enable-aggregator-routing`). It scrapes the kubelet's `/metrics/resource`; the kubelet's
serving certificate is self-signed (as the apiserver's own kubelet client accepts here), so
it skips verifying it.
"""

from __future__ import annotations

import base64
from pathlib import Path

from djangostack_devcluster import topology

USER = "system:metrics-server"  # the CN of pki.METRICS_SERVER
NAMESPACE = "kube-system"
SERVICE = "metrics-server"
API_SERVICE = "v1beta1.metrics.k8s.io"
RESOLUTION_SECONDS = 15


def objects(ca_cert: Path, port: int) -> str:
    """RBAC (the public manifests' roles, bound to the user), the Service, its Endpoints
    and the APIService."""
    ca_bundle = base64.b64encode(ca_cert.read_bytes()).decode()
    return f"""
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata:
  name: djangostack:metrics-server
rules:
  - apiGroups: [""]
    resources: [nodes/metrics]
    verbs: [get]
  - apiGroups: [""]
    resources: [pods, nodes]
    verbs: [get, list, watch]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata:
  name: djangostack:metrics-server
roleRef:
  apiGroup: rbac.authorization.k8s.io
  kind: ClusterRole
  name: djangostack:metrics-server
subjects: [{{apiGroup: rbac.authorization.k8s.io, kind: User, name: "{USER}"}}]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata:
  name: djangostack:metrics-server:auth-delegator
roleRef: {{apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: "system:auth-delegator"}}
subjects: [{{apiGroup: rbac.authorization.k8s.io, kind: User, name: "{USER}"}}]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata:
  name: djangostack:metrics-server:auth-reader
  namespace: {NAMESPACE}
roleRef:
  apiGroup: rbac.authorization.k8s.io
  kind: Role
  name: extension-apiserver-authentication-reader
subjects: [{{apiGroup: rbac.authorization.k8s.io, kind: User, name: "{USER}"}}]
---
apiVersion: v1
kind: Service
metadata:
  name: {SERVICE}
  namespace: {NAMESPACE}
spec:
  ports: [{{name: https, port: 443, targetPort: {port}, protocol: TCP}}]
---
# The aggregator looks the endpoint up in v1 Endpoints (deprecated since 1.33, still what its
# availability check and routing read); the EndpointSlice is mirrored from it.
apiVersion: v1
kind: Endpoints
metadata:
  name: {SERVICE}
  namespace: {NAMESPACE}
subsets: [{{addresses: [{{ip: "{topology.NODE_IP}"}}], ports: [{{name: https, port: {port}}}]}}]
---
apiVersion: apiregistration.k8s.io/v1
kind: APIService
metadata:
  name: {API_SERVICE}
spec:
  group: metrics.k8s.io
  version: v1beta1
  groupPriorityMinimum: 100
  versionPriority: 100
  service: {{name: {SERVICE}, namespace: {NAMESPACE}, port: 443}}
  caBundle: {ca_bundle}
"""


def args(kubeconfig: Path, cert: Path, key: Path, port: int) -> list[str]:
    return [
        f"--kubeconfig={kubeconfig}",
        f"--authentication-kubeconfig={kubeconfig}",
        f"--authorization-kubeconfig={kubeconfig}",
        f"--bind-address={topology.NODE_IP}",
        f"--secure-port={port}",
        f"--tls-cert-file={cert}",
        f"--tls-private-key-file={key}",
        "--kubelet-preferred-address-types=InternalIP",
        "--kubelet-use-node-status-port",
        "--kubelet-insecure-tls",
        f"--metric-resolution={RESOLUTION_SECONDS}s",
    ]
