"""Polling helpers for tests against the local control plane: deadlines, never fixed sleeps."""

from __future__ import annotations

import subprocess
import time
from collections.abc import Callable
from typing import Any, TypeVar

from kubernetes.client.exceptions import ApiException

from djangostack_devcluster import topology
from djangostack_devcluster.cluster import LocalCluster


def namespace_body(name: str, node_type: str = topology.FAKE_NODE_TYPE) -> dict[str, Any]:
    """A namespace whose pods land on one kind of node (PodNodeSelector): kwok's fake node
    unless a test asks for the real one."""
    selector = f"{topology.NODE_TYPE_LABEL}={node_type}"
    return {
        "metadata": {"name": name, "annotations": {topology.NODE_SELECTOR_ANNOTATION: selector}}
    }


T = TypeVar("T")


def wait_for(
    what: str, probe: Callable[[], T | None], timeout: float = 60, interval: float = 0.25
) -> T:
    """Poll `probe` until it returns something truthy; fail with `what` at the deadline."""
    deadline = time.monotonic() + timeout
    last_error: Exception | None = None
    while time.monotonic() < deadline:
        try:
            result = probe()
        except ApiException as error:
            last_error = error
            result = None
        if result:
            return result
        time.sleep(interval)
    detail = f" (last error: {last_error})" if last_error else ""
    raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what}{detail}")


def wait_gone(what: str, read: Callable[[], Any], timeout: float = 60) -> None:
    def gone() -> bool:
        try:
            read()
        except ApiException as error:
            if error.status == 404:
                return True
            raise
        return False

    wait_for(f"{what} to be deleted", gone, timeout)


def kubectl(cluster: LocalCluster, *args: str) -> subprocess.CompletedProcess[str]:
    """kubectl as the cluster's admin; the caller reads the exit code and output."""
    return subprocess.run(
        [str(cluster.tools.kubectl), f"--kubeconfig={cluster.kubeconfig}", *args],
        capture_output=True, text=True, check=False, timeout=60,
    )  # fmt: skip
