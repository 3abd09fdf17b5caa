"""NetworkPolicy enforcement on the real node: kube-network-policies' controller on the host.

Built from the Go module proxy through the entry point in `hack/network-policies` (the
released command reads only an in-cluster ServiceAccount token). It reads pods, namespaces
and NetworkPolicies with a read-only role of its own, owns one nftables table, and sends new
connections of the pods a policy selects through an nfqueue, where it accepts or drops them.
As upstream, traffic that root processes of the host start is never policed (the kubelet's
probes, and here Traefik, which runs on the host as root), nor is DNS over UDP. SIGTERM
removes its table; `remove_table` removes one a killed controller left behind.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

from djangostack_devcluster import topology

USER = "system:network-policies"  # the CN of pki.NETWORK_POLICIES
TABLE = "djangostack-network-policies"
QUEUE_ID = 107

RBAC = f"""
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata:
  name: djangostack:network-policies
rules:
  - apiGroups: [""]
    resources: [pods, namespaces]
    verbs: [list, watch]
  - apiGroups: [networking.k8s.io]
    resources: [networkpolicies]
    verbs: [list, watch]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata:
  name: djangostack:network-policies
roleRef:
  apiGroup: rbac.authorization.k8s.io
  kind: ClusterRole
  name: djangostack:network-policies
subjects:
  - apiGroup: rbac.authorization.k8s.io
    kind: User
    name: {USER}
"""


def args(kubeconfig: Path) -> list[str]:
    return [
        f"--kubeconfig={kubeconfig}",
        f"--node-name={topology.REAL_NODE}",
        f"--nfqueue-id={QUEUE_ID}",
        f"--table-name={TABLE}",
        "--v=1",
    ]


def _nft(*argv: str) -> subprocess.CompletedProcess[str]:
    nft = shutil.which("nft") or "/usr/sbin/nft"
    return subprocess.run([nft, *argv], capture_output=True, text=True, check=False)


def table_exists() -> bool:
    return _nft("list", "table", "inet", TABLE).returncode == 0


def remove_table() -> list[str]:
    """Remove the controller's table if it is still there; returns what was removed."""
    if not table_exists():
        return []
    _nft("delete", "table", "inet", TABLE)
    return [f"nftables table inet {TABLE}"]


def leftovers() -> list[str]:
    return [f"nftables table inet {TABLE}"] if table_exists() else []
