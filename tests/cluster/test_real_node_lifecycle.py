"""`make cluster-up` twice, then `make cluster-down`: the second start changes nothing, and the
stop leaves nothing of the real node on this machine.

Runs last (owns_real_node): there is one real node per machine, so the session's cluster is
stopped first.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from djangostack_devcluster import images, network, node, topology
from djangostack_devcluster.cluster import LocalCluster
from tests.kube_helpers import wait_for

pytestmark = pytest.mark.owns_real_node


def devcluster(state: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """What `make cluster-up` / `make cluster-down` run."""
    return subprocess.run(
        [sys.executable, "-m", "djangostack_devcluster", f"--state-dir={state}", *args],
        capture_output=True, text=True, check=False, timeout=600,
    )  # fmt: skip


def host_state(state: Path) -> dict[str, object]:
    """Everything a real node changes on the host, as plain values to compare."""

    def lines(*argv: str) -> list[str]:
        output = subprocess.run(argv, capture_output=True, text=True, check=False).stdout
        return sorted(line for line in output.splitlines() if not line.startswith(("#", ":")))

    return {
        "links": lines("ip", "-o", "link", "show"),
        "routes": lines("ip", "route", "show"),
        "iptables": lines("iptables-save"),
        "ip6tables": lines("ip6tables-save"),
        "nftables tables": lines("nft", "list", "tables"),
        "sysctls": network.read_sysctls(),
        "mounts": node.mounts_under(state),
        "cgroups": node.kubepods_cgroups(),
        "host paths": {
            str(path): sorted(p.name for p in path.iterdir()) if path.is_dir() else None
            for path in node.HOST_PATHS
        },
        "lock": node.LOCK.exists(),
    }


def pids(state: Path) -> dict[str, int]:
    return {p.stem: json.loads(p.read_text())["pid"] for p in (state / "run").glob("*.pid")}


def test_cluster_up_twice_then_down_leaves_nothing_of_the_real_node(
    exclusive_real_node: list[LocalCluster], tmp_path: Path
) -> None:
    state = tmp_path / "cluster"
    before = host_state(state)
    volume_dir = None
    try:
        first = devcluster(state, "up")
        assert first.returncode == 0, first.stderr[-3000:]
        started = pids(state)
        assert set(node.COMPONENTS) <= set(started)
        kubeconfig = f"--kubeconfig={state / 'kubeconfig'}"
        # A pod makes everything teardown must undo: network namespace, veth, mounts, cgroups,
        # log links, a CNI result, an IP lease.
        pod = subprocess.run(
            ["kubectl", kubeconfig, "run", "probe", "--image=" + images.APP.name,
             "--image-pull-policy=Never", "--restart=Never", "--command", "--",
             "python", "-c", "import time; time.sleep(600)"],
            capture_output=True, text=True, check=False,
        )  # fmt: skip
        assert pod.returncode == 0, pod.stderr
        waited = subprocess.run(
            ["kubectl", kubeconfig, "wait", "--for=condition=Ready", "pod/probe", "--timeout=90s"],
            capture_output=True, text=True, check=False,
        )  # fmt: skip
        assert waited.returncode == 0, waited.stderr
        placed = subprocess.run(
            ["kubectl", kubeconfig, "get", "pod", "probe", "-o", "jsonpath={.spec.nodeName}"],
            capture_output=True, text=True, check=False,
        )  # fmt: skip
        # A namespace without the annotation lands on the real node.
        assert placed.stdout == topology.REAL_NODE

        # A volume claim: its directory goes with the cluster (its PersistentVolume does).
        claim = subprocess.run(
            ["kubectl", kubeconfig, "apply", "-f", "-"],
            input=json.dumps({"apiVersion": "v1", "kind": "PersistentVolumeClaim",
                              "metadata": {"name": "data"},
                              "spec": {"accessModes": ["ReadWriteOnce"],
                                       "resources": {"requests": {"storage": "1Mi"}}}}),
            capture_output=True, text=True, check=False,
        )  # fmt: skip
        assert claim.returncode == 0, claim.stderr
        volume_dir = Path(wait_for("the claim's volume directory", lambda: volume_path(kubeconfig)))
        assert volume_dir.is_dir()

        again = devcluster(state, "up")
        assert again.returncode == 0, again.stderr[-3000:]
        assert "already running" in again.stderr
        assert pids(state) == started
    finally:
        stopped = devcluster(state, "down")
    assert stopped.returncode == 0, stopped.stderr[-3000:]
    left = devcluster(state, "leftovers")
    assert left.returncode == 0, left.stdout
    assert left.stdout == ""
    assert host_state(state) == before
    assert volume_dir is not None and not volume_dir.exists()


def volume_path(kubeconfig: str) -> str:
    """The hostPath of the claim `data`'s volume, once it is bound ("" before)."""
    name = subprocess.run(
        ["kubectl", kubeconfig, "get", "pvc", "data", "-o", "jsonpath={.spec.volumeName}"],
        capture_output=True, text=True, check=False,
    ).stdout  # fmt: skip
    if not name:
        return ""
    return subprocess.run(
        ["kubectl", kubeconfig, "get", "pv", name, "-o", "jsonpath={.spec.hostPath.path}"],
        capture_output=True, text=True, check=False,
    ).stdout  # fmt: skip
