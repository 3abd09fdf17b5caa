"""containerd (Debian's) as the real node's CRI runtime, on a private socket.

Its content store and snapshots live in the cache (`<cache>/node/containerd`), so images
imported once stay for the next cluster; its state (sockets, shims, the pod network
namespaces) lives in RUN_DIR: a unix socket path may not pass 104 bytes, which a state folder
under pytest's temporary folders does. Settings that matter here:

- `restrict_oom_score_adj`: root on these machines lacks CAP_SYS_RESOURCE, and without it
  runc fails every sandbox with "can't get final child's PID from pipe: EOF".
- `netns_mounts_under_state_dir`: pod network namespaces stay out of /var/run/netns.
- No registry is configured and none can be reached: images are imported (images.py) and pods
  use `imagePullPolicy: IfNotPresent` or `Never`.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

from djangostack_devcluster import topology

NAMESPACE = "k8s.io"  # containerd's namespace for what the CRI plugin runs
CNI_BIN_DIR = Path("/usr/lib/cni")  # Debian's containernetworking-plugins
CNI_NETWORK = "djangostack"
# The name the sandbox image is imported under, normalised as containerd does.
PAUSE_IMAGE = "docker.io/library/pause:djangostack"
# One real node per machine, so one fixed, short folder.
RUN_DIR = Path("/run/djangostack-node")


class ContainerdError(RuntimeError):
    """A ctr command failed; the message has its output."""


class Containerd:
    """Paths and commands of the node's containerd."""

    def __init__(self, state_dir: Path, cache_root: Path, ctr: Path) -> None:
        self.state_dir = state_dir
        self.root = cache_root
        self.state = RUN_DIR / "containerd"
        self.socket = self.state / "containerd.sock"
        self.config = state_dir / "containerd.toml"
        self.cni_conf_dir = state_dir / "cni" / "net.d"
        self.ipam_dir = state_dir / "cni" / "ipam"
        self.ctr_binary = ctr

    def write_config(self) -> None:
        for folder in (self.root, self.state, self.cni_conf_dir, self.ipam_dir):
            folder.mkdir(parents=True, exist_ok=True)
        cri = '[plugins."io.containerd.grpc.v1.cri"'
        self.config.write_text(
            f"""version = 2
root = "{self.root}"
state = "{self.state}"
disabled_plugins = [
  "io.containerd.internal.v1.opt",
  "io.containerd.snapshotter.v1.aufs",
  "io.containerd.snapshotter.v1.btrfs",
  "io.containerd.snapshotter.v1.devmapper",
  "io.containerd.snapshotter.v1.zfs",
  "io.containerd.tracing.processor.v1.otlp",
]

[grpc]
  address = "{self.socket}"

[ttrpc]
  address = "{self.state / "containerd.sock.ttrpc"}"

{cri}]
  sandbox_image = "{PAUSE_IMAGE}"
  restrict_oom_score_adj = true
  netns_mounts_under_state_dir = true
  stream_server_address = "127.0.0.1"
  stream_server_port = "0"
  enable_selinux = false

{cri}.containerd]
  snapshotter = "overlayfs"
  default_runtime_name = "runc"

{cri}.containerd.runtimes.runc]
  runtime_type = "io.containerd.runc.v2"

{cri}.containerd.runtimes.runc.options]
  SystemdCgroup = false

{cri}.cni]
  bin_dir = "{CNI_BIN_DIR}"
  conf_dir = "{self.cni_conf_dir}"
  max_conf_num = 1
"""
        )
        (self.cni_conf_dir / f"10-{CNI_NETWORK}.conflist").write_text(self._cni_config())

    def _cni_config(self) -> str:
        network = {
            "cniVersion": "1.0.0",
            "name": CNI_NETWORK,
            "plugins": [
                {
                    "type": "bridge",
                    "bridge": topology.BRIDGE,
                    "isGateway": True,
                    # Pods never reach beyond the machine: no masquerade (network.py drops more).
                    "ipMasq": False,
                    "hairpinMode": True,
                    "ipam": {
                        "type": "host-local",
                        "ranges": [[{"subnet": topology.POD_CIDR, "gateway": topology.NODE_IP}]],
                        "routes": [{"dst": "0.0.0.0/0"}],
                        "dataDir": str(self.ipam_dir),
                    },
                },
                {"type": "portmap", "capabilities": {"portMappings": True}},
            ],
        }
        return json.dumps(network, indent=2)

    def args(self) -> list[str]:
        return [f"--config={self.config}"]

    def ctr(self, *args: str, check: bool = True) -> str:
        result = subprocess.run(
            [str(self.ctr_binary), f"--address={self.socket}", "--namespace", NAMESPACE, *args],
            capture_output=True,
            text=True,
            check=False,
        )
        if check and result.returncode != 0:
            raise ContainerdError(f"ctr {' '.join(args)}: {result.stderr.strip()}")
        return result.stdout

    def ready(self) -> bool:
        return self.socket.exists() and bool(self.ctr("version", check=False))

    def image_names(self) -> set[str]:
        return {line.strip() for line in self.ctr("images", "list", "--quiet").splitlines()}

    def import_image(self, archive: Path) -> None:
        self.ctr("images", "import", str(archive))

    def remove_all_containers(self) -> int:
        """Kill and delete every container (the kubelet is stopped first); returns how many.

        The runc shims outlive containerd, so this runs while containerd still answers."""
        containers = self.ctr("containers", "list", "--quiet", check=False).split()
        for container in containers:
            self.ctr("tasks", "delete", "--force", container, check=False)
            self.ctr("containers", "delete", container, check=False)
        return len(containers)
