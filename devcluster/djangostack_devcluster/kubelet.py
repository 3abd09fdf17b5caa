"""The real node's kubelet: its configuration file and command line.

Everything it keeps lives under the node's state folder (root dir, pod logs, certificates,
volume plugins), except what the kubelet writes regardless: symlinks in /var/log/containers
(removed by node.py) and the `kubepods` cgroups under every v1 controller (removed too).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from djangostack_devcluster import topology
from djangostack_devcluster.containerd import RUN_DIR


def config(
    state_dir: Path, ca_cert: Path, socket: Path, port: int, healthz_port: int
) -> dict[str, Any]:
    return {
        "apiVersion": "kubelet.config.k8s.io/v1beta1",
        "kind": "KubeletConfiguration",
        "address": topology.NODE_IP,
        "port": port,
        "readOnlyPort": 0,
        "healthzBindAddress": "127.0.0.1",
        "healthzPort": healthz_port,
        # Only the apiserver (client certificate from the cluster CA) may call it.
        "authentication": {
            "anonymous": {"enabled": False},
            "webhook": {"enabled": True},
            "x509": {"clientCAFile": str(ca_cert)},
        },
        "authorization": {"mode": "Webhook"},
        # These machines run cgroup v1, and containerd 1.6 cannot report its driver.
        "cgroupDriver": "cgroupfs",
        "failCgroupV1": False,
        "containerRuntimeEndpoint": f"unix://{socket}",
        "clusterDNS": [topology.NODE_IP],
        "clusterDomain": topology.CLUSTER_DOMAIN,
        # Pods get the cluster DNS and nothing of the host's resolver configuration.
        "resolvConf": "",
        "failSwapOn": False,
        "podLogsDir": str(state_dir / "pod-logs"),
        "volumePluginDir": str(state_dir / "volume-plugins"),
        "serializeImagePulls": False,
        # Every image is imported by hand; garbage collection must never drop one.
        "imageGCHighThresholdPercent": 100,
        "imageGCLowThresholdPercent": 99,
        # A shared development disk may be nearly full; do not evict test pods for it.
        "evictionHard": {
            "memory.available": "100Mi",
            "nodefs.available": "1%",
            "imagefs.available": "1%",
            "nodefs.inodesFree": "1%",
        },
        "maxPods": 110,
        "registerNode": True,
        "rotateCertificates": False,
        "serverTLSBootstrap": False,
        "shutdownGracePeriod": "0s",
        "logging": {"format": "text"},
    }


def write_config(path: Path, body: dict[str, Any]) -> None:
    path.write_text(yaml.safe_dump(body, sort_keys=False))


def args(
    state_dir: Path, config_file: Path, kubeconfig: Path, containerd_socket: Path
) -> list[str]:
    return [
        f"--config={config_file}",
        f"--kubeconfig={kubeconfig}",
        # Its unix sockets (pod-resources/, plugins_registry/) live under the root dir, and a
        # socket path may not pass 108 bytes: a checkout's state folder can be deeper than
        # that allows, so the root dir is the node's short machine-wide run folder.
        f"--root-dir={RUN_DIR / 'kubelet'}",
        f"--cert-dir={state_dir / 'kubelet-pki'}",
        f"--hostname-override={topology.REAL_NODE}",
        f"--node-ip={topology.NODE_IP}",
        f"--node-labels={topology.NODE_TYPE_LABEL}={topology.REAL_NODE_TYPE}",
        # cAdvisor would probe /run/containerd/containerd.sock otherwise.
        f"--containerd={containerd_socket}",
        "--v=1",
    ]
