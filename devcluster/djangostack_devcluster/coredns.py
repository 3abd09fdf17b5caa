"""CoreDNS as the cluster DNS, on the node IP, answering only for the cluster.

It runs on the host (like kube-proxy) and reads Services through its own client certificate
with a read-only role. There is no `forward`: a name outside cluster.local gets no answer from
beyond the machine, as pod traffic never leaves it.
"""

from __future__ import annotations

from pathlib import Path

from djangostack_devcluster import topology

USER = "system:coredns"  # the CN of pki.COREDNS

RBAC = f"""
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata:
  name: djangostack:coredns
rules:
  - apiGroups: [""]
    resources: [services, namespaces, pods]
    verbs: [list, watch]
  - apiGroups: [discovery.k8s.io]
    resources: [endpointslices]
    verbs: [list, watch]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata:
  name: djangostack:coredns
roleRef:
  apiGroup: rbac.authorization.k8s.io
  kind: ClusterRole
  name: djangostack:coredns
subjects:
  - apiGroup: rbac.authorization.k8s.io
    kind: User
    name: {USER}
"""


def corefile(kubeconfig: Path, ready_port: int, health_port: int) -> str:
    return f""".:53 {{
    bind {topology.NODE_IP}
    errors
    health 127.0.0.1:{health_port}
    ready 127.0.0.1:{ready_port}
    kubernetes {topology.CLUSTER_DOMAIN} in-addr.arpa ip6.arpa {{
        kubeconfig {kubeconfig} djangostack-local
        pods insecure
        fallthrough in-addr.arpa ip6.arpa
        ttl 5
    }}
    cache 5
}}
"""


def args(corefile_path: Path) -> list[str]:
    return ["-conf", str(corefile_path)]
