"""kube-proxy in iptables mode, so Services work on the real node and from the host.

Conntrack sizes and timeouts of 0 and `localhostNodePorts: false` keep it from changing
conntrack sysctls and `route_localnet`; NodePorts only on the pod range, never on the
machine's own interface. `kube-proxy --cleanup` (at teardown) removes every rule it made.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from djangostack_devcluster import topology


def config(kubeconfig: Path, healthz_port: int, metrics_port: int) -> dict[str, Any]:
    return {
        "apiVersion": "kubeproxy.config.k8s.io/v1alpha1",
        "kind": "KubeProxyConfiguration",
        "mode": "iptables",
        "bindAddress": topology.NODE_IP,
        "healthzBindAddress": f"127.0.0.1:{healthz_port}",
        "metricsBindAddress": f"127.0.0.1:{metrics_port}",
        "clientConnection": {"kubeconfig": str(kubeconfig)},
        "hostnameOverride": topology.REAL_NODE,
        "clusterCIDR": topology.POD_CIDR,
        "detectLocalMode": "ClusterCIDR",
        "nodePortAddresses": [topology.POD_CIDR],
        "iptables": {"localhostNodePorts": False, "masqueradeAll": False},
        "conntrack": {
            "maxPerCore": 0,
            "min": 0,
            "tcpEstablishedTimeout": "0s",
            "tcpCloseWaitTimeout": "0s",
        },
    }


def args(config_file: Path) -> list[str]:
    return [f"--config={config_file}", "--v=1"]


def cleanup_args() -> list[str]:
    return ["--cleanup", "--v=0"]
