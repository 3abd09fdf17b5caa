"""Make the hostPath provisioner's directories writable by the pods that mount them.

kube-controller-manager's hostPath provisioner (the local cluster's default StorageClass)
makes each volume's directory under /tmp/hostpath_pv owned by root with mode 0750, and
Kubernetes applies no fsGroup to hostPath volumes: a pod that runs as a non-root user (every
pod the operator renders) could not write its own volume. On the real node this small process
opens each new directory up (0777, as local-path-provisioner does), before a pod can mount it:
provisioning, binding and scheduling take longer than its poll interval.

Run as `python -m djangostack_devcluster.volumes` (a component of the real node).
"""

from __future__ import annotations

import os
import stat
import sys
import time
from pathlib import Path

from djangostack_devcluster import topology

PROVISIONER_ROOT = topology.HOSTPATH_PROVISIONER_ROOT
POLL_SECONDS = 0.2
MODE = 0o777


def open_up(root: Path = PROVISIONER_ROOT) -> list[Path]:
    """chmod every volume directory that is not open yet; returns those changed."""
    changed: list[Path] = []
    try:
        entries = list(os.scandir(root))
    except FileNotFoundError:
        return changed
    for entry in entries:
        try:
            if entry.is_dir(follow_symlinks=False) and stat.S_IMODE(entry.stat().st_mode) != MODE:
                os.chmod(entry.path, MODE)
                changed.append(Path(entry.path))
        except FileNotFoundError:
            continue  # deleted meanwhile (reclaim policy Delete)
    return changed


def main() -> int:
    print(f"opening new volume directories under {PROVISIONER_ROOT}", flush=True)
    while True:
        for path in open_up():
            print(f"chmod {MODE:o} {path}", flush=True)
        time.sleep(POLL_SECONDS)


if __name__ == "__main__":
    sys.exit(main())
