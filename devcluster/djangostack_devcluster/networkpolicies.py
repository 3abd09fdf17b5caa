"""NetworkPolicy enforcement on the real node: kube-network-policies' controller on the host.

Built from the Go module proxy through the entry point in `hack/network-policies` (the
released command reads only an in-cluster ServiceAccount token). It reads pods, namespaces
and NetworkPolicies with a read-only role of its own and decides, for each new connection
it reads from an nfqueue, whether the policies allow it.

What sends the connections to its queue is ours: upstream installs nftables rules with
nftables' `queue` expression, which this machine's kernel lacks (its rules fail with
ENOENT, which the controller logs and retries a few times, and then it carries on). The
kernel has iptables' NFQUEUE target, so the node installs the same rules in one chain of
the mangle table's POSTROUTING (after kube-proxy's DNAT, as upstream's hook): DNS over
UDP and the host's root processes (the kubelet's probes; Traefik, which runs on the host as
root) pass, established connections pass, and every other new connection from or to a pod
is queued. Without `--queue-bypass`: when the controller is not reading, pods' new
connections are dropped (upstream's default, fail closed). The chain goes in after the
controller reads its queue and comes out before it stops.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

from djangostack_devcluster import network, topology

USER = "system:network-policies"  # the CN of pki.NETWORK_POLICIES
NFT_TABLE = "djangostack-network-policies"
QUEUE_ID = 107
CHAIN = "DJANGOSTACK-NETPOL"
IPTABLES_TABLE, HOOK = "mangle", "POSTROUTING"
NFQUEUE_STATE = Path("/proc/net/netfilter/nfnetlink_queue")

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
        f"--table-name={NFT_TABLE}",
        "--v=1",
    ]


def queue_bound() -> bool:
    """The controller reads its queue (the kernel lists it with the reader's port id)."""
    try:
        lines = NFQUEUE_STATE.read_text().splitlines()
    except OSError:
        return False
    return any(line.split()[:1] == [str(QUEUE_ID)] for line in lines)


RULES = (
    ("-p", "udp", "--dport", "53", "-j", "RETURN"),
    ("-m", "owner", "--uid-owner", "0", "-j", "RETURN"),
    ("-m", "conntrack", "--ctstate", "ESTABLISHED,RELATED", "-j", "RETURN"),
    ("-s", topology.POD_CIDR, "-j", "NFQUEUE", "--queue-num", str(QUEUE_ID)),
    ("-d", topology.POD_CIDR, "-j", "NFQUEUE", "--queue-num", str(QUEUE_ID)),
)


def install_rules() -> None:
    """(Re)fill the chain and make POSTROUTING jump to it, once. Last: a queued packet the
    controller accepts skips the rest of mangle POSTROUTING, so the other rules come first."""
    network.fill_chain(CHAIN, RULES, HOOK, table=IPTABLES_TABLE, first=False)


def remove_rules() -> list[str]:
    if not network.remove_chain(CHAIN, HOOK, table=IPTABLES_TABLE):
        return []
    return [f"iptables {IPTABLES_TABLE} chain {CHAIN}"]


def _nft(*argv: str) -> subprocess.CompletedProcess[str]:
    nft = shutil.which("nft") or "/usr/sbin/nft"
    return subprocess.run([nft, *argv], capture_output=True, text=True, check=False)


def table_exists() -> bool:
    return _nft("list", "table", "inet", NFT_TABLE).returncode == 0


def remove_table() -> list[str]:
    """Remove the controller's table if it is still there (a kernel with nftables' queue
    expression lets it make one; a killed controller leaves it); returns what was removed."""
    if not table_exists():
        return []
    _nft("delete", "table", "inet", NFT_TABLE)
    return [f"nftables table inet {NFT_TABLE}"]


def leftovers() -> list[str]:
    return [f"nftables table inet {NFT_TABLE}"] if table_exists() else []
